//! Connection pools pinned to the service's own schema, and migrations into it.
//!
//! Each service sets `search_path` to its schema, so its SQL (and the shared outbox code) names tables
//! unqualified and can never touch another service's schema by accident. `_sqlx_migrations` lives in
//! that schema too, so three services can share one database without their migration histories colliding.

use std::{str::FromStr, time::Duration};

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    AssertSqlSafe, Executor, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgListener, PgPoolOptions},
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

fn options(url: &SecretString, schema: &'static str) -> Result<PgConnectOptions, sqlx::Error> {
    assert_valid_schema(schema);
    Ok(PgConnectOptions::from_str(url.expose_secret())?.options([("search_path", schema)]))
}

/// A lazily connecting pool: the service starts even while the database is down and answers
/// UNAVAILABLE until it is back.
pub fn pool(url: &SecretString, schema: &'static str, max: u32) -> Result<PgPool, sqlx::Error> {
    Ok(pool_options(max).connect_lazy_with(options(url, schema)?))
}

/// No ping before each use (sqlx's default): it was one more round trip, and one more message for
/// PostgreSQL to process, on every request. A connection that broke while idle fails its next
/// statement instead, which answers UNAVAILABLE and is dropped from the pool.
fn pool_options(max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .idle_timeout(Duration::from_secs(300))
}

/// [`pool`] whose connections bound every lock wait by `lock_timeout` (a startup parameter, so it
/// costs no round trip). A wait that times out fails with SQLSTATE 55P03.
pub fn pool_with_lock_timeout(
    url: &SecretString,
    schema: &'static str,
    max: u32,
    lock_timeout: Duration,
) -> Result<PgPool, sqlx::Error> {
    let timeout = format!("{}ms", lock_timeout.as_millis().max(1));
    Ok(pool_options(max)
        .connect_lazy_with(options(url, schema)?.options([("lock_timeout", timeout.as_str())])))
}

/// Creates the schema if needed and applies the service's embedded migrations inside it.
pub async fn migrate(
    pool: &PgPool,
    schema: &'static str,
    migrator: &Migrator,
) -> anyhow::Result<()> {
    assert_valid_schema(schema);
    // The schema name is a compile-time constant checked above, never input.
    pool.execute(sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    ))))
    .await?;
    migrator.run(pool).await?;
    Ok(())
}

fn assert_valid_schema(schema: &str) {
    assert!(
        !schema.is_empty() && schema.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "schema name must be lowercase ascii: {schema}"
    );
}

/// Wakes every waiter on `wake` for each notification on `channel` (PostgreSQL delivers a NOTIFY
/// only when its transaction commits). Reconnects after errors; callers keep a polling fallback for
/// the gap. Runs until `shutdown`.
pub async fn wake_on_notify(
    pool: PgPool,
    channel: String,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        let attempt = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(&channel).await?;
            loop {
                listener.recv().await?;
                wake.notify_waiters();
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            res = attempt => if let Err(e) = res {
                tracing::warn!(error = %e, channel, "LISTEN connection lost; reconnecting");
            },
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {},
        }
    }
}
