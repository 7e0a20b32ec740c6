//! Bad input gets INVALID_ARGUMENT with field violations, and writes nothing.

use clinic_common::testing::{bearer, error_info, field_violations};
use clinic_proto::pb::registration::v1 as pb;
use tonic::Code;

use crate::helpers::{form, spawn_app};

fn assert_invalid(status: &tonic::Status, fields: &[&str]) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(error_info(status).0, "INVALID_FIELD");
    let got = field_violations(status);
    for f in fields {
        assert!(
            got.iter().any(|g| g == f),
            "missing violation for {f}: {got:?}"
        );
    }
}

#[tokio::test]
async fn reject_without_reason_is_invalid_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let req = app.submit(form()).await;

    let err = app
        .client()
        .await
        .reject_registration_request(bearer(
            &admin.token,
            pb::RejectRegistrationRequestRequest {
                id: req.id.clone(),
                expected_version: Some(1),
                reason: "   ".into(),
            },
        ))
        .await
        .unwrap_err();

    assert_invalid(&err, &["reason"]);
    let (status, version): (String, i64) =
        sqlx::query_as("SELECT status, version FROM registration_requests WHERE id = $1::uuid")
            .bind(&req.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), version), ("PENDING", 1));
    assert_eq!(app.count("outbox").await, 0);
}

#[tokio::test]
async fn missing_expected_version_is_invalid_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let req = app.submit(form()).await;

    let err = app
        .client()
        .await
        .approve_registration_request(bearer(
            &admin.token,
            pb::ApproveRegistrationRequestRequest {
                id: req.id.clone(),
                expected_version: None,
            },
        ))
        .await
        .unwrap_err();

    assert_invalid(&err, &["expected_version"]);
    assert_eq!(app.count("outbox").await, 0);
    assert_eq!(app.count("accounts").await, 1, "only the admin");
}

#[tokio::test]
async fn malformed_email_and_over_long_fields_are_all_reported_and_nothing_is_stored() {
    let app = spawn_app().await;
    let bad = pb::SubmitRegistrationRequest {
        email: "not-an-email".into(),
        first_name: "x".repeat(101),
        address: "y".repeat(201),
        phone: "call me".into(),
        insurance_number: "12ab".into(),
        password: "short".into(),
        ..form()
    };

    let err = app
        .client()
        .await
        .submit_registration(bad)
        .await
        .unwrap_err();

    assert_invalid(
        &err,
        &[
            "email",
            "first_name",
            "address",
            "phone",
            "insurance_number",
            "password",
        ],
    );
    assert_eq!(app.count("registration_requests").await, 0);
}

#[tokio::test]
async fn page_size_out_of_range_is_invalid() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let mut client = app.client().await;
    for size in [0, 101, -1] {
        let err = client
            .list_registration_requests(bearer(
                &admin.token,
                pb::ListRegistrationRequestsRequest {
                    status: None,
                    page_size: size,
                    page_token: String::new(),
                },
            ))
            .await
            .unwrap_err();
        assert_invalid(&err, &["page_size"]);
    }
    let err = client
        .list_registration_requests(bearer(
            &admin.token,
            pb::ListRegistrationRequestsRequest {
                status: None,
                page_size: 10,
                page_token: "forged".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_invalid(&err, &["page_token"]);
}

#[tokio::test]
async fn malformed_ids_are_invalid() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let err = app
        .client()
        .await
        .get_registration_request(bearer(
            &admin.token,
            pb::GetRegistrationRequestRequest {
                id: "42; DROP TABLE".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_invalid(&err, &["id"]);
}

#[tokio::test]
async fn huge_messages_are_refused_before_they_reach_the_service() {
    let app = spawn_app().await;
    let huge = pb::SubmitRegistrationRequest {
        address: "z".repeat(512 * 1024),
        ..form()
    };

    let err = app
        .client()
        .await
        .submit_registration(huge)
        .await
        .unwrap_err();

    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );
    assert_eq!(app.count("registration_requests").await, 0);
}

/// Names land in e-mail subjects and greetings: a bidi override, a zero-width character or a line
/// separator in one is refused, field by field, and nothing is stored.
#[tokio::test]
async fn invisible_formatting_in_a_name_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let f = pb::SubmitRegistrationRequest {
        first_name: "Ana\u{202E}cilA".into(),
        last_name: "An\u{200B}ić".into(),
        city: "Novi Sad\u{2028}Bcc: x@y.z".into(),
        ..form()
    };

    let err = app.client().await.submit_registration(f).await.unwrap_err();

    assert_invalid(&err, &["first_name", "last_name", "city"]);
    assert_eq!(app.count("registration_requests").await, 0);
}

/// `Login` parses the e-mail as `SubmitRegistration` does. An address that does not parse is no
/// account's, so refusing it as a bad field reveals nothing; nothing is hashed or counted.
#[tokio::test]
async fn a_malformed_email_at_login_is_an_invalid_field_and_counts_no_failure() {
    let app = spawn_app().await;
    let mut client = app.client().await;

    for email in [
        "admin",
        "Admin <admin@clinic.example.com>",
        "admin@localhost",
    ] {
        let err = client
            .login(pb::LoginRequest {
                email: email.into(),
                password: "admin password 1".into(),
            })
            .await
            .unwrap_err();

        assert_invalid(&err, &["email"]);
    }
    let failures: i64 = sqlx::query_scalar("SELECT count(*) FROM login_failures")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(failures, 0);
}
