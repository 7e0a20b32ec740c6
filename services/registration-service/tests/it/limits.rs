//! Abuse limits over gRPC: past the rate for one address, or for one account's logins, the answer is
//! RESOURCE_EXHAUSTED `RATE_LIMITED` with a retry delay, and nothing is hashed or written.

use std::{num::NonZeroU32, time::Duration};

use clinic_common::testing::{error_info, retry_delay};
use clinic_proto::pb::registration::v1 as pb;
use registration_service::limits::LimitSettings;
use tonic::Code;

use crate::helpers::{form, spawn_with_limits};

fn limits(per_address: u32, per_account: u32) -> LimitSettings {
    LimitSettings {
        per_address_per_minute: NonZeroU32::new(per_address).unwrap(),
        logins_per_account_per_minute: NonZeroU32::new(per_account).unwrap(),
    }
}

fn assert_rate_limited(err: &tonic::Status) {
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(error_info(err).0, "RATE_LIMITED");
    let delay = retry_delay(err).expect("RetryInfo");
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(60),
        "{delay:?}"
    );
}

#[tokio::test]
async fn one_address_past_its_rate_is_told_to_retry_and_registers_nothing() {
    let app = spawn_with_limits(limits(3, 1000)).await;
    let mut client = app.client().await;
    for _ in 0..3 {
        client.submit_registration(form()).await.unwrap();
    }

    let err = client.submit_registration(form()).await.unwrap_err();

    assert_rate_limited(&err);
    assert_eq!(app.count("registration_requests").await, 3);
    // Login and activation share the address's budget.
    let err = client
        .login(pb::LoginRequest {
            email: "a@mail.example.com".into(),
            password: "whatever password".into(),
        })
        .await
        .unwrap_err();
    assert_rate_limited(&err);
    let err = client
        .activate_account(pb::ActivateAccountRequest {
            token: "x".repeat(43),
        })
        .await
        .unwrap_err();
    assert_rate_limited(&err);
}

#[tokio::test]
async fn guessing_one_accounts_password_is_capped_whatever_the_address() {
    let app = spawn_with_limits(limits(1000, 3)).await;
    let admin = app.admin(1).await;
    let mut client = app.client().await;
    let guess = |password: &str| pb::LoginRequest {
        email: admin.email.to_uppercase(),
        password: password.into(),
    };
    for i in 0..3 {
        let err = client
            .login(guess(&format!("guess {i}")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
    }

    let err = client.login(guess("guess 4")).await.unwrap_err();

    assert_rate_limited(&err);
    let other = client
        .login(pb::LoginRequest {
            email: "someone-else@mail.example.com".into(),
            password: "guess".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        other.code(),
        Code::Unauthenticated,
        "another account is not limited"
    );
}

/// After three failed logins in a row each attempt waits a doubling delay — on every replica, for a
/// known and an unknown e-mail alike — and a success ends it.
#[tokio::test]
async fn failed_logins_grow_a_delay_that_every_replica_enforces_and_a_success_ends() {
    let (a, b) = crate::helpers::spawn_replicas_with_feed(Default::default()).await;
    let admin = a.admin(1).await;
    let (mut ca, mut cb) = (a.client().await, b.client().await);
    let attempt = |email: &str, password: &str| pb::LoginRequest {
        email: email.into(),
        password: password.into(),
    };
    for email in [admin.email.as_str(), "nobody@mail.example.com"] {
        for i in 0..4 {
            let err = ca
                .login(attempt(email, &format!("wrong {i}")))
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::Unauthenticated, "{email} attempt {i}");
        }

        // The fourth failure set a 1 s delay; the other replica knows it.
        let err = cb.login(attempt(email, "wrong again")).await.unwrap_err();

        assert_eq!(err.code(), Code::ResourceExhausted, "{email}: {err:?}");
        assert_eq!(error_info(&err).0, "LOGIN_DELAYED");
        let delay = retry_delay(&err).expect("RetryInfo");
        assert!(delay <= Duration::from_secs(1), "{delay:?}");
    }
    let delay = retry_delay(
        &ca.login(attempt(&admin.email, "admin password 1"))
            .await
            .unwrap_err(),
    )
    .expect("still delayed, even with the right password");
    tokio::time::sleep(delay + Duration::from_millis(100)).await;
    ca.login(attempt(&admin.email, "admin password 1"))
        .await
        .expect("the right password after the delay");
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE email = lower($1)")
            .bind(&admin.email)
            .fetch_one(&a.pool)
            .await
            .unwrap();
    assert_eq!(left, 0, "a success ends the run");
}

/// One canonical form of an e-mail for the limit, the account look-up and the failure count: a Unicode
/// case variant that PostgreSQL's `lower()` and Rust's lower-casing fold differently ('İ' is 'i' to one
/// and 'i̇' to the other) is either the same account, and counted against its limit, or another
/// address, which no account has — never a way around the limit into the account.
#[tokio::test]
async fn unicode_case_variants_of_an_email_count_against_the_same_account_limit() {
    let app = spawn_with_limits(limits(1000, 3)).await;
    let admin = app.admin(1).await;
    let mut client = app.client().await;
    let login = |email: String, password: &str| pb::LoginRequest {
        email,
        password: password.into(),
    };
    for i in 0..3 {
        let err = client
            .login(login(admin.email.clone(), &format!("guess {i}")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
    }

    // Act: the right password under case variants of the address.
    let dotted = admin.email.replacen('i', "İ", 1);
    let upper = admin.email.to_uppercase();
    let dotted_answer = client
        .login(login(dotted.clone(), "admin password 1"))
        .await;
    let upper_answer = client.login(login(upper, "admin password 1")).await;

    // Assert
    let err = dotted_answer.expect_err("a case variant got around the account's limit");
    assert_eq!(err.code(), Code::Unauthenticated, "{dotted}: {err:?}");
    assert_eq!(error_info(&err).0, "INVALID_CREDENTIALS");
    assert_rate_limited(&upper_answer.expect_err("the same account, past its limit"));
    let failure_keys: Vec<String> = sqlx::query_scalar("SELECT email FROM login_failures")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(
        failure_keys.contains(&dotted.to_lowercase()),
        "the variant's failure is counted under its canonical form: {failure_keys:?}"
    );
}
