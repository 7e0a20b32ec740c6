//! The outbox feed served by registration-service: leases, acks, redelivery, out-of-order commits.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use clinic_common::{
    auth::Role,
    outbox::{FeedSettings, NewEvent, append, feed::MAX_EVENTS},
    testing::{bearer, error_info},
};
use clinic_proto::pb::outbox::v1::{self as pb, outbox_feed_client::OutboxFeedClient};
use tonic::{Code, transport::Channel};

use crate::helpers::{TestApp, approve, form, spawn_app, spawn_replicas_with_feed};

async fn feed_channel(app: &TestApp) -> Channel {
    Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn feed(app: &TestApp) -> (OutboxFeedClient<Channel>, String) {
    let channel = feed_channel(app).await;
    (
        OutboxFeedClient::new(channel),
        app.token_for("service:notifier-service", Role::Service),
    )
}

fn pull(token: &str, max: i32, wait_ms: i32) -> tonic::Request<pb::PullRequest> {
    bearer(
        token,
        pb::PullRequest {
            consumer: "notifier".into(),
            max_events: max,
            wait_ms,
        },
    )
}

fn ack(token: &str, ids: Vec<String>) -> tonic::Request<pb::AckRequest> {
    bearer(
        token,
        pb::AckRequest {
            consumer: "notifier".into(),
            event_ids: ids,
        },
    )
}

async fn approved(app: &TestApp) -> String {
    let admin = app.admin(1).await;
    let req = app.submit(form()).await;
    app.client()
        .await
        .approve_registration_request(approve(&req.id, 1, &admin.token))
        .await
        .unwrap();
    req.id
}

#[tokio::test]
async fn a_pulled_event_is_leased_until_acked_and_redelivered_when_the_lease_expires() {
    let app = spawn_app().await;
    let request_id = approved(&app).await;
    let (mut client, token) = feed(&app).await;

    let first = client
        .pull(pull(&token, 10, 0))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(first.len(), 1);
    let event = &first[0];
    assert_eq!(event.event_type, "registration.approved");
    assert_eq!(event.aggregate_id, request_id);
    assert_eq!(event.delivery_attempt, 1);
    let payload: serde_json::Value = serde_json::from_str(&event.payload_json).unwrap();
    assert_eq!(payload["request_id"], request_id);

    // Leased: nobody else gets it.
    assert!(
        client
            .pull(pull(&token, 10, 0))
            .await
            .unwrap()
            .into_inner()
            .events
            .is_empty()
    );

    // The consumer died without acking: once the lease has run out, it comes back.
    sqlx::query("UPDATE outbox SET lease_until = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let again = client
        .pull(pull(&token, 10, 0))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, event.id);
    assert_eq!(again[0].delivery_attempt, 2);

    let acked = client
        .ack(ack(&token, vec![event.id.clone()]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.acked, 1);
    sqlx::query("UPDATE outbox SET lease_until = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(
        client
            .pull(pull(&token, 10, 0))
            .await
            .unwrap()
            .into_inner()
            .events
            .is_empty()
    );
    // Acking twice is harmless.
    assert_eq!(
        client
            .ack(ack(&token, vec![event.id.clone()]))
            .await
            .unwrap()
            .into_inner()
            .acked,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_took_an_earlier_id_but_commits_last_is_still_delivered() {
    let app = spawn_app().await;
    let (mut client, token) = feed(&app).await;

    // A transaction appends first (earlier id and creation time) and stays open…
    let mut slow = app.pool.begin().await.unwrap();
    let late_id = append(
        &mut slow,
        NewEvent {
            aggregate_type: "test",
            aggregate_id: "late".into(),
            event_type: "test.late",
            payload: serde_json::json!({}),
        },
    )
    .await
    .unwrap();
    // …while a later one commits and is delivered.
    approved(&app).await;
    let early = client
        .pull(pull(&token, 10, 0))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(early.len(), 1);
    assert_eq!(early[0].event_type, "registration.approved");
    client
        .ack(ack(&token, vec![early[0].id.clone()]))
        .await
        .unwrap();

    // A waiting pull is woken by the late commit and gets the event no cursor would have reached.
    let waiting = tokio::spawn(async move { client.pull(pull(&token, 10, 20_000)).await });
    slow.commit().await.unwrap();
    let late = waiting.await.unwrap().unwrap().into_inner().events;
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].id, late_id.to_string());
}

/// Holds the first puller's transaction open after it has leased (and row-locked) its events: an
/// AFTER UPDATE statement trigger makes the lease by consumer `first` wait for advisory lock 4242,
/// which the test holds. The second pull then runs while the first's rows are provably locked.
async fn hold_leases_of_first(app: &TestApp) {
    sqlx::raw_sql(
        "CREATE FUNCTION hold_first_lease() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN \
             IF EXISTS (SELECT FROM leased WHERE leased_by LIKE '%/first') THEN \
                 PERFORM pg_advisory_xact_lock(4242); \
             END IF; \
             RETURN NULL; \
         END $$; \
         CREATE TRIGGER hold_first_lease AFTER UPDATE ON outbox REFERENCING NEW TABLE AS leased \
         FOR EACH STATEMENT EXECUTE FUNCTION hold_first_lease();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
}

fn pull_as(token: &str, consumer: &str, max: i32) -> tonic::Request<pb::PullRequest> {
    bearer(
        token,
        pb::PullRequest {
            consumer: consumer.into(),
            max_events: max,
            wait_ms: 0,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_while_another_holds_its_leases_locked_takes_the_others_without_waiting() {
    let app = spawn_app().await;
    for _ in 0..6 {
        approved(&app).await;
    }
    let (client, token) = feed(&app).await;
    hold_leases_of_first(&app).await;
    let mut gate = app.pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(4242)")
        .execute(&mut *gate)
        .await
        .unwrap();

    let (mut a, mut b) = (client.clone(), client);
    let (ta, tb) = (token.clone(), token);
    let first = tokio::spawn(async move { a.pull(pull_as(&ta, "first", 4)).await });
    // The first pull has leased and locked its rows and waits, uncommitted, for the gate.
    app.wait_for_lock_waiters("advisory", 1).await;
    let second = tokio::time::timeout(Duration::from_secs(10), b.pull(pull_as(&tb, "second", 4)))
        .await
        .expect("the second pull skipped the locked rows instead of waiting for them")
        .unwrap()
        .into_inner()
        .events;
    sqlx::query("SELECT pg_advisory_unlock(4242)")
        .execute(&mut *gate)
        .await
        .unwrap();
    let first = first.await.unwrap().unwrap().into_inner().events;

    let ids = |events: &[pb::OutboxEvent]| -> HashSet<String> {
        events.iter().map(|e| e.id.clone()).collect()
    };
    let (first, second) = (ids(&first), ids(&second));
    assert_eq!(first.len(), 4, "the first lease");
    assert_eq!(
        second.len(),
        2,
        "the rest, while the first's rows were locked"
    );
    assert!(first.is_disjoint(&second), "no event leased twice");
    let all: HashSet<String> = sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM outbox")
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    assert_eq!(&first | &second, all);
}

#[tokio::test]
async fn only_service_tokens_may_pull_and_bad_arguments_are_typed() {
    let app = spawn_app().await;
    let (mut client, token) = feed(&app).await;
    let admin = app.admin(1).await;

    let err = client.pull(pull(&admin.token, 10, 0)).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = client
        .pull(pb::PullRequest {
            consumer: "x".into(),
            max_events: 1,
            wait_ms: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    for (max, wait) in [(0, 0), (501, 0), (10, -1), (10, 30_001)] {
        let err = client.pull(pull(&token, max, wait)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(error_info(&err).0, "INVALID_FIELD");
    }
    let err = client
        .ack(ack(&token, vec!["not-a-uuid".into()]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

/// The producer notifies after commit, outside the transaction; a `Pull` parked on another replica
/// must still wake at once. Its poll fallback is set far beyond the test's limit, so only the
/// notification can wake it in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_parked_on_one_replica_wakes_when_a_decision_commits_on_the_other() {
    let slow_poll = FeedSettings {
        poll_fallback: Duration::from_secs(60),
        ..FeedSettings::default()
    };
    let (a, b) = spawn_replicas_with_feed(slow_poll).await;
    let admin = a.admin(1).await;
    let req = a.submit(form()).await;
    let (mut feed_b, token) = feed(&b).await;
    let parked = tokio::spawn(async move {
        let started = Instant::now();
        let events = feed_b
            .pull(pull(&token, 10, 20_000))
            .await
            .unwrap()
            .into_inner()
            .events;
        (started.elapsed(), events)
    });

    a.client()
        .await
        .approve_registration_request(approve(&req.id, 1, &admin.token))
        .await
        .unwrap();

    let (waited, events) = parked.await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].aggregate_id, req.id);
    assert!(
        waited < Duration::from_secs(5),
        "the parked pull woke only after {waited:?}"
    );
}

/// An event handed out `max_deliveries` times and never acked is parked: not handed out again,
/// listed in `outbox_parked`. A late ack still counts: it was delivered after all.
#[tokio::test]
async fn an_event_never_acked_is_parked_after_its_last_delivery_and_a_late_ack_delivers_it() {
    let feed_settings = FeedSettings {
        max_deliveries: 2,
        ..FeedSettings::default()
    };
    let (app, _replica) = spawn_replicas_with_feed(feed_settings).await;
    let request_id = approved(&app).await;
    let (mut client, token) = feed(&app).await;
    let expire_leases = || async {
        sqlx::query("UPDATE outbox SET lease_until = now() - interval '1 second'")
            .execute(&app.pool)
            .await
            .unwrap();
    };
    let mut event_id = String::new();
    for attempt in 1..=2 {
        let events = client
            .pull(pull(&token, 10, 0))
            .await
            .unwrap()
            .into_inner()
            .events;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].delivery_attempt, attempt);
        event_id = events[0].id.clone();
        expire_leases().await;
    }

    let third = client
        .pull(pull(&token, 10, 0))
        .await
        .unwrap()
        .into_inner()
        .events;

    assert!(third.is_empty(), "handed out a third time: {third:?}");
    let parked: Vec<(String, i32, Option<String>)> =
        sqlx::query_as("SELECT aggregate_id, delivery_attempts, leased_by FROM outbox_parked")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        parked,
        vec![(
            request_id,
            2,
            Some("service:notifier-service/notifier".to_owned())
        )]
    );

    let acked = client
        .ack(ack(&token, vec![event_id]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.acked, 1);
    let (parked, delivered): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM outbox_parked), \
                (SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((parked, delivered), (0, 1));
}

/// Only the process that pulled an event can ack it: a lease is held by the verified caller and the
/// consumer name it pulled with. Another consumer's ack is refused and changes nothing.
#[tokio::test]
async fn an_ack_by_anyone_but_the_lease_holder_is_refused_and_acks_nothing() {
    let app = spawn_app().await;
    approved(&app).await;
    let (mut client, token) = feed(&app).await;
    let event = client
        .pull(pull_as(&token, "replica-a", 10))
        .await
        .unwrap()
        .into_inner()
        .events
        .remove(0);
    let ack_as = |consumer: &str| {
        bearer(
            &token,
            pb::AckRequest {
                consumer: consumer.into(),
                event_ids: vec![event.id.clone()],
            },
        )
    };

    let err = client.ack(ack_as("replica-b")).await.unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition);
    let (reason, metadata) = error_info(&err);
    assert_eq!(reason, "LEASE_NOT_HELD");
    assert_eq!(metadata.get("eventId"), Some(&event.id));
    let delivered: Option<time::OffsetDateTime> =
        sqlx::query_scalar("SELECT delivered_at FROM outbox")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(delivered, None, "the refused ack marked nothing");
    let acked = client.ack(ack_as("replica-a")).await.unwrap().into_inner();
    assert_eq!(acked.acked, 1, "the holder's ack counts");
}

/// The feed (activation links, personal data) is the notifier's alone: another service's token, a
/// person's token, and a token for another server are all refused, and lease nothing.
#[tokio::test]
async fn only_the_notifier_may_pull_or_ack_the_feed() {
    let app = spawn_app().await;
    approved(&app).await;
    let (mut client, _) = feed(&app).await;
    let admin = app.admin(2).await;
    let refused = [
        (
            app.token_for("service:appointment-service", Role::Service),
            Code::PermissionDenied,
        ),
        (admin.token.clone(), Code::PermissionDenied),
        (
            // The notifier's identity, in a token whose audience is appointment-service only.
            app.keys
                .issuer
                .issue(
                    "service:notifier-service",
                    Role::Service,
                    None,
                    &["appointment-service"],
                    Duration::from_secs(60),
                )
                .unwrap()
                .0,
            Code::Unauthenticated,
        ),
    ];

    for (token, code) in &refused {
        let err = client.pull(pull(token, 10, 0)).await.unwrap_err();
        assert_eq!(err.code(), *code, "{}", err.message());
        let err = client
            .ack(ack(token, vec![uuid::Uuid::new_v4().to_string()]))
            .await
            .unwrap_err();
        assert_eq!(err.code(), *code, "{}", err.message());
    }
    let leased: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE leased_by IS NOT NULL")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(leased, 0);
}

/// The feed and health take small requests only: a megabyte is refused by the server before any
/// handler (or the auth layer's work) sees it, and nothing is acked.
#[tokio::test]
async fn huge_feed_and_health_requests_are_refused() {
    let app = spawn_app().await;
    approved(&app).await;
    let (mut client, token) = feed(&app).await;
    let huge_ack = ack(&token, vec!["0".repeat(1024); 1024]);

    let err = client.ack(huge_ack).await.unwrap_err();

    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );
    let mut health = tonic_health::pb::health_client::HealthClient::new(feed_channel(&app).await);
    let err = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "x".repeat(1024 * 1024),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );
    let delivered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(delivered, 0);
}

/// The size limit refuses only what no notifier sends: the Ack of a full pull (the most events one
/// Pull leases) is taken whole.
#[tokio::test]
async fn the_ack_of_a_full_pull_fits_the_size_limit() {
    let app = spawn_app().await;
    let mut tx = app.pool.begin().await.unwrap();
    for i in 0..MAX_EVENTS {
        append(
            &mut tx,
            NewEvent {
                aggregate_type: "test",
                aggregate_id: format!("full-{i}"),
                event_type: "test.full",
                payload: serde_json::json!({}),
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let (mut client, token) = feed(&app).await;
    let events = client
        .pull(pull(&token, MAX_EVENTS, 0))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.len(), MAX_EVENTS as usize);

    let acked = client
        .ack(ack(&token, events.into_iter().map(|e| e.id).collect()))
        .await
        .expect("a full pull's ack is within the limit")
        .into_inner();

    assert_eq!(acked.acked, MAX_EVENTS);
}
