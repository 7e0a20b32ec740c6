//! Claims: a sender gives up an attempt before its claim can lapse, and an outcome is recorded only
//! by the sender still holding the claim.

use std::time::Duration;

use clinic_common::testing::TestDb;
use notifier_service::db::{MIGRATOR, SCHEMA, deliveries};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::helpers::{Knobs, approve_one, only_delivery, spawn_pipeline, wait_for_status};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_slower_than_the_claim_is_abandoned_in_time_and_two_replicas_mail_once() {
    let p = spawn_pipeline(Knobs {
        replicas: 2,
        claim: Duration::from_secs(2),
        ..Knobs::default()
    })
    .await;
    p.smtp.hold_replies();
    approve_one(&p, "ana.slow@mail.example.com").await;

    // Two sends reach the end of DATA with no answer: without a per-attempt deadline the first is
    // still waiting when its claim lapses and the other replica sends too; with one, the first gave
    // up (and hung up) before its claim could lapse and the second is its retry.
    p.smtp.wait_for_held(2, WAIT).await;
    p.smtp.release_replies();

    let (id, _, _) = only_delivery(&p).await;
    wait_for_status(&p, id, "SENT").await;
    let mails = p.smtp.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "exactly one e-mail");
}

#[tokio::test]
async fn a_stale_outcome_neither_requeues_nor_settles_a_delivery_another_sender_holds() {
    let db = TestDb::create().await;
    let pool = db.pool(SCHEMA).await;
    clinic_common::db::migrate(&pool, SCHEMA, &MIGRATOR)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let payload = serde_json::json!({});
    deliveries::record(
        &mut conn,
        &deliveries::NewDelivery {
            source: "registration",
            event_id: Uuid::new_v4(),
            event_type: "registration.rejected",
            aggregate_id: "r1",
            payload: &payload,
            traceparent: None,
            message_id: "<e1@notifier.test>",
        },
    )
    .await
    .unwrap();
    let claim = Duration::from_secs(30);
    let first = deliveries::claim_due(&mut conn, 10, claim).await.unwrap();
    assert_eq!(first.len(), 1);
    // The first sender's claim lapses (as time would make it) and a second sender takes over.
    sqlx::query("UPDATE deliveries SET claimed_until = now() - interval '1 second'")
        .execute(&mut *conn)
        .await
        .unwrap();
    let second = deliveries::claim_due(&mut conn, 10, claim).await.unwrap();
    assert_eq!(second.len(), 1);

    let (id, stale) = (first[0].id, first[0].claim_token.unwrap());
    assert_ne!(
        Some(stale),
        second[0].claim_token,
        "each claim has its own token"
    );

    // The first sender's late outcomes are fenced off.
    let requeued = deliveries::mark_failed(
        &mut conn,
        id,
        stale,
        "smtp: timed out",
        OffsetDateTime::now_utc(),
        false,
    )
    .await
    .unwrap();
    let settled = deliveries::mark_sent(&mut conn, id, stale, "late@mail.example.com")
        .await
        .unwrap();
    assert_eq!((requeued, settled), (false, false));

    let third = deliveries::claim_due(&mut conn, 10, claim).await.unwrap();
    assert!(
        third.is_empty(),
        "a stale outcome re-queued a delivery another sender holds"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM deliveries")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(status, "QUEUED", "a stale outcome settled it");
    // The holder's outcome is recorded.
    let holder = second[0].claim_token.unwrap();
    assert!(
        deliveries::mark_sent(&mut conn, id, holder, "ana@mail.example.com")
            .await
            .unwrap()
    );
}
