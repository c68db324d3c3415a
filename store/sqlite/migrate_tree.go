package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"
	"golang.org/x/mod/sumdb/tlog"
)

// migrateTreeIntoEntries is migration 00022, in Go because it walks the
// tree: the Merkle tree hashes move from audit_tree_hashes into the
// tree_hashes column of the entry whose append stored them, and
// audit_head, which only repeated the last entry, goes. Each commit of an
// append then writes two pages fewer to the write-ahead log (see
// appendAudit). Hashes are carried over exactly as stored, tampered or
// not: a missing one stays missing (the row's tree_hashes stops before
// it, so the hashes of the same leaf after it are not carried either) for
// `lethe audit verify` to report, and the hashes of an entry that is gone
// go with it (verify reports the missing entry). A head that does not
// match the last entry is refused, since dropping it would hide that. The
// migration is one transaction, holding the write lock for about two
// seconds per 200,000 entries.
func migrateTreeIntoEntries() *goose.Migration {
	return goose.NewGoMigration(22, &goose.GoFunc{RunTx: treeIntoEntries}, &goose.GoFunc{RunTx: treeOutOfEntries})
}

// sqlAuditEntryColumns are audit_entries' columns before migration 00022
// (as 00001 created them): the new table adds tree_hashes to them, the
// rollback rebuilds them alone.
const sqlAuditEntryColumns = `
    seq          INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 0),
    time         INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    subject_ref  BLOB    CHECK (subject_ref IS NULL OR length(subject_ref) = 32),
    object       TEXT    NOT NULL,
    details      TEXT,
    payload_hash BLOB,
    prev_hash    BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash         BLOB    NOT NULL CHECK (length(hash) = 32)`

const sqlAuditEntryNames = `seq, time, actor, action, subject_ref, object, details, payload_hash, prev_hash, hash`

const sqlAuditEntriesTriggers = `
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: DELETE refused'); END;`

func treeIntoEntries(ctx context.Context, tx *sql.Tx) error {
	if err := checkHead(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `
CREATE TABLE audit_entries_new (
`+sqlAuditEntryColumns+`,
    -- The tree hashes appending this leaf stored, at tlog storage indexes
    -- StoredHashIndex(0, seq) onward: the leaf hash, then one per subtree
    -- the leaf completes.
    tree_hashes  BLOB    NOT NULL CHECK (length(tree_hashes) % 32 = 0)
);
INSERT INTO audit_entries_new
SELECT `+sqlAuditEntryNames+`, x'' FROM audit_entries`); err != nil {
		return fmt.Errorf("copy audit entries: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT idx, hash FROM audit_tree_hashes ORDER BY idx`)
	if err != nil {
		return fmt.Errorf("read audit tree hashes: %w", err)
	}
	defer rows.Close()
	set, err := tx.PrepareContext(ctx, `UPDATE audit_entries_new SET tree_hashes = ? WHERE seq = ?`)
	if err != nil {
		return err
	}
	defer set.Close()
	var (
		seq  int64 = -1
		tree []byte
		gap  bool // a hash of seq's is missing: later ones stay out too
	)
	flush := func() error {
		if seq < 0 || len(tree) == 0 {
			return nil
		}
		_, err := set.ExecContext(ctx, tree, seq)
		return err
	}
	for rows.Next() {
		var (
			idx int64
			h   []byte
		)
		if err := rows.Scan(&idx, &h); err != nil {
			return err
		}
		leaf, pos := hashLeaf(idx)
		if leaf != seq {
			if err := flush(); err != nil {
				return fmt.Errorf("store tree hashes of entry %d: %w", seq, err)
			}
			seq, tree, gap = leaf, nil, false
		}
		if gap || pos != len(tree)/32 || len(h) != 32 {
			gap = true
			continue
		}
		tree = append(tree, h...)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return fmt.Errorf("store tree hashes of entry %d: %w", seq, err)
	}
	_ = rows.Close()
	if _, err := tx.ExecContext(ctx, `
DROP TABLE audit_entries;
ALTER TABLE audit_entries_new RENAME TO audit_entries;
DROP TABLE audit_tree_hashes;
DROP TABLE audit_head;`+sqlAuditEntriesTriggers); err != nil {
		return fmt.Errorf("replace audit entries: %w", err)
	}
	return nil
}

// checkHead refuses to drop an audit_head that disagrees with the last
// entry.
func checkHead(ctx context.Context, tx *sql.Tx) error {
	var (
		size int64
		last []byte
	)
	if err := tx.QueryRowContext(ctx, `SELECT size, last_hash FROM audit_head WHERE id = 1`).Scan(&size, &last); err != nil {
		return fmt.Errorf("read audit head: %w", err)
	}
	var (
		seq  int64 = -1
		hash       = make([]byte, 32)
	)
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read last audit entry: %w", err)
	}
	if size != seq+1 || !bytes.Equal(last, hash) {
		return fmt.Errorf("the audit log's head (size %d) does not match its last entry (seq %d): the log was changed outside Lethe; "+
			"run `lethe audit verify` with the release that wrote it before upgrading", size, seq)
	}
	return nil
}

// treeOutOfEntries undoes migration 00022.
func treeOutOfEntries(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `
CREATE TABLE audit_tree_hashes (
    idx  INTEGER NOT NULL PRIMARY KEY CHECK (idx >= 0),
    hash BLOB    NOT NULL CHECK (length(hash) = 32)
);
CREATE TABLE audit_head (
    id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    size      INTEGER NOT NULL CHECK (size >= 0),
    last_hash BLOB    NOT NULL CHECK (length(last_hash) = 32)
);
INSERT INTO audit_head (id, size, last_hash)
SELECT 1, COALESCE((SELECT seq + 1 FROM audit_entries ORDER BY seq DESC LIMIT 1), 0),
       COALESCE((SELECT hash FROM audit_entries ORDER BY seq DESC LIMIT 1), zeroblob(32));`); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, tree_hashes FROM audit_entries ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO audit_tree_hashes (idx, hash) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for rows.Next() {
		var (
			seq  int64
			tree []byte
		)
		if err := rows.Scan(&seq, &tree); err != nil {
			return err
		}
		first := tlog.StoredHashIndex(0, seq)
		for i := 0; 32*(i+1) <= len(tree); i++ {
			if _, err := ins.ExecContext(ctx, first+int64(i), tree[32*i:32*i+32]); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	_ = rows.Close()
	_, err = tx.ExecContext(ctx, `
CREATE TABLE audit_entries_old (
`+sqlAuditEntryColumns+`
);
INSERT INTO audit_entries_old SELECT `+sqlAuditEntryNames+` FROM audit_entries;
DROP TABLE audit_entries;
ALTER TABLE audit_entries_old RENAME TO audit_entries;
CREATE TRIGGER audit_tree_hashes_no_update BEFORE UPDATE ON audit_tree_hashes
BEGIN SELECT RAISE(ABORT, 'audit_tree_hashes is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_tree_hashes_no_delete BEFORE DELETE ON audit_tree_hashes
BEGIN SELECT RAISE(ABORT, 'audit_tree_hashes is append-only: DELETE refused'); END;`+sqlAuditEntriesTriggers)
	return err
}
