package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-privacy/lethe"
)

const subjectKeyColumns = `subject_ref, generation, wrapped, created_at, shredded_at`

func scanSubjectKey(r pgx.Row) (lethe.SubjectKey, error) {
	var (
		k        lethe.SubjectKey
		ref      []byte
		gen      int32
		at       time.Time
		shredded *time.Time
	)
	if err := r.Scan(&ref, &gen, &k.Wrapped, &at, &shredded); err != nil {
		return k, err
	}
	if len(ref) != 32 {
		return k, fmt.Errorf("stored subject reference has %d bytes", len(ref))
	}
	k.SubjectRef, k.Generation, k.CreatedAt, k.ShreddedAt = lethe.SubjectRef(ref), uint32(gen), at.UTC(), utcPtr(shredded)
	if len(k.Wrapped) == 0 {
		k.Wrapped = nil
	}
	return k, nil
}

// SubjectKeyActive returns the subject's unshredded key (ENOTFOUND if none).
func (s *Store) SubjectKeyActive(ctx context.Context, ref lethe.SubjectRef) (lethe.SubjectKey, error) {
	k, err := scanSubjectKey(s.pool.QueryRow(ctx, `SELECT `+subjectKeyColumns+` FROM subject_keys
 WHERE subject_ref = $1 AND shredded_at IS NULL`, ref[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, lethe.Errorf(lethe.ENOTFOUND, "the subject has no active data key")
	}
	if err != nil {
		return k, translate("read subject key", err)
	}
	return k, nil
}

// SubjectKeyLatest returns the subject's newest generation, shredded or
// not (ENOTFOUND if it never had a key), in one read.
func (s *Store) SubjectKeyLatest(ctx context.Context, ref lethe.SubjectRef) (lethe.SubjectKey, error) {
	k, err := scanSubjectKey(s.pool.QueryRow(ctx, `SELECT `+subjectKeyColumns+` FROM subject_keys
 WHERE subject_ref = $1 ORDER BY generation DESC LIMIT 1`, ref[:]))
	if errors.Is(err, pgx.ErrNoRows) {
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
	k, err := scanSubjectKey(s.pool.QueryRow(ctx, `SELECT `+subjectKeyColumns+` FROM subject_keys
 WHERE subject_ref = $1 AND generation = $2`, ref[:], int64(generation)))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, lethe.Errorf(lethe.ENOTFOUND, "the subject has no data key of generation %d", generation)
	}
	if err != nil {
		return k, translate("read subject key", err)
	}
	return k, nil
}

// SubjectKeyCreate stores key.Wrapped as the subject's next generation
// (key.Generation is ignored), unless the subject has an active key, which
// it returns instead: concurrent creators on any node all get the same
// key. The unique index on the active key decides the race; the losers'
// inserts do nothing and they read the winner's key. A zero CreatedAt is
// set from the store's clock.
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
	created = ts(created)
	// A few rounds at most: a round only fails to settle if the winner's
	// key was shredded between our insert and our read.
	for range 5 {
		if k, err := s.SubjectKeyActive(ctx, key.SubjectRef); err == nil {
			return k, nil
		} else if lethe.ErrorCode(err) != lethe.ENOTFOUND {
			return k, err
		}
		var gen int32
		err := s.pool.QueryRow(ctx, `INSERT INTO subject_keys (subject_ref, generation, wrapped, created_at)
 SELECT $1, COALESCE(MAX(generation), 0) + 1, $2, $3 FROM subject_keys WHERE subject_ref = $1
 ON CONFLICT DO NOTHING RETURNING generation`, key.SubjectRef[:], key.Wrapped, created).Scan(&gen)
		if err == nil {
			return lethe.SubjectKey{SubjectRef: key.SubjectRef, Generation: uint32(gen), Wrapped: key.Wrapped, CreatedAt: created}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return lethe.SubjectKey{}, translate("create subject key", err)
		}
	}
	return lethe.SubjectKey{}, lethe.Errorf(lethe.EUNAVAILABLE, "create subject key: the subject's keys keep changing concurrently; try again")
}

// SubjectKeyShred overwrites the wrapped material of every key of the
// subject created at or before `before` with NULL, records a SubjectShred
// when it destroyed any, appends the audit record and notifies listeners,
// in one transaction. It returns how many keys it destroyed; shredding
// again returns 0. PostgreSQL keeps the old row version until VACUUM
// reclaims it (see the package documentation).
func (s *Store) SubjectKeyShred(ctx context.Context, ref lethe.SubjectRef, before time.Time, rec lethe.AuditRecord) (int, error) {
	if ref.IsZero() {
		return 0, lethe.FieldErrorf("subject_ref", "shredding needs a subject reference")
	}
	var n int64
	_, err := s.appendWith(ctx, "shred subject keys", []lethe.AuditRecord{rec}, func(tx txConn, b *batch) error {
		now := ts(s.clock.Now())
		ct, err := tx.Exec(ctx, `UPDATE subject_keys SET wrapped = NULL, shredded_at = $1
 WHERE subject_ref = $2 AND shredded_at IS NULL AND created_at <= $3`, now, ref[:], ts(before))
		if err != nil {
			return translate("shred subject keys", err)
		}
		n = ct.RowsAffected()
		if n > 0 {
			b.queue("record subject shred", "", nil, `INSERT INTO subject_shreds (subject_ref, shredded_at) VALUES ($1, $2)`, ref[:], now)
			b.queue("notify key shred", "", nil, sqlNotify, s.channel, ref.String())
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// SubjectShredList returns every shred record, oldest first.
func (s *Store) SubjectShredList(ctx context.Context) ([]lethe.SubjectShred, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject_ref, shredded_at FROM subject_shreds ORDER BY shredded_at, id`)
	if err != nil {
		return nil, translate("list subject shreds", err)
	}
	defer rows.Close()
	var out []lethe.SubjectShred
	for rows.Next() {
		var (
			ref []byte
			at  time.Time
		)
		if err := rows.Scan(&ref, &at); err != nil {
			return nil, translate("list subject shreds", err)
		}
		if len(ref) != 32 {
			return nil, fmt.Errorf("list subject shreds: stored subject reference has %d bytes", len(ref))
		}
		out = append(out, lethe.SubjectShred{SubjectRef: lethe.SubjectRef(ref), ShreddedAt: at.UTC()})
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
	created := key.CreatedAt
	if created.IsZero() {
		created = s.clock.Now()
	}
	scopes := make([]string, len(key.Scopes))
	for i, sc := range key.Scopes {
		scopes[i] = string(sc)
	}
	_, err := s.appendWith(ctx, "create api key", []lethe.AuditRecord{rec}, func(_ txConn, b *batch) error {
		b.queue("create api key", "an API key with this id already exists", nil,
			`INSERT INTO api_keys (id, name, scopes, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			key.ID, key.Name, scopes, key.Hash, ts(created), tsPtr(key.RevokedAt))
		return nil
	})
	return err
}

const apiKeyColumns = `id, name, scopes, hash, created_at, revoked_at`

func scanAPIKey(r pgx.Row) (lethe.APIKey, error) {
	var (
		k       lethe.APIKey
		scopes  []string
		at      time.Time
		revoked *time.Time
	)
	if err := r.Scan(&k.ID, &k.Name, &scopes, &k.Hash, &at, &revoked); err != nil {
		return k, err
	}
	k.Scopes = make([]lethe.Scope, len(scopes))
	for i, sc := range scopes {
		k.Scopes[i] = lethe.Scope(sc)
	}
	k.CreatedAt, k.RevokedAt = at.UTC(), utcPtr(revoked)
	return k, nil
}

// APIKeyGet returns a key by id, revoked or not (ENOTFOUND).
func (s *Store) APIKeyGet(ctx context.Context, id string) (lethe.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, lethe.Errorf(lethe.ENOTFOUND, "no API key with this id")
	}
	if err != nil {
		return k, translate("read api key", err)
	}
	return k, nil
}

// APIKeyList returns every key, oldest first.
func (s *Store) APIKeyList(ctx context.Context) ([]lethe.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id COLLATE "C"`)
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

// errNoop aborts a transaction that turned out to have nothing to do.
var errNoop = errors.New("nothing to do")

// APIKeyRevoke marks a key revoked at `at`, appends the audit record and
// tells every node to drop its caches (an empty notification: an API key
// is not a subject), in one transaction (ENOTFOUND if there is no such
// key). Revoking a revoked key is a no-op: the first revocation time stays
// and nothing is audited.
func (s *Store) APIKeyRevoke(ctx context.Context, id string, at time.Time, rec lethe.AuditRecord) error {
	_, err := s.appendWith(ctx, "revoke api key", []lethe.AuditRecord{rec}, func(tx txConn, b *batch) error {
		var revoked *time.Time
		err := tx.QueryRow(ctx, `SELECT revoked_at FROM api_keys WHERE id = $1 FOR UPDATE`, id).Scan(&revoked)
		if errors.Is(err, pgx.ErrNoRows) {
			return lethe.Errorf(lethe.ENOTFOUND, "no API key with this id")
		}
		if err != nil {
			return translate("revoke api key", err)
		}
		if revoked != nil {
			return errNoop
		}
		b.queue("revoke api key", "", nil,
			`UPDATE api_keys SET revoked_at = $1 WHERE id = $2`, ts(at), id)
		b.queue("notify api key revoke", "", nil, sqlNotify, s.channel, "")
		return nil
	})
	if errors.Is(err, errNoop) {
		return nil
	}
	return err
}
