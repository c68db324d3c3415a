package sqlite

import (
	"context"
	"time"

	"github.com/lethe-privacy/lethe"
)

// SubjectChanges reports commits made to the database by other connections
// (another process, or another Store on the same file) as a zero
// SubjectRef: SQLite cannot say which subjects changed, so every change
// means "drop everything". It polls PRAGMA data_version every PollInterval.
//
// The poll runs on the writer connection on purpose: data_version only
// moves for commits by *other* connections, and this store's own writes all
// go through that connection, so they do not empty the caches of the very
// process that made them (those callers invalidate what they wrote). The
// channel is closed when ctx ends.
func (s *Store) SubjectChanges(ctx context.Context) (<-chan lethe.SubjectRef, error) {
	last, err := s.dataVersion(ctx)
	if err != nil {
		return nil, translate("watch sqlite changes", err)
	}
	// One slot is enough: a pending zero ref already means "drop
	// everything", a second one would add nothing.
	ch := make(chan lethe.SubjectRef, 1)
	go func() {
		defer close(ch)
		failing := false
		t := time.NewTicker(s.poll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			v, err := s.dataVersion(ctx)
			switch {
			case err != nil && ctx.Err() != nil:
				return
			case err != nil:
				// The database could not be read (busy, I/O): a change may
				// be missed, so drop everything once and keep polling; the
				// version read after recovery is compared with the last
				// good one.
				if failing {
					continue
				}
				failing = true
			case v == last:
				failing = false
				continue
			default:
				failing, last = false, v
			}
			select {
			case ch <- lethe.SubjectRef{}:
			default:
			}
		}
	}()
	return ch, nil
}

func (s *Store) dataVersion(ctx context.Context) (int64, error) {
	var v int64
	s.writing.Lock() // every use of the writer connection holds it
	defer s.writing.Unlock()
	err := s.writer.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v)
	return v, err
}
