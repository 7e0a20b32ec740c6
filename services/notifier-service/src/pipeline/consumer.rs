//! One loop per producing service: long-poll its outbox feed, record each event in the ledger keyed
//! by (source, event id) with ON CONFLICT DO NOTHING, commit, then ack. A crash between commit and
//! ack only means the event is pulled again and recorded as a no-op.

use std::time::Duration;

use clinic_common::auth::with_bearer;
use clinic_proto::pb::outbox::v1::{AckRequest, PullRequest, outbox_feed_client::OutboxFeedClient};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
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
        match record(&pool, &source, &settings, &events).await {
            Ok(new) => tracing::debug!(
                source = source.name,
                pulled = events.len(),
                new,
                "events recorded"
            ),
            Err(e) => {
                // Not acked: the leases expire and the events come again.
                tracing::warn!(source = source.name, error = %e, "recording events failed");
                continue;
            }
        }
        let ids = events.into_iter().map(|e| e.id).collect();
        if let Err(status) = feed
            .ack(authorized(
                AckRequest {
                    consumer: settings.consumer.clone(),
                    event_ids: ids,
                },
                &settings.token,
            ))
            .await
        {
            tracing::warn!(source = source.name, code = ?status.code(), "ack failed; events will be redelivered");
        }
    }
}

async fn record(
    pool: &PgPool,
    source: &Source,
    settings: &ConsumerSettings,
    events: &[clinic_proto::pb::outbox::v1::OutboxEvent],
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let mut new = 0;
    for e in events {
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
        if deliveries::record(&mut tx, &delivery).await? {
            new += 1;
        }
    }
    if new > 0 {
        deliveries::notify_queued(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(new)
}
