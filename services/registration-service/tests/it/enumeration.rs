//! An unauthenticated caller cannot learn whether an e-mail or an insurance number is known:
//! `SubmitRegistration` answers a taken and a free one alike, stores nothing for the taken one, and
//! tells the holder by e-mail instead. A retry with the same `request_id` gets id and status only.

use clinic_proto::pb::registration::v1 as pb;

use crate::helpers::{TestApp, approve, form, spawn_app};

/// The `registration.already_registered` events: (recipient, what matched).
async fn holder_notices(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT payload->>'email', payload->>'matched' FROM outbox \
         WHERE event_type = 'registration.already_registered' ORDER BY created_at",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// The answer with what must differ between two accepted submissions (id, time) blanked.
fn shape(mut r: pb::RegistrationRequest) -> pb::RegistrationRequest {
    assert!(!r.id.is_empty() && r.created_at.is_some());
    r.id.clear();
    r.created_at = None;
    r
}

#[tokio::test]
async fn a_taken_and_a_free_email_get_the_same_answer_and_the_holder_is_told() {
    // Arrange: one approved account, one pending request.
    let app = spawn_app().await;
    let admin = app.admin(1).await;
    let (account, pending) = (form(), form());
    let req = app.submit(account.clone()).await;
    app.client()
        .await
        .approve_registration_request(approve(&req.id, 1, &admin.token))
        .await
        .unwrap();
    app.submit(pending.clone()).await;
    let mut client = app.client().await;
    let stored_before = app.count("registration_requests").await;

    // Act: the same e-mails (in other case), an insurance number in use, and a free form each.
    let mut answers = Vec::new();
    for (taken, free) in [
        (
            pb::SubmitRegistrationRequest {
                email: account.email.to_uppercase(),
                ..form()
            },
            form(),
        ),
        (
            pb::SubmitRegistrationRequest {
                email: pending.email.clone(),
                ..form()
            },
            form(),
        ),
        (
            pb::SubmitRegistrationRequest {
                insurance_number: account.insurance_number.clone(),
                ..form()
            },
            form(),
        ),
    ] {
        let t = client.submit_registration(taken.clone()).await;
        let f = client.submit_registration(free.clone()).await;
        answers.push((taken, t, free, f));
    }

    // Assert: each taken answer looks exactly like a free one of the same form.
    for (taken, t, free, f) in answers {
        let (t, f) = (t.expect("taken: accepted"), f.expect("free: accepted"));
        let (t, f) = (shape(t.into_inner()), shape(f.into_inner()));
        assert_eq!(t.status, pb::RegistrationStatus::Pending as i32);
        assert_eq!((t.version, f.version), (1, 1));
        assert_eq!(t.email, taken.email.to_lowercase());
        assert_eq!(f.email, free.email.to_lowercase());
        assert_eq!(
            pb::RegistrationRequest {
                email: String::new(),
                first_name: String::new(),
                last_name: String::new(),
                insurance_number: String::new(),
                ..t
            },
            pb::RegistrationRequest {
                email: String::new(),
                first_name: String::new(),
                last_name: String::new(),
                insurance_number: String::new(),
                ..f
            },
        );
    }
    assert_eq!(
        app.count("registration_requests").await,
        stored_before + 3,
        "the three free forms only"
    );
    assert_eq!(
        holder_notices(&app).await,
        vec![
            (account.email.to_lowercase(), "email".to_owned()),
            (pending.email.to_lowercase(), "email".to_owned()),
            (account.email.to_lowercase(), "insurance_number".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_gets_only_id_and_status() {
    let app = spawn_app().await;
    let f = pb::SubmitRegistrationRequest {
        request_id: Some("retry-key-1".into()),
        ..form()
    };
    let first = app.submit(f.clone()).await;

    let again = app
        .client()
        .await
        .submit_registration(f)
        .await
        .unwrap()
        .into_inner();

    assert_eq!(again.id, first.id);
    assert_eq!(again.status, pb::RegistrationStatus::Pending as i32);
    assert_eq!(again.version, 1);
    for field in [
        &again.email,
        &again.first_name,
        &again.last_name,
        &again.address,
        &again.city,
        &again.country,
        &again.phone,
        &again.insurance_number,
    ] {
        assert!(field.is_empty(), "a replay disclosed {field:?}");
    }
}
