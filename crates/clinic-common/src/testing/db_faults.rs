//! Making the database misbehave, and watching it, from a test: a trigger that makes every outbox
//! insert fail, and a wait for sessions parked on a lock.

use std::time::{Duration, Instant};

use sqlx::PgPool;

/// Installs a trigger (on the `outbox` of `pool`'s schema) that makes every insert raise.
pub async fn refuse_outbox_inserts(pool: &PgPool) {
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_outbox_insert() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'outbox refused by the test'; END $$; \
         CREATE TRIGGER refuse_outbox_insert BEFORE INSERT ON outbox \
         FOR EACH ROW EXECUTE FUNCTION refuse_outbox_insert();",
    )
    .execute(pool)
    .await
    .expect("install the refusing trigger");
}

/// Drops the trigger [`refuse_outbox_inserts`] installed.
pub async fn allow_outbox_inserts(pool: &PgPool) {
    sqlx::query("DROP TRIGGER refuse_outbox_insert ON outbox")
        .execute(pool)
        .await
        .expect("drop the refusing trigger");
}

/// Waits (bounded) until `n` sessions of this database wait for a lock of `locktype`
/// (`advisory`, `transactionid`, …): how a test knows a statement is parked where it wants.
pub async fn wait_for_lock_waiters(pool: &PgPool, locktype: &str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid \
             WHERE s.datname = current_database() AND l.locktype = $1 AND NOT l.granted",
        )
        .bind(locktype)
        .fetch_one(pool)
        .await
        .expect("read pg_locks");
        if waiting >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} of {n} sessions waiting for a {locktype} lock after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
