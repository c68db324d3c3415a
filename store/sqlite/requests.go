package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lethe-privacy/lethe"
)

const requestColumns = `id, type, status, subject_ref, identities, actor, created_at, updated_at, completed_at, result, export, error, jurisdiction, due_at, extended_due_at`

// RequestCreate stores a new request with its audit record, in one
// transaction.
func (s *Store) RequestCreate(ctx context.Context, r lethe.Request, rec lethe.AuditRecord) error {
	if r.ID == "" {
		return lethe.FieldErrorf("id", "a request needs an id")
	}
	var hashes []lethe.AuditTreeHash
	err := s.write(ctx, "create request", func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO requests (`+requestColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, string(r.Type), string(r.Status), r.SubjectRef[:], r.Identities, r.Actor, micros(r.CreatedAt), micros(r.UpdatedAt),
			nullMicros(r.CompletedAt), nullText(r.Result), r.Export, r.Error, string(cmp.Or(r.Jurisdiction, lethe.GDPR)), nullTime(r.DueAt), nullTime(r.ExtendedDueAt)); err != nil {
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

// RequestUpdate stores the request's outcome.
func (s *Store) RequestUpdate(ctx context.Context, r lethe.Request) error {
	return s.write(ctx, "update request", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE requests SET status = ?, updated_at = ?, completed_at = ?, result = ?, export = ?, error = ? WHERE id = ?`,
			string(r.Status), micros(r.UpdatedAt), nullMicros(r.CompletedAt), nullText(r.Result), r.Export, r.Error, r.ID)
		if err != nil {
			return translate("update request", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return lethe.Errorf(lethe.ENOTFOUND, "no request with this id")
		}
		return nil
	})
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
	)
	if err := row.Scan(&r.ID, &typ, &status, &ref, &r.Identities, &r.Actor, &created, &updated, &completed, &result, &r.Export, &r.Error, &jurisdiction, &due, &extended); err != nil {
		return r, err
	}
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
