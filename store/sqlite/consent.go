package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/lethe-privacy/lethe"
)

// ConsentAppend appends the events, moves each (subject, purpose) state to
// its event unless the state already holds a newer one, and appends the
// audit records, in one transaction: on any error nothing is written. A
// duplicate event id is ECONFLICT. newKey, when not nil, is stored in the
// same transaction as the subject's next generation; if the subject has
// an active key or that generation already, the append is ECONFLICT (see
// lethe.ConsentStore). A zero newKey.CreatedAt is set from the store's
// clock.
func (s *Store) ConsentAppend(ctx context.Context, events []lethe.ConsentEvent, records []lethe.AuditRecord, newKey *lethe.SubjectKey) ([]lethe.AuditEntry, error) {
	if err := validateEvents(events); err != nil {
		return nil, err
	}
	if err := validateNewKey(newKey, events); err != nil {
		return nil, err
	}
	if len(events) == 0 && len(records) == 0 {
		return nil, nil
	}
	var (
		entries []lethe.AuditEntry
		hashes  []lethe.AuditTreeHash
	)
	err := s.write(ctx, "append consent events", func(ctx context.Context, tx *sql.Tx) error {
		if newKey != nil {
			created := newKey.CreatedAt
			if created.IsZero() {
				created = s.clock.Now()
			}
			res, err := tx.StmtContext(ctx, s.st.keyAppend).ExecContext(ctx, newKey.SubjectRef[:], int64(newKey.Generation), newKey.Wrapped, micros(created))
			if err != nil {
				return translate("store subject key", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return translate("store subject key", err)
			} else if n == 0 {
				return refuse(keyExists())
			}
		}
		if len(events) > 0 {
			ins := tx.StmtContext(ctx, s.st.eventInsert)
			up := tx.StmtContext(ctx, s.st.stateUpsert)
			for _, e := range events {
				at := micros(e.RecordedAt)
				if _, err := ins.ExecContext(ctx, e.ID[:], e.SubjectRef[:], e.Purpose, e.Granted, e.PolicyVersion,
					e.Mechanism, string(e.Jurisdiction), e.Source, at, nilIfEmpty(e.Evidence)); err != nil {
					return conflict("append consent event", "a consent event with this id is already recorded", err)
				}
				if _, err := up.ExecContext(ctx, e.SubjectRef[:], e.Purpose, e.Granted, e.PolicyVersion, e.ID[:], at); err != nil {
					return translate("update consent state", err)
				}
			}
		}
		var err error
		entries, hashes, err = s.appendAudit(ctx, tx, records)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cacheHashes(hashes)
	return entries, nil
}

// keyExists is ConsentAppend's answer when its new key lost a race.
func keyExists() error {
	return lethe.Errorf(lethe.ECONFLICT, "the subject's data key was created concurrently (or the new key is not the next generation); seal the evidence again with the stored key")
}

// validateNewKey checks the key that comes with consent events.
func validateNewKey(k *lethe.SubjectKey, events []lethe.ConsentEvent) error {
	if k == nil {
		return nil
	}
	switch {
	case k.SubjectRef.IsZero():
		return lethe.FieldErrorf("new_key.subject_ref", "a subject key needs a subject reference")
	case len(k.Wrapped) == 0:
		return lethe.FieldErrorf("new_key.wrapped", "a subject key needs its wrapped key material")
	case k.Generation == 0:
		return lethe.FieldErrorf("new_key.generation", "a new subject key needs its generation (1 or the one after the newest)")
	}
	for i, e := range events {
		if e.SubjectRef != k.SubjectRef {
			return lethe.FieldErrorf(fmt.Sprintf("events[%d].subject_ref", i), "every event must be for the subject of the new key")
		}
	}
	return nil
}

func validateEvents(events []lethe.ConsentEvent) error {
	for i, e := range events {
		path := fmt.Sprintf("events[%d]", i)
		switch {
		case e.ID == uuid.Nil:
			return lethe.FieldErrorf(path+".id", "a consent event needs an id")
		case e.SubjectRef.IsZero():
			return lethe.FieldErrorf(path+".subject_ref", "a consent event needs a subject reference")
		case e.Purpose == "":
			return lethe.FieldErrorf(path+".purpose", "a consent event needs a purpose")
		case e.RecordedAt.IsZero():
			return lethe.FieldErrorf(path+".recorded_at", "a consent event needs its recording time")
		}
	}
	return nil
}

// ConsentStateList returns the current state of every purpose the subject
// has an event for, sorted by purpose.
func (s *Store) ConsentStateList(ctx context.Context, ref lethe.SubjectRef) ([]lethe.ConsentState, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT purpose, granted, policy_version, event_id, recorded_at
 FROM consent_state WHERE subject_ref = ? ORDER BY purpose`, ref[:])
	if err != nil {
		return nil, translate("list consent state", err)
	}
	defer rows.Close()
	var out []lethe.ConsentState
	for rows.Next() {
		st := lethe.ConsentState{SubjectRef: ref}
		var (
			id []byte
			at int64
		)
		if err := rows.Scan(&st.Purpose, &st.Granted, &st.PolicyVersion, &id, &at); err != nil {
			return nil, translate("list consent state", err)
		}
		if st.EventID, err = uuid.FromBytes(id); err != nil {
			return nil, fmt.Errorf("list consent state: %w", err)
		}
		st.RecordedAt = fromMicros(at)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list consent state", err)
	}
	return out, nil
}

const eventColumns = `id, subject_ref, purpose, granted, policy_version, mechanism, jurisdiction, source, recorded_at, evidence`

// ConsentHistory returns the subject's events oldest first (by RecordedAt,
// then id); purpose "" means every purpose.
func (s *Store) ConsentHistory(ctx context.Context, ref lethe.SubjectRef, purpose string) ([]lethe.ConsentEvent, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if purpose == "" {
		rows, err = s.reader.QueryContext(ctx, `SELECT `+eventColumns+` FROM consent_events
 WHERE subject_ref = ? ORDER BY recorded_at, id`, ref[:])
	} else {
		rows, err = s.reader.QueryContext(ctx, `SELECT `+eventColumns+` FROM consent_events
 WHERE subject_ref = ? AND purpose = ? ORDER BY recorded_at, id`, ref[:], purpose)
	}
	if err != nil {
		return nil, translate("read consent history", err)
	}
	defer rows.Close()
	var out []lethe.ConsentEvent
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("read consent history: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("read consent history", err)
	}
	return out, nil
}

// ConsentEventGet returns one event (ENOTFOUND if absent).
func (s *Store) ConsentEventGet(ctx context.Context, id uuid.UUID) (lethe.ConsentEvent, error) {
	e, err := scanEvent(s.reader.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM consent_events WHERE id = ?`, id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return e, lethe.Errorf(lethe.ENOTFOUND, "no consent event with id %s", id)
	}
	if err != nil {
		return e, translate("read consent event", err)
	}
	return e, nil
}

func scanEvent(r scanner) (lethe.ConsentEvent, error) {
	var (
		e       lethe.ConsentEvent
		id, ref []byte
		juris   string
		at      int64
	)
	if err := r.Scan(&id, &ref, &e.Purpose, &e.Granted, &e.PolicyVersion, &e.Mechanism, &juris, &e.Source, &at, &e.Evidence); err != nil {
		return e, err
	}
	var err error
	if e.ID, err = uuid.FromBytes(id); err != nil {
		return e, err
	}
	if len(ref) != 32 {
		return e, fmt.Errorf("stored subject reference has %d bytes", len(ref))
	}
	e.SubjectRef = lethe.SubjectRef(ref)
	e.Jurisdiction = lethe.Jurisdiction(juris)
	e.RecordedAt = fromMicros(at)
	if len(e.Evidence) == 0 {
		e.Evidence = nil
	}
	return e, nil
}
