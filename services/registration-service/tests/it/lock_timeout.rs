//! A decision waits for its request's row lock at most the pool's `lock_timeout`; past it the caller is
//! told to retry (ABORTED `REGISTRATION_BUSY` with `RetryInfo`), never INTERNAL, and nothing changed.

use std::time::Duration;

use clinic_common::testing::{error_info, retry_delay};
use tonic::Code;

use crate::helpers::{reject, spawn_with_lock_timeout};

fn assert_busy(err: &tonic::Status) {
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    assert_eq!(error_info(err).0, "REGISTRATION_BUSY");
    let delay = retry_delay(err).expect("RetryInfo");
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(5),
        "{delay:?}"
    );
}

#[tokio::test]
async fn a_decision_that_waits_past_the_lock_timeout_is_told_to_retry_and_changes_nothing() {
    let app = spawn_with_lock_timeout(Duration::from_millis(500)).await;
    let parked = app.park_approval(app.client().await).await;

    // Act: the approval waits on the row lock another session holds; so does a rejection.
    let approval = tokio::time::timeout(Duration::from_secs(10), parked.call)
        .await
        .expect("the approval still waits on the row lock after 10 s")
        .unwrap();
    let rejection = tokio::time::timeout(
        Duration::from_secs(10),
        app.client().await.reject_registration_request(reject(
            &parked.request.id,
            1,
            &parked.admin.token,
        )),
    )
    .await
    .expect("the rejection still waits on the row lock after 10 s");

    // Assert
    assert_busy(&approval.expect_err("busy"));
    assert_busy(&rejection.expect_err("busy"));
    drop(parked.holder);
    let (status, version): (String, i64) =
        sqlx::query_as("SELECT status, version FROM registration_requests WHERE id = $1::uuid")
            .bind(&parked.request.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), version), ("PENDING", 1));
}
