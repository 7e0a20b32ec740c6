//! Deleting delivered events once they are past retention, in bounded batches: one unbounded
//! `DELETE` of a backlog (a consumer back after a long outage, a first purge after an upgrade) would
//! hold every deleted row's lock and write all its WAL in one transaction, and stall the feed
//! behind it.

use std::time::Duration;

use sqlx::PgConnection;

/// Most rows one purge statement deletes.
pub const PURGE_BATCH: i64 = 1000;

/// Deletes events delivered longer ago than `retention`, at most `batch` per statement (each its own
/// transaction), until a statement finds fewer. `SKIP LOCKED`: purgers of two replicas take disjoint
/// batches instead of queueing behind each other. Returns how many rows were deleted.
#[tracing::instrument(skip_all, fields(batch = batch), err)]
pub async fn purge_delivered(
    conn: &mut PgConnection,
    retention: Duration,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let deleted = sqlx::query(
            // `= ANY (ARRAY(…))`, not `IN (…)`: the batch's ids are found through the delivered
            // index and deleted through the primary key; `IN` was planned as a hash semi-join over
            // a sequential scan of the whole outbox, once per batch.
            "DELETE FROM outbox WHERE id = ANY (ARRAY( \
                 SELECT id FROM outbox WHERE delivered_at < now() - $1 * interval '1 second' \
                 ORDER BY delivered_at LIMIT $2 FOR UPDATE SKIP LOCKED))",
        )
        .bind(retention.as_secs() as f64)
        .bind(batch)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        total += deleted;
        if deleted < batch.max(1) as u64 {
            return Ok(total);
        }
    }
}
