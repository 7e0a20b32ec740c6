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

/// Asserts that a taken and a free form's answers are alike as sent: the same metadata keys, and the
/// same message field by field but for the values of `id` and `created_at` — each a UUIDv7 made after
/// a database transaction began and that transaction's start time (microseconds, as PostgreSQL keeps
/// it), the echoed form otherwise.
fn assert_alike(
    (taken_form, taken): (
        &pb::SubmitRegistrationRequest,
        tonic::Response<pb::RegistrationRequest>,
    ),
    (free_form, free): (
        &pb::SubmitRegistrationRequest,
        tonic::Response<pb::RegistrationRequest>,
    ),
) {
    let keys = |r: &tonic::Response<pb::RegistrationRequest>| {
        let mut k: Vec<String> = r.metadata().keys().map(|k| format!("{k:?}")).collect();
        k.sort();
        k
    };
    assert_eq!(keys(&taken), keys(&free), "response metadata");
    let (t, f) = (taken.into_inner(), free.into_inner());
    for (r, form) in [(&t, taken_form), (&f, free_form)] {
        let id = uuid::Uuid::parse_str(&r.id).expect("a UUID");
        assert_eq!(id.get_version_num(), 7, "{r:?}");
        let at = r.created_at.expect("created_at");
        assert_eq!(
            at.nanos % 1000,
            0,
            "created_at finer than PostgreSQL keeps it: {r:?}"
        );
        let (secs, nanos) = id.get_timestamp().expect("v7 time").to_unix();
        let id_ms = i64::try_from(secs).unwrap() * 1000 + i64::from(nanos / 1_000_000);
        let at_ms = at.seconds * 1000 + i64::from(at.nanos / 1_000_000);
        assert!(
            at_ms <= id_ms,
            "the id was made before its transaction began: {r:?}"
        );
        // Everything else is the form, echoed (e-mail lower-cased).
        assert_eq!(
            pb::RegistrationRequest {
                id: String::new(),
                created_at: None,
                ..r.clone()
            },
            pb::RegistrationRequest {
                email: form.email.to_lowercase(),
                first_name: form.first_name.clone(),
                last_name: form.last_name.clone(),
                address: form.address.clone(),
                city: form.city.clone(),
                country: form.country.clone(),
                phone: form.phone.clone(),
                insurance_number: form.insurance_number.clone(),
                status: pb::RegistrationStatus::Pending as i32,
                version: 1,
                ..Default::default()
            }
        );
    }
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
        assert_alike(
            (&taken, t.expect("taken: accepted")),
            (&free, f.expect("free: accepted")),
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

/// What a retry (same `request_id`, same form) must answer: the first answer's id and `created_at`,
/// `PENDING`, version 1, and nothing else.
fn assert_replay_of(first: &pb::RegistrationRequest, again: &pb::RegistrationRequest) {
    assert_eq!(
        again,
        &pb::RegistrationRequest {
            id: first.id.clone(),
            status: pb::RegistrationStatus::Pending as i32,
            version: 1,
            created_at: first.created_at,
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn a_retry_of_a_taken_form_is_answered_like_a_retry_of_a_free_one_and_the_holder_is_told_once()
 {
    let app = spawn_app().await;
    let pending = form();
    app.submit(pending.clone()).await;
    let taken = pb::SubmitRegistrationRequest {
        email: pending.email.clone(),
        request_id: Some("taken-key".into()),
        ..form()
    };
    let free = pb::SubmitRegistrationRequest {
        request_id: Some("free-key".into()),
        ..form()
    };
    let mut client = app.client().await;
    let t1 = client.submit_registration(taken.clone()).await.unwrap();
    let f1 = client.submit_registration(free.clone()).await.unwrap();
    let firsts = (t1.get_ref().clone(), f1.get_ref().clone());
    assert_alike((&taken, t1), (&free, f1));

    // Act: each retried, and each key reused for another form.
    let t2 = client.submit_registration(taken.clone()).await.unwrap();
    let f2 = client.submit_registration(free.clone()).await.unwrap();
    let reuse = |key: &str| pb::SubmitRegistrationRequest {
        request_id: Some(key.into()),
        ..form()
    };
    let t_reused = client.submit_registration(reuse("taken-key")).await;
    let f_reused = client.submit_registration(reuse("free-key")).await;

    // Assert: the same shape, the first answer's id and time, the same refusal of a reused key.
    let keys = |r: &tonic::Response<pb::RegistrationRequest>| {
        let mut k: Vec<String> = r.metadata().keys().map(|k| format!("{k:?}")).collect();
        k.sort();
        k
    };
    assert_eq!(keys(&t2), keys(&f2));
    for (first, again) in [(firsts.0, t2.into_inner()), (firsts.1, f2.into_inner())] {
        assert_replay_of(&first, &again);
    }
    for reused in [t_reused, f_reused] {
        let err = reused.expect_err("a reused key is refused");
        assert_eq!(err.code(), tonic::Code::AlreadyExists);
        assert_eq!(
            clinic_common::testing::error_info(&err).0,
            "REQUEST_ID_REUSED"
        );
    }
    assert_eq!(
        holder_notices(&app).await,
        vec![(pending.email.to_lowercase(), "email".to_owned())],
        "the holder is told once, not once per retry"
    );
}
