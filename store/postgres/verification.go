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

const verificationColumns = `request_id, subject_ref, issue, code_hash, created_at, expires_at, attempts, max_attempts, used_at`

// VerificationIssue stores the request's new code with its audit record,
// in one transaction. The row is locked while the issue is checked, and
// the upsert is conditional as well: two nodes issuing at once cannot both
// replace the same code.
func (s *Store) VerificationIssue(ctx context.Context, c lethe.VerificationCode, rec lethe.AuditRecord) error {
	if c.RequestID == "" || c.Issue < 1 || len(c.Hash) != 32 || c.MaxAttempts < 1 {
		return lethe.Errorf(lethe.EINVALID, "a verification code needs a request id, an issue from 1, a 32-byte hash and at least one attempt")
	}
	_, err := s.appendWith(ctx, "issue verification code", []lethe.AuditRecord{rec}, func(conn txConn, b *batch) error {
		cur, err := scanVerification(conn.QueryRow(ctx, `SELECT `+verificationColumns+` FROM verification_codes WHERE request_id = $1 FOR UPDATE`, c.RequestID))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			cur = lethe.VerificationCode{}
		case err != nil:
			return translate("issue verification code", err)
		}
		if err := lethe.CheckNextIssue(cur, c.Issue); err != nil {
			return err
		}
		b.queue("issue verification code", "another verification code was just sent for this request; use that one",
			func(tag pgconn.CommandTag) error {
				if tag.RowsAffected() != 1 {
					return lethe.Errorf(lethe.ECONFLICT, "another verification code was just sent for this request; use that one")
				}
				return nil
			},
			`INSERT INTO verification_codes (`+verificationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, NULL)
ON CONFLICT (request_id) DO UPDATE SET subject_ref = excluded.subject_ref, issue = excluded.issue, code_hash = excluded.code_hash,
  created_at = excluded.created_at, expires_at = excluded.expires_at, attempts = 0, max_attempts = excluded.max_attempts, used_at = NULL
WHERE verification_codes.issue = excluded.issue - 1 AND verification_codes.used_at IS NULL`,
			c.RequestID, c.SubjectRef[:], c.Issue, c.Hash, ts(c.CreatedAt), ts(c.ExpiresAt), c.MaxAttempts)
		return nil
	})
	return err
}

// VerificationGet returns the request's current code.
func (s *Store) VerificationGet(ctx context.Context, requestID string) (lethe.VerificationCode, error) {
	c, err := scanVerification(s.pool.QueryRow(ctx, `SELECT `+verificationColumns+` FROM verification_codes WHERE request_id = $1`, requestID))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, lethe.Errorf(lethe.ENOTFOUND, "no verification code was sent for this request")
	}
	if err != nil {
		return c, translate("read verification code", err)
	}
	return c, nil
}

// VerificationAttempt checks and counts an attempt in one conditional
// UPDATE (the row lock it takes makes concurrent attempts wait and then
// see the count), with its audit record in the same transaction.
func (s *Store) VerificationAttempt(ctx context.Context, requestID string, issue int, matched bool, now time.Time, rec lethe.AuditRecord) (lethe.VerificationCode, error) {
	var out lethe.VerificationCode
	var used *time.Time
	if matched {
		used = tsPtr(&now)
	}
	_, err := s.appendWith(ctx, "attempt verification code", []lethe.AuditRecord{rec}, func(conn txConn, _ *batch) error {
		var err error
		out, err = scanVerification(conn.QueryRow(ctx, `UPDATE verification_codes SET attempts = attempts + 1, used_at = $1
WHERE request_id = $2 AND issue = $3 AND used_at IS NULL AND attempts < max_attempts AND expires_at > $4
RETURNING `+verificationColumns, used, requestID, issue, ts(now)))
		if !errors.Is(err, pgx.ErrNoRows) {
			return translate("attempt verification code", err)
		}
		cur, err := scanVerification(conn.QueryRow(ctx, `SELECT `+verificationColumns+` FROM verification_codes WHERE request_id = $1`, requestID))
		if errors.Is(err, pgx.ErrNoRows) {
			return lethe.Errorf(lethe.ENOTFOUND, "no verification code was sent for this request")
		}
		if err != nil {
			return translate("attempt verification code", err)
		}
		return lethe.AttemptRefused(cur, issue, now)
	})
	if err != nil {
		return lethe.VerificationCode{}, err
	}
	return out, nil
}

// VerificationPurge deletes codes that expired before `before`.
func (s *Store) VerificationPurge(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM verification_codes WHERE expires_at < $1`, ts(before))
	if err != nil {
		return 0, translate("purge verification codes", err)
	}
	return int(tag.RowsAffected()), nil
}

// RateLimitHit counts a hit in one upsert: concurrent hits on any node
// serialise on the counter's row.
func (s *Store) RateLimitHit(ctx context.Context, key string, start, end time.Time) (int, error) {
	if key == "" || !end.After(start) {
		return 0, lethe.Errorf(lethe.EINVALID, "a rate limit counter needs a key and a window that ends after it starts")
	}
	var hits int
	err := s.pool.QueryRow(ctx, `INSERT INTO rate_limits (key, window_start, window_end, hits) VALUES ($1, $2, $3, 1)
ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limits.hits + 1 RETURNING hits`, key, ts(start), ts(end)).Scan(&hits)
	if err != nil {
		return 0, translate("count rate limit hit", err)
	}
	return hits, nil
}

// RateLimitPurge deletes counters of windows that ended.
func (s *Store) RateLimitPurge(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM rate_limits WHERE window_end <= $1`, ts(before))
	if err != nil {
		return 0, translate("purge rate limit counters", err)
	}
	return int(tag.RowsAffected()), nil
}

func scanVerification(row pgx.Row) (lethe.VerificationCode, error) {
	var (
		c                lethe.VerificationCode
		ref              []byte
		created, expires time.Time
		used             *time.Time
	)
	if err := row.Scan(&c.RequestID, &ref, &c.Issue, &c.Hash, &created, &expires, &c.Attempts, &c.MaxAttempts, &used); err != nil {
		return c, err
	}
	if len(ref) != len(c.SubjectRef) {
		return c, fmt.Errorf("verification code of %s: subject reference of %d bytes", c.RequestID, len(ref))
	}
	copy(c.SubjectRef[:], ref)
	c.CreatedAt, c.ExpiresAt = created.UTC(), expires.UTC()
	c.UsedAt = utcPtr(used)
	return c, nil
}
