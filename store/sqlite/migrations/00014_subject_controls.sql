-- Restrictions (Art. 18) and objections (Art. 21), by subject reference
-- only. Rows are kept when a restriction is lifted or an objection is
-- overridden, so that the state shows when and how; the audit log holds
-- the history. Free text from the controller (the out-of-band reason of a
-- lift, the grounds of an override) is kept here, and only its hash in the
-- audit log.

-- +goose Up
CREATE TABLE subject_restrictions (
    subject_ref      BLOB        NOT NULL PRIMARY KEY CHECK (length(subject_ref) = 32),
    request_id       TEXT        NOT NULL DEFAULT '',
    actor            TEXT        NOT NULL,
    restricted_at    INTEGER     NOT NULL,
    lifted_at        INTEGER,
    lift_request_id  TEXT        NOT NULL DEFAULT '',
    lift_actor       TEXT        NOT NULL DEFAULT '',
    lift_notice      TEXT        NOT NULL DEFAULT '',
    lift_out_of_band TEXT        NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE subject_objections (
    subject_ref      BLOB        NOT NULL CHECK (length(subject_ref) = 32),
    purpose          TEXT        NOT NULL,
    request_id       TEXT        NOT NULL DEFAULT '',
    actor            TEXT        NOT NULL,
    objected_at      INTEGER     NOT NULL,
    overridden_at    INTEGER,
    override_actor   TEXT        NOT NULL DEFAULT '',
    override_grounds TEXT        NOT NULL DEFAULT '',
    PRIMARY KEY (subject_ref, purpose)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE subject_objections;
DROP TABLE subject_restrictions;
