use clinic_common::pagination::Cursor;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{DecidedState, NewRegistration, RegistrationRecord, RequestStatus};

macro_rules! columns {
    () => {
        "id, email, first_name, last_name, address, city, country, phone, insurance_number, \
         status, version, decided_by, decided_at, rejection_reason, created_at"
    };
}

pub const PENDING_EMAIL_KEY: &str = "registration_requests_pending_email_key";
pub const PENDING_INSURANCE_KEY: &str = "registration_requests_pending_insurance_key";
pub const CLIENT_REQUEST_ID_KEY: &str = "registration_requests_client_request_id_key";

#[tracing::instrument(skip_all, err)]
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    new: &NewRegistration,
    password_hash: &str,
) -> Result<RegistrationRecord, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO registration_requests (id, email, password_hash, first_name, last_name, address, \
         city, country, phone, insurance_number, client_request_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(new.email.as_str())
    .bind(password_hash)
    .bind(&new.first_name)
    .bind(&new.last_name)
    .bind(&new.address)
    .bind(&new.city)
    .bind(&new.country)
    .bind(new.phone.as_str())
    .bind(new.insurance_number.as_str())
    .bind(new.client_request_id.as_deref())
    .fetch_one(conn)
    .await
}

/// The current transaction's start by the database's clock: what `created_at` of a row inserted in
/// it would be.
#[tracing::instrument(skip_all, err)]
pub async fn transaction_start(conn: &mut PgConnection) -> Result<OffsetDateTime, sqlx::Error> {
    sqlx::query_scalar("SELECT now()").fetch_one(conn).await
}

#[tracing::instrument(skip_all, fields(request_id = %id), err)]
pub async fn get(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<RegistrationRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM registration_requests WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The compare-and-swap of rejection; the same guard as approval (`db::approval`).
#[tracing::instrument(skip_all, fields(request_id = %id, expected_version), err)]
pub async fn try_reject(
    conn: &mut PgConnection,
    id: Uuid,
    expected_version: i64,
    admin: Uuid,
    reason: &str,
) -> Result<Option<RegistrationRecord>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE registration_requests \
         SET status = 'REJECTED', version = version + 1, decided_by = $3, decided_at = now(), \
             rejection_reason = $4, password_hash = NULL \
         WHERE id = $1 AND version = $2 AND status = 'PENDING' RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(expected_version)
    .bind(admin)
    .bind(reason)
    .fetch_optional(conn)
    .await
}

/// Current decision state, with the deciding admin's e-mail, for a loser's error.
#[tracing::instrument(skip_all, fields(request_id = %id), err)]
pub async fn decided_state(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<DecidedState>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.status, r.version, r.decided_by, a.email AS decided_by_email, r.decided_at \
         FROM registration_requests r LEFT JOIN accounts a ON a.id = r.decided_by \
         WHERE r.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// One page in (created_at, id) order, after `after` when given.
#[tracing::instrument(skip_all, err)]
pub async fn list(
    conn: &mut PgConnection,
    status: Option<RequestStatus>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<RegistrationRecord>, sqlx::Error> {
    let (after_at, after_id): (Option<OffsetDateTime>, Option<Uuid>) =
        after.map_or((None, None), |c| (Some(c.at), Some(c.id)));
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM registration_requests \
         WHERE ($1::text IS NULL OR status = $1) \
           AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3)) \
         ORDER BY created_at, id LIMIT $4"
    ))
    .bind(status.map(RequestStatus::as_str))
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Whoever already holds an e-mail or insurance number: an account, or a pending request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Holder {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// `email` or `insurance_number`: what the new registration had in common with it.
    pub matched: String,
}

/// The holder of `email` or else of `insurance_number`, accounts before pending requests.
#[tracing::instrument(skip_all, err)]
pub async fn holder_of(
    conn: &mut PgConnection,
    email: &str,
    insurance_number: &str,
) -> Result<Option<Holder>, sqlx::Error> {
    sqlx::query_as(
        "SELECT email, first_name, last_name, matched FROM ( \
             SELECT email, first_name, last_name, 'email' AS matched, 1 AS rank \
               FROM accounts WHERE email = $1 \
             UNION ALL SELECT email, first_name, last_name, 'email', 2 \
               FROM registration_requests WHERE email = $1 AND status = 'PENDING' \
             UNION ALL SELECT email, first_name, last_name, 'insurance_number', 3 \
               FROM accounts WHERE insurance_number = $2 \
             UNION ALL SELECT email, first_name, last_name, 'insurance_number', 4 \
               FROM registration_requests WHERE insurance_number = $2 AND status = 'PENDING' \
         ) h ORDER BY rank LIMIT 1",
    )
    .bind(email)
    .bind(insurance_number)
    .fetch_optional(conn)
    .await
}
