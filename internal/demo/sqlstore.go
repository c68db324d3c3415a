package demo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/lethe-privacy/lethe"
)

// store is one database the estate is written to.
type store interface {
	// driver names the engine in messages and results.
	driver() string
	// occupied returns those of ts that exist and hold rows.
	occupied(ctx context.Context, ts []*table) ([]string, error)
	// create creates ts, dropping them first when reset.
	create(ctx context.Context, ts []*table, reset bool) error
	// write writes c's rows of ts.
	write(ctx context.Context, ts []*table, c *chunk) error
	// finish indexes ts once their rows are in.
	finish(ctx context.Context, ts []*table) error
	close() error
}

// sqlStore writes the estate through database/sql, on one connection.
type sqlStore struct {
	d    dialect
	db   *sql.DB
	conn *sql.Conn
	// schema qualifies table names on PostgreSQL: the first schema of
	// the URL's search_path.
	schema string
}

// openSQLite opens (creating it and its directory) the SQLite file at
// path. Writes are not synced while seeding: demo data that a crash
// loses is seeded again with Reset.
func openSQLite(ctx context.Context, path string) (*sqlStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, lethe.Errorf(lethe.EUNAVAILABLE, "create the directory of the SQLite file: %v", errors.Unwrap(err))
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, lethe.Errorf(lethe.EUNAVAILABLE, "open the SQLite file %s: %v", path, err)
	}
	f.Close()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(OFF)", "cache_size(-65536)"} {
		q.Add("_pragma", p)
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", "file:"+u.EscapedPath()+"?"+u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	return connect(ctx, db, dialectSQLite)
}

// openPostgres connects to the URL; tables go to the first schema of its
// search_path.
func openPostgres(ctx context.Context, rawURL string) (*sqlStore, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx's message quotes the URL; keep it out.
		return nil, lethe.FieldErrorf("postgres", "not a valid PostgreSQL URL")
	}
	s, err := connect(ctx, stdlib.OpenDB(*cfg), dialectPostgres)
	if err != nil {
		return nil, err
	}
	var schema *string
	if err := s.conn.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		s.close()
		return nil, s.translate("find the schema", err)
	}
	if schema == nil {
		s.close()
		return nil, lethe.FieldErrorf("postgres", "no schema of the URL's search_path exists; create it first")
	}
	s.schema = *schema
	return s, nil
}

// openMySQL connects to the DSN, which must name a database.
func openMySQL(ctx context.Context, dsn string) (*sqlStore, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, lethe.FieldErrorf("mysql", "not a valid MySQL DSN (user:password@tcp(host:3306)/database)")
	}
	if cfg.DBName == "" {
		return nil, lethe.FieldErrorf("mysql", "the MySQL DSN names no database: add /database")
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true // one round trip per batch instead of prepare, execute, close
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, lethe.FieldErrorf("mysql", "not a valid MySQL DSN")
	}
	return connect(ctx, db, dialectMySQL)
}

func connect(ctx context.Context, db *sql.DB, d dialect) (*sqlStore, error) {
	s := &sqlStore{d: d, db: db}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, s.translate("connect", err)
	}
	s.conn = conn
	return s, nil
}

func (s *sqlStore) driver() string { return s.d.String() }

func (s *sqlStore) close() error {
	if s.conn != nil {
		s.conn.Close()
	}
	return s.db.Close()
}

// qualify returns a table's name as statements write it.
func (s *sqlStore) qualify(name string) string {
	if s.schema != "" {
		return s.d.quote(s.schema) + "." + s.d.quote(name)
	}
	return s.d.quote(name)
}

func (s *sqlStore) exists(ctx context.Context, name string) (bool, error) {
	var q string
	args := []any{name}
	switch s.d {
	case dialectSQLite:
		q = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	case dialectPostgres:
		q = "SELECT count(*) FROM information_schema.tables WHERE table_schema = $2 AND table_name = $1"
		args = append(args, s.schema)
	case dialectMySQL:
		q = "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	}
	var n int
	err := s.conn.QueryRowContext(ctx, q, args...).Scan(&n)
	return n > 0, err
}

func (s *sqlStore) occupied(ctx context.Context, ts []*table) ([]string, error) {
	var names []string
	for _, t := range ts {
		ok, err := s.exists(ctx, t.name)
		if err != nil {
			return nil, s.translate("look for table "+t.name, err)
		}
		if !ok {
			continue
		}
		var one int
		err = s.conn.QueryRowContext(ctx, "SELECT 1 FROM "+s.qualify(t.name)+" LIMIT 1").Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, s.translate("read table "+t.name, err)
		default:
			names = append(names, t.name)
		}
	}
	return names, nil
}

