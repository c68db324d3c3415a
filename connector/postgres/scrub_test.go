package postgres

import (
	"context"
	"database/sql"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
	"github.com/lethe-privacy/lethe/internal/testenv"
)

// TestCompactWaitsForOlderSnapshots: a session holding a snapshot from
// before the scrub would keep VACUUM FULL from dropping the overwritten
// row versions, so compaction names it instead of compacting in vain,
// and goes ahead once it has ended.
func TestCompactWaitsForOlderSnapshots(t *testing.T) {
	ctx := context.Background()
	// A database of its own: the wait looks at the sessions of the
	// database only, and other tests' sessions must not count.
	base := testenv.PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := "lethe_compact_test_" + strconv.FormatInt(time.Now().UnixNano(), 10)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	dsn := u.String()
	c, err := Open(ctx, &lethe.Datastore{Name: "copy", DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	other, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := tx.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil { // takes the snapshot
		t.Fatal(err)
	}
	// The scrub writes after that snapshot was taken.
	if _, err := c.e.DB().ExecContext(ctx, "SELECT txid_current()"); err != nil {
		t.Fatal(err)
	}
	err = c.awaitHorizon(ctx, nil, 300*time.Millisecond)
	if lethe.ErrorCode(err) != lethe.ECONFLICT || !strings.Contains(err.Error(), strconv.Itoa(pid)) || !strings.Contains(err.Error(), "--compact-only") {
		t.Fatalf("with an older snapshot open: got %v, want ECONFLICT naming pid %d", err, pid)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := c.awaitHorizon(ctx, nil, 10*time.Second); err != nil {
		t.Fatalf("after the snapshot ended: %v", err)
	}
}
