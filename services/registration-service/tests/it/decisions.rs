use std::sync::Arc;

use clinic_common::{testing::error_info, time_pb::from_timestamp};
use clinic_proto::pb::registration::v1 as pb;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use tokio::sync::Barrier;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{approve, form, reject, spawn_app};

#[tokio::test]
async fn approve_vs_approve_has_one_success_one_outbox_row_and_records_the_winner() {
    let app = spawn_app().await;
    let admins = [app.admin(1).await, app.admin(2).await];
    let req = app.submit(form()).await;
    let barrier = Arc::new(Barrier::new(admins.len()));

    let mut tasks = Vec::new();
    for admin in &admins {
        let (mut client, barrier) = (app.client().await, barrier.clone());
        let (id, token, admin_id) = (req.id.clone(), admin.token.clone(), admin.id);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            (
                admin_id,
                client
                    .approve_registration_request(approve(&id, 1, &token))
                    .await,
            )
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }

    let winners: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
    assert_eq!(winners.len(), 1);
    let winner = winners[0].0;
    let (_, loser) = results.iter().find(|(_, r)| r.is_err()).unwrap();
    let (reason, meta) = error_info(loser.as_ref().unwrap_err());
    assert_eq!(reason, "REGISTRATION_ALREADY_DECIDED");
    assert_eq!(meta["status"], "APPROVED");
    assert_eq!(meta["decidedBy"], winner.to_string());
    let decided_by: Uuid =
        sqlx::query_scalar("SELECT decided_by FROM registration_requests WHERE id = $1::uuid")
            .bind(&req.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(decided_by, winner);
    assert_eq!(app.outbox_rows(&req.id).await.len(), 1);
    // Exactly one patient account was created.
    let patients: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM accounts WHERE registration_request_id = $1::uuid",
    )
    .bind(&req.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(patients, 1);
}

#[tokio::test]
async fn stale_expected_version_on_pending_request_returns_version_mismatch() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let req = app.submit(form()).await;

    let err = app
        .client()
        .await
        .approve_registration_request(approve(&req.id, 7, &admin.token))
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::Aborted);
    let (reason, meta) = error_info(&err);
    assert_eq!(reason, "VERSION_MISMATCH");
    assert_eq!(meta["currentVersion"], "1");
    assert!(app.outbox_rows(&req.id).await.is_empty());
}

#[tokio::test]
async fn reject_after_approve_returns_already_decided_naming_the_approver() {
    let app = spawn_app().await;
    let (first, second) = (app.admin(1).await, app.admin(2).await);
    let req = app.submit(form()).await;
    let mut client = app.client().await;
    client
        .approve_registration_request(approve(&req.id, 1, &first.token))
        .await
        .unwrap();

    let err = client
        .reject_registration_request(reject(&req.id, 1, &second.token))
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition);
    let (reason, meta) = error_info(&err);
    assert_eq!(reason, "REGISTRATION_ALREADY_DECIDED");
    assert_eq!(meta["status"], "APPROVED");
    assert_eq!(meta["decidedBy"], first.id.to_string());
    assert!(meta["decidedByEmail"].starts_with("admin1-"));
    assert_eq!(meta["currentVersion"], "2");
}

#[tokio::test]
async fn rejection_keeps_the_reason_and_frees_email_and_insurance_number() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let f = form();
    let req = app.submit(f.clone()).await;
    let mut client = app.client().await;

    // While pending, the same e-mail or insurance number stores nothing (its holder is told instead;
    // see `enumeration`).
    client.submit_registration(f.clone()).await.unwrap();
    let same_insurance = pb::SubmitRegistrationRequest {
        email: "other@mail.example.com".into(),
        ..f.clone()
    };
    client.submit_registration(same_insurance).await.unwrap();
    assert_eq!(app.count("registration_requests").await, 1);

    let rejected = client
        .reject_registration_request(reject(&req.id, 1, &admin.token))
        .await
        .unwrap()
        .into_inner()
        .request
        .unwrap();
    assert_eq!(rejected.status, pb::RegistrationStatus::Rejected as i32);
    assert_eq!(
        rejected.rejection_reason,
        "insurance number does not match our records"
    );
    let events = app.outbox_rows(&req.id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "registration.rejected");
    assert_eq!(
        events[0].1["reason"],
        "insurance number does not match our records"
    );

    let again = client.submit_registration(f).await.unwrap().into_inner();
    assert_ne!(again.id, req.id);
    assert_eq!(again.status, pb::RegistrationStatus::Pending as i32);
}

