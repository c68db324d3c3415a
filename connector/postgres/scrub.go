package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/sqlconn"
)

var _ lethe.Scrubber = (*Connector)(nil)

// ScrubSplit counts the collection's rows and splits its primary key into
// at most n ranges of about as many rows (see lethe.Scrubber).
func (c *Connector) ScrubSplit(ctx context.Context, coll *lethe.Collection, n int) (int64, []lethe.KeyRange, error) {
	return c.e.ScrubSplit(ctx, coll, n)
}

// ScrubRange rewrites the range in one transaction on one connection:
// a cursor streams the rows in key order, and each batch is masked in Go,
// copied into a temporary table with COPY, and written with one UPDATE ...
// FROM that joins it on the key (bounded to the batch's key span, so the
// join reads only the batch's rows through the primary key index).
// session_replication_role is set to replica for the transaction when
// the role may (a superuser, or one granted SET on it), which keeps
// foreign keys, cascades and triggers out of the way; otherwise they stay
// on, and a foreign key to a scrubbed column refuses the change.
func (c *Connector) ScrubRange(ctx context.Context, p lethe.ScrubParams) (int64, error) {
	pl, err := c.e.ScrubPlan(ctx, p)
	if err != nil {
		return 0, err
	}
	if len(pl.Dyn) == 0 {
		return c.e.ScrubRange(ctx, p) // one UPDATE: nothing to copy
	}
	conn, err := c.e.DB().Conn(ctx)
	if err != nil {
		return 0, pl.Fail(ctx, "connect", err)
	}
	defer conn.Close()
	var (
		n       int64
		replica bool
	)
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return lethe.Errorf(lethe.EINTERNAL, "scrub: the connection is not a pgx connection")
		}
		n, replica, err = scrubCopy(ctx, sc.Conn(), pl)
		return err
	})
	if err != nil {
		var le *lethe.Error
		if errors.As(err, &le) {
			return 0, err
		}
		var pe *pgconn.PgError
		if !replica && errors.As(err, &pe) && pe.Code == "23503" {
			return 0, &lethe.Error{Code: lethe.ECONFLICT, Err: err, Message: fmt.Sprintf(
				"collection %s: foreign key %s refused the change: the role may not set session_replication_role, which keeps foreign keys out of the way while referencing columns are scrubbed; scrub as a superuser (or a role granted SET on it), or drop the foreign key on the copy",
				pl.C.Path(), pe.ConstraintName)}
		}
		return 0, pl.Fail(ctx, "scrub rows", err)
	}
	return n, nil
}

// scrubTemp is the temporary table a batch is copied into; each range
// has its own session, and the table is dropped at commit.
const scrubTemp = "lethe_scrub"

// nativeKind reports whether pgx reads and writes values of kind k in
// the Go types the masks take (text, bytes, numbers, times). Other
// columns (inet, uuid, json, enums) are read and copied as text and cast
// back in the UPDATE.
func nativeKind(k lethe.ColumnKind) bool {
	switch k {
	case lethe.KindText, lethe.KindBytes, lethe.KindInteger, lethe.KindFloat, lethe.KindBool, lethe.KindTime, lethe.KindDate:
		return true
	}
	return false
}

// scrubCopy scrubs the plan's range on conn in one transaction, and
// reports whether session_replication_role could be set.
func scrubCopy(ctx context.Context, conn *pgx.Conn, pl *sqlconn.ScrubPlan) (int64, bool, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SAVEPOINT lethe_role"); err != nil {
		return 0, false, err
	}
	replica := true
	if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
		replica = false
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT lethe_role"); err != nil {
			return 0, false, err
		}
	}
	if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT lethe_role"); err != nil {
		return 0, replica, err
	}
	n, err := scrubBatches(ctx, tx, pl)
	if err != nil {
		return 0, replica, err
	}
	return n, replica, tx.Commit(ctx)
}

