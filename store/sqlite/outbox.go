package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/lethe-privacy/lethe"
)

const outboxColumns = `id, subject_ref, template, sealed, status, created_at, next_attempt_at, attempts, sent_at, last_error`

// OutboxEnqueue stores a new pending message with its audit record, in one
// transaction.
func (s *Store) OutboxEnqueue(ctx context.Context, m lethe.OutboxMessage, rec lethe.AuditRecord) error {
	if m.ID == "" {
		return lethe.FieldErrorf("id", "an outbox message needs an id")
	}
	var hashes []lethe.AuditTreeHash
	err := s.write(ctx, "enqueue mail", func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (`+outboxColumns+`) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, NULL, ?)`,
			m.ID, m.SubjectRef[:], m.Template, m.Sealed, micros(m.CreatedAt), micros(m.NextAttemptAt), m.Attempts, m.LastError); err != nil {
			return conflict("enqueue mail", "an outbox message with this id already exists", err)
		}
		var err error
		_, hashes, err = s.appendAudit(ctx, tx, []lethe.AuditRecord{rec})
		return err
	})
	if err != nil {
		return err
	}
	s.cacheHashes(hashes)
	return nil
}

// OutboxClaim leases due messages. SQLite has one writer at a time, so the
// select and the lease in one write transaction cannot race another claim.
func (s *Store) OutboxClaim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]lethe.OutboxMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []lethe.OutboxMessage
	err := s.write(ctx, "claim mail", func(ctx context.Context, tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE outbox SET lease_until = ?
WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
             ORDER BY next_attempt_at, id LIMIT ?)
RETURNING `+outboxColumns, micros(now.Add(lease)), micros(now), micros(now), limit)
		if err != nil {
			return translate("claim mail", err)
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanOutbox(rows)
			if err != nil {
				return translate("claim mail", err)
			}
			out = append(out, m)
		}
		return translate("claim mail", rows.Err())
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b lethe.OutboxMessage) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// OutboxMarkSent records the message sent.
func (s *Store) OutboxMarkSent(ctx context.Context, id string, at time.Time) error {
	return s.outboxUpdate(ctx, "mark mail sent", id,
		`UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = '', lease_until = NULL WHERE id = ?`, micros(at), id)
}

// OutboxMarkFailed records a failed attempt, and gives up when nextAttempt
// is zero.
func (s *Store) OutboxMarkFailed(ctx context.Context, id string, attempts int, nextAttempt time.Time, lastError string) error {
	status, next := "pending", any(nil)
	if nextAttempt.IsZero() {
		status = "failed"
	} else {
		next = micros(nextAttempt)
	}
	return s.outboxUpdate(ctx, "mark mail failed", id,
		`UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = COALESCE(?, next_attempt_at), last_error = ?, lease_until = NULL WHERE id = ?`,
		status, attempts, next, lastError, id)
}

func (s *Store) outboxUpdate(ctx context.Context, op, id, query string, args ...any) error {
	return s.write(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return translate(op, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return lethe.Errorf(lethe.ENOTFOUND, "no outbox message with this id")
		}
		return nil
	})
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
	rows, err := s.reader.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox `+where+`ORDER BY created_at DESC, id DESC LIMIT ?`, limit)
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

func scanOutbox(row interface{ Scan(...any) error }) (lethe.OutboxMessage, error) {
	var (
		m             lethe.OutboxMessage
		ref           []byte
		status        string
		created, next int64
		sent          sql.NullInt64
	)
	if err := row.Scan(&m.ID, &ref, &m.Template, &m.Sealed, &status, &created, &next, &m.Attempts, &sent, &m.LastError); err != nil {
		return m, err
	}
	if len(ref) != len(m.SubjectRef) {
		return m, fmt.Errorf("outbox message %s: subject reference of %d bytes", m.ID, len(ref))
	}
	copy(m.SubjectRef[:], ref)
	m.Status = lethe.OutboxStatus(status)
	m.CreatedAt, m.NextAttemptAt = fromMicros(created), fromMicros(next)
	m.SentAt = fromNullMicros(sent)
	return m, nil
}
