//! SMTP failures: a permanent rejection (5xx) is final at once; a temporary one (4xx) is retried.

use std::time::Duration;

use uuid::Uuid;

use crate::helpers::{Knobs, approve_one, spawn_pipeline};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_address_is_dead_after_one_attempt_and_a_deferred_one_waits_for_a_retry() {
    let p = spawn_pipeline(Knobs {
        backoff_base: Duration::from_secs(3600),
        backoff_max: Duration::from_secs(3600),
        ..Knobs::default()
    })
    .await;
    p.smtp.reject_recipients_containing("bounce");
    p.smtp.defer_recipients_containing("busy");
    approve_one(&p, "bounce@mail.example.com").await;
    approve_one(&p, "busy@mail.example.com").await;

    // Both first attempts are recorded.
    let deadline = std::time::Instant::now() + WAIT;
    let rows = loop {
        let rows: Vec<(Uuid, String, i32, Option<String>, bool)> = sqlx::query_as(
            "SELECT id, status, attempts, last_error, next_attempt_at > now() + interval '10 minutes' \
             FROM deliveries WHERE last_error IS NOT NULL ORDER BY payload->>'email'",
        )
        .fetch_all(&p.pool)
        .await
        .unwrap();
        if rows.len() == 2 {
            break rows;
        }
        assert!(std::time::Instant::now() < deadline, "attempts: {rows:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let (bounce, busy) = (&rows[0], &rows[1]);
    assert_eq!(
        (bounce.1.as_str(), bounce.2),
        ("DEAD", 1),
        "550 is final: {bounce:?}"
    );
    assert!(bounce.3.as_deref().unwrap().contains("550"), "{bounce:?}");
    assert_eq!(
        (busy.1.as_str(), busy.2, busy.4),
        ("QUEUED", 1, true),
        "450 waits for its retry: {busy:?}"
    );
    assert!(p.smtp.messages().is_empty());
}
