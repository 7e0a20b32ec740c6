//! Tokens and roles: refused without a valid token, refused for the wrong role, and no RPC without
//! a policy entry.

use std::time::Duration;

use clinic_common::{
    auth::{Claims, Role},
    testing::{TestKeys, bearer, error_info},
};
use clinic_proto::pb::registration::v1 as pb;
use registration_service::policy::{FEED_SERVICE_NAME, SERVICE_NAME, policy};
use time::OffsetDateTime;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{approve, form, spawn_app};

fn assert_unauthenticated(status: &tonic::Status) {
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(error_info(status).0, "TOKEN_INVALID");
}

#[tokio::test]
async fn approve_without_a_token_is_unauthenticated() {
    let app = spawn_app().await;
    let req = app.submit(form()).await;
    let err = app
        .client()
        .await
        .approve_registration_request(pb::ApproveRegistrationRequestRequest {
            id: req.id,
            expected_version: Some(1),
        })
        .await
        .unwrap_err();
    assert_unauthenticated(&err);
}

#[tokio::test]
async fn expired_forged_and_garbage_tokens_are_unauthenticated_and_change_nothing() {
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let req = app.submit(form()).await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let expired = app
        .keys
        .issuer
        .sign(&Claims {
            iss: "clinic-center".into(),
            sub: admin.id.to_string(),
            aud: vec!["registration-service".into()],
            role: Role::ClinicCenterAdmin,
            clinic_id: None,
            iat: now - 7200,
            exp: now - 3600,
            jti: Uuid::new_v4(),
        })
        .unwrap();
    let other_key = TestKeys::generate()
        .issuer
        .issue(
            &admin.id.to_string(),
            Role::ClinicCenterAdmin,
            None,
            clinic_common::auth::audience::PEOPLE,
            Duration::from_secs(600),
        )
        .unwrap()
        .0;
    // Signed by the right key, for the right admin, but for another service only.
    let other_audience = app
        .keys
        .issuer
        .issue(
            &admin.id.to_string(),
            Role::ClinicCenterAdmin,
            None,
            &["appointment-service"],
            Duration::from_secs(600),
        )
        .unwrap()
        .0;
    let mut client = app.client().await;

    for token in [
        expired.as_str(),
        other_key.as_str(),
        other_audience.as_str(),
        "not.a.jwt",
    ] {
        let err = client
            .approve_registration_request(approve(&req.id, 1, token))
            .await
            .unwrap_err();
        assert_unauthenticated(&err);
    }
    assert_eq!(app.count("outbox").await, 0);
}

#[tokio::test]
async fn a_patient_token_cannot_approve() {
    let app = spawn_app().await;
    let req = app.submit(form()).await;
    let patient = app.token_for(&Uuid::new_v4().to_string(), Role::Patient);

    let err = app
        .client()
        .await
        .approve_registration_request(approve(&req.id, 1, &patient))
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(error_info(&err).0, "FORBIDDEN");
    assert_eq!(app.count("outbox").await, 0);
}

#[tokio::test]
async fn a_service_token_cannot_list_requests() {
    let app = spawn_app().await;
    let service = app.token_for("service:appointment-service", Role::Service);
    let err = app
        .client()
        .await
        .list_registration_requests(bearer(
            &service,
            pb::ListRegistrationRequestsRequest {
                status: None,
                page_size: 10,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[test]
fn every_rpc_of_the_service_has_a_policy_entry() {
    clinic_common::testing::assert_every_rpc_has_a_policy(
        policy(),
        &[SERVICE_NAME, FEED_SERVICE_NAME],
    );
}
