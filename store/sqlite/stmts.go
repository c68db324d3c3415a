package sqlite

import (
	"context"
	"database/sql"
	"strings"
)

// writerStmts are the hot-path statements, prepared once on the single
// writer connection and reused by every transaction (tx.StmtContext finds
// the statement already prepared on that connection), which spares SQLite a
// parse and plan per row.
type writerStmts struct {
	eventInsert *sql.Stmt
	stateUpsert *sql.Stmt
	headGet     *sql.Stmt
	headSet     *sql.Stmt
	hashGet     *sql.Stmt
	hashInsert  *sql.Stmt
	hashInsertN *sql.Stmt // hashChunk rows at once
	entryInsert *sql.Stmt
	keyActive   *sql.Stmt
	keyNextGen  *sql.Stmt
	keyInsert   *sql.Stmt
	keyAppend   *sql.Stmt
	// readKeyActive and readKeyLatest are prepared on the reader pool:
	// every first encryption for a subject reads one.
	readKeyActive *sql.Stmt
	readKeyLatest *sql.Stmt
}

// hashChunk is how many tree hashes one multi-row INSERT writes; a group
// of appends writes about two per entry.
const hashChunk = 16

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
	sqlHeadGet    = `SELECT size, last_hash FROM audit_head WHERE id = 1`
	sqlHeadSet    = `UPDATE audit_head SET size = ?, last_hash = ? WHERE id = 1 AND size = ?`
	sqlHashGet    = `SELECT hash FROM audit_tree_hashes WHERE idx = ?`
	sqlHashInsert = `INSERT INTO audit_tree_hashes (idx, hash) VALUES (?, ?)`
	sqlKeyActive  = `SELECT ` + subjectKeyColumns + ` FROM subject_keys WHERE subject_ref = ? AND shredded_at IS NULL`
	sqlKeyNextGen = `SELECT COALESCE(MAX(generation), 0) + 1 FROM subject_keys WHERE subject_ref = ?`
	sqlKeyInsert  = `INSERT INTO subject_keys (subject_ref, generation, wrapped, created_at) VALUES (?, ?, ?, ?)`
	sqlKeyLatest  = `SELECT ` + subjectKeyColumns + ` FROM subject_keys WHERE subject_ref = ? ORDER BY generation DESC LIMIT 1`
	// A key that comes with consent events is stored only as the
	// generation right after the newest one, and only while the subject
	// has no active key (ON CONFLICT covers the partial unique index on
	// active keys and the primary key): otherwise nothing is inserted.
	sqlKeyAppend = `INSERT INTO subject_keys (subject_ref, generation, wrapped, created_at)
 SELECT ?1, ?2, ?3, ?4 WHERE (SELECT COALESCE(MAX(generation), 0) FROM subject_keys WHERE subject_ref = ?1) = ?2 - 1
 ON CONFLICT DO NOTHING`
	sqlEntryInsert = `INSERT INTO audit_entries
 (seq, time, actor, action, subject_ref, object, details, payload_hash, prev_hash, hash)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
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
		{&w.headSet, sqlHeadSet},
		{&w.hashGet, sqlHashGet},
		{&w.hashInsert, sqlHashInsert},
		{&w.hashInsertN, sqlHashInsert + strings.Repeat(", (?, ?)", hashChunk-1)},
		{&w.entryInsert, sqlEntryInsert},
		{&w.keyActive, sqlKeyActive},
		{&w.keyNextGen, sqlKeyNextGen},
		{&w.keyInsert, sqlKeyInsert},
		{&w.keyAppend, sqlKeyAppend},
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
	for _, st := range []*sql.Stmt{w.eventInsert, w.stateUpsert, w.headGet, w.headSet, w.hashGet, w.hashInsert, w.hashInsertN,
		w.entryInsert, w.keyActive, w.keyNextGen, w.keyInsert, w.keyAppend, w.readKeyActive, w.readKeyLatest} {
		if st != nil {
			_ = st.Close()
		}
	}
}
