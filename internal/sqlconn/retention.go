package sqlconn

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
)

// retentionWhere writes the predicate of a retention selection: the
// cutoffs, the filters and the pending columns, ANDed. A filter value
// that cannot be of its column's type selects nothing ("1 = 0"), as a
// match value does. The first cutoff's column is returned as the age.
func (e *Engine) retentionWhere(ctx context.Context, sel lethe.RetentionSelection, p *Params) (*Table, *Column, string, error) {
	c := sel.Collection
	if c == nil {
		return nil, nil, "", lethe.Errorf(lethe.EINVALID, "retention: no collection")
	}
	if len(sel.Before) == 0 {
		return nil, nil, "", lethe.Errorf(lethe.EINVALID, "collection %s: a retention selection needs a cutoff", collName(c))
	}
	t, err := e.table(ctx, c)
	if err != nil {
		return nil, nil, "", err
	}
	var preds []string
	var age *Column
	for _, b := range sel.Before {
		col, err := e.column(c, t, b.Column)
		if err != nil {
			return nil, nil, "", err
		}
		if age == nil {
			age = col
		}
		q := e.d.QuoteIdent(col.Name)
		pred, err := e.d.Before(col, q, b.Time, p)
		if err != nil {
			return nil, nil, "", lethe.Errorf(lethe.EINVALID, "collection %s: %s", collName(c), lethe.ErrorMessage(err))
		}
		preds = append(preds, q+" IS NOT NULL AND "+pred)
	}
	if nb := sel.NotBefore; nb != nil {
		col, err := e.column(c, t, nb.Column)
		if err != nil {
			return nil, nil, "", err
		}
		q := e.d.QuoteIdent(col.Name)
		pred, err := e.d.Before(col, q, nb.Time, p)
		if err != nil {
			return nil, nil, "", lethe.Errorf(lethe.EINVALID, "collection %s: %s", collName(c), lethe.ErrorMessage(err))
		}
		preds = append(preds, q+" IS NOT NULL AND NOT ("+pred+")")
	}
	for _, f := range sel.Where {
		col, err := e.column(c, t, f.Column)
		if err != nil {
			return nil, nil, "", err
		}
		q := e.d.QuoteIdent(col.Name)
		switch {
		case f.IsNull != nil && *f.IsNull:
			preds = append(preds, q+" IS NULL")
		case f.IsNull != nil:
			preds = append(preds, q+" IS NOT NULL")
		default:
			raw := f.In
			if f.Equals != nil {
				raw = []string{*f.Equals}
			}
			var vals []any
			for _, v := range raw {
				if cv, ok := Coerce(col.Kind, v); ok && cv != nil {
					if cv, ok = e.d.Fit(col, cv); ok {
						vals = append(vals, cv)
					}
				}
			}
			if len(vals) == 0 {
				preds = append(preds, "1 = 0")
				continue
			}
			preds = append(preds, e.d.Match(col, q, vals, p))
		}
	}
	if len(sel.Pending) > 0 {
		var alts []string
		for _, pc := range sel.Pending {
			col, err := e.column(c, t, pc.Column)
			if err != nil {
				return nil, nil, "", err
			}
			v, err := e.fit(c, col, pc.Value)
			if err != nil {
				return nil, nil, "", err
			}
			alts = append(alts, ConstChanged(e.d.QuoteIdent(col.Name), v, p))
		}
		preds = append(preds, "("+strings.Join(alts, " OR ")+")")
	}
	for i, pr := range preds {
		preds[i] = "(" + pr + ")"
	}
	return t, age, strings.Join(preds, " AND "), nil
}

