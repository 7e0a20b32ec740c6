//! The server's own bounds: a call that runs past the request timeout is ended, and one connection
//! gets no more calls in flight than its share.

use std::time::{Duration, Instant};

use clinic_common::{auth::Role, server::ServerLimits, testing::bearer};
use clinic_proto::pb::{
    outbox::v1::{self as pb, outbox_feed_client::OutboxFeedClient},
    registration::v1::registration_service_client::RegistrationServiceClient,
};
use tonic::{Code, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::helpers::{TestApp, spawn_with_server_limits};

async fn channel(app: &TestApp) -> Channel {
    Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A long-poll on an empty feed: it holds the call open for `wait_ms`.
async fn long_poll(app: &TestApp, channel: Channel, wait_ms: i32) -> Result<(), tonic::Status> {
    let token = app.token_for("service:notifier-service", Role::Service);
    OutboxFeedClient::new(channel)
        .pull(bearer(
            &token,
            pb::PullRequest {
                consumer: "notifier".into(),
                max_events: 10,
                wait_ms,
            },
        ))
        .await
        .map(drop)
}

#[tokio::test]
async fn a_call_that_runs_past_the_request_timeout_is_ended() {
    let app = spawn_with_server_limits(ServerLimits {
        request_timeout: Duration::from_millis(500),
        ..ServerLimits::default()
    })
    .await;
    let started = Instant::now();
    let err = long_poll(&app, channel(&app).await, 20_000)
        .await
        .expect_err("a 20 s long-poll under a 0.5 s request timeout");
    assert_eq!(err.code(), Code::Cancelled, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "ended by the timeout, not by the long-poll's own end ({:?})",
        started.elapsed()
    );
}

#[tokio::test]
async fn one_connection_waits_for_a_free_slot_while_others_are_served() {
    let app = spawn_with_server_limits(ServerLimits {
        concurrency_per_connection: 1,
        ..ServerLimits::default()
    })
    .await;
    // The busy connection's one call: an approval parked on the request's row lock, which we hold.
    let busy = channel(&app).await;
    let parked = app
        .park_approval(RegistrationServiceClient::new(busy.clone()))
        .await;

    // Another connection is served at once; the busy one's next call waits for its one slot.
    let mut other = HealthClient::new(channel(&app).await);
    other.check(HealthCheckRequest::default()).await.unwrap();
    let mut same = HealthClient::new(busy);
    let mut queued = {
        let mut same = same.clone();
        tokio::spawn(async move { same.check(HealthCheckRequest::default()).await })
    };
    let early = tokio::time::timeout(Duration::from_millis(500), &mut queued).await;
    assert!(
        early.is_err(),
        "a second call ran on a connection limited to one: {early:?}"
    );

    parked
        .release()
        .await
        .call
        .await
        .unwrap()
        .expect("the approval, once the lock is free");
    queued.await.unwrap().expect("served once the slot is free");
    same.check(HealthCheckRequest::default()).await.unwrap();
}
