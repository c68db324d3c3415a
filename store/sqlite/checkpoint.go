package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/lethe-privacy/lethe"
)

// Checkpoints: SQLite copies the write-ahead log back into the database
// file in a "checkpoint", by default inside the commit that takes the log
// past 1,000 pages. That commit then copies and, with synchronous=FULL,
// fsyncs the database file before its caller hears back: one append in a
// hundred or so waited for the copying of everyone's pages. The store
// checkpoints in the background instead, on a connection of its own,
// while the writer goes on (WAL lets both run at once); the writer's own
// automatic checkpoint stays as a backstop at a larger size.
//
// A checkpoint running alongside the writer can fall behind it: the log
// is reused from its start only by a writer that finds every page of it
// copied, so under a steady stream of appends it would grow without end.
// When the log has grown past checkpointRestart pages, the checkpointer
// therefore copies the last few pages again while holding the write lock
// (a few pages, the bulk was copied unlocked), and the next write starts
// the log over.
const (
	checkpointEvery   = 50 * time.Millisecond
	checkpointIdle    = 20    // ticks: a round this often even without commits of ours (other processes' commits)
	checkpointRestart = 1000  // pages in the log before a catch-up under the write lock
	writerAutoPages   = 10000 // the writer's own automatic checkpoint, a backstop
)

func (s *Store) startCheckpointer(db *sql.DB) {
	s.ckpt = db
	s.ckptQuit = make(chan struct{})
	s.ckptDone = make(chan struct{})
	go s.checkpointLoop()
}

func (s *Store) stopCheckpointer() {
	if s.ckptQuit == nil {
		return
	}
	s.ckptStop.Do(func() { close(s.ckptQuit) })
	<-s.ckptDone
}

func (s *Store) checkpointLoop() {
	defer close(s.ckptDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var seen int64
	for tick := 1; ; tick++ {
		select {
		case <-s.ckptQuit:
			return
		case <-t.C:
		}
		n := s.commits.Load()
		if n == seen && tick%checkpointIdle != 0 {
			continue
		}
		seen = n
		err := s.checkpointOnce()
		if err != nil {
			s.ckptFailures.Add(1)
			s.ckptErr.Store(&err)
		} else {
			s.ckptFailures.Store(0)
		}
	}
}

// checkpointFailing is the error of the background checkpoint when it has
// failed checkpointAlarm times in a row (a disk error, say): the log then
// grows to the writer's backstop and commits pay for checkpoints again.
func (s *Store) checkpointFailing() error {
	if s.ckptFailures.Load() < checkpointAlarm {
		return nil
	}
	if err := s.ckptErr.Load(); err != nil {
		return *err
	}
	return nil
}

// checkpointAlarm is how many failed rounds in a row Ping reports.
const checkpointAlarm = 20

// checkpointOnce copies the log into the database file, and when the log
// has grown past checkpointRestart pages, copies what was committed in
// the meantime under the write lock, so that the next write starts the
// log over.
func (s *Store) checkpointOnce() error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	frames, err := s.checkpoint()
	if err != nil || frames < checkpointRestart {
		return err
	}
	s.writing.Lock()
	defer s.writing.Unlock()
	_, err = s.checkpoint()
	return err
}

// checkpoint runs a passive checkpoint (it never waits for readers or the
// writer) and returns how many pages the log holds.
func (s *Store) checkpoint() (int64, error) {
	var busy, frames, copied int64
	err := s.ckpt.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
	return frames, err
}

// truncateLog checkpoints the whole log into the database file and
// truncates it to nothing, so that pages rewritten since (a shredded key's
// material, zeroed by secure_delete in the database file) do not linger in
// the -wal file. Only one checkpoint runs at a time on a database, and a
// second one fails at once: it takes turns with the background rounds, and
// holds the write lock so that no commit refills the log meanwhile. A
// reader still on an old snapshot makes it wait (busy_timeout, writes
// wait too) and then report busy; it is tried once more.
func (s *Store) truncateLog(ctx context.Context) error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	s.writing.Lock()
	defer s.writing.Unlock()
	for attempt := 0; ; attempt++ {
		var busy, frames, copied int64
		err := s.writer.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &copied)
		if err != nil {
			return translate("truncate the write-ahead log", err)
		}
		if busy == 0 {
			return nil
		}
		if attempt == 1 {
			return lethe.Errorf(lethe.EUNAVAILABLE, "the write-ahead log could not be truncated: a reader kept an old snapshot open")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
