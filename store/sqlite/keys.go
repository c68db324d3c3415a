package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lethe-privacy/lethe"
)

const subjectKeyColumns = `subject_ref, generation, wrapped, created_at, shredded_at`

func scanSubjectKey(r scanner) (lethe.SubjectKey, error) {
	var (
		k        lethe.SubjectKey
		ref      []byte
		gen, at  int64
		shredded sql.NullInt64
	)
	if err := r.Scan(&ref, &gen, &k.Wrapped, &at, &shredded); err != nil {
		return k, err
	}
	if len(ref) != 32 {
		return k, fmt.Errorf("stored subject reference has %d bytes", len(ref))
	}
	k.SubjectRef, k.Generation, k.CreatedAt, k.ShreddedAt = lethe.SubjectRef(ref), uint32(gen), fromMicros(at), fromNullMicros(shredded)
	if len(k.Wrapped) == 0 {
		k.Wrapped = nil
	}
	return k, nil
}

// SubjectKeyActive returns the subject's unshredded key (ENOTFOUND if none).
func (s *Store) SubjectKeyActive(ctx context.Context, ref lethe.SubjectRef) (lethe.SubjectKey, error) {
	return s.subjectKeyActive(ctx, s.st.readKeyActive, ref)
}

func (s *Store) subjectKeyActive(ctx context.Context, st *sql.Stmt, ref lethe.SubjectRef) (lethe.SubjectKey, error) {
	k, err := scanSubjectKey(st.QueryRowContext(ctx, ref[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return k, lethe.Errorf(lethe.ENOTFOUND, "the subject has no active data key")
	}
	if err != nil {
		return k, translate("read subject key", err)
	}
	return k, nil
}

// SubjectKeyLatest returns the subject's newest generation, shredded or
// not (ENOTFOUND if it never had a key), in one read.
//
// It reads on the writer connection when no write holds it (every use of
// that connection holds s.writing, so it is then free): this is the
// first read of every new subject's consent, and the writer's page cache
// holds the key b-tree's pages from its own inserts, while a reader's
// cache is emptied by every commit (which made this read about a tenth of
// a new subject's append). A busy writer is not waited for.
func (s *Store) SubjectKeyLatest(ctx context.Context, ref lethe.SubjectRef) (lethe.SubjectKey, error) {
	st := s.st.readKeyLatest
	if s.writing.TryLock() {
		defer s.writing.Unlock()
		st = s.st.keyLatest
		ctx = context.WithoutCancel(ctx) // no watcher goroutine (see runAlone)
	}
	k, err := scanSubjectKey(st.QueryRowContext(ctx, ref[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return k, lethe.Errorf(lethe.ENOTFOUND, "the subject has no data key")
	}
	if err != nil {
		return k, translate("read subject key", err)
	}
	return k, nil
}

// SubjectKeyGet returns one generation of the subject's key (ENOTFOUND if
// it never existed; a shredded key has Wrapped nil and ShreddedAt set).
func (s *Store) SubjectKeyGet(ctx context.Context, ref lethe.SubjectRef, generation uint32) (lethe.SubjectKey, error) {
	k, err := scanSubjectKey(s.reader.QueryRowContext(ctx, `SELECT `+subjectKeyColumns+` FROM subject_keys
 WHERE subject_ref = ? AND generation = ?`, ref[:], int64(generation)))
	if errors.Is(err, sql.ErrNoRows) {
		return k, lethe.Errorf(lethe.ENOTFOUND, "the subject has no data key of generation %d", generation)
	}
	if err != nil {
		return k, translate("read subject key", err)
	}
	return k, nil
}

// SubjectKeyCreate stores key.Wrapped as the subject's next generation
// (key.Generation is ignored), unless the subject has an active key, which
// it returns instead: concurrent creators, in this process or another, all
// get the same key. A zero CreatedAt is set from the store's clock.
func (s *Store) SubjectKeyCreate(ctx context.Context, key lethe.SubjectKey) (lethe.SubjectKey, error) {
	if key.SubjectRef.IsZero() {
		return lethe.SubjectKey{}, lethe.FieldErrorf("subject_ref", "a subject key needs a subject reference")
	}
	if len(key.Wrapped) == 0 {
		return lethe.SubjectKey{}, lethe.FieldErrorf("wrapped", "a subject key needs its wrapped key material")
	}
	created := key.CreatedAt
	if created.IsZero() {
		created = s.clock.Now()
	}
	var out lethe.SubjectKey
	err := s.write(ctx, "create subject key", func(ctx context.Context, tx *sql.Tx) error {
		k, err := s.subjectKeyActive(ctx, tx.StmtContext(ctx, s.st.keyActive), key.SubjectRef)
		if err == nil {
			out = k
			return nil
		}
		if lethe.ErrorCode(err) != lethe.ENOTFOUND {
			return err
		}
		var gen int64
		if err := tx.StmtContext(ctx, s.st.keyNextGen).QueryRowContext(ctx, key.SubjectRef[:]).Scan(&gen); err != nil {
			return translate("create subject key", err)
		}
		if _, err := tx.StmtContext(ctx, s.st.keyInsert).ExecContext(ctx, key.SubjectRef[:], gen, key.Wrapped, micros(created)); err != nil {
			return translate("create subject key", err)
		}
		out = lethe.SubjectKey{SubjectRef: key.SubjectRef, Generation: uint32(gen), Wrapped: key.Wrapped, CreatedAt: fromMicros(micros(created))}
		return nil
	})
	return out, err
}

// SubjectKeyShred overwrites the wrapped material of every key of the
// subject created at or before `before` with NULL, records a SubjectShred
// when it destroyed any, and appends the audit record, in one transaction.
// It returns how many keys it destroyed; shredding again returns 0.
//
// secure_delete zeroes the freed bytes in the database pages; afterwards
// the WAL is checkpointed and truncated (best effort: a reader holding an
// old snapshot can delay it) so the old pages do not linger in the -wal
// file either.
func (s *Store) SubjectKeyShred(ctx context.Context, ref lethe.SubjectRef, before time.Time, rec lethe.AuditRecord) (int, error) {
	if ref.IsZero() {
		return 0, lethe.FieldErrorf("subject_ref", "shredding needs a subject reference")
	}
	var (
		n      int64
		hashes []lethe.AuditTreeHash
	)
	err := s.write(ctx, "shred subject keys", func(ctx context.Context, tx *sql.Tx) error {
		now := micros(s.clock.Now())
		res, err := tx.ExecContext(ctx, `UPDATE subject_keys SET wrapped = NULL, shredded_at = ?
 WHERE subject_ref = ? AND shredded_at IS NULL AND created_at <= ?`, now, ref[:], micros(before))
		if err != nil {
			return translate("shred subject keys", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return translate("shred subject keys", err)
		}
		if n > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO subject_shreds (subject_ref, shredded_at) VALUES (?, ?)`, ref[:], now); err != nil {
				return translate("record subject shred", err)
			}
		}
		_, hashes, err = s.appendAudit(ctx, tx, []lethe.AuditRecord{rec})
		return err
	})
	if err != nil {
		return 0, err
	}
	s.cacheHashes(hashes)
	if n > 0 {
		// The shred is committed; a log that could not be emptied yet is
		// overwritten as writes go on, and emptied by the next shred.
		_ = s.truncateLog(context.WithoutCancel(ctx))
	}
	return int(n), nil
}

// SubjectShredList returns every shred record, oldest first.
func (s *Store) SubjectShredList(ctx context.Context) ([]lethe.SubjectShred, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT subject_ref, shredded_at FROM subject_shreds ORDER BY shredded_at, id`)
	if err != nil {
		return nil, translate("list subject shreds", err)
	}
	defer rows.Close()
	var out []lethe.SubjectShred
	for rows.Next() {
		var (
			ref []byte
			at  int64
		)
		if err := rows.Scan(&ref, &at); err != nil {
			return nil, translate("list subject shreds", err)
		}
		if len(ref) != 32 {
			return nil, fmt.Errorf("list subject shreds: stored subject reference has %d bytes", len(ref))
		}
		out = append(out, lethe.SubjectShred{SubjectRef: lethe.SubjectRef(ref), ShreddedAt: fromMicros(at)})
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list subject shreds", err)
	}
	return out, nil
}

// APIKeyCreate stores a new key and appends the audit record in one
// transaction (ECONFLICT if the id exists). A zero CreatedAt is set from the
// store's clock.
func (s *Store) APIKeyCreate(ctx context.Context, key lethe.APIKey, rec lethe.AuditRecord) error {
	if key.ID == "" {
		return lethe.FieldErrorf("id", "an API key needs an id")
	}
	if len(key.Hash) == 0 {
		return lethe.FieldErrorf("hash", "an API key needs the hash of its secret")
	}
	scopes, err := json.Marshal(scopesOrEmpty(key.Scopes))
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	created := key.CreatedAt
	if created.IsZero() {
		created = s.clock.Now()
	}
	var hashes []lethe.AuditTreeHash
	err = s.write(ctx, "create api key", func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, name, scopes, hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)`,
			key.ID, key.Name, string(scopes), key.Hash, micros(created), nullMicros(key.RevokedAt)); err != nil {
			return conflict("create api key", "an API key with this id already exists", err)
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

func scopesOrEmpty(s []lethe.Scope) []lethe.Scope {
	if s == nil {
		return []lethe.Scope{}
	}
	return s
}

const apiKeyColumns = `id, name, scopes, hash, created_at, revoked_at`

func scanAPIKey(r scanner) (lethe.APIKey, error) {
	var (
		k       lethe.APIKey
		scopes  string
		at      int64
		revoked sql.NullInt64
	)
	if err := r.Scan(&k.ID, &k.Name, &scopes, &k.Hash, &at, &revoked); err != nil {
		return k, err
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return k, fmt.Errorf("decode api key scopes: %w", err)
	}
	k.CreatedAt, k.RevokedAt = fromMicros(at), fromNullMicros(revoked)
	return k, nil
}

// APIKeyGet returns a key by id, revoked or not (ENOTFOUND).
func (s *Store) APIKeyGet(ctx context.Context, id string) (lethe.APIKey, error) {
	k, err := scanAPIKey(s.reader.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return k, lethe.Errorf(lethe.ENOTFOUND, "no API key with this id")
	}
	if err != nil {
		return k, translate("read api key", err)
	}
	return k, nil
}

// APIKeyList returns every key, oldest first.
func (s *Store) APIKeyList(ctx context.Context) ([]lethe.APIKey, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, translate("list api keys", err)
	}
	defer rows.Close()
	var out []lethe.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, translate("list api keys", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, translate("list api keys", err)
	}
	return out, nil
}

// APIKeyRevoke marks a key revoked at `at` and appends the audit record in
// one transaction (ENOTFOUND if there is no such key). Revoking a revoked
// key is a no-op: the first revocation time stays and nothing is audited.
func (s *Store) APIKeyRevoke(ctx context.Context, id string, at time.Time, rec lethe.AuditRecord) error {
	var hashes []lethe.AuditTreeHash
	err := s.write(ctx, "revoke api key", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, micros(at), id)
		if err != nil {
			return translate("revoke api key", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return translate("revoke api key", err)
		} else if n == 0 {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM api_keys WHERE id = ?`, id).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return lethe.Errorf(lethe.ENOTFOUND, "no API key with this id")
			}
			return translate("revoke api key", err)
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
