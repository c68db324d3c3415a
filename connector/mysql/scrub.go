package mysql

import (
	"context"
	"database/sql"
	"strings"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/sqlconn"
)

var _ lethe.Scrubber = (*Connector)(nil)

// ScrubSplit counts the collection's rows and splits its primary key into
// at most n ranges of about as many rows (see lethe.Scrubber).
func (c *Connector) ScrubSplit(ctx context.Context, coll *lethe.Collection, n int) (int64, []lethe.KeyRange, error) {
	return c.e.ScrubSplit(ctx, coll, n)
}

// ScrubRange rewrites the range in one transaction: keyset pages read in
// key order, each written with one UPDATE ... JOIN over its new values,
// with foreign_key_checks off for the session (which also keeps cascades
// from masking a referencing value twice). Triggers still fire: MySQL
// cannot turn them off for a session.
func (c *Connector) ScrubRange(ctx context.Context, p lethe.ScrubParams) (int64, error) {
	return c.e.ScrubRange(ctx, p)
}

// ScrubSession turns foreign key checks off on the scrubbing connection,
// and back to what they were before it returns to the pool.
func (dialect) ScrubSession(ctx context.Context, conn *sql.Conn) (func(context.Context) error, error) {
	var prev int
	if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.foreign_key_checks").Scan(&prev); err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION foreign_key_checks = 0"); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if prev == 0 {
			return nil
		}
		_, err := conn.ExecContext(ctx, "SET SESSION foreign_key_checks = 1")
		return err
	}, nil
}

// Compact rebuilds each table with OPTIMIZE TABLE (for InnoDB, a copy
// into a new .ibd file with its indexes): the pages that held the
// originals go with the old file. Old values may remain in the redo and
// undo logs until the server reuses them.
func (c *Connector) Compact(ctx context.Context, collections []*lethe.Collection) error {
	for _, coll := range collections {
		q, err := c.e.QuotedTable(ctx, coll)
		if err != nil {
			return err
		}
		if err := optimize(ctx, c.e.DB(), q); err != nil {
			return c.e.Fail(ctx, "compact (OPTIMIZE TABLE)", coll, err)
		}
	}
	return nil
}

// optimize runs OPTIMIZE TABLE, which reports failure in its result rows
// rather than as an error.
func optimize(ctx context.Context, db *sql.DB, table string) error {
	rows, err := db.QueryContext(ctx, "OPTIMIZE TABLE "+table)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var tbl, op, typ, msg sql.NullString
		if err := rows.Scan(&tbl, &op, &typ, &msg); err != nil {
			return err
		}
		if strings.EqualFold(typ.String, "error") {
			return lethe.Errorf(lethe.EINVALID, "OPTIMIZE TABLE %s failed: %s", table, msg.String)
		}
	}
	return rows.Err()
}

var _ sqlconn.ScrubSession = dialect{}
