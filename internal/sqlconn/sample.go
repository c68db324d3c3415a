package sqlconn

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/lethe-privacy/lethe"
)

// SampleDialect is what a Dialect adds so that the engine can list
// tables and sample them (lethe.Sampler, lethe.TableLister). It is a
// separate interface, asserted at run time, so that a dialect without it
// still builds: Sample then reads the first rows, and Tables is EINVALID.
type SampleDialect interface {
	// Tables lists the base tables as data-map table names (see
	// lethe.TableLister), sorted.
	Tables(ctx context.Context, q Querier) ([]string, error)
	// RowID names an integer key every ordinary table has without
	// declaring it (SQLite's rowid), or "".
	RowID() string
	// BlockSample returns the clause written after the quoted table name
	// to read random pages holding about size rows (PostgreSQL
	// TABLESAMPLE SYSTEM), or "" when the database has no such clause or
	// the table is small enough to read its first rows.
	BlockSample(ctx context.Context, q Querier, quoted string, size int) (string, error)
}

// maxWindows bounds the statements a spread sample runs: each window is
// one index range scan, so the cost stays a few round trips whatever the
// table's size.
const maxWindows = 20

// maxRounds bounds how often windows that came back full are read
// further when keys are sparse.
const maxRounds = 8

// Tables lists the database's base tables (see lethe.TableLister).
func (e *Engine) Tables(ctx context.Context) ([]string, error) {
	sd, ok := e.d.(SampleDialect)
	if !ok {
		return nil, lethe.Errorf(lethe.EINVALID, "listing the tables of a %s database is not supported", e.d.Name())
	}
	sctx, cancel := e.stmtContext(ctx)
	defer cancel()
	names, err := sd.Tables(sctx, e.db)
	if err != nil {
		return nil, e.fail(ctx, "list tables", nil, err)
	}
	return names, nil
}

// Sample reads at most p.Size rows of the collection's table with every
// column (see lethe.Sampler). With an integer key (the declared primary
// key, another unique integer column, or the dialect's RowID) it reads
// windows of rows at evenly spaced points of the key's range, found
// through the key's index; without one it reads random pages where the
// database can (BlockSample), else the first rows. No statement sorts
// or scans the whole table.
func (e *Engine) Sample(ctx context.Context, p lethe.SampleParams, fn func(lethe.Row) error) (lethe.SampleResult, error) {
	c := p.Collection
	if c == nil {
		return lethe.SampleResult{}, lethe.Errorf(lethe.EINVALID, "sample: no collection")
	}
	size := p.Size
	if size <= 0 {
		size = lethe.DefaultSampleSize
	}
	t, err := e.table(ctx, c)
	if err != nil {
		return lethe.SampleResult{}, err
	}
	s := &sampler{e: e, c: c, t: t, fn: fn, size: size}
	s.head = "SELECT " + s.columns() + " FROM " + t.quoted
	sd, _ := e.d.(SampleDialect)
	rowID := ""
	if sd != nil {
		rowID = sd.RowID()
	}
	key := sampleKey(c, t)
	if key == "" {
		key = rowID
	}
	if key != "" {
		res, ok, err := s.spread(ctx, key)
		switch {
		case ok && err == nil:
			return res, nil
		case err != nil && (key != rowID || s.rows > 0):
			return res, err
		}
		// No range to spread over: an empty table, or one without a
		// rowid (SQLite WITHOUT ROWID, where rowid may read as NULL or
		// not exist). Its first rows will do.
	}
	if sd != nil {
		sctx, cancel := e.stmtContext(ctx)
		clause, err := sd.BlockSample(sctx, e.db, t.quoted, size)
		cancel()
		if err != nil {
			return lethe.SampleResult{}, e.fail(ctx, "sample rows", c, err)
		}
		if clause != "" {
			res, ok, err := s.blocks(ctx, clause)
			if err != nil || ok {
				return res, err
			}
		}
	}
	return s.first(ctx)
}

// sampleKey picks the column a spread sample walks: the declared primary
// key when it is an integer, else the first unique integer column.
func sampleKey(c *lethe.Collection, t *Table) string {
	if col, ok := t.Column(c.PrimaryKeyColumn()); ok && col.Kind == lethe.KindInteger && (col.Unique || col.Indexed) {
		return col.Name
	}
	for _, col := range t.Columns {
		if col.Kind == lethe.KindInteger && col.Unique {
			return col.Name
		}
	}
	return ""
}

type sampler struct {
	e    *Engine
	c    *lethe.Collection
	t    *Table
	fn   func(lethe.Row) error
	size int
	head string
	rows int
	// withKey: statements return the spread key after the columns, read
	// into lastKey.
	withKey bool
	lastKey any
}

func (s *sampler) columns() string {
	var b strings.Builder
	for i, col := range s.t.Columns {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s.e.d.QuoteIdent(col.Name))
	}
	return b.String()
}

