-- Erasure tombstones: per identity an erasure used, its subject reference
-- (HMAC, no personal data), identity type, request and time. `lethe
-- rerun` matches a restored datastore's identity columns against them.

-- +goose Up
CREATE TABLE tombstones (
    subject_ref   bytea       NOT NULL CHECK (length(subject_ref) = 32),
    request_id    text        NOT NULL,
    identity_type text        NOT NULL,
    erased_at     timestamptz NOT NULL,
    PRIMARY KEY (subject_ref, request_id)
);
CREATE INDEX tombstones_erased ON tombstones (erased_at);

-- +goose Down
DROP TABLE tombstones;
