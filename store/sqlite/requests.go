package sqlite

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
)

const requestColumns = `id, type, status, subject_ref, identities, actor, created_at, updated_at, completed_at, result, export, error, jurisdiction, due_at, extended_due_at,
 channel, reason, verified_at, extended_at, extension_reason, sealed_values, progress, attempts, next_attempt_at, lease, lease_until`

// RequestCreate stores a new request with its audit record, in one
// transaction.
func (s *Store) RequestCreate(ctx context.Context, r lethe.Request, rec lethe.AuditRecord) error {
	if r.ID == "" {
		return lethe.FieldErrorf("id", "a request needs an id")
	}
	var hashes []lethe.AuditTreeHash
	err := s.write(ctx, "create request", func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO requests (`+requestColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, string(r.Type), string(r.Status), r.SubjectRef[:], r.Identities, r.Actor, micros(r.CreatedAt), micros(r.UpdatedAt),
			nullMicros(r.CompletedAt), nullText(r.Result), r.Export, r.Error, string(cmp.Or(r.Jurisdiction, lethe.GDPR)), nullTime(r.DueAt), nullTime(r.ExtendedDueAt),
			string(cmp.Or(r.Channel, lethe.ChannelAPI)), r.Reason, nullMicros(r.VerifiedAt), nullMicros(r.ExtendedAt), r.ExtensionReason, r.Values, r.Progress,
			r.Attempts, nullMicros(r.NextAttemptAt), nullString(r.Lease), nullMicros(r.LeaseUntil)); err != nil {
			return conflict("create request", "a request with this id already exists", err)
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

// RequestClearExport forgets the request's export package.
func (s *Store) RequestClearExport(ctx context.Context, id string, at time.Time) error {
	return s.write(ctx, "clear request export", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE requests SET export = '', updated_at = ? WHERE id = ?`, micros(at), id)
		if err != nil {
			return translate("clear request export", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return refuse(lethe.Errorf(lethe.ENOTFOUND, "no request with this id"))
		}
		return nil
	})
}

