use clinic_common::auth::Role;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{AccountStatus, Patient};

pub const EMAIL_KEY: &str = "accounts_email_key";
pub const INSURANCE_KEY: &str = "accounts_insurance_number_key";

pub struct NewAccount<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub clinic_id: Option<Uuid>,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub insurance_number: Option<&'a str>,
    pub registration_request_id: Option<Uuid>,
    pub status: AccountStatus,
}

#[tracing::instrument(skip_all, fields(account_id = %a.id, role = %a.role), err)]
pub async fn insert(conn: &mut PgConnection, a: &NewAccount<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO accounts (id, email, password_hash, role, clinic_id, first_name, last_name, \
         insurance_number, registration_request_id, status, activated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $10 = 'ACTIVE' THEN now() END)",
    )
    .bind(a.id)
    .bind(a.email)
    .bind(a.password_hash)
    .bind(a.role.as_str())
    .bind(a.clinic_id)
    .bind(a.first_name)
    .bind(a.last_name)
    .bind(a.insurance_number)
    .bind(a.registration_request_id)
    .bind(a.status.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether an account already uses this e-mail / insurance number.
#[tracing::instrument(skip_all, err)]
pub async fn taken(
    conn: &mut PgConnection,
    email: &str,
    insurance_number: &str,
) -> Result<(bool, bool), sqlx::Error> {
    sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM accounts WHERE email = $1), \
                EXISTS (SELECT 1 FROM accounts WHERE insurance_number = $2)",
    )
    .bind(email)
    .bind(insurance_number)
    .fetch_one(conn)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: Uuid,
    pub password_hash: String,
    pub role: String,
    pub clinic_id: Option<Uuid>,
    #[sqlx(try_from = "String")]
    pub status: AccountStatus,
}

#[tracing::instrument(skip_all, err)]
pub async fn credentials(
    conn: &mut PgConnection,
    email: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, password_hash, role, clinic_id, status FROM accounts WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(conn)
    .await
}

#[tracing::instrument(skip_all, fields(account_id = %id), err)]
pub async fn activate(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET status = 'ACTIVE', activated_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(patient_id = %id), err)]
pub async fn patient(conn: &mut PgConnection, id: Uuid) -> Result<Option<Patient>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, first_name, last_name, status FROM accounts WHERE id = $1 AND role = 'patient'",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}
