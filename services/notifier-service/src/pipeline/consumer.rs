//! One loop per producing service: long-poll its outbox feed, record each event in the ledger keyed
//! by (source, event id) with ON CONFLICT DO NOTHING, commit, then ack. A crash between commit and
//! ack only means the event is pulled again and recorded as a no-op. Each event is recorded in its
//! own savepoint and only recorded events are acked, so one event that cannot be recorded never
//! holds back the others; the feed parks it once its deliveries run out.

use std::time::Duration;

use clinic_common::auth::with_bearer;
use clinic_proto::pb::outbox::v1::{
    AckRequest, OutboxEvent, PullRequest, outbox_feed_client::OutboxFeedClient,
};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{Acquire, Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::{
    db::deliveries::{self, NewDelivery},
    mail::message_id,
};

/// A producing service whose outbox this notifier drains.
#[derive(Debug, Clone)]
pub struct Source {
    /// Ledger key part: "registration" or "appointment".
    pub name: &'static str,
    pub url: String,
}

#[derive(Clone)]
pub struct ConsumerSettings {
    pub consumer: String,
    pub token: SecretString,
    pub batch: i32,
    pub wait: Duration,
    pub message_id_domain: String,
}

fn authorized<T>(msg: T, token: &SecretString) -> tonic::Request<T> {
    with_bearer(msg, token.expose_secret(), None)
}

pub async fn run(
    source: Source,
    pool: PgPool,
    settings: ConsumerSettings,
    shutdown: CancellationToken,
) {
    let channel = match Channel::from_shared(source.url.clone()) {
        Ok(c) => c
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .connect_lazy(),
        Err(e) => {
            tracing::error!(source = source.name, error = %e, "bad source url; consumer not started");
            return;
        }
    };
    let mut feed = OutboxFeedClient::new(channel);
    let mut failures = 0u32;
    loop {
        let pulled = tokio::select! {
            () = shutdown.cancelled() => return,
            r = feed.pull(authorized(PullRequest {
                consumer: settings.consumer.clone(),
                max_events: settings.batch,
                wait_ms: settings.wait.as_millis() as i32,
            }, &settings.token)) => r,
        };
        let events = match pulled {
            Ok(r) => {
                failures = 0;
                r.into_inner().events
            }
            Err(status) => {
                failures += 1;
                let pause = Duration::from_millis(200 * u64::from(failures.min(25)));
                tracing::warn!(source = source.name, code = ?status.code(), message = status.message(), "pull failed");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(pause) => continue,
                }
            }
        };
        if events.is_empty() {
            continue;
        }
        let recorded = match record(&pool, &source, &settings, &events).await {
            Ok(r) => r,
            Err(e) => {
                // Nothing acked: the leases expire and the events come again. Pulling before the
                // ledger answers would only spend the events' deliveries, so wait for it first.
                tracing::warn!(source = source.name, error = %e, "recording events failed");
                if !ledger_ready(&pool, &shutdown).await {
                    return;
                }
                continue;
            }
        };
        tracing::debug!(
            source = source.name,
            pulled = events.len(),
            new = recorded.new,
            failed = events.len() - recorded.acks.len(),
            "events recorded"
        );
        if recorded.acks.is_empty() {
            continue;
        }
        if let Err(status) = feed
            .ack(authorized(
                AckRequest {
                    consumer: settings.consumer.clone(),
                    event_ids: recorded.acks,
                },
                &settings.token,
            ))
            .await
        {
            tracing::warn!(source = source.name, code = ?status.code(), "ack failed; events will be redelivered");
        }
    }
}

/// Waits until the ledger's database answers again (or shutdown: false).
async fn ledger_ready(pool: &PgPool, shutdown: &CancellationToken) -> bool {
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
struct Recorded {
    /// Events in the ledger (new or already there): to ack.
    acks: Vec<String>,
    /// How many of them were new.
    new: usize,
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
async fn record(
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
