//! Cancelling a reservation: the same locks, one statement; only the holder; only more than 24 h
//! ahead. The slot is AVAILABLE again. Cancelling a slot that is not reserved (a second cancel) is
//! `APPOINTMENT_NOT_RESERVED`; another patient's reservation is `FORBIDDEN`.

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
    match row.status {
        // Nothing to cancel: e.g. a retry of a cancel that succeeded. A state of the appointment
        // (which anyone may see while it is available), not a permission.
        AppointmentStatus::Available => Err(AppointmentError::NotReserved),
        // Held by the caller but not changed: too close to the start.
        AppointmentStatus::Reserved if row.patient_id == Some(patient) => {
            Err(AppointmentError::CancellationWindowClosed)
        }
        AppointmentStatus::Reserved => Err(AppointmentError::Forbidden(
            "you do not hold this appointment",
        )),
    }
}
