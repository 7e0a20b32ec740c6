//! The ledger's retention: SENT deliveries older than the retention are deleted, payload and all.
//!
//! DEAD deliveries are kept whole, payload included: an operator may still retry one (`RetryDelivery`
//! renders the e-mail from the payload, which is by then the only copy of the event, since the producer
//! purges delivered events after its own retention). They are few and each one wants a decision.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::db::deliveries;

#[derive(Debug, Clone)]
pub struct PurgeSettings {
    /// How long SENT deliveries are kept.
    pub retention: Duration,
    /// Rows deleted per statement.
    pub batch: i64,
    /// How often the purge runs.
    pub every: Duration,
}

impl Default for PurgeSettings {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(7 * 24 * 3600),
            batch: 1000,
            every: Duration::from_secs(60),
        }
    }
}

impl PurgeSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.batch >= 1, "the purge batch must be at least 1");
        // The ledger row is what makes a redelivered event a no-op; keep it well past any redelivery.
        anyhow::ensure!(
            self.retention >= Duration::from_secs(3600),
            "the delivery retention must be at least one hour"
        );
        Ok(())
    }
}

/// Purges every `every` (first right away) until `shutdown`.
pub async fn run(pool: PgPool, settings: PurgeSettings, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(settings.every);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {},
        }
        match purge_sent(&pool, &settings, &shutdown).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "sent deliveries past the retention purged"),
            Err(e) => tracing::warn!(error = %e, "delivery purge failed"),
        }
    }
}

/// Deletes SENT deliveries past the retention, one batch (one short statement, its own connection
/// checkout) at a time, until none is left or `shutdown`. Returns how many.
pub async fn purge_sent(
    pool: &PgPool,
    settings: &PurgeSettings,
    shutdown: &CancellationToken,
) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let mut conn = pool.acquire().await?;
        let n = deliveries::purge_sent(&mut conn, settings.retention, settings.batch).await?;
        total += n;
        if n < settings.batch as u64 || shutdown.is_cancelled() {
            return Ok(total);
        }
    }
}
