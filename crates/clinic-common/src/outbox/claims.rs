//! The feed's SQL. Tables are unqualified: the pool's `search_path` is the producer's schema.

use std::time::Duration;

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LeasedEvent {
    pub id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub traceparent: Option<String>,
    pub created_at: OffsetDateTime,
    pub delivery_attempts: i32,
}

/// Leases up to `max` committed, undelivered events whose lease is free or expired. `SKIP LOCKED`
/// lets concurrent pullers (two replicas, two consumers) take disjoint sets without waiting.
#[tracing::instrument(skip_all, fields(max), err)]
pub async fn lease(
    conn: &mut PgConnection,
    consumer: &str,
    max: i64,
    lease: Duration,
) -> Result<Vec<LeasedEvent>, sqlx::Error> {
    sqlx::query_as(
        "WITH free AS ( \
             SELECT id FROM outbox \
             WHERE delivered_at IS NULL AND (lease_until IS NULL OR lease_until < now()) \
             ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
         UPDATE outbox o SET leased_by = $1, lease_until = now() + $3 * interval '1 millisecond', \
                delivery_attempts = o.delivery_attempts + 1 \
         FROM free WHERE o.id = free.id \
         RETURNING o.id, o.aggregate_type, o.aggregate_id, o.event_type, o.payload, o.traceparent, \
                   o.created_at, o.delivery_attempts",
    )
    .bind(consumer)
    .bind(max)
    .bind(lease.as_millis() as f64)
    .fetch_all(conn)
    .await
}

/// Marks events delivered. Acking an already delivered or unknown id is a no-op.
#[tracing::instrument(skip_all, fields(n = ids.len()), err)]
pub async fn ack(conn: &mut PgConnection, ids: &[Uuid]) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox SET delivered_at = now(), lease_until = NULL WHERE id = ANY($1) AND delivered_at IS NULL",
    )
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Deletes events delivered longer ago than `retention`, in bounded batches (see [`super::purge`]).
#[tracing::instrument(skip_all, err)]
pub async fn purge(conn: &mut PgConnection, retention: Duration) -> Result<u64, sqlx::Error> {
    super::purge::purge_delivered(conn, retention, super::purge::PURGE_BATCH).await
}
