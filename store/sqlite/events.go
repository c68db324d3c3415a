package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lethe-privacy/lethe"
)

const (
	subscriberEventColumns = `id, type, subject_ref, recipient, seq, created_at, data, identities`
	subscriptionColumns    = `name, next_seq, status, attempts, next_attempt_at, last_error, delivered, last_delivered_at, created_at, updated_at`
)

// EventRecord stores the events with their audit records, in one
// transaction; each event's seq is its record's.
func (s *Store) EventRecord(ctx context.Context, events []lethe.Event, audit []lethe.AuditRecord) error {
	if len(events) != len(audit) {
		return lethe.Errorf(lethe.EINVALID, "record events: one audit record per event is required")
	}
	if len(events) == 0 {
		return nil
	}
	var hashes []lethe.AuditTreeHash
	err := s.write(ctx, "record events", func(ctx context.Context, tx *sql.Tx) error {
		entries, h, err := s.appendAudit(ctx, tx, audit)
		if err != nil {
			return err
		}
		hashes = h
		for i, e := range events {
			if e.ID == "" {
				return lethe.FieldErrorf(fmt.Sprintf("events[%d].id", i), "an event needs an id")
			}
			var ref any
			if !e.SubjectRef.IsZero() {
				ref = e.SubjectRef[:]
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO events (`+subscriberEventColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				e.ID, string(e.Type), ref, e.Recipient, int64(entries[i].Seq), micros(e.CreatedAt), e.Data, nilIfEmpty(e.Identities)); err != nil {
				return conflict("record events", "an event with this id already exists", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.cacheHashes(hashes)
	return nil
}

// EventGet returns one event.
func (s *Store) EventGet(ctx context.Context, id string) (lethe.Event, error) {
	var (
		e       lethe.Event
		typ     string
		ref     []byte
		seq, at int64
		idents  []byte
	)
	err := s.reader.QueryRowContext(ctx, `SELECT `+subscriberEventColumns+` FROM events WHERE id = ?`, id).
		Scan(&e.ID, &typ, &ref, &e.Recipient, &seq, &at, &e.Data, &idents)
	if errors.Is(err, sql.ErrNoRows) {
		return e, lethe.Errorf(lethe.ENOTFOUND, "no event with this id")
	}
	if err != nil {
		return e, translate("read event", err)
	}
	if len(ref) == len(e.SubjectRef) {
		copy(e.SubjectRef[:], ref)
	}
	e.Type, e.Seq, e.CreatedAt = lethe.EventType(typ), uint64(seq), fromMicros(at)
	if len(idents) > 0 {
		e.Identities = idents
	}
	return e, nil
}

// EventPurgeIdentities drops delivered or expired identities.
func (s *Store) EventPurgeIdentities(ctx context.Context, seq uint64, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, "purge event identities", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE events SET identities = NULL WHERE identities IS NOT NULL AND (seq < ? OR created_at < ?)`,
			clampSeq(seq), micros(before))
		if err != nil {
			return translate("purge event identities", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// EventSubscriptionEnsure creates the missing subscriptions at cursor.
func (s *Store) EventSubscriptionEnsure(ctx context.Context, names []string, cursor uint64, now time.Time) error {
	if len(names) == 0 {
		return nil
	}
	return s.write(ctx, "create event subscriptions", func(ctx context.Context, tx *sql.Tx) error {
		for _, n := range names {
			if _, err := tx.ExecContext(ctx, `INSERT INTO event_subscriptions (name, next_seq, status, next_attempt_at, created_at, updated_at)
VALUES (?, ?, 'active', ?, ?, ?) ON CONFLICT (name) DO NOTHING`, n, clampSeq(cursor), micros(now), micros(now), micros(now)); err != nil {
				return translate("create event subscriptions", err)
			}
		}
		return nil
	})
}

// EventSubscriptionList returns every subscription by name.
func (s *Store) EventSubscriptionList(ctx context.Context) ([]lethe.EventSubscription, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+subscriptionColumns+` FROM event_subscriptions ORDER BY name`)
	if err != nil {
		return nil, translate("list event subscriptions", err)
	}
	defer rows.Close()
	var out []lethe.EventSubscription
	for rows.Next() {
		sub, err := scanSubscription(rows)
		if err != nil {
			return nil, translate("list event subscriptions", err)
		}
		out = append(out, sub)
	}
	return out, translate("list event subscriptions", rows.Err())
}

// EventSubscriptionClaim leases a due subscription. SQLite has one writer
// at a time, so the check and the lease cannot race another claim.
func (s *Store) EventSubscriptionClaim(ctx context.Context, name string, now time.Time, lease time.Duration) (lethe.EventSubscription, bool, error) {
	var (
		sub lethe.EventSubscription
		ok  bool
	)
	err := s.write(ctx, "claim event subscription", func(ctx context.Context, tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `UPDATE event_subscriptions SET lease_until = ?
WHERE name = ? AND status = 'active' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
RETURNING `+subscriptionColumns, micros(now.Add(lease)), name, micros(now), micros(now))
		var err error
		sub, err = scanSubscription(row)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return translate("claim event subscription", err)
		}
		ok = true
		return nil
	})
	return sub, ok, err
}

// EventSubscriptionUpdate stores the delivery state and ends the lease.
func (s *Store) EventSubscriptionUpdate(ctx context.Context, sub lethe.EventSubscription, audit []lethe.AuditRecord) error {
	var hashes []lethe.AuditTreeHash
	err := s.write(ctx, "update event subscription", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE event_subscriptions SET next_seq = ?, status = ?, attempts = ?, next_attempt_at = ?, last_error = ?,
delivered = ?, last_delivered_at = ?, updated_at = ?, lease_until = NULL WHERE name = ?`,
			clampSeq(sub.Cursor), string(sub.Status), sub.Attempts, micros(sub.NextAttemptAt), sub.LastError,
			clampSeq(sub.Delivered), nullMicros(sub.LastDeliveredAt), micros(sub.UpdatedAt), sub.Name)
		if err != nil {
			return translate("update event subscription", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return refuse(lethe.Errorf(lethe.ENOTFOUND, "no event subscription named %q", sub.Name))
		}
		_, hashes, err = s.appendAudit(ctx, tx, audit)
		return err
	})
	if err != nil {
		return err
	}
	s.cacheHashes(hashes)
	return nil
}

func scanSubscription(row interface{ Scan(...any) error }) (lethe.EventSubscription, error) {
	var (
		sub                    lethe.EventSubscription
		status                 string
		cursor, delivered      int64
		next, created, updated int64
		last                   sql.NullInt64
	)
	if err := row.Scan(&sub.Name, &cursor, &status, &sub.Attempts, &next, &sub.LastError, &delivered, &last, &created, &updated); err != nil {
		return sub, err
	}
	sub.Cursor, sub.Status, sub.Delivered = uint64(cursor), lethe.EventSubscriptionStatus(status), uint64(delivered)
	sub.NextAttemptAt, sub.CreatedAt, sub.UpdatedAt = fromMicros(next), fromMicros(created), fromMicros(updated)
	sub.LastDeliveredAt = fromNullMicros(last)
	return sub, nil
}
