package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/lethe-privacy/lethe"
)

var (
	_ lethe.Store      = (*Store)(nil)
	_ lethe.ChangeFeed = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configures Open. The zero value of every field but Path is a
// working default.
type Options struct {
	// Path is the database file, e.g. <data-dir>/lethe.db. It is created
	// with mode 0600 (and its directory with 0700) when missing. Required.
	Path string
	// Synchronous is the SQLite synchronous level: "FULL" or "NORMAL"
	// (either case). FULL, the default, fsyncs the write-ahead log on every
	// commit: an acknowledged consent or withdrawal survives a power loss,
	// as on PostgreSQL with its default synchronous_commit. NORMAL skips
	// that fsync: a commit survives any crash of the process, but a power
	// loss or OS crash may lose the last commits (never corrupt the file).
	// Concurrent writes share a commit, and so its fsync.
	Synchronous string
	// BusyTimeout is how long a write waits for another process holding the
	// write lock before giving up with EUNAVAILABLE. Defaults to 5s.
	BusyTimeout time.Duration
	// MaxReaders bounds the reader connection pool. Defaults to
	// max(4, GOMAXPROCS).
	MaxReaders int
	// Clock stamps audit entries, shreds and keys created without a time.
	// Defaults to lethe.SystemClock{}.
	Clock lethe.Clock
	// PollInterval is how often SubjectChanges looks for commits made by
	// other processes. Defaults to 100ms.
	PollInterval time.Duration
	// WriterCacheMiB bounds the writer connection's page cache (SQLite
	// fills it only as pages are used). Appends touch pages all over the
	// consent state, the subject keys and the history index, keyed by
	// random subject references: a cache that holds them spares a read per
	// page, and unlike the readers' caches it survives this process's own
	// commits. Defaults to 64.
	WriterCacheMiB int
}

// Store is Lethe's state in one SQLite file, in WAL mode: one writer
// connection (so writes are serialised in the process, and BEGIN IMMEDIATE
// serialises them against other processes) and a pool of read-only
// connections that never block the writer. It is safe for concurrent use,
// also by several processes on the same file.
type Store struct {
	writer *sql.DB
	reader *sql.DB
	clock  lethe.Clock
	poll   time.Duration
	st     writerStmts
	// txAudit is the audit state of the writer's open transaction.
	txAudit txAudit
	jobs    chan *writeJob
	quit    chan struct{}
	done    chan struct{}
	// closing guards isClosed: Close takes it exclusively, writes share
	// it while they queue.
	closing  sync.RWMutex
	isClosed bool
	// writing is held by whoever runs a write transaction: the writer
	// goroutine for a group, or a caller on the fast path.
	writing sync.Mutex
	// inflight counts the writes between entering write and returning.
	inflight atomic.Int64
	// commits counts committed write transactions, for the checkpointer.
	commits atomic.Int64
	// ckpt is the checkpointer's connection (see checkpoint.go).
	ckpt               *sql.DB
	ckptQuit, ckptDone chan struct{}
	ckptStop           sync.Once
	// ckptMu lets one checkpoint run at a time: the background rounds and
	// a shred's truncation (SQLite fails a second one at once).
	ckptMu       sync.Mutex
	ckptFailures atomic.Int64
	ckptErr      atomic.Pointer[error]
	// hashes caches Merkle tree hashes this process wrote or read. Stored
	// tree hashes never change (the table is append-only), so a cached
	// value can never be stale; it saves the reads an append needs.
	hashes *lru.Cache[int64, [32]byte]
}

// Open opens (creating if needed) the database at opts.Path and applies
// pending migrations. It returns EINVALID for bad options and EUNAVAILABLE
// when the file cannot be opened.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Path == "" {
		return nil, lethe.FieldErrorf("path", "the SQLite database path is required")
	}
	syncLevel := strings.ToUpper(cmp.Or(opts.Synchronous, "FULL"))
	if syncLevel != "NORMAL" && syncLevel != "FULL" {
		return nil, lethe.FieldErrorf("synchronous", "must be full or normal, not %q", opts.Synchronous)
	}
	if opts.WriterCacheMiB < 0 {
		return nil, lethe.FieldErrorf("writer_cache_mib", "must not be negative")
	}
	busy := cmp.Or(opts.BusyTimeout, 5*time.Second)
	readers := cmp.Or(opts.MaxReaders, max(4, runtime.GOMAXPROCS(0)))
	if err := createFile(opts.Path); err != nil {
		return nil, &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "cannot create the SQLite database file", Err: err}
	}
	abs, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}

	common := url.Values{}
	common.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	common.Add("_pragma", "foreign_keys(ON)")
	common.Add("_pragma", "secure_delete(ON)")
	common.Add("_pragma", "synchronous("+syncLevel+")")

	w := cloneValues(common)
	w.Add("_pragma", "journal_mode(WAL)")
	w.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(writerAutoPages)+")")
	w.Add("_pragma", "cache_size(-"+strconv.Itoa(1024*cmp.Or(opts.WriterCacheMiB, 64))+")")
	// The single writer connection makes every transaction BEGIN
	// IMMEDIATE: it takes the write lock up front, so a transaction never
	// fails half-way with SQLITE_BUSY when another process writes.
	w.Set("_txlock", "immediate")
	writer, err := sql.Open("sqlite", dsn(abs, w))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	s := &Store{writer: writer, clock: cmp.Or[lethe.Clock](opts.Clock, lethe.SystemClock{}), poll: cmp.Or(opts.PollInterval, 100*time.Millisecond)}
	s.hashes, _ = lru.New[int64, [32]byte](1024)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, translate("open sqlite store", err)
	}
	if err := s.Migrate(ctx); err != nil {
		writer.Close()
		return nil, err
	}
	r := cloneValues(common)
	r.Add("_pragma", "query_only(ON)")
	s.reader, err = sql.Open("sqlite", dsn(abs, r))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	s.reader.SetMaxOpenConns(readers)
	s.reader.SetMaxIdleConns(readers)
	if err := s.st.prepare(ctx, writer, s.reader); err != nil {
		s.reader.Close()
		writer.Close()
		return nil, translate("open sqlite store", err)
	}
	ckpt, err := sql.Open("sqlite", dsn(abs, common))
	if err != nil {
		s.reader.Close()
		writer.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	ckpt.SetMaxOpenConns(1)
	s.startCheckpointer(ckpt)
	s.startWriter()
	return s, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func dsn(path string, q url.Values) string {
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	// file:/abs/path?...: SQLite's URI form; the path is percent-decoded by
	// SQLite, so names with '?' or '#' work.
	return "file:" + u.EscapedPath() + "?" + u.RawQuery
}

// createFile makes sure the database file exists with mode 0600 before
// SQLite opens it: SQLite would create it with 0644 (less the umask), and
// the WAL and shared-memory files copy the main file's mode.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// Migrate applies pending schema migrations. It is idempotent and safe to
// run from several processes at once; Open calls it.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.migrations()
	if err != nil {
		return fmt.Errorf("migrate sqlite store: %w", err)
	}
	// Goose has no lock for SQLite: two processes migrating the same new
	// file race, and the loser fails on "table already exists" after the
	// winner committed. Each migration is one transaction, so checking what
	// is still pending and trying again converges.
	for attempt := 0; ; attempt++ {
		_, err = p.Up(ctx)
		if err == nil {
			return nil
		}
		pending, perr := p.HasPending(ctx)
		if perr == nil && !pending {
			return nil
		}
		if attempt == 2 || ctx.Err() != nil {
			return translate("migrate sqlite store", err)
		}
	}
}

