-- Bench data, loaded by bench/compare.sh after the services' own migrations and after
-- `registration-service create-admin --email bench-admin@bench.local` (whose password hash every bench
-- account reuses: synthetic accounts only, never in a real database).
-- psql variables: appointments, patients, requests.
\set ON_ERROR_STOP on

SET search_path = registration;
INSERT INTO accounts (id, email, password_hash, role, first_name, last_name, insurance_number, status, activated_at)
SELECT gen_random_uuid(), 'bench-patient-' || g || '@bench.local', a.password_hash, 'patient',
       'Bench', 'Patient ' || g, 'BP' || lpad(g::text, 10, '0'), 'ACTIVE', now()
FROM generate_series(1, :patients) g,
     (SELECT password_hash FROM accounts WHERE email = 'bench-admin@bench.local') a;
INSERT INTO registration_requests (id, email, password_hash, first_name, last_name, address, city, country,
                                   phone, insurance_number, created_at)
SELECT gen_random_uuid(), 'bench-request-' || g || '@bench.local', a.password_hash, 'Bench', 'Request ' || g,
       'Bulevar 1', 'Novi Sad', 'Serbia', '+381 21 000000', 'BR' || lpad(g::text, 10, '0'),
       now() + make_interval(secs => g / 1000.0)
FROM generate_series(1, :requests) g,
     (SELECT password_hash FROM accounts WHERE email = 'bench-admin@bench.local') a;
-- Numbers the pending requests for pgbench's approval scripts (a sequence hands them out).
CREATE TABLE bench_requests AS
SELECT row_number() OVER (ORDER BY created_at, id) AS n, id FROM registration_requests WHERE status = 'PENDING';
CREATE UNIQUE INDEX ON bench_requests (n);
CREATE SEQUENCE bench_request_seq;
ANALYZE;

SET search_path = appointment;
-- 20 clinics, each with 25 doctor/room pairs and 5 exam types.
INSERT INTO clinics (id, name, address, city, time_zone)
SELECT gen_random_uuid(), 'Bench clinic ' || c, 'Bulevar ' || c, 'Novi Sad', 'Europe/Belgrade'
FROM generate_series(1, 20) c;
INSERT INTO doctors (id, clinic_id, first_name, last_name, specialization)
SELECT gen_random_uuid(), c.id, 'Doctor', 'No ' || g, 'General' FROM clinics c, generate_series(1, 25) g;
INSERT INTO rooms (id, clinic_id, name)
SELECT gen_random_uuid(), c.id, 'Room ' || g FROM clinics c, generate_series(1, 25) g;
INSERT INTO exam_types (id, clinic_id, name)
SELECT gen_random_uuid(), c.id, 'Exam ' || g FROM clinics c, generate_series(1, 5) g;
CREATE TEMP TABLE pairs AS
SELECT d.clinic_id, d.id AS doctor_id, r.id AS room_id, row_number() OVER (ORDER BY d.clinic_id, d.k) - 1 AS p
FROM (SELECT *, row_number() OVER (PARTITION BY clinic_id ORDER BY id) k FROM doctors) d
JOIN (SELECT *, row_number() OVER (PARTITION BY clinic_id ORDER BY id) k FROM rooms) r
  ON r.clinic_id = d.clinic_id AND r.k = d.k;
CREATE TEMP TABLE exams AS
SELECT clinic_id, id, row_number() OVER (PARTITION BY clinic_id ORDER BY id) - 1 AS k FROM exam_types;
-- 5-minute appointments from two days ahead, one after another and never overlapping, so any
-- patient may reserve any set of them (the patient-overlap constraint never fires) and every one is
-- cancellable (more than 24 h ahead).
INSERT INTO appointments (id, clinic_id, doctor_id, room_id, exam_type_id, starts_at, ends_at,
                          duration_minutes, price_minor, currency, discount_percent)
SELECT gen_random_uuid(), p.clinic_id, p.doctor_id, p.room_id, e.id,
       t.base + make_interval(mins => 5 * g), t.base + make_interval(mins => 5 * g + 5),
       5, 5000, 'EUR', 10
FROM generate_series(0, :appointments - 1) g
CROSS JOIN (SELECT date_trunc('hour', now()) + interval '2 days' AS base) t
JOIN pairs p ON p.p = g % 500
JOIN exams e ON e.clinic_id = p.clinic_id AND e.k = (g / 500) % 5;
-- Numbers the appointments so pgbench can pick one (see reserve_min.sql).
CREATE TABLE bench_ids AS SELECT row_number() OVER (ORDER BY starts_at) AS n, id FROM appointments;
CREATE UNIQUE INDEX ON bench_ids (n);
ANALYZE;
