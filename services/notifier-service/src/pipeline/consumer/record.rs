//! Recording a pulled batch in the ledger: one transaction, one savepoint per event.
//!
//! Whose fault a failed insert is decides what happens to the event. A data error (SQLSTATE class 22,
//! data exception, or 23, integrity constraint violation) is about that event's row: it is rolled
//! back alone and left unacked, and the feed parks it once its deliveries run out. Anything else — a
//! read-only database (a demoted primary), a lost grant, a full disk, a lost connection — is the
//! ledger's: the whole batch is kept and recorded again once the ledger takes writes, so an outage
//! spends none of the events' deliveries and parks nothing.

use std::time::Duration;

use clinic_proto::pb::outbox::v1::OutboxEvent;
use sqlx::{Acquire, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{ConsumerSettings, Source};
use crate::{
    db::deliveries::{self, NewDelivery},
    mail::message_id,
};

/// First pause after the ledger refused a batch; it doubles up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Records the batch, again and again with a growing pause while the ledger cannot take it. The
/// batch is kept meanwhile, not pulled again: waiting spends none of its events' deliveries, and the
/// events committed during the outage stay in the producer's outbox, not handed out. `None` on
/// shutdown (nothing acked: the events come again).
pub(super) async fn record_until_written(
    pool: &PgPool,
    source: &Source,
    settings: &ConsumerSettings,
    events: &[OutboxEvent],
    shutdown: &CancellationToken,
) -> Option<Recorded> {
    let mut pause = FIRST_PAUSE;
    loop {
        let recorded = tokio::select! {
            () = shutdown.cancelled() => return None,
            r = record(pool, source, settings, events) => r,
        };
        match recorded {
            Ok(r) => return Some(r),
            Err(e) => tracing::warn!(
                source = source.name,
                error = %e,
                sqlstate = e.as_database_error().and_then(|d| d.code()).as_deref(),
                retry_in_ms = pause.as_millis() as u64,
                "the ledger cannot record the batch; keeping it and trying again"
            ),
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(pause) => {},
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Whether `e` is about the row written (SQLSTATE class 22 or 23), so the event's own fault; any other
/// error is the ledger's.
fn is_data_error(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
}

/// What one batch left in the ledger.
pub(super) struct Recorded {
    /// Events in the ledger (new or already there): to ack.
    pub acks: Vec<String>,
    /// How many of them were new.
    pub new: usize,
}

/// Why one event could not be recorded. It is not acked, so it comes again after its lease; the
/// feed parks it when its deliveries run out. A `Ledger` error that is not a data error is not the
/// event's: it fails the batch instead.
#[derive(Debug, thiserror::Error)]
enum EventError {
    #[error("event id is not a UUID: {0}")]
    Id(#[from] uuid::Error),
    #[error("payload is not JSON: {0}")]
    Payload(#[from] serde_json::Error),
    #[error("the ledger refused its row: {0}")]
    Ledger(#[from] sqlx::Error),
}

/// Records the batch in one transaction, each event in its own savepoint: an event that fails
/// (unparsable, or its row refused with a data error) is rolled back alone and left unacked, and the
/// others are committed and acked. Any other database error fails the batch (nothing is committed).
#[tracing::instrument(skip_all, fields(source = source.name, events = events.len()), err)]
pub(super) async fn record(
    pool: &PgPool,
    source: &Source,
    settings: &ConsumerSettings,
    events: &[OutboxEvent],
) -> Result<Recorded, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut recorded = Recorded {
        acks: Vec::with_capacity(events.len()),
        new: 0,
    };
    for e in events {
        let mut savepoint = tx.begin().await?;
        match record_one(&mut savepoint, source, settings, e).await {
            Ok(new) => {
                savepoint.commit().await?;
                recorded.new += usize::from(new);
                recorded.acks.push(e.id.clone());
            }
            Err(EventError::Ledger(e)) if !is_data_error(&e) => return Err(e),
            Err(error) => {
                savepoint.rollback().await?;
                tracing::warn!(
                    source = source.name,
                    event_id = e.id,
                    event_type = e.event_type,
                    aggregate_id = e.aggregate_id,
                    delivery_attempt = e.delivery_attempt,
                    %error,
                    "event not recorded; left unacked"
                );
            }
        }
    }
    if recorded.new > 0 {
        deliveries::notify_queued(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(recorded)
}

/// Records one event; whether it was new.
async fn record_one(
    conn: &mut PgConnection,
    source: &Source,
    settings: &ConsumerSettings,
    e: &OutboxEvent,
) -> Result<bool, EventError> {
    let event_id = Uuid::parse_str(&e.id)?;
    let payload: serde_json::Value = serde_json::from_str(&e.payload_json)?;
    let mid = message_id(event_id, &settings.message_id_domain);
    let delivery = NewDelivery {
        source: source.name,
        event_id,
        event_type: &e.event_type,
        aggregate_id: &e.aggregate_id,
        payload: &payload,
        traceparent: Some(e.traceparent.as_str()).filter(|t| !t.is_empty()),
        message_id: &mid,
    };
    Ok(deliveries::record(conn, &delivery).await?)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use sqlx::error::{DatabaseError, ErrorKind};

    use super::*;

    /// A database error with only a SQLSTATE, as PostgreSQL would send it.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl DatabaseError for Coded {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    fn coded(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Coded(code)))
    }

    #[test]
    fn only_data_errors_are_the_events_fault() {
        // 22P02 invalid text, 22001 too long, 23505 unique, 23514 check: the row's fault.
        for code in ["22P02", "22001", "23505", "23514"] {
            assert!(is_data_error(&coded(code)), "{code}");
        }
        // Read-only transaction, no privilege, disk full, admin shutdown, raised by a trigger.
        for code in ["25006", "42501", "53100", "57P01", "P0001"] {
            assert!(!is_data_error(&coded(code)), "{code}");
        }
        assert!(!is_data_error(&sqlx::Error::PoolTimedOut));
        assert!(!is_data_error(&sqlx::Error::Io(
            std::io::ErrorKind::ConnectionReset.into()
        )));
    }
}
