use clinic_common::auth::{Identity, Role};
use uuid::Uuid;

use super::{AppState, patient_id};
use crate::{
    db::appointments,
    domain::{AppointmentRecord, AppointmentStatus},
    error::AppointmentError,
};

/// Patients see available appointments and their own; clinic admins their clinic's; center admins and
/// services any. Anyone else's reservation is PERMISSION_DENIED.
#[tracing::instrument(skip_all, fields(appointment_id = %id), err(level = "info"))]
pub async fn get(
    state: &AppState,
    caller: &Identity,
    id: Uuid,
) -> Result<AppointmentRecord, AppointmentError> {
    let mut conn = state.pool.acquire().await?;
    let a = appointments::get(&mut conn, id)
        .await?
        .ok_or_else(|| AppointmentError::not_found("appointment"))?;
    let visible = match caller.role {
        Role::Patient => {
            a.status == AppointmentStatus::Available || a.patient_id == caller.account_id()
        }
        Role::ClinicAdmin => caller.clinic_id == Some(a.clinic_id),
        Role::ClinicCenterAdmin => true,
        // No service calls GetAppointment (the policy admits none); refused here too.
        Role::Service => false,
    };
    if visible {
        Ok(a)
    } else {
        Err(AppointmentError::Forbidden(
            "this appointment is not yours to see",
        ))
    }
}

#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn list_mine(
    state: &AppState,
    caller: &Identity,
    include_past: bool,
) -> Result<Vec<AppointmentRecord>, AppointmentError> {
    let patient = patient_id(caller)?;
    let mut conn = state.pool.acquire().await?;
    Ok(appointments::list_for_patient(&mut conn, patient, include_past).await?)
}
