package sqlconn

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lethe-privacy/lethe"
)

// ScrubSession is implemented by dialects that set up a connection for
// scrubbing (turn off foreign key checks, which a referencing column
// scrubbed in its own range would trip, and cascades, which would mask a
// value twice). It runs before the range's transaction begins; restore
// puts the session back before the connection returns to the pool.
type ScrubSession interface {
	ScrubSession(ctx context.Context, conn *sql.Conn) (restore func(context.Context) error, err error)
}

// ScrubPlan is a lethe.ScrubParams resolved against its table: every
// column found, every constant coerced. Connectors with a faster write
// path than BulkUpdate (PostgreSQL's COPY) build on it.
type ScrubPlan struct {
	C *lethe.Collection
	// Table is the quoted table name.
	Table string
	// Key is the primary key, QuotedKey quoted.
	Key       *Column
	QuotedKey string
	// Dyn are the columns whose masks compute each row's value; Const
	// those written with one value (Value) for every row.
	Dyn   []*ScrubColumn
	Const []*ScrubColumn
	// From and To are the range's bounds coerced to the key's type, nil
	// when unbounded.
	From, To any
	Batch    int
	Progress func(int64)

	e *Engine
}

// ScrubColumn is one masked column of a ScrubPlan.
type ScrubColumn struct {
	Col    *Column
	Quoted string
	Mask   lethe.Mask
	// Value is a constant mask's output, coerced to the column.
	Value any
}

// ScrubPlan resolves p against the table. The primary key cannot be
// masked: ranges and batches are read by it.
func (e *Engine) ScrubPlan(ctx context.Context, p lethe.ScrubParams) (*ScrubPlan, error) {
	c := p.Collection
	if c == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "scrub: no collection")
	}
	t, err := e.table(ctx, c)
	if err != nil {
		return nil, err
	}
	key, err := e.column(c, t, c.PrimaryKeyColumn())
	if err != nil {
		return nil, err
	}
	pl := &ScrubPlan{C: c, Table: t.quoted, Key: key, QuotedKey: e.d.QuoteIdent(key.Name),
		Batch: cmpOr(p.Batch, lethe.ScrubBatch), Progress: p.Progress, e: e}
	for _, b := range []struct {
		v   any
		out *any
	}{{p.Range.From, &pl.From}, {p.Range.To, &pl.To}} {
		if b.v == nil {
			continue
		}
		cv, ok := Coerce(key.Kind, b.v)
		if !ok || cv == nil {
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: a range bound is not of the primary key's type (%s)", collName(c), key.Type)
		}
		*b.out = cv
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range p.Masks {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		m := p.Masks[n]
		col, err := e.column(c, t, n)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: column %s has no mask", collName(c), n)
		}
		if col == key {
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: the primary key %s cannot be scrubbed in place; the rows are read by it", collName(c), n)
		}
		sc := &ScrubColumn{Col: col, Quoted: e.d.QuoteIdent(col.Name), Mask: m}
		if v, ok := m.Constant(); ok {
			if sc.Value, err = e.fit(c, col, v); err != nil {
				return nil, err
			}
			pl.Const = append(pl.Const, sc)
		} else {
			pl.Dyn = append(pl.Dyn, sc)
		}
	}
	if len(pl.Dyn)+len(pl.Const) == 0 {
		return nil, lethe.Errorf(lethe.EINVALID, "collection %s: nothing to scrub", collName(c))
	}
	return pl, nil
}

