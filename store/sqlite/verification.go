package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lethe-privacy/lethe"
)

const verificationColumns = `request_id, subject_ref, issue, code_hash, created_at, expires_at, attempts, max_attempts, used_at`

// VerificationIssue stores the request's new code with its audit record,
// in one transaction. The single writer makes the check of the current
// issue and the write one step.
func (s *Store) VerificationIssue(ctx context.Context, c lethe.VerificationCode, rec lethe.AuditRecord) error {
	if c.RequestID == "" || c.Issue < 1 || len(c.Hash) != 32 || c.MaxAttempts < 1 {
		return lethe.Errorf(lethe.EINVALID, "a verification code needs a request id, an issue from 1, a 32-byte hash and at least one attempt")
	}
	var hashes []lethe.AuditTreeHash
	err := s.write(ctx, "issue verification code", func(ctx context.Context, tx *sql.Tx) error {
		cur, err := scanVerification(tx.QueryRowContext(ctx, `SELECT `+verificationColumns+` FROM verification_codes WHERE request_id = ?`, c.RequestID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			cur = lethe.VerificationCode{}
		case err != nil:
			return translate("issue verification code", err)
		}
		if err := lethe.CheckNextIssue(cur, c.Issue); err != nil {
			return refuse(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO verification_codes (`+verificationColumns+`) VALUES (?, ?, ?, ?, ?, ?, 0, ?, NULL)
ON CONFLICT (request_id) DO UPDATE SET subject_ref = excluded.subject_ref, issue = excluded.issue, code_hash = excluded.code_hash,
  created_at = excluded.created_at, expires_at = excluded.expires_at, attempts = 0, max_attempts = excluded.max_attempts, used_at = NULL`,
			c.RequestID, c.SubjectRef[:], c.Issue, c.Hash, micros(c.CreatedAt), micros(c.ExpiresAt), c.MaxAttempts); err != nil {
			return translate("issue verification code", err)
		}
		_, hashes, err = s.appendAudit(ctx, tx, []lethe.AuditRecord{rec})
		return err
	})
	if err != nil {
		return err
	}
	s.cacheHashes(hashes)
	return nil
}

// VerificationGet returns the request's current code.
func (s *Store) VerificationGet(ctx context.Context, requestID string) (lethe.VerificationCode, error) {
	c, err := scanVerification(s.reader.QueryRowContext(ctx, `SELECT `+verificationColumns+` FROM verification_codes WHERE request_id = ?`, requestID))
	if errors.Is(err, sql.ErrNoRows) {
		return c, lethe.Errorf(lethe.ENOTFOUND, "no verification code was sent for this request")
	}
	if err != nil {
		return c, translate("read verification code", err)
	}
	return c, nil
}

// VerificationAttempt checks and counts an attempt in one conditional
// UPDATE, with its audit record in the same transaction.
func (s *Store) VerificationAttempt(ctx context.Context, requestID string, issue int, matched bool, now time.Time, rec lethe.AuditRecord) (lethe.VerificationCode, error) {
	var (
		out    lethe.VerificationCode
		hashes []lethe.AuditTreeHash
	)
	used := any(nil)
	if matched {
		used = micros(now)
	}
	err := s.write(ctx, "attempt verification code", func(ctx context.Context, tx *sql.Tx) error {
		var err error
		out, err = scanVerification(tx.QueryRowContext(ctx, `UPDATE verification_codes SET attempts = attempts + 1, used_at = ?
WHERE request_id = ? AND issue = ? AND used_at IS NULL AND attempts < max_attempts AND expires_at > ?
RETURNING `+verificationColumns, used, requestID, issue, micros(now)))
		if errors.Is(err, sql.ErrNoRows) {
			cur, err := scanVerification(tx.QueryRowContext(ctx, `SELECT `+verificationColumns+` FROM verification_codes WHERE request_id = ?`, requestID))
			if errors.Is(err, sql.ErrNoRows) {
				return refuse(lethe.Errorf(lethe.ENOTFOUND, "no verification code was sent for this request"))
			}
			if err != nil {
				return translate("attempt verification code", err)
			}
			return refuse(lethe.AttemptRefused(cur, issue, now))
		}
		if err != nil {
			return translate("attempt verification code", err)
		}
		_, hashes, err = s.appendAudit(ctx, tx, []lethe.AuditRecord{rec})
		return err
	})
	if err != nil {
		return lethe.VerificationCode{}, err
	}
	s.cacheHashes(hashes)
	return out, nil
}

// VerificationPurge deletes codes that expired before `before`.
func (s *Store) VerificationPurge(ctx context.Context, before time.Time) (int, error) {
	return s.purge(ctx, "purge verification codes", `DELETE FROM verification_codes WHERE expires_at < ?`, micros(before))
}

// RateLimitHit counts a hit in one upsert.
func (s *Store) RateLimitHit(ctx context.Context, key string, start, end time.Time) (int, error) {
	if key == "" || !end.After(start) {
		return 0, lethe.Errorf(lethe.EINVALID, "a rate limit counter needs a key and a window that ends after it starts")
	}
	var hits int
	err := s.write(ctx, "count rate limit hit", func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO rate_limits (key, window_start, window_end, hits) VALUES (?, ?, ?, 1)
ON CONFLICT (key, window_start) DO UPDATE SET hits = hits + 1 RETURNING hits`, key, micros(start), micros(end)).Scan(&hits)
		return translate("count rate limit hit", err)
	})
	return hits, err
}

// RateLimitPurge deletes counters of windows that ended.
func (s *Store) RateLimitPurge(ctx context.Context, before time.Time) (int, error) {
	return s.purge(ctx, "purge rate limit counters", `DELETE FROM rate_limits WHERE window_end <= ?`, micros(before))
}

func (s *Store) purge(ctx context.Context, op, query string, args ...any) (int, error) {
	var n int64
	err := s.write(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return translate(op, err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

func scanVerification(row interface{ Scan(...any) error }) (lethe.VerificationCode, error) {
	var (
		c                lethe.VerificationCode
		ref              []byte
		created, expires int64
		used             sql.NullInt64
	)
	if err := row.Scan(&c.RequestID, &ref, &c.Issue, &c.Hash, &created, &expires, &c.Attempts, &c.MaxAttempts, &used); err != nil {
		return c, err
	}
	if len(ref) != len(c.SubjectRef) {
		return c, fmt.Errorf("verification code of %s: subject reference of %d bytes", c.RequestID, len(ref))
	}
	copy(c.SubjectRef[:], ref)
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	c.UsedAt = fromNullMicros(used)
	return c, nil
}
