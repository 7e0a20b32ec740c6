//! Cancelling a reservation: the same row lock; only the holder; only more than 24 h ahead.

use clinic_common::{
    auth::Identity,
    outbox::{self, NewEvent},
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    AGGREGATE, AppState, patient_id,
    reserve::{event_payload, lock_error},
};
use crate::{
    db::locks::{self, LockKey},
    db::reservations,
    domain::{AppointmentRecord, AppointmentStatus},
    error::AppointmentError,
};

pub const CANCELLATION_NOTICE: Duration = Duration::hours(24);

#[tracing::instrument(skip_all, fields(appointment_id = %id), err(level = "info"))]
pub async fn cancel(
    state: &AppState,
    caller: &Identity,
    id: Uuid,
) -> Result<AppointmentRecord, AppointmentError> {
    let patient = patient_id(caller)?;
    let mut tx = state.pool.begin().await?;
    reservations::set_lock_timeout(&mut tx, state.lock_timeout).await?;
    // One reservation change per patient at a time (see db::locks), then the appointment's row lock.
    locks::lock(&mut tx, &[LockKey::Patient(patient)])
        .await
        .map_err(lock_error)?;
    let current = reservations::lock(&mut tx, id)
        .await
        .map_err(lock_error)?
        .ok_or_else(|| AppointmentError::not_found("appointment"))?;
    if current.status != AppointmentStatus::Reserved || current.patient_id != Some(patient) {
        return Err(AppointmentError::Forbidden(
            "you do not hold this appointment",
        ));
    }
    if current.starts_at - OffsetDateTime::now_utc() <= CANCELLATION_NOTICE {
        return Err(AppointmentError::CancellationWindowClosed);
    }
    let released = reservations::release(&mut tx, id)
        .await
        .map_err(lock_error)?;
    let details = reservations::details(&mut tx, id).await?;
    outbox::append(
        &mut tx,
        NewEvent {
            aggregate_type: AGGREGATE,
            aggregate_id: id.to_string(),
            event_type: "appointment.cancelled",
            payload: event_payload(&released, patient, &details),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(patient_id = %patient, "reservation cancelled");
    Ok(released)
}
