package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/lethe-privacy/lethe"
)

const tombstoneColumns = `subject_ref, identity_type, request_id, erased_at`

// TombstoneAdd stores the tombstones (keeping those already stored) and
// appends the audit record, in one transaction.
func (s *Store) TombstoneAdd(ctx context.Context, tombstones []lethe.Tombstone, rec lethe.AuditRecord) (int, error) {
	if err := lethe.CheckTombstones(tombstones); err != nil {
		return 0, err
	}
	if len(tombstones) == 0 {
		return 0, nil
	}
	var (
		added  int
		hashes []lethe.AuditTreeHash
	)
	err := s.write(ctx, "add tombstones", func(ctx context.Context, tx *sql.Tx) error {
		added = 0
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO tombstones (`+tombstoneColumns+`) VALUES (?, ?, ?, ?) ON CONFLICT (subject_ref, request_id) DO NOTHING`)
		if err != nil {
			return translate("add tombstones", err)
		}
		defer stmt.Close()
		for _, t := range tombstones {
			res, err := stmt.ExecContext(ctx, t.SubjectRef[:], string(t.IdentityType), t.RequestID, micros(t.ErasedAt))
			if err != nil {
				return translate("add tombstones", err)
			}
			n, _ := res.RowsAffected()
			added += int(n)
		}
		_, hashes, err = s.appendAudit(ctx, tx, []lethe.AuditRecord{rec})
		return err
	})
	if err != nil {
		return 0, err
	}
	s.cacheHashes(hashes)
	return added, nil
}

// TombstoneList streams the tombstones erased at or after since, oldest
// first.
func (s *Store) TombstoneList(ctx context.Context, since time.Time, fn func(lethe.Tombstone) error) error {
	var from int64
	if !since.IsZero() {
		from = micros(since)
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+tombstoneColumns+` FROM tombstones WHERE erased_at >= ? ORDER BY erased_at, subject_ref, request_id`, from)
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

// tombstoneLookupBatch keeps a look-up's parameters well under SQLite's
// limit.
const tombstoneLookupBatch = 500

// TombstoneLookup returns the tombstones of the references, oldest first.
func (s *Store) TombstoneLookup(ctx context.Context, refs []lethe.SubjectRef) ([]lethe.Tombstone, error) {
	var out []lethe.Tombstone
	for len(refs) > 0 {
		chunk := refs[:min(len(refs), tombstoneLookupBatch)]
		refs = refs[len(chunk):]
		args := make([]any, len(chunk))
		for i := range chunk {
			args[i] = chunk[i][:]
		}
		q := `SELECT ` + tombstoneColumns + ` FROM tombstones WHERE subject_ref IN (?` + strings.Repeat(", ?", len(chunk)-1) + `)`
		rows, err := s.reader.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, translate("look up tombstones", err)
		}
		for rows.Next() {
			t, err := scanTombstone(rows)
			if err != nil {
				rows.Close()
				return nil, translate("look up tombstones", err)
			}
			out = append(out, t)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, translate("look up tombstones", err)
		}
	}
	lethe.SortTombstones(out)
	return out, nil
}

func scanTombstone(row interface{ Scan(...any) error }) (lethe.Tombstone, error) {
	var (
		t      lethe.Tombstone
		ref    []byte
		typ    string
		erased int64
	)
	if err := row.Scan(&ref, &typ, &t.RequestID, &erased); err != nil {
		return t, err
	}
	if len(ref) != len(t.SubjectRef) {
		return t, fmt.Errorf("tombstone of request %s: subject reference of %d bytes", t.RequestID, len(ref))
	}
	copy(t.SubjectRef[:], ref)
	t.IdentityType = lethe.IdentityType(typ)
	t.ErasedAt = fromMicros(erased)
	return t, nil
}
