-- Lethe's own state on PostgreSQL. Every object is created unqualified, in
-- the first schema of the connection's search_path, so one database can
-- hold several Lethe instances (or test runs) side by side.

-- +goose Up

-- Consent events: append-only.
CREATE TABLE consent_events (
    id             uuid        NOT NULL PRIMARY KEY,
    subject_ref    bytea       NOT NULL CHECK (octet_length(subject_ref) = 32),
    purpose        text        NOT NULL,
    granted        boolean     NOT NULL,
    policy_version text        NOT NULL,
    mechanism      text        NOT NULL,
    jurisdiction   text        NOT NULL,
    source         text        NOT NULL,
    recorded_at    timestamptz NOT NULL,
    evidence       bytea
);

-- History of a subject, oldest first (with or without a purpose filter).
CREATE INDEX consent_events_subject_recorded ON consent_events (subject_ref, recorded_at, id);

-- Consent state: the latest event per (subject, purpose), a projection kept
-- in the same transaction as the append.
CREATE TABLE consent_state (
    subject_ref    bytea       NOT NULL CHECK (octet_length(subject_ref) = 32),
    purpose        text        NOT NULL,
    granted        boolean     NOT NULL,
    policy_version text        NOT NULL,
    event_id       uuid        NOT NULL REFERENCES consent_events (id),
    recorded_at    timestamptz NOT NULL,
    PRIMARY KEY (subject_ref, purpose)
);

-- Audit log entries: append-only, seq is the Merkle leaf index.
CREATE TABLE audit_entries (
    seq          bigint      NOT NULL PRIMARY KEY CHECK (seq >= 0),
    time         timestamptz NOT NULL,
    actor        text        NOT NULL,
    action       text        NOT NULL,
    subject_ref  bytea       CHECK (subject_ref IS NULL OR octet_length(subject_ref) = 32),
    object       text        NOT NULL,
    details      jsonb,
    payload_hash bytea,
    prev_hash    bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash         bytea       NOT NULL CHECK (octet_length(hash) = 32)
);

-- Stored Merkle tree hashes at tlog.StoredHashIndex positions: append-only.
CREATE TABLE audit_tree_hashes (
    idx  bigint NOT NULL PRIMARY KEY CHECK (idx >= 0),
    hash bytea  NOT NULL CHECK (octet_length(hash) = 32)
);

-- The single row every append continues from. Appends lock it
-- (SELECT ... FOR UPDATE), which serialises them across every node.
CREATE TABLE audit_head (
    id        smallint NOT NULL PRIMARY KEY CHECK (id = 1),
    size      bigint   NOT NULL CHECK (size >= 0),
    last_hash bytea    NOT NULL CHECK (octet_length(last_hash) = 32)
);
INSERT INTO audit_head (id, size, last_hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- Signed checkpoints: append-only.
CREATE TABLE audit_checkpoints (
    size       bigint      NOT NULL PRIMARY KEY CHECK (size >= 0),
    root       bytea       NOT NULL CHECK (octet_length(root) = 32),
    created_at timestamptz NOT NULL,
    note       bytea       NOT NULL
);

-- Wrapped per-subject data keys. Shredding sets wrapped to NULL; a key is
-- shredded exactly when it has no material left.
CREATE TABLE subject_keys (
    subject_ref bytea       NOT NULL CHECK (octet_length(subject_ref) = 32),
    generation  integer     NOT NULL CHECK (generation >= 1),
    wrapped     bytea,
    created_at  timestamptz NOT NULL,
    shredded_at timestamptz,
    PRIMARY KEY (subject_ref, generation),
    CHECK ((wrapped IS NULL) = (shredded_at IS NOT NULL))
);

-- At most one active key per subject: concurrent creators converge on it.
CREATE UNIQUE INDEX subject_keys_active ON subject_keys (subject_ref) WHERE shredded_at IS NULL;

-- PII-free record of every shred, to re-apply after a backup restore.
CREATE TABLE subject_shreds (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_ref bytea       NOT NULL CHECK (octet_length(subject_ref) = 32),
    shredded_at timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id         text        NOT NULL PRIMARY KEY,
    name       text        NOT NULL,
    scopes     text[]      NOT NULL,
    hash       bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

-- Append-only: the database itself refuses to change history, whatever the
-- code path (or the person with psql) asking. Statement-level triggers fire
-- even when no row matches, and also refuse TRUNCATE.
-- +goose StatementBegin
CREATE FUNCTION lethe_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING HINT = 'Lethe never rewrites consent events or the audit log; append a new event instead.';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON consent_events
    FOR EACH STATEMENT EXECUTE FUNCTION lethe_refuse_change();
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION lethe_refuse_change();
CREATE TRIGGER audit_tree_hashes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_tree_hashes
    FOR EACH STATEMENT EXECUTE FUNCTION lethe_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION lethe_refuse_change();

-- No Down section on purpose: rolling back would drop the consent ledger and
-- the audit log. Restore a backup instead.