func (s *sqlStore) create(ctx context.Context, ts []*table, reset bool) error {
	if reset {
		for i := len(ts) - 1; i >= 0; i-- {
			// No CASCADE: a table of someone else's that refers to a demo
			// table makes the drop fail rather than lose its constraint.
			if _, err := s.conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+s.qualify(ts[i].name)); err != nil {
				return s.translate("drop table "+ts[i].name, err)
			}
		}
	}
	for _, t := range ts {
		if _, err := s.conn.ExecContext(ctx, s.d.createTable(t, s.qualify)); err != nil {
			return s.translate("create table "+t.name, err)
		}
	}
	return nil
}

func (s *sqlStore) finish(ctx context.Context, ts []*table) error {
	for _, t := range ts {
		for _, stmt := range s.d.createIndexes(t, s.qualify) {
			if _, err := s.conn.ExecContext(ctx, stmt); err != nil {
				return s.translate("index table "+t.name, err)
			}
		}
	}
	var err error
	switch s.d {
	case dialectSQLite:
		_, err = s.conn.ExecContext(ctx, "ANALYZE")
	case dialectPostgres:
		for _, t := range ts {
			if _, err = s.conn.ExecContext(ctx, "ANALYZE "+s.qualify(t.name)); err != nil {
				break
			}
		}
	}
	return s.translate("analyze", err)
}

func (s *sqlStore) write(ctx context.Context, ts []*table, c *chunk) error {
	if s.d == dialectPostgres {
		return s.copy(ctx, ts, c)
	}
	tx, err := s.conn.BeginTx(ctx, nil)
	if err != nil {
		return s.translate("begin", err)
	}
	defer tx.Rollback()
	for _, t := range ts {
		if err := s.insert(ctx, tx, t, c.rows[tableIndex(t)]); err != nil {
			return s.translate("insert into "+t.name, err)
		}
	}
	return s.translate("commit", tx.Commit())
}

// insert writes rows with multi-row INSERTs of up to maxBatch rows, a
// prepared statement for the full batches.
func (s *sqlStore) insert(ctx context.Context, tx *sql.Tx, t *table, rows [][]any) error {
	cols := len(t.columns)
	batch := min(500, 32000/cols) // SQLite allows 32766 parameters, MySQL 65535
	head := fmt.Sprintf("INSERT INTO %s (%s) VALUES ", s.qualify(t.name), strings.Join(t.columnNames(), ", "))
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	stmtFor := func(n int) string {
		return head + strings.TrimSuffix(strings.Repeat(tuple+", ", n), ", ")
	}
	var full *sql.Stmt
	args := make([]any, 0, batch*cols)
	for len(rows) > 0 {
		n := min(batch, len(rows))
		args = args[:0]
		for _, row := range rows[:n] {
			for _, v := range row {
				args = append(args, s.value(v))
			}
		}
		var err error
		if n == batch {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, stmtFor(batch)); err != nil {
					return err
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, stmtFor(n), args...)
		}
		if err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// copy writes rows with COPY, one per table.
func (s *sqlStore) copy(ctx context.Context, ts []*table, c *chunk) error {
	return s.conn.Raw(func(dc any) error {
		conn := dc.(*stdlib.Conn).Conn()
		for _, t := range ts {
			rows := c.rows[tableIndex(t)]
			if len(rows) == 0 {
				continue
			}
			src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
				row := make([]any, len(rows[i]))
				for j, v := range rows[i] {
					row[j] = s.value(v)
				}
				return row, nil
			})
			if _, err := conn.CopyFrom(ctx, pgx.Identifier{s.schema, t.name}, t.columnNames(), src); err != nil {
				return s.translate("copy into "+t.name, err)
			}
		}
		return nil
	})
}

// value converts a generated value for the dialect. SQLite gets times as
// text in its own form (what CURRENT_TIMESTAMP writes, what its date
// functions read), UTC.
func (s *sqlStore) value(v any) any {
	switch v := v.(type) {
	case date:
		if s.d == dialectSQLite {
			return time.Time(v).Format(time.DateOnly)
		}
		return time.Time(v)
	case time.Time:
		if s.d == dialectSQLite {
			return v.Format(time.DateTime)
		}
	}
	return v
}

// translate wraps a driver error with op, as EUNAVAILABLE when the
// database cannot be reached. Driver messages name tables and
// constraints, never a DSN or the rows' values.
func (s *sqlStore) translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var le *lethe.Error
	if errors.As(err, &le) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", s.d, op, err)
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		// Its text names the user, host and database; keep the cause.
		return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: fmt.Sprintf("%s %s: the database cannot be reached: %v", s.d, op, errors.Unwrap(connErr))}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, mysql.ErrInvalidConn) {
		return &lethe.Error{Code: lethe.EUNAVAILABLE, Message: fmt.Sprintf("%s %s: the database cannot be reached: %v", s.d, op, err)}
	}
	return fmt.Errorf("%s %s: %w", s.d, op, err)
}

func tableIndex(t *table) int {
	for i, x := range tables {
		if x == t {
			return i
		}
	}
	panic("demo: table " + t.name + " is not in tables")
}
