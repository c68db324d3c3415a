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
	RequestUnverified         RequestStatus = "unverified" // made by a person; waiting for the code sent to them
	RequestVerified           RequestStatus = "verified"   // identity verified (or made by a trusted key); waiting for a worker
	RequestRunning            RequestStatus = "running"    // a worker runs it, or it waits for an automatic retry
	RequestCompleted          RequestStatus = "completed"
	RequestPartiallyCompleted RequestStatus = "partially_completed" // a datastore failed or verification found data
	RequestFailed             RequestStatus = "failed"
	RequestRejected           RequestStatus = "rejected"  // refused, with the reason told to the person (Art. 12(4))
	RequestCancelled          RequestStatus = "cancelled" // withdrawn by the person or the controller
)

// RequestStatuses lists every status, in lifecycle order.
var RequestStatuses = []RequestStatus{
	RequestUnverified, RequestVerified, RequestRunning, RequestCompleted, RequestPartiallyCompleted,
	RequestFailed, RequestRejected, RequestCancelled,
}

// Finished reports whether the status is final: the request has its
// response (or was refused or withdrawn) and no worker takes it again
// unless it is retried.
func (s RequestStatus) Finished() bool {
	switch s {
	case RequestCompleted, RequestPartiallyCompleted, RequestFailed, RequestRejected, RequestCancelled:
		return true
	}
	return false
}

// RequestChannel is how a request reached the controller.
type RequestChannel string

// Request channels.
const (
	ChannelAPI     RequestChannel = "api"     // an application with a trusted key
	ChannelWeb     RequestChannel = "web"     // the person, through the public intake
	ChannelCLI     RequestChannel = "cli"     // an operator
	ChannelLibrary RequestChannel = "library" // Go code embedding Lethe
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

	// Channel is how the request arrived.
	Channel RequestChannel
	// Reason says why a request was rejected or cancelled (told to the
	// person; no personal data).
	Reason string
	// VerifiedAt is when the person's identity was verified.
	VerifiedAt *time.Time
	// ExtendedAt and ExtensionReason record an extension of the deadline
	// (GDPR Art. 12(3), CCPA 1798.130); once extended, ExtendedDueAt is
	// the deadline that applies.
	ExtendedAt      *time.Time
	ExtensionReason string
	// Values is the sealed JSON of a rectification's corrected values
	// (sealed like Identities); cleared when the request finishes.
	Values []byte
	// Progress is the last durable checkpoint of a running request (see
	// package dsr): what a worker resuming it may skip.
	Progress string
	// Attempts counts the runs started; NextAttemptAt, when set, holds the
	// request back from workers until then (automatic retry with backoff).
	Attempts      int
	NextAttemptAt *time.Time
	// Lease is the token of the worker that holds the request, until
	// LeaseUntil. A lease that ran out (its worker died) lets another
	// worker claim the request and resume it.
	Lease      string
	LeaseUntil *time.Time
}

// RequestCounts are the open requests by status, and the overdue ones.
type RequestCounts struct {
	Open    map[RequestStatus]int
	Overdue int
}

// Due returns the deadline that applies: the extended one once the
// deadline was extended.
func (r Request) Due() time.Time {
	if r.ExtendedAt != nil && !r.ExtendedDueAt.IsZero() {
		return r.ExtendedDueAt
	}
	return r.DueAt
}

// Open reports whether the request still waits for its response.
func (r Request) Open() bool { return !r.Status.Finished() }

// TransitionConflict is the error of a RequestTransition that found the
// request in another status than expected, or held by another worker.
func TransitionConflict(status RequestStatus, leaseLost bool) error {
	if leaseLost {
		return Errorf(ECONFLICT, "the request is held by another worker (status %s)", status)
	}
	return Errorf(ECONFLICT, "the request is %s", status)
}

// RequestStore keeps data subject requests.
type RequestStore interface {
	// RequestCreate stores a new request and appends the audit record in
	// the same transaction. ECONFLICT when the id exists.
	RequestCreate(ctx context.Context, r Request, audit AuditRecord) error
	// RequestClearExport forgets a request's export package (deleted or
	// expired) and sets UpdatedAt to at, and nothing else, so that it
	// cannot undo a concurrent transition. ENOTFOUND for an unknown id.
	RequestClearExport(ctx context.Context, id string, at time.Time) error
	// RequestGet returns a request. ENOTFOUND for an unknown id.
	RequestGet(ctx context.Context, id string) (Request, error)
	// RequestList returns requests newest first, at most limit of them.
	RequestList(ctx context.Context, limit int) ([]Request, error)
	// RequestListBySubject returns the subject's requests, newest first.
	RequestListBySubject(ctx context.Context, ref SubjectRef) ([]Request, error)
	// RequestTransition stores every field of r that a lifecycle step may
	// change (status, sealed identities and values, times, result, export,
	// error, reason, extension, progress, attempts, next attempt, lease) when the
	// stored request is in one of the from statuses and not held by
	// another worker's live lease (its lease is r.Lease, none, or ran out
	// by r.UpdatedAt), and appends the audit record, if any, in the same
	// transaction. The lease is kept when r.LeaseUntil is set and released
	// otherwise. ECONFLICT (TransitionConflict) when the status or the
	// lease does not match, ENOTFOUND for an unknown id.
	RequestTransition(ctx context.Context, r Request, from []RequestStatus, audit *AuditRecord) error
	// RequestExtend records an extension of an open request's deadline
	// (extended_at, extension_reason, extended_due_at and updated_at, and
	// nothing else, so that it neither waits for nor undoes a worker's
	// run) with its audit record. ECONFLICT when the request finished or
	// was extended already, ENOTFOUND for an unknown id.
	RequestExtend(ctx context.Context, id string, at time.Time, reason string, due time.Time, audit AuditRecord) error
	// RequestClaim leases up to limit requests ready to run at now to a
	// new token until `until`, oldest first, and returns them: verified
	// requests, and running ones whose lease ran out or that wait for a
	// retry, whose NextAttemptAt is due. Concurrent claims, from this
	// process or another sharing the database, never return the same
	// request while its lease lasts.
	RequestClaim(ctx context.Context, now, until time.Time, limit int) ([]Request, error)
	// RequestRenew extends the lease a worker holds until `until`.
	// ECONFLICT when the request is no longer leased to that token.
	RequestRenew(ctx context.Context, id, lease string, until time.Time) error
	// RequestCounts counts the open requests (unverified, verified,
	// running) by status, and those whose deadline in force (the extended
	// one once extended) passed before now.
	RequestCounts(ctx context.Context, now time.Time) (RequestCounts, error)
	// RequestPurge deletes finished requests that finished before
	// `before`, and unverified ones created before `unverifiedBefore`,
	// with one audit record (counts only) in the same transaction when it
	// deleted any. It returns the ids it deleted (for their export files).
	RequestPurge(ctx context.Context, before, unverifiedBefore time.Time, audit AuditRecord) ([]string, error)
}
