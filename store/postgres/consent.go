package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/lethe-privacy/lethe"
)

const (
	// The events of a transaction (a group of appends) in one statement,
	// as parallel arrays.
	sqlEventsInsert = `INSERT INTO consent_events
 (id, subject_ref, purpose, granted, policy_version, mechanism, jurisdiction, source, recorded_at, evidence)
 SELECT * FROM unnest($1::uuid[], $2::bytea[], $3::text[], $4::bool[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::bytea[])`
	// The state moves only to a newer event: later RecordedAt, or the same
	// instant and a greater id (uuid compares bytewise: UUIDv7 time order).
	// One row per (subject, purpose), in the order given (see
	// consentTxOnce).
	sqlStatesUpsert = `INSERT INTO consent_state AS cs
 (subject_ref, purpose, granted, policy_version, event_id, recorded_at)
 SELECT s, p, g, v, e, r
 FROM unnest($1::bytea[], $2::text[], $3::bool[], $4::text[], $5::uuid[], $6::timestamptz[]) WITH ORDINALITY AS u(s, p, g, v, e, r, n)
 ORDER BY n
 ON CONFLICT (subject_ref, purpose) DO UPDATE SET
   granted = excluded.granted, policy_version = excluded.policy_version,
   event_id = excluded.event_id, recorded_at = excluded.recorded_at
 WHERE (excluded.recorded_at, excluded.event_id) > (cs.recorded_at, cs.event_id)`
	// One notification per payload.
	sqlNotifyEach = `SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x`
	sqlNotify     = `SELECT pg_notify($1, $2)`
	// A key that comes with consent events is stored only as the
	// generation right after the newest one, and only while the subject
	// has no active key (ON CONFLICT covers the partial unique index on
	// active keys and the primary key): otherwise nothing is inserted.
	sqlKeyAppend = `INSERT INTO subject_keys (subject_ref, generation, wrapped, created_at)
 SELECT $1, $2, $3, $4 WHERE (SELECT COALESCE(MAX(generation), 0) FROM subject_keys WHERE subject_ref = $1) = $2 - 1
 ON CONFLICT DO NOTHING`
)

// ConsentAppend appends the events, moves each (subject, purpose) state to
// its event unless the state already holds a newer one, appends the audit
// records and notifies listeners of the changed subjects, in one
// transaction: on any error nothing is written. A duplicate event id is
// ECONFLICT. newKey, when not nil, is stored in the same transaction as the
// subject's next generation; if the subject has an active key or that
// generation already, the append is ECONFLICT (see lethe.ConsentStore). A
// zero newKey.CreatedAt is set from the store's clock.
//
// Concurrent calls share transactions (see appendGroup): each still
// succeeds or fails on its own, and is acknowledged once its transaction
// committed.
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
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j := &appendJob{ctx: ctx, events: events, records: records, newKey: newKey}
	s.appends.run(j, s.consentTx)
	return j.entries, j.err
}

// keyExists is ConsentAppend's answer when its new key lost a race.
func keyExists() *lethe.Error {
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
	rows, err := s.pool.Query(ctx, `SELECT purpose, granted, policy_version, event_id, recorded_at
 FROM consent_state WHERE subject_ref = $1 ORDER BY purpose COLLATE "C"`, ref[:])
	if err != nil {
		return nil, translate("list consent state", err)
	}
	defer rows.Close()
	var out []lethe.ConsentState
	for rows.Next() {
		st := lethe.ConsentState{SubjectRef: ref}
		var (
			id [16]byte
			at time.Time
		)
		if err := rows.Scan(&st.Purpose, &st.Granted, &st.PolicyVersion, &id, &at); err != nil {
			return nil, translate("list consent state", err)
		}
		st.EventID, st.RecordedAt = uuid.UUID(id), at.UTC()
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
		rows pgx.Rows
		err  error
	)
	if purpose == "" {
		rows, err = s.pool.Query(ctx, `SELECT `+eventColumns+` FROM consent_events
 WHERE subject_ref = $1 ORDER BY recorded_at, id`, ref[:])
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+eventColumns+` FROM consent_events
 WHERE subject_ref = $1 AND purpose = $2 ORDER BY recorded_at, id`, ref[:], purpose)
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
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM consent_events WHERE id = $1`, [16]byte(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, lethe.Errorf(lethe.ENOTFOUND, "no consent event with id %s", id)
	}
	if err != nil {
		return e, translate("read consent event", err)
	}
	return e, nil
}

func scanEvent(r pgx.Row) (lethe.ConsentEvent, error) {
	var (
		e     lethe.ConsentEvent
		id    [16]byte
		ref   []byte
		juris string
		at    time.Time
	)
	if err := r.Scan(&id, &ref, &e.Purpose, &e.Granted, &e.PolicyVersion, &e.Mechanism, &juris, &e.Source, &at, &e.Evidence); err != nil {
		return e, err
	}
	if len(ref) != 32 {
		return e, fmt.Errorf("stored subject reference has %d bytes", len(ref))
	}
	e.ID, e.SubjectRef, e.Jurisdiction, e.RecordedAt = uuid.UUID(id), lethe.SubjectRef(ref), lethe.Jurisdiction(juris), at.UTC()
	if len(e.Evidence) == 0 {
		e.Evidence = nil
	}
	return e, nil
}