func cmpOr(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// RangeWhere writes the range predicate on the key ("TRUE" when the range
// is unbounded), qualifying the key with prefix ("t." or "").
func (pl *ScrubPlan) RangeWhere(prefix string, p *Params) string {
	var parts []string
	if pl.From != nil {
		parts = append(parts, prefix+pl.QuotedKey+" >= "+p.Add(pl.From))
	}
	if pl.To != nil {
		parts = append(parts, prefix+pl.QuotedKey+" < "+p.Add(pl.To))
	}
	if len(parts) == 0 {
		return "1=1"
	}
	return strings.Join(parts, " AND ")
}

// Params returns an empty parameter list for the engine's dialect.
func (pl *ScrubPlan) Params() *Params { return &Params{d: pl.e.d} }

// Args returns the parameters added so far.
func (p *Params) Args() []any { return p.args }

// Fail translates a driver error met while scrubbing (see Engine.fail).
func (pl *ScrubPlan) Fail(ctx context.Context, op string, err error) error {
	return pl.e.fail(ctx, op, pl.C, err)
}

// ConstSets writes ", col = constant" for each constant column, the
// column qualified with prefix.
func (pl *ScrubPlan) ConstSets(prefix string, p *Params) string {
	var b strings.Builder
	for _, sc := range pl.Const {
		b.WriteString(", " + sc.Quoted + " = " + ConstSet(prefix+sc.Quoted, sc.Value, p))
	}
	return b.String()
}

// Masker applies a plan's computed masks, caching each distinct value's
// output for the columns that repeat values (a unique column never hits
// its cache, so it keeps none). It is not safe for concurrent use: each
// range has its own.
type Masker struct {
	pl     *ScrubPlan
	caches []map[string]any
	key    []byte
}

// maskCacheMax bounds one column's cache; it is cleared when full.
const maskCacheMax = 1 << 16

// NewMasker returns a Masker for the plan's computed columns.
func (pl *ScrubPlan) NewMasker() *Masker {
	m := &Masker{pl: pl, caches: make([]map[string]any, len(pl.Dyn))}
	for j, sc := range pl.Dyn {
		if !sc.Col.Unique {
			m.caches[j] = map[string]any{}
		}
	}
	return m
}

// Mask returns the value column j of Dyn takes in place of in (a value
// as Normalise returns it), coerced to the column.
func (m *Masker) Mask(j int, in any) (any, error) {
	if in == nil {
		return nil, nil
	}
	cache := m.caches[j]
	if cache != nil {
		m.key = appendKey(m.key[:0], in)
		if v, ok := cache[string(m.key)]; ok {
			return v, nil
		}
	}
	sc := m.pl.Dyn[j]
	out, err := sc.Mask.Apply(in)
	if err != nil {
		return nil, fmt.Errorf("collection %s: mask of column %s: %w", collName(m.pl.C), sc.Col.Name, err)
	}
	v, err := m.pl.e.fit(m.pl.C, sc.Col, out)
	if err != nil {
		return nil, err
	}
	if cache != nil {
		if len(cache) >= maskCacheMax {
			clear(cache)
		}
		cache[string(m.key)] = v
	}
	return v, nil
}

// ScrubSplit counts the rows and splits the primary key into at most n
// ranges: integer keys by arithmetic on their minimum and maximum, other
// keys at the values found at even offsets in key order.
func (e *Engine) ScrubSplit(ctx context.Context, c *lethe.Collection, n int) (int64, []lethe.KeyRange, error) {
	if c == nil {
		return 0, nil, lethe.Errorf(lethe.EINVALID, "scrub: no collection")
	}
	t, err := e.table(ctx, c)
	if err != nil {
		return 0, nil, err
	}
	key, err := e.column(c, t, c.PrimaryKeyColumn())
	if err != nil {
		return 0, nil, err
	}
	qk := e.d.QuoteIdent(key.Name)
	var rows int64
	err = e.query(ctx, e.db, "SELECT COUNT(*) FROM "+t.quoted, nil, func(rs *sql.Rows) error {
		for rs.Next() {
			if err := rs.Scan(&rows); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, e.fail(ctx, "count rows", c, err)
	}
	if n <= 1 || rows < int64(n)*2 {
		return rows, []lethe.KeyRange{{}}, nil
	}
	var bounds []any
	if key.Kind == lethe.KindInteger {
		var lo, hi sql.NullInt64
		err = e.query(ctx, e.db, "SELECT MIN("+qk+"), MAX("+qk+") FROM "+t.quoted, nil, func(rs *sql.Rows) error {
			for rs.Next() {
				if err := rs.Scan(&lo, &hi); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, nil, e.fail(ctx, "read the key range", c, err)
		}
		span := uint64(hi.Int64 - lo.Int64) // wraps correctly for any int64 pair
		for i := 1; i < n; i++ {
			b := lo.Int64 + int64(span/uint64(n)*uint64(i))
			if len(bounds) == 0 || b > bounds[len(bounds)-1].(int64) {
				bounds = append(bounds, b)
			}
		}
	} else {
		for i := 1; i < n; i++ {
			p := &Params{d: e.d}
			q := "SELECT " + qk + " FROM " + t.quoted + " ORDER BY " + qk + " LIMIT 1 OFFSET " + strconv.FormatInt(rows*int64(i)/int64(n), 10)
			err = e.query(ctx, e.db, q, p.args, func(rs *sql.Rows) error {
				for rs.Next() {
					var v any
					if err := rs.Scan(&v); err != nil {
						return err
					}
					bounds = append(bounds, Normalise(key.Kind, v))
				}
				return nil
			})
			if err != nil {
				return 0, nil, e.fail(ctx, "split the key range", c, err)
			}
		}
	}
	ranges := make([]lethe.KeyRange, 0, len(bounds)+1)
	var from any
	for _, b := range bounds {
		ranges = append(ranges, lethe.KeyRange{From: from, To: b})
		from = b
	}
	return rows, append(ranges, lethe.KeyRange{From: from}), nil
}

// ScrubRange rewrites the range with keyset pages read in key order and
// written by one BulkUpdate each (at most MaxParams parameters), all in
// one transaction on one connection (set up by the dialect's
// ScrubSession). Constant masks alone need no reading: one UPDATE writes
// the range.
func (e *Engine) ScrubRange(ctx context.Context, p lethe.ScrubParams) (int64, error) {
	pl, err := e.ScrubPlan(ctx, p)
	if err != nil {
		return 0, err
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return 0, pl.Fail(ctx, "connect", err)
	}
	defer conn.Close()
	if s, ok := e.d.(ScrubSession); ok {
		restore, err := s.ScrubSession(ctx, conn)
		if err != nil {
			return 0, pl.Fail(ctx, "set up the session", err)
		}
		defer restore(context.WithoutCancel(ctx)) //nolint:errcheck // the connection is closed below on error anyway
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, pl.Fail(ctx, "begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var n int64
	if len(pl.Dyn) == 0 {
		n, err = e.scrubConstant(ctx, tx, pl)
	} else {
		n, err = e.scrubPages(ctx, tx, pl)
	}
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, pl.Fail(ctx, "commit", err)
	}
	return n, nil
}

func (e *Engine) scrubConstant(ctx context.Context, tx *sql.Tx, pl *ScrubPlan) (int64, error) {
	p := &Params{d: e.d}
	var n int64
	err := e.query(ctx, tx, "SELECT COUNT(*) FROM "+pl.Table+" WHERE "+pl.RangeWhere("", p), p.args, func(rs *sql.Rows) error {
		for rs.Next() {
			if err := rs.Scan(&n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, pl.Fail(ctx, "count rows", err)
	}
	p = &Params{d: e.d}
	sets := strings.TrimPrefix(pl.ConstSets("", p), ", ")
	if _, err := e.exec(ctx, tx, "UPDATE "+pl.Table+" SET "+sets+" WHERE "+pl.RangeWhere("", p), p.args); err != nil {
		return 0, pl.Fail(ctx, "scrub rows", err)
	}
	if pl.Progress != nil {
		pl.Progress(n)
	}
	return n, nil
}

func (e *Engine) scrubPages(ctx context.Context, tx *sql.Tx, pl *ScrubPlan) (int64, error) {
	width := 1 + len(pl.Dyn)
	page := pl.Batch
	if room := (e.d.MaxParams() - 2*len(pl.Const)) / width; room < page {
		page = max(1, room)
	}
	page = min(page, lethe.MaxBatch) // the UNION ALL and VALUES lists grow with the page
	var head strings.Builder
	head.WriteString("SELECT " + pl.QuotedKey)
	for _, sc := range pl.Dyn {
		head.WriteString("," + sc.Quoted)
	}
	head.WriteString(" FROM " + pl.Table + " WHERE ")
	u := &BulkUpdate{Table: pl.Table, Key: pl.Key, QuotedKey: pl.QuotedKey}
	for _, sc := range pl.Dyn {
		u.Set = append(u.Set, sc.Col)
		u.Quoted = append(u.Quoted, sc.Quoted)
	}
	for _, sc := range pl.Const {
		u.ConstCols = append(u.ConstCols, sc.Col)
		u.ConstQuoted = append(u.ConstQuoted, sc.Quoted)
		u.Const = append(u.Const, sc.Value)
	}
	m := pl.NewMasker()
	scan := make([]any, width)
	ptrs := make([]any, width)
	for i := range scan {
		ptrs[i] = &scan[i]
	}
	var (
		last  any
		total int64
	)
	for {
		p := &Params{d: e.d}
		var b strings.Builder
		b.WriteString(head.String())
		b.WriteString(pl.RangeWhere("", p))
		if last != nil {
			b.WriteString(" AND " + pl.QuotedKey + " > " + p.Add(last))
		}
		b.WriteString(" ORDER BY " + pl.QuotedKey + " LIMIT " + strconv.Itoa(page))
		u.Rows = u.Rows[:0]
		err := e.query(ctx, tx, b.String(), p.args, func(rows *sql.Rows) error {
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					return err
				}
				out := make([]any, width)
				out[0] = Normalise(pl.Key.Kind, scan[0])
				last = out[0]
				for j, sc := range pl.Dyn {
					v, err := m.Mask(j, Normalise(sc.Col.Kind, scan[1+j]))
					if err != nil {
						return err
					}
					out[1+j] = v
				}
				u.Rows = append(u.Rows, out)
			}
			return nil
		})
		if err != nil {
			return 0, pl.Fail(ctx, "read rows to scrub", err)
		}
		read := len(u.Rows)
		if read == 0 {
			break
		}
		p = &Params{d: e.d}
		if _, err := e.exec(ctx, tx, e.d.BulkUpdate(u, p), p.args); err != nil {
			return 0, pl.Fail(ctx, "scrub rows", err)
		}
		total += int64(read)
		if pl.Progress != nil {
			pl.Progress(int64(read))
		}
		if read < page {
			break
		}
	}
	return total, nil
}

// QuotedTable returns the collection's table name quoted for statements,
// describing the table if it was not yet; EINVALID when it is missing.
func (e *Engine) QuotedTable(ctx context.Context, c *lethe.Collection) (string, error) {
	t, err := e.table(ctx, c)
	if err != nil {
		return "", err
	}
	return t.quoted, nil
}

// Exec runs one statement outside any transaction, with no statement
// timeout beyond ctx (compaction rewrites whole tables), and translates
// its error for the collection.
func (e *Engine) Exec(ctx context.Context, c *lethe.Collection, op, query string) error {
	if _, err := e.db.ExecContext(ctx, query); err != nil {
		return e.fail(ctx, op, c, err)
	}
	return nil
}

// Fail translates a driver error for the collection (see the statements
// above): connectors' own scrub and compaction code reports through it.
func (e *Engine) Fail(ctx context.Context, op string, c *lethe.Collection, err error) error {
	return e.fail(ctx, op, c, err)
}
