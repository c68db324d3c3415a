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