// scrubBatches streams the range through the cursor and writes it batch
// by batch, in tx.
func scrubBatches(ctx context.Context, tx pgx.Tx, pl *sqlconn.ScrubPlan) (int64, error) {
	cols := []string{"k"}
	var create, sel, set strings.Builder
	create.WriteString("CREATE TEMP TABLE " + scrubTemp + " (k " + pl.Key.Cast)
	sel.WriteString("SELECT " + pl.QuotedKey)
	for j, sc := range pl.Dyn {
		v := "v" + strconv.Itoa(j)
		cols = append(cols, v)
		if j > 0 {
			set.WriteString(", ")
		}
		if nativeKind(sc.Col.Kind) {
			typ := sc.Col.Cast
			if sc.Col.Kind == lethe.KindText {
				typ = "text" // varchar(n) without its n, citext: assigned back as is
			}
			create.WriteString(", " + v + " " + typ)
			sel.WriteString(", " + sc.Quoted)
			set.WriteString(sc.Quoted + " = s." + v)
		} else {
			create.WriteString(", " + v + " text")
			sel.WriteString(", " + sc.Quoted + "::text")
			set.WriteString(sc.Quoted + " = s." + v + "::" + sc.Col.Cast)
		}
	}
	create.WriteString(") ON COMMIT DROP")
	if _, err := tx.Exec(ctx, create.String()); err != nil {
		return 0, err
	}
	p := pl.Params()
	sel.WriteString(" FROM " + pl.Table + " WHERE " + pl.RangeWhere("", p) + " ORDER BY " + pl.QuotedKey)
	if _, err := tx.Exec(ctx, "DECLARE lethe_scrub_rows NO SCROLL CURSOR FOR "+sel.String(), p.Args()...); err != nil {
		return 0, err
	}
	up := pl.Params()
	first, last := up.Add(nil), up.Add(nil) // $1, $2: the batch's key span
	update := "UPDATE " + pl.Table + " AS t SET " + set.String() + pl.ConstSets("t.", up) +
		" FROM " + scrubTemp + " AS s WHERE t." + pl.QuotedKey + " = s.k AND t." + pl.QuotedKey + " >= " + first +
		" AND t." + pl.QuotedKey + " <= " + last
	fetch := "FETCH FORWARD " + strconv.Itoa(pl.Batch) + " FROM lethe_scrub_rows"
	m := pl.NewMasker()
	batch := make([][]any, 0, pl.Batch)
	var total int64
	for {
		batch = batch[:0]
		// Described afresh each time: the text is the same for every
		// cursor on the connection, the columns are not, so a cached
		// description would be another table's.
		rows, err := tx.Query(ctx, fetch, pgx.QueryExecModeDescribeExec)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				rows.Close()
				return 0, err
			}
			for j, sc := range pl.Dyn {
				if vals[1+j], err = m.Mask(j, sqlconn.Normalise(sc.Col.Kind, vals[1+j])); err != nil {
					rows.Close()
					return 0, err
				}
			}
			batch = append(batch, vals)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, err
		}
		if len(batch) == 0 {
			break
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{scrubTemp}, cols, pgx.CopyFromRows(batch)); err != nil {
			return 0, err
		}
		args := up.Args()
		args[0], args[1] = batch[0][0], batch[len(batch)-1][0]
		if _, err := tx.Exec(ctx, update, args...); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, "TRUNCATE "+scrubTemp); err != nil {
			return 0, err
		}
		total += int64(len(batch))
		if pl.Progress != nil {
			pl.Progress(int64(len(batch)))
		}
		if len(batch) < pl.Batch {
			break
		}
	}
	if _, err := tx.Exec(ctx, "CLOSE lethe_scrub_rows"); err != nil {
		return 0, err
	}
	return total, nil
}

// Compact rewrites each table with VACUUM FULL: a new file holding only
// the live rows (and rebuilt indexes, which held the originals too); the
// old files, with the row versions the scrub left behind, are removed.
//
// VACUUM FULL keeps a dead row version that another session's snapshot
// may still see, so it first waits (up to a minute) until no other
// session of the database holds a snapshot or transaction older than the
// scrub's last commit; when one still does, it returns ECONFLICT naming
// the sessions' process ids rather than compacting in vain.
//
// It takes an exclusive lock on each table while it runs, and needs the
// table's owner. Earlier versions may remain in the write-ahead log
// until the server recycles its segments.
func (c *Connector) Compact(ctx context.Context, collections []*lethe.Collection) error {
	var first *lethe.Collection
	if len(collections) > 0 {
		first = collections[0]
	}
	if err := c.awaitHorizon(ctx, first, compactWait); err != nil {
		return err
	}
	for _, coll := range collections {
		q, err := c.e.QuotedTable(ctx, coll)
		if err != nil {
			return err
		}
		if err := c.e.Exec(ctx, coll, "compact (VACUUM FULL)", "VACUUM FULL "+q); err != nil {
			return err
		}
	}
	return nil
}

// compactWait bounds how long Compact waits for older snapshots to end.
const compactWait = time.Minute

// olderSessions lists the other sessions of the database whose snapshot
// or transaction is older than the transaction id $1 (txid_current, with
// its epoch): they keep VACUUM from removing what the scrub overwrote.
// Autovacuum workers do not hold the horizon back.
const olderSessions = `SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type <> 'autovacuum worker'
  AND ((backend_xmin IS NOT NULL AND age(backend_xmin) > age(($1::bigint % 4294967296)::text::xid))
    OR (backend_xid IS NOT NULL AND age(backend_xid) > age(($1::bigint % 4294967296)::text::xid)))
ORDER BY pid`

func (c *Connector) awaitHorizon(ctx context.Context, coll *lethe.Collection, wait time.Duration) error {
	db := c.e.DB()
	var xid int64
	if err := db.QueryRowContext(ctx, "SELECT txid_current()").Scan(&xid); err != nil {
		return c.e.Fail(ctx, "compact (read the transaction horizon)", coll, err)
	}
	deadline := time.Now().Add(wait)
	for {
		var pids []string
		rows, err := db.QueryContext(ctx, olderSessions, xid)
		if err != nil {
			return c.e.Fail(ctx, "compact (list older sessions)", coll, err)
		}
		for rows.Next() {
			var pid int64
			if err := rows.Scan(&pid); err != nil {
				rows.Close()
				return c.e.Fail(ctx, "compact (list older sessions)", coll, err)
			}
			pids = append(pids, strconv.FormatInt(pid, 10))
		}
		rows.Close()
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return lethe.Errorf(lethe.ECONFLICT, "compact: %d other session(s) of the database (pid %s) hold a snapshot older than the scrub, so VACUUM FULL would keep the overwritten row versions; end them (pg_terminate_backend) and run lethe scrub again with --compact-only",
				len(pids), strings.Join(pids, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
