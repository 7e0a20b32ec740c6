//! A poison event: one the notifier cannot record. It must not hold back the events pulled in the
//! same batch, and the feed parks it after its last allowed delivery instead of handing it out forever.

use std::time::{Duration, Instant};

use clinic_common::{outbox::FeedSettings, testing::bearer};
use clinic_proto::pb::outbox::v1::{PullRequest, outbox_feed_client::OutboxFeedClient};
use notifier_service::db::{EXTENSIONS, MIGRATOR, SCHEMA};

use crate::helpers::{
    Knobs, Pipeline, message_id, notifier_settings, service_token, spawn_pipeline, start_notifier,
};

const GOOD: usize = 5;
const MAX_DELIVERIES: i32 = 3;

/// Makes every insert into the notifier's ledger for `aggregate_id` fail with a data error (SQLSTATE
/// 23514, as a CHECK constraint the row breaks would): the event's own fault, unlike a ledger that
/// refuses every write (`ledger_outage`). The aggregate ids to refuse live in a table, so the trigger
/// needs no SQL built from input.
/// The trigger runs as the test's admin (SECURITY DEFINER): the runtime role needs no right on it.
async fn poison(p: &Pipeline, aggregate_id: &str) {
    for statement in [
        "CREATE TABLE poisoned (aggregate_id text PRIMARY KEY)",
        "CREATE FUNCTION refuse_poisoned() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER \
         SET search_path = notifier AS $$ \
         BEGIN \
           IF EXISTS (SELECT 1 FROM poisoned WHERE aggregate_id = NEW.aggregate_id) THEN \
             RAISE EXCEPTION 'poisoned aggregate %', NEW.aggregate_id \
               USING ERRCODE = 'check_violation'; \
           END IF; \
           RETURN NEW; \
         END $$",
        "CREATE TRIGGER refuse_poisoned BEFORE INSERT ON deliveries \
         FOR EACH ROW EXECUTE FUNCTION refuse_poisoned()",
    ] {
        sqlx::query(statement).execute(&p.pool).await.unwrap();
    }
    sqlx::query("INSERT INTO poisoned (aggregate_id) VALUES ($1)")
        .bind(aggregate_id)
        .execute(&p.pool)
        .await
        .unwrap();
}

/// Waits (bounded) until the feed has parked the events of `aggregate_id`; returns how many times
/// each was handed out.
async fn parked_attempts(p: &Pipeline, aggregate_id: &str) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let attempts: Vec<i32> = sqlx::query_scalar(
            "SELECT delivery_attempts FROM outbox_parked WHERE aggregate_id = $1",
        )
        .bind(aggregate_id)
        .fetch_all(&p.reg_pool)
        .await
        .unwrap();
        if !attempts.is_empty() {
            return attempts;
        }
        assert!(Instant::now() < deadline, "poison event never parked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_does_not_hold_back_its_batch_and_is_parked_after_its_last_delivery() {
    // Arrange: short leases so the poison event comes back quickly; no notifier yet, so all events
    // wait in the outbox and the notifier's first pull takes them in one batch.
    let knobs = Knobs {
        replicas: 0,
        feed: FeedSettings {
            lease: Duration::from_secs(2),
            max_deliveries: MAX_DELIVERIES,
            ..FeedSettings::default()
        },
        ..Knobs::default()
    };
    let mut p = spawn_pipeline(knobs.clone()).await;
    let urls = p.db.service_urls(SCHEMA, EXTENSIONS).await;
    clinic_common::db::migrate_url(&urls.migration, SCHEMA, &MIGRATOR)
        .await
        .unwrap();
    let admin = p.admin(0).await;
    let mut client = p.registration().await;
    let mut requests = Vec::new();
    for _ in 0..=GOOD {
        let r = p.submit(&mut client).await;
        client
            .approve_registration_request(p.approve(&r.id, &admin.token))
            .await
            .unwrap();
        requests.push(r.id);
    }
    let poisoned = requests.remove(2);
    poison(&p, &poisoned).await;

    // Act
    p.notifiers
        .push(start_notifier(notifier_settings(&p, knobs).await).await);

    // Assert: the good ones are e-mailed at once, each exactly once, and acked on their first pull.
    let mails = p.smtp.wait_for(GOOD, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), GOOD, "exactly the good events are e-mailed");
    for id in &requests {
        let events = p.event_ids(&p.reg_pool, id).await;
        assert_eq!(events.len(), 1);
        assert_eq!(
            mails
                .iter()
                .filter(|m| m.message_id == message_id(events[0]))
                .count(),
            1,
            "request {id} e-mailed once"
        );
    }
    let first_pull_acked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL AND delivery_attempts = 1",
    )
    .fetch_one(&p.reg_pool)
    .await
    .unwrap();
    assert_eq!(first_pull_acked, GOOD as i64);

    // The poison event was handed out exactly MAX_DELIVERIES times, then parked, never acked.
    assert_eq!(parked_attempts(&p, &poisoned).await, vec![MAX_DELIVERIES]);
    let (delivered, parked): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL), \
                count(*) FILTER (WHERE parked_at IS NOT NULL) FROM outbox",
    )
    .fetch_one(&p.reg_pool)
    .await
    .unwrap();
    assert_eq!((delivered, parked), (GOOD as i64, 1));
    // A parked event is no longer handed out to anyone.
    let mut feed = OutboxFeedClient::new(p.registration.channel().await);
    let events = feed
        .pull(bearer(
            &service_token(&p.keys),
            PullRequest {
                consumer: "probe".into(),
                max_events: 10,
                wait_ms: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(events.is_empty(), "handed out again: {events:?}");
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries")
        .fetch_one(&p.pool)
        .await
        .unwrap();
    assert_eq!(recorded, GOOD as i64);
    assert_eq!(p.smtp.messages().len(), GOOD);
}
