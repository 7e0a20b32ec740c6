#!/usr/bin/env bash
# Plan and timing of ListAvailableAppointments' query over 1,000,000 appointments.
# Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/available_plan.sh
# Creates (and drops) a scratch database; applies appointment-service's real migrations.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
: "${DATABASE_URL:?set DATABASE_URL to a server where this may CREATE DATABASE}"
rows=${ROWS:-1000000}
db="clinic_bench_$$"
base=${DATABASE_URL%/*}
psql -q "$DATABASE_URL" -c "CREATE DATABASE $db"
trap 'psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
url="$base/$db"
cargo build --quiet --manifest-path "$root/Cargo.toml" -p appointment-service
DATABASE_URL=$url "${CARGO_TARGET_DIR:-$root/target}/debug/appointment-service" migrate
psql -q "$url" -v rows="$rows" <<'SQL'
SET search_path = appointment;
-- 20 clinics × 5 exam types; 500 doctor/room pairs, each with back-to-back 30-minute slots.
INSERT INTO clinics (id, name, address, city, time_zone)
SELECT gen_random_uuid(), 'Clinic ' || c, 'Street', 'City', 'Europe/Belgrade' FROM generate_series(1, 20) c;
INSERT INTO doctors (id, clinic_id, first_name, last_name, specialization)
SELECT gen_random_uuid(), c.id, 'D', 'r' || g, 's' FROM clinics c, generate_series(1, 25) g;
INSERT INTO rooms (id, clinic_id, name)
SELECT gen_random_uuid(), c.id, 'Room ' || g FROM clinics c, generate_series(1, 25) g;
INSERT INTO exam_types (id, clinic_id, name)
SELECT gen_random_uuid(), c.id, 'Exam ' || g FROM clinics c, generate_series(1, 5) g;
CREATE TEMP TABLE pairs AS
SELECT d.clinic_id, d.id AS doctor_id, r.id AS room_id, row_number() OVER () AS n
FROM (SELECT *, row_number() OVER (PARTITION BY clinic_id ORDER BY id) k FROM doctors) d
JOIN (SELECT *, row_number() OVER (PARTITION BY clinic_id ORDER BY id) k FROM rooms) r
  ON r.clinic_id = d.clinic_id AND r.k = d.k;
CREATE TEMP TABLE exams AS
SELECT clinic_id, id, row_number() OVER (PARTITION BY clinic_id ORDER BY id) - 1 AS k FROM exam_types;
INSERT INTO appointments (id, clinic_id, doctor_id, room_id, exam_type_id, starts_at, ends_at,
                          duration_minutes, price_minor, currency, discount_percent, status, patient_id, reserved_at)
SELECT gen_random_uuid(), p.clinic_id, p.doctor_id, p.room_id, e.id,
       date_trunc('hour', now()) + make_interval(mins => 30 * s - 60 * 24 * 30),
       date_trunc('hour', now()) + make_interval(mins => 30 * s + 30 - 60 * 24 * 30),
       30, 5000, 'EUR', 10,
       CASE WHEN s % 3 = 0 THEN 'RESERVED' ELSE 'AVAILABLE' END,
       CASE WHEN s % 3 = 0 THEN gen_random_uuid() END,
       CASE WHEN s % 3 = 0 THEN now() END
FROM pairs p CROSS JOIN generate_series(1, (:rows / 500)) s
JOIN exams e ON e.clinic_id = p.clinic_id AND e.k = s % 5;
ANALYZE;
SELECT count(*) AS appointments, count(*) FILTER (WHERE status = 'AVAILABLE' AND starts_at > now()) AS bookable
FROM appointments;
-- The statement ListAvailableAppointments runs (services/appointment-service/src/db/appointments.rs).
PREPARE list_available(uuid, uuid, timestamptz, uuid, timestamptz, bigint) AS
SELECT id, starts_at FROM appointments
WHERE status = 'AVAILABLE' AND starts_at > now()
  AND ($1::uuid IS NULL OR clinic_id = $1) AND ($2::uuid IS NULL OR exam_type_id = $2)
  AND (starts_at, id) > ($3, $4)
  AND starts_at < COALESCE($5::timestamptz, 'infinity')
ORDER BY starts_at, id LIMIT $6;
SELECT clinic_id AS c, id AS e FROM exams WHERE k = 0 LIMIT 1 \gset
\set nil '00000000-0000-0000-0000-000000000000'
\echo '--- no filter, first page of 20'
EXPLAIN (ANALYZE, COSTS OFF) EXECUTE list_available(NULL, NULL, now(), :'nil', NULL, 21);
\echo '--- one clinic and exam type, first page of 20'
EXPLAIN (ANALYZE, COSTS OFF) EXECUTE list_available(:'c', :'e', now(), :'nil', NULL, 21);
\echo '--- the same with a generic plan: why the service plans this query per call (persistent(false))'
SET plan_cache_mode = force_generic_plan;
EXPLAIN (ANALYZE, COSTS OFF) EXECUTE list_available(:'c', :'e', now(), :'nil', NULL, 21);
\echo '--- from 180 days ahead (the lower bound the service computes), generic plan, no filter'
EXPLAIN (ANALYZE, COSTS OFF) EXECUTE list_available(NULL, NULL, now() + interval '180 days', :'nil', NULL, 21);
SQL