// migrations is the goose provider of the embedded migrations on the
// writer connection.
func (s *Store) migrations() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	// Out of order: migrations are numbered as features land, and one
	// numbered lower than a data directory's newest may arrive later; it
	// is applied rather than refused (each migration adds only its own
	// tables and columns).
	return goose.NewProvider(goose.DialectSQLite3, s.writer, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true),
		goose.WithGoMigrations(migrateTreeIntoEntries()))
}

// DB returns the writer connection pool (one connection). It is for tests
// and tooling that must reach the database directly, e.g. to prove that
// the append-only triggers refuse a tampering UPDATE; Lethe's own code goes
// through the Store methods.
func (s *Store) DB() *sql.DB { return s.writer }

// Ping reports whether the database answers (EUNAVAILABLE if not).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.reader.PingContext(ctx); err != nil {
		return translate("ping sqlite store", err)
	}
	if err := s.checkpointFailing(); err != nil {
		return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "background checkpoints of the SQLite write-ahead log keep failing", Err: err}
	}
	return nil
}

// Close waits for the write in progress, fails writes still queued with
// EUNAVAILABLE, and closes every connection.
func (s *Store) Close() error {
	s.stopWriter()
	s.stopCheckpointer()
	s.st.close()
	var err error
	if s.reader != nil {
		err = s.reader.Close()
	}
	if s.ckpt != nil {
		err = errors.Join(err, s.ckpt.Close())
	}
	return errors.Join(err, s.writer.Close())
}

// translate turns driver errors into *lethe.Error codes at the edge.
// SQLite's own messages name tables and columns, never values, so the cause
// is kept for logs.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var le *lethe.Error
	if errors.As(err, &le) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &lethe.Error{Code: lethe.ENOTFOUND, Message: op + ": not found", Err: err}
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &lethe.Error{Code: lethe.ECONFLICT, Message: op + ": already exists", Err: err}
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: op + ": the database is busy (another process holds the write lock); try again", Err: err}
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_PERM:
			return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: op + ": the SQLite database cannot be used", Err: err}
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// conflict returns ECONFLICT with msg for a unique violation, and the
// translated error otherwise.
func conflict(op, msg string, err error) error {
	err = translate(op, err)
	var le *lethe.Error
	if errors.As(err, &le) && le.Code == lethe.ECONFLICT {
		le.Message = msg
	}
	return err
}

// micros and fromMicros convert times to and from the stored INTEGER unix
// microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func hash32(b []byte) ([32]byte, error) {
	var h [32]byte
	if len(b) != 32 {
		return h, fmt.Errorf("stored hash has %d bytes, want 32", len(b))
	}
	copy(h[:], b)
	return h, nil
}
