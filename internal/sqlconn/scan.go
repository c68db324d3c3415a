package sqlconn

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/lethe-privacy/lethe"
)

// ScanValues passes the column's non-null values to fn in batches. It
// walks the table by primary key (keyset pages of p.Batch rows, each its
// own statement under the statement timeout), so the column needs no
// index and the cost is one pass over the table whatever its size.
// Values are deduplicated within a batch only: the primary key order
// says nothing about the column's, and a set over the whole table would
// grow with it.
func (e *Engine) ScanValues(ctx context.Context, p lethe.ScanParams, fn func([]any) error) error {
	c := p.Collection
	if c == nil {
		return lethe.Errorf(lethe.EINVALID, "scan values: no collection")
	}
	t, err := e.table(ctx, c)
	if err != nil {
		return err
	}
	col, err := e.column(c, t, p.Column)
	if err != nil {
		return err
	}
	pk, err := e.column(c, t, c.PrimaryKeyColumn())
	if err != nil {
		return err
	}
	batch := p.Batch
	if batch <= 0 {
		batch = lethe.MaxBatch
	}
	qcol, qpk := e.d.QuoteIdent(col.Name), e.d.QuoteIdent(pk.Name)
	var (
		last    any
		started bool
	)
	for {
		var b strings.Builder
		params := &Params{d: e.d}
		b.WriteString("SELECT " + qpk + ", " + qcol + " FROM " + t.quoted + " WHERE " + qcol + " IS NOT NULL")
		if started {
			b.WriteString(" AND " + qpk + " > " + params.Add(last))
		}
		b.WriteString(" ORDER BY " + qpk + " LIMIT " + strconv.Itoa(batch))
		var (
			vals []any
			rows int
		)
		seen := map[string]struct{}{}
		var key []byte
		err := e.query(ctx, e.db, b.String(), params.args, func(rs *sql.Rows) error {
			for rs.Next() {
				var k, v any
				if err := rs.Scan(&k, &v); err != nil {
					return err
				}
				rows++
				k = Normalise(pk.Kind, k)
				if ck, ok := Coerce(pk.Kind, k); ok && ck != nil {
					last, started = ck, true
				} else {
					return lethe.Errorf(lethe.EINVALID, "collection %s: primary key %s holds a value that cannot be compared", collName(c), pk.Name)
				}
				v = Normalise(col.Kind, v)
				key = appendKey(key[:0], v)
				if _, dup := seen[string(key)]; dup {
					continue
				}
				seen[string(key)] = struct{}{}
				vals = append(vals, v)
			}
			return nil
		})
		if err != nil {
			var le *lethe.Error
			if errors.As(err, &le) {
				return err
			}
			return e.fail(ctx, "scan values", c, err)
		}
		if len(vals) > 0 {
			if err := fn(vals); err != nil {
				return err
			}
		}
		if rows < batch {
			return nil
		}
	}
}
