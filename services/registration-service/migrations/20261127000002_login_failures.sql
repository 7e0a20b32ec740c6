-- Failed logins per e-mail (lower-cased), whether or not an account has it (so the delay reveals
-- nothing about which e-mails exist). After the third failure in a row each further attempt must wait
-- a delay that doubles (1 s, 2 s, 4 s … at most 15 min); a success deletes the row. Rows quiet for a
-- day are forgotten. In the database, so every replica enforces the same delay.
CREATE TABLE login_failures (
    email           text        PRIMARY KEY,
    failures        integer     NOT NULL CHECK (failures > 0),
    blocked_until   timestamptz NOT NULL,
    last_failure_at timestamptz NOT NULL
);
CREATE INDEX login_failures_last_failure_at ON login_failures (last_failure_at);
