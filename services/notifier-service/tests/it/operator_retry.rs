//! RetryDelivery: what an operator may put back in the queue, and what they may not.

use std::time::Duration;

use clinic_common::testing::{bearer, error_info};
use clinic_proto::pb::notifier::v1 as pb;
use uuid::Uuid;

use crate::helpers::{
    Knobs, Pipeline, approve_one, only_delivery, spawn_pipeline, wait_for_status,
};

const WAIT: Duration = Duration::from_secs(60);

async fn retry(p: &Pipeline, id: Uuid) -> Result<pb::Delivery, tonic::Status> {
    let admin = p.admin(9).await;
    p.operator()
        .await
        .retry_delivery(bearer(
            &admin.token,
            pb::RetryDeliveryRequest { id: id.to_string() },
        ))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_a_delivery_being_sent_is_refused_and_the_mail_goes_once() {
    let p = spawn_pipeline(Knobs {
        replicas: 2,
        ..Knobs::default()
    })
    .await;
    p.smtp.hold_replies();
    approve_one(&p, "ana.retry@mail.example.com").await;
    p.smtp.wait_for_held(1, WAIT).await;
    let (id, _, _) = only_delivery(&p).await;

    let err = retry(&p, id)
        .await
        .expect_err("a delivery being sent cannot be requeued");

    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert_eq!(error_info(&err).0, "DELIVERY_IN_PROGRESS");
    p.smtp.release_replies();
    wait_for_status(&p, id, "SENT").await;
    let mails = p.smtp.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "exactly one e-mail");
    let err = retry(&p, id).await.expect_err("a sent delivery stays sent");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert_eq!(error_info(&err).0, "DELIVERY_ALREADY_SENT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_delivery_waiting_for_its_next_attempt_can_be_retried_at_once() {
    let mut p = spawn_pipeline(Knobs {
        backoff_base: Duration::from_secs(3600),
        backoff_max: Duration::from_secs(3600),
        ..Knobs::default()
    })
    .await;
    p.smtp.stop();
    approve_one(&p, "ana.later@mail.example.com").await;
    let (id, _, _) = only_delivery(&p).await;
    // The first attempt fails (connection refused) and the next one is an hour away.
    let deadline = std::time::Instant::now() + WAIT;
    while sqlx::query_scalar::<_, Option<String>>("SELECT last_error FROM deliveries")
        .fetch_one(&p.pool)
        .await
        .unwrap()
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "never attempted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p.smtp.restart();

    let retried = retry(&p, id)
        .await
        .expect("a waiting delivery can be retried");

    assert_eq!(retried.status, pb::DeliveryStatus::Queued as i32);
    assert_eq!(retried.attempts, 0);
    wait_for_status(&p, id, "SENT").await;
    assert_eq!(p.smtp.wait_for(1, WAIT).await.len(), 1);
}
