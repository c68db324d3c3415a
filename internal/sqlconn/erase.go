package sqlconn

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lethe-privacy/lethe"
)

// erasePlan is one step checked against the table before the transaction
// starts: every column resolved, every value coerced, every constant mask
// output checked.
type erasePlan struct {
	step   lethe.EraseStep
	c      *lethe.Collection
	t      *Table
	chunks [][]cond
	key    *Column
	// before is the cutoff column, nil without a cutoff.
	before *Column
	// dyn are the masks that compute each row's value; consts those that
	// write one value (already coerced) to every row.
	dyn    []*maskedColumn
	consts []*maskedColumn
}

type maskedColumn struct {
	col   *Column
	mask  lethe.Mask
	value any // the constant, coerced
}

// Erase applies the steps in order in one transaction: all or none.
//
// A delete step deletes the rows the matches select (older than the
// cutoff, when there is one) in IN batches. An anonymise step rewrites the
// masked columns: masks that are constant are written by one set-based
// UPDATE per batch without reading the rows; other masks read each batch's
// primary keys and values (in pages of at most lethe.MaxBatch rows, in key
// order), compute each distinct value's output once per page, and write
// the page with one bulk UPDATE. Each row is masked once per step, however
// many matches select it.
//
// A NULL stays NULL under every mask, constant ones included, as
// lethe.Mask's Apply(nil) returns nil: there is nothing to hide.
//
// Rows counts the rows the step changed: rows deleted, or rows at least
// one of whose masked columns took a new value. Running the same Erase
// again therefore counts zero for deleted rows, and zero for anonymised
// rows whose masks give back what is already stored (a row whose masked
// columns are all null, or a mask that leaves its own outputs as they
// are). A mask that rewrites its own output (hmac of an hmac) changes,
// and counts, the rows again when a match still selects them.
func (e *Engine) Erase(ctx context.Context, steps []lethe.EraseStep) ([]lethe.EraseStepResult, error) {
	plans := make([]*erasePlan, len(steps))
	work := false
	for i, s := range steps {
		pl, err := e.plan(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("erase step %d: %w", i+1, err)
		}
		plans[i] = pl
		work = work || len(pl.chunks) > 0
	}
	results := make([]lethe.EraseStepResult, len(steps))
	if !work {
		return results, nil
	}
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, e.fail(ctx, "begin erase transaction", nil, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for i, pl := range plans {
		if pl.step.Await != nil && pl.step.Await(ctx) != nil {
			for j := i; j < len(plans); j++ {
				results[j].Skipped = true
			}
			break
		}
		n, err := e.apply(ctx, tx, pl)
		if err != nil {
			return nil, fmt.Errorf("erase step %d: %w", i+1, err)
		}
		results[i].Rows = n
	}
	if err := tx.Commit(); err != nil {
		return nil, e.fail(ctx, "commit erase transaction", nil, err)
	}
	return results, nil
}

func (e *Engine) plan(ctx context.Context, s lethe.EraseStep) (*erasePlan, error) {
	c := s.Collection
	if c == nil {
		return nil, lethe.Errorf(lethe.EINVALID, "no collection")
	}
	if s.Action != lethe.EraseDelete && s.Action != lethe.EraseAnonymise {
		return nil, lethe.Errorf(lethe.EINVALID, "collection %s: erase action %q is neither delete nor anonymise", collName(c), s.Action)
	}
	t, err := e.table(ctx, c)
	if err != nil {
		return nil, err
	}
	pl := &erasePlan{step: s, c: c, t: t}
	conds, err := e.conditions(c, t, s.Matches)
	if err != nil {
		return nil, err
	}
	pl.chunks = pack(conds, lethe.MaxBatch)
	if s.Before != nil {
		if pl.before, err = e.column(c, t, s.Before.Column); err != nil {
			return nil, err
		}
		if _, err := e.d.Before(pl.before, "", s.Before.Time, &Params{d: e.d}); err != nil {
			return nil, fmt.Errorf("collection %s: %w", collName(c), err)
		}
	}
	if s.Action == lethe.EraseDelete {
		return pl, nil
	}
	if len(s.Masks) == 0 {
		return nil, lethe.Errorf(lethe.EINVALID, "collection %s: anonymise needs at least one masked column", collName(c))
	}
	// The primary key is needed to write computed masks row by row; a
	// step with constant masks only does without.
	key, keyErr := e.column(c, t, c.PrimaryKeyColumn())
	pl.key = key
	names := make([]string, 0, len(s.Masks))
	for n := range s.Masks {
		names = append(names, n)
	}
	slices.Sort(names) // statements read the same every time
	for _, n := range names {
		m := s.Masks[n]
		col, err := e.column(c, t, n)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: column %s has no mask", collName(c), n)
		}
		if key != nil && col == key {
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: the primary key %s cannot be masked; anonymising keeps the row and its key", collName(c), n)
		}
		mc := &maskedColumn{col: col, mask: m}
		if v, ok := m.Constant(); ok {
			if mc.value, err = e.fit(c, col, v); err != nil {
				return nil, err
			}
			pl.consts = append(pl.consts, mc)
		} else {
			pl.dyn = append(pl.dyn, mc)
		}
	}
	if len(pl.dyn) > 0 && keyErr != nil {
		return nil, keyErr
	}
	return pl, nil
}

