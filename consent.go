package lethe

import (
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// ConsentEvent is one append-only grant or withdrawal of consent by a
// subject for a purpose. Events are never updated or deleted; the current
// state is the latest event per (subject, purpose).
type ConsentEvent struct {
	ID            uuid.UUID // UUIDv7: time-ordered
	SubjectRef    SubjectRef
	Purpose       string
	Granted       bool
	PolicyVersion string
	Mechanism     string // how consent was collected: signup_form_v3, gpc, ...
	Jurisdiction  Jurisdiction
	Source        string    // who recorded it: api:<key name>, cli, library
	RecordedAt    time.Time // server time, microsecond precision, UTC
	// Evidence is the ConsentEvidence sealed with the subject's own key (nil
	// when none was given). After the key is shredded it cannot be opened.
	Evidence []byte
}

// ConsentEvidence is what proves how consent was given. It is personal data
// and is only ever stored encrypted with the subject's key.
type ConsentEvidence struct {
	IP         string            `json:"ip,omitempty"`
	UserAgent  string            `json:"user_agent,omitempty"`
	Locale     string            `json:"locale,omitempty"`
	NoticeText string            `json:"notice_text,omitempty"`
	NoticeHash string            `json:"notice_hash,omitempty"`
	Extra      map[string]string `json:"extra,omitempty"`
}

// LogValue keeps evidence out of logs.
func (ConsentEvidence) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// IsZero reports whether no evidence was given.
func (e ConsentEvidence) IsZero() bool {
	return e.IP == "" && e.UserAgent == "" && e.Locale == "" && e.NoticeText == "" && e.NoticeHash == "" && len(e.Extra) == 0
}

// ConsentState is the projection of the latest event for a (subject,
// purpose), updated in the same transaction as the append.
type ConsentState struct {
	SubjectRef    SubjectRef
	Purpose       string
	Granted       bool
	PolicyVersion string
	EventID       uuid.UUID
	RecordedAt    time.Time
}

// ConsentReason explains a consent decision.
type ConsentReason string

// Reasons a consent check gives. A purpose whose lawful basis is not consent
// answers "lawful_basis:<basis>".
const (
	ReasonGranted        ConsentReason = "granted"
	ReasonNeverGiven     ConsentReason = "never_given"
	ReasonWithdrawn      ConsentReason = "withdrawn"
	ReasonExpired        ConsentReason = "expired"
	ReasonPolicyOutdated ConsentReason = "policy_outdated"
	// ReasonRestricted: processing of the subject's data is restricted
	// (Art. 18), whatever the lawful basis.
	ReasonRestricted ConsentReason = "restricted"
	// ReasonObjected: the subject objected to the purpose (Art. 21) and
	// no override stands.
	ReasonObjected ConsentReason = "objected"
)

// ReasonLawfulBasis is the reason given for a purpose not based on consent.
func ReasonLawfulBasis(b LawfulBasis) ConsentReason {
	return ConsentReason("lawful_basis:" + string(b))
}

// ConsentDecision answers whether processing for a purpose is allowed now.
type ConsentDecision struct {
	Purpose       string        `json:"purpose"`
	Allowed       bool          `json:"allowed"`
	Reason        ConsentReason `json:"reason"`
	LawfulBasis   LawfulBasis   `json:"lawful_basis"`
	PolicyVersion string        `json:"policy_version,omitempty"` // version the latest event was given to
	EventID       *uuid.UUID    `json:"event_id,omitempty"`
	RecordedAt    *time.Time    `json:"recorded_at,omitempty"`
	ExpiresAt     *time.Time    `json:"expires_at,omitempty"`
}
