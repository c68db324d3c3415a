package sqlconn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lethe-privacy/lethe"
)

// Engine implements lethe.Connector over a *sql.DB for one Dialect. It is
// safe for concurrent use.
type Engine struct {
	db      *sql.DB
	d       Dialect
	timeout time.Duration

	mu sync.RWMutex
	// tables caches Describe by data-map table name, so that Find and
	// Erase know each column's type without asking again. Describe
	// refreshes it; a statement that finds a table or column missing
	// drops the table's entry.
	tables map[string]*Table
}

// New returns an engine over db. timeout bounds each statement (with the
// reading of its rows); zero means no bound beyond the caller's context.
func New(db *sql.DB, d Dialect, timeout time.Duration) *Engine {
	return &Engine{db: db, d: d, timeout: timeout, tables: map[string]*Table{}}
}

// DB returns the handle the engine uses.
func (e *Engine) DB() *sql.DB { return e.db }

// Close closes the handle.
func (e *Engine) Close() error { return e.db.Close() }

// Describe introspects each collection's table afresh (refreshing the
// cache Find and Erase use). A missing table is reported with Exists
// false.
func (e *Engine) Describe(ctx context.Context, collections []*lethe.Collection) ([]lethe.TableSchema, error) {
	out := make([]lethe.TableSchema, len(collections))
	for i, c := range collections {
		if c == nil {
			return nil, lethe.Errorf(lethe.EINVALID, "describe: collection %d is nil", i)
		}
		t, err := e.describe(ctx, c)
		if err != nil {
			return nil, err
		}
		out[i] = lethe.TableSchema{Collection: c, Exists: t != nil}
		if t != nil {
			out[i].Columns = make([]lethe.ColumnSchema, len(t.Columns))
			for j, col := range t.Columns {
				out[i].Columns[j] = col.ColumnSchema
			}
		}
	}
	return out, nil
}

// describe introspects c's table and caches it; nil when it is missing.
func (e *Engine) describe(ctx context.Context, c *lethe.Collection) (*Table, error) {
	name := c.TableName()
	if !lethe.IsTableName(name) {
		return nil, lethe.Errorf(lethe.EINVALID, "collection %s: %q is not a table name (identifier or schema.identifier)", collName(c), name)
	}
	schema, table, err := e.d.SplitTable(name)
	if err != nil {
		return nil, fmt.Errorf("collection %s: %w", collName(c), err)
	}
	sctx, cancel := e.stmtContext(ctx)
	defer cancel()
	t, err := e.d.Describe(sctx, e.db, schema, table)
	if err != nil {
		return nil, e.fail(ctx, "describe table "+name, c, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t == nil {
		delete(e.tables, name)
		return nil, nil
	}
	t.quoted = e.d.QuoteIdent(t.Name)
	if schema != "" {
		t.quoted = e.d.QuoteIdent(schema) + "." + t.quoted
	}
	e.tables[name] = t
	return t, nil
}

// table returns c's table from the cache, describing it on a miss. A
// missing table is EINVALID.
func (e *Engine) table(ctx context.Context, c *lethe.Collection) (*Table, error) {
	e.mu.RLock()
	t := e.tables[c.TableName()]
	e.mu.RUnlock()
	if t != nil {
		return t, nil
	}
	t, err := e.describe(ctx, c)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "collection %s: table %s does not exist in the %s database", collName(c), c.TableName(), e.d.Name())
	}
	return t, nil
}

func (e *Engine) forget(c *lethe.Collection) {
	e.mu.Lock()
	delete(e.tables, c.TableName())
	e.mu.Unlock()
}

func (e *Engine) column(c *lethe.Collection, t *Table, name string) (*Column, error) {
	col, ok := t.Column(name)
	if !ok {
		return nil, lethe.Errorf(lethe.EINVALID, "collection %s: table %s has no column %s", collName(c), c.TableName(), name)
	}
	return col, nil
}

// cond is one column's share of the matches: the values, coerced to the
// column's type and deduplicated, that select rows through it.
type cond struct {
	col    *Column
	quoted string
	vals   []any
	// fold compares lower(column) with lower-case values.
	fold bool
}

