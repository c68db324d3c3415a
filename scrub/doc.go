// Package scrub makes a copy of a production database safe to use:
// `lethe scrub` rewrites every declared personal field of every collection
// of a datastore in place, then rewrites the storage so that no original
// value is left in the database files.
//
// Each field is masked with its scrub strategy (the field's scrub: in
// lethe.yaml, else its erase:), parsed by package mask with a key derived
// from Lethe's secrets. Keyed strategies (hmac, fake.*) are deterministic:
// the same value gives the same output in every table, every datastore and
// every run, so joins between scrubbed columns still hold, and two copies
// scrubbed with the same secrets agree. A column that references a
// scrubbed column (orders.customer_email -> customers.email) is scrubbed
// with the referenced column's strategy, whatever its own field says.
//
// Nothing is written until every check passes: the datastore is marked
// scrub_allowed: true and the caller named it twice (Params.Confirm);
// every strategy fits its column; a unique column has a strategy that
// keeps distinct values distinct (mask's PreservesUniqueness); with
// Strict, no table has a column the data map does not declare.
//
// The work is pushed down to the connector (lethe.Scrubber): each table is
// split into key ranges, and the ranges of all tables run on Workers
// goroutines, each streaming its rows in batches, masking them in Go and
// writing each batch set-based (PostgreSQL: COPY into a temporary table
// and one UPDATE ... FROM; MariaDB and SQLite: one bulk UPDATE per page).
// Compaction ends the run: VACUUM FULL on PostgreSQL, OPTIMIZE TABLE on
// MariaDB, VACUUM with secure_delete on SQLite. Write-ahead and redo logs
// are the database's own and may hold originals until it recycles them;
// see docs/scrub.md.
package scrub
