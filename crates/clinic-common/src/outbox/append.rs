use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::telemetry;

/// One event to append. `payload` carries everything the e-mail needs.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    pub event_type: &'static str,
    pub payload: Value,
}

/// The LISTEN/NOTIFY channel of the outbox in `schema`.
pub fn channel(schema: &str) -> String {
    format!("outbox_{schema}")
}

/// Appends `event` on `conn`, which must be inside the caller's transaction. Returns the event id.
/// `created_at` is the moment of the insert (not the transaction's start), so events written under
/// one aggregate's row lock are ordered as the lock serialised them.
/// After the commit, call [`CommitSignal::committed`](super::CommitSignal::committed) so consumers
/// wake at once (without it they find the event at their next poll).
#[tracing::instrument(skip_all, fields(event_type = event.event_type), err)]
pub async fn append(conn: &mut PgConnection, event: NewEvent) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, traceparent, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp())",
    )
    .bind(id)
    .bind(event.aggregate_type)
    .bind(&event.aggregate_id)
    .bind(event.event_type)
    .bind(&event.payload)
    .bind(telemetry::current_traceparent())
    .execute(conn)
    .await?;
    Ok(id)
}
