package sqlite

import (
	"context"
	"database/sql"
)

// writerStmts are the hot-path statements, prepared once on the single
// writer connection and reused by every transaction (tx.StmtContext finds
// the statement already prepared on that connection), which spares SQLite a
// parse and plan per row.
type writerStmts struct {
	eventInsert *sql.Stmt
	stateUpsert *sql.Stmt
	headGet     *sql.Stmt
	hashGet     *sql.Stmt
	entryInsert *sql.Stmt
	keyActive   *sql.Stmt
	keyNextGen  *sql.Stmt
	keyInsert   *sql.Stmt
	keyAppend   *sql.Stmt
	keyLatest   *sql.Stmt
	// readKeyActive and readKeyLatest are prepared on the reader pool:
	// every first encryption for a subject reads one.
	readKeyActive *sql.Stmt
	readKeyLatest *sql.Stmt
}

const (
	sqlEventInsert = `INSERT INTO consent_events
 (id, subject_ref, purpose, granted, policy_version, mechanism, jurisdiction, source, recorded_at, evidence)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// The state moves only to a newer event: later RecordedAt, or the same
	// instant and a greater id (UUIDv7 bytes compare in time order).
	sqlStateUpsert = `INSERT INTO consent_state
 (subject_ref, purpose, granted, policy_version, event_id, recorded_at)
 VALUES (?, ?, ?, ?, ?, ?)
 ON CONFLICT (subject_ref, purpose) DO UPDATE SET
   granted = excluded.granted, policy_version = excluded.policy_version,
   event_id = excluded.event_id, recorded_at = excluded.recorded_at
 WHERE excluded.recorded_at > consent_state.recorded_at
    OR (excluded.recorded_at = consent_state.recorded_at AND excluded.event_id > consent_state.event_id)`
	// The head is the last entry (no rows: the empty log).
	sqlHeadGet = `SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1`
	// A leaf's row holds the tree hashes its append stored (migration
	// 00022).
	sqlHashGet    = `SELECT tree_hashes FROM audit_entries WHERE seq = ?`
	sqlKeyActive  = `SELECT ` + subjectKeyColumns + ` FROM subject_keys WHERE subject_ref = ? AND shredded_at IS NULL`
	sqlKeyNextGen = `SELECT COALESCE(MAX(generation), 0) + 1 FROM subject_keys WHERE subject_ref = ?`
	sqlKeyInsert  = `INSERT INTO subject_keys (subject_ref, generation, wrapped, created_at) VALUES (?, ?, ?, ?)`
	sqlKeyLatest  = `SELECT ` + subjectKeyColumns + ` FROM subject_keys WHERE subject_ref = ? ORDER BY generation DESC LIMIT 1`
	// A key that comes with consent events is stored only as the
	// generation right after the newest one, and only while the subject
	// has no active key: otherwise nothing is inserted. This, under the
	// write lock, is what keeps a subject to one active key (see migration
	// 00011).
	sqlKeyAppend = `INSERT INTO subject_keys (subject_ref, generation, wrapped, created_at)
 SELECT ?1, ?2, ?3, ?4
 WHERE (SELECT COALESCE(MAX(generation), 0) FROM subject_keys WHERE subject_ref = ?1) = ?2 - 1
   AND NOT EXISTS (SELECT 1 FROM subject_keys WHERE subject_ref = ?1 AND shredded_at IS NULL)`
	sqlEntryInsert = `INSERT INTO audit_entries
 (seq, time, actor, action, subject_ref, object, details, payload_hash, prev_hash, hash, tree_hashes)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

func (w *writerStmts) prepare(ctx context.Context, db, reader *sql.DB) error {
	st, err := reader.PrepareContext(ctx, sqlKeyActive)
	if err != nil {
		return err
	}
	w.readKeyActive = st
	if st, err = reader.PrepareContext(ctx, sqlKeyLatest); err != nil {
		return err
	}
	w.readKeyLatest = st
	for _, p := range []struct {
		dst *(*sql.Stmt)
		sql string
	}{
		{&w.eventInsert, sqlEventInsert},
		{&w.stateUpsert, sqlStateUpsert},
		{&w.headGet, sqlHeadGet},
		{&w.hashGet, sqlHashGet},
		{&w.entryInsert, sqlEntryInsert},
		{&w.keyActive, sqlKeyActive},
		{&w.keyNextGen, sqlKeyNextGen},
		{&w.keyInsert, sqlKeyInsert},
		{&w.keyAppend, sqlKeyAppend},
		{&w.keyLatest, sqlKeyLatest},
	} {
		st, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return err
		}
		*p.dst = st
	}
	return nil
}

func (w *writerStmts) close() {
	for _, st := range []*sql.Stmt{w.eventInsert, w.stateUpsert, w.headGet, w.hashGet,
		w.entryInsert, w.keyActive, w.keyNextGen, w.keyInsert, w.keyAppend, w.keyLatest, w.readKeyActive, w.readKeyLatest} {
		if st != nil {
			_ = st.Close()
		}
	}
}
