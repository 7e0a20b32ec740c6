//! The failed-login delay cannot be turned into a lockout by a stranger: it grows per account and
//! client address, so failures from one address delay that address only; a much higher per-account
//! ceiling, bounded and short, still slows guessing spread over many addresses. Both live in the
//! database, so every replica enforces them.

use std::{num::NonZeroU32, time::Duration};

use clinic_common::testing::{error_info, retry_delay};
use clinic_proto::pb::registration::v1 as pb;
use registration_service::{
    db::login_failures::{ACCOUNT_FREE_FAILURES, ACCOUNT_MAX_DELAY_SECONDS, FREE_FAILURES},
    limits::LimitSettings,
};
use tonic::Code;

use crate::helpers::{Client, spawn_replicas_with_feed, spawn_with_limits};

const RIGHT: &str = "admin password 1";

fn attempt(email: &str, password: &str) -> pb::LoginRequest {
    pb::LoginRequest {
        email: email.into(),
        password: password.into(),
    }
}

async fn fail(client: &mut Client, email: &str) {
    let err = client
        .login(attempt(email, "a wrong guess 1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
}

/// Asserts `answer` is LOGIN_DELAYED with a retry delay of at most `at_most`; returns the delay.
fn assert_delayed<T: std::fmt::Debug>(
    answer: Result<T, tonic::Status>,
    at_most: Duration,
) -> Duration {
    let err = answer.expect_err("delayed");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(error_info(&err).0, "LOGIN_DELAYED");
    let delay = retry_delay(&err).expect("RetryInfo");
    assert!(delay <= at_most, "{delay:?}");
    delay
}

#[tokio::test]
async fn a_stranger_failing_from_one_address_does_not_keep_the_owner_out_from_another() {
    let (a, b) = spawn_replicas_with_feed(Default::default()).await;
    let admin = a.admin(1).await;
    let (mut stranger_a, mut stranger_b) = (
        a.client_from("127.0.0.2").await,
        b.client_from("127.0.0.2").await,
    );
    let mut owner = b.client_from("127.0.0.3").await;
    for _ in 0..=FREE_FAILURES {
        fail(&mut stranger_a, &admin.email).await;
    }

    // Act
    let stranger_again = stranger_b.login(attempt(&admin.email, RIGHT)).await;
    let owners = owner.login(attempt(&admin.email, RIGHT)).await;
    let stranger_after_the_owner = stranger_a.login(attempt(&admin.email, RIGHT)).await;

    // Assert: the stranger is delayed on both replicas, even with the right password (refused before
    // it is checked); the owner, from another address, is not.
    assert_delayed(stranger_again, Duration::from_secs(1));
    owners.expect("the owner logs in from another address");
    assert_delayed(stranger_after_the_owner, Duration::from_secs(1));
}

#[tokio::test]
async fn a_strangers_delayed_attempts_do_not_use_up_the_accounts_per_minute_limit() {
    let app = spawn_with_limits(LimitSettings {
        per_address_per_minute: NonZeroU32::new(1000).unwrap(),
        logins_per_account_per_minute: NonZeroU32::new(5).unwrap(),
    })
    .await;
    let admin = app.admin(1).await;
    let mut stranger = app.client_from("127.0.0.2").await;
    for _ in 0..=FREE_FAILURES {
        fail(&mut stranger, &admin.email).await;
    }
    // Deep into the stranger's run: an hour to wait.
    sqlx::query(
        "UPDATE login_failures SET blocked_until = now() + interval '1 hour' WHERE client = '127.0.0.2'",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    // Act: the stranger keeps knocking, past the account's per-minute limit.
    for _ in 0..10 {
        assert_delayed(
            stranger
                .login(attempt(&admin.email, "a wrong guess 1"))
                .await,
            Duration::from_secs(3600),
        );
    }
    let owners = app
        .client_from("127.0.0.3")
        .await
        .login(attempt(&admin.email, RIGHT))
        .await;

    // Assert: only the attempts that were checked counted.
    owners.expect("refused attempts leave the owner's per-minute budget");
}

#[tokio::test]
async fn guessing_from_many_addresses_meets_the_accounts_ceiling_on_every_replica_and_it_is_short()
{
    let (a, b) = spawn_replicas_with_feed(Default::default()).await;
    let admin = a.admin(1).await;
    // Each address within its own free failures; together one past the account's.
    let mut failures = 0;
    for n in 10.. {
        let ip = format!("127.0.0.{n}");
        let mut guesser = if n % 2 == 0 { &a } else { &b }.client_from(&ip).await;
        for _ in 0..FREE_FAILURES {
            if failures > ACCOUNT_FREE_FAILURES {
                break;
            }
            fail(&mut guesser, &admin.email).await;
            failures += 1;
        }
        if failures > ACCOUNT_FREE_FAILURES {
            break;
        }
    }

    // Act: a fresh address, on the other replica, with the right password.
    let fresh = b
        .client_from("127.0.0.200")
        .await
        .login(attempt(&admin.email, RIGHT))
        .await;

    // Assert
    assert_delayed(fresh, Duration::from_secs(1));
    // However long the run, one failure closes the account for a short while only.
    sqlx::query("UPDATE login_account_failures SET failures = 1000, blocked_until = now()")
        .execute(&a.pool)
        .await
        .unwrap();
    fail(&mut a.client_from("127.0.0.201").await, &admin.email).await;
    let capped = assert_delayed(
        a.client_from("127.0.0.202")
            .await
            .login(attempt(&admin.email, RIGHT))
            .await,
        Duration::from_secs(ACCOUNT_MAX_DELAY_SECONDS as u64),
    );
    assert!(
        capped > Duration::from_secs(ACCOUNT_MAX_DELAY_SECONDS as u64 / 2),
        "{capped:?}"
    );
}
