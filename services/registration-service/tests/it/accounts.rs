//! Activation, login and GetPatient after an approval.

use clinic_common::{
    auth::Role,
    testing::{bearer, error_info},
};
use clinic_proto::pb::registration::v1 as pb;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{TestApp, approve, form, spawn_app};

/// Submits and approves a form; returns (form, patient id, activation token from the outbox event).
async fn approved_patient(app: &TestApp) -> (pb::SubmitRegistrationRequest, String, String) {
    let admin = app.admin(1).await;
    let f = form();
    let req = app.submit(f.clone()).await;
    let approved = app
        .client()
        .await
        .approve_registration_request(approve(&req.id, 1, &admin.token))
        .await
        .unwrap()
        .into_inner();
    let events = app.outbox_rows(&req.id).await;
    let sealed = events[0].1["activation_token_sealed"].as_str().unwrap();
    let token = app
        .keys
        .seal
        .open(sealed)
        .expect("the notifier's key opens it");
    assert!(
        events[0].1.get("activation_token").is_none(),
        "never in clear"
    );
    assert_eq!(events[0].1["patient_id"], approved.patient_id);
    (f, approved.patient_id, token)
}

fn login(f: &pb::SubmitRegistrationRequest, password: &str) -> pb::LoginRequest {
    pb::LoginRequest {
        email: f.email.clone(),
        password: password.into(),
    }
}

#[tokio::test]
async fn login_before_activation_is_account_not_active_but_only_with_the_right_password() {
    let app = spawn_app().await;
    let (f, _, _) = approved_patient(&app).await;
    let mut client = app.client().await;

    let err = client.login(login(&f, &f.password)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(error_info(&err).0, "ACCOUNT_NOT_ACTIVE");

    // Wrong password and unknown e-mail are indistinguishable.
    let wrong = client
        .login(login(&f, "wrong password 1"))
        .await
        .unwrap_err();
    let unknown = client
        .login(pb::LoginRequest {
            email: "nobody@mail.example.com".into(),
            password: "wrong password 1".into(),
        })
        .await
        .unwrap_err();
    for err in [wrong, unknown] {
        assert_eq!(err.code(), Code::Unauthenticated);
        assert_eq!(error_info(&err).0, "INVALID_CREDENTIALS");
        assert_eq!(err.message(), "wrong e-mail or password");
    }
}

#[tokio::test]
async fn an_activation_token_works_once() {
    let app = spawn_app().await;
    let (_, patient_id, token) = approved_patient(&app).await;
    let mut client = app.client().await;

    let ok = client
        .activate_account(pb::ActivateAccountRequest {
            token: token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.patient_id, patient_id);

    let again = client
        .activate_account(pb::ActivateAccountRequest { token })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(error_info(&again).0, "ACTIVATION_TOKEN_USED");

    let unknown = client
        .activate_account(pb::ActivateAccountRequest {
            token: "made-up".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn an_expired_activation_token_is_refused_and_the_account_stays_inactive() {
    let app = spawn_app().await;
    let (_, patient_id, token) = approved_patient(&app).await;
    sqlx::query("UPDATE activation_tokens SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();

    let err = app
        .client()
        .await
        .activate_account(pb::ActivateAccountRequest { token })
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(error_info(&err).0, "ACTIVATION_TOKEN_EXPIRED");
    let status: String = sqlx::query_scalar("SELECT status FROM accounts WHERE id = $1::uuid")
        .bind(&patient_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "AWAITING_ACTIVATION");
}

#[tokio::test]
async fn after_activation_login_gives_a_token_that_reads_only_its_own_patient() {
    let app = spawn_app().await;
    let (f, patient_id, token) = approved_patient(&app).await;
    let mut client = app.client().await;
    client
        .activate_account(pb::ActivateAccountRequest { token })
        .await
        .unwrap();

    let session = client
        .login(login(&f, &f.password))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(session.role, pb::Role::Patient as i32);
    let claims = app.keys.verifier.verify(&session.access_token).unwrap();
    assert!(
        claims.exp - claims.iat <= 3600,
        "access tokens live at most an hour"
    );

    let me = client
        .get_patient(bearer(
            &session.access_token,
            pb::GetPatientRequest {
                patient_id: patient_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.email, f.email);
    assert_eq!(me.status, pb::AccountStatus::Active as i32);

    for other in [
        Uuid::new_v4().to_string(),
        app.admin(9).await.id.to_string(),
    ] {
        let err = client
            .get_patient(bearer(
                &session.access_token,
                pb::GetPatientRequest { patient_id: other },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        assert_eq!(error_info(&err).0, "FORBIDDEN");
    }

    // A clinic admin may not: registration-service cannot tell whether the patient is its clinic's.
    let clinic_admin = app.token_for(&Uuid::new_v4().to_string(), Role::ClinicAdmin);
    let err = client
        .get_patient(bearer(
            &clinic_admin,
            pb::GetPatientRequest {
                patient_id: patient_id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(error_info(&err).0, "FORBIDDEN");

    // A service caller (appointment-service) may read it.
    let service = app.token_for("service:appointment-service", Role::Service);
    let seen = client
        .get_patient(bearer(&service, pb::GetPatientRequest { patient_id }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.email, f.email);
}

#[tokio::test]
async fn a_clinic_admin_token_carries_its_clinic() {
    use registration_service::service::operators::{NewAdmin, create_admin};
    let app = spawn_app().await;
    let clinic = Uuid::new_v4();
    create_admin(
        &app.pool,
        NewAdmin {
            email: "clinic.admin@clinic.example.com".into(),
            password: "clinic admin pw 1".into(),
            first_name: "Clinic".into(),
            last_name: "Admin".into(),
            clinic_id: Some(clinic),
        },
    )
    .await
    .unwrap();

    let session = app
        .client()
        .await
        .login(pb::LoginRequest {
            email: "Clinic.Admin@clinic.example.com".into(),
            password: "clinic admin pw 1".into(),
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(session.role, pb::Role::ClinicAdmin as i32);
    let claims = app.keys.verifier.verify(&session.access_token).unwrap();
    assert_eq!(claims.role, Role::ClinicAdmin);
    assert_eq!(claims.clinic_id, Some(clinic));
}
