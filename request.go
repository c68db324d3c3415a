package lethe

import (
	"context"
	"time"
)

// RequestType is the right a data subject request exercises.
type RequestType string

// Request types.
const (
	RequestAccess        RequestType = "access"        // Art. 15
	RequestPortability   RequestType = "portability"   // Art. 20
	RequestErasure       RequestType = "erasure"       // Art. 17
	RequestRectification RequestType = "rectification" // Art. 16
)

// RequestTypes lists the request types Lethe runs.
var RequestTypes = []RequestType{RequestAccess, RequestPortability, RequestErasure, RequestRectification}

// RequestStatus is where a request stands.
type RequestStatus string

// Request statuses.
const (
	RequestRunning            RequestStatus = "running"
	RequestCompleted          RequestStatus = "completed"
	RequestPartiallyCompleted RequestStatus = "partially_completed" // a datastore failed or verification found data
	RequestFailed             RequestStatus = "failed"
)

// Request is a data subject request as Lethe keeps it. It holds no
// personal data in the clear: the subject appears as SubjectRef, and the
// identities the request named are sealed with the subject's key (so a
// shred after erasure makes them unreadable, backups included).
type Request struct {
	ID     string
	Type   RequestType
	Status RequestStatus
	// SubjectRef is the reference of the identity the request's subject is
	// known by in the consent ledger (user_id), or of its first identity.
	SubjectRef SubjectRef
	// Identities is the sealed JSON of the identities the request named.
	Identities []byte
	// Jurisdiction decides the deadline.
	Jurisdiction Jurisdiction
	// DueAt is when the response is due by law (package deadline), and
	// ExtendedDueAt when it is due if the deadline is extended.
	DueAt, ExtendedDueAt time.Time
	// Actor is who made the request: api:<key name>, cli, library.
	Actor       string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt *time.Time
	// Result is the PII-free outcome as JSON: the export summary, or the
	// erasure certificate.
	Result []byte
	// Export names the export package file in the data directory, for
	// access and portability requests that completed.
	Export string
	// Error says why a request failed, without personal data.
	Error string
}

// RequestStore keeps data subject requests.
type RequestStore interface {
	// RequestCreate stores a new request and appends the audit record in
	// the same transaction. ECONFLICT when the id exists.
	RequestCreate(ctx context.Context, r Request, audit AuditRecord) error
	// RequestUpdate stores a request's status, result, export, error and
	// completion time. ENOTFOUND for an unknown id.
	RequestUpdate(ctx context.Context, r Request) error
	// RequestGet returns a request. ENOTFOUND for an unknown id.
	RequestGet(ctx context.Context, id string) (Request, error)
	// RequestList returns requests newest first, at most limit of them.
	RequestList(ctx context.Context, limit int) ([]Request, error)
	// RequestListBySubject returns the subject's requests, newest first.
	RequestListBySubject(ctx context.Context, ref SubjectRef) ([]Request, error)
}
