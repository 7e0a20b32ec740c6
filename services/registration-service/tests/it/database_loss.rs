//! The database dropping the service's connections (a restart, a failover, an operator terminating
//! backends): callers are told the dependency is unavailable, never INTERNAL, and the next call works.

use clinic_common::testing::{bearer, error_info};
use clinic_proto::pb::registration::v1 as pb;
use sqlx::{Connection, PgConnection};
use tonic::Code;

use crate::helpers::{form, spawn_app};

#[tokio::test]
async fn calls_on_connections_the_database_terminated_answer_dependency_unavailable() {
    let app = spawn_app().await;
    let admin = app.admin(0).await;
    let submitted = app.submit(form()).await;
    let mut client = app.client().await;
    let get = || {
        bearer(
            &admin.token,
            pb::GetRegistrationRequestRequest {
                id: submitted.id.clone(),
            },
        )
    };
    // Warm the pool so the next calls use connections the server is about to drop.
    for _ in 0..3 {
        client.get_registration_request(get()).await.unwrap();
    }

    let mut dba = PgConnection::connect(&app.db.url).await.unwrap();
    let terminated: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(&mut dba)
    .await
    .unwrap();
    assert!(terminated > 0);

    let mut unavailable = 0;
    for _ in 0..3 {
        match client.get_registration_request(get()).await {
            Ok(_) => {}
            Err(err) => {
                assert_eq!(err.code(), Code::Unavailable, "{err:?}");
                let (reason, metadata) = error_info(&err);
                assert_eq!(reason, "DEPENDENCY_UNAVAILABLE");
                assert_eq!(metadata["dependency"], "database");
                unavailable += 1;
            }
        }
    }
    assert!(unavailable > 0, "no call used a terminated connection");
    // The pool replaced what the server dropped.
    client.get_registration_request(get()).await.unwrap();
}
