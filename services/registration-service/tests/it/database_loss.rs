//! The database dropping the service's connection under a call (a restart, a failover, an operator
//! terminating backends): the caller is told the dependency is unavailable, never INTERNAL, nothing
//! is written, and the next call works.

use clinic_common::testing::{error_info, wait_for_lock_waiters};
use sqlx::{Connection, PgConnection};
use tonic::Code;

use crate::helpers::{approve, form, spawn_app};

#[tokio::test]
async fn a_call_whose_database_session_is_terminated_answers_dependency_unavailable() {
    let app = spawn_app().await;
    let admin = app.admin(0).await;
    let submitted = app.submit(form()).await;
    // Park the service's approval on the request's row lock, then terminate the session it waits in.
    let mut holder = PgConnection::connect(&app.db.url).await.unwrap();
    let mut tx = holder.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM registration.registration_requests WHERE id = $1::uuid FOR UPDATE")
        .bind(&submitted.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let call = {
        let mut client = app.client().await;
        let req = approve(&submitted.id, submitted.version, &admin.token);
        tokio::spawn(async move { client.approve_registration_request(req).await })
    };
    wait_for_lock_waiters(&app.pool, "transactionid", 1).await;
    let terminated: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
         JOIN pg_stat_activity s ON s.pid = l.pid \
         WHERE s.datname = current_database() AND l.locktype = 'transactionid' AND NOT l.granted) t",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(terminated, 1);

    let err = call.await.unwrap().expect_err("its session was terminated");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    let (reason, metadata) = error_info(&err);
    assert_eq!(reason, "DEPENDENCY_UNAVAILABLE");
    assert_eq!(metadata["dependency"], "database");
    tx.rollback().await.unwrap();

    // Nothing was decided, and the pool replaced what the server dropped.
    let mut client = app.client().await;
    let approved = client
        .approve_registration_request(approve(&submitted.id, submitted.version, &admin.token))
        .await
        .expect("approval after the outage")
        .into_inner();
    assert_eq!(approved.request.unwrap().version, submitted.version + 1);
}
