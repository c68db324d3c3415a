package lethe

import (
	"context"
	"time"
)

// EventType names what happened, as subscribers see it. It is also the
// last part of the NATS subject an event is published on
// (<subject_prefix>.<type>).
type EventType string

// Event types.
const (
	// EventConsentChanged: a consent was granted or withdrawn. Processors
	// stop processing for the purpose at once on a withdrawal.
	EventConsentChanged EventType = "consent.changed"
	// EventRequestCompleted: a data subject request finished (completed,
	// partially completed or failed).
	EventRequestCompleted EventType = "request.completed"
	// EventSubjectErased: an erasure request erased the subject; processors
	// erase their copies.
	EventSubjectErased EventType = "subject.erased"
	// EventSubjectRestricted: processing of the subject's data was
	// restricted (Art. 18), or the restriction lifted; processors store
	// but do not otherwise process while it stands.
	EventSubjectRestricted EventType = "subject.restricted"
	// EventSubjectObjected: the subject objected to processing for a
	// purpose (Art. 21), or the objection was overridden.
	EventSubjectObjected EventType = "subject.objected"
	// EventRecipientNotice is the Art. 19 notice to one recipient that a
	// rectification, erasure or restriction was carried out. It goes to
	// that recipient's notify webhook only.
	EventRecipientNotice EventType = "recipient.notice"
)

// EventTypes lists the event types subscribers can choose from.
var EventTypes = []EventType{EventConsentChanged, EventRequestCompleted, EventSubjectErased, EventSubjectRestricted, EventSubjectObjected, EventRecipientNotice}

// Event is an event that carries more than its audit entry holds: the
// outcome of a request, an Art. 19 notice. Consent changes need no Event:
// subscribers get them from the audit log itself. An Event holds no
// personal data in the clear; the identities subscribers need to act are
// sealed with the server's event key (not the subject's key: the
// identities of an erased subject must still reach subscribers after the
// subject's key is shredded), and are purged once delivered.
type Event struct {
	// ID is stable: subscribers deduplicate on it.
	ID   string
	Type EventType
	// SubjectRef is the subject, or zero.
	SubjectRef SubjectRef
	// Recipient names the one subscriber the event is addressed to
	// (recipient.notice); empty means every subscriber that takes Type.
	Recipient string
	// Seq is the audit sequence number of the event's event.recorded
	// entry; the store sets it.
	Seq       uint64
	CreatedAt time.Time
	// Data is the PII-free JSON body.
	Data []byte
	// Identities is the sealed JSON of the identities; nil when there are
	// none or once purged.
	Identities []byte
}

// EventSubscriptionStatus is where a subscriber's delivery stands.
type EventSubscriptionStatus string

// Subscription statuses.
const (
	EventSubscriptionActive EventSubscriptionStatus = "active" // delivering, or retrying with backoff
	EventSubscriptionFailed EventSubscriptionStatus = "failed" // out of attempts: stopped until retried by hand
)

// EventSubscription is one subscriber's delivery state: the audit
// sequence number it has received everything before, and how its
// delivery of the next event is going. Each subscriber has its own, so a
// failing one holds up nobody else.
type EventSubscription struct {
	Name string
	// Cursor is the audit sequence number of the next entry to look at.
	Cursor uint64
	Status EventSubscriptionStatus
	// Attempts counts the failed attempts at the event at Cursor.
	Attempts      int
	NextAttemptAt time.Time
	// LastError says why the last attempt failed, without personal data.
	LastError string
	// Delivered counts the events delivered.
	Delivered       uint64
	LastDeliveredAt *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// EventStore keeps events and subscribers' delivery state.
type EventStore interface {
	// EventRecord stores events and appends audit[i], the event.recorded
	// entry of events[i], in one transaction; each event's Seq is the
	// sequence number of its entry. ECONFLICT, with nothing written, when
	// an id exists.
	EventRecord(ctx context.Context, events []Event, audit []AuditRecord) error
	// EventGet returns an event. ENOTFOUND for an unknown id.
	EventGet(ctx context.Context, id string) (Event, error)
	// EventPurgeIdentities drops the sealed identities of events with Seq
	// below seq, or created before `before`, and returns how many it
	// dropped.
	EventPurgeIdentities(ctx context.Context, seq uint64, before time.Time) (int, error)
	// EventSubscriptionEnsure creates the named subscriptions that do not
	// exist yet, active, with their cursor at cursor; existing ones are
	// left as they are.
	EventSubscriptionEnsure(ctx context.Context, names []string, cursor uint64, now time.Time) error
	// EventSubscriptionList returns every subscription, by name.
	EventSubscriptionList(ctx context.Context) ([]EventSubscription, error)
	// EventSubscriptionClaim leases the named subscription until
	// now+lease when it is active, due (NextAttemptAt <= now) and not
	// leased by another claim; ok is false otherwise. Dispatchers of
	// several processes sharing the database thus deliver each
	// subscription's events from one of them at a time.
	EventSubscriptionClaim(ctx context.Context, name string, now time.Time, lease time.Duration) (s EventSubscription, ok bool, err error)
	// EventSubscriptionUpdate stores the subscription's cursor, status,
	// attempts, next attempt, last error and delivery counts, ends its
	// lease, and appends the audit records, in one transaction.
	// ENOTFOUND for an unknown name.
	EventSubscriptionUpdate(ctx context.Context, s EventSubscription, audit []AuditRecord) error
}
