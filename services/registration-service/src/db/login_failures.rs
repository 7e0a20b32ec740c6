//! The failed-login delay (see the `login_failures` migration).

use sqlx::PgConnection;
use time::OffsetDateTime;

/// Failures in a row before attempts are delayed.
pub const FREE_FAILURES: i32 = 3;
/// The longest delay, in seconds.
pub const MAX_DELAY_SECONDS: i32 = 900;

/// `email`'s run of failures, if it has one: until when attempts must wait, and whether that is
/// still ahead (by the database's clock, which set it).
#[tracing::instrument(skip_all, err)]
pub async fn blocked_until(
    conn: &mut PgConnection,
    email: &str,
) -> Result<Option<(OffsetDateTime, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT blocked_until, blocked_until > now() FROM login_failures WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(conn)
    .await
}

/// Counts a failure (a run starts again after a quiet day) and sets the next delay; forgets up to
/// 100 rows quiet for a day. Returns until when the next attempt must wait.
#[tracing::instrument(skip_all, err)]
pub async fn failed(conn: &mut PgConnection, email: &str) -> Result<OffsetDateTime, sqlx::Error> {
    let until = sqlx::query_scalar(
        "WITH forgotten AS ( \
             DELETE FROM login_failures WHERE email IN ( \
                 SELECT email FROM login_failures WHERE last_failure_at < now() - interval '1 day' \
                 AND email <> $1 LIMIT 100)) \
         INSERT INTO login_failures AS f (email, failures, blocked_until, last_failure_at) \
         VALUES ($1, 1, now(), now()) \
         ON CONFLICT (email) DO UPDATE SET \
             failures = CASE WHEN f.last_failure_at < now() - interval '1 day' THEN 1 \
                             ELSE f.failures + 1 END, \
             last_failure_at = now(), \
             blocked_until = now() + CASE \
                 WHEN f.last_failure_at < now() - interval '1 day' OR f.failures + 1 <= $2 THEN interval '0' \
                 ELSE make_interval(secs => least($3, power(2, least(f.failures + 1 - $2 - 1, 20)))) END \
         RETURNING blocked_until",
    )
    .bind(email)
    .bind(FREE_FAILURES)
    .bind(f64::from(MAX_DELAY_SECONDS))
    .fetch_one(conn)
    .await?;
    Ok(until)
}

/// A successful login ends the run.
#[tracing::instrument(skip_all, err)]
pub async fn succeeded(conn: &mut PgConnection, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE email = $1")
        .bind(email)
        .execute(conn)
        .await?;
    Ok(())
}
