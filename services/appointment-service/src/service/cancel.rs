//! Cancelling a reservation: the same row lock; only the holder; only more than 24 h ahead.

use clinic_common::auth::Identity;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    AppState, patient_id,
    reserve::{lock_error, lock_for_change, record},
};
use crate::{
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
    let (mut tx, current) = lock_for_change(state, patient, id).await?;
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
    record(tx, &released, patient, "appointment.cancelled").await?;
    tracing::info!(patient_id = %patient, "reservation cancelled");
    Ok(released)
}