// RetentionCount counts the rows the selection covers, with the oldest
// value of the first cutoff's column.
func (e *Engine) RetentionCount(ctx context.Context, sel lethe.RetentionSelection) (lethe.RetentionCount, error) {
	p := &Params{d: e.d}
	t, age, where, err := e.retentionWhere(ctx, sel, p)
	if err != nil {
		return lethe.RetentionCount{}, err
	}
	q := "SELECT COUNT(*), MIN(" + e.d.QuoteIdent(age.Name) + ") FROM " + t.quoted + " WHERE " + where
	var out lethe.RetentionCount
	err = e.query(ctx, e.db, q, p.args, func(rows *sql.Rows) error {
		for rows.Next() {
			var n int64
			var oldest any
			if err := rows.Scan(&n, &oldest); err != nil {
				return err
			}
			out.Rows = n
			out.Oldest = asTime(Normalise(age.Kind, oldest))
		}
		return rows.Err()
	})
	if err != nil {
		return lethe.RetentionCount{}, e.fail(ctx, "count rows past retention", sel.Collection, err)
	}
	return out, nil
}

// RetentionKeys returns the next primary keys the selection covers, in
// key order: keyset pages, each its own short statement.
func (e *Engine) RetentionKeys(ctx context.Context, sel lethe.RetentionSelection, after any, limit int) ([]any, error) {
	if limit <= 0 {
		limit = lethe.MaxBatch
	}
	p := &Params{d: e.d}
	t, _, where, err := e.retentionWhere(ctx, sel, p)
	if err != nil {
		return nil, err
	}
	c := sel.Collection
	pk, err := e.column(c, t, c.PrimaryKeyColumn())
	if err != nil {
		return nil, err
	}
	qpk := e.d.QuoteIdent(pk.Name)
	var b strings.Builder
	b.WriteString("SELECT " + qpk + " FROM " + t.quoted + " WHERE " + where)
	if after != nil {
		ca, ok := Coerce(pk.Kind, after)
		if !ok || ca == nil {
			return nil, lethe.Errorf(lethe.EINVALID, "collection %s: the key to continue after is not of the primary key's type", collName(c))
		}
		b.WriteString(" AND " + qpk + " > " + p.Add(ca))
	}
	b.WriteString(" ORDER BY " + qpk + " LIMIT " + strconv.Itoa(limit))
	var keys []any
	err = e.query(ctx, e.db, b.String(), p.args, func(rows *sql.Rows) error {
		for rows.Next() {
			var k any
			if err := rows.Scan(&k); err != nil {
				return err
			}
			keys = append(keys, Normalise(pk.Kind, k))
		}
		return rows.Err()
	})
	if err != nil {
		return nil, e.fail(ctx, "select rows past retention", c, err)
	}
	return keys, nil
}

// RetentionDelete deletes the covered rows of one primary key range with
// one statement: no list of keys is sent, and the statement's locks are
// those of the range's rows.
func (e *Engine) RetentionDelete(ctx context.Context, sel lethe.RetentionSelection, after, upTo any) (int64, error) {
	p := &Params{d: e.d}
	t, _, where, err := e.retentionWhere(ctx, sel, p)
	if err != nil {
		return 0, err
	}
	c := sel.Collection
	pk, err := e.column(c, t, c.PrimaryKeyColumn())
	if err != nil {
		return 0, err
	}
	qpk := e.d.QuoteIdent(pk.Name)
	bound := func(v any) (string, error) {
		cv, ok := Coerce(pk.Kind, v)
		if !ok || cv == nil {
			return "", lethe.Errorf(lethe.EINVALID, "collection %s: a key range bound is not of the primary key's type", collName(c))
		}
		return p.Add(cv), nil
	}
	var b strings.Builder
	b.WriteString("DELETE FROM " + t.quoted + " WHERE " + where)
	if after != nil {
		m, err := bound(after)
		if err != nil {
			return 0, err
		}
		b.WriteString(" AND " + qpk + " > " + m)
	}
	m, err := bound(upTo)
	if err != nil {
		return 0, err
	}
	b.WriteString(" AND " + qpk + " <= " + m)
	n, err := e.exec(ctx, e.db, b.String(), p.args)
	if err != nil {
		return 0, e.fail(ctx, "delete rows past retention", c, err)
	}
	return n, nil
}

// asTime reads the oldest age as the drivers return it: a time, SQLite's
// text in one of its usual layouts, or Unix seconds.
func asTime(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case int64:
		return time.Unix(x, 0).UTC()
	case float64:
		return time.Unix(int64(x), 0).UTC()
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC()
			}
		}
	}
	return time.Time{}
}
