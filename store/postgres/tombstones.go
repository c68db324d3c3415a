package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lethe-privacy/lethe"
)

const tombstoneColumns = `subject_ref, identity_type, request_id, erased_at`

// TombstoneAdd stores the tombstones (keeping those already stored) and
// appends the audit record, in one transaction and one statement for the
// whole batch.
func (s *Store) TombstoneAdd(ctx context.Context, tombstones []lethe.Tombstone, rec lethe.AuditRecord) (int, error) {
	if err := lethe.CheckTombstones(tombstones); err != nil {
		return 0, err
	}
	if len(tombstones) == 0 {
		return 0, nil
	}
	refs := make([][]byte, len(tombstones))
	types := make([]string, len(tombstones))
	reqs := make([]string, len(tombstones))
	times := make([]time.Time, len(tombstones))
	for i, t := range tombstones {
		refs[i], types[i], reqs[i], times[i] = t.SubjectRef[:], string(t.IdentityType), t.RequestID, ts(t.ErasedAt)
	}
	var added int
	_, err := s.appendWith(ctx, "add tombstones", []lethe.AuditRecord{rec}, func(_ txConn, b *batch) error {
		b.queue("add tombstones", "", func(ct pgconn.CommandTag) error { added = int(ct.RowsAffected()); return nil },
			`INSERT INTO tombstones (`+tombstoneColumns+`)
SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT (subject_ref, request_id) DO NOTHING`, refs, types, reqs, times)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// TombstoneList streams the tombstones erased at or after since, oldest
// first, on one connection.
func (s *Store) TombstoneList(ctx context.Context, since time.Time, fn func(lethe.Tombstone) error) error {
	rows, err := s.pool.Query(ctx, `SELECT `+tombstoneColumns+` FROM tombstones WHERE erased_at >= $1 ORDER BY erased_at, subject_ref, request_id`, ts(since))
	if err != nil {
		return translate("list tombstones", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTombstone(rows)
		if err != nil {
			return translate("list tombstones", err)
		}
		if err := fn(t); err != nil {
			return err
		}
	}
	return translate("list tombstones", rows.Err())
}

// TombstoneLookup returns the tombstones of the references, oldest first.
func (s *Store) TombstoneLookup(ctx context.Context, refs []lethe.SubjectRef) ([]lethe.Tombstone, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	arg := make([][]byte, len(refs))
	for i := range refs {
		arg[i] = refs[i][:]
	}
	rows, err := s.pool.Query(ctx, `SELECT `+tombstoneColumns+` FROM tombstones WHERE subject_ref = ANY($1::bytea[]) ORDER BY erased_at, subject_ref, request_id`, arg)
	if err != nil {
		return nil, translate("look up tombstones", err)
	}
	defer rows.Close()
	var out []lethe.Tombstone
	for rows.Next() {
		t, err := scanTombstone(rows)
		if err != nil {
			return nil, translate("look up tombstones", err)
		}
		out = append(out, t)
	}
	return out, translate("look up tombstones", rows.Err())
}

func scanTombstone(row pgx.Row) (lethe.Tombstone, error) {
	var (
		t      lethe.Tombstone
		ref    []byte
		typ    string
		erased time.Time
	)
	if err := row.Scan(&ref, &typ, &t.RequestID, &erased); err != nil {
		return t, err
	}
	if len(ref) != len(t.SubjectRef) {
		return t, fmt.Errorf("tombstone of request %s: subject reference of %d bytes", t.RequestID, len(ref))
	}
	copy(t.SubjectRef[:], ref)
	t.IdentityType = lethe.IdentityType(typ)
	t.ErasedAt = erased.UTC()
	return t, nil
}
