package postgres

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
	_, err := s.appendWith(ctx, "create request", []lethe.AuditRecord{rec}, func(_ txConn, b *batch) error {
		b.queue("create request", "a request with this id already exists", nil,
			`INSERT INTO requests (`+requestColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)`,
			r.ID, string(r.Type), string(r.Status), r.SubjectRef[:], r.Identities, r.Actor, ts(r.CreatedAt), ts(r.UpdatedAt),
			tsPtr(r.CompletedAt), jsonText(r.Result), r.Export, r.Error, string(cmp.Or(r.Jurisdiction, lethe.GDPR)), tsZero(r.DueAt), tsZero(r.ExtendedDueAt),
			string(cmp.Or(r.Channel, lethe.ChannelAPI)), r.Reason, tsPtr(r.VerifiedAt), tsPtr(r.ExtendedAt), r.ExtensionReason, r.Values, r.Progress,
			r.Attempts, tsPtr(r.NextAttemptAt), textOrNull(r.Lease), tsPtr(r.LeaseUntil))
		return nil
	})
	return err
}

// RequestClearExport forgets the request's export package.
func (s *Store) RequestClearExport(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE requests SET export = '', updated_at = $1 WHERE id = $2`, ts(at), id)
	if err != nil {
		return translate("clear request export", err)
	}
	if tag.RowsAffected() == 0 {
		return lethe.Errorf(lethe.ENOTFOUND, "no request with this id")
	}
	return nil
}

// RequestTransition stores a lifecycle step when the request is in one of
// the from statuses and not held by another worker's live lease.
func (s *Store) RequestTransition(ctx context.Context, r lethe.Request, from []lethe.RequestStatus, rec *lethe.AuditRecord) error {
	if len(from) == 0 {
		return lethe.FieldErrorf("from", "a transition needs the statuses it starts from")
	}
	var lease, until any
	if r.LeaseUntil != nil {
		lease, until = r.Lease, ts(*r.LeaseUntil)
	}
	statuses := make([]string, len(from))
	for i, st := range from {
		statuses[i] = string(st)
	}
	_, err := s.appendDecided(ctx, "transition request", rec != nil, func(c txConn, _ *batch) ([]lethe.AuditRecord, error) {
		tag, err := c.Exec(ctx, `UPDATE requests SET status = $1, updated_at = $2, completed_at = $3, result = $4, export = $5, error = $6, reason = $7,
 verified_at = $8, extended_at = $9, extension_reason = $10, extended_due_at = $11, sealed_values = $12, progress = $13, attempts = $14,
 next_attempt_at = $15, lease = $16, lease_until = $17, identities = $21
 WHERE id = $18 AND (lease IS NULL OR lease = $19 OR lease_until < $2) AND status = ANY($20)`,
			string(r.Status), ts(r.UpdatedAt), tsPtr(r.CompletedAt), jsonText(r.Result), r.Export, r.Error, r.Reason,
			tsPtr(r.VerifiedAt), tsPtr(r.ExtendedAt), r.ExtensionReason, tsZero(r.ExtendedDueAt), r.Values, r.Progress, r.Attempts,
			tsPtr(r.NextAttemptAt), lease, until, r.ID, r.Lease, statuses, r.Identities)
		if err != nil {
			return nil, translate("transition request", err)
		}
		if tag.RowsAffected() == 0 {
			return nil, transitionConflict(ctx, c, r)
		}
		if rec == nil {
			return nil, nil
		}
		return []lethe.AuditRecord{*rec}, nil
	})
	return err
}

// transitionConflict says why a transition changed nothing.
func transitionConflict(ctx context.Context, c txConn, r lethe.Request) error {
	var (
		status string
		lease  *string
		until  *time.Time
	)
	err := c.QueryRow(ctx, `SELECT status, lease, lease_until FROM requests WHERE id = $1`, r.ID).Scan(&status, &lease, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return lethe.Errorf(lethe.ENOTFOUND, "no request with this id")
	}
	if err != nil {
		return translate("transition request", err)
	}
	lost := lease != nil && *lease != r.Lease && until != nil && !until.Before(ts(r.UpdatedAt))
	return lethe.TransitionConflict(lethe.RequestStatus(status), lost)
}

