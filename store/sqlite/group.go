package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"runtime"

	"github.com/lethe-privacy/lethe"
)

// Writes go through one goroutine that owns the writer connection and
// commits them in groups: while one transaction commits, the writes that
// queue up behind it are run together in the next transaction. SQLite
// commits one transaction at a time whatever we do; grouping turns N
// commits (N write-ahead-log appends of the same hot pages: the right edge
// of the event and audit tables, the tree hashes, the audit head) into one,
// which is what lets concurrent consent appends scale.
//
// Every write still sees exactly the all-or-nothing outcome of its own
// transaction: it is acknowledged only after the group committed, and a
// failed commit fails every write of the group. A write that fails inside
// a group rolls the whole group back, and every write of it is then run
// again alone, so that each gets its own outcome. (A SAVEPOINT per write
// would isolate failures without the rerun, but it costs two statements
// and a copy of every page the write touches again, on every write, to
// spare work on a failure that happens almost never.) A write that refuses
// before changing anything (see refuse) fails alone without disturbing the
// group.

// A write that finds no other write in flight runs at once in its
// caller's goroutine, alone.

// maxGroup bounds how many writes share a transaction (and so how long the
// write lock is held at once).
const maxGroup = 128

type writeJob struct {
	ctx  context.Context
	op   string
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error
	// answered is only touched by the writer goroutine.
	answered bool
}

func (j *writeJob) answer(err error) {
	j.answered = true
	j.done <- err
}

func (s *Store) startWriter() {
	s.jobs = make(chan *writeJob, maxGroup)
	s.quit = make(chan struct{})
	s.done = make(chan struct{})
	go s.writeLoop()
}

func (s *Store) stopWriter() {
	if s.quit == nil {
		return
	}
	// Under the lock no write is half-way into the queue, and none can
	// enter once closing is set: the loop then fails what is queued.
	s.closing.Lock()
	if !s.isClosed {
		s.isClosed = true
		close(s.quit)
	}
	s.closing.Unlock()
	<-s.done
}

var errClosed = &lethe.Error{Code: lethe.EUNAVAILABLE, Message: "the SQLite store is closed"}

// write runs fn in a write transaction (BEGIN IMMEDIATE on the single
// writer connection), possibly grouped with other writes, and returns once
// that transaction committed or fn's changes were rolled back. fn must use
// the context it is given (not the caller's: in a group, cancelling one
// statement would roll back everyone's transaction), must not keep tx, and
// must return errors already translated.
func (s *Store) write(ctx context.Context, op string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &writeJob{ctx: ctx, op: op, fn: fn, done: make(chan error, 1)}
	s.closing.RLock()
	if s.isClosed {
		s.closing.RUnlock()
		return errClosed
	}
	// Fast path: no other write is in flight, so run here and spare the
	// hand-off to the writer goroutine. Close waits for us (we hold
	// closing). "In flight", not merely "nobody is writing": when a group
	// commits, its callers are answered at once and queue their next
	// writes at about the same time; the first of them back must not slip
	// in alone while the writer goroutine gathers the others (that would
	// turn every other commit into a lone one).
	inflight := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	if inflight == 1 && len(s.jobs) == 0 && s.writing.TryLock() {
		if len(s.jobs) == 0 {
			s.runAlone(j)
			s.writing.Unlock()
			s.closing.RUnlock()
			return <-j.done
		}
		s.writing.Unlock()
	}
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		s.closing.RUnlock()
		return ctx.Err()
	}
	s.closing.RUnlock()
	// Once queued, the outcome must be awaited even if ctx ends: the
	// write may be committing.
	return <-j.done
}

func (s *Store) writeLoop() {
	defer close(s.done)
	group := make([]*writeJob, 0, maxGroup)
	for {
		group = group[:0]
		select {
		case j := <-s.jobs:
			group = append(group, j)
		case <-s.quit:
			s.drain()
			return
		}
		// Callers whose writes were just acknowledged are typically about
		// to queue their next one; letting them run first (a no-op when
		// nothing else is runnable) turns a run of lone commits into one
		// group.
		runtime.Gosched()
	fill:
		for len(group) < maxGroup {
			select {
			case j := <-s.jobs:
				group = append(group, j)
			default:
				break fill
			}
		}
		s.writing.Lock()
		s.runGroup(group)
		s.writing.Unlock()
	}
}

// drain fails the writes still queued at Close.
func (s *Store) drain() {
	for {
		select {
		case j := <-s.jobs:
			j.answer(errClosed)
		default:
			return
		}
	}
}

func (s *Store) runGroup(group []*writeJob) {
	// Drop writes whose callers gave up before they started.
	live := group[:0]
	for _, j := range group {
		if err := j.ctx.Err(); err != nil {
			j.answer(err)
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	if len(live) == 1 {
		s.runAlone(live[0])
		return
	}
	// Statements run without the callers' cancellation: interrupting a
	// statement would roll back the whole shared transaction. A write is
	// microseconds; callers' contexts are honoured before it starts.
	bg := context.Background()
	tx, err := s.writer.BeginTx(bg, nil)
	if err != nil {
		for _, j := range live {
			j.answer(translate(j.op, err))
		}
		return
	}
	s.txAudit.reset()
	ok := make([]*writeJob, 0, len(live))
	for _, j := range live {
		err := j.fn(bg, tx)
		var r refusal
		switch {
		case err == nil:
			ok = append(ok, j)
		case errors.As(err, &r):
			j.answer(r.err)
		default:
			// Part of j may be written: start over, one write at a time.
			_ = tx.Rollback()
			for _, j := range live {
				if !j.answered {
					s.runAlone(j)
				}
			}
			return
		}
	}
	err = tx.Commit()
	if err == nil {
		s.commits.Add(1)
	}
	for _, j := range ok {
		if err != nil {
			j.answer(translate(j.op, err))
		} else {
			j.answer(nil)
		}
	}
}

// refusal is the error of a write that refused before changing anything:
// the group it ran in goes on without it.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }

// refuse marks err as the outcome of a write that has changed nothing in
// its transaction (nor in the transaction's audit state).
func refuse(err error) error { return refusal{err} }

func (s *Store) runAlone(j *writeJob) {
	if err := j.ctx.Err(); err != nil {
		j.answer(err)
		return
	}
	tx, err := s.writer.BeginTx(j.ctx, nil)
	if err != nil {
		j.answer(translate(j.op, err))
		return
	}
	s.txAudit.reset()
	// The statements run without the caller's cancellation, as in a
	// group: a write is microseconds once it holds the lock, and the
	// driver watches a cancellable context with a goroutine per statement
	// (several per consent append). The lock wait above honours it.
	if err := j.fn(context.WithoutCancel(j.ctx), tx); err != nil {
		_ = tx.Rollback()
		var r refusal
		if errors.As(err, &r) {
			err = r.err
		}
		j.answer(err)
		return
	}
	if err := tx.Commit(); err != nil {
		j.answer(translate(j.op, err))
		return
	}
	s.commits.Add(1)
	j.answer(nil)
}
