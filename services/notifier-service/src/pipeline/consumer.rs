//! One loop per producing service: long-poll its outbox feed, record each event in the ledger keyed
//! by (source, event id) with ON CONFLICT DO NOTHING, commit, then ack. A crash between commit and
//! ack only means the event is pulled again and recorded as a no-op. Each event is recorded in its
//! own savepoint and only recorded events are acked, so one event whose row is refused (a data error)
//! never holds back the others; the feed parks it once its deliveries run out. A ledger that cannot
//! take writes at all holds the batch until it can (see `record`).

mod record;

use std::{future::Future, time::Duration};

use clinic_common::{
    auth::{ServiceToken, with_bearer},
    client::{BalancedChannel, internal_channel_with},
    tls::Tls,
};
use clinic_proto::pb::outbox::v1::{
    AckRequest, PullRequest, PullResponse, outbox_feed_client::OutboxFeedClient,
};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use record::record_until_written;

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
    pub token: ServiceToken,
    pub batch: i32,
    /// Long-poll wait of each `Pull`.
    pub wait: Duration,
    /// Deadline of an `Ack`, and of a `Pull` beyond its wait.
    pub call_deadline: Duration,
    /// HTTP/2 PING interval on the feed connection, also while no call is open.
    pub keep_alive_interval: Duration,
    /// A PING unanswered this long closes the connection (the channel then reconnects).
    pub keep_alive_timeout: Duration,
    pub message_id_domain: String,
}

/// The feed's client, with one HTTP/2 connection per producer address that PINGs it, also between
/// calls: a link that went silent without closing (half-open, black-holed) is dropped after the PING
/// timeout and the channel connects anew.
fn feed_client(
    url: &str,
    settings: &ConsumerSettings,
    tls: &Tls,
) -> anyhow::Result<OutboxFeedClient<BalancedChannel>> {
    let (interval, timeout) = (settings.keep_alive_interval, settings.keep_alive_timeout);
    // Pulls are spread over the producer's replicas too: the leases live in its database.
    let channel = internal_channel_with(url, tls, move |endpoint| {
        endpoint
            .connect_timeout(Duration::from_secs(2))
            .http2_keep_alive_interval(interval)
            .keep_alive_timeout(timeout)
    })?;
    Ok(OutboxFeedClient::new(channel))
}

/// `msg` with the bearer token and `deadline`, which the producer is told (`grpc-timeout`).
fn request<T>(msg: T, token: &ServiceToken, deadline: Duration) -> tonic::Request<T> {
    let mut r = with_bearer(msg, token.current().expose_secret(), None);
    r.set_timeout(deadline);
    r
}

/// Bounds the whole call, response body included, by `deadline`.
async fn within<T>(
    deadline: Duration,
    call: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout(deadline, call).await {
        Ok(r) => r.map(tonic::Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded("outbox feed call deadline")),
    }
}

async fn pull(
    feed: &mut OutboxFeedClient<BalancedChannel>,
    settings: &ConsumerSettings,
) -> Result<PullResponse, Status> {
    let deadline = settings.wait + settings.call_deadline;
    let msg = PullRequest {
        consumer: settings.consumer.clone(),
        max_events: settings.batch,
        wait_ms: settings.wait.as_millis() as i32,
    };
    within(deadline, feed.pull(request(msg, &settings.token, deadline))).await
}

async fn ack(
    feed: &mut OutboxFeedClient<BalancedChannel>,
    settings: &ConsumerSettings,
    event_ids: Vec<String>,
) -> Result<(), Status> {
    let deadline = settings.call_deadline;
    let msg = AckRequest {
        consumer: settings.consumer.clone(),
        event_ids,
    };
    within(deadline, feed.ack(request(msg, &settings.token, deadline)))
        .await
        .map(drop)
}

pub async fn run(
    source: Source,
    pool: PgPool,
    settings: ConsumerSettings,
    tls: Tls,
    shutdown: CancellationToken,
) {
    let mut feed = match feed_client(&source.url, &settings, &tls) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(source = source.name, error = %e, "bad source url; consumer not started");
            return;
        }
    };
    let mut failures = 0u32;
    loop {
        let pulled = tokio::select! {
            () = shutdown.cancelled() => return,
            r = pull(&mut feed, &settings) => r,
        };
        let events = match pulled {
            Ok(r) => {
                failures = 0;
                r.events
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
        // Pulling again before the ledger takes writes would only spend the events' deliveries
        // until the feed parks them: the batch is kept and recorded once it can be.
        let Some(recorded) =
            record_until_written(&pool, &source, &settings, &events, &shutdown).await
        else {
            return;
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
        if let Err(status) = ack(&mut feed, &settings, recorded.acks).await {
            tracing::warn!(source = source.name, code = ?status.code(), message = status.message(), "ack failed; events will be redelivered");
        }
    }
}
