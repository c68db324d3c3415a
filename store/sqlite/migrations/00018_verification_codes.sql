-- One-time verification codes of requests made by the person they are
-- about (package intake), and the fixed-window counters of the rate limits
-- of public intake. Nothing personal: code_hash is a keyed hash of the
-- request id and the code, and rate_limits.key a keyed hash of an e-mail
-- address or a client address.

-- +goose Up
CREATE TABLE verification_codes (
    request_id   TEXT    NOT NULL PRIMARY KEY,
    subject_ref  BLOB    NOT NULL CHECK (length(subject_ref) = 32),
    issue        INTEGER NOT NULL CHECK (issue >= 1),
    code_hash    BLOB    NOT NULL CHECK (length(code_hash) = 32),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    used_at      INTEGER,
    CHECK (attempts <= max_attempts)
);
CREATE INDEX verification_codes_expiry ON verification_codes (expires_at);

CREATE TABLE rate_limits (
    key          TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    window_end   INTEGER NOT NULL,
    hits         INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
) WITHOUT ROWID;
CREATE INDEX rate_limits_end ON rate_limits (window_end);

-- +goose Down
DROP TABLE rate_limits;
DROP TABLE verification_codes;
