package retention_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe/retention"
	"github.com/lethe-privacy/lethe/store/sqlite"
)

type movableClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *movableClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *movableClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// TestSchedulerCatchesUpOnce runs the schedule on two nodes sharing a
// store: a run never made is made at once by one node only, the next is
// not due before the next day's slot, and a missed day is caught up.
func TestSchedulerCatchesUpOnce(t *testing.T) {
	e := engines(t)["sqlite"](t)
	seedAccounts(t, e)
	eng, _ := newEngine(t, e, accountsMap, 3, nil)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "lethe.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	clock := &movableClock{t: time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC)}
	nodes := []*retention.Scheduler{
		{Engine: eng, Store: st, At: retention.DailyAt{Hour: 2}, Owner: "node-a", Clock: clock},
		{Engine: eng, Store: st, At: retention.DailyAt{Hour: 2}, Owner: "node-b", Clock: clock},
	}
	tick := func() int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ran := 0
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := n.Tick(ctx)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					ran++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return ran
	}
	if ran := tick(); ran != 1 {
		t.Fatalf("first tick: %d nodes ran, want exactly 1 (never ran before: due at once)", ran)
	}
	if got := e.ids(t, "SELECT id FROM accounts WHERE id <= 10"); len(got) != 0 {
		t.Errorf("the scheduled run left rows past the limit: %v", got)
	}
	sc, err := st.ScheduleGet(ctx, retention.ScheduleName)
	if err != nil || sc.LastCompletedAt.IsZero() || sc.LeaseOwner != "" {
		t.Fatalf("schedule after the run: %+v, %v", sc, err)
	}
	clock.set(time.Date(2026, 12, 3, 1, 59, 0, 0, time.UTC))
	if ran := tick(); ran != 0 {
		t.Errorf("before the next slot: %d ran, want 0", ran)
	}
	// Nodes down for three days: the first tick after catches up once.
	clock.set(time.Date(2026, 12, 6, 14, 0, 0, 0, time.UTC))
	if ran := tick(); ran != 1 {
		t.Errorf("after missed days: %d ran, want 1", ran)
	}
	if ran := tick(); ran != 0 {
		t.Errorf("right after the catch-up: %d ran, want 0", ran)
	}
}
