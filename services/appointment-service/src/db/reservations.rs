//! The pessimistic side. A reservation change is ONE statement in its own (implicit) transaction, so
//! it costs one round trip: take the patient's advisory lock, lock the appointment row
//! (`SELECT … FOR UPDATE`; both waits bounded by the connection's `lock_timeout`), and only if the
//! row as found allows it, change it and append the outbox event with everything its e-mail needs.
//! The statement returns the row as found under the lock, or as changed, and which of the two it is.
//!
//! Why the CTEs are safe: `found` takes the row lock and, under READ COMMITTED, returns the latest
//! committed version; `changed` joins to `found` and re-checks its conditions on that version, so a
//! reservation that committed while we waited makes `changed` empty. The advisory lock (see
//! `db::locks`) is a CTE joined into `found`, so it is taken before the row lock.
//!
//! Time is read when it is checked, after the lock waits: `changed` compares the start with
//! `clock_timestamp()`, not `now()` (the statement's start, before its lock waits, each up to
//! `lock_timeout`), so a statement parked on the row until the appointment has started, or until
//! the 24 h cancellation window has closed, changes nothing.
//!
//! The idempotency record (`reservation_requests`, patient + request id → appointment) is read by
//! `prior` from the statement's snapshot, taken BEFORE the wait for the patient's lock, so a record
//! committed during that wait is invisible to it. Every writer of a patient's records holds that
//! patient's lock, so this is the only way to miss one, and what follows from it is safe:
//! - the same request for the same appointment: the row lock shows it reserved by this patient, so
//!   `changed` is empty — no second reservation, no second event — and `recorded`, binding the key to
//!   the slot the patient holds, meets the other record as in the next point;
//! - anything that would write (the record's appointment since cancelled, another appointment, or
//!   the key bound to the slot the patient already holds): `recorded` inserts the same key and fails
//!   on the primary key (the other record has committed), the whole statement rolls back, and the
//!   caller runs it once more with a fresh snapshot that sees the record (see `service::reserve`).
//!
//! A key is bound when it reserves the slot AND when it finds the slot already held by this patient
//! (a second key for a reservation whose first answer was lost): either way the key has been answered
//! with the reservation, so a retry of it after a cancel must not reserve again.

use sqlx::PgConnection;
use uuid::Uuid;

use super::appointments::columns;
use crate::domain::AppointmentRecord;

pub const PATIENT_OVERLAP: &str = "appointments_patient_overlap";
/// Primary key of the idempotency records: violated only when a record for the same patient and
/// request id committed after the statement's snapshot (see the module comment).
pub const REQUEST_RECORD_KEY: &str = "reservation_requests_pkey";
/// SQLSTATE of `lock_not_available`, raised when `lock_timeout` expires.
pub const LOCK_NOT_AVAILABLE: &str = "55P03";
/// SQLSTATEs of a deadlock and a serialization failure: the transaction was rolled back; retry.
pub const DEADLOCK_DETECTED: &str = "40P01";
pub const SERIALIZATION_FAILURE: &str = "40001";

/// Patient lock, then row lock; `$1` appointment id, `$2` patient id.
macro_rules! lock_ctes {
    () => {
        "WITH patient_lock AS MATERIALIZED ( \
             SELECT pg_advisory_xact_lock(hashtextextended('patient:' || $2::text, 0))), \
         found AS MATERIALIZED ( \
             SELECT a.* FROM patient_lock, appointments a WHERE a.id = $1 FOR UPDATE OF a), "
    };
}

