//! Reserving: pessimistic. The patient is checked over gRPC first (no lock is ever held across a
//! network call); then one transaction takes the row lock under a lock timeout, checks, changes,
//! writes the outbox row and commits.

use std::time::Duration;

use clinic_common::{
    auth::Identity,
    error::{sqlstate, violated_constraint},
    outbox::{self, NewEvent},
};
use serde_json::{Value, json};
use sqlx::{Postgres, Transaction};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use super::{AGGREGATE, AppState, patient_id};
use crate::{
    db::locks::{self, LockKey},
    db::reservations::{self, LOCK_NOT_AVAILABLE, PATIENT_OVERLAP},
    domain::{AppointmentRecord, AppointmentStatus, ReservationDetails},
    error::AppointmentError,
};

/// How long a loser that hit the lock timeout is told to wait before retrying.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_millis(500);

/// Maps errors of statements run under the lock timeout.
pub(super) fn lock_error(e: sqlx::Error) -> AppointmentError {
    if sqlstate(&e).as_deref() == Some(LOCK_NOT_AVAILABLE) {
        AppointmentError::Busy {
            retry_after: BUSY_RETRY_AFTER,
        }
    } else {
        e.into()
    }
}

#[tracing::instrument(skip_all, fields(appointment_id = %id), err(level = "info"))]
pub async fn reserve(
    state: &AppState,
    caller: &Identity,
    id: Uuid,
    request_id: Option<String>,
) -> Result<AppointmentRecord, AppointmentError> {
    let patient = patient_id(caller)?;
    state.registration.ensure_active(patient).await?;

    let (mut tx, current) = lock_for_change(state, patient, id).await?;
    match current.status {
        // A retry, or the holder reserving again: the reservation is the answer.
        AppointmentStatus::Reserved if current.patient_id == Some(patient) => return Ok(current),
        AppointmentStatus::Reserved => {
            drop(tx);
            let mut conn = state.pool.acquire().await?;
            let alternatives = reservations::alternatives(&mut conn, &current, 3).await?;
            return Err(AppointmentError::AlreadyReserved { alternatives });
        }
        AppointmentStatus::Available if current.starts_at <= OffsetDateTime::now_utc() => {
            return Err(AppointmentError::AppointmentInPast);
        }
        AppointmentStatus::Available => {}
    }
    let reserved = reservations::reserve(&mut tx, id, patient, request_id.as_deref())
        .await
        .map_err(|e| match violated_constraint(&e) {
            Some(PATIENT_OVERLAP) => AppointmentError::PatientScheduleConflict,
            _ => lock_error(e),
        })?;
    record(tx, &reserved, patient, "appointment.reserved").await?;
    tracing::info!(patient_id = %patient, "appointment reserved");
    Ok(reserved)
}

/// Opens the transaction of a reservation change: every lock wait bounded by the lock timeout, one
/// change per patient at a time (see `db::locks`), then the appointment's row lock.
pub(super) async fn lock_for_change(
    state: &AppState,
    patient: Uuid,
    id: Uuid,
) -> Result<(Transaction<'static, Postgres>, AppointmentRecord), AppointmentError> {
    let mut tx = state.pool.begin().await?;
    reservations::set_lock_timeout(&mut tx, state.lock_timeout).await?;
    locks::lock(&mut tx, &[LockKey::Patient(patient)])
        .await
        .map_err(lock_error)?;
    let current = reservations::lock(&mut tx, id)
        .await
        .map_err(lock_error)?
        .ok_or_else(|| AppointmentError::not_found("appointment"))?;
    Ok((tx, current))
}

/// Appends the change's event (with the names the e-mail needs) and commits.
pub(super) async fn record(
    mut tx: Transaction<'static, Postgres>,
    changed: &AppointmentRecord,
    patient: Uuid,
    event_type: &'static str,
) -> Result<(), AppointmentError> {
    let details = reservations::details(&mut tx, changed.id).await?;
    outbox::append(
        &mut tx,
        NewEvent {
            aggregate_type: AGGREGATE,
            aggregate_id: changed.id.to_string(),
            event_type,
            payload: event_payload(changed, patient, &details),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Everything the confirmation or cancellation e-mail needs.
fn event_payload(a: &AppointmentRecord, patient: Uuid, d: &ReservationDetails) -> Value {
    json!({
        "appointment_id": a.id,
        "patient_id": patient,
        "clinic": { "id": a.clinic_id, "name": d.clinic_name, "address": d.clinic_address,
                    "city": d.clinic_city, "time_zone": d.clinic_time_zone },
        "doctor": { "id": a.doctor_id, "first_name": d.doctor_first_name, "last_name": d.doctor_last_name },
        "room": { "id": a.room_id, "name": d.room_name },
        "exam_type": { "id": a.exam_type_id, "name": d.exam_type_name },
        "starts_at": a.starts_at.format(&Rfc3339).unwrap_or_default(),
        "duration_minutes": a.duration_minutes,
        "price_minor": a.price_minor,
        "discount_percent": a.discount_percent,
        "final_price_minor": a.final_price_minor,
        "currency": a.currency,
        "version": a.version,
    })
}