// conditions merges the matches by column and coerces their values,
// dropping those that cannot be of the column's type: they select nothing.
func (e *Engine) conditions(c *lethe.Collection, t *Table, matches []lethe.Match) ([]cond, error) {
	var conds []cond
	byColumn := map[string]int{}
	seen := map[string]struct{}{}
	var key []byte
	for _, m := range matches {
		col, err := e.column(c, t, m.Column)
		if err != nil {
			return nil, err
		}
		fold := m.FoldCase && col.Kind == lethe.KindText
		ckey := col.Name
		if fold {
			ckey += "\x00fold"
		}
		i, ok := byColumn[ckey]
		if !ok {
			i = len(conds)
			byColumn[ckey] = i
			conds = append(conds, cond{col: col, quoted: e.d.QuoteIdent(col.Name), fold: fold})
		}
		for _, v := range m.Values {
			if fold {
				text, isText := v.(string)
				if !isText {
					continue
				}
				v = strings.ToLower(text)
			}
			cv, ok := Coerce(col.Kind, v)
			if !ok || cv == nil { // NULL is never IN a list
				continue
			}
			if cv, ok = e.d.Fit(col, cv); !ok {
				continue
			}
			key = appendKey(append(key[:0], ckey...), cv)
			if _, dup := seen[string(key)]; dup {
				continue
			}
			seen[string(key)] = struct{}{}
			conds[i].vals = append(conds[i].vals, cv)
		}
	}
	kept := conds[:0]
	for _, cd := range conds {
		if len(cd.vals) > 0 {
			kept = append(kept, cd)
		}
	}
	return kept, nil
}

