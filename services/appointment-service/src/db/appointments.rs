use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{AppointmentRecord, NewAppointment};

macro_rules! columns {
    () => {
        "id, clinic_id, doctor_id, room_id, exam_type_id, starts_at, duration_minutes, price_minor, currency, \
         discount_percent, final_price_minor, status, patient_id, reserved_at, reservation_request_id, version, \
         created_at"
    };
}
pub(crate) use columns;

pub const DOCTOR_OVERLAP: &str = "appointments_doctor_overlap";
pub const ROOM_OVERLAP: &str = "appointments_room_overlap";
pub const DOCTOR_FKEY: &str = "appointments_doctor_fkey";
pub const ROOM_FKEY: &str = "appointments_room_fkey";
pub const EXAM_TYPE_FKEY: &str = "appointments_exam_type_fkey";
pub const CLINIC_FKEY: &str = "appointments_clinic_id_fkey";

#[tracing::instrument(skip_all, err)]
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    a: &NewAppointment,
) -> Result<AppointmentRecord, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO appointments (id, clinic_id, doctor_id, room_id, exam_type_id, starts_at, ends_at, \
         duration_minutes, price_minor, currency, discount_percent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(a.clinic_id)
    .bind(a.doctor_id)
    .bind(a.room_id)
    .bind(a.exam_type_id)
    .bind(a.starts_at)
    .bind(a.ends_at())
    .bind(a.duration_minutes)
    .bind(a.price_minor)
    .bind(&a.currency)
    .bind(a.discount_percent)
    .fetch_one(conn)
    .await
}

/// Which part of a new appointment is not the clinic's: the clinic itself, then the doctor, the room
/// and the exam type, each of which must belong to that clinic. Another clinic's id is answered like
/// an unknown one, before any lock is taken or any other row is looked at.
#[tracing::instrument(skip_all, err)]
pub async fn missing_part(
    conn: &mut PgConnection,
    a: &NewAppointment,
) -> Result<Option<&'static str>, sqlx::Error> {
    let (clinic, doctor, room, exam_type): (bool, bool, bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT FROM clinics WHERE id = $1), \
                EXISTS (SELECT FROM doctors WHERE id = $2 AND clinic_id = $1), \
                EXISTS (SELECT FROM rooms WHERE id = $3 AND clinic_id = $1), \
                EXISTS (SELECT FROM exam_types WHERE id = $4 AND clinic_id = $1)",
    )
    .bind(a.clinic_id)
    .bind(a.doctor_id)
    .bind(a.room_id)
    .bind(a.exam_type_id)
    .fetch_one(conn)
    .await?;
    Ok([
        (clinic, "clinic"),
        (doctor, "doctor"),
        (room, "room"),
        (exam_type, "exam type"),
    ]
    .into_iter()
    .find_map(|(found, what)| (!found).then_some(what)))
}

/// The clinic's appointment of this doctor or room (any status) that overlaps [starts, ends),
/// earliest first.
#[tracing::instrument(skip_all, err)]
pub async fn overlapping(
    conn: &mut PgConnection,
    clinic_id: Uuid,
    doctor_id: Uuid,
    room_id: Uuid,
    starts_at: OffsetDateTime,
    ends_at: OffsetDateTime,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM appointments \
         WHERE clinic_id = $1 AND (doctor_id = $2 OR room_id = $3) \
           AND tstzrange(starts_at, ends_at) && tstzrange($4, $5) \
         ORDER BY starts_at, id LIMIT 1",
    )
    .bind(clinic_id)
    .bind(doctor_id)
    .bind(room_id)
    .bind(starts_at)
    .bind(ends_at)
    .fetch_optional(conn)
    .await
}

#[tracing::instrument(skip_all, fields(appointment_id = %id), err)]
pub async fn get(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<AppointmentRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM appointments WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Filters of ListAvailableAppointments.
#[derive(Debug, Clone, Default)]
pub struct AvailableFilter {
    pub clinic_id: Option<Uuid>,
    pub exam_type_id: Option<Uuid>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
}

/// Future AVAILABLE appointments by (starts_at, id) after the cursor. Every lower bound — now, the
/// `from` filter, the cursor — is folded into one row comparison computed here, and the upper bound is a
/// plain comparison, so the index scan starts and stops at the bounds and a page far ahead costs the
/// same as the first (an `IS NULL OR` bound is only a filter: pages half a year ahead took 60 ms at a
/// million appointments).
#[tracing::instrument(skip_all, err)]
pub async fn list_available(
    conn: &mut PgConnection,
    f: &AvailableFilter,
    after: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<AppointmentRecord>, sqlx::Error> {
    // `(t, nil)` as an exclusive bound admits every row starting at `t` (no id is nil).
    let floor = [
        Some((OffsetDateTime::now_utc(), Uuid::nil())),
        f.from.map(|t| (t, Uuid::nil())),
        after,
    ]
    .into_iter()
    .flatten()
    .max()
    .expect("now is always a bound");
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM appointments \
         WHERE status = 'AVAILABLE' AND starts_at > now() \
           AND ($1::uuid IS NULL OR clinic_id = $1) \
           AND ($2::uuid IS NULL OR exam_type_id = $2) \
           AND (starts_at, id) > ($3, $4) \
           AND starts_at < COALESCE($5::timestamptz, 'infinity') \
         ORDER BY starts_at, id LIMIT $6"
    ))
    .bind(f.clinic_id)
    .bind(f.exam_type_id)
    .bind(floor.0)
    .bind(floor.1)
    .bind(f.to)
    .bind(limit)
    // Planned with the actual bounds every time (an unnamed statement). A cached generic plan
    // cannot see how wide the bounds are and chose a bitmap scan plus sort of every available
    // appointment after now: 120 ms for a first page at 1M rows, against 0.1 ms for the ordered index
    // scan a custom plan picks (`bench/available_plan.sh` shows both).
    .persistent(false)
    .fetch_all(conn)
    .await
}

/// The patient's reservations, upcoming first; past ones too when asked.
#[tracing::instrument(skip_all, fields(patient_id = %patient_id), err)]
pub async fn list_for_patient(
    conn: &mut PgConnection,
    patient_id: Uuid,
    include_past: bool,
) -> Result<Vec<AppointmentRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM appointments WHERE patient_id = $1 AND ($2 OR starts_at > now()) ORDER BY starts_at, id LIMIT 500"
    ))
    .bind(patient_id)
    .bind(include_past)
    .fetch_all(conn)
    .await
}
