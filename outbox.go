package lethe

import (
	"context"
	"time"
)

// OutboxStatus is where an outbox message stands.
type OutboxStatus string

// Outbox statuses.
const (
	OutboxPending OutboxStatus = "pending" // waiting for its (next) attempt
	OutboxSent    OutboxStatus = "sent"    // the SMTP server accepted it
	OutboxFailed  OutboxStatus = "failed"  // given up: no more attempts; LastError says why
)

// OutboxMessage is an e-mail waiting in, or kept by, the durable outbox
// (package mail). It holds no personal data in the clear: the recipient
// and the template data are sealed together with the subject's key by the
// caller, so that shredding the subject makes a message that was not sent
// yet unreadable, backups included.
type OutboxMessage struct {
	ID         string
	SubjectRef SubjectRef
	// Template names the e-mail template (verification_code, ...).
	Template string
	// Sealed is the subject-key ciphertext of the recipient and the
	// template data (package mail decides its plaintext).
	Sealed        []byte
	Status        OutboxStatus
	CreatedAt     time.Time
	NextAttemptAt time.Time
	Attempts      int
	SentAt        *time.Time
	// LastError says why the last attempt failed, without personal data.
	LastError string
}

// OutboxStore keeps the durable e-mail outbox.
type OutboxStore interface {
	// OutboxEnqueue stores a new pending message and appends the audit
	// record in the same transaction. ECONFLICT when the id exists.
	OutboxEnqueue(ctx context.Context, msg OutboxMessage, audit AuditRecord) error
	// OutboxClaim returns up to limit pending messages due at now
	// (NextAttemptAt <= now), oldest due first, and leases them until
	// now+lease: until then no other claim, from this process or another
	// sharing the database, returns them. A message whose lease ran out
	// without OutboxMarkSent or OutboxMarkFailed (its sender died) is
	// claimed again.
	OutboxClaim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]OutboxMessage, error)
	// OutboxMarkSent records that the message was sent at `at`, counts the
	// attempt, clears LastError and ends the lease. ENOTFOUND for an unknown
	// id.
	OutboxMarkSent(ctx context.Context, id string, at time.Time) error
	// OutboxMarkFailed records a failed attempt: the attempts made so far
	// and the PII-free reason, and ends the lease. A non-zero nextAttempt
	// keeps the message pending until then; a zero one gives up (status
	// failed, never claimed again). ENOTFOUND for an unknown id.
	OutboxMarkFailed(ctx context.Context, id string, attempts int, nextAttempt time.Time, lastError string) error
	// OutboxList returns messages newest first, only pending ones when
	// pendingOnly, at most limit of them (every one when limit <= 0).
	OutboxList(ctx context.Context, pendingOnly bool, limit int) ([]OutboxMessage, error)
}
