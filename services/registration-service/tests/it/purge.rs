//! Delivered outbox events past retention are purged in bounded batches: no single statement deletes
//! (and locks, and writes WAL for) an unbounded backlog.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use clinic_common::{
    outbox::PURGE_BATCH,
    testing::{TestDb, TestKeys},
};
use registration_service::db::{EXTENSIONS, MIGRATOR, SCHEMA};
use sqlx::PgPool;

use crate::helpers::spawn_on;

const OLD: i64 = 2 * PURGE_BATCH + PURGE_BATCH / 2;

/// Records how many rows each DELETE statement on the outbox removed. The trigger runs as the test's
/// admin (SECURITY DEFINER), so the service's runtime role needs no right on the log.
async fn log_deletes(pool: &PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE purge_log (n bigserial PRIMARY KEY, deleted bigint NOT NULL); \
         CREATE FUNCTION log_purge() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER \
         SET search_path = registration AS $$ \
         BEGIN INSERT INTO purge_log (deleted) SELECT count(*) FROM gone; RETURN NULL; END $$; \
         CREATE TRIGGER log_purge AFTER DELETE ON outbox REFERENCING OLD TABLE AS gone \
         FOR EACH STATEMENT EXECUTE FUNCTION log_purge();",
    )
    .execute(pool)
    .await
    .unwrap();
}

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_delivered_events_is_purged_in_bounded_batches_and_nothing_else_is() {
    let db = Arc::new(TestDb::create().await);
    let pool = db.pool(SCHEMA).await;
    let urls = db.service_urls(SCHEMA, EXTENSIONS).await;
    clinic_common::db::migrate_url(&urls.migration, SCHEMA, &MIGRATOR)
        .await
        .unwrap();
    // Delivered past the 7-day retention; delivered recently; not delivered at all.
    sqlx::query(
        "INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, created_at, delivered_at) \
         SELECT gen_random_uuid(), 'test', 'old-' || n, 'test.old', '{}', \
                now() - interval '9 days', now() - interval '8 days' FROM generate_series(1, $1) n",
    )
    .bind(OLD)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::raw_sql(
        "INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, created_at, delivered_at) \
         SELECT gen_random_uuid(), 'test', 'recent-' || n, 'test.recent', '{}', \
                now() - interval '2 hours', now() - interval '1 hour' FROM generate_series(1, 3) n; \
         INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, created_at) \
         SELECT gen_random_uuid(), 'test', 'pending-' || n, 'test.pending', '{}', \
                now() - interval '9 days' FROM generate_series(1, 3) n;",
    )
    .execute(&pool)
    .await
    .unwrap();
    log_deletes(&pool).await;

    // The feed purges once at start (then every minute).
    let _app = spawn_on(db.clone(), Arc::new(TestKeys::generate())).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(
        &pool,
        "SELECT count(*) FROM outbox WHERE aggregate_type = 'test' AND event_type = 'test.old'",
    )
    .await
        > 0
    {
        assert!(
            Instant::now() < deadline,
            "the backlog was not purged in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let batches: Vec<i64> = sqlx::query_scalar("SELECT deleted FROM purge_log ORDER BY n")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        batches,
        vec![PURGE_BATCH, PURGE_BATCH, OLD - 2 * PURGE_BATCH],
        "rows deleted per statement"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM outbox WHERE event_type = 'test.recent'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM outbox WHERE event_type = 'test.pending'"
        )
        .await,
        3
    );
}
