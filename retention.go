package lethe

import (
	"context"
	"time"
)

// RetentionSource is implemented by connectors that can enforce retention
// rules: the SQL connectors. Package retention selects the rows a rule
// covers with it, a batch of primary keys at a time, and deletes or
// anonymises each batch with Erase in a transaction of its own, so that
// no transaction holds its locks for long.
type RetentionSource interface {
	// RetentionCount counts the rows the selection covers and returns the
	// oldest value of its age column among them. EINVALID for a missing
	// table or column, or a column that cannot hold a time.
	RetentionCount(ctx context.Context, sel RetentionSelection) (RetentionCount, error)
	// RetentionKeys returns the primary keys of at most limit rows the
	// selection covers, in ascending key order, after the key after (from
	// the first when after is nil). Keys are as Find returns them.
	RetentionKeys(ctx context.Context, sel RetentionSelection, after any, limit int) ([]any, error)
	// RetentionDelete deletes, in one statement and a transaction of its
	// own, the rows the selection covers whose primary key lies in the
	// range (after, upTo] (from the first when after is nil), and returns
	// how many it deleted. The selection is evaluated in the statement, so
	// a row that changed since its key was read is judged as it is now.
	RetentionDelete(ctx context.Context, sel RetentionSelection, after, upTo any) (int64, error)
}

// RetentionSelection is the rows of one collection a retention rule
// covers: every cutoff holds (the rule's age and the hold's), every
// filter matches, and, for rows to anonymise, at least one Pending
// column still holds what its mask would change.
type RetentionSelection struct {
	Collection *Collection
	// Before are ANDed; a row whose column is NULL is not covered.
	Before []Cutoff
	// NotBefore, when set, keeps only rows whose column is not older than
	// its time (a row that is, or NULL, is not covered): the lower end of
	// the window of rows about to reach their limit.
	NotBefore *Cutoff
	// Where are the rule's conditions, ANDed.
	Where []RetentionFilter
	// Pending, when set, keeps only rows where at least one column
	// differs from its value (a NULL value: is not NULL): the constant
	// masks of an anonymisation, which rows already anonymised match no
	// longer.
	Pending []PendingColumn
}

// PendingColumn is a column and the constant its mask writes.
type PendingColumn struct {
	Column string
	Value  any
}

// RetentionCount is what RetentionCount found.
type RetentionCount struct {
	Rows int64
	// Oldest is the oldest age among the rows; zero when there are none
	// (or the database cannot say).
	Oldest time.Time
}

// Schedule is the shared state of a recurring job (the retention run of
// `lethe serve`): when it last completed, and which node holds its lease
// while it runs. Every node reads the same row, so a run missed while all
// nodes were down is caught up by the first to start, and two nodes never
// run it at once.
type Schedule struct {
	Name string `json:"name"`
	// LastCompletedAt is when the job last finished; zero when never.
	LastCompletedAt time.Time `json:"last_completed_at"`
	// LeaseOwner holds the lease until LeaseUntil; empty when free.
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until"`
}

// ScheduleStore keeps the schedules of recurring jobs.
type ScheduleStore interface {
	// ScheduleClaim gives owner the lease of the named schedule until
	// until, when nobody else holds a lease unexpired at now (a lease
	// owner already holds is extended), creating the schedule on first
	// use. It returns the schedule after the claim and whether owner
	// holds the lease.
	ScheduleClaim(ctx context.Context, name, owner string, now, until time.Time) (Schedule, bool, error)
	// ScheduleComplete records that the job completed at at and releases
	// the lease. ECONFLICT when owner no longer holds it (it expired and
	// another node claimed it): that node's run counts instead.
	ScheduleComplete(ctx context.Context, name, owner string, at time.Time) error
	// ScheduleRelease releases owner's lease without recording a
	// completion (a failed or cancelled run); a no-op when owner does not
	// hold it.
	ScheduleRelease(ctx context.Context, name, owner string) error
	// ScheduleGet returns the named schedule; ENOTFOUND when it was never
	// claimed.
	ScheduleGet(ctx context.Context, name string) (Schedule, error)
}

// RetentionSchedule is when `lethe serve` applies the retention rules.
type RetentionSchedule struct {
	// At is the time of day of the daily run, HH:MM in UTC. Defaults to
	// 02:00.
	At string `yaml:"at,omitempty" json:"at,omitempty"`
	// Off stops lethe serve from running retention. Defaults to false.
	Off bool `yaml:"off,omitempty" json:"off,omitempty"`
	// BatchSize is the rows per transaction. Defaults to 5000.
	BatchSize int `yaml:"batch_size,omitempty" json:"batch_size,omitempty"`
}