// fit coerces a mask's output to its column, or says why it cannot be
// written there (without the value).
func (e *Engine) fit(c *lethe.Collection, col *Column, v any) (any, error) {
	if v == nil {
		if !col.Nullable {
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: column %s is NOT NULL and its mask writes null; choose a mask that writes a value", collName(c), col.Name)
		}
		return nil, nil
	}
	cv, ok := Coerce(col.Kind, v)
	if ok {
		cv, ok = e.d.Fit(col, cv)
	}
	if !ok {
		return nil, lethe.Errorf(lethe.EINVALID, "collection %s: the mask of column %s gives a value that is not of its type (%s)", collName(c), col.Name, col.Type)
	}
	if s, isText := cv.(string); isText && col.MaxLength > 0 && utf8.RuneCountInString(s) > col.MaxLength {
		return nil, lethe.Errorf(lethe.EINVALID, "collection %s: the mask of column %s gives a value longer than its %d characters", collName(c), col.Name, col.MaxLength)
	}
	return cv, nil
}

func (e *Engine) apply(ctx context.Context, tx *sql.Tx, pl *erasePlan) (int64, error) {
	var n int64
	var seen map[string]struct{}
	if len(pl.chunks) > 1 {
		seen = map[string]struct{}{}
	}
	for _, chunk := range pl.chunks {
		var m int64
		var err error
		switch {
		case pl.step.Action == lethe.EraseDelete:
			m, err = e.delete(ctx, tx, pl, chunk)
		case len(pl.dyn) == 0:
			m, err = e.anonymiseConstant(ctx, tx, pl, chunk)
		default:
			m, err = e.anonymise(ctx, tx, pl, chunk, seen)
		}
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

func (e *Engine) filter(b *strings.Builder, pl *erasePlan, chunk []cond, p *Params) {
	e.where(b, chunk, p)
	if pl.before != nil {
		pred, _ := e.d.Before(pl.before, e.d.QuoteIdent(pl.before.Name), pl.step.Before.Time, p) // checked in plan
		b.WriteString(" AND ")
		b.WriteString(pred)
	}
}

func (e *Engine) delete(ctx context.Context, tx *sql.Tx, pl *erasePlan, chunk []cond) (int64, error) {
	var b strings.Builder
	p := &Params{d: e.d}
	b.WriteString("DELETE FROM ")
	b.WriteString(pl.t.quoted)
	b.WriteString(" WHERE ")
	e.filter(&b, pl, chunk, p)
	n, err := e.exec(ctx, tx, b.String(), p.args)
	if err != nil {
		return 0, e.fail(ctx, "delete rows", pl.c, err)
	}
	return n, nil
}

// anonymiseConstant writes constant masks with one UPDATE, touching only
// rows where a value changes.
func (e *Engine) anonymiseConstant(ctx context.Context, tx *sql.Tx, pl *erasePlan, chunk []cond) (int64, error) {
	var b strings.Builder
	p := &Params{d: e.d}
	b.WriteString("UPDATE ")
	b.WriteString(pl.t.quoted)
	b.WriteString(" SET ")
	for i, mc := range pl.consts {
		if i > 0 {
			b.WriteByte(',')
		}
		q := e.d.QuoteIdent(mc.col.Name)
		b.WriteString(q)
		b.WriteString(" = ")
		b.WriteString(ConstSet(q, mc.value, p))
	}
	b.WriteString(" WHERE ")
	e.filter(&b, pl, chunk, p)
	if e.d.Changed("a", "b") != "" {
		b.WriteString(" AND (")
		for i, mc := range pl.consts {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString(ConstChanged(e.d.QuoteIdent(mc.col.Name), mc.value, p))
		}
		b.WriteByte(')')
	}
	n, err := e.exec(ctx, tx, b.String(), p.args)
	if err != nil {
		return 0, e.fail(ctx, "anonymise rows", pl.c, err)
	}
	return n, nil
}

// anonymise reads the chunk's rows a page at a time in primary key order,
// masks them, and writes each page with one bulk UPDATE (a plain one for a
// page of one row). Rows already
// masked by an earlier chunk of the step (seen, when there are several)
// are skipped.
func (e *Engine) anonymise(ctx context.Context, tx *sql.Tx, pl *erasePlan, chunk []cond, seen map[string]struct{}) (int64, error) {
	page := lethe.MaxBatch
	if room := (e.d.MaxParams() - 2*len(pl.consts)) / (1 + len(pl.dyn)); room < page {
		page = max(1, room)
	}
	qKey := e.d.QuoteIdent(pl.key.Name)
	var head strings.Builder
	head.WriteString("SELECT ")
	head.WriteString(qKey)
	for _, mc := range pl.dyn {
		head.WriteByte(',')
		head.WriteString(e.d.QuoteIdent(mc.col.Name))
	}
	head.WriteString(" FROM ")
	head.WriteString(pl.t.quoted)
	head.WriteString(" WHERE ")

	u := &BulkUpdate{Table: pl.t.quoted, Key: pl.key, QuotedKey: qKey}
	for _, mc := range pl.dyn {
		u.Set = append(u.Set, mc.col)
		u.Quoted = append(u.Quoted, e.d.QuoteIdent(mc.col.Name))
	}
	for _, mc := range pl.consts {
		u.ConstCols = append(u.ConstCols, mc.col)
		u.ConstQuoted = append(u.ConstQuoted, e.d.QuoteIdent(mc.col.Name))
		u.Const = append(u.Const, mc.value)
	}

	width := 1 + len(pl.dyn)
	buf := make([]any, 0, page*width) // the page: key, values, key, values...
	scan := make([]any, width)
	ptrs := make([]any, width)
	for i := range scan {
		ptrs[i] = &scan[i]
	}
	caches := make([]map[string]any, len(pl.dyn))
	var key []byte
	var last any
	var total int64
	for {
		var b strings.Builder
		p := &Params{d: e.d}
		b.WriteString(head.String())
		e.filter(&b, pl, chunk, p)
		if last != nil {
			b.WriteString(" AND ")
			b.WriteString(qKey)
			b.WriteString(" > ")
			b.WriteString(p.Add(last))
		}
		b.WriteString(" ORDER BY ")
		b.WriteString(qKey)
		b.WriteString(" LIMIT ")
		b.WriteString(strconv.Itoa(page))
		buf = buf[:0]
		read := 0
		err := e.query(ctx, tx, b.String(), p.args, func(rows *sql.Rows) error {
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					return err
				}
				read++
				scan[0] = Normalise(pl.key.Kind, scan[0])
				last = scan[0]
				for j, mc := range pl.dyn {
					scan[1+j] = Normalise(mc.col.Kind, scan[1+j])
				}
				buf = append(buf, scan...)
			}
			return nil
		})
		if err != nil {
			return 0, e.fail(ctx, "read rows to anonymise", pl.c, err)
		}
		if read == 0 {
			break
		}
		for j := range caches {
			caches[j] = map[string]any{}
		}
		u.Rows = u.Rows[:0]
		for r := 0; r < read; r++ {
			rec := buf[r*width : (r+1)*width]
			if seen != nil {
				key = appendKey(key[:0], rec[0])
				if _, dup := seen[string(key)]; dup {
					continue
				}
				seen[string(key)] = struct{}{}
			}
			out := make([]any, width)
			out[0] = rec[0]
			changed := len(pl.consts) > 0
			for j, mc := range pl.dyn {
				in := rec[1+j]
				key = appendKey(key[:0], in)
				v, ok := caches[j][string(key)]
				if !ok {
					masked, err := mc.mask.Apply(in)
					if err != nil {
						return 0, fmt.Errorf("collection %s: mask of column %s: %w", collName(pl.c), mc.col.Name, err)
					}
					if v, err = e.fit(pl.c, mc.col, masked); err != nil {
						return 0, err
					}
					caches[j][string(key)] = v
				}
				out[1+j] = v
				if !changed && string(appendKey(nil, v)) != string(key) {
					changed = true
				}
			}
			if changed {
				u.Rows = append(u.Rows, out)
			}
		}
		if len(u.Rows) > 0 {
			p := &Params{d: e.d}
			var q string
			if len(u.Rows) == 1 {
				q = e.updateOne(u, p)
			} else {
				q = e.d.BulkUpdate(u, p)
			}
			n, err := e.exec(ctx, tx, q, p.args)
			if err != nil {
				return 0, e.fail(ctx, "anonymise rows", pl.c, err)
			}
			total += n
		}
		if read < page {
			break
		}
	}
	return total, nil
}

