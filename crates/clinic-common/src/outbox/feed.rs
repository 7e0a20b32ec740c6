//! `clinic.outbox.v1.OutboxFeed`: long-polling pull with leases, ack, and the background tasks that
//! wake pullers on commit (LISTEN/NOTIFY) and purge delivered events.

use std::{sync::Arc, time::Duration};

use clinic_proto::pb::outbox::v1::{
    self as pb,
    outbox_feed_server::{OutboxFeed, OutboxFeedServer},
};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic::service::Routes;
use tonic::{Request, Response, Status};

use super::{CommitSignal, channel, claims, requests};
use crate::{
    auth::{Access, AuthLayer, Policy, TokenVerifier, audience},
    db,
    error::{self, ApiError},
    server::{self, ServeOptions, ServerLimits},
    time_pb,
    tls::Tls,
};

#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// How long a pulled event stays leased before it is pulled again.
    pub lease: Duration,
    /// Delivered events older than this are deleted.
    pub retention: Duration,
    /// Longest sleep between checks when no notification arrives (expired leases, lost notifications).
    pub poll_fallback: Duration,
    /// How many times an event is handed out; when its last lease expires unacked it is parked
    /// (dead-lettered: kept, never handed out again, logged at error, listed in `outbox_parked`).
    pub max_deliveries: i32,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            retention: Duration::from_secs(7 * 24 * 3600),
            poll_fallback: Duration::from_secs(1),
            max_deliveries: 10,
        }
    }
}

/// Largest `Pull` or `Ack` request the feed accepts: an `Ack` of the most events one pull leases
/// (`MAX_EVENTS` ids of 36 characters) fits with room to spare.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Full name of the feed's gRPC service, as health and reflection report it.
pub const SERVICE_NAME: &str = "clinic.outbox.v1.OutboxFeed";

pub use super::requests::{MAX_EVENTS, MAX_WAIT_MS};

/// The feed's access rules: the notifier only (the events hold personal data and activation links).
pub fn policy() -> Policy {
    const NOTIFIER: &[&str] = &[audience::NOTIFIER];
    Policy::new(&[
        (
            "/clinic.outbox.v1.OutboxFeed/Pull",
            Access::Callers(&[], NOTIFIER),
        ),
        (
            "/clinic.outbox.v1.OutboxFeed/Ack",
            Access::Callers(&[], NOTIFIER),
        ),
    ])
}

/// How a producing service is served: its own API and its outbox feed behind one auth layer, with
/// health, reflection and graceful shutdown from [`server::serve`].
pub struct Producer {
    /// `ErrorInfo.domain`, e.g. `registration-service`.
    pub domain: &'static str,
    /// The schema whose `outbox` the feed serves.
    pub schema: &'static str,
    /// Full name of the service's own gRPC service.
    pub service_name: &'static str,
    /// The service's own policy table; the feed's is added.
    pub policy: Policy,
    pub verifier: TokenVerifier,
    pub feed: FeedSettings,
    /// What the service's use cases call after committing events.
    pub signal: CommitSignal,
    pub drain_deadline: Duration,
    pub tls: Tls,
    pub limits: ServerLimits,
}

impl Producer {
    pub async fn serve(
        self,
        listener: TcpListener,
        pool: PgPool,
        api: Routes,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let tasks = TaskTracker::new();
        let feed = OutboxFeedApi::start(
            pool,
            self.schema,
            self.feed,
            self.domain,
            self.signal,
            &tasks,
            shutdown.child_token(),
        );
        let routes = api
            .add_service(OutboxFeedServer::new(feed).max_decoding_message_size(MAX_MESSAGE_BYTES));
        let auth = AuthLayer::new(self.verifier, self.policy.merge(policy()), self.domain);
        let options = ServeOptions {
            services: vec![self.service_name, SERVICE_NAME],
            drain_deadline: self.drain_deadline,
            tls: self.tls,
            limits: self.limits,
        };
        let served = server::serve(listener, routes, auth, options, shutdown).await;
        // The feed's tasks (LISTEN, NOTIFY, purge) were cancelled with the server; they finish what
        // they are doing before the caller closes the pool.
        tasks.close();
        if tokio::time::timeout(self.drain_deadline, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("outbox feed tasks still running after the drain deadline");
        }
        served
    }
}

pub struct OutboxFeedApi {
    pool: PgPool,
    wake: Arc<Notify>,
    settings: FeedSettings,
    domain: &'static str,
}

