-- A request's password hash is needed only until the decision: an approval moves it to the account,
-- a rejection discards it. Decided requests keep none (the decision statements clear it), and the
-- constraint makes that an invariant of the table.
ALTER TABLE registration_requests ALTER COLUMN password_hash DROP NOT NULL;
UPDATE registration_requests SET password_hash = NULL WHERE status <> 'PENDING';
ALTER TABLE registration_requests ADD CONSTRAINT password_hash_only_while_pending
    CHECK ((status = 'PENDING') = (password_hash IS NOT NULL));
