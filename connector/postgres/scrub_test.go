package postgres

import (
	"context"
	"database/sql"
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
	dsn := testenv.PostgresSchema(t)
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
	// Other tests share the server: give their short transactions time.
	if err := c.awaitHorizon(ctx, nil, 20*time.Second); err != nil {
		t.Fatalf("after the snapshot ended: %v", err)
	}
}
