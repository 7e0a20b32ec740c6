use clinic_common::pagination::Cursor;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Clinic, Doctor, Named, NewClinic, NewDoctor, NewNamed};

pub const CLINIC_NAME_KEY: &str = "clinics_name_key";
pub const ROOM_NAME_KEY: &str = "rooms_clinic_name_key";
pub const EXAM_TYPE_NAME_KEY: &str = "exam_types_clinic_name_key";

/// Splits an optional cursor into its two bind values.
fn after(c: Option<Cursor>) -> (Option<OffsetDateTime>, Option<Uuid>) {
    c.map_or((None, None), |c| (Some(c.at), Some(c.id)))
}

#[tracing::instrument(skip_all, err)]
pub async fn insert_clinic(
    conn: &mut PgConnection,
    id: Uuid,
    c: &NewClinic,
) -> Result<Clinic, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO clinics (id, name, address, city, time_zone) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, name, address, city, time_zone, created_at",
    )
    .bind(id)
    .bind(&c.name)
    .bind(&c.address)
    .bind(&c.city)
    .bind(&c.time_zone)
    .fetch_one(conn)
    .await
}

#[tracing::instrument(skip_all, err)]
pub async fn clinic_exists(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM clinics WHERE id = $1)")
        .bind(id)
        .fetch_one(conn)
        .await
}

#[tracing::instrument(skip_all, err)]
pub async fn list_clinics(
    conn: &mut PgConnection,
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Clinic>, sqlx::Error> {
    let (at, id) = after(cursor);
    sqlx::query_as(
        "SELECT id, name, address, city, time_zone, created_at FROM clinics \
         WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2)) ORDER BY created_at, id LIMIT $3",
    )
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

#[tracing::instrument(skip_all, err)]
pub async fn insert_doctor(
    conn: &mut PgConnection,
    id: Uuid,
    d: &NewDoctor,
) -> Result<Doctor, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO doctors (id, clinic_id, first_name, last_name, specialization) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, clinic_id, first_name, last_name, specialization, created_at",
    )
    .bind(id)
    .bind(d.clinic_id)
    .bind(&d.first_name)
    .bind(&d.last_name)
    .bind(&d.specialization)
    .fetch_one(conn)
    .await
}

#[tracing::instrument(skip_all, err)]
pub async fn list_doctors(
    conn: &mut PgConnection,
    clinic_id: Uuid,
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Doctor>, sqlx::Error> {
    let (at, id) = after(cursor);
    sqlx::query_as(
        "SELECT id, clinic_id, first_name, last_name, specialization, created_at FROM doctors \
         WHERE clinic_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3)) \
         ORDER BY created_at, id LIMIT $4",
    )
    .bind(clinic_id)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Rooms and exam types share a shape; `table` is one of two constants, never input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedTable {
    Rooms,
    ExamTypes,
}

#[tracing::instrument(skip_all, fields(table = ?table), err)]
pub async fn insert_named(
    conn: &mut PgConnection,
    table: NamedTable,
    id: Uuid,
    n: &NewNamed,
) -> Result<Named, sqlx::Error> {
    let sql = match table {
        NamedTable::Rooms => {
            "INSERT INTO rooms (id, clinic_id, name) VALUES ($1, $2, $3) RETURNING id, clinic_id, name, created_at"
        }
        NamedTable::ExamTypes => {
            "INSERT INTO exam_types (id, clinic_id, name) VALUES ($1, $2, $3) \
             RETURNING id, clinic_id, name, created_at"
        }
    };
    sqlx::query_as(sql)
        .bind(id)
        .bind(n.clinic_id)
        .bind(&n.name)
        .fetch_one(conn)
        .await
}

#[tracing::instrument(skip_all, fields(table = ?table), err)]
pub async fn list_named(
    conn: &mut PgConnection,
    table: NamedTable,
    clinic_id: Uuid,
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Named>, sqlx::Error> {
    let sql = match table {
        NamedTable::Rooms => {
            "SELECT id, clinic_id, name, created_at FROM rooms \
             WHERE clinic_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3)) \
             ORDER BY created_at, id LIMIT $4"
        }
        NamedTable::ExamTypes => {
            "SELECT id, clinic_id, name, created_at FROM exam_types \
             WHERE clinic_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3)) \
             ORDER BY created_at, id LIMIT $4"
        }
    };
    let (at, id) = after(cursor);
    sqlx::query_as(sql)
        .bind(clinic_id)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(conn)
        .await
}