// RequestTransition stores a lifecycle step when the request is in one of
// the from statuses and not held by another worker's live lease.
func (s *Store) RequestTransition(ctx context.Context, r lethe.Request, from []lethe.RequestStatus, rec *lethe.AuditRecord) error {
	if len(from) == 0 {
		return lethe.FieldErrorf("from", "a transition needs the statuses it starts from")
	}
	lease, until := any(nil), any(nil)
	if r.LeaseUntil != nil {
		lease, until = r.Lease, micros(*r.LeaseUntil)
	}
	var hashes []lethe.AuditTreeHash
	err := s.write(ctx, "transition request", func(ctx context.Context, tx *sql.Tx) error {
		args := []any{string(r.Status), r.Identities, micros(r.UpdatedAt), nullMicros(r.CompletedAt), nullText(r.Result), r.Export, r.Error, r.Reason,
			nullMicros(r.VerifiedAt), nullMicros(r.ExtendedAt), r.ExtensionReason, nullTime(r.ExtendedDueAt), r.Values, r.Progress, r.Attempts,
			nullMicros(r.NextAttemptAt), lease, until, r.ID, r.Lease, micros(r.UpdatedAt)}
		for _, st := range from {
			args = append(args, string(st))
		}
		res, err := tx.ExecContext(ctx, `UPDATE requests SET status = ?, identities = ?, updated_at = ?, completed_at = ?, result = ?, export = ?, error = ?, reason = ?,
 verified_at = ?, extended_at = ?, extension_reason = ?, extended_due_at = ?, sealed_values = ?, progress = ?, attempts = ?,
 next_attempt_at = ?, lease = ?, lease_until = ?
 WHERE id = ? AND (lease IS NULL OR lease = ? OR lease_until < ?) AND status IN (?`+strings.Repeat(", ?", len(from)-1)+`)`, args...)
		if err != nil {
			return translate("transition request", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return refuse(s.transitionConflict(ctx, tx, r))
		}
		if rec == nil {
			return nil
		}
		_, hashes, err = s.appendAudit(ctx, tx, []lethe.AuditRecord{*rec})
		return err
	})
	if err != nil {
		return err
	}
	s.cacheHashes(hashes)
	return nil
}

// transitionConflict says why a transition changed nothing.
func (s *Store) transitionConflict(ctx context.Context, tx *sql.Tx, r lethe.Request) error {
	var (
		status string
		lease  sql.NullString
		until  sql.NullInt64
	)
	err := tx.QueryRowContext(ctx, `SELECT status, lease, lease_until FROM requests WHERE id = ?`, r.ID).Scan(&status, &lease, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return lethe.Errorf(lethe.ENOTFOUND, "no request with this id")
	}
	if err != nil {
		return translate("transition request", err)
	}
	lost := lease.Valid && lease.String != r.Lease && until.Valid && until.Int64 >= micros(r.UpdatedAt)
	return lethe.TransitionConflict(lethe.RequestStatus(status), lost)
}

// RequestExtend records an extension of an open request's deadline.
func (s *Store) RequestExtend(ctx context.Context, id string, at time.Time, reason string, due time.Time, rec lethe.AuditRecord) error {
	var hashes []lethe.AuditTreeHash
	err := s.write(ctx, "extend request", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE requests SET extended_at = ?, extension_reason = ?, extended_due_at = ?, updated_at = ?
 WHERE id = ? AND extended_at IS NULL AND status IN ('unverified', 'verified', 'running')`, micros(at), reason, micros(due), micros(at), id)
		if err != nil {
			return translate("extend request", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var status string
			var extended sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT status, extended_at FROM requests WHERE id = ?`, id).Scan(&status, &extended)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return refuse(lethe.Errorf(lethe.ENOTFOUND, "no request with this id"))
			case err != nil:
				return translate("extend request", err)
			case extended.Valid:
				return refuse(lethe.Errorf(lethe.ECONFLICT, "the deadline was extended already"))
			default:
				return refuse(lethe.Errorf(lethe.ECONFLICT, "the request is %s already", status))
			}
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

// RequestClaim leases the requests ready to run.
func (s *Store) RequestClaim(ctx context.Context, now, until time.Time, limit int) ([]lethe.Request, error) {
	token, err := newLease()
	if err != nil {
		return nil, err
	}
	var out []lethe.Request
	err = s.write(ctx, "claim requests", func(ctx context.Context, tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `SELECT `+requestColumns+` FROM requests
 WHERE status IN ('verified', 'running') AND (lease_until IS NULL OR lease_until < ?) AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
 ORDER BY created_at, id LIMIT ?`, micros(now), micros(now), limit)
		if err != nil {
			return translate("claim requests", err)
		}
		for rows.Next() {
			r, err := scanRequest(rows)
			if err != nil {
				rows.Close()
				return translate("claim requests", err)
			}
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return translate("claim requests", err)
		}
		for i := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE requests SET lease = ?, lease_until = ? WHERE id = ?`, token, micros(until), out[i].ID); err != nil {
				return translate("claim requests", err)
			}
			u := until
			out[i].Lease, out[i].LeaseUntil = token, &u
		}
		return nil
	})
	return out, err
}

// RequestRenew extends a worker's lease.
func (s *Store) RequestRenew(ctx context.Context, id, lease string, until time.Time) error {
	return s.write(ctx, "renew request lease", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE requests SET lease_until = ? WHERE id = ? AND lease = ? AND status IN ('verified', 'running')`, micros(until), id, lease)
		if err != nil {
			return translate("renew request lease", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return refuse(lethe.Errorf(lethe.ECONFLICT, "the request is no longer leased to this worker"))
		}
		return nil
	})
}

// RequestCounts counts the open and the overdue requests.
func (s *Store) RequestCounts(ctx context.Context, now time.Time) (lethe.RequestCounts, error) {
	c := lethe.RequestCounts{Open: map[lethe.RequestStatus]int{}}
	rows, err := s.reader.QueryContext(ctx, `SELECT status, count(*), coalesce(sum(CASE WHEN (CASE WHEN extended_at IS NOT NULL THEN extended_due_at ELSE due_at END) < ? THEN 1 ELSE 0 END), 0)
 FROM requests WHERE status IN ('unverified', 'verified', 'running') GROUP BY status`, micros(now))
	if err != nil {
		return c, translate("count requests", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status     string
			n, overdue int
		)
		if err := rows.Scan(&status, &n, &overdue); err != nil {
			return c, translate("count requests", err)
		}
		c.Open[lethe.RequestStatus(status)] = n
		c.Overdue += overdue
	}
	return c, translate("count requests", rows.Err())
}