// RequestExtend records an extension of an open request's deadline.
func (s *Store) RequestExtend(ctx context.Context, id string, at time.Time, reason string, due time.Time, rec lethe.AuditRecord) error {
	_, err := s.appendDecided(ctx, "extend request", true, func(c txConn, _ *batch) ([]lethe.AuditRecord, error) {
		tag, err := c.Exec(ctx, `UPDATE requests SET extended_at = $1, extension_reason = $2, extended_due_at = $3, updated_at = $1
 WHERE id = $4 AND extended_at IS NULL AND status IN ('unverified', 'verified', 'running')`, ts(at), reason, ts(due), id)
		if err != nil {
			return nil, translate("extend request", err)
		}
		if tag.RowsAffected() == 0 {
			var (
				status   string
				extended *time.Time
			)
			err := c.QueryRow(ctx, `SELECT status, extended_at FROM requests WHERE id = $1`, id).Scan(&status, &extended)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return nil, lethe.Errorf(lethe.ENOTFOUND, "no request with this id")
			case err != nil:
				return nil, translate("extend request", err)
			case extended != nil:
				return nil, lethe.Errorf(lethe.ECONFLICT, "the deadline was extended already")
			default:
				return nil, lethe.Errorf(lethe.ECONFLICT, "the request is %s already", status)
			}
		}
		return []lethe.AuditRecord{rec}, nil
	})
	return err
}

// RequestClaim leases the requests ready to run. SKIP LOCKED lets
// concurrent claims take different requests instead of waiting on each
// other; the lease then keeps them apart after the commit.
func (s *Store) RequestClaim(ctx context.Context, now, until time.Time, limit int) ([]lethe.Request, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("lease token: %w", err)
	}
	token := hex.EncodeToString(b[:])
	out, err := s.listRequests(ctx, `UPDATE requests SET lease = $1, lease_until = $2 WHERE id IN (
  SELECT id FROM requests
  WHERE status IN ('verified', 'running') AND (lease_until IS NULL OR lease_until < $3) AND (next_attempt_at IS NULL OR next_attempt_at <= $3)
  ORDER BY created_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
RETURNING `+requestColumns, token, ts(until), ts(now), limit)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b lethe.Request) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RequestRenew extends a worker's lease.
func (s *Store) RequestRenew(ctx context.Context, id, lease string, until time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE requests SET lease_until = $1 WHERE id = $2 AND lease = $3 AND status IN ('verified', 'running')`, ts(until), id, lease)
	if err != nil {
		return translate("renew request lease", err)
	}
	if tag.RowsAffected() == 0 {
		return lethe.Errorf(lethe.ECONFLICT, "the request is no longer leased to this worker")
	}
	return nil
}

// RequestCounts counts the open and the overdue requests.
func (s *Store) RequestCounts(ctx context.Context, now time.Time) (lethe.RequestCounts, error) {
	c := lethe.RequestCounts{Open: map[lethe.RequestStatus]int{}}
	rows, err := s.pool.Query(ctx, `SELECT status, count(*), coalesce(sum(CASE WHEN (CASE WHEN extended_at IS NOT NULL THEN extended_due_at ELSE due_at END) < $1 THEN 1 ELSE 0 END), 0)
 FROM requests WHERE status IN ('unverified', 'verified', 'running') GROUP BY status`, ts(now))
	if err != nil {
		return c, translate("count requests", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status     string
			n, overdue int64
		)
		if err := rows.Scan(&status, &n, &overdue); err != nil {
			return c, translate("count requests", err)
		}
		c.Open[lethe.RequestStatus(status)] = int(n)
		c.Overdue += int(overdue)
	}
	return c, translate("count requests", rows.Err())
}

// RequestPurge deletes the records past their retention.
func (s *Store) RequestPurge(ctx context.Context, before, unverifiedBefore time.Time, rec lethe.AuditRecord) ([]string, error) {
	var ids []string
	_, err := s.appendDecided(ctx, "purge requests", true, func(c txConn, _ *batch) ([]lethe.AuditRecord, error) {
		rows, err := c.Query(ctx, `DELETE FROM requests
 WHERE (completed_at IS NOT NULL AND completed_at < $1 AND status NOT IN ('unverified', 'verified', 'running'))
    OR (status = 'unverified' AND created_at < $2)
 RETURNING id`, ts(before), ts(unverifiedBefore))
		if err != nil {
			return nil, translate("purge requests", err)
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(ids) == 0 {
			return nil, translate("purge requests", err)
		}
		rec := rec
		rec.Details = maps.Clone(rec.Details)
		if rec.Details == nil {
			rec.Details = map[string]string{}
		}
		rec.Details["requests"] = strconv.Itoa(len(ids))
		return []lethe.AuditRecord{rec}, nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// RequestGet returns one request.
func (s *Store) RequestGet(ctx context.Context, id string) (lethe.Request, error) {
	r, err := scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, lethe.Errorf(lethe.ENOTFOUND, "no request with this id")
	}
	if err != nil {
		return r, translate("read request", err)
	}
	return r, nil
}

// RequestList returns requests newest first.
func (s *Store) RequestList(ctx context.Context, limit int) ([]lethe.Request, error) {
	return s.listRequests(ctx, `SELECT `+requestColumns+` FROM requests ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
}

