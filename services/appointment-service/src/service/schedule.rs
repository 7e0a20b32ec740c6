//! Publishing predefined appointments and listing the available ones.

use clinic_common::{
    auth::Identity,
    error::violated_constraint,
    pagination::{Cursor, page},
};
use uuid::Uuid;

use super::{AppState, catalog::Page, ensure_clinic_admin, reserve::lock_error};
use crate::{
    db::{
        appointments::{self, AvailableFilter},
        locks::{self, LockKey},
    },
    domain::{AppointmentRecord, NewAppointment},
    error::AppointmentError,
};

/// Inserts a predefined appointment. Overlaps are refused by the database's exclusion constraints,
/// so two concurrent creations cannot both succeed; the doctor and room advisory locks make the loser
/// wait for the winner's commit instead of deadlocking with it.
#[tracing::instrument(skip_all, fields(clinic_id = %new.clinic_id), err(level = "info"))]
pub async fn create(
    state: &AppState,
    caller: &Identity,
    new: NewAppointment,
) -> Result<AppointmentRecord, AppointmentError> {
    ensure_clinic_admin(caller, new.clinic_id)?;
    let mut tx = state.pool.begin().await?;
    locks::lock(
        &mut tx,
        &[LockKey::Doctor(new.doctor_id), LockKey::Room(new.room_id)],
    )
    .await
    .map_err(lock_error)?;
    let err = match appointments::insert(&mut tx, Uuid::now_v7(), &new).await {
        Ok(record) => {
            tx.commit().await?;
            tracing::info!(appointment_id = %record.id, "predefined appointment created");
            return Ok(record);
        }
        Err(e) => e,
    };
    drop(tx);
    let mut conn = state.pool.acquire().await?;
    Err(match violated_constraint(&err) {
        Some(c @ (appointments::DOCTOR_OVERLAP | appointments::ROOM_OVERLAP)) => {
            // The conflicting row has committed (we waited for it), so it can be named.
            let (doctor, room) = if c == appointments::DOCTOR_OVERLAP {
                (Some(new.doctor_id), None)
            } else {
                (None, Some(new.room_id))
            };
            let conflicting =
                appointments::overlapping(&mut conn, doctor, room, new.starts_at, new.ends_at())
                    .await?;
            AppointmentError::ScheduleConflict { conflicting }
        }
        Some(appointments::DOCTOR_FKEY) => AppointmentError::not_found("doctor"),
        Some(appointments::ROOM_FKEY) => AppointmentError::not_found("room"),
        Some(appointments::EXAM_TYPE_FKEY) => AppointmentError::not_found("exam type"),
        Some(appointments::CLINIC_FKEY) => AppointmentError::not_found("clinic"),
        _ => lock_error(err),
    })
}

#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn list_available(
    state: &AppState,
    filter: AvailableFilter,
    after: Option<Cursor>,
    size: i64,
) -> Result<Page<AppointmentRecord>, AppointmentError> {
    let mut conn = state.pool.acquire().await?;
    let rows =
        appointments::list_available(&mut conn, &filter, after.map(|c| (c.at, c.id)), size + 1)
            .await?;
    Ok(page(rows, size, |a| Cursor {
        at: a.starts_at,
        id: a.id,
    }))
}