// RequestPurge deletes the records past their retention.
func (s *Store) RequestPurge(ctx context.Context, before, unverifiedBefore time.Time, rec lethe.AuditRecord) ([]string, error) {
	var (
		ids    []string
		hashes []lethe.AuditTreeHash
	)
	err := s.write(ctx, "purge requests", func(ctx context.Context, tx *sql.Tx) error {
		ids = ids[:0]
		rows, err := tx.QueryContext(ctx, `DELETE FROM requests
 WHERE (completed_at IS NOT NULL AND completed_at < ? AND status NOT IN ('unverified', 'verified', 'running'))
    OR (status = 'unverified' AND created_at < ?)
 RETURNING id`, micros(before), micros(unverifiedBefore))
		if err != nil {
			return translate("purge requests", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return translate("purge requests", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return translate("purge requests", err)
		}
		rec := rec
		rec.Details = maps.Clone(rec.Details)
		if rec.Details == nil {
			rec.Details = map[string]string{}
		}
		rec.Details["requests"] = strconv.Itoa(len(ids))
		_, hashes, err = s.appendAudit(ctx, tx, []lethe.AuditRecord{rec})
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cacheHashes(hashes)
	return ids, nil
}

// RequestGet returns one request.
func (s *Store) RequestGet(ctx context.Context, id string) (lethe.Request, error) {
	r, err := scanRequest(s.reader.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, lethe.Errorf(lethe.ENOTFOUND, "no request with this id")
	}
	if err != nil {
		return r, translate("read request", err)
	}
	return r, nil
}

// RequestList returns requests newest first.
func (s *Store) RequestList(ctx context.Context, limit int) ([]lethe.Request, error) {
	return s.listRequests(ctx, `SELECT `+requestColumns+` FROM requests ORDER BY created_at DESC, id DESC LIMIT ?`, limit)
}

// RequestListBySubject returns the subject's requests, newest first.
func (s *Store) RequestListBySubject(ctx context.Context, ref lethe.SubjectRef) ([]lethe.Request, error) {
	return s.listRequests(ctx, `SELECT `+requestColumns+` FROM requests WHERE subject_ref = ? ORDER BY created_at DESC, id DESC`, ref[:])
}

func (s *Store) listRequests(ctx context.Context, query string, args ...any) ([]lethe.Request, error) {
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, translate("list requests", err)
	}
	defer rows.Close()
	var out []lethe.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, translate("list requests", err)
		}
		out = append(out, r)
	}
	return out, translate("list requests", rows.Err())
}

func scanRequest(row interface{ Scan(...any) error }) (lethe.Request, error) {
	var (
		r                lethe.Request
		typ, status      string
		ref              []byte
		created, updated int64
		completed        sql.NullInt64
		result           sql.NullString
		jurisdiction     string
		due, extended    sql.NullInt64
		channel          string
		verified, ext    sql.NullInt64
		next, leaseUntil sql.NullInt64
		lease            sql.NullString
	)
	if err := row.Scan(&r.ID, &typ, &status, &ref, &r.Identities, &r.Actor, &created, &updated, &completed, &result, &r.Export, &r.Error, &jurisdiction, &due, &extended,
		&channel, &r.Reason, &verified, &ext, &r.ExtensionReason, &r.Values, &r.Progress, &r.Attempts, &next, &lease, &leaseUntil); err != nil {
		return r, err
	}
	r.Channel, r.Lease = lethe.RequestChannel(channel), lease.String
	r.VerifiedAt, r.ExtendedAt, r.NextAttemptAt, r.LeaseUntil = timePtr(verified), timePtr(ext), timePtr(next), timePtr(leaseUntil)
	if len(ref) != len(r.SubjectRef) {
		return r, fmt.Errorf("request %s: subject reference of %d bytes", r.ID, len(ref))
	}
	copy(r.SubjectRef[:], ref)
	r.Type, r.Status = lethe.RequestType(typ), lethe.RequestStatus(status)
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	if completed.Valid {
		t := fromMicros(completed.Int64)
		r.CompletedAt = &t
	}
	if result.Valid {
		r.Result = []byte(result.String)
	}
	r.Jurisdiction = lethe.Jurisdiction(jurisdiction)
	if due.Valid {
		r.DueAt = fromMicros(due.Int64)
	}
	if extended.Valid {
		r.ExtendedDueAt = fromMicros(extended.Int64)
	}
	return r, nil
}

func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// newLease returns a random lease token.
func newLease() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lease token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t)
}

func nullText(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}
