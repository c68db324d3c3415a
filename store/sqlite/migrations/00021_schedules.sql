-- Schedules of recurring jobs (the retention run): when each last
-- completed, and the lease that keeps two nodes from running it at once.
-- Times are Unix microseconds.

-- +goose Up
CREATE TABLE schedules (
    name              TEXT    PRIMARY KEY,
    last_completed_at INTEGER,
    lease_owner       TEXT,
    lease_until       INTEGER
);

-- +goose Down
DROP TABLE schedules;
