package lethe

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store is Lethe's own state: the consent ledger, the audit log, subject
// keys and API keys. store/sqlite (the embedded default) and store/postgres
// implement it; store/storetest is the suite both pass.
//
// Every method that changes state and takes AuditRecords appends them to the
// audit log in the same transaction as the change, so the log and the state
// can never disagree. Implementations are safe for concurrent use, also by
// several processes sharing one database.
type Store interface {
	ConsentStore
	AuditStore
	SubjectKeyStore
	APIKeyStore
	RequestStore
	OutboxStore
	VerificationStore
	RateLimitStore
	EventStore
	SubjectControlStore
	TombstoneStore
	ScheduleStore
	// Ping reports whether the database answers (EUNAVAILABLE if not).
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
}

// ConsentStore holds consent events and their projection.
type ConsentStore interface {
	// ConsentAppend appends the events, moves each (subject, purpose) state
	// to its event, and appends the audit records, in one transaction. An
	// event older than the current state (by RecordedAt, then ID) is appended
	// but does not move the state back.
	//
	// newKey, when not nil, is the data key the events' evidence is sealed
	// with, new and not stored yet (see SubjectKeyLatest): it is stored in
	// the same transaction as generation newKey.Generation of
	// newKey.SubjectRef, the subject of every event. If the subject already
	// has that generation or an active key (a concurrent caller created one
	// first), nothing is written and the error is ECONFLICT: seal again with
	// the stored key. A new subject thus costs one transaction, not two.
	ConsentAppend(ctx context.Context, events []ConsentEvent, audit []AuditRecord, newKey *SubjectKey) ([]AuditEntry, error)
	// ConsentStateList returns the current state of every purpose the subject
	// has an event for, sorted by purpose.
	ConsentStateList(ctx context.Context, ref SubjectRef) ([]ConsentState, error)
	// ConsentHistory returns the subject's events oldest first; purpose ""
	// means every purpose.
	ConsentHistory(ctx context.Context, ref SubjectRef, purpose string) ([]ConsentEvent, error)
	// ConsentEventGet returns one event (ENOTFOUND if absent).
	ConsentEventGet(ctx context.Context, id uuid.UUID) (ConsentEvent, error)
}

// AuditStore holds the audit log: entries, the stored hashes of its Merkle
// tree, and signed checkpoints. Entries, tree hashes and checkpoints are
// append-only; the database refuses UPDATE and DELETE.
type AuditStore interface {
	// AuditAppend seals and appends records (see package audit: Seal) in one
	// transaction, serialised against every other append.
	AuditAppend(ctx context.Context, records []AuditRecord) ([]AuditEntry, error)
	// AuditHead returns the current size and last leaf hash.
	AuditHead(ctx context.Context) (AuditHead, error)
	// AuditEntries calls fn for entries with from <= Seq < to, in Seq order,
	// streaming (memory does not grow with the range). It returns entries as
	// stored, without checking them: verification is package audit's job.
	AuditEntries(ctx context.Context, from, to uint64, fn func(AuditEntry) error) error
	// AuditTreeHashes returns the stored tree hashes at the given storage
	// indexes, in the same order (ENOTFOUND if one is missing).
	AuditTreeHashes(ctx context.Context, indexes []int64) ([][32]byte, error)
	// AuditCheckpointAdd stores a signed checkpoint (ECONFLICT if one of that
	// size with another root exists; idempotent for the same checkpoint).
	AuditCheckpointAdd(ctx context.Context, cp AuditCheckpoint) error
	// AuditCheckpointGet returns the checkpoint of the given size (ENOTFOUND).
	AuditCheckpointGet(ctx context.Context, size uint64) (AuditCheckpoint, error)
	// AuditCheckpointList returns every checkpoint, smallest size first.
	AuditCheckpointList(ctx context.Context) ([]AuditCheckpoint, error)
}

// SubjectKey is a subject's data key, wrapped by the master key. A subject
// may have several generations: after a shred, new data for the same subject
// gets a new key, while everything sealed before stays unreadable.
type SubjectKey struct {
	SubjectRef SubjectRef
	Generation uint32 // 1, 2, ...
	Wrapped    []byte // nil once shredded
	CreatedAt  time.Time
	ShreddedAt *time.Time
}

// SubjectShred is the PII-free record that a subject's keys were destroyed,
// kept so that a store restored from a backup can destroy them again.
type SubjectShred struct {
	SubjectRef SubjectRef
	ShreddedAt time.Time
}

// SubjectKeyStore holds wrapped per-subject data keys.
type SubjectKeyStore interface {
	// SubjectKeyActive returns the newest unshredded key (ENOTFOUND if none).
	SubjectKeyActive(ctx context.Context, ref SubjectRef) (SubjectKey, error)
	// SubjectKeyLatest returns the subject's newest generation, shredded or
	// not (ENOTFOUND if the subject never had a key), in one read: the
	// subject's active key when it is not shredded, and otherwise the
	// generation a new key must follow. A subject has at most one active
	// key, and it is always the newest generation.
	SubjectKeyLatest(ctx context.Context, ref SubjectRef) (SubjectKey, error)
	// SubjectKeyGet returns one generation (ENOTFOUND if it never existed; a
	// shredded key comes back with Wrapped nil and ShreddedAt set).
	SubjectKeyGet(ctx context.Context, ref SubjectRef, generation uint32) (SubjectKey, error)
	// SubjectKeyCreate stores key as the subject's next generation unless an
	// active key exists, in which case it returns that one: concurrent
	// callers all end up with the same active key.
	SubjectKeyCreate(ctx context.Context, key SubjectKey) (SubjectKey, error)
	// SubjectKeyShred overwrites every key of the subject created at or
	// before `before`, records a SubjectShred and appends the audit record,
	// in one transaction. It returns how many keys it destroyed; shredding
	// again is harmless and returns 0.
	SubjectKeyShred(ctx context.Context, ref SubjectRef, before time.Time, audit AuditRecord) (int, error)
	// SubjectShredList returns every shred record, oldest first.
	SubjectShredList(ctx context.Context) ([]SubjectShred, error)
}

// APIKeyStore holds API keys.
type APIKeyStore interface {
	// APIKeyCreate stores a new key (ECONFLICT if the id exists).
	APIKeyCreate(ctx context.Context, key APIKey, audit AuditRecord) error
	// APIKeyGet returns a key by id, revoked or not (ENOTFOUND).
	APIKeyGet(ctx context.Context, id string) (APIKey, error)
	// APIKeyList returns every key, oldest first.
	APIKeyList(ctx context.Context) ([]APIKey, error)
	// APIKeyRevoke marks a key revoked (ENOTFOUND; revoking twice is a no-op
	// that keeps the first time).
	APIKeyRevoke(ctx context.Context, id string, at time.Time, audit AuditRecord) error
}

// ChangeFeed is implemented by stores that can tell when another process
// sharing the database (a second API node, the CLI next to a running server)
// changed consent state, restrictions, objections, keys or API keys, so
// that in-memory caches can drop what is stale. A store that cannot tell does not implement it, and callers
// then must not cache.
type ChangeFeed interface {
	// SubjectChanges delivers changed subject references until ctx ends. A
	// zero SubjectRef means "changes may have been missed: drop everything".
	SubjectChanges(ctx context.Context) (<-chan SubjectRef, error)
}

// Clock tells the time; tests pass a fixed one.
type Clock interface{ Now() time.Time }

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }
