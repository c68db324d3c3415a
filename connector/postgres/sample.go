package postgres

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/sqlconn"
)

var (
	_ lethe.Sampler         = (*Connector)(nil)
	_ lethe.TableLister     = (*Connector)(nil)
	_ sqlconn.SampleDialect = dialect{}
)

// Sample reads at most p.Size rows of the collection's table (see
// lethe.Sampler): windows spread over an integer key's range, else random
// pages (TABLESAMPLE SYSTEM) of a table the statistics say is large, else
// the first rows.
func (c *Connector) Sample(ctx context.Context, p lethe.SampleParams, fn func(lethe.Row) error) (lethe.SampleResult, error) {
	return c.e.Sample(ctx, p, fn)
}

// Tables lists the ordinary and partitioned tables of the schemas on the
// search_path; a table outside the first of them (current_schema) is
// named schema.table.
func (c *Connector) Tables(ctx context.Context) ([]string, error) {
	return c.e.Tables(ctx)
}

func (dialect) Tables(ctx context.Context, q sqlconn.Querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, `
SELECT CASE WHEN n.nspname = current_schema() THEN c.relname ELSE n.nspname || '.' || c.relname END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname = ANY (current_schemas(false))
ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

func (dialect) RowID() string { return "" }

// BlockSample asks for three times the sample's share of the table's
// pages (the statistics' row count is an estimate, and pages are not
// equally full); a table the statistics do not know (never analysed) or
// hold as small is read from its first rows instead.
func (dialect) BlockSample(ctx context.Context, q sqlconn.Querier, quoted string, size int) (string, error) {
	var est float64
	err := q.QueryRowContext(ctx, `SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)`, quoted).Scan(&est)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if est <= float64(2*size) {
		return "", nil
	}
	pct := min(100, 100*3*float64(size)/est)
	return "TABLESAMPLE SYSTEM (" + strconv.FormatFloat(pct, 'f', 6, 64) + ")", nil
}
