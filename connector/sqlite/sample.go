package sqlite

import (
	"context"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/sqlconn"
)

var (
	_ lethe.Sampler         = (*Connector)(nil)
	_ lethe.TableLister     = (*Connector)(nil)
	_ sqlconn.SampleDialect = dialect{}
)

// Sample reads at most p.Size rows of the collection's table (see
// lethe.Sampler): windows spread over an integer key's range or, without
// one, over the rowid; the first rows of a WITHOUT ROWID table.
func (c *Connector) Sample(ctx context.Context, p lethe.SampleParams, fn func(lethe.Row) error) (lethe.SampleResult, error) {
	return c.e.Sample(ctx, p, fn)
}

// Tables lists the database's tables but SQLite's own (sqlite_*).
func (c *Connector) Tables(ctx context.Context) ([]string, error) {
	return c.e.Tables(ctx)
}

func (dialect) Tables(ctx context.Context, q sqlconn.Querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, `
SELECT name FROM sqlite_master
WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY name`)
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

func (dialect) RowID() string { return "rowid" }

func (dialect) BlockSample(context.Context, sqlconn.Querier, string, int) (string, error) {
	return "", nil
}
