package lethe

import "context"

// Scrubber is implemented by connectors that can rewrite every row of a
// collection in place. `lethe scrub` (package scrub) uses it to make a
// copy of a database safe to hand to developers and testers: every
// declared personal field masked, the same value masked the same way in
// every table, then the storage rewritten so that no original is left in
// the files. It is never used on a datastore that is not marked
// scrub_allowed in lethe.yaml.
//
// Errors are as for Connector: EINVALID when the data map does not fit
// the database, EUNAVAILABLE when it cannot be reached; messages never
// hold a DSN or a personal value. Implementations are safe for concurrent
// use: ranges of one table may be scrubbed at the same time.
type Scrubber interface {
	// ScrubSplit counts the collection's rows and splits its primary key
	// into at most n ranges of about as many rows each, in key order,
	// that together cover every row (the first starts at nil, the last
	// ends at nil). A small table, or a database that writes one
	// statement at a time (SQLite), gives one range.
	ScrubSplit(ctx context.Context, c *Collection, n int) (rows int64, ranges []KeyRange, err error)
	// ScrubRange rewrites the masked columns of every row in the range,
	// streaming the rows in batches and writing each batch set-based,
	// and returns the rows it read. It calls p.Progress after each batch.
	// The range is one transaction where the database has them: a
	// failure leaves the range as it was. Foreign keys and triggers are
	// not enforced while it writes where the session may turn them off
	// (a referencing column is scrubbed with the same mapping in its own
	// range, and a cascade would mask a value twice).
	ScrubRange(ctx context.Context, p ScrubParams) (int64, error)
	// Compact rewrites the storage of the collections' tables (VACUUM
	// FULL, OPTIMIZE TABLE, VACUUM) so that the row versions an UPDATE
	// leaves behind, which still hold the originals, are gone from the
	// database files.
	Compact(ctx context.Context, collections []*Collection) error
}

// KeyRange is a range of primary key values: From inclusive, To
// exclusive; nil means unbounded on that side.
type KeyRange struct {
	From any `json:"from,omitempty"`
	To   any `json:"to,omitempty"`
}

// ScrubParams says what ScrubRange rewrites.
type ScrubParams struct {
	Collection *Collection
	Range      KeyRange
	// Masks maps each column to rewrite to its mask. The primary key
	// cannot be masked.
	Masks map[string]Mask
	// Batch is how many rows are read and written at once (at most: a
	// connector may write smaller pages). Defaults to ScrubBatch.
	Batch int
	// Progress, when set, is called after each batch with the rows it
	// read. It must be safe for concurrent use when ranges run in
	// parallel.
	Progress func(rows int64)
}

// ScrubBatch is ScrubParams.Batch's default. On PostgreSQL, where a batch
// costs a COPY, an UPDATE and a TRUNCATE of its own, 50,000 rows scrubbed
// a million-row table about 1.6x as fast as 10,000 (BENCHMARKS.md).
const ScrubBatch = 50_000
