package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/sqlconn"
)

// Connector reaches the personal data in one SQLite database file. It is
// safe for concurrent use.
type Connector struct {
	e *sqlconn.Engine
}

var (
	_ lethe.Connector    = (*Connector)(nil)
	_ lethe.ValueScanner = (*Connector)(nil)
)

// Open opens the datastore's database file (ds.DSN: a path, or a file: URI
// without parameters) as the application left it: the file must exist
// (Open never creates one), and its journal mode and foreign_keys setting
// are not changed. Lethe waits up to ds.Timeout (30s when unset) for
// another process's lock, and bounds each statement by the same timeout.
// Erase transactions begin IMMEDIATE, taking the write lock up front. It
// returns EINVALID for a DSN with parameters or naming a directory, and
// EUNAVAILABLE when the file is missing, unreadable or not a database;
// neither message holds the path.
func Open(ctx context.Context, ds *lethe.Datastore) (*Connector, error) {
	path := ds.DSN
	if rest, ok := strings.CutPrefix(path, "file:"); ok {
		u, err := url.Parse(path)
		if err != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: give the SQLite file's path (Lethe sets the connection's options itself)", ds.Name)
		}
		path = u.Path
		if path == "" {
			path = rest
		}
	}
	if path == "" || path == ":memory:" {
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: the dsn must be the path of an SQLite database file", ds.Name)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: the SQLite path cannot be made absolute", ds.Name)
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, sqlconn.Unavailable(ds.Name, "SQLite", "the database file does not exist; Lethe opens an existing file and never creates one", err)
	case err != nil:
		return nil, sqlconn.Unavailable(ds.Name, "SQLite", "the database file cannot be read", err)
	case st.IsDir():
		return nil, lethe.Errorf(lethe.EINVALID, "datastore %s: the SQLite path names a directory", ds.Name)
	}
	timeout := sqlconn.Timeout(ds.Timeout)
	q := url.Values{}
	q.Set("mode", "rw") // never create the file
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(timeout.Milliseconds(), 10)+")")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite") // times written by masks read back with julianday
	dsn := (&url.URL{Scheme: "file", Path: abs}).String() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, sqlconn.Unavailable(ds.Name, "SQLite", "the database file cannot be opened", err)
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Reading the schema checks that the file is a database, which
	// opening alone does not.
	var n int
	if err := db.QueryRowContext(pctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		db.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, sqlconn.Unavailable(ds.Name, "SQLite", openCause(err), err)
	}
	sqlconn.Pool(db)
	return &Connector{e: sqlconn.New(db, dialect{}, timeout)}, nil
}

func openCause(err error) string {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return "the file is not an SQLite database"
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY:
			return "the file cannot be opened for reading and writing"
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return "another process holds the database locked"
		case sqlite3.SQLITE_CORRUPT:
			return "the database file is corrupt"
		}
		return "SQLite " + strconv.Itoa(se.Code())
	}
	return "the database file cannot be opened"
}

// New returns a connector over a handle the caller opened with
// modernc.org/sqlite and keeps responsible for: Close closes it.
// Statements are bounded by the caller's context only.
func New(db *sql.DB) *Connector {
	return &Connector{e: sqlconn.New(db, dialect{}, 0)}
}

// Describe reports each collection's table from pragma table_xinfo,
// index_list and index_info: columns with their declared type and its
// kind, nullability, uniqueness (a single-column primary key or unique
// index without a WHERE) and whether an index starts with them; Exists
// false for a table that is missing. Table names are plain: an SQLite
// datastore is one file.
func (c *Connector) Describe(ctx context.Context, collections []*lethe.Collection) ([]lethe.TableSchema, error) {
	return c.e.Describe(ctx, collections)
}

// Find streams the rows of the collection that any match selects, each
// once (see lethe.Connector). Values that cannot be of a column's declared
// type select nothing; a missing table or column is EINVALID.
func (c *Connector) Find(ctx context.Context, p lethe.FindParams, fn func(lethe.Row) error) error {
	return c.e.Find(ctx, p, fn)
}

// Erase applies the steps in one transaction and reports, per step, the
// rows it changed: rows deleted, or rows at least one of whose masked
// columns took a new value (so a second identical Erase counts zero).
// Anonymisation with non-constant masks writes each page of rows with one
// UPDATE ... FROM (VALUES ...). A hold's cutoff compares times stored as
// text (julianday) or as Unix seconds.
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
