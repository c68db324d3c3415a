package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lethe-privacy/lethe"
)

const (
	subscriberEventColumns = `id, type, subject_ref, recipient, seq, created_at, data, identities`
	subscriptionColumns    = `name, next_seq, status, attempts, next_attempt_at, last_error, delivered, last_delivered_at, created_at, updated_at`
)

// EventRecord stores the events with their audit records, in one
// transaction. The transaction holds the audit head's lock, so the head
// read inside it is where the records will be appended: event i gets
// sequence number size+i.
func (s *Store) EventRecord(ctx context.Context, events []lethe.Event, audit []lethe.AuditRecord) error {
	if len(events) != len(audit) {
		return lethe.Errorf(lethe.EINVALID, "record events: one audit record per event is required")
	}
	if len(events) == 0 {
		return nil
	}
	for i, e := range events {
		if e.ID == "" {
			return lethe.FieldErrorf(fmt.Sprintf("events[%d].id", i), "an event needs an id")
		}
	}
	_, err := s.appendWith(ctx, "record events", audit, func(c txConn, b *batch) error {
		var size int64
		if err := c.QueryRow(ctx, `SELECT size FROM audit_head WHERE id = 1`).Scan(&size); err != nil {
			return translate("record events", err)
		}
		for i, e := range events {
			var ref []byte
			if !e.SubjectRef.IsZero() {
				ref = e.SubjectRef[:]
			}
			b.queue("record events", "an event with this id already exists", nil,
				`INSERT INTO events (`+subscriberEventColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				e.ID, string(e.Type), ref, e.Recipient, size+int64(i), ts(e.CreatedAt), e.Data, nilIfEmpty(e.Identities))
		}
		return nil
	})
	return err
}

// EventGet returns one event.
func (s *Store) EventGet(ctx context.Context, id string) (lethe.Event, error) {
	var (
		e      lethe.Event
		typ    string
		ref    []byte
		seq    int64
		at     time.Time
		idents []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT `+subscriberEventColumns+` FROM events WHERE id = $1`, id).
		Scan(&e.ID, &typ, &ref, &e.Recipient, &seq, &at, &e.Data, &idents)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, lethe.Errorf(lethe.ENOTFOUND, "no event with this id")
	}
	if err != nil {
		return e, translate("read event", err)
	}
	if len(ref) == len(e.SubjectRef) {
		copy(e.SubjectRef[:], ref)
	}
	e.Type, e.Seq, e.CreatedAt = lethe.EventType(typ), uint64(seq), at.UTC()
	if len(idents) > 0 {
		e.Identities = idents
	}
	return e, nil
}

// EventPurgeIdentities drops delivered or expired identities.
func (s *Store) EventPurgeIdentities(ctx context.Context, seq uint64, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE events SET identities = NULL WHERE identities IS NOT NULL AND (seq < $1 OR created_at < $2)`,
		clampSeq(seq), ts(before))
	if err != nil {
		return 0, translate("purge event identities", err)
	}
	return int(tag.RowsAffected()), nil
}

// EventSubscriptionEnsure creates the missing subscriptions at cursor.
func (s *Store) EventSubscriptionEnsure(ctx context.Context, names []string, cursor uint64, now time.Time) error {
	if len(names) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO event_subscriptions (name, next_seq, status, next_attempt_at, created_at, updated_at)
SELECT n, $2, 'active', $3, $3, $3 FROM unnest($1::text[]) AS n ON CONFLICT (name) DO NOTHING`, names, clampSeq(cursor), ts(now))
	return translate("create event subscriptions", err)
}

// EventSubscriptionList returns every subscription by name.
func (s *Store) EventSubscriptionList(ctx context.Context) ([]lethe.EventSubscription, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+subscriptionColumns+` FROM event_subscriptions ORDER BY name`)
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

// EventSubscriptionClaim leases a due subscription in one statement; a
// concurrent claim waits for the row and then finds it leased.
func (s *Store) EventSubscriptionClaim(ctx context.Context, name string, now time.Time, lease time.Duration) (lethe.EventSubscription, bool, error) {
	sub, err := scanSubscription(s.pool.QueryRow(ctx, `UPDATE event_subscriptions SET lease_until = $1
WHERE name = $2 AND status = 'active' AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
RETURNING `+subscriptionColumns, ts(now.Add(lease)), name, ts(now)))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return sub, false, nil
	case err != nil:
		return sub, false, translate("claim event subscription", err)
	}
	return sub, true, nil
}

// EventSubscriptionUpdate stores the delivery state and ends the lease,
// with the audit records.
func (s *Store) EventSubscriptionUpdate(ctx context.Context, sub lethe.EventSubscription, audit []lethe.AuditRecord) error {
	notFound := func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() == 0 {
			return lethe.Errorf(lethe.ENOTFOUND, "no event subscription named %q", sub.Name)
		}
		return nil
	}
	_, err := s.appendWith(ctx, "update event subscription", audit, func(_ txConn, b *batch) error {
		b.queue("update event subscription", "", notFound,
			`UPDATE event_subscriptions SET next_seq = $1, status = $2, attempts = $3, next_attempt_at = $4, last_error = $5,
delivered = $6, last_delivered_at = $7, updated_at = $8, lease_until = NULL WHERE name = $9`,
			clampSeq(sub.Cursor), string(sub.Status), sub.Attempts, ts(sub.NextAttemptAt), sub.LastError,
			clampSeq(sub.Delivered), tsPtr(sub.LastDeliveredAt), ts(sub.UpdatedAt), sub.Name)
		return nil
	})
	return err
}

func scanSubscription(row pgx.Row) (lethe.EventSubscription, error) {
	var (
		sub                    lethe.EventSubscription
		status                 string
		cursor, delivered      int64
		next, created, updated time.Time
		last                   *time.Time
	)
	if err := row.Scan(&sub.Name, &cursor, &status, &sub.Attempts, &next, &sub.LastError, &delivered, &last, &created, &updated); err != nil {
		return sub, err
	}
	sub.Cursor, sub.Status, sub.Delivered = uint64(cursor), lethe.EventSubscriptionStatus(status), uint64(delivered)
	sub.NextAttemptAt, sub.CreatedAt, sub.UpdatedAt = next.UTC(), created.UTC(), updated.UTC()
	sub.LastDeliveredAt = utcPtr(last)
	return sub, nil
}
