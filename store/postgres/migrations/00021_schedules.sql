-- Schedules of recurring jobs (the retention run): when each last
-- completed, and the lease that keeps two nodes from running it at once.

-- +goose Up
CREATE TABLE schedules (
    name              text        PRIMARY KEY,
    last_completed_at timestamptz,
    lease_owner       text,
    lease_until       timestamptz
);

-- +goose Down
DROP TABLE schedules;
