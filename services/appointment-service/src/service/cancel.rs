//! Cancelling a reservation: the same locks, one statement; only the holder; only more than 24 h
//! ahead. The slot is AVAILABLE again.

use clinic_common::auth::Identity;
use time::Duration;
use uuid::Uuid;

use super::{
    AppState, patient_id,
    reserve::{change_error, new_event},
};
use crate::{
    db::reservations::{self, Outcome},
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
    let mut conn = state.pool.acquire().await?;
    let Outcome { changed, row, .. } =
        reservations::cancel(&mut conn, id, patient, CANCELLATION_NOTICE, &new_event())
            .await
            .map_err(change_error)?
            .ok_or_else(|| AppointmentError::not_found("appointment"))?;
    drop(conn);
    if changed {
        state.signal.committed();
        tracing::info!(patient_id = %patient, "reservation cancelled");
        return Ok(row);
    }
    if row.status != AppointmentStatus::Reserved || row.patient_id != Some(patient) {
        return Err(AppointmentError::Forbidden(
            "you do not hold this appointment",
        ));
    }
    // Held by the caller but not changed: too close to the start.
    Err(AppointmentError::CancellationWindowClosed)
}
