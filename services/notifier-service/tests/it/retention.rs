//! The ledger's retention: old SENT deliveries are purged; everything else stays.

use std::time::Duration;

use clinic_common::testing::Running;
use notifier_service::{
    Application,
    db::{MIGRATOR, SCHEMA, deliveries},
    pipeline::purge::{self, PurgeSettings},
};
use tokio_util::sync::CancellationToken;

use crate::helpers::{Knobs, notifier_settings, spawn_pipeline};

const WAIT: Duration = Duration::from_secs(60);

/// Inserts `n` deliveries with `status`, created and (when SENT) sent `age` ago, due `due_in` from now.
async fn insert(pool: &sqlx::PgPool, n: i32, status: &str, age: &str, due_in: &str) {
    sqlx::query(
        "INSERT INTO deliveries (id, source, event_id, event_type, aggregate_id, payload, status, \
                                 attempts, next_attempt_at, message_id, created_at, sent_at) \
         SELECT gen_random_uuid(), 'registration', gen_random_uuid(), 'registration.rejected', 'r', \
                '{\"reason\": \"kept\"}', $2, 1, now() + $4::interval, 'm', now() - $3::interval, \
                CASE WHEN $2 = 'SENT' THEN now() - $3::interval END \
         FROM generate_series(1, $1)",
    )
    .bind(n)
    .bind(status)
    .bind(age)
    .bind(due_in)
    .execute(pool)
    .await
    .unwrap();
}

async fn count(pool: &sqlx::PgPool, status: &str, older_than_days: i32) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE status = $1 \
           AND created_at < now() - make_interval(days => $2) AND payload ? 'reason'",
    )
    .bind(status)
    .bind(older_than_days)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_deliveries_past_the_retention_are_purged_in_batches_and_the_rest_stay() {
    let p = spawn_pipeline(Knobs {
        replicas: 0,
        ..Knobs::default()
    })
    .await;
    // Built (and migrated) first, so the ledger is filled before the notifier runs.
    let app = Application::build(notifier_settings(&p, Knobs::default()).await)
        .await
        .unwrap();
    // Default retention: 7 days; more old SENT rows than one purge batch.
    insert(&p.pool, 2500, "SENT", "8 days", "0 seconds").await;
    insert(&p.pool, 3, "SENT", "6 days", "0 seconds").await;
    insert(&p.pool, 3, "QUEUED", "30 days", "1 day").await;
    insert(&p.pool, 3, "DEAD", "30 days", "0 seconds").await;

    let _notifier = Running::spawn(app.local_addr(), |s| app.run_until_stopped(s));

    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let old = count(&p.pool, "SENT", 7).await;
        if old == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{old} SENT deliveries past the retention remain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(&p.pool, "SENT", 0).await, 3, "recent SENT ones stay");
    assert_eq!(count(&p.pool, "QUEUED", 7).await, 3, "QUEUED ones stay");
    assert_eq!(
        count(&p.pool, "DEAD", 7).await,
        3,
        "DEAD ones stay, payload included (an operator may retry them)"
    );
}

#[tokio::test]
async fn the_purge_deletes_at_most_one_batch_per_statement_and_loops_until_done() {
    let db = clinic_common::testing::TestDb::create().await;
    let pool = db.pool(SCHEMA).await;
    clinic_common::db::migrate(&pool, SCHEMA, &MIGRATOR)
        .await
        .unwrap();
    insert(&pool, 25, "SENT", "8 days", "0 seconds").await;
    let settings = PurgeSettings {
        batch: 10,
        ..PurgeSettings::default()
    };

    let mut conn = pool.acquire().await.unwrap();
    let one = deliveries::purge_sent(&mut conn, settings.retention, settings.batch)
        .await
        .unwrap();
    drop(conn);
    let rest = purge::purge_sent(&pool, &settings, &CancellationToken::new())
        .await
        .unwrap();

    assert_eq!((one, rest), (10, 15));
    assert_eq!(count(&pool, "SENT", 7).await, 0);
}
