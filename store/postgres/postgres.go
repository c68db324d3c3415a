package postgres

import (
	"cmp"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/lethe-privacy/lethe"
)

var (
	_ lethe.Store      = (*Store)(nil)
	_ lethe.ChangeFeed = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configures Open. The zero value of every field but URL is a
// working default.
type Options struct {
	// URL is the PostgreSQL connection URL (postgres://user@host/db?...).
	// A search_path parameter selects the schema Lethe's tables live in;
	// otherwise the server's default applies. Required.
	URL string
	// MaxConns bounds the connection pool. Defaults to pgxpool's default
	// (max(4, number of CPUs)) or the URL's pool_max_conns.
	MaxConns int32
	// Clock stamps audit entries, shreds and keys created without a time.
	// Defaults to lethe.SystemClock{}.
	Clock lethe.Clock
}

// Store is Lethe's state in PostgreSQL, shared by every node that opens
// the same database and schema. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	clock   lethe.Clock
	schema  string
	channel string // LISTEN/NOTIFY channel, one per schema
	// hashes caches Merkle tree hashes this process wrote (after commit) or
	// read. Stored tree hashes never change (the table is append-only), so
	// a cached value is never stale, whichever node wrote it.
	hashes *lru.Cache[int64, [32]byte]
	// appends queues concurrent consent appends into shared transactions.
	appends appendGroup
	// head is the audit head this store's appends last left.
	head knownHead
}

// Open connects to the database, checks that it answers and applies
// pending migrations. It returns EINVALID for a bad URL and EUNAVAILABLE
// when the server cannot be reached. Errors never contain the URL.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.URL == "" {
		return nil, lethe.FieldErrorf("url", "the PostgreSQL URL is required")
	}
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		// pgx's message quotes the URL (password masked); keep only the
		// reason.
		return nil, &lethe.Error{Code: lethe.EINVALID, Fields: []lethe.FieldError{{Path: "url", Message: "not a valid PostgreSQL URL"}}, Err: errors.Unwrap(err)}
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, translate("open postgres store", err)
	}
	s := &Store{pool: pool, clock: cmp.Or[lethe.Clock](opts.Clock, lethe.SystemClock{})}
	s.hashes, _ = lru.New[int64, [32]byte](1024)
	var schema *string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, translate("open postgres store", err)
	}
	if schema == nil {
		pool.Close()
		return nil, lethe.FieldErrorf("url", "no schema of the search_path exists; create it first")
	}
	s.schema = *schema
	sum := sha256.Sum256([]byte(s.schema))
	// Channel names are identifiers (63 bytes at most) and schema names
	// may be long or need quoting: a hash of the schema fits any.
	s.channel = "lethe_changes_" + hex.EncodeToString(sum[:8])
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Migrate applies pending schema migrations, in the schema the URL's
// search_path selects. It is idempotent; several nodes may run it at once
// (a session advisory lock, one per schema, makes them take turns).
func (s *Store) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate postgres store: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("lethe-migrate:" + s.schema))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 600))
	if err != nil {
		return fmt.Errorf("migrate postgres store: %w", err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true),
		// Applied, not refused, when a lower-numbered migration lands
		// after a higher one was applied (see the SQLite store).
		goose.WithAllowOutofOrder(true))
	if err != nil {
		return fmt.Errorf("migrate postgres store: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return translate("migrate postgres store", err)
	}
	return nil
}

// Pool returns the connection pool. It is for tests and tooling that must
// reach the database directly, e.g. to prove that the append-only triggers
// refuse a tampering UPDATE; Lethe's own code goes through the Store
// methods.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping reports whether the database answers (EUNAVAILABLE if not).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return translate("ping postgres store", err)
	}
	return nil
}

// Close closes the pool. Change feeds end with their own contexts.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// translate turns driver errors into *lethe.Error codes at the edge.
// PgError's message names constraints and tables, never values (those are
// in Detail, which is not part of Error()).
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var le *lethe.Error
	if errors.As(err, &le) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &lethe.Error{Code: lethe.ENOTFOUND, Message: op + ": not found", Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return &lethe.Error{Code: lethe.ECONFLICT, Message: op + ": already exists", Err: err}
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: op + ": the database aborted a concurrent transaction; try again", Err: err}
		case "53300", "57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006":
			return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: op + ": PostgreSQL is not accepting connections", Err: err}
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		// ConnectError's text names the user, host and database; keep only
		// the cause.
		return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: op + ": PostgreSQL cannot be reached", Err: errors.Unwrap(connErr)}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || pgconn.SafeToRetry(err) || errors.Is(err, pgx.ErrTxClosed) {
		return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: op + ": the connection to PostgreSQL failed", Err: err}
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

// ts is how times are stored: PostgreSQL keeps microseconds; truncating
// here (rather than letting the server round) makes what is stored equal
// to what the other stores keep.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func tsPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

func nilIfEmpty(b []byte) []byte {
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