/// The outbox row of the change: `$4` event id, `$5` traceparent; the payload names what the
/// e-mail says (clinic, doctor, room, exam type, start, final price).
macro_rules! event_cte {
    ($event_type:literal) => {
        concat!(
            "event AS ( \
             INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, traceparent, created_at) \
             SELECT $4, 'appointment', ch.id::text, '",
            $event_type,
            "', jsonb_build_object( \
                 'appointment_id', ch.id, 'patient_id', $2::uuid, \
                 'clinic', jsonb_build_object('id', c.id, 'name', c.name, 'address', c.address, \
                                              'city', c.city, 'time_zone', c.time_zone), \
                 'doctor', jsonb_build_object('id', d.id, 'first_name', d.first_name, 'last_name', d.last_name), \
                 'room', jsonb_build_object('id', r.id, 'name', r.name), \
                 'exam_type', jsonb_build_object('id', e.id, 'name', e.name), \
                 'starts_at', (to_json(ch.starts_at AT TIME ZONE 'UTC') #>> '{}') || 'Z', \
                 'duration_minutes', ch.duration_minutes, 'price_minor', ch.price_minor, \
                 'discount_percent', ch.discount_percent, 'final_price_minor', ch.final_price_minor, \
                 'currency', ch.currency, 'version', ch.version), \
               $5, clock_timestamp() \
             FROM changed ch JOIN clinics c ON c.id = ch.clinic_id JOIN doctors d ON d.id = ch.doctor_id \
             JOIN rooms r ON r.id = ch.room_id JOIN exam_types e ON e.id = ch.exam_type_id) "
        )
    };
}

/// The changed row if there is one, else the row as found; with the appointment the request id is
/// already bound to (`$bound`, a uuid expression).
macro_rules! outcome {
    ($bound:literal) => {
        concat!(
            "SELECT true AS changed, ",
            $bound,
            " AS request_bound_to, ",
            columns!(),
            " FROM changed UNION ALL SELECT false, ",
            $bound,
            ", ",
            columns!(),
            " FROM found WHERE NOT EXISTS (SELECT FROM changed)"
        )
    };
}

/// Reserve: `$3` the client's request id (idempotency key, optional). Changes the row only if it is
/// AVAILABLE, starts after the clock as read once the locks are held, and the request id is not bound
/// to an appointment yet. Binds an unbound request id to the row it reserved, or to the row it found
/// already held by this patient.
pub const RESERVE: &str = concat!(
    lock_ctes!(),
    "prior AS MATERIALIZED ( \
         SELECT appointment_id FROM reservation_requests WHERE patient_id = $2 AND request_id = $3), \
     changed AS ( \
         UPDATE appointments a SET status = 'RESERVED', patient_id = $2, reserved_at = now(), \
                reservation_request_id = $3, version = a.version + 1 \
         FROM found f WHERE a.id = f.id AND f.status = 'AVAILABLE' AND f.starts_at > clock_timestamp() \
           AND NOT EXISTS (SELECT FROM prior) \
         RETURNING a.*), \
     recorded AS ( \
         INSERT INTO reservation_requests (patient_id, request_id, appointment_id) \
         SELECT $2, $3, r.id FROM ( \
             SELECT id FROM changed \
             UNION ALL \
             SELECT id FROM found WHERE status = 'RESERVED' AND patient_id = $2 \
               AND NOT EXISTS (SELECT FROM prior)) r \
         WHERE $3::text IS NOT NULL), ",
    event_cte!("appointment.reserved"),
    outcome!("(SELECT appointment_id FROM prior)")
);

/// Cancel: `$3` the notice in seconds. Changes the row only if `$2` holds it and it starts later
/// than that after the clock as read once the locks are held.
pub const CANCEL: &str = concat!(
    lock_ctes!(),
    "changed AS ( \
         UPDATE appointments a SET status = 'AVAILABLE', patient_id = NULL, reserved_at = NULL, \
                reservation_request_id = NULL, version = a.version + 1 \
         FROM found f WHERE a.id = f.id AND f.status = 'RESERVED' AND f.patient_id = $2 \
           AND f.starts_at > clock_timestamp() + $3 * interval '1 second' \
         RETURNING a.*), ",
    event_cte!("appointment.cancelled"),
    outcome!("NULL::uuid")
);

/// What a reservation change found or did.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Outcome {
    /// True when this statement changed the row (and appended the event).
    pub changed: bool,
    /// Reserve: the appointment the request id was already bound to (then nothing changed).
    pub request_bound_to: Option<Uuid>,
    #[sqlx(flatten)]
    pub row: AppointmentRecord,
}

