-- One-time verification codes of requests made by the person they are
-- about (package intake), and the fixed-window counters of the rate limits
-- of public intake. Nothing personal: code_hash is a keyed hash of the
-- request id and the code, and rate_limits.key a keyed hash of an e-mail
-- address or a client address.

-- +goose Up
CREATE TABLE verification_codes (
    request_id   text        NOT NULL PRIMARY KEY,
    subject_ref  bytea       NOT NULL CHECK (length(subject_ref) = 32),
    issue        integer     NOT NULL CHECK (issue >= 1),
    code_hash    bytea       NOT NULL CHECK (length(code_hash) = 32),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer     NOT NULL CHECK (max_attempts >= 1),
    used_at      timestamptz,
    CHECK (attempts <= max_attempts)
);
CREATE INDEX verification_codes_expiry ON verification_codes (expires_at);

CREATE TABLE rate_limits (
    key          text        NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    hits         integer     NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_end ON rate_limits (window_end);

-- +goose Down
DROP TABLE rate_limits;
DROP TABLE verification_codes;
