package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-privacy/lethe"
)

// RestrictionAdd restricts each subject not restricted already, with its
// audit record, and notifies listeners of the subjects it restricted, in
// one transaction.
func (s *Store) RestrictionAdd(ctx context.Context, rs []lethe.SubjectRestriction, audit []lethe.AuditRecord) (int, error) {
	if err := lethe.ValidateRestrictions(rs, audit); err != nil {
		return 0, err
	}
	return s.controlWrite(ctx, "restrict processing", audit, func(tx txConn, i int) (lethe.SubjectRef, bool, error) {
		r := rs[i]
		// A standing restriction is left alone; a lifted one starts again.
		ct, err := tx.Exec(ctx, `INSERT INTO subject_restrictions AS sr (subject_ref, request_id, actor, restricted_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (subject_ref) DO UPDATE SET request_id = excluded.request_id, actor = excluded.actor, restricted_at = excluded.restricted_at,
  lifted_at = NULL, lift_request_id = '', lift_actor = '', lift_notice = '', lift_out_of_band = ''
WHERE sr.lifted_at IS NOT NULL`, r.SubjectRef[:], r.RequestID, r.Actor, ts(r.RestrictedAt))
		return r.SubjectRef, err == nil && ct.RowsAffected() > 0, err
	})
}

// RestrictionLift records lift on the standing restrictions of refs, and
// notifies listeners of the subjects it lifted.
func (s *Store) RestrictionLift(ctx context.Context, refs []lethe.SubjectRef, lift lethe.RestrictionLift, audit []lethe.AuditRecord) (int, error) {
	if err := lethe.ValidateLift(refs, lift, audit); err != nil {
		return 0, err
	}
	return s.controlWrite(ctx, "lift restriction", audit, func(tx txConn, i int) (lethe.SubjectRef, bool, error) {
		ct, err := tx.Exec(ctx, `UPDATE subject_restrictions SET lifted_at = $1, lift_request_id = $2, lift_actor = $3, lift_notice = $4, lift_out_of_band = $5
WHERE subject_ref = $6 AND lifted_at IS NULL`, ts(lift.LiftedAt), lift.RequestID, lift.Actor, lift.Notice, lift.OutOfBand, refs[i][:])
		return refs[i], err == nil && ct.RowsAffected() > 0, err
	})
}

// ObjectionAdd records the objections not recorded already.
func (s *Store) ObjectionAdd(ctx context.Context, objs []lethe.SubjectObjection, audit []lethe.AuditRecord) (int, error) {
	if err := lethe.ValidateObjections(objs, audit); err != nil {
		return 0, err
	}
	return s.controlWrite(ctx, "record objection", audit, func(tx txConn, i int) (lethe.SubjectRef, bool, error) {
		o := objs[i]
		ct, err := tx.Exec(ctx, `INSERT INTO subject_objections (subject_ref, purpose, request_id, actor, objected_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (subject_ref, purpose) DO NOTHING`, o.SubjectRef[:], o.Purpose, o.RequestID, o.Actor, ts(o.ObjectedAt))
		return o.SubjectRef, err == nil && ct.RowsAffected() > 0, err
	})
}

// ObjectionOverride records the override on an objection.
func (s *Store) ObjectionOverride(ctx context.Context, ref lethe.SubjectRef, purpose string, o lethe.ObjectionOverride, rec lethe.AuditRecord) error {
	if err := lethe.ValidateOverride(ref, purpose, o); err != nil {
		return err
	}
	_, err := s.controlWrite(ctx, "override objection", []lethe.AuditRecord{rec}, func(tx txConn, _ int) (lethe.SubjectRef, bool, error) {
		ct, err := tx.Exec(ctx, `UPDATE subject_objections SET overridden_at = $1, override_actor = $2, override_grounds = $3
WHERE subject_ref = $4 AND purpose = $5`, ts(o.OverriddenAt), o.Actor, o.Grounds, ref[:], purpose)
		if err == nil && ct.RowsAffected() == 0 {
			err = lethe.Errorf(lethe.ENOTFOUND, "the subject has not objected to purpose %q", purpose)
		}
		return ref, err == nil, err
	})
	return err
}

// controlWrite runs one change per audit record in one transaction, and
// appends the records of the changes that changed something, with a
// notification per changed subject.
func (s *Store) controlWrite(ctx context.Context, op string, audit []lethe.AuditRecord, fn func(tx txConn, i int) (lethe.SubjectRef, bool, error)) (int, error) {
	n := 0
	_, err := s.appendDecided(ctx, op, true, func(tx txConn, b *batch) ([]lethe.AuditRecord, error) {
		var keep []lethe.AuditRecord
		notified := map[lethe.SubjectRef]bool{}
		for i := range audit {
			ref, ok, err := fn(tx, i)
			if err != nil {
				return nil, translate(op, err)
			}
			if !ok {
				continue
			}
			n++
			keep = append(keep, audit[i])
			if !notified[ref] {
				notified[ref] = true
				// Consent caches drop the subject; key caches ignore it.
				b.queue("notify subject control change", "", nil, sqlNotify, s.channel, consentPayload+ref.String())
			}
		}
		return keep, nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// SubjectControls returns the subject's restriction and objections.
func (s *Store) SubjectControls(ctx context.Context, ref lethe.SubjectRef) (lethe.SubjectControls, error) {
	var c lethe.SubjectControls
	var (
		r      lethe.SubjectRestriction
		lifted *time.Time
		l      lethe.RestrictionLift
	)
	err := s.pool.QueryRow(ctx, `SELECT request_id, actor, restricted_at, lifted_at, lift_request_id, lift_actor, lift_notice, lift_out_of_band
FROM subject_restrictions WHERE subject_ref = $1`, ref[:]).Scan(&r.RequestID, &r.Actor, &r.RestrictedAt, &lifted, &l.RequestID, &l.Actor, &l.Notice, &l.OutOfBand)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return c, translate("read restriction", err)
	default:
		r.SubjectRef, r.RestrictedAt = ref, r.RestrictedAt.UTC()
		if lifted != nil {
			l.LiftedAt = lifted.UTC()
			r.Lift = &l
		}
		c.Restriction = &r
	}
	rows, err := s.pool.Query(ctx, `SELECT purpose, request_id, actor, objected_at, overridden_at, override_actor, override_grounds
FROM subject_objections WHERE subject_ref = $1 ORDER BY purpose`, ref[:])
	if err != nil {
		return c, translate("read objections", err)
	}
	defer rows.Close()
	for rows.Next() {
		o := lethe.SubjectObjection{SubjectRef: ref}
		var (
			overridden *time.Time
			ov         lethe.ObjectionOverride
		)
		if err := rows.Scan(&o.Purpose, &o.RequestID, &o.Actor, &o.ObjectedAt, &overridden, &ov.Actor, &ov.Grounds); err != nil {
			return c, fmt.Errorf("read objections: %w", err)
		}
		o.ObjectedAt = o.ObjectedAt.UTC()
		if overridden != nil {
			ov.OverriddenAt = overridden.UTC()
			o.Override = &ov
		}
		c.Objections = append(c.Objections, o)
	}
	return c, translate("read objections", rows.Err())
}
