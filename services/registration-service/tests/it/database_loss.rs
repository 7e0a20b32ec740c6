//! The database dropping the service's connection under a call (a restart, a failover, an operator
//! terminating backends): the caller is told the dependency is unavailable, never INTERNAL, nothing
//! is written, and the next call works.

use clinic_common::testing::error_info;
use tonic::Code;

use crate::helpers::{approve, spawn_app};

#[tokio::test]
async fn a_call_whose_database_session_is_terminated_answers_dependency_unavailable() {
    let app = spawn_app().await;
    // Park the service's approval on the request's row lock, then terminate the session it waits in.
    let mut parked = app.park_approval(app.client().await).await;
    let terminated: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
         JOIN pg_stat_activity s ON s.pid = l.pid \
         WHERE s.datname = current_database() AND l.locktype = 'transactionid' AND NOT l.granted) t",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(terminated, 1);

    let err = (&mut parked.call)
        .await
        .unwrap()
        .expect_err("its session was terminated");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    let (reason, metadata) = error_info(&err);
    assert_eq!(reason, "DEPENDENCY_UNAVAILABLE");
    assert_eq!(metadata["dependency"], "database");
    let parked = parked.release().await;

    // Nothing was decided, and the pool replaced what the server dropped.
    let mut client = app.client().await;
    let approved = client
        .approve_registration_request(approve(
            &parked.request.id,
            parked.request.version,
            &parked.admin.token,
        ))
        .await
        .expect("approval after the outage")
        .into_inner();
    assert_eq!(
        approved.request.unwrap().version,
        parked.request.version + 1
    );
}
