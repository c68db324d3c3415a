package postgres

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-privacy/lethe"
)

const outboxColumns = `id, subject_ref, template, sealed, status, created_at, next_attempt_at, attempts, sent_at, last_error`

// OutboxEnqueue stores a new pending message with its audit record, in one
// transaction.
func (s *Store) OutboxEnqueue(ctx context.Context, m lethe.OutboxMessage, rec lethe.AuditRecord) error {
	if m.ID == "" {
		return lethe.FieldErrorf("id", "an outbox message needs an id")
	}
	_, err := s.appendWith(ctx, "enqueue mail", []lethe.AuditRecord{rec}, func(_ txConn, b *batch) error {
		b.queue("enqueue mail", "an outbox message with this id already exists", nil,
			`INSERT INTO outbox (`+outboxColumns+`) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, NULL, $8)`,
			m.ID, m.SubjectRef[:], m.Template, m.Sealed, ts(m.CreatedAt), ts(m.NextAttemptAt), m.Attempts, m.LastError)
		return nil
	})
	return err
}

// OutboxClaim leases due messages in one statement. FOR UPDATE SKIP LOCKED
// lets concurrent claims on several nodes pass each other's rows instead of
// waiting for them, and the lease keeps a claimed row out of later claims
// once this statement committed.
func (s *Store) OutboxClaim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]lethe.OutboxMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `UPDATE outbox SET lease_until = $1
WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until <= $2)
             ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
RETURNING `+outboxColumns, ts(now.Add(lease)), ts(now), limit)
	if err != nil {
		return nil, translate("claim mail", err)
	}
	defer rows.Close()
	var out []lethe.OutboxMessage
	for rows.Next() {
		m, err := scanOutbox(rows)
		if err != nil {
			return nil, translate("claim mail", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("claim mail", err)
	}
	slices.SortFunc(out, func(a, b lethe.OutboxMessage) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// OutboxMarkSent records the message sent.
func (s *Store) OutboxMarkSent(ctx context.Context, id string, at time.Time) error {
	return s.outboxUpdate(ctx, "mark mail sent", `UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, last_error = '', lease_until = NULL WHERE id = $2`, ts(at), id)
}

// OutboxMarkFailed records a failed attempt, and gives up when nextAttempt
// is zero.
func (s *Store) OutboxMarkFailed(ctx context.Context, id string, attempts int, nextAttempt time.Time, lastError string) error {
	status, next := "pending", (*time.Time)(nil)
	if nextAttempt.IsZero() {
		status = "failed"
	} else {
		next = tsPtr(&nextAttempt)
	}
	return s.outboxUpdate(ctx, "mark mail failed",
		`UPDATE outbox SET status = $1, attempts = $2, next_attempt_at = COALESCE($3, next_attempt_at), last_error = $4, lease_until = NULL WHERE id = $5`,
		status, attempts, next, lastError, id)
}

func (s *Store) outboxUpdate(ctx context.Context, op, query string, args ...any) error {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return translate(op, err)
	}
	if tag.RowsAffected() == 0 {
		return lethe.Errorf(lethe.ENOTFOUND, "no outbox message with this id")
	}
	return nil
}

// OutboxList returns messages newest first.
func (s *Store) OutboxList(ctx context.Context, pendingOnly bool, limit int) ([]lethe.OutboxMessage, error) {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	where := ""
	if pendingOnly {
		where = `WHERE status = 'pending' `
	}
	rows, err := s.pool.Query(ctx, `SELECT `+outboxColumns+` FROM outbox `+where+`ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, translate("list mail", err)
	}
	defer rows.Close()
	var out []lethe.OutboxMessage
	for rows.Next() {
		m, err := scanOutbox(rows)
		if err != nil {
			return nil, translate("list mail", err)
		}
		out = append(out, m)
	}
	return out, translate("list mail", rows.Err())
}

func scanOutbox(row pgx.Row) (lethe.OutboxMessage, error) {
	var (
		m             lethe.OutboxMessage
		ref           []byte
		status        string
		created, next time.Time
		sent          *time.Time
	)
	if err := row.Scan(&m.ID, &ref, &m.Template, &m.Sealed, &status, &created, &next, &m.Attempts, &sent, &m.LastError); err != nil {
		return m, err
	}
	if len(ref) != len(m.SubjectRef) {
		return m, fmt.Errorf("outbox message %s: subject reference of %d bytes", m.ID, len(ref))
	}
	copy(m.SubjectRef[:], ref)
	m.Status = lethe.OutboxStatus(status)
	m.CreatedAt, m.NextAttemptAt = created.UTC(), next.UTC()
	m.SentAt = utcPtr(sent)
	return m, nil
}
