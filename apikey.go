package lethe

import (
	"slices"
	"time"
)

// Scope is a permission an API key holds.
type Scope string

// Scopes. ScopeAdmin implies every scope, including scopes added later.
const (
	ScopeConsentRead  Scope = "consent:read"
	ScopeConsentWrite Scope = "consent:write"
	ScopeAuditRead    Scope = "audit:read"
	ScopeRequestsRead Scope = "requests:read"
	// ScopeRequestsWrite creates data subject requests that run at once:
	// give it only to systems that verified the requester's identity.
	ScopeRequestsWrite Scope = "requests:write"
	// ScopeROPARead reads the records of processing (Art. 30), which name
	// purposes, recipients and security measures but no data subject.
	ScopeROPARead Scope = "ropa:read"
	// ScopeRetentionRead reads the retention schedule and the progress
	// of its runs (counts only).
	ScopeRetentionRead Scope = "retention:read"
	ScopeAdmin         Scope = "admin"
)

// Scopes lists the known scopes.
var Scopes = []Scope{ScopeConsentRead, ScopeConsentWrite, ScopeAuditRead, ScopeRequestsRead, ScopeRequestsWrite, ScopeROPARead, ScopeRetentionRead, ScopeAdmin}

// APIKey is a bearer credential. Only the SHA-256 of its secret is stored;
// the secret is shown once, when the key is created.
type APIKey struct {
	ID        string // public part, e.g. "k_01J..."
	Name      string
	Scopes    []Scope
	Hash      []byte // SHA-256 of the secret
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Allows reports whether the key holds scope s (admin holds every scope).
func (k *APIKey) Allows(s Scope) bool {
	return slices.Contains(k.Scopes, ScopeAdmin) || slices.Contains(k.Scopes, s)
}
