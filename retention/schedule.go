package retention

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/lethe-privacy/lethe"
)

// ScheduleName is the name of the retention run's schedule in the store.
const ScheduleName = "retention"

// DailyAt is a time of day in UTC.
type DailyAt struct{ Hour, Minute int }

// ParseDailyAt reads "HH:MM" (24-hour, UTC); "" is 02:00.
func ParseDailyAt(s string) (DailyAt, error) {
	if s == "" {
		return DailyAt{Hour: 2}, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return DailyAt{}, lethe.FieldErrorf("retention.at", "%q is not a time of day: write HH:MM in UTC, e.g. 02:00", s)
	}
	return DailyAt{Hour: t.Hour(), Minute: t.Minute()}, nil
}

// Slot returns the latest occurrence of the time of day at or before now.
func (a DailyAt) Slot(now time.Time) time.Time {
	now = now.UTC()
	s := time.Date(now.Year(), now.Month(), now.Day(), a.Hour, a.Minute, 0, 0, time.UTC)
	if s.After(now) {
		s = s.AddDate(0, 0, -1)
	}
	return s
}

// Due reports whether a run is due at now when the last one completed at
// last: when none completed since the latest slot. Missed days are caught
// up by one run, whenever a node is up again, not by matching the day.
func (a DailyAt) Due(last, now time.Time) bool { return last.Before(a.Slot(now)) }

// Scheduler runs the engine once a day across every node sharing a store.
type Scheduler struct {
	Engine *Engine
	Store  lethe.ScheduleStore
	At     DailyAt
	// Owner names this node in the lease. Defaults to host name and a
	// random suffix.
	Owner string
	// Lease is how long a claim lasts before another node may take over a
	// run whose node died; it is renewed while the run goes on. Defaults
	// to 10 minutes.
	Lease time.Duration
	// Every is how often the schedule is checked. Defaults to a minute.
	Every  time.Duration
	Clock  lethe.Clock
	Logger *slog.Logger

	mu       sync.Mutex
	running  bool
	progress *Progress
	last     *RetentionRun
}

// State is what this node's scheduler is doing: whether it runs retention
// now and how far it got, and the result of its last run. Other nodes'
// runs show in the schedule's lease and completion time in the store.
type State struct {
	Running  bool          `json:"running"`
	Progress *Progress     `json:"progress,omitempty"`
	LastRun  *RetentionRun `json:"last_run,omitempty"`
}

// State returns this node's retention state; safe for concurrent use.
func (s *Scheduler) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{Running: s.running, LastRun: s.last}
	if s.progress != nil {
		p := *s.progress
		st.Progress = &p
	}
	return st
}

// Run checks the schedule until ctx ends, running the engine when due.
func (s *Scheduler) Run(ctx context.Context) {
	every := cmp.Or(s.Every, time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.logger().Warn("retention schedule", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Scheduler) logger() *slog.Logger { return cmp.Or(s.Logger, slog.Default()) }

func (s *Scheduler) now() time.Time {
	if s.Clock != nil {
		return s.Clock.Now().UTC()
	}
	return time.Now().UTC()
}

// Tick runs the engine once if a run is due and this node gets the
// lease, and reports whether it ran.
func (s *Scheduler) Tick(ctx context.Context) (bool, error) {
	if s.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		s.Owner = cmp.Or(host, "node") + "-" + hex.EncodeToString(b[:])
	}
	lease := cmp.Or(s.Lease, 10*time.Minute)
	now := s.now()
	sc, err := s.Store.ScheduleGet(ctx, ScheduleName)
	if err != nil && lethe.ErrorCode(err) != lethe.ENOTFOUND {
		return false, err
	}
	if !s.At.Due(sc.LastCompletedAt, now) {
		return false, nil
	}
	sc, held, err := s.Store.ScheduleClaim(ctx, ScheduleName, s.Owner, now, now.Add(lease))
	if err != nil || !held {
		return false, err
	}
	// Another node may have completed the run between the read and the
	// claim: the state under the lease is the one that counts.
	if !s.At.Due(sc.LastCompletedAt, now) {
		return false, s.Store.ScheduleRelease(ctx, ScheduleName, s.Owner)
	}
	// Renew the lease while the run goes on, so that a long run is not
	// taken over; a node that dies stops renewing and another takes over
	// once the lease expires.
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				n := s.now()
				if _, held, err := s.Store.ScheduleClaim(rctx, ScheduleName, s.Owner, n, n.Add(lease)); err == nil && !held {
					stop() // another node took over: stop between batches
					return
				}
			}
		}
	}()
	s.mu.Lock()
	s.running, s.progress = true, nil
	s.mu.Unlock()
	run, err := s.Engine.Run(rctx, RunParams{Progress: func(p Progress) {
		s.mu.Lock()
		s.progress = &p
		s.mu.Unlock()
	}})
	s.mu.Lock()
	s.running, s.progress = false, nil
	if run != nil {
		s.last = run
	}
	s.mu.Unlock()
	if err != nil {
		_ = s.Store.ScheduleRelease(context.WithoutCancel(ctx), ScheduleName, s.Owner)
		return true, err
	}
	s.logger().Info("retention run", "rows", run.Done, "collections", len(run.Collections), "failed", run.Failed)
	if err := s.Store.ScheduleComplete(context.WithoutCancel(ctx), ScheduleName, s.Owner, s.now()); err != nil {
		return true, fmt.Errorf("record retention run: %w", err)
	}
	return true, nil
}