/// The event a change appends: its id and the trace it continues.
#[derive(Debug, Clone)]
pub struct EventMeta {
    pub id: Uuid,
    pub traceparent: Option<String>,
}

/// `None` when the appointment does not exist.
#[tracing::instrument(skip_all, fields(appointment_id = %id, outbox_event_id = %event.id), err)]
pub async fn reserve(
    conn: &mut PgConnection,
    id: Uuid,
    patient_id: Uuid,
    request_id: Option<&str>,
    event: &EventMeta,
) -> Result<Option<Outcome>, sqlx::Error> {
    sqlx::query_as(RESERVE)
        .bind(id)
        .bind(patient_id)
        .bind(request_id)
        .bind(event.id)
        .bind(event.traceparent.as_deref())
        .fetch_optional(conn)
        .await
}

/// `None` when the appointment does not exist.
#[tracing::instrument(skip_all, fields(appointment_id = %id, outbox_event_id = %event.id), err)]
pub async fn cancel(
    conn: &mut PgConnection,
    id: Uuid,
    patient_id: Uuid,
    notice: time::Duration,
    event: &EventMeta,
) -> Result<Option<Outcome>, sqlx::Error> {
    sqlx::query_as(CANCEL)
        .bind(id)
        .bind(patient_id)
        .bind(notice.as_seconds_f64())
        .bind(event.id)
        .bind(event.traceparent.as_deref())
        .fetch_optional(conn)
        .await
}

/// Up to `limit` other future AVAILABLE appointments of the same clinic and exam type, nearest start
/// first. Two index-ordered scans (the nearest after, the nearest before), so a loser of a hot race
/// reads a few index entries, not every available appointment of the clinic.
#[tracing::instrument(skip_all, err)]
pub async fn alternatives(
    conn: &mut PgConnection,
    taken: &AppointmentRecord,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM ( \
             (SELECT id, starts_at FROM appointments \
              WHERE clinic_id = $1 AND exam_type_id = $2 AND status = 'AVAILABLE' AND id <> $3 \
                AND starts_at >= $4 AND starts_at > now() \
              ORDER BY starts_at, id LIMIT $5) \
             UNION ALL \
             (SELECT id, starts_at FROM appointments \
              WHERE clinic_id = $1 AND exam_type_id = $2 AND status = 'AVAILABLE' AND id <> $3 \
                AND starts_at < $4 AND starts_at > now() \
              ORDER BY starts_at DESC, id DESC LIMIT $5)) near \
         ORDER BY abs(extract(epoch FROM starts_at - $4)), starts_at, id LIMIT $5",
    )
    .bind(taken.clinic_id)
    .bind(taken.exam_type_id)
    .bind(taken.id)
    .bind(taken.starts_at)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// `RESERVE` as pgbench replays it in `bench/reserve_service.sql`: the same statement, with the
/// appointment picked by number, the client as the patient and a fresh event id.
pub fn reserve_for_pgbench() -> String {
    let sql = RESERVE
        .replace("$5", "NULL::text")
        .replace("$4", "gen_random_uuid()")
        .replace("$3", "NULL::text")
        .replace("$2", "md5(:client_id::text)::uuid")
        .replace("$1", "(SELECT id FROM bench_ids WHERE n = :n)");
    format!(
        "-- GENERATED from RESERVE in services/appointment-service/src/db/reservations.rs by the test\n\
         -- `the_pgbench_replay_is_the_statement_the_service_runs` (BLESS=1 rewrites it): the one statement\n\
         -- a reservation runs, replayed by pgbench on the same database (search_path=appointment, -M prepared).\n\
         \\set n random(1, :slots)\n{sql};\n"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pgbench_replay_is_the_statement_the_service_runs() {
        clinic_common::testing::assert_generated_file(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../bench/reserve_service.sql"
            ),
            &super::reserve_for_pgbench(),
        );
    }
}
