//! Recording a pulled batch in the ledger: one transaction, one savepoint per event.

use std::time::Duration;

use clinic_proto::pb::outbox::v1::OutboxEvent;
use sqlx::{Acquire, Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{ConsumerSettings, Source};
use crate::{
    db::deliveries::{self, NewDelivery},
    mail::message_id,
};

/// Waits until the ledger's database answers again (or shutdown: false).
pub(super) async fn ledger_ready(pool: &PgPool, shutdown: &CancellationToken) -> bool {
    let mut pause = Duration::from_millis(200);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep(pause) => {},
        }
        match ping(pool).await {
            Ok(()) => return true,
            Err(e) => tracing::warn!(error = %e, "ledger database still unavailable"),
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let answered = conn.ping().await;
    if answered.is_err() {
        // Broken: don't hand it back to the pool.
        conn.close_on_drop();
    }
    answered
}

/// What one batch left in the ledger.
pub(super) struct Recorded {
    /// Events in the ledger (new or already there): to ack.
    pub acks: Vec<String>,
    /// How many of them were new.
    pub new: usize,
}

/// Why one event could not be recorded. It is not acked, so it comes again after its lease; the
/// feed parks it when its deliveries run out.
#[derive(Debug, thiserror::Error)]
enum EventError {
    #[error("event id is not a UUID: {0}")]
    Id(#[from] uuid::Error),
    #[error("payload is not JSON: {0}")]
    Payload(#[from] serde_json::Error),
    #[error("ledger refused it: {0}")]
    Ledger(#[from] sqlx::Error),
}

/// Records the batch in one transaction, each event in its own savepoint: an event that fails
/// (unparsable, or refused by the database) is rolled back alone and left unacked, and the others
/// are committed and acked. An error here (begin, rollback to a savepoint, commit) fails the batch.
#[tracing::instrument(skip_all, fields(source = source.name, events = events.len()), err)]
pub(super) async fn record(
    pool: &PgPool,
    source: &Source,
    settings: &ConsumerSettings,
    events: &[OutboxEvent],
) -> Result<Recorded, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut recorded = Recorded {
        acks: Vec::with_capacity(events.len()),
        new: 0,
    };
    for e in events {
        let mut savepoint = tx.begin().await?;
        match record_one(&mut savepoint, source, settings, e).await {
            Ok(new) => {
                savepoint.commit().await?;
                recorded.new += usize::from(new);
                recorded.acks.push(e.id.clone());
            }
            Err(error) => {
                savepoint.rollback().await?;
                tracing::warn!(
                    source = source.name,
                    event_id = e.id,
                    event_type = e.event_type,
                    aggregate_id = e.aggregate_id,
                    delivery_attempt = e.delivery_attempt,
                    %error,
                    "event not recorded; left unacked"
                );
            }
        }
    }
    if recorded.new > 0 {
        deliveries::notify_queued(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(recorded)
}

/// Records one event; whether it was new.
async fn record_one(
    conn: &mut PgConnection,
    source: &Source,
    settings: &ConsumerSettings,
    e: &OutboxEvent,
) -> Result<bool, EventError> {
    let event_id = Uuid::parse_str(&e.id)?;
    let payload: serde_json::Value = serde_json::from_str(&e.payload_json)?;
    let mid = message_id(event_id, &settings.message_id_domain);
    let delivery = NewDelivery {
        source: source.name,
        event_id,
        event_type: &e.event_type,
        aggregate_id: &e.aggregate_id,
        payload: &payload,
        traceparent: Some(e.traceparent.as_str()).filter(|t| !t.is_empty()),
        message_id: &mid,
    };
    Ok(deliveries::record(conn, &delivery).await?)
}
