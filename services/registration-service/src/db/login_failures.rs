//! The failed-login delays (see the `login_failures_per_client` migration): per e-mail and client
//! address, and a higher, shorter ceiling per e-mail from all clients together.

use sqlx::PgConnection;
use time::OffsetDateTime;

/// Failures in a row from one client before its attempts are delayed.
pub const FREE_FAILURES: i32 = 3;
/// The longest delay of one client, in seconds.
pub const MAX_DELAY_SECONDS: i32 = 900;
/// Failures in a row for an account, from all clients together, before its attempts are delayed.
pub const ACCOUNT_FREE_FAILURES: i32 = 20;
/// The longest delay of an account's attempts from all clients, in seconds.
pub const ACCOUNT_MAX_DELAY_SECONDS: i32 = 60;

/// Where an e-mail's runs of failures stand, by the database's clock (which set them).
#[derive(Debug, sqlx::FromRow)]
pub struct Delays {
    /// Until when this client must wait, if it has a run of failures for the e-mail.
    pub client_until: Option<OffsetDateTime>,
    /// Until when every client must wait, if the e-mail has a run of failures.
    pub account_until: Option<OffsetDateTime>,
    pub now: OffsetDateTime,
}

impl Delays {
    /// Whether there is a run of failures to end at a success.
    pub fn failing(&self) -> bool {
        self.client_until.is_some() || self.account_until.is_some()
    }

    /// How long an attempt must still wait, if it must.
    pub fn wait(&self) -> Option<std::time::Duration> {
        let until = self.client_until.max(self.account_until)?;
        (until > self.now)
            .then(|| std::time::Duration::try_from(until - self.now).unwrap_or_default())
    }
}

#[tracing::instrument(skip_all, err)]
pub async fn delays(
    conn: &mut PgConnection,
    email: &str,
    client: &str,
) -> Result<Delays, sqlx::Error> {
    sqlx::query_as(
        "SELECT (SELECT blocked_until FROM login_failures WHERE email = $1 AND client = $2) AS client_until, \
                (SELECT blocked_until FROM login_account_failures WHERE email = $1) AS account_until, \
                now() AS now",
    )
    .bind(email)
    .bind(client)
    .fetch_one(conn)
    .await
}

/// Counts a failure for the client and for the account (a run starts again after a quiet day) and
/// sets the next delays; forgets up to 100 rows of each table quiet for a day.
#[tracing::instrument(skip_all, err)]
pub async fn failed(conn: &mut PgConnection, email: &str, client: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH forgotten AS ( \
             DELETE FROM login_failures WHERE (email, client) IN ( \
                 SELECT email, client FROM login_failures \
                 WHERE last_failure_at < now() - interval '1 day' AND (email, client) <> ($1, $2) \
                 LIMIT 100)), \
         forgotten_accounts AS ( \
             DELETE FROM login_account_failures WHERE email IN ( \
                 SELECT email FROM login_account_failures \
                 WHERE last_failure_at < now() - interval '1 day' AND email <> $1 LIMIT 100)), \
         by_client AS ( \
             INSERT INTO login_failures AS f (email, client, failures, blocked_until, last_failure_at) \
             VALUES ($1, $2, 1, now(), now()) \
             ON CONFLICT (email, client) DO UPDATE SET \
                 failures = CASE WHEN f.last_failure_at < now() - interval '1 day' THEN 1 \
                                 ELSE f.failures + 1 END, \
                 last_failure_at = now(), \
                 blocked_until = now() + CASE \
                     WHEN f.last_failure_at < now() - interval '1 day' OR f.failures + 1 <= $3 THEN interval '0' \
                     ELSE make_interval(secs => least($4, power(2, least(f.failures + 1 - $3 - 1, 20)))) END) \
         INSERT INTO login_account_failures AS f (email, failures, blocked_until, last_failure_at) \
         VALUES ($1, 1, now(), now()) \
         ON CONFLICT (email) DO UPDATE SET \
             failures = CASE WHEN f.last_failure_at < now() - interval '1 day' THEN 1 \
                             ELSE f.failures + 1 END, \
             last_failure_at = now(), \
             blocked_until = now() + CASE \
                 WHEN f.last_failure_at < now() - interval '1 day' OR f.failures + 1 <= $5 THEN interval '0' \
                 ELSE make_interval(secs => least($6, power(2, least(f.failures + 1 - $5 - 1, 20)))) END",
    )
    .bind(email)
    .bind(client)
    .bind(FREE_FAILURES)
    .bind(f64::from(MAX_DELAY_SECONDS))
    .bind(ACCOUNT_FREE_FAILURES)
    .bind(f64::from(ACCOUNT_MAX_DELAY_SECONDS))
    .execute(conn)
    .await?;
    Ok(())
}

/// A successful login ends the client's run and the account's.
#[tracing::instrument(skip_all, err)]
pub async fn succeeded(
    conn: &mut PgConnection,
    email: &str,
    client: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH by_client AS (DELETE FROM login_failures WHERE email = $1 AND client = $2) \
         DELETE FROM login_account_failures WHERE email = $1",
    )
    .bind(email)
    .bind(client)
    .execute(conn)
    .await?;
    Ok(())
}
