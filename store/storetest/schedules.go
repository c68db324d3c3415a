package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lethe-privacy/lethe"
)

// RunSchedules runs the ScheduleStore cases; only h.New is used.
func RunSchedules(t *testing.T, h Harness) {
	t.Run("ScheduleLease", func(t *testing.T) { testScheduleLease(t, h) })
	t.Run("ScheduleConcurrentClaim", func(t *testing.T) { testScheduleConcurrentClaim(t, h) })
}

var schedT0 = time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)

func testScheduleLease(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	if _, err := s.ScheduleGet(ctx, "retention"); lethe.ErrorCode(err) != lethe.ENOTFOUND {
		t.Fatalf("get before any claim: %v, want ENOTFOUND", err)
	}
	sc, ok, err := s.ScheduleClaim(ctx, "retention", "node-a", schedT0, schedT0.Add(time.Hour))
	if err != nil || !ok {
		t.Fatalf("first claim: %v, %v", ok, err)
	}
	if sc.LeaseOwner != "node-a" || !sc.LeaseUntil.Equal(schedT0.Add(time.Hour)) || !sc.LastCompletedAt.IsZero() {
		t.Errorf("after the claim: %+v", sc)
	}
	// Another node is refused while the lease runs, and gets it once it
	// has expired.
	if sc, ok, err := s.ScheduleClaim(ctx, "retention", "node-b", schedT0.Add(30*time.Minute), schedT0.Add(2*time.Hour)); err != nil || ok || sc.LeaseOwner != "node-a" {
		t.Fatalf("claim by b during a's lease: %v %+v %v", ok, sc, err)
	}
	if _, ok, err := s.ScheduleClaim(ctx, "retention", "node-a", schedT0.Add(30*time.Minute), schedT0.Add(90*time.Minute)); err != nil || !ok {
		t.Fatalf("a extends its own lease: %v %v", ok, err)
	}
	if _, ok, err := s.ScheduleClaim(ctx, "retention", "node-b", schedT0.Add(91*time.Minute), schedT0.Add(3*time.Hour)); err != nil || !ok {
		t.Fatalf("claim by b after a's lease expired: %v %v", ok, err)
	}
	// a's late completion does not count: b holds the lease now.
	if err := s.ScheduleComplete(ctx, "retention", "node-a", schedT0.Add(95*time.Minute)); lethe.ErrorCode(err) != lethe.ECONFLICT {
		t.Errorf("complete by a without the lease: %v, want ECONFLICT", err)
	}
	done := schedT0.Add(100 * time.Minute)
	if err := s.ScheduleComplete(ctx, "retention", "node-b", done); err != nil {
		t.Fatal(err)
	}
	sc, err = s.ScheduleGet(ctx, "retention")
	if err != nil || !sc.LastCompletedAt.Equal(done) || sc.LeaseOwner != "" {
		t.Errorf("after b completed: %+v, %v", sc, err)
	}
	// A released lease records no completion and is free for anyone.
	if _, ok, _ := s.ScheduleClaim(ctx, "retention", "node-a", done, done.Add(time.Hour)); !ok {
		t.Fatal("claim after completion refused")
	}
	if err := s.ScheduleRelease(ctx, "retention", "node-a"); err != nil {
		t.Fatal(err)
	}
	if sc, ok, _ := s.ScheduleClaim(ctx, "retention", "node-b", done, done.Add(time.Hour)); !ok || !sc.LastCompletedAt.Equal(done) {
		t.Errorf("claim after release: %v %+v", ok, sc)
	}
	if _, _, err := s.ScheduleClaim(ctx, "", "node-a", done, done); lethe.ErrorCode(err) != lethe.EINVALID {
		t.Errorf("claim without a name: %v, want EINVALID", err)
	}
}

func testScheduleConcurrentClaim(t *testing.T, h Harness) {
	s := h.New(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := s.ScheduleClaim(ctx, "retention", "node-"+string(rune('a'+i)), schedT0, schedT0.Add(time.Hour))
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Errorf("%d nodes hold the lease at once, want 1", winners)
	}
}
