//! The link to a producer's feed goes silent without closing (a half-open, black-holed connection):
//! the notifier must notice and reconnect instead of waiting on it until restarted.

use std::time::Duration;

use clinic_common::{outbox::FeedSettings, testing::TcpProxy};

use crate::helpers::{Knobs, notifier_settings, spawn_pipeline, start_notifier};

const PULL_WAIT: Duration = Duration::from_secs(2);
const CALL_DEADLINE: Duration = Duration::from_secs(1);
const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(500);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_millis(500);
/// A Pull still open on the frozen link may lease the new event and answer into the void; the event
/// comes again when this lease ends, so it is kept below the detection time.
const LEASE: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_feed_connection_is_dropped_and_the_next_event_is_mailed() {
    // Arrange: the notifier reaches registration-service's feed through the proxy, and the path works.
    let knobs = Knobs {
        replicas: 0,
        feed: FeedSettings {
            lease: LEASE,
            ..FeedSettings::default()
        },
        ..Knobs::default()
    };
    let mut p = spawn_pipeline(knobs.clone()).await;
    let proxy = TcpProxy::start(p.registration.addr).await.unwrap();
    let mut settings = notifier_settings(&p, knobs).await;
    settings.sources[0].url = proxy.url();
    settings.consumer.wait = PULL_WAIT;
    settings.consumer.call_deadline = CALL_DEADLINE;
    settings.consumer.keep_alive_interval = KEEPALIVE_INTERVAL;
    settings.consumer.keep_alive_timeout = KEEPALIVE_TIMEOUT;
    p.notifiers.push(start_notifier(settings).await);
    p.approve_one().await;
    p.smtp.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(proxy.accepted(), 1);

    // Act: the open connection goes silent, then an event is committed.
    proxy.freeze();
    p.approve_one().await;

    // Assert: e-mailed once the dead link is noticed (keep-alive) or the open call's deadline ends,
    // plus a lease the frozen Pull may have taken, plus time to send.
    let bound = KEEPALIVE_INTERVAL
        + KEEPALIVE_TIMEOUT
        + PULL_WAIT
        + CALL_DEADLINE
        + LEASE
        + Duration::from_secs(2);
    let mails = p.smtp.wait_for(2, bound).await;
    assert_eq!(mails.len(), 2, "each event e-mailed exactly once");
    assert_eq!(proxy.accepted(), 2, "one reconnect past the frozen link");
}
