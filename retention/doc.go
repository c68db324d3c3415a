// Package retention enforces storage limitation (GDPR Art. 5(1)(e)): each
// collection's retention rule in the data map deletes or anonymises the
// rows older than its limit, except those an Art. 17(3) hold still keeps.
//
// Engine.Plan counts what a run would do, per collection, with the oldest
// row; Engine.Run does it. A run works through each collection in batches
// of primary keys (BatchSize, 5,000 by default), each batch deleted or
// anonymised in a transaction of its own, so that no transaction holds
// its locks for long; the longest batch is reported as the lock time. A
// run cancelled between batches leaves every batch it finished done and
// the others untouched, and the next run picks up what is left: deleted
// rows are gone, and anonymised rows no longer match, because at least
// one of their fields was given a constant mask (null, blank, fixed:).
//
// Every run that changes anything appends one audit entry with the rows
// per collection (no personal data). Scheduler runs the engine inside
// `lethe serve` once a day (02:00 UTC unless configured): it remembers the
// last completed run in the store, so a missed run is caught up by the
// next node to start, and a lease keeps two nodes from running it at once.
//
// Rules apply to SQL datastores (PostgreSQL, MySQL/MariaDB, SQLite) and to
// custom connectors implementing lethe.RetentionSource; redis keys expire
// by their time to live, which the config says instead of a rule.
package retention