// RequestListBySubject returns the subject's requests, newest first.
func (s *Store) RequestListBySubject(ctx context.Context, ref lethe.SubjectRef) ([]lethe.Request, error) {
	return s.listRequests(ctx, `SELECT `+requestColumns+` FROM requests WHERE subject_ref = $1 ORDER BY created_at DESC, id DESC`, ref[:])
}

func (s *Store) listRequests(ctx context.Context, query string, args ...any) ([]lethe.Request, error) {
	rows, err := s.pool.Query(ctx, query, args...)
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

func scanRequest(row pgx.Row) (lethe.Request, error) {
	var (
		r                lethe.Request
		typ, status      string
		ref              []byte
		created, updated time.Time
		completed        *time.Time
		result           *string
		jurisdiction     string
		due, extended    *time.Time
		channel          string
		lease            *string
	)
	if err := row.Scan(&r.ID, &typ, &status, &ref, &r.Identities, &r.Actor, &created, &updated, &completed, &result, &r.Export, &r.Error, &jurisdiction, &due, &extended,
		&channel, &r.Reason, &r.VerifiedAt, &r.ExtendedAt, &r.ExtensionReason, &r.Values, &r.Progress, &r.Attempts, &r.NextAttemptAt, &lease, &r.LeaseUntil); err != nil {
		return r, err
	}
	r.Channel = lethe.RequestChannel(channel)
	if lease != nil {
		r.Lease = *lease
	}
	for _, t := range []**time.Time{&r.VerifiedAt, &r.ExtendedAt, &r.NextAttemptAt, &r.LeaseUntil} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	if len(ref) != len(r.SubjectRef) {
		return r, fmt.Errorf("request %s: subject reference of %d bytes", r.ID, len(ref))
	}
	copy(r.SubjectRef[:], ref)
	r.Type, r.Status = lethe.RequestType(typ), lethe.RequestStatus(status)
	r.CreatedAt, r.UpdatedAt = created.UTC(), updated.UTC()
	if completed != nil {
		t := completed.UTC()
		r.CompletedAt = &t
	}
	if result != nil {
		r.Result = []byte(*result)
	}
	r.Jurisdiction = lethe.Jurisdiction(jurisdiction)
	if due != nil {
		r.DueAt = due.UTC()
	}
	if extended != nil {
		r.ExtendedDueAt = extended.UTC()
	}
	return r, nil
}

// tsZero passes a zero time as NULL.
func tsZero(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = ts(t)
	return &t
}

// textOrNull passes an empty string as NULL.
func textOrNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonText passes a JSON document to a jsonb parameter as text.
func jsonText(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}
