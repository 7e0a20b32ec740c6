-- SubmitRegistration's idempotency keys of forms answered as accepted but not stored (the e-mail or
-- insurance number was already known; see `service::submit`): the id and created_at that answer gave,
-- so a retry with the same request_id is answered exactly like the retry of a stored request (the first
-- answer's id and created_at) and the holder is told once. The form itself is not kept: only a SHA-256
-- over the key, e-mail and insurance number, enough to refuse the key for another form
-- (REQUEST_ID_REUSED). Never purged, like the keys of stored requests: a key that vanished would answer
-- a late retry differently from a stored request's.
CREATE TABLE taken_submission_keys (
    client_request_id text        PRIMARY KEY,
    answered_id       uuid        NOT NULL,
    answered_at       timestamptz NOT NULL,
    form_digest       bytea       NOT NULL
);
