package sqlconn

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
)

// Dialect is what differs between the SQL databases the engine speaks to.
// Each connector/<driver> package implements it next to its driver, so
// this package imports none.
type Dialect interface {
	// Name is the database's name for messages ("PostgreSQL").
	Name() string
	// QuoteIdent quotes one identifier.
	QuoteIdent(name string) string
	// SplitTable splits a data-map table name into schema (empty when
	// unqualified) and table, or returns EINVALID when the database has
	// no schemas to qualify it with.
	SplitTable(name string) (schema, table string, err error)
	// Placeholder returns the n-th (1-based) parameter marker.
	Placeholder(n int) string
	// MaxParams is the most parameters one statement may carry.
	MaxParams() int
	// Describe introspects one table through q, returning nil when it
	// does not exist. Column names are as the database spells them.
	Describe(ctx context.Context, q Querier, schema, table string) (*Table, error)
	// Fit checks a value already coerced to the column's kind against what
	// the database accepts (PostgreSQL text holds no NUL byte), reporting
	// false when it cannot be stored or compared.
	Fit(col *Column, v any) (any, bool)
	// Match writes the predicate "the column holds one of vals" (see In),
	// comparing exactly: a case- or accent-insensitive collation must not
	// let one person's identity select another's rows.
	Match(col *Column, quoted string, vals []any, p *Params) string
	// MatchFold writes "the text column, lower-cased, holds one of vals"
	// (vals are lower-case), comparing the lower-cased bytes exactly:
	// case is ignored, accents are not.
	MatchFold(col *Column, quoted string, vals []any, p *Params) string
	// Changed returns a predicate true when the stored column a differs
	// from the new value b (NULLs compared as values), or "" when the
	// database itself counts only rows whose values changed (MySQL).
	Changed(a, b string) string
	// Before returns the predicate "column holds a time before t" with its
	// parameters bound through p, or EINVALID when the column cannot hold
	// a time.
	Before(col *Column, quoted string, t time.Time, p *Params) (string, error)
	// BulkUpdate writes the statement that sets each row's columns to
	// its own new values in one statement.
	BulkUpdate(u *BulkUpdate, p *Params) string
	// Classify reads a driver error. ok is false for errors the driver
	// did not raise.
	Classify(err error) (d DriverError, ok bool)
}

// Querier is what Describe reads through: a *sql.DB or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Table is one table as the database describes it.
type Table struct {
	// Name is the table as the database spells it (for messages).
	Name    string
	Columns []Column

	quoted string
}

// Column is one column of a Table.
type Column struct {
	lethe.ColumnSchema
	// Cast is the type a parameter is cast to in a bulk update, without
	// a length (PostgreSQL; a varchar(n) cast would truncate silently).
	Cast string
}

// Column returns the column named name: the exact spelling first, then one
// differing only in case (an unquoted identifier in the data map).
func (t *Table) Column(name string) (*Column, bool) {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i], true
		}
	}
	var found *Column
	for i := range t.Columns {
		if equalFold(t.Columns[i].Name, name) {
			if found != nil {
				return nil, false // ambiguous: "Email" and "email" both exist
			}
			found = &t.Columns[i]
		}
	}
	return found, found != nil
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Params collects a statement's parameters in the order their markers
// are written.
type Params struct {
	d    Dialect
	args []any
}

// Add appends v and returns its marker.
func (p *Params) Add(v any) string {
	p.args = append(p.args, v)
	return p.d.Placeholder(len(p.args))
}

// Len is the number of parameters added so far.
func (p *Params) Len() int { return len(p.args) }

// In writes "expr IN (markers)" for vals.
func In(expr string, vals []any, p *Params) string {
	var b strings.Builder
	b.WriteString(expr)
	b.WriteString(" IN (")
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.Add(v))
	}
	b.WriteByte(')')
	return b.String()
}

// BulkUpdate describes one statement that gives each row its own new
// values: for row i, Set[j] takes Rows[i][1+j] where the primary key
// equals Rows[i][0]; every row also gets Const[k] in ConstCols[k].
type BulkUpdate struct {
	// Table is the quoted table name.
	Table string
	// Key is the primary key column (QuotedKey quoted).
	Key       *Column
	QuotedKey string
	// Set are the columns that take per-row values (Quoted[j] quoted).
	Set    []*Column
	Quoted []string
	// Rows hold the key, then one value per Set column.
	Rows [][]any
	// ConstCols take one value for every row (ConstQuoted quoted).
	ConstCols   []*Column
	ConstQuoted []string
	Const       []any
}

// DriverError is what Classify makes of a driver error.
type DriverError struct {
	Kind ErrorKind
	// Code is the driver's code (SQLSTATE, MySQL error number, SQLite
	// result code name), shown instead of the driver's message, which may
	// quote the values involved.
	Code string
	// Name is the table, column or constraint the error names, when the
	// driver says which.
	Name string
}

// ErrorKind classifies driver errors.
type ErrorKind int

// Error kinds.
const (
	ErrOther         ErrorKind = iota
	ErrUnavailable             // the server cannot be reached or refused the connection
	ErrBusy                    // a lock, deadlock or serialisation failure: try again
	ErrMissingTable            // the table does not exist
	ErrMissingColumn           // the column does not exist
	ErrNotNull                 // NULL written to a NOT NULL column
	ErrBadValue                // a value does not fit the column (too long, wrong syntax)
	ErrConstraint              // a foreign key, unique or check constraint refused the change
)
