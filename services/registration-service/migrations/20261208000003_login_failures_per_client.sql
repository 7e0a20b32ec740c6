-- The failed-login delay, redesigned so that it throttles guessing without handing strangers a switch
-- that locks the owner out (docs/security.md, "Login delay"):
-- * login_failures: per e-mail AND client address (IPv6: its /64; '' for a caller without one). After
--   the third failure in a row from that client each further attempt from it waits a delay that
--   doubles (1 s … 15 min). Failures from one address delay that address only.
-- * login_account_failures: per e-mail, from all clients together, a much higher ceiling: after the
--   twentieth failure in a row each further failure closes the account to every client for a delay
--   that doubles from 1 s to at most 60 s — short, so one stranger (whom their own delay holds to one
--   failure every 15 minutes) cannot keep the owner out, while guessing spread over many addresses is
--   still slowed to one attempt a minute at most.
-- Both keyed by the canonical e-mail (whether or not an account has it, so nothing is revealed); a
-- success deletes the client's row and the account's; rows quiet for a day are forgotten. In the
-- database, so every replica enforces the same delays.
DROP TABLE login_failures;
CREATE TABLE login_failures (
    email           text        NOT NULL,
    client          text        NOT NULL,
    failures        integer     NOT NULL CHECK (failures > 0),
    blocked_until   timestamptz NOT NULL,
    last_failure_at timestamptz NOT NULL,
    PRIMARY KEY (email, client)
);
CREATE INDEX login_failures_last_failure_at ON login_failures (last_failure_at);
CREATE TABLE login_account_failures (
    email           text        PRIMARY KEY,
    failures        integer     NOT NULL CHECK (failures > 0),
    blocked_until   timestamptz NOT NULL,
    last_failure_at timestamptz NOT NULL
);
CREATE INDEX login_account_failures_last_failure_at ON login_account_failures (last_failure_at);
