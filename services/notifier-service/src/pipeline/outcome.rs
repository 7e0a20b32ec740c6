//! Recording an attempt's outcome under its claim.
//!
//! A `SENT` that is not recorded is an e-mail sent twice: once the claim lapses, another attempt
//! follows. So a failed write (a dropped connection, a restarting database, a pool wait) is retried on
//! a fresh connection with a bounded backoff. A failure is retried while the claim holds (not
//! recording it only means one more attempt). A `SENT` is retried for one more claim length after
//! that: while the database is down nobody can take the delivery over, so the first write to land
//! after it returns keeps the mail single, and the claim token makes a late write safe — once another
//! sender has claimed the delivery, a stale write changes nothing.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::deliveries;

pub enum Outcome {
    Sent {
        recipient: String,
    },
    Failed {
        error: String,
        retry_at: OffsetDateTime,
        dead: bool,
    },
}

/// First pause between writes; it doubles up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const MAX_PAUSE: Duration = Duration::from_secs(1);
/// Even a write begun after the claim ended gets this long: the token makes it safe, and no other
/// sender may have taken the delivery yet.
pub(crate) const MIN_WRITE_TIME: Duration = Duration::from_secs(1);

/// Records `outcome` of the attempt made under claim `token` (`claim` long, ending at `claim_ends`).
/// Gives up on a failure when the claim ends, on a send one claim length later.
pub async fn record(
    pool: &PgPool,
    id: Uuid,
    token: Uuid,
    outcome: &Outcome,
    claim_ends: Instant,
    claim: Duration,
) {
    let give_up = match outcome {
        Outcome::Sent { .. } => claim_ends + claim,
        Outcome::Failed { .. } => claim_ends,
    };
    let mut pause = FIRST_PAUSE;
    loop {
        let time = give_up
            .saturating_duration_since(Instant::now())
            .max(MIN_WRITE_TIME);
        match tokio::time::timeout(time, write(pool, id, token, outcome)).await {
            Ok(Ok(true)) => return,
            Ok(Ok(false)) => {
                tracing::warn!(
                    "outcome not recorded: the claim lapsed and the delivery was taken over (fenced off)"
                );
                return;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "recording the outcome failed; retrying"),
            Err(_) => tracing::warn!("recording the outcome timed out; retrying"),
        }
        if Instant::now() + pause >= give_up {
            tracing::error!(
                sent = matches!(outcome, Outcome::Sent { .. }),
                "outcome not recorded in time; the delivery will be attempted again"
            );
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// One write; Ok(false) when the claim is no longer ours.
async fn write(
    pool: &PgPool,
    id: Uuid,
    token: Uuid,
    outcome: &Outcome,
) -> Result<bool, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let written = match outcome {
        Outcome::Sent { recipient } => deliveries::mark_sent(&mut conn, id, token, recipient).await,
        Outcome::Failed {
            error,
            retry_at,
            dead,
        } => deliveries::mark_failed(&mut conn, id, token, error, *retry_at, *dead).await,
    };
    if written.is_err() {
        // The connection may be broken (its session killed, the network cut): the retry must not get
        // it back from the pool.
        conn.close_on_drop();
    }
    written
}
