-- Lethe's own state on SQLite. Times are INTEGER unix microseconds (UTC);
-- subject references are 32-byte BLOBs; event ids are 16-byte UUID BLOBs,
-- whose byte order is their time order (UUIDv7).

-- +goose Up

-- Consent events: append-only. WITHOUT ROWID keeps the rows in the
-- primary-key b-tree itself (UUIDv7 ids arrive in order, so appends touch
-- the right edge only).
CREATE TABLE consent_events (
    id             BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    subject_ref    BLOB    NOT NULL CHECK (length(subject_ref) = 32),
    purpose        TEXT    NOT NULL,
    granted        INTEGER NOT NULL CHECK (granted IN (0, 1)),
    policy_version TEXT    NOT NULL,
    mechanism      TEXT    NOT NULL,
    jurisdiction   TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    recorded_at    INTEGER NOT NULL,
    evidence       BLOB
) WITHOUT ROWID;

-- History of a subject, oldest first (with or without a purpose filter).
CREATE INDEX consent_events_subject_recorded ON consent_events (subject_ref, recorded_at, id);

-- Consent state: the latest event per (subject, purpose), a projection kept
-- in the same transaction as the append.
CREATE TABLE consent_state (
    subject_ref    BLOB    NOT NULL CHECK (length(subject_ref) = 32),
    purpose        TEXT    NOT NULL,
    granted        INTEGER NOT NULL CHECK (granted IN (0, 1)),
    policy_version TEXT    NOT NULL,
    event_id       BLOB    NOT NULL REFERENCES consent_events (id),
    recorded_at    INTEGER NOT NULL,
    PRIMARY KEY (subject_ref, purpose)
) WITHOUT ROWID;

-- Audit log entries: append-only, seq is the Merkle leaf index.
CREATE TABLE audit_entries (
    seq          INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 0),
    time         INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    subject_ref  BLOB    CHECK (subject_ref IS NULL OR length(subject_ref) = 32),
    object       TEXT    NOT NULL,
    details      TEXT,
    payload_hash BLOB,
    prev_hash    BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash         BLOB    NOT NULL CHECK (length(hash) = 32)
);

-- Stored Merkle tree hashes at tlog.StoredHashIndex positions: append-only.
CREATE TABLE audit_tree_hashes (
    idx  INTEGER NOT NULL PRIMARY KEY CHECK (idx >= 0),
    hash BLOB    NOT NULL CHECK (length(hash) = 32)
);

-- The single row every append continues from.
CREATE TABLE audit_head (
    id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    size      INTEGER NOT NULL CHECK (size >= 0),
    last_hash BLOB    NOT NULL CHECK (length(last_hash) = 32)
);
INSERT INTO audit_head (id, size, last_hash) VALUES (1, 0, zeroblob(32));

-- Signed checkpoints: append-only.
CREATE TABLE audit_checkpoints (
    size       INTEGER NOT NULL PRIMARY KEY CHECK (size >= 0),
    root       BLOB    NOT NULL CHECK (length(root) = 32),
    created_at INTEGER NOT NULL,
    note       BLOB    NOT NULL
);

-- Wrapped per-subject data keys. Shredding sets wrapped to NULL (with
-- secure_delete on, SQLite zeroes the freed bytes); a key is shredded
-- exactly when it has no material left.
CREATE TABLE subject_keys (
    subject_ref BLOB    NOT NULL CHECK (length(subject_ref) = 32),
    generation  INTEGER NOT NULL CHECK (generation >= 1),
    wrapped     BLOB,
    created_at  INTEGER NOT NULL,
    shredded_at INTEGER,
    PRIMARY KEY (subject_ref, generation),
    CHECK ((wrapped IS NULL) = (shredded_at IS NOT NULL))
) WITHOUT ROWID;

-- At most one active key per subject: concurrent creators converge on it.
CREATE UNIQUE INDEX subject_keys_active ON subject_keys (subject_ref) WHERE shredded_at IS NULL;

-- PII-free record of every shred, to re-apply after a backup restore.
CREATE TABLE subject_shreds (
    id          INTEGER NOT NULL PRIMARY KEY,
    subject_ref BLOB    NOT NULL CHECK (length(subject_ref) = 32),
    shredded_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    scopes     TEXT    NOT NULL, -- JSON array of scope strings
    hash       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- Append-only: the database itself refuses to change history, whatever the
-- code path (or the person with a shell) asking.
-- +goose StatementBegin
CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent_events is append-only: UPDATE refused'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent_events is append-only: DELETE refused'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: UPDATE refused'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only: DELETE refused'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_tree_hashes_no_update BEFORE UPDATE ON audit_tree_hashes
BEGIN SELECT RAISE(ABORT, 'audit_tree_hashes is append-only: UPDATE refused'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_tree_hashes_no_delete BEFORE DELETE ON audit_tree_hashes
BEGIN SELECT RAISE(ABORT, 'audit_tree_hashes is append-only: DELETE refused'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: UPDATE refused'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only: DELETE refused'); END;
-- +goose StatementEnd

-- No Down section on purpose: rolling back would drop the consent ledger and
-- the audit log. Restore a backup instead.
