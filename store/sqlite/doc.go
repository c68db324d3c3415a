// Package sqlite is Lethe's embedded default store: the consent ledger, the
// audit log, subject keys and API keys in one SQLite file (pure Go driver
// modernc.org/sqlite), so that `lethe serve` works with nothing but a data
// directory. It implements lethe.Store and lethe.ChangeFeed and passes
// store/storetest.
//
// The file is opened in WAL mode with one writer connection and a pool of
// read-only connections; every write transaction is BEGIN IMMEDIATE, which
// serialises writers across processes too (busy_timeout makes them wait
// rather than fail). Each connection gets its pragmas from the DSN:
// busy_timeout, foreign_keys=ON, secure_delete=ON (freed bytes are zeroed,
// which is what makes shredding a key overwrite it in the file), and
// synchronous.
//
// Writes are committed in groups: one goroutine owns the writer
// connection, and the writes that queue up while a transaction commits run
// together in the next one, so concurrent consent appends share the cost
// of a commit while each still succeeds or fails on its own (a write that
// fails makes its group run again one write at a time). Every audited
// write appends to the audit log in the same transaction as its change, and
// a new subject's data key is stored in the transaction of its first
// consent events.
//
// Durability: synchronous=FULL by default: the WAL is fsynced on every
// commit, so an acknowledged consent, withdrawal or erasure survives a
// power loss, as on PostgreSQL with its defaults. The ledger is evidence;
// losing an acknowledged withdrawal is not a trade to make silently.
// Options.Synchronous "NORMAL" skips the fsync (in WAL mode a commit then
// survives any crash of the process, and an OS crash or power loss may
// lose the most recent commits but never corrupts the database) for
// deployments that prefer several times the single-writer append rate.
//
// Change feed: SQLite cannot say which subject changed, so SubjectChanges
// polls PRAGMA data_version (every 100ms by default) and sends a zero
// SubjectRef, "drop everything", when another process (or another Store on
// the same file) committed. It polls on the writer connection, whose
// data_version ignores this store's own commits: a server's caches are not
// emptied by its own writes, which its callers invalidate themselves.
//
// Schema migrations are embedded and applied with goose on Open (and by
// Migrate). Times are stored as INTEGER unix microseconds UTC, subject
// references as 32-byte BLOBs. Consent events, audit entries (with the
// Merkle tree hashes each leaf stored, in tree_hashes; the head is the
// last entry) and checkpoints are append-only: triggers refuse UPDATE and
// DELETE.
//
// Checkpoints of the write-ahead log run in the background, on a
// connection of their own (see checkpoint.go), so that no commit waits for
// the copying of everyone's pages into the database file.
package sqlite