// read runs one statement and passes its rows to fn (or to keep, when
// set, to decide later).
func (s *sampler) read(ctx context.Context, query string, args []any, keep func(lethe.Row)) (int, error) {
	n := 0
	vals := make([]any, len(s.t.Columns))
	ptrs := make([]any, len(vals), len(vals)+1)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if s.withKey {
		ptrs = append(ptrs, &s.lastKey)
	}
	names := make([]string, len(s.t.Columns))
	for i, col := range s.t.Columns {
		names[i] = col.Name
	}
	row := lethe.Row{Columns: names, Values: make([]any, len(vals))}
	err := s.e.query(ctx, s.e.db, query, args, func(rs *sql.Rows) error {
		for rs.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := rs.Scan(ptrs...); err != nil {
				return err
			}
			for i, col := range s.t.Columns {
				row.Values[i] = Normalise(col.Kind, vals[i])
			}
			n++
			if keep != nil {
				keep(lethe.Row{Columns: names, Values: append([]any(nil), row.Values...)})
				continue
			}
			s.rows++
			if err := s.fn(row); err != nil {
				return callbackError{err}
			}
		}
		return nil
	})
	if err != nil {
		var ce callbackError
		if errors.As(err, &ce) {
			return n, ce.err
		}
		return n, s.e.fail(ctx, "sample rows", s.c, err)
	}
	return n, nil
}

func (s *sampler) first(ctx context.Context) (lethe.SampleResult, error) {
	n, err := s.read(ctx, s.head+" LIMIT "+strconv.Itoa(s.size), nil, nil)
	method := lethe.SampleFirst
	if n < s.size {
		method = lethe.SampleAll
	}
	return lethe.SampleResult{Method: method, Rows: s.rows}, err
}

// spread reads windows of consecutive keys at maxWindows evenly spaced
// points of [min, max]; a key range no wider than the sample is read
// whole. Keys are rarely dense (deleted rows, ids in blocks), so windows
// that came back full are read further, in rounds, until the sample is
// full or no window has more: a few index range scans per round.
func (s *sampler) spread(ctx context.Context, key string) (lethe.SampleResult, bool, error) {
	q := s.e.d.QuoteIdent(key)
	var lo, hi any
	err := s.e.query(ctx, s.e.db, "SELECT min("+q+"), max("+q+") FROM "+s.t.quoted, nil, func(rs *sql.Rows) error {
		if rs.Next() {
			return rs.Scan(&lo, &hi)
		}
		return nil
	})
	if err != nil {
		return lethe.SampleResult{}, false, s.e.fail(ctx, "sample rows", s.c, err)
	}
	minK, ok1 := Coerce(lethe.KindInteger, Normalise(lethe.KindInteger, lo))
	maxK, ok2 := Coerce(lethe.KindInteger, Normalise(lethe.KindInteger, hi))
	if !ok1 || !ok2 || minK == nil || maxK == nil {
		return lethe.SampleResult{}, false, nil
	}
	first, last := minK.(int64), maxK.(int64)
	// Unsigned arithmetic: the span of an int64 range can exceed
	// MaxInt64, and wrapping is what the offsets below need.
	span := uint64(last) - uint64(first)
	if span < uint64(s.size) {
		_, err := s.read(ctx, s.head+" LIMIT "+strconv.Itoa(s.size), nil, nil)
		return lethe.SampleResult{Method: lethe.SampleAll, Rows: s.rows}, true, err
	}
	type window struct {
		from, to int64 // keys from <= k < to; the last window has no end
		open     bool  // the window may hold more rows
	}
	n := min(maxWindows, s.size)
	step := span / uint64(n)
	ws := make([]window, n)
	for i := range ws {
		ws[i] = window{from: first + int64(uint64(i)*step), to: first + int64(uint64(i+1)*step), open: true}
	}
	// Each statement also returns the key, last, so that a window can be
	// read further from where it stopped.
	s.head = "SELECT " + s.columns() + ", " + q + " FROM " + s.t.quoted
	s.withKey = true
	for round := 0; round < maxRounds && s.rows < s.size; round++ {
		open := 0
		for _, w := range ws {
			if w.open {
				open++
			}
		}
		if open == 0 {
			break
		}
		share := (s.size - s.rows + open - 1) / open
		for i := range ws {
			w := &ws[i]
			limit := min(share, s.size-s.rows)
			if !w.open || limit <= 0 {
				continue
			}
			p := &Params{d: s.e.d}
			cond := q + " >= " + p.Add(w.from)
			if i < n-1 {
				cond += " AND " + q + " < " + p.Add(w.to)
			}
			s.lastKey = nil
			got, err := s.read(ctx, s.head+" WHERE "+cond+" ORDER BY "+q+" LIMIT "+strconv.Itoa(limit), p.args, nil)
			if err != nil {
				return lethe.SampleResult{Method: lethe.SampleSpread, Rows: s.rows}, true, err
			}
			k, ok := Coerce(lethe.KindInteger, Normalise(lethe.KindInteger, s.lastKey))
			w.open = got == limit && ok && k != nil && k.(int64) < math.MaxInt64
			if w.open {
				w.from = k.(int64) + 1
			}
		}
	}
	return lethe.SampleResult{Method: lethe.SampleSpread, Rows: s.rows}, true, nil
}

// blocks reads random pages; ok is false when they held too few rows to
// stand for the table (a table of a few pages), and nothing was passed
// to fn.
func (s *sampler) blocks(ctx context.Context, clause string) (lethe.SampleResult, bool, error) {
	var kept []lethe.Row
	_, err := s.read(ctx, s.head+" "+clause+" LIMIT "+strconv.Itoa(s.size), nil, func(r lethe.Row) { kept = append(kept, r) })
	if err != nil {
		return lethe.SampleResult{}, false, err
	}
	if len(kept) < s.size/4 {
		return lethe.SampleResult{}, false, nil
	}
	for _, r := range kept {
		s.rows++
		if err := s.fn(r); err != nil {
			return lethe.SampleResult{Method: lethe.SampleBlocks, Rows: s.rows}, true, err
		}
	}
	return lethe.SampleResult{Method: lethe.SampleBlocks, Rows: s.rows}, true, nil
}
