//! Clinics, doctors, rooms and exam types.

use clinic_common::{
    auth::Identity,
    error::violated_constraint,
    pagination::{Cursor, page},
};
use uuid::Uuid;

use super::{AppState, ensure_clinic_admin};
use crate::{
    db::catalog::{self, NamedTable},
    domain::{Clinic, Doctor, Named, NewClinic, NewDoctor, NewNamed},
    error::AppointmentError,
};

/// A page of rows and the cursor of the next page.
pub type Page<T> = (Vec<T>, Option<Cursor>);

#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn create_clinic(state: &AppState, new: NewClinic) -> Result<Clinic, AppointmentError> {
    let mut conn = state.pool.acquire().await?;
    catalog::insert_clinic(&mut conn, Uuid::now_v7(), &new)
        .await
        .map_err(|e| match violated_constraint(&e) {
            Some(catalog::CLINIC_NAME_KEY) => AppointmentError::NameTaken { field: "name" },
            _ => e.into(),
        })
}

#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn list_clinics(
    state: &AppState,
    after: Option<Cursor>,
    size: i64,
) -> Result<Page<Clinic>, AppointmentError> {
    let mut conn = state.pool.acquire().await?;
    let rows = catalog::list_clinics(&mut conn, after, size + 1).await?;
    Ok(page(rows, size, |c| Cursor {
        at: c.created_at,
        id: c.id,
    }))
}

async fn ensure_clinic(state: &AppState, clinic_id: Uuid) -> Result<(), AppointmentError> {
    let mut conn = state.pool.acquire().await?;
    if catalog::clinic_exists(&mut conn, clinic_id).await? {
        Ok(())
    } else {
        Err(AppointmentError::not_found("clinic"))
    }
}

#[tracing::instrument(skip_all, fields(clinic_id = %new.clinic_id), err(level = "info"))]
pub async fn create_doctor(
    state: &AppState,
    caller: &Identity,
    new: NewDoctor,
) -> Result<Doctor, AppointmentError> {
    ensure_clinic_admin(caller, new.clinic_id)?;
    ensure_clinic(state, new.clinic_id).await?;
    let mut conn = state.pool.acquire().await?;
    Ok(catalog::insert_doctor(&mut conn, Uuid::now_v7(), &new).await?)
}

#[tracing::instrument(skip_all, fields(clinic_id = %clinic_id), err(level = "info"))]
pub async fn list_doctors(
    state: &AppState,
    clinic_id: Uuid,
    after: Option<Cursor>,
    size: i64,
) -> Result<Page<Doctor>, AppointmentError> {
    let mut conn = state.pool.acquire().await?;
    let rows = catalog::list_doctors(&mut conn, clinic_id, after, size + 1).await?;
    Ok(page(rows, size, |d| Cursor {
        at: d.created_at,
        id: d.id,
    }))
}

#[tracing::instrument(skip_all, fields(clinic_id = %new.clinic_id, table = ?table), err(level = "info"))]
pub async fn create_named(
    state: &AppState,
    caller: &Identity,
    table: NamedTable,
    new: NewNamed,
) -> Result<Named, AppointmentError> {
    ensure_clinic_admin(caller, new.clinic_id)?;
    ensure_clinic(state, new.clinic_id).await?;
    let mut conn = state.pool.acquire().await?;
    catalog::insert_named(&mut conn, table, Uuid::now_v7(), &new)
        .await
        .map_err(|e| match violated_constraint(&e) {
            Some(catalog::ROOM_NAME_KEY | catalog::EXAM_TYPE_NAME_KEY) => {
                AppointmentError::NameTaken { field: "name" }
            }
            _ => e.into(),
        })
}

#[tracing::instrument(skip_all, fields(clinic_id = %clinic_id, table = ?table), err(level = "info"))]
pub async fn list_named(
    state: &AppState,
    table: NamedTable,
    clinic_id: Uuid,
    after: Option<Cursor>,
    size: i64,
) -> Result<Page<Named>, AppointmentError> {
    let mut conn = state.pool.acquire().await?;
    let rows = catalog::list_named(&mut conn, table, clinic_id, after, size + 1).await?;
    Ok(page(rows, size, |n| Cursor {
        at: n.created_at,
        id: n.id,
    }))
}
