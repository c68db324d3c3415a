package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/lethe-privacy/lethe"
)

const (
	sqlEventInsert = `INSERT INTO consent_events
 (id, subject_ref, purpose, granted, policy_version, mechanism, jurisdiction, source, recorded_at, evidence)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	// The state moves only to a newer event: later RecordedAt, or the same
	// instant and a greater id (uuid compares bytewise: UUIDv7 time order).
	sqlStateUpsert = `INSERT INTO consent_state AS cs
 (subject_ref, purpose, granted, policy_version, event_id, recorded_at)
 VALUES ($1, $2, $3, $4, $5, $6)
 ON CONFLICT (subject_ref, purpose) DO UPDATE SET
   granted = excluded.granted, policy_version = excluded.policy_version,
   event_id = excluded.event_id, recorded_at = excluded.recorded_at
 WHERE (excluded.recorded_at, excluded.event_id) > (cs.recorded_at, cs.event_id)`
	sqlNotify = `SELECT pg_notify($1, $2)`
)

// ConsentAppend appends the events, moves each (subject, purpose) state to
// its event unless the state already holds a newer one, appends the audit
// records and notifies listeners of the changed subjects, in one
// transaction and one pipelined round trip: on any error nothing is
// written. A duplicate event id is ECONFLICT.
func (s *Store) ConsentAppend(ctx context.Context, events []lethe.ConsentEvent, records []lethe.AuditRecord) ([]lethe.AuditEntry, error) {
	if err := validateEvents(events); err != nil {
		return nil, err
	}
	if len(events) == 0 && len(records) == 0 {
		return nil, nil
	}
	return s.appendWith(ctx, "append consent events", records, func(_ txConn, b *batch) error {
		for _, e := range events {
			b.queue("append consent event", "a consent event with this id is already recorded", nil, sqlEventInsert,
				[16]byte(e.ID), e.SubjectRef[:], e.Purpose, e.Granted, e.PolicyVersion, e.Mechanism,
				string(e.Jurisdiction), e.Source, ts(e.RecordedAt), nilIfEmpty(e.Evidence))
		}
		// Upsert in (subject, purpose) order: concurrent batches touching the
		// same states then lock them in the same order and cannot deadlock,
		// even without the audit head lock. The outcome does not depend on
		// the order: the newest event wins whatever came first.
		order := make([]int, len(events))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			if c := bytes.Compare(events[a].SubjectRef[:], events[b].SubjectRef[:]); c != 0 {
				return c
			}
			switch {
			case events[a].Purpose < events[b].Purpose:
				return -1
			case events[a].Purpose > events[b].Purpose:
				return 1
			}
			return 0
		})
		var notified []lethe.SubjectRef
		for _, i := range order {
			e := events[i]
			b.queue("update consent state", "", nil, sqlStateUpsert,
				e.SubjectRef[:], e.Purpose, e.Granted, e.PolicyVersion, [16]byte(e.ID), ts(e.RecordedAt))
			if len(notified) == 0 || notified[len(notified)-1] != e.SubjectRef {
				notified = append(notified, e.SubjectRef)
				b.queue("notify consent change", "", nil, sqlNotify, s.channel, e.SubjectRef.String())
			}
		}
		return nil
	})
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
