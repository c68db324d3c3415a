package sqlite

import "context"

// MigrateDownTo rolls the schema back to version, for tests of a
// migration on data written before it.
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	p, err := s.migrations()
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

// CheckpointOnce runs one round of the background checkpointer.
func (s *Store) CheckpointOnce() error { return s.checkpointOnce() }

// StopCheckpointer stops the background checkpointer, for tests that
// drive it themselves.
func (s *Store) StopCheckpointer() { s.stopCheckpointer() }

// BreakCheckpoints closes the checkpointer's connection, so that every
// later round fails.
func (s *Store) BreakCheckpoints() { _ = s.ckpt.Close() }
