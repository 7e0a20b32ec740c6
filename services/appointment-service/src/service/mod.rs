//! Use cases. Each begins its own transaction, passes it down to `db`, and commits before returning;
//! events leave only through the outbox row written in that transaction.

pub mod cancel;
pub mod catalog;
pub mod queries;
pub mod reserve;
pub mod schedule;

use std::time::Duration;

use clinic_common::{
    auth::{Identity, Role},
    outbox::CommitSignal,
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{error::AppointmentError, registration_client::RegistrationClient};

#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub registration: RegistrationClient,
    /// Longest wait for any lock (set on every pooled connection).
    pub lock_timeout: Duration,
    /// Called after every commit that appended outbox events.
    pub signal: CommitSignal,
}

/// The caller must be this clinic's admin.
pub fn ensure_clinic_admin(caller: &Identity, clinic_id: Uuid) -> Result<(), AppointmentError> {
    if caller.role == Role::ClinicAdmin && caller.clinic_id == Some(clinic_id) {
        Ok(())
    } else {
        Err(AppointmentError::Forbidden(
            "only this clinic's admin may change its catalog",
        ))
    }
}

/// The patient id of a patient caller.
pub fn patient_id(caller: &Identity) -> Result<Uuid, AppointmentError> {
    match (caller.role, caller.account_id()) {
        (Role::Patient, Some(id)) => Ok(id),
        _ => Err(AppointmentError::Forbidden(
            "only patients hold reservations",
        )),
    }
}
