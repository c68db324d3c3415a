// Package postgres is Lethe's production store: the consent ledger, the
// audit log, subject keys and API keys in PostgreSQL (pgx/v5), shared by
// every API node and worker that opens the same database. It implements
// lethe.Store and lethe.ChangeFeed and passes store/storetest.
//
// Tables live in the first schema of the URL's search_path (never a
// hard-coded "public"), and so does goose's version table; migrations are
// embedded and applied on Open under a per-schema advisory lock, so nodes
// starting together take turns. Times are timestamptz (microseconds),
// subject references 32-byte bytea.
//
// Appends to the audit log lock the single audit_head row (SELECT ... FOR
// UPDATE) before anything else in their transaction: that serialises them
// across nodes and gives every audited write the same lock order. An
// audited write takes two round trips: BEGIN with the head lock, then the
// change, its audit entries, tree hashes, head move, notifications and
// COMMIT, pipelined. A consent append takes one: the store remembers the
// head its last append left and sends everything, BEGIN to COMMIT, at once,
// locking the head with lethe_lock_audit_head, which refuses it (nothing
// is written) if another node appended meanwhile; the append then goes the
// two-trip way. Since appends are serial anyway, concurrent consent
// appends of one Store share transactions (one head lock and one WAL flush
// for all of them), each still succeeding or failing on its own; a new
// subject's data key is stored in the transaction of its first consent
// events. Consent events, audit entries, tree
// hashes and checkpoints are append-only: statement triggers refuse
// UPDATE, DELETE and TRUNCATE.
//
// Change feed: writers pg_notify the changed subject (hex, prefixed with
// "consent:" for a consent append) in the same transaction as a consent
// append or a key shred, and an empty payload ("drop everything") on an API
// key revocation; SubjectChanges LISTENs on a channel named after the
// schema, and SubjectKeyChanges, which a key cache follows, skips consent
// appends.
//
// Shredding and VACUUM: SubjectKeyShred sets the wrapped key to NULL, but
// PostgreSQL's MVCC keeps the previous row version, key included, in the
// table's pages until VACUUM (or autovacuum) reclaims it and the page is
// rewritten; WAL segments and base backups taken before the shred hold it
// too. Lethe runs no VACUUM itself. Operators who need the old bytes gone
// promptly run `VACUUM subject_keys` after erasures, keep WAL archives
// under the same retention as backups, and rely on the master key: a
// wrapped key is useless without it, and rotating the master key retires
// every old copy at once.
package postgres
