package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-privacy/lethe"
)

// ScheduleClaim takes or extends the lease in one conditional upsert, so
// that of two nodes claiming at once exactly one gets it.
func (s *Store) ScheduleClaim(ctx context.Context, name, owner string, now, until time.Time) (lethe.Schedule, bool, error) {
	if name == "" || owner == "" {
		return lethe.Schedule{}, false, lethe.Errorf(lethe.EINVALID, "a schedule claim needs a name and an owner")
	}
	ct, err := s.pool.Exec(ctx, `INSERT INTO schedules AS s (name, lease_owner, lease_until) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET lease_owner = EXCLUDED.lease_owner, lease_until = EXCLUDED.lease_until
WHERE s.lease_owner IS NULL OR s.lease_owner = $2 OR s.lease_until <= $4`, name, owner, ts(until), ts(now))
	if err != nil {
		return lethe.Schedule{}, false, translate("claim schedule", err)
	}
	sc, err := s.ScheduleGet(ctx, name)
	return sc, ct.RowsAffected() == 1, err
}

// ScheduleComplete records the completion and frees the lease.
func (s *Store) ScheduleComplete(ctx context.Context, name, owner string, at time.Time) error {
	ct, err := s.pool.Exec(ctx, `UPDATE schedules SET last_completed_at = $1, lease_owner = NULL, lease_until = NULL WHERE name = $2 AND lease_owner = $3`, ts(at), name, owner)
	if err != nil {
		return translate("complete schedule", err)
	}
	if ct.RowsAffected() != 1 {
		return lethe.Errorf(lethe.ECONFLICT, "the lease of schedule %s is no longer held by %s", name, owner)
	}
	return nil
}

// ScheduleRelease frees owner's lease.
func (s *Store) ScheduleRelease(ctx context.Context, name, owner string) error {
	_, err := s.pool.Exec(ctx, `UPDATE schedules SET lease_owner = NULL, lease_until = NULL WHERE name = $1 AND lease_owner = $2`, name, owner)
	return translate("release schedule", err)
}

// ScheduleGet reads one schedule.
func (s *Store) ScheduleGet(ctx context.Context, name string) (lethe.Schedule, error) {
	var (
		done, until *time.Time
		owner       *string
	)
	err := s.pool.QueryRow(ctx, `SELECT last_completed_at, lease_owner, lease_until FROM schedules WHERE name = $1`, name).Scan(&done, &owner, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return lethe.Schedule{}, lethe.Errorf(lethe.ENOTFOUND, "schedule %s has never run", name)
	}
	if err != nil {
		return lethe.Schedule{}, translate("read schedule", err)
	}
	sc := lethe.Schedule{Name: name}
	if owner != nil {
		sc.LeaseOwner = *owner
	}
	if done != nil {
		sc.LastCompletedAt = done.UTC()
	}
	if until != nil {
		sc.LeaseUntil = until.UTC()
	}
	return sc, nil
}
