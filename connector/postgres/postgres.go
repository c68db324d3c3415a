package postgres

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/sqlconn"
)

// Connector reaches the personal data in one PostgreSQL database. It is
// safe for concurrent use.
type Connector struct {
	e *sqlconn.Engine
}

var (
	_ lethe.Connector    = (*Connector)(nil)
	_ lethe.ValueScanner = (*Connector)(nil)
)

// Open connects to the datastore's database (ds.DSN: a postgres:// URL or
// a keyword/value string) and checks that it answers. ds.Timeout bounds
// the connection attempt and each statement (30s when unset). It returns
// EINVALID when the DSN cannot be parsed and EUNAVAILABLE when the server
// cannot be reached or refuses the login; neither message holds the DSN.
func Open(ctx context.Context, ds *lethe.Datastore) (*Connector, error) {
	cfg, err := pgx.ParseConfig(ds.DSN)
	if err != nil {
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: the dsn is not a PostgreSQL URL (postgres://user@host:5432/db) or keyword/value string", ds.Name)
	}
	timeout := sqlconn.Timeout(ds.Timeout)
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > timeout {
		cfg.ConnectTimeout = timeout
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "lethe"
	}
	db := stdlib.OpenDB(*cfg)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, sqlconn.Unavailable(ds.Name, "PostgreSQL", connectCause(err), err)
	}
	sqlconn.Pool(db)
	return &Connector{e: sqlconn.New(db, dialect{}, timeout)}, nil
}

// connectCause names why a connection failed without the server's
// message, which may name the user.
func connectCause(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "28P01", pe.Code == "28000":
			return "authentication failed"
		case pe.Code == "3D000":
			return "the database does not exist"
		case pe.Code == "53300":
			return "too many connections"
		case pe.Code == "57P03":
			return "the server is starting up or shutting down"
		}
		return "SQLSTATE " + pe.Code
	}
	if c := sqlconn.ConnectCause(err); c != "" {
		return c
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return "connection failed"
}

// New returns a connector over a handle the caller opened with the pgx
// driver (github.com/jackc/pgx/v5/stdlib) and keeps responsible for: Close
// closes it. Statements are bounded by the caller's context only.
func New(db *sql.DB) *Connector {
	return &Connector{e: sqlconn.New(db, dialect{}, 0)}
}

// Describe reports each collection's table: columns with their type and
// kind, nullability, uniqueness (a primary key or a single-column unique
// index or constraint) and whether an index starts with them; Exists
// false for a table that is missing. A table name may be schema-qualified
// (billing.invoices); unqualified names follow the search_path.
func (c *Connector) Describe(ctx context.Context, collections []*lethe.Collection) ([]lethe.TableSchema, error) {
	return c.e.Describe(ctx, collections)
}

// Find streams the rows of the collection that any match selects, each
// once (see lethe.Connector). Values that cannot be of a column's type
// select nothing; a missing table or column is EINVALID.
func (c *Connector) Find(ctx context.Context, p lethe.FindParams, fn func(lethe.Row) error) error {
	return c.e.Find(ctx, p, fn)
}

// Erase applies the steps in one transaction and reports, per step, the
// rows it changed: rows deleted, or rows at least one of whose masked
// columns took a new value (so a second identical Erase counts zero).
// Anonymisation with non-constant masks writes each page of rows with one
// UPDATE ... FROM (VALUES ...).
func (c *Connector) Erase(ctx context.Context, steps []lethe.EraseStep) ([]lethe.EraseStepResult, error) {
	return c.e.Erase(ctx, steps)
}

// Close closes the connections.
func (c *Connector) Close() error { return c.e.Close() }

// ScanValues passes the column's non-null values to fn in batches, walking
// the table by primary key (see lethe.ValueScanner): `lethe rerun` reads
// identity columns with it.
func (c *Connector) ScanValues(ctx context.Context, p lethe.ScanParams, fn func([]any) error) error {
	return c.e.ScanValues(ctx, p, fn)
}
