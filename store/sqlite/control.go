package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/lethe-privacy/lethe"
)

// RestrictionAdd restricts each subject not restricted already, with its
// audit record, in one transaction.
func (s *Store) RestrictionAdd(ctx context.Context, rs []lethe.SubjectRestriction, audit []lethe.AuditRecord) (int, error) {
	if err := lethe.ValidateRestrictions(rs, audit); err != nil {
		return 0, err
	}
	return s.controlWrite(ctx, "restrict processing", audit, func(ctx context.Context, tx *sql.Tx, i int) (bool, error) {
		r := rs[i]
		// A standing restriction is left alone; a lifted one starts again.
		res, err := tx.ExecContext(ctx, `INSERT INTO subject_restrictions (subject_ref, request_id, actor, restricted_at) VALUES (?, ?, ?, ?)
ON CONFLICT (subject_ref) DO UPDATE SET request_id = excluded.request_id, actor = excluded.actor, restricted_at = excluded.restricted_at,
  lifted_at = NULL, lift_request_id = '', lift_actor = '', lift_notice = '', lift_out_of_band = ''
WHERE subject_restrictions.lifted_at IS NOT NULL`, r.SubjectRef[:], r.RequestID, r.Actor, micros(r.RestrictedAt))
		return changed(res, err)
	})
}

// RestrictionLift records lift on the standing restrictions of refs.
func (s *Store) RestrictionLift(ctx context.Context, refs []lethe.SubjectRef, lift lethe.RestrictionLift, audit []lethe.AuditRecord) (int, error) {
	if err := lethe.ValidateLift(refs, lift, audit); err != nil {
		return 0, err
	}
	return s.controlWrite(ctx, "lift restriction", audit, func(ctx context.Context, tx *sql.Tx, i int) (bool, error) {
		res, err := tx.ExecContext(ctx, `UPDATE subject_restrictions SET lifted_at = ?, lift_request_id = ?, lift_actor = ?, lift_notice = ?, lift_out_of_band = ?
WHERE subject_ref = ? AND lifted_at IS NULL`, micros(lift.LiftedAt), lift.RequestID, lift.Actor, lift.Notice, lift.OutOfBand, refs[i][:])
		return changed(res, err)
	})
}

// ObjectionAdd records the objections not recorded already.
func (s *Store) ObjectionAdd(ctx context.Context, objs []lethe.SubjectObjection, audit []lethe.AuditRecord) (int, error) {
	if err := lethe.ValidateObjections(objs, audit); err != nil {
		return 0, err
	}
	return s.controlWrite(ctx, "record objection", audit, func(ctx context.Context, tx *sql.Tx, i int) (bool, error) {
		o := objs[i]
		res, err := tx.ExecContext(ctx, `INSERT INTO subject_objections (subject_ref, purpose, request_id, actor, objected_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (subject_ref, purpose) DO NOTHING`, o.SubjectRef[:], o.Purpose, o.RequestID, o.Actor, micros(o.ObjectedAt))
		return changed(res, err)
	})
}

// ObjectionOverride records the override on an objection.
func (s *Store) ObjectionOverride(ctx context.Context, ref lethe.SubjectRef, purpose string, o lethe.ObjectionOverride, rec lethe.AuditRecord) error {
	if err := lethe.ValidateOverride(ref, purpose, o); err != nil {
		return err
	}
	_, err := s.controlWrite(ctx, "override objection", []lethe.AuditRecord{rec}, func(ctx context.Context, tx *sql.Tx, _ int) (bool, error) {
		res, err := tx.ExecContext(ctx, `UPDATE subject_objections SET overridden_at = ?, override_actor = ?, override_grounds = ?
WHERE subject_ref = ? AND purpose = ?`, micros(o.OverriddenAt), o.Actor, o.Grounds, ref[:], purpose)
		ok, err := changed(res, err)
		if err == nil && !ok {
			err = lethe.Errorf(lethe.ENOTFOUND, "the subject has not objected to purpose %q", purpose)
		}
		return ok, err
	})
	return err
}

// controlWrite runs one change per audit record in a write transaction
// and appends the records of the changes that changed something.
func (s *Store) controlWrite(ctx context.Context, op string, audit []lethe.AuditRecord, fn func(ctx context.Context, tx *sql.Tx, i int) (bool, error)) (int, error) {
	var (
		n      int
		hashes []lethe.AuditTreeHash
	)
	err := s.write(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		n = 0
		var keep []lethe.AuditRecord
		for i := range audit {
			ok, err := fn(ctx, tx, i)
			if err != nil {
				return translate(op, err)
			}
			if ok {
				n++
				keep = append(keep, audit[i])
			}
		}
		var err error
		_, hashes, err = s.appendAudit(ctx, tx, keep)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.cacheHashes(hashes)
	return n, nil
}

func changed(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// SubjectControls returns the subject's restriction and objections.
func (s *Store) SubjectControls(ctx context.Context, ref lethe.SubjectRef) (lethe.SubjectControls, error) {
	var c lethe.SubjectControls
	var (
		r      lethe.SubjectRestriction
		at     int64
		lifted sql.NullInt64
		l      lethe.RestrictionLift
	)
	err := s.reader.QueryRowContext(ctx, `SELECT request_id, actor, restricted_at, lifted_at, lift_request_id, lift_actor, lift_notice, lift_out_of_band
FROM subject_restrictions WHERE subject_ref = ?`, ref[:]).Scan(&r.RequestID, &r.Actor, &at, &lifted, &l.RequestID, &l.Actor, &l.Notice, &l.OutOfBand)
	switch {
	case err == sql.ErrNoRows:
	case err != nil:
		return c, translate("read restriction", err)
	default:
		r.SubjectRef, r.RestrictedAt = ref, fromMicros(at)
		if lifted.Valid {
			l.LiftedAt = fromMicros(lifted.Int64)
			r.Lift = &l
		}
		c.Restriction = &r
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT purpose, request_id, actor, objected_at, overridden_at, override_actor, override_grounds
FROM subject_objections WHERE subject_ref = ? ORDER BY purpose`, ref[:])
	if err != nil {
		return c, translate("read objections", err)
	}
	defer rows.Close()
	for rows.Next() {
		o := lethe.SubjectObjection{SubjectRef: ref}
		var (
			at         int64
			overridden sql.NullInt64
			ov         lethe.ObjectionOverride
		)
		if err := rows.Scan(&o.Purpose, &o.RequestID, &o.Actor, &at, &overridden, &ov.Actor, &ov.Grounds); err != nil {
			return c, fmt.Errorf("read objections: %w", err)
		}
		o.ObjectedAt = fromMicros(at)
		if overridden.Valid {
			ov.OverriddenAt = fromMicros(overridden.Int64)
			o.Override = &ov
		}
		c.Objections = append(c.Objections, o)
	}
	return c, translate("read objections", rows.Err())
}
