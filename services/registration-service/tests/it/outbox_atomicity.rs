//! The outbox row is written in the decision's own transaction: when the event cannot be written,
//! the decision does not happen either. A trigger the test installs makes every outbox insert raise.

use clinic_common::testing::{allow_outbox_inserts, assert_internal, refuse_outbox_inserts};

use crate::helpers::{TestApp, approve, form, reject, spawn_app};

/// (status, version, decided_by) of the request, straight from the database.
async fn request_row(app: &TestApp, id: &str) -> (String, i64, Option<uuid::Uuid>) {
    sqlx::query_as(
        "SELECT status, version, decided_by FROM registration_requests WHERE id = $1::uuid",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn count_tokens(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM activation_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_approval_whose_event_cannot_be_written_does_not_happen() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let req = app.submit(form()).await;
    let accounts_before = app.count("accounts").await;
    let mut client = app.client().await;
    refuse_outbox_inserts(&app.pool).await;

    assert_internal(
        client
            .approve_registration_request(approve(&req.id, 1, &admin.token))
            .await,
    );
    assert_eq!(
        request_row(&app, &req.id).await,
        ("PENDING".into(), 1, None)
    );
    assert_eq!(app.count("accounts").await, accounts_before, "no patient");
    assert_eq!(count_tokens(&app).await, 0, "no activation token");
    assert!(app.outbox_rows(&req.id).await.is_empty());

    allow_outbox_inserts(&app.pool).await;
    client
        .approve_registration_request(approve(&req.id, 1, &admin.token))
        .await
        .unwrap();
    assert_eq!(
        request_row(&app, &req.id).await,
        ("APPROVED".into(), 2, Some(admin.id))
    );
    assert_eq!(app.count("accounts").await, accounts_before + 1);
    assert_eq!(app.outbox_rows(&req.id).await.len(), 1);
}

#[tokio::test]
async fn a_rejection_whose_event_cannot_be_written_does_not_happen() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let req = app.submit(form()).await;
    let mut client = app.client().await;
    refuse_outbox_inserts(&app.pool).await;

    assert_internal(
        client
            .reject_registration_request(reject(&req.id, 1, &admin.token))
            .await,
    );
    assert_eq!(
        request_row(&app, &req.id).await,
        ("PENDING".into(), 1, None)
    );
    assert!(app.outbox_rows(&req.id).await.is_empty());

    allow_outbox_inserts(&app.pool).await;
    client
        .reject_registration_request(reject(&req.id, 1, &admin.token))
        .await
        .unwrap();
    assert_eq!(
        request_row(&app, &req.id).await,
        ("REJECTED".into(), 2, Some(admin.id))
    );
    let events = app.outbox_rows(&req.id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "registration.rejected");
}