// pack splits the conditions into statements of at most limit values in
// all, ORed within a statement.
func pack(conds []cond, limit int) [][]cond {
	var out [][]cond
	var cur []cond
	n := 0
	for _, cd := range conds {
		vals := cd.vals
		for len(vals) > 0 {
			take := min(len(vals), limit-n)
			cur = append(cur, cond{col: cd.col, quoted: cd.quoted, vals: vals[:take], fold: cd.fold})
			vals = vals[take:]
			n += take
			if n == limit {
				out = append(out, cur)
				cur, n = nil, 0
			}
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// where writes "(a IN (..) OR b IN (..))".
func (e *Engine) where(b *strings.Builder, chunk []cond, p *Params) {
	b.WriteByte('(')
	for i, cd := range chunk {
		if i > 0 {
			b.WriteString(" OR ")
		}
		if cd.fold {
			b.WriteString(e.d.MatchFold(cd.col, cd.quoted, cd.vals, p))
			continue
		}
		b.WriteString(e.d.Match(cd.col, cd.quoted, cd.vals, p))
	}
	b.WriteByte(')')
}

// Find streams the rows any match selects, each once. When every value fits
// one statement (at most lethe.MaxBatch values in all), the matches are
// ORed in that statement and the database returns each row once (as fast
// as a UNION of one SELECT per match on PostgreSQL and SQLite, several
// times faster on MariaDB: see connectortest.BenchFind); when they need
// several statements over more than one column, rows
// already passed to fn are skipped by primary key (by value for
// Distinct), which keeps a set of those keys for the length of the call.
func (e *Engine) Find(ctx context.Context, p lethe.FindParams, fn func(lethe.Row) error) error {
	c := p.Collection
	if c == nil {
		return lethe.Errorf(lethe.EINVALID, "find: no collection")
	}
	t, err := e.table(ctx, c)
	if err != nil {
		return err
	}
	var sel []*Column
	names := p.Columns
	if len(p.Columns) == 0 {
		names = make([]string, len(t.Columns))
		for i := range t.Columns {
			sel = append(sel, &t.Columns[i])
			names[i] = t.Columns[i].Name
		}
	} else {
		for _, n := range p.Columns {
			col, err := e.column(c, t, n)
			if err != nil {
				return err
			}
			sel = append(sel, col)
		}
	}
	conds, err := e.conditions(c, t, p.Matches)
	if err != nil || len(conds) == 0 {
		return err
	}
	chunks := pack(conds, lethe.MaxBatch)

	// Rows can repeat across statements only when they match through
	// different columns: one column's values are distinct, so its batches
	// select disjoint rows. Distinct combinations can repeat across any
	// two statements.
	dedupe := len(chunks) > 1 && (len(conds) > 1 || p.Distinct)
	scan := sel
	var keyIdx []int
	if dedupe {
		if p.Distinct {
			for i := range sel {
				keyIdx = append(keyIdx, i)
			}
		} else {
			pk, err := e.column(c, t, c.PrimaryKeyColumn())
			if err != nil {
				return err
			}
			i := indexOf(sel, pk)
			if i < 0 {
				scan = append(scan[:len(scan):len(scan)], pk)
				i = len(scan) - 1
			}
			keyIdx = []int{i}
		}
	}

	var q strings.Builder
	q.WriteString("SELECT ")
	if p.Distinct {
		q.WriteString("DISTINCT ")
	}
	for i, col := range scan {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(e.d.QuoteIdent(col.Name))
	}
	q.WriteString(" FROM ")
	q.WriteString(t.quoted)
	q.WriteString(" WHERE ")
	head := q.String()

	vals := make([]any, len(scan))
	ptrs := make([]any, len(scan))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	row := lethe.Row{Columns: names, Values: make([]any, len(sel))}
	seen := map[string]struct{}{}
	var key []byte
	for _, chunk := range chunks {
		var b strings.Builder
		b.WriteString(head)
		params := &Params{d: e.d}
		e.where(&b, chunk, params)
		err := e.query(ctx, e.db, b.String(), params.args, func(rows *sql.Rows) error {
			for rows.Next() {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := rows.Scan(ptrs...); err != nil {
					return err
				}
				for i, col := range scan {
					vals[i] = Normalise(col.Kind, vals[i])
				}
				if dedupe {
					key = key[:0]
					for _, i := range keyIdx {
						key = appendKey(key, vals[i])
					}
					if _, dup := seen[string(key)]; dup {
						continue
					}
					seen[string(key)] = struct{}{}
				}
				copy(row.Values, vals)
				if err := fn(row); err != nil {
					return callbackError{err}
				}
			}
			return nil
		})
		if err != nil {
			var ce callbackError
			if errors.As(err, &ce) {
				return ce.err
			}
			return e.fail(ctx, "find rows", c, err)
		}
	}
	return nil
}

// callbackError carries fn's error through the engine untranslated.
type callbackError struct{ err error }

func (c callbackError) Error() string { return c.err.Error() }

func indexOf(cols []*Column, col *Column) int {
	for i, c := range cols {
		if c == col {
			return i
		}
	}
	return -1
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// query runs one statement under the statement timeout and hands its rows
// to each.
func (e *Engine) query(ctx context.Context, q querier, query string, args []any, each func(*sql.Rows) error) error {
	sctx, cancel := e.stmtContext(ctx)
	defer cancel()
	rows, err := q.QueryContext(sctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := each(rows); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// exec runs one statement under the statement timeout and returns the
// rows it affected.
func (e *Engine) exec(ctx context.Context, q querier, query string, args []any) (int64, error) {
	sctx, cancel := e.stmtContext(ctx)
	defer cancel()
	res, err := q.ExecContext(sctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (e *Engine) stmtContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, e.timeout)
}

func collName(c *lethe.Collection) string {
	if c == nil {
		return ""
	}
	if c.Datastore == "" {
		return c.Name
	}
	return c.Path()
}

// DefaultTimeout bounds one statement when the datastore sets no timeout.
const DefaultTimeout = 30 * time.Second

// Timeout turns a datastore's timeout into a time.Duration:
// DefaultTimeout when unset.
func Timeout(d lethe.Duration) time.Duration {
	if d.IsZero() {
		return DefaultTimeout
	}
	now := time.Now()
	return d.AddTo(now).Sub(now)
}
