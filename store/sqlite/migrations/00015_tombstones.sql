-- Erasure tombstones: per identity an erasure used, its subject reference
-- (HMAC, no personal data), identity type, request and time. `lethe
-- rerun` matches a restored datastore's identity columns against them.

-- +goose Up
CREATE TABLE tombstones (
    subject_ref   BLOB    NOT NULL CHECK (length(subject_ref) = 32),
    request_id    TEXT    NOT NULL,
    identity_type TEXT    NOT NULL,
    erased_at     INTEGER NOT NULL,
    PRIMARY KEY (subject_ref, request_id)
) WITHOUT ROWID;
CREATE INDEX tombstones_erased ON tombstones (erased_at);

-- +goose Down
DROP TABLE tombstones;
