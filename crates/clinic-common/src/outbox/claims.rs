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

/// An event whose deliveries ran out: parked instead of handed out again.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ParkedEvent {
    pub id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub event_type: String,
    pub delivery_attempts: i32,
    /// The consumer that held the last lease.
    pub leased_by: Option<String>,
}

/// Parks undelivered events handed out `max_deliveries` times whose last lease has expired: they are
/// kept (and listed in the `outbox_parked` view) but never leased again. Each is returned once, by
/// the statement that parked it.
#[tracing::instrument(skip_all, err)]
pub async fn park_exhausted(
    conn: &mut PgConnection,
    max_deliveries: i32,
) -> Result<Vec<ParkedEvent>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE outbox SET parked_at = now() \
         WHERE delivered_at IS NULL AND parked_at IS NULL \
           AND delivery_attempts >= $1 AND lease_until < now() \
         RETURNING id, aggregate_type, aggregate_id, event_type, delivery_attempts, leased_by",
    )
    .bind(max_deliveries)
    .fetch_all(conn)
    .await
}

/// Leases up to `max` committed, undelivered, unparked events whose lease is free or expired and
/// that were handed out fewer than `max_deliveries` times. `SKIP LOCKED` lets concurrent pullers
/// (two replicas, two consumers) take disjoint sets without waiting.
#[tracing::instrument(skip_all, fields(max), err)]
pub async fn lease(
    conn: &mut PgConnection,
    consumer: &str,
    max: i64,
    lease: Duration,
    max_deliveries: i32,
) -> Result<Vec<LeasedEvent>, sqlx::Error> {
    sqlx::query_as(
        "WITH free AS ( \
             SELECT id FROM outbox \
             WHERE delivered_at IS NULL AND parked_at IS NULL AND delivery_attempts < $4 \
               AND (lease_until IS NULL OR lease_until < now()) \
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
    .bind(max_deliveries)
    .fetch_all(conn)
    .await
}

/// What an ack came to: how many events it marked delivered, or the undelivered events among its ids
/// whose last lease another holder took (then it marked none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acked {
    Done(u64),
    NotHeld(Vec<Uuid>),
}

/// Marks events delivered — only by the holder of their last lease, all or none (a late ack of a
/// parked event unparks it: it was delivered after all). Acking an already delivered or unknown id
/// is a no-op.
#[tracing::instrument(skip_all, fields(n = ids.len()), err)]
pub async fn ack(
    conn: &mut PgConnection,
    ids: &[Uuid],
    holder: &str,
) -> Result<Acked, sqlx::Error> {
    let rows: Vec<(Uuid, bool)> = sqlx::query_as(
        "WITH asked AS ( \
             SELECT id, leased_by IS NOT DISTINCT FROM $2 AS held FROM outbox \
             WHERE id = ANY($1) AND delivered_at IS NULL FOR UPDATE), \
         done AS ( \
             UPDATE outbox o SET delivered_at = now(), lease_until = NULL, parked_at = NULL \
             FROM asked WHERE o.id = asked.id AND NOT EXISTS (SELECT 1 FROM asked WHERE NOT held) \
             RETURNING o.id) \
         SELECT id, held FROM asked",
    )
    .bind(ids)
    .bind(holder)
    .fetch_all(conn)
    .await?;
    let not_held: Vec<Uuid> = rows
        .iter()
        .filter(|(_, held)| !held)
        .map(|(id, _)| *id)
        .collect();
    Ok(match not_held.is_empty() {
        true => Acked::Done(rows.len() as u64),
        false => Acked::NotHeld(not_held),
    })
}

/// Deletes events delivered longer ago than `retention`, in bounded batches (see [`super::purge`]).
#[tracing::instrument(skip_all, err)]
pub async fn purge(conn: &mut PgConnection, retention: Duration) -> Result<u64, sqlx::Error> {
    super::purge::purge_delivered(conn, retention, super::purge::PURGE_BATCH).await
}
