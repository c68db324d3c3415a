package sqlite

import (
	"context"
	"database/sql"

	"time"

	"github.com/lethe-privacy/lethe"
)

// ScheduleClaim takes or extends the lease in one conditional UPDATE, so
// that of two nodes claiming at once exactly one gets it.
func (s *Store) ScheduleClaim(ctx context.Context, name, owner string, now, until time.Time) (lethe.Schedule, bool, error) {
	if name == "" || owner == "" {
		return lethe.Schedule{}, false, lethe.Errorf(lethe.EINVALID, "a schedule claim needs a name and an owner")
	}
	var held bool
	err := s.write(ctx, "claim schedule", func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO schedules (name) VALUES (?) ON CONFLICT (name) DO NOTHING`, name); err != nil {
			return translate("claim schedule", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE schedules SET lease_owner = ?, lease_until = ?
WHERE name = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until <= ?)`, owner, micros(until), name, owner, micros(now))
		if err != nil {
			return translate("claim schedule", err)
		}
		n, _ := res.RowsAffected()
		held = n == 1
		return nil
	})
	if err != nil {
		return lethe.Schedule{}, false, err
	}
	sc, err := s.ScheduleGet(ctx, name)
	return sc, held, err
}

// ScheduleComplete records the completion and frees the lease.
func (s *Store) ScheduleComplete(ctx context.Context, name, owner string, at time.Time) error {
	return s.write(ctx, "complete schedule", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE schedules SET last_completed_at = ?, lease_owner = NULL, lease_until = NULL WHERE name = ? AND lease_owner = ?`, micros(at), name, owner)
		if err != nil {
			return translate("complete schedule", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return lethe.Errorf(lethe.ECONFLICT, "the lease of schedule %s is no longer held by %s", name, owner)
		}
		return nil
	})
}

// ScheduleRelease frees owner's lease.
func (s *Store) ScheduleRelease(ctx context.Context, name, owner string) error {
	return s.write(ctx, "release schedule", func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE schedules SET lease_owner = NULL, lease_until = NULL WHERE name = ? AND lease_owner = ?`, name, owner)
		return translate("release schedule", err)
	})
}

// ScheduleGet reads one schedule.
func (s *Store) ScheduleGet(ctx context.Context, name string) (lethe.Schedule, error) {
	var (
		done, until sql.NullInt64
		owner       sql.NullString
	)
	err := s.reader.QueryRowContext(ctx, `SELECT last_completed_at, lease_owner, lease_until FROM schedules WHERE name = ?`, name).Scan(&done, &owner, &until)
	if err == sql.ErrNoRows {
		return lethe.Schedule{}, lethe.Errorf(lethe.ENOTFOUND, "schedule %s has never run", name)
	}
	if err != nil {
		return lethe.Schedule{}, translate("read schedule", err)
	}
	sc := lethe.Schedule{Name: name, LeaseOwner: owner.String}
	if done.Valid {
		sc.LastCompletedAt = fromMicros(done.Int64)
	}
	if until.Valid {
		sc.LeaseUntil = fromMicros(until.Int64)
	}
	return sc, nil
}
