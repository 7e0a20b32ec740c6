-- Anchor for approval speed: the least SQL an approval can be (the patient account with the request's
-- password hash, the compare-and-swap on the request that also clears that hash, the activation
-- token, the outbox row, commit), replayed by pgbench against the
-- project's own `registration` schema. Each transaction takes the next pending request from a
-- sequence (set up by bench/seed.sql), as every approval decides a different request.
-- Run: pgbench -n -M simple -c 16 -j 2 -T 20 -f approve_min.sql "$DATABASE_URL"
BEGIN;
INSERT INTO registration.accounts (id, email, password_hash, role, first_name, last_name, insurance_number, registration_request_id, status) SELECT md5('account' || b.n)::uuid, r.email, r.password_hash, 'patient', r.first_name, r.last_name, r.insurance_number, r.id, 'AWAITING_ACTIVATION' FROM registration.registration_requests r JOIN registration.bench_requests b ON b.id = r.id WHERE b.n = (SELECT nextval('registration.bench_request_seq')) AND r.version = 1 AND r.status = 'PENDING';
UPDATE registration.registration_requests r SET status = 'APPROVED', version = r.version + 1, decided_by = '00000000-0000-0000-0000-00000000a0a0', decided_at = now(), password_hash = NULL FROM registration.bench_requests b WHERE b.n = (SELECT currval('registration.bench_request_seq')) AND r.id = b.id AND r.version = 1 AND r.status = 'PENDING';
INSERT INTO registration.activation_tokens (token_hash, account_id, expires_at) VALUES (sha256(gen_random_uuid()::text::bytea), md5('account' || currval('registration.bench_request_seq'))::uuid, now() + interval '72 hours');
INSERT INTO registration.outbox (id, aggregate_type, aggregate_id, event_type, payload, created_at) VALUES (gen_random_uuid(), 'registration_request', currval('registration.bench_request_seq')::text, 'registration.approved', '{"k":"v"}'::jsonb, clock_timestamp());
COMMIT;
