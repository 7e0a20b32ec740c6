//! Publishing predefined appointments and listing the available ones.

use clinic_common::{
    auth::Identity,
    error::violated_constraint,
    pagination::{Cursor, page},
};
use sqlx::PgConnection;
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

/// Inserts a predefined appointment, in three steps in one transaction:
/// 1. The doctor, room and exam type must be the caller's clinic's; another clinic's id is answered
///    exactly like an unknown one (`*_NOT_FOUND`), before any lock is taken or any of that clinic's
///    appointments is looked at, so nothing about its schedule is revealed.
/// 2. The doctor and room advisory locks (see `db::locks`): concurrent creations for them wait for
///    each other instead of deadlocking in the exclusion constraints.
/// 3. Under those locks, an overlapping appointment of the doctor or room is looked for before
///    inserting, and named (`SCHEDULE_CONFLICT`). Only creations add rows, and they hold these locks,
///    so the insert that follows meets no overlapping row, committed or not: it never waits in the
///    exclusion index for a reservation or cancellation changing an overlapping row while that change
///    waits for the insert's uncommitted entry (the deadlock this look-up removes). The exclusion
///    constraints and composite foreign keys stay the backstop.
#[tracing::instrument(skip_all, fields(clinic_id = %new.clinic_id), err(level = "info"))]
pub async fn create(
    state: &AppState,
    caller: &Identity,
    new: NewAppointment,
) -> Result<AppointmentRecord, AppointmentError> {
    ensure_clinic_admin(caller, new.clinic_id)?;
    let mut tx = state.pool.begin().await?;
    if let Some(what) = appointments::missing_part(&mut tx, &new).await? {
        return Err(AppointmentError::not_found(what));
    }
    locks::lock(
        &mut tx,
        &[LockKey::Doctor(new.doctor_id), LockKey::Room(new.room_id)],
    )
    .await
    .map_err(lock_error)?;
    if let Some(id) = overlapping(&mut tx, &new).await? {
        return Err(AppointmentError::ScheduleConflict {
            conflicting: Some(id),
        });
    }
    let err = match appointments::insert(&mut tx, Uuid::now_v7(), &new).await {
        Ok(record) => {
            tx.commit().await?;
            tracing::info!(appointment_id = %record.id, "predefined appointment created");
            return Ok(record);
        }
        Err(e) => e,
    };
    drop(tx);
    Err(match violated_constraint(&err) {
        // Only a writer that skips the locks gets here; the conflicting row has committed (the
        // insert waited for it), so it can be named.
        Some(appointments::DOCTOR_OVERLAP | appointments::ROOM_OVERLAP) => {
            let mut conn = state.pool.acquire().await?;
            let conflicting = overlapping(&mut conn, &new).await?;
            AppointmentError::ScheduleConflict { conflicting }
        }
        Some(appointments::DOCTOR_FKEY) => AppointmentError::not_found("doctor"),
        Some(appointments::ROOM_FKEY) => AppointmentError::not_found("room"),
        Some(appointments::EXAM_TYPE_FKEY) => AppointmentError::not_found("exam type"),
        Some(appointments::CLINIC_FKEY) => AppointmentError::not_found("clinic"),
        _ => lock_error(err),
    })
}

/// The clinic's appointment overlapping `new` for its doctor or its room, earliest first.
async fn overlapping(
    conn: &mut PgConnection,
    new: &NewAppointment,
) -> Result<Option<Uuid>, sqlx::Error> {
    appointments::overlapping(
        conn,
        new.clinic_id,
        new.doctor_id,
        new.room_id,
        new.starts_at,
        new.ends_at(),
    )
    .await
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
