//! Waiting for the system to finish what it owes: every outbox event delivered to the notifier, every
//! delivery out of the queue, and the SMTP server quiet.

use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;

use crate::cluster::Cluster;

/// Rows still owed: undelivered outbox events of both producers (parked ones are given up on: the
/// checker reports them), queued deliveries.
async fn owed(db: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM registration.outbox WHERE delivered_at IS NULL AND parked_at IS NULL) \
              + (SELECT count(*) FROM appointment.outbox WHERE delivered_at IS NULL AND parked_at IS NULL) \
              + (SELECT count(*) FROM notifier.deliveries WHERE status = 'QUEUED')",
    )
    .fetch_one(db)
    .await?)
}

/// Waits until nothing is owed, then for the SMTP server to be quiet. A long run leaves a backlog, so
/// the wait lasts as long as the backlog shrinks; it fails when nothing moved for `stall`.
pub async fn settle(cluster: &Cluster, db: &PgPool, stall: Duration) -> anyhow::Result<()> {
    let mut best = i64::MAX;
    let mut moved = Instant::now();
    loop {
        match owed(db).await {
            Ok(0) => break,
            Ok(n) if n < best => {
                best = n;
                moved = Instant::now();
            }
            Ok(n) if moved.elapsed() > stall => {
                anyhow::bail!("{n} events or deliveries still owed, none settled for {stall:?}")
            }
            Err(e) if moved.elapsed() > stall => {
                anyhow::bail!("database unreachable while settling: {e}")
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let smtp = cluster.smtp.clone();
    let n = smtp.lock().unwrap().messages().len();
    // wait_for returns after its quiet period. The lock is held on a thread of its own, after the
    // faults ended: nobody else takes it meanwhile.
    #[allow(clippy::await_holding_lock)]
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            smtp.lock()
                .unwrap()
                .wait_for(n, Duration::from_secs(30))
                .await
                .len()
        })
    })
    .await?;
    Ok(())
}
