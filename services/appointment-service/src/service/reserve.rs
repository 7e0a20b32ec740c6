//! Reserving: pessimistic. The patient is checked first (no lock is ever held across a network
//! call); then one statement locks the row under the lock timeout, checks it, changes it and appends
//! the outbox event, in its own transaction (see `db::reservations`).

use std::time::Duration;

use clinic_common::{
    auth::Identity,
    error::{sqlstate, violated_constraint},
    telemetry,
};
use uuid::Uuid;

use super::{AppState, patient_id};
use crate::{
    db::reservations::{
        self, DEADLOCK_DETECTED, EventMeta, LOCK_NOT_AVAILABLE, Outcome, PATIENT_OVERLAP,
        REQUEST_RECORD_KEY, SERIALIZATION_FAILURE,
    },
    domain::{AppointmentRecord, AppointmentStatus},
    error::AppointmentError,
};

/// How long a loser that hit the lock timeout is told to wait before retrying.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_millis(500);

/// Maps errors of statements that wait for locks: a lock timeout, a deadlock or a serialization
/// failure rolled the change back and a retry may succeed.
pub(super) fn lock_error(e: sqlx::Error) -> AppointmentError {
    match sqlstate(&e).as_deref() {
        Some(LOCK_NOT_AVAILABLE | DEADLOCK_DETECTED | SERIALIZATION_FAILURE) => {
            AppointmentError::Busy {
                retry_after: BUSY_RETRY_AFTER,
            }
        }
        _ => e.into(),
    }
}

/// Maps errors of a reservation change statement.
pub(super) fn change_error(e: sqlx::Error) -> AppointmentError {
    match violated_constraint(&e) {
        Some(PATIENT_OVERLAP) => AppointmentError::PatientScheduleConflict,
        _ => lock_error(e),
    }
}

/// The id and trace of the event a change appends.
pub(super) fn new_event() -> EventMeta {
    EventMeta {
        id: Uuid::now_v7(),
        traceparent: telemetry::current_traceparent(),
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

    let mut conn = state.pool.acquire().await?;
    let event = new_event();
    let request_id = request_id.as_deref();
    let outcome = match reservations::reserve(&mut conn, id, patient, request_id, &event).await {
        // A call with the same request id committed its record after this statement's snapshot
        // (while it waited for the patient's lock) and the statement rolled back: once more, with a
        // snapshot that sees the record. Records are never rewritten, so a second conflict cannot be.
        Err(e) if violated_constraint(&e) == Some(REQUEST_RECORD_KEY) => {
            tracing::info!("request id bound concurrently; reading it again");
            reservations::reserve(&mut conn, id, patient, request_id, &event).await
        }
        other => other,
    };
    let Outcome {
        changed,
        request_bound_to,
        row,
    } = outcome
        .map_err(change_error)?
        .ok_or_else(|| AppointmentError::not_found("appointment"))?;
    if changed {
        drop(conn);
        state.signal.committed();
        tracing::info!(patient_id = %patient, "appointment reserved");
        return Ok(row);
    }
    let retry = match request_bound_to {
        Some(bound) if bound != id => return Err(AppointmentError::RequestIdReused),
        Some(_) => true,
        None => false,
    };
    match row.status {
        // A retry, or the holder reserving again: the reservation is the answer.
        AppointmentStatus::Reserved if row.patient_id == Some(patient) => Ok(row),
        AppointmentStatus::Reserved => {
            // The slot is taken whatever the look-up does: a failed look-up (a lock timeout, a
            // lost connection) leaves the answer without alternatives, not INTERNAL.
            let alternatives = reservations::alternatives(&mut conn, &row, 3)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "alternatives look-up failed; answering without them");
                    Vec::new()
                });
            Err(AppointmentError::AlreadyReserved { alternatives })
        }
        // A retry of a reservation since cancelled: the slot as it is now; nothing changes.
        AppointmentStatus::Available if retry => Ok(row),
        // Found AVAILABLE but not changed: it has started.
        AppointmentStatus::Available => Err(AppointmentError::AppointmentInPast),
    }
}
