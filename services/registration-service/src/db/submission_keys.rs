//! `SubmitRegistration`'s idempotency keys: a stored request's (`registration_requests.
//! client_request_id`) and an unstored, taken form's (`taken_submission_keys`).

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// What a key was first answered with, and what is known of the form it came with: a stored request's
/// e-mail and insurance number, or a taken form's digest (`service::submit::form_digest`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PriorAnswer {
    pub id: Uuid,
    pub created_at: OffsetDateTime,
    pub email: Option<String>,
    pub insurance_number: Option<String>,
    pub form_digest: Option<Vec<u8>>,
}

#[tracing::instrument(skip_all, err)]
pub async fn find(conn: &mut PgConnection, key: &str) -> Result<Option<PriorAnswer>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, created_at, email, insurance_number, NULL::bytea AS form_digest \
           FROM registration_requests WHERE client_request_id = $1 \
         UNION ALL \
         SELECT answered_id, answered_at, NULL, NULL, form_digest \
           FROM taken_submission_keys WHERE client_request_id = $1 \
         LIMIT 1",
    )
    .bind(key)
    .fetch_optional(conn)
    .await
}

/// Records the answer to a taken form under `key`, unless the key is already someone's (a concurrent
/// submission with it committed first; a conflicting one is waited for). Returns whether it did.
#[tracing::instrument(skip_all, err)]
pub async fn record_taken(
    conn: &mut PgConnection,
    key: &str,
    answered_id: Uuid,
    answered_at: OffsetDateTime,
    form_digest: &[u8],
) -> Result<bool, sqlx::Error> {
    let recorded = sqlx::query(
        "INSERT INTO taken_submission_keys (client_request_id, answered_id, answered_at, form_digest) \
         SELECT $1, $2, $3, $4 \
         WHERE NOT EXISTS (SELECT FROM registration_requests WHERE client_request_id = $1) \
         ON CONFLICT (client_request_id) DO NOTHING",
    )
    .bind(key)
    .bind(answered_id)
    .bind(answered_at)
    .bind(form_digest)
    .execute(conn)
    .await?;
    Ok(recorded.rows_affected() == 1)
}
