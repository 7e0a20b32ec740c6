//! Connection pools pinned to the service's own schema, and migrations into it.
//!
//! Each service sets `search_path` to its schema, so its SQL (and the shared outbox code) names tables
//! unqualified and can never touch another service's schema by accident. `_sqlx_migrations` lives in
//! that schema too, so three services can share one database without their migration histories colliding.
//! With the roles of [`roles`], the database itself refuses the rest: the server's runtime role reaches
//! no other schema and cannot change its own; only the migration role can.

pub mod roles;

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
    // A migration role owns its schema already and may not create schemas (PostgreSQL checks that
    // right even for `CREATE SCHEMA IF NOT EXISTS` on an existing one), so only a missing one is made.
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(pool)
            .await?;
    if !exists {
        // The schema name is a compile-time constant checked above, never input.
        pool.execute(sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        ))))
        .await?;
    }
    migrator.run(pool).await?;
    // The runtime role's default privileges cover `_sqlx_migrations` too; the history is the
    // migration role's alone.
    pool.execute(sqlx::raw_sql(KEEP_MIGRATION_HISTORY)).await?;
    Ok(())
}

/// [`migrate`] over a connection of its own to `url` (the migration role's), closed after.
pub async fn migrate_url(
    url: &SecretString,
    schema: &'static str,
    migrator: &Migrator,
) -> anyhow::Result<()> {
    let pool = pool(url, schema, 1)?;
    let migrated = migrate(&pool, schema, migrator).await;
    pool.close().await;
    migrated
}

/// Revokes every right on `_sqlx_migrations` (in the current schema) that its owner granted anyone.
const KEEP_MIGRATION_HISTORY: &str = "DO $$
DECLARE grantee text;
BEGIN
    FOR grantee IN
        SELECT DISTINCT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = '_sqlx_migrations'::regclass AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('REVOKE ALL ON TABLE _sqlx_migrations FROM %s', grantee);
    END LOOP;
END $$";

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
