package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/sqlconn"
)

// dialect is SQLite's share of the SQL engine.
type dialect struct{}

var _ sqlconn.Dialect = dialect{}

func (dialect) Name() string { return "SQLite" }

func (dialect) QuoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// SplitTable refuses schema.table: the connector opens one database file,
// and an attached schema would be another.
func (dialect) SplitTable(name string) (string, string, error) {
	if strings.Contains(name, ".") {
		return "", "", lethe.Errorf(lethe.EINVALID, "table %s: an SQLite datastore is one file; name its tables without a schema", name)
	}
	return "", name, nil
}

func (dialect) Placeholder(int) string { return "?" }

// MaxParams is SQLITE_MAX_VARIABLE_NUMBER's default since 3.32.
func (dialect) MaxParams() int { return 32766 }

func (d dialect) Describe(ctx context.Context, q sqlconn.Querier, _, table string) (*sqlconn.Table, error) {
	var name string
	err := q.QueryRowContext(ctx, `SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE`, table).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_xinfo(?) WHERE hidden <> 1 ORDER BY cid`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	t := &sqlconn.Table{Name: name}
	byName := map[string]int{}
	var pk []int
	for rows.Next() {
		var c sqlconn.Column
		var notNull bool
		var pkSeq int
		if err := rows.Scan(&c.Name, &c.Type, &notNull, &pkSeq); err != nil {
			return nil, err
		}
		c.Kind, c.MaxLength = kind(c.Type)
		c.Nullable = !notNull
		if pkSeq > 0 {
			pk = append(pk, len(t.Columns))
		}
		byName[strings.ToLower(c.Name)] = len(t.Columns)
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(pk) == 1 {
		c := &t.Columns[pk[0]]
		c.Unique, c.Indexed = true, true
		// An INTEGER PRIMARY KEY is the rowid, which is never NULL.
		if strings.EqualFold(c.Type, "INTEGER") {
			c.Nullable = false
		}
	}

	type index struct {
		name            string
		unique, partial bool
	}
	var indexes []index
	rows, err = q.QueryContext(ctx, `SELECT name, "unique", partial FROM pragma_index_list(?)`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.unique, &ix.partial); err != nil {
			return nil, err
		}
		indexes = append(indexes, ix)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for _, ix := range indexes {
		var cols []sql.NullString
		rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, ix.name)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var c sql.NullString
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return nil, err
			}
			cols = append(cols, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(cols) == 0 || !cols[0].Valid { // an expression
			continue
		}
		i, ok := byName[strings.ToLower(cols[0].String)]
		if !ok {
			continue
		}
		t.Columns[i].Indexed = true
		if ix.unique && !ix.partial && len(cols) == 1 {
			t.Columns[i].Unique = true
		}
	}
	return t, nil
}

// kind reads a declared type as SQLite's affinity rules would, with the
// names applications use for booleans, times, JSON and UUIDs first.
func kind(declared string) (lethe.ColumnKind, int) {
	t := strings.ToUpper(strings.TrimSpace(declared))
	maxLen := 0
	if open := strings.Index(t, "CHAR("); open >= 0 {
		if n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(t[open+5:], ")"))); err == nil {
			maxLen = n
		}
	}
	switch {
	case strings.Contains(t, "BOOL"):
		return lethe.KindBool, 0
	case strings.Contains(t, "DATETIME"), strings.Contains(t, "TIMESTAMP"):
		return lethe.KindTime, 0
	case t == "DATE":
		return lethe.KindDate, 0
	case strings.Contains(t, "INT"):
		return lethe.KindInteger, 0
	case strings.Contains(t, "JSON"):
		return lethe.KindJSON, 0
	case strings.Contains(t, "UUID"):
		return lethe.KindUUID, 0
	case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
		return lethe.KindText, maxLen
	case strings.Contains(t, "BLOB"):
		return lethe.KindBytes, 0
	case strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "DOUB"),
		strings.Contains(t, "NUMERIC"), strings.Contains(t, "DECIMAL"):
		return lethe.KindFloat, 0
	}
	return lethe.KindOther, 0
}

func (dialect) Fit(_ *sqlconn.Column, v any) (any, bool) { return v, true }

// Match compares text with the BINARY collation as well, so that a column
// declared COLLATE NOCASE still finds its rows through its index but keeps
// only exact matches.
func (dialect) Match(col *sqlconn.Column, quoted string, vals []any, p *sqlconn.Params) string {
	switch col.Kind {
	case lethe.KindText, lethe.KindJSON, lethe.KindOther, lethe.KindUUID:
		// The exact test compares bytes (CAST AS BLOB) rather than
		// COLLATE BINARY: SQLite 3.54 plans "a IN (..) AND a COLLATE
		// BINARY IN (..)" inside an OR as a full table scan, and the
		// cast keeps the multi-index OR plan.
		var exact strings.Builder
		exact.WriteString("CAST(" + quoted + " AS BLOB) IN (")
		for i, v := range vals {
			if i > 0 {
				exact.WriteByte(',')
			}
			exact.WriteString("CAST(" + p.Add(v) + " AS BLOB)")
		}
		exact.WriteByte(')')
		return "(" + sqlconn.In(quoted, vals, p) + " AND " + exact.String() + ")"
	}
	return sqlconn.In(quoted, vals, p)
}

// MatchFold compares lower(column) as bytes. SQLite's lower() folds ASCII
// letters only: a column holding upper-case non-ASCII letters is not
// folded for them.
func (dialect) MatchFold(col *sqlconn.Column, quoted string, vals []any, p *sqlconn.Params) string {
	var b strings.Builder
	b.WriteString("CAST(lower(" + quoted + ") AS BLOB) IN (")
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("CAST(" + p.Add(v) + " AS BLOB)")
	}
	b.WriteByte(')')
	return b.String()
}

func (dialect) Changed(a, b string) string { return a + " IS NOT " + b }

// Before compares times however the application stored them: numbers as
// Unix seconds, text through julianday (ISO 8601, with or without a zone),
// or its first 19 characters for layouts julianday does not read (Go's
// time.String). A value that is neither is not known to be old, and the
// row is kept.
func (dialect) Before(col *sqlconn.Column, quoted string, t time.Time, p *sqlconn.Params) (string, error) {
	unix := p.Add(t.Unix())
	text := p.Add(t.UTC().Format("2006-01-02 15:04:05"))
	return "(CASE WHEN typeof(" + quoted + ") IN ('integer', 'real') THEN " + quoted + " < " + unix +
		" ELSE COALESCE(julianday(" + quoted + "), julianday(substr(" + quoted + ", 1, 19))) < julianday(" + text + ") END)", nil
}

// BulkUpdate joins the table to a VALUES list (SQLite 3.33's UPDATE FROM):
//
//	UPDATE t AS t SET c = v.column2 FROM (VALUES (?, ?), ...) AS v
//	WHERE t.id = v.column1 AND (t.c IS NOT v.column2)
func (d dialect) BulkUpdate(u *sqlconn.BulkUpdate, p *sqlconn.Params) string {
	var b strings.Builder
	b.WriteString("UPDATE ")
	b.WriteString(u.Table)
	b.WriteString(" AS t SET ")
	for j, q := range u.Quoted {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(q + " = v.column" + strconv.Itoa(j+2))
	}
	for k, q := range u.ConstQuoted {
		b.WriteString("," + q + " = " + sqlconn.ConstSet("t."+q, u.Const[k], p))
	}
	b.WriteString(" FROM (VALUES ")
	for i, row := range u.Rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j, v := range row {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(p.Add(v))
		}
		b.WriteByte(')')
	}
	b.WriteString(") AS v WHERE t.")
	b.WriteString(u.QuotedKey)
	b.WriteString(" = v.column1 AND (")
	for j, q := range u.Quoted {
		if j > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("t." + q + " IS NOT v.column" + strconv.Itoa(j+2))
	}
	for k, q := range u.ConstQuoted {
		b.WriteString(" OR " + sqlconn.ConstChanged("t."+q, u.Const[k], p))
	}
	b.WriteByte(')')
	return b.String()
}

// Classify reads SQLite result codes, and the names in "no such table"
// and "no such column" messages; other messages are not kept.
func (dialect) Classify(err error) (sqlconn.DriverError, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return sqlconn.DriverError{}, false
	}
	code := se.Code()
	d := sqlconn.DriverError{Code: "SQLite " + strconv.Itoa(code)}
	msg := se.Error()
	switch {
	case code == sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		d.Kind = sqlconn.ErrNotNull
		if n := after(msg, "NOT NULL constraint failed: "); n != "" {
			if _, col, ok := strings.Cut(n, "."); ok && lethe.IsIdentifier(col) {
				d.Name = col
			}
		}
	case code&0xff == sqlite3.SQLITE_CONSTRAINT:
		d.Kind = sqlconn.ErrConstraint
	case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
		d.Kind = sqlconn.ErrBusy
	case code&0xff == sqlite3.SQLITE_TOOBIG, code&0xff == sqlite3.SQLITE_MISMATCH:
		d.Kind = sqlconn.ErrBadValue
	case code&0xff == sqlite3.SQLITE_CANTOPEN, code&0xff == sqlite3.SQLITE_IOERR, code&0xff == sqlite3.SQLITE_NOTADB,
		code&0xff == sqlite3.SQLITE_READONLY, code&0xff == sqlite3.SQLITE_PERM, code&0xff == sqlite3.SQLITE_FULL,
		code&0xff == sqlite3.SQLITE_CORRUPT:
		d.Kind = sqlconn.ErrUnavailable
	case strings.Contains(msg, "no such table: "):
		d.Kind = sqlconn.ErrMissingTable
		if n := after(msg, "no such table: "); lethe.IsTableName(n) {
			d.Name = n
		}
	case strings.Contains(msg, "no such column: "):
		d.Kind = sqlconn.ErrMissingColumn
		if n := after(msg, "no such column: "); lethe.IsTableName(n) {
			d.Name = n
		}
	}
	return d, true
}

// after returns the word following prefix in msg, up to a space or the end.
func after(msg, prefix string) string {
	_, rest, ok := strings.Cut(msg, prefix)
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, " ("); i >= 0 {
		rest = rest[:i]
	}
	return rest
}