impl OutboxFeedApi {
    /// Starts the LISTEN, NOTIFY and purge tasks on `tasks` (stopped by `shutdown`) and returns the
    /// gRPC service.
    pub fn start(
        pool: PgPool,
        schema: &'static str,
        settings: FeedSettings,
        domain: &'static str,
        signal: CommitSignal,
        tasks: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        // Every waiting `Pull` wakes when a producing transaction commits: in this process through
        // the signal, in other replicas through the NOTIFY the signal sends.
        let wake = signal.local();
        tasks.spawn(
            signal
                .clone()
                .notify_other_replicas(pool.clone(), schema, shutdown.clone()),
        );
        tasks.spawn(db::wake_on_notify(
            pool.clone(),
            channel(schema),
            wake.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(purge_loop(pool.clone(), settings.retention, shutdown));
        Self {
            pool,
            wake,
            settings,
            domain,
        }
    }

    fn status(&self, e: ApiError) -> Status {
        e.into_status(self.domain)
    }
}

async fn purge_loop(pool: PgPool, retention: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {},
        }
        let purged = async {
            let mut conn = pool.acquire().await?;
            claims::purge(&mut conn, retention).await
        };
        match purged.await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "delivered outbox events purged"),
            Err(e) => tracing::warn!(error = %e, "outbox purge failed"),
        }
    }
}

/// A parked event needs an operator: its cause is on the consumer's side (its logs name the event),
/// and once fixed the event is requeued (see the `outbox_parked` migration).
fn log_parked(e: &claims::ParkedEvent) {
    tracing::error!(
        event_id = %e.id,
        event_type = e.event_type,
        aggregate_type = e.aggregate_type,
        aggregate_id = e.aggregate_id,
        delivery_attempts = e.delivery_attempts,
        last_consumer = e.leased_by.as_deref().unwrap_or(""),
        "outbox event parked: handed out the maximum number of times and never acked"
    );
}

fn to_pb(e: claims::LeasedEvent) -> pb::OutboxEvent {
    pb::OutboxEvent {
        id: e.id.to_string(),
        aggregate_type: e.aggregate_type,
        aggregate_id: e.aggregate_id,
        event_type: e.event_type,
        payload_json: e.payload.to_string(),
        traceparent: e.traceparent.unwrap_or_default(),
        created_at: Some(time_pb::to_timestamp(e.created_at)),
        delivery_attempt: e.delivery_attempts,
    }
}

/// Who holds a lease: the verified caller and the consumer name it gives (one per process), so only
/// the process that pulled an event can ack it.
fn holder<T>(request: &Request<T>, consumer: &str) -> Result<String, ApiError> {
    Ok(format!(
        "{}/{consumer}",
        crate::auth::identity(request)?.subject
    ))
}

#[tonic::async_trait]
impl OutboxFeed for OutboxFeedApi {
    #[tracing::instrument(skip_all, fields(consumer = %request.get_ref().consumer))]
    async fn pull(
        &self,
        request: Request<pb::PullRequest>,
    ) -> Result<Response<pb::PullResponse>, Status> {
        let r = requests::pull(request.get_ref()).map_err(|v| self.status(ApiError::invalid(v)))?;
        let holder = holder(&request, &r.consumer).map_err(|e| self.status(e))?;
        let deadline = tokio::time::Instant::now() + r.wait;
        loop {
            // Register for the wake-up before looking, so a commit between the two is not missed.
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let leased = async {
                let mut conn = self.pool.acquire().await?;
                let parked =
                    claims::park_exhausted(&mut conn, self.settings.max_deliveries).await?;
                parked.iter().for_each(log_parked);
                claims::lease(
                    &mut conn,
                    &holder,
                    r.max_events,
                    self.settings.lease,
                    self.settings.max_deliveries,
                )
                .await
            };
            let events = leased.await.map_err(|e| self.status(error::from_db(&e)))?;
            let now = tokio::time::Instant::now();
            if !events.is_empty() || now >= deadline {
                return Ok(Response::new(pb::PullResponse {
                    events: events.into_iter().map(to_pb).collect(),
                }));
            }
            let nap = deadline.min(now + self.settings.poll_fallback);
            tokio::select! {
                () = notified => {},
                () = tokio::time::sleep_until(nap) => {},
            }
        }
    }

    #[tracing::instrument(skip_all, fields(consumer = %request.get_ref().consumer))]
    async fn ack(
        &self,
        request: Request<pb::AckRequest>,
    ) -> Result<Response<pb::AckResponse>, Status> {
        let ids =
            requests::ack(request.get_ref()).map_err(|v| self.status(ApiError::invalid(v)))?;
        let holder = holder(&request, &request.get_ref().consumer).map_err(|e| self.status(e))?;
        let acked = async {
            let mut conn = self.pool.acquire().await?;
            claims::ack(&mut conn, &ids, &holder).await
        };
        match acked.await.map_err(|e| self.status(error::from_db(&e)))? {
            claims::Acked::Done(n) => Ok(Response::new(pb::AckResponse { acked: n as i32 })),
            claims::Acked::NotHeld(ids) => Err(self.status(
                ApiError::new(
                    tonic::Code::FailedPrecondition,
                    "LEASE_NOT_HELD",
                    format!(
                        "{} of these events are leased by another consumer; nothing was acked",
                        ids.len()
                    ),
                )
                .with("eventId", ids[0].to_string()),
            )),
        }
    }
}
