use std::time::Duration;

use clinic_common::pagination::Cursor;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

macro_rules! columns {
    () => {
        "id, source, event_id, event_type, aggregate_id, payload, traceparent, status, attempts, \
         next_attempt_at, last_error, recipient, message_id, created_at, sent_at, claimed_until, \
         claim_token"
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: Uuid,
    pub source: String,
    pub event_id: Uuid,
    pub event_type: String,
    pub aggregate_id: String,
    pub payload: serde_json::Value,
    pub traceparent: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: OffsetDateTime,
    pub last_error: Option<String>,
    pub recipient: Option<String>,
    pub message_id: String,
    pub created_at: OffsetDateTime,
    pub sent_at: Option<OffsetDateTime>,
    /// Until when a sender holds it (QUEUED only).
    pub claimed_until: Option<OffsetDateTime>,
    /// The holder's claim: outcomes are recorded only under it.
    pub claim_token: Option<Uuid>,
}

pub struct NewDelivery<'a> {
    pub source: &'a str,
    pub event_id: Uuid,
    pub event_type: &'a str,
    pub aggregate_id: &'a str,
    pub payload: &'a serde_json::Value,
    pub traceparent: Option<&'a str>,
    pub message_id: &'a str,
}

/// Records an event once: a redelivered event hits the unique key and is a no-op. Returns whether it
/// was new.
#[tracing::instrument(skip_all, fields(source = d.source, event_id = %d.event_id), err)]
pub async fn record(conn: &mut PgConnection, d: &NewDelivery<'_>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO deliveries (id, source, event_id, event_type, aggregate_id, payload, traceparent, message_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (source, event_id) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(d.source)
    .bind(d.event_id)
    .bind(d.event_type)
    .bind(d.aggregate_id)
    .bind(d.payload)
    .bind(d.traceparent)
    .bind(d.message_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Wakes senders when the surrounding transaction commits.
pub async fn notify_queued(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(super::QUEUE_CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims up to `max` due deliveries for `claim` (SKIP LOCKED: replicas take disjoint sets), each under
/// a fresh claim token. A claim that outlives a crashed sender expires and the delivery is claimed
/// again, under a new token.
#[tracing::instrument(skip_all, err)]
pub async fn claim_due(
    conn: &mut PgConnection,
    max: i64,
    claim: Duration,
) -> Result<Vec<Delivery>, sqlx::Error> {
    sqlx::query_as(concat!(
        "WITH due AS ( \
             SELECT id FROM deliveries \
             WHERE status = 'QUEUED' AND next_attempt_at <= now() \
               AND (claimed_until IS NULL OR claimed_until < now()) \
             ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) \
         UPDATE deliveries d SET claimed_until = now() + $2 * interval '1 millisecond', \
                                 claim_token = gen_random_uuid(), attempts = d.attempts + 1 \
         FROM due WHERE d.id = due.id RETURNING ",
        "d.id, d.source, d.event_id, d.event_type, d.aggregate_id, d.payload, d.traceparent, d.status, \
         d.attempts, d.next_attempt_at, d.last_error, d.recipient, d.message_id, d.created_at, d.sent_at, \
         d.claimed_until, d.claim_token"
    ))
    .bind(max)
    .bind(claim.as_millis() as f64)
    .fetch_all(conn)
    .await
}

/// Records the send, if `token` still holds the claim. Returns whether it did (false: the claim lapsed
/// and was taken over, or an operator or the holder already settled it).
#[tracing::instrument(skip_all, fields(delivery_id = %id), err)]
pub async fn mark_sent(
    conn: &mut PgConnection,
    id: Uuid,
    token: Uuid,
    recipient: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = 'SENT', sent_at = now(), recipient = $3, claimed_until = NULL, \
         claim_token = NULL, last_error = NULL WHERE id = $1 AND claim_token = $2",
    )
    .bind(id)
    .bind(token)
    .bind(recipient)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt, if `token` still holds the claim: back in the queue at `retry_at`, or
/// DEAD when `dead`. Returns whether it did.
#[tracing::instrument(skip_all, fields(delivery_id = %id, dead), err)]
pub async fn mark_failed(
    conn: &mut PgConnection,
    id: Uuid,
    token: Uuid,
    error: &str,
    retry_at: OffsetDateTime,
    dead: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = CASE WHEN $5 THEN 'DEAD' ELSE 'QUEUED' END, last_error = $3, \
         next_attempt_at = $4, claimed_until = NULL, claim_token = NULL \
         WHERE id = $1 AND claim_token = $2",
    )
    .bind(id)
    .bind(token)
    .bind(error)
    .bind(retry_at)
    .bind(dead)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a delivery back in the queue, due now, with a fresh attempt budget: a DEAD one, or a QUEUED one
/// no sender holds (waiting for its next attempt, or its holder's claim lapsed). A delivery being sent
/// right now is left alone, or a second sender would send it too; a SENT one stays sent.
#[tracing::instrument(skip_all, fields(delivery_id = %id), err)]
pub async fn requeue(conn: &mut PgConnection, id: Uuid) -> Result<Option<Delivery>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE deliveries SET status = 'QUEUED', attempts = 0, next_attempt_at = now(), \
                               claimed_until = NULL, claim_token = NULL \
         WHERE id = $1 AND (status = 'DEAD' OR (status = 'QUEUED' \
                            AND (claimed_until IS NULL OR claimed_until < now()))) RETURNING ",
        columns!()
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Deletes at most `batch` SENT deliveries sent longer ago than `retention`; returns how many. One
/// short statement per batch, so a large backlog never holds many row locks or a long transaction.
#[tracing::instrument(skip_all, err)]
pub async fn purge_sent(
    conn: &mut PgConnection,
    retention: Duration,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM deliveries WHERE id IN ( \
             SELECT id FROM deliveries \
             WHERE status = 'SENT' AND sent_at < now() - $1 * interval '1 second' \
             LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(retention.as_secs_f64())
    .bind(batch)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

#[tracing::instrument(skip_all, fields(delivery_id = %id), err)]
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Delivery>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM deliveries WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

#[tracing::instrument(skip_all, err)]
pub async fn list(
    conn: &mut PgConnection,
    status: Option<&str>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    let (at, id) = after.map_or((None, None), |c| (Some(c.at), Some(c.id)));
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM deliveries WHERE ($1::text IS NULL OR status = $1) \
           AND (created_at, id) > (COALESCE($2::timestamptz, '-infinity'), \
                                   COALESCE($3::uuid, '00000000-0000-0000-0000-000000000000')) \
         ORDER BY created_at, id LIMIT $4"
    ))
    .bind(status)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(conn)
    .await
}
