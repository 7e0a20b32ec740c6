//! The pessimistic side: a bounded lock wait, the row lock, and the changes made while holding it.

use std::time::Duration;

use sqlx::PgConnection;
use uuid::Uuid;

use super::appointments::columns;
use crate::domain::{AppointmentRecord, ReservationDetails};

pub const PATIENT_OVERLAP: &str = "appointments_patient_overlap";
/// SQLSTATE of `lock_not_available`, raised when `lock_timeout` expires.
pub const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Bounds every lock wait of the current transaction (a `SET LOCAL`, parameterised).
#[tracing::instrument(skip_all, err)]
pub async fn set_lock_timeout(
    conn: &mut PgConnection,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
        .bind(format!("{}ms", timeout.as_millis().max(1)))
        .execute(conn)
        .await?;
    Ok(())
}

/// `SELECT … FOR UPDATE`: waits (up to the lock timeout) for whoever holds the row.
#[tracing::instrument(skip_all, fields(appointment_id = %id), err)]
pub async fn lock(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<AppointmentRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM appointments WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

#[tracing::instrument(skip_all, fields(appointment_id = %id), err)]
pub async fn reserve(
    conn: &mut PgConnection,
    id: Uuid,
    patient_id: Uuid,
    request_id: Option<&str>,
) -> Result<AppointmentRecord, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE appointments SET status = 'RESERVED', patient_id = $2, reserved_at = now(), \
         reservation_request_id = $3, version = version + 1 WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(patient_id)
    .bind(request_id)
    .fetch_one(conn)
    .await
}

#[tracing::instrument(skip_all, fields(appointment_id = %id), err)]
pub async fn release(conn: &mut PgConnection, id: Uuid) -> Result<AppointmentRecord, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE appointments SET status = 'AVAILABLE', patient_id = NULL, reserved_at = NULL, \
         reservation_request_id = NULL, version = version + 1 WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Names for the e-mail: clinic, doctor, room, exam type.
#[tracing::instrument(skip_all, fields(appointment_id = %id), err)]
pub async fn details(conn: &mut PgConnection, id: Uuid) -> Result<ReservationDetails, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.name AS clinic_name, c.address AS clinic_address, c.city AS clinic_city, \
                c.time_zone AS clinic_time_zone, d.first_name AS doctor_first_name, \
                d.last_name AS doctor_last_name, r.name AS room_name, e.name AS exam_type_name \
         FROM appointments a \
         JOIN clinics c ON c.id = a.clinic_id JOIN doctors d ON d.id = a.doctor_id \
         JOIN rooms r ON r.id = a.room_id JOIN exam_types e ON e.id = a.exam_type_id \
         WHERE a.id = $1",
    )
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Up to `limit` other future AVAILABLE appointments of the same clinic and exam type, nearest start first.
#[tracing::instrument(skip_all, err)]
pub async fn alternatives(
    conn: &mut PgConnection,
    taken: &AppointmentRecord,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM appointments \
         WHERE clinic_id = $1 AND exam_type_id = $2 AND status = 'AVAILABLE' AND starts_at > now() AND id <> $3 \
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
