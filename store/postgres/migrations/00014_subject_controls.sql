-- Restrictions (Art. 18) and objections (Art. 21), by subject reference
-- only. Rows are kept when a restriction is lifted or an objection is
-- overridden, so that the state shows when and how; the audit log holds
-- the history. Free text from the controller (the out-of-band reason of a
-- lift, the grounds of an override) is kept here, and only its hash in the
-- audit log.

-- +goose Up
CREATE TABLE subject_restrictions (
    subject_ref      bytea       NOT NULL PRIMARY KEY CHECK (length(subject_ref) = 32),
    request_id       text        NOT NULL DEFAULT '',
    actor            text        NOT NULL,
    restricted_at    timestamptz NOT NULL,
    lifted_at        timestamptz,
    lift_request_id  text        NOT NULL DEFAULT '',
    lift_actor       text        NOT NULL DEFAULT '',
    lift_notice      text        NOT NULL DEFAULT '',
    lift_out_of_band text        NOT NULL DEFAULT ''
);

CREATE TABLE subject_objections (
    subject_ref      bytea       NOT NULL CHECK (length(subject_ref) = 32),
    purpose          text        NOT NULL,
    request_id       text        NOT NULL DEFAULT '',
    actor            text        NOT NULL,
    objected_at      timestamptz NOT NULL,
    overridden_at    timestamptz,
    override_actor   text        NOT NULL DEFAULT '',
    override_grounds text        NOT NULL DEFAULT '',
    PRIMARY KEY (subject_ref, purpose)
);

-- +goose Down
DROP TABLE subject_objections;
DROP TABLE subject_restrictions;
