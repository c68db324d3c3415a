package mysql

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/sqlconn"
)

// Connector reaches the personal data in one MySQL or MariaDB database. It
// is safe for concurrent use.
type Connector struct {
	e *sqlconn.Engine
}

var (
	_ lethe.Connector    = (*Connector)(nil)
	_ lethe.ValueScanner = (*Connector)(nil)
)

// Open connects to the datastore's database (ds.DSN in the driver's form,
// user:pass@tcp(host:3306)/db) and checks that it answers. Whatever the
// DSN says, the connection uses utf8mb4, parses DATE and DATETIME into
// time.Time in UTC, sends one statement per call and counts changed rather
// than found rows. ds.Timeout bounds the dial and each statement (30s
// when unset). It returns EINVALID when the DSN cannot be parsed and
// EUNAVAILABLE when the server cannot be reached or refuses the login;
// neither message holds the DSN.
func Open(ctx context.Context, ds *lethe.Datastore) (*Connector, error) {
	cfg, err := mysql.ParseDSN(ds.DSN)
	if err != nil {
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: the dsn is not a MySQL DSN (user:password@tcp(host:3306)/database)", ds.Name)
	}
	timeout := sqlconn.Timeout(ds.Timeout)
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.ClientFoundRows = false
	cfg.MultiStatements = false
	if err := cfg.Apply(mysql.Charset("utf8mb4", "")); err != nil {
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: the dsn's options cannot be applied", ds.Name)
	}
	if cfg.Timeout == 0 || cfg.Timeout > timeout {
		cfg.Timeout = timeout
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: the dsn's options are not valid", ds.Name)
	}
	db := sql.OpenDB(conn)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, sqlconn.Unavailable(ds.Name, "MySQL", connectCause(err), err)
	}
	sqlconn.Pool(db)
	return &Connector{e: sqlconn.New(db, dialect{}, timeout)}, nil
}

// connectCause names why a connection failed without the server's
// message, which names the user and host.
func connectCause(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1045:
			return "access denied"
		case 1049:
			return "the database does not exist"
		case 1040:
			return "too many connections"
		}
		return "MySQL error " + strconv.Itoa(int(me.Number))
	}
	if c := sqlconn.ConnectCause(err); c != "" {
		return c
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return "connection failed"
}

// New returns a connector over a handle the caller opened with
// github.com/go-sql-driver/mysql and keeps responsible for: Close closes
// it. The handle should parse times (parseTime=true) and not ask for found
// rows (clientFoundRows), or Erase counts rows matched rather than
// changed. Statements are bounded by the caller's context only.
func New(db *sql.DB) *Connector {
	return &Connector{e: sqlconn.New(db, dialect{}, 0)}
}

// Describe reports each collection's table from information_schema:
// columns with their type and kind (tinyint(1) is a bool), nullability,
// uniqueness (a primary key or a unique index of the whole column alone)
// and whether an index starts with them; Exists false for a table that is
// missing. A table name may be qualified with its database (shop.users).
func (c *Connector) Describe(ctx context.Context, collections []*lethe.Collection) ([]lethe.TableSchema, error) {
	return c.e.Describe(ctx, collections)
}

// Find streams the rows of the collection that any match selects, each
// once (see lethe.Connector). Values that cannot be of a column's type
// select nothing; a missing table or column is EINVALID. Text compares
// with the column's collation, so a case-insensitive column matches
// whatever the case.
func (c *Connector) Find(ctx context.Context, p lethe.FindParams, fn func(lethe.Row) error) error {
	return c.e.Find(ctx, p, fn)
}

// Erase applies the steps in one transaction and reports, per step, the
// rows it changed: rows deleted, or rows at least one of whose masked
// columns took a new value (so a second identical Erase counts zero).
// Anonymisation with non-constant masks writes each page of rows with one
// UPDATE ... JOIN over the rows' new values.
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