// ConstSet returns the value a constant mask writes to the column col
// (qualified as the statement needs): NULL for a null mask, else the
// constant where the column holds a value. A NULL stays NULL, as
// lethe.Mask's Apply(nil) returns nil: there is nothing to hide.
func ConstSet(col string, v any, p *Params) string {
	if v == nil {
		return "NULL"
	}
	return "CASE WHEN " + col + " IS NULL THEN " + col + " ELSE " + p.Add(v) + " END"
}

// ConstChanged returns the predicate "writing the constant v changes col".
func ConstChanged(col string, v any, p *Params) string {
	if v == nil {
		return col + " IS NOT NULL"
	}
	return col + " <> " + p.Add(v)
}

// updateOne writes a page of one row (a subject's only row, the common
// case) as a plain UPDATE by primary key, which every database plans and
// runs faster than a join to a one-row list.
func (e *Engine) updateOne(u *BulkUpdate, p *Params) string {
	row := u.Rows[0]
	var b strings.Builder
	b.WriteString("UPDATE ")
	b.WriteString(u.Table)
	b.WriteString(" SET ")
	for j, q := range u.Quoted {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(q + " = " + p.Add(row[1+j]))
	}
	for k, q := range u.ConstQuoted {
		b.WriteString("," + q + " = " + ConstSet(q, u.Const[k], p))
	}
	b.WriteString(" WHERE " + u.QuotedKey + " = " + p.Add(row[0]))
	if e.d.Changed("a", "b") != "" {
		b.WriteString(" AND (")
		for j, q := range u.Quoted {
			if j > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString(e.d.Changed(q, p.Add(row[1+j])))
		}
		for k, q := range u.ConstQuoted {
			b.WriteString(" OR " + ConstChanged(q, u.Const[k], p))
		}
		b.WriteByte(')')
	}
	return b.String()
}
