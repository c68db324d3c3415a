package sqlite

import (
	"context"
	"database/sql"
	"time"
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
	for {
		select {
		case <-s.ckptQuit:
			return
		case <-t.C:
		}
		n := s.commits.Load()
		if n == seen {
			continue
		}
		seen = n
		_ = s.checkpointOnce()
	}
}

// checkpointOnce copies the log into the database file, and when the log
// has grown past checkpointRestart pages, copies what was committed in
// the meantime under the write lock, so that the next write starts the
// log over.
func (s *Store) checkpointOnce() error {
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