#[tokio::test]
async fn approval_blocks_the_email_for_new_requests() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let f = form();
    let req = app.submit(f.clone()).await;
    let mut client = app.client().await;
    client
        .approve_registration_request(approve(&req.id, 1, &admin.token))
        .await
        .unwrap();

    let answer = client.submit_registration(f).await.unwrap().into_inner();

    assert_eq!(answer.status, pb::RegistrationStatus::Pending as i32);
    assert_eq!(
        app.count("registration_requests").await,
        1,
        "nothing stored"
    );
}

#[tokio::test]
async fn decisions_on_unknown_requests_return_not_found() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let err = app
        .client()
        .await
        .approve_registration_request(approve(&Uuid::new_v4().to_string(), 1, &admin.token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(error_info(&err).0, "REGISTRATION_REQUEST_NOT_FOUND");
}

#[tokio::test]
async fn retry_with_the_same_request_id_returns_the_first_result() {
    let app = spawn_app().await;
    let f = pb::SubmitRegistrationRequest {
        request_id: Some("retry-key-1".into()),
        ..form()
    };
    let mut client = app.client().await;
    let first = client
        .submit_registration(f.clone())
        .await
        .unwrap()
        .into_inner();
    let second = client.submit_registration(f).await.unwrap().into_inner();
    assert_eq!(first.id, second.id);
    assert_eq!(app.count("registration_requests").await, 1);

    // The same key with someone else's form is refused, not answered with the first patient's data.
    let stranger = pb::SubmitRegistrationRequest {
        request_id: Some("retry-key-1".into()),
        ..form()
    };
    let err = client.submit_registration(stranger).await.unwrap_err();
    assert_eq!(error_info(&err).0, "REQUEST_ID_REUSED");
}

#[tokio::test]
async fn list_pages_through_requests_with_a_status_filter() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.submit(form()).await.id);
    }
    let mut client = app.client().await;
    client
        .approve_registration_request(approve(&ids[0], 1, &admin.token))
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_registration_requests(clinic_common::testing::bearer(
                &admin.token,
                pb::ListRegistrationRequestsRequest {
                    status: Some(pb::RegistrationStatus::Pending as i32),
                    page_size: 2,
                    page_token: token.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.requests.len() <= 2);
        seen.extend(page.requests.into_iter().map(|r| r.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ids[1..].to_vec());

    let got = client
        .get_registration_request(clinic_common::testing::bearer(
            &admin.token,
            pb::GetRegistrationRequestRequest { id: ids[0].clone() },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.status, pb::RegistrationStatus::Approved as i32);
    assert_eq!(got.decided_by, admin.id.to_string());
}

#[tokio::test]
async fn the_rejection_event_names_who_decided_and_when() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let req = app.submit(form()).await;

    let rejected = app
        .client()
        .await
        .reject_registration_request(reject(&req.id, 1, &admin.token))
        .await
        .unwrap()
        .into_inner()
        .request
        .unwrap();

    let decided_at = rejected
        .decided_at
        .as_ref()
        .and_then(from_timestamp)
        .unwrap();
    let stored: OffsetDateTime =
        sqlx::query_scalar("SELECT decided_at FROM registration_requests WHERE id = $1::uuid")
            .bind(&req.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(decided_at, stored);
    let events = app.outbox_rows(&req.id).await;
    assert_eq!(events.len(), 1);
    let payload = &events[0].1;
    assert_eq!(payload["decided_by"], admin.id.to_string());
    let in_event = payload["decided_at"].as_str().unwrap();
    assert_eq!(
        OffsetDateTime::parse(in_event, &Rfc3339).unwrap(),
        stored,
        "{in_event}"
    );
}

#[tokio::test]
async fn a_decided_request_keeps_no_password_hash_and_the_account_has_it() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let approved = app.submit(form()).await;
    let rejected = app.submit(form()).await;
    let mut client = app.client().await;
    let hash_on_request = |id: String| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, Option<String>>(
                "SELECT password_hash FROM registration_requests WHERE id = $1::uuid",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let pending_hash = hash_on_request(approved.id.clone())
        .await
        .expect("a pending request holds its hash");

    client
        .approve_registration_request(approve(&approved.id, 1, &admin.token))
        .await
        .unwrap();
    client
        .reject_registration_request(reject(&rejected.id, 1, &admin.token))
        .await
        .unwrap();

    assert_eq!(hash_on_request(approved.id.clone()).await, None);
    assert_eq!(hash_on_request(rejected.id.clone()).await, None);
    let account_hash: String = sqlx::query_scalar(
        "SELECT password_hash FROM accounts WHERE registration_request_id = $1::uuid",
    )
    .bind(&approved.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        account_hash, pending_hash,
        "the approval moved it to the account"
    );
    assert!(account_hash.starts_with("$argon2id$"));
}
