-- One canonical form of an e-mail, compared exactly everywhere: the service's parser (`domain::Email`:
-- trimmed, lower-cased by Rust's Unicode rules) makes it before anything is stored or looked up. The
-- unique indexes were on PostgreSQL's lower(email), which folds some characters otherwise ('İ' is 'i'
-- to glibc and 'i̇' to Rust), so a look-up through lower() could find an account under an address the
-- login limit counted as another. Every writer has stored the parser's form from the start; ASCII
-- rows written otherwise (by hand) are brought to it here — for ASCII both foldings agree.
UPDATE accounts SET email = lower(btrim(email))
WHERE email ~ '^[[:ascii:]]*$' AND email <> lower(btrim(email));
UPDATE registration_requests SET email = lower(btrim(email))
WHERE email ~ '^[[:ascii:]]*$' AND email <> lower(btrim(email));
DROP INDEX accounts_email_key;
CREATE UNIQUE INDEX accounts_email_key ON accounts (email);
DROP INDEX registration_requests_pending_email_key;
CREATE UNIQUE INDEX registration_requests_pending_email_key
    ON registration_requests (email) WHERE status = 'PENDING';
-- Failure counts keyed by lower(): forgotten (they last a day at most anyway).
DELETE FROM login_failures;
