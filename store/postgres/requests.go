package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-privacy/lethe"
)

const requestColumns = `id, type, status, subject_ref, identities, actor, created_at, updated_at, completed_at, result, export, error, jurisdiction, due_at, extended_due_at`

// RequestCreate stores a new request with its audit record, in one
// transaction.
func (s *Store) RequestCreate(ctx context.Context, r lethe.Request, rec lethe.AuditRecord) error {
	if r.ID == "" {
		return lethe.FieldErrorf("id", "a request needs an id")
	}
	_, err := s.appendWith(ctx, "create request", []lethe.AuditRecord{rec}, func(_ txConn, b *batch) error {
		b.queue("create request", "a request with this id already exists", nil,
			`INSERT INTO requests (`+requestColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			r.ID, string(r.Type), string(r.Status), r.SubjectRef[:], r.Identities, r.Actor, ts(r.CreatedAt), ts(r.UpdatedAt),
			tsPtr(r.CompletedAt), jsonText(r.Result), r.Export, r.Error, string(cmp.Or(r.Jurisdiction, lethe.GDPR)), tsZero(r.DueAt), tsZero(r.ExtendedDueAt))
		return nil
	})
	return err
}

// RequestUpdate stores the request's outcome.
func (s *Store) RequestUpdate(ctx context.Context, r lethe.Request) error {
	tag, err := s.pool.Exec(ctx, `UPDATE requests SET status = $1, updated_at = $2, completed_at = $3, result = $4, export = $5, error = $6 WHERE id = $7`,
		string(r.Status), ts(r.UpdatedAt), tsPtr(r.CompletedAt), jsonText(r.Result), r.Export, r.Error, r.ID)
	if err != nil {
		return translate("update request", err)
	}
	if tag.RowsAffected() == 0 {
		return lethe.Errorf(lethe.ENOTFOUND, "no request with this id")
	}
	return nil
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
	)
	if err := row.Scan(&r.ID, &typ, &status, &ref, &r.Identities, &r.Actor, &created, &updated, &completed, &result, &r.Export, &r.Error, &jurisdiction, &due, &extended); err != nil {
		return r, err
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

// jsonText passes a JSON document to a jsonb parameter as text.
func jsonText(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}
