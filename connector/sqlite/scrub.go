package sqlite

import (
	"context"
	"database/sql"
	"sync"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/sqlconn"
)

var (
	_ lethe.Scrubber       = (*Connector)(nil)
	_ sqlconn.ScrubSession = dialect{}
)

// scrubMu serialises ranges: SQLite has one writer per file, and a range
// waiting for another's long transaction would run out of busy_timeout.
var scrubMu sync.Mutex

// ScrubSplit counts the collection's rows and returns one range: SQLite
// writes one transaction at a time, so ranges in parallel gain nothing.
func (c *Connector) ScrubSplit(ctx context.Context, coll *lethe.Collection, _ int) (int64, []lethe.KeyRange, error) {
	return c.e.ScrubSplit(ctx, coll, 1)
}

// ScrubRange rewrites the range in one transaction, keyset pages read in
// key order, each written with one UPDATE ... FROM over its new values,
// with foreign keys off and secure_delete on for the connection (freed
// space is zeroed, not left holding the originals).
func (c *Connector) ScrubRange(ctx context.Context, p lethe.ScrubParams) (int64, error) {
	scrubMu.Lock()
	defer scrubMu.Unlock()
	return c.e.ScrubRange(ctx, p)
}

// ScrubSession turns foreign keys off and secure_delete on, and both back
// to what they were before the connection returns to the pool.
func (dialect) ScrubSession(ctx context.Context, conn *sql.Conn) (func(context.Context) error, error) {
	var fk, sd int
	if err := conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return nil, err
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA secure_delete").Scan(&sd); err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA secure_delete = ON"); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if _, err := conn.ExecContext(ctx, "PRAGMA secure_delete = "+onOff(sd)); err != nil {
			return err
		}
		_, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = "+onOff(fk))
		return err
	}, nil
}

func onOff(v int) string {
	if v != 0 {
		return "ON"
	}
	return "OFF"
}

// Compact rebuilds the whole database file with VACUUM (SQLite has no
// per-table rewrite), with secure_delete on, then checkpoints and
// truncates the write-ahead log when the file uses one, so that neither
// the file nor its -wal holds a page with an original. The collections
// only name the datastore's tables for messages.
func (c *Connector) Compact(ctx context.Context, collections []*lethe.Collection) error {
	scrubMu.Lock()
	defer scrubMu.Unlock()
	var coll *lethe.Collection
	if len(collections) > 0 {
		coll = collections[0]
	}
	conn, err := c.e.DB().Conn(ctx)
	if err != nil {
		return c.e.Fail(ctx, "compact", coll, err)
	}
	defer conn.Close()
	for _, q := range []string{"PRAGMA secure_delete = ON", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return c.e.Fail(ctx, "compact ("+q+")", coll, err)
		}
	}
	return nil
}
