//! Approval creates the patient account; the account's own unique keys (e-mail, insurance number) are
//! the last guard. When an account already holds either, the approval is refused with the typed
//! reason and nothing of it remains: the request stays pending, no account, no token, no event.

use clinic_common::{auth::Role, testing::error_info};
use registration_service::{
    db::accounts::{self, NewAccount},
    domain::AccountStatus,
    service::operators::{NewAdmin, create_admin},
};
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{TestApp, approve, form, spawn_app};

/// The request is untouched: PENDING at version 1, with no account, token or event.
async fn assert_nothing_decided(app: &TestApp, request_id: &str) {
    let (status, version): (String, i64) =
        sqlx::query_as("SELECT status, version FROM registration_requests WHERE id = $1::uuid")
            .bind(request_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), version), ("PENDING", 1));
    let accounts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM accounts WHERE registration_request_id = $1::uuid",
    )
    .bind(request_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(accounts, 0);
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM activation_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(tokens, 0);
    assert!(app.outbox_rows(request_id).await.is_empty());
}

#[tokio::test]
async fn approving_a_request_whose_email_an_admin_account_took_meanwhile_is_email_taken() {
    let app = spawn_app().await;
    let approver = app.admin(1).await;
    let f = form();
    let req = app.submit(f.clone()).await;
    // The operator command checks accounts only, so it can take a pending request's e-mail.
    create_admin(
        &app.pool,
        NewAdmin {
            email: f.email.clone(),
            password: "admin password 2".into(),
            first_name: "Late".into(),
            last_name: "Admin".into(),
            clinic_id: None,
        },
    )
    .await
    .unwrap();

    let err = app
        .client()
        .await
        .approve_registration_request(approve(&req.id, 1, &approver.token))
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    assert_eq!(error_info(&err).0, "EMAIL_TAKEN");
    assert_nothing_decided(&app, &req.id).await;
}

#[tokio::test]
async fn approving_a_request_whose_insurance_number_an_account_holds_is_insurance_number_taken() {
    let app = spawn_app().await;
    let approver = app.admin(1).await;
    let f = form();
    let req = app.submit(f.clone()).await;
    // No RPC can get here (submission checks accounts after its insert); the account's unique index
    // is the guard of last resort, so the state is made directly.
    let mut conn = app.pool.acquire().await.unwrap();
    accounts::insert(
        &mut conn,
        &NewAccount {
            id: Uuid::now_v7(),
            email: "holder@mail.example.com",
            password_hash: "not a real hash",
            role: Role::Patient,
            clinic_id: None,
            first_name: "Holder",
            last_name: "Of The Number",
            insurance_number: Some(&f.insurance_number),
            registration_request_id: None,
            status: AccountStatus::Active,
        },
    )
    .await
    .unwrap();
    drop(conn);

    let err = app
        .client()
        .await
        .approve_registration_request(approve(&req.id, 1, &approver.token))
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    assert_eq!(error_info(&err).0, "INSURANCE_NUMBER_TAKEN");
    assert_nothing_decided(&app, &req.id).await;
}
