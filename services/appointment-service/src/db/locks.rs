//! Transaction-scoped advisory locks that serialise work on one doctor, room or patient.
//!
//! Exclusion constraints alone are correct but, when two transactions insert conflicting entries at
//! once, each waits for the other and PostgreSQL breaks the cycle by aborting one with a deadlock
//! error after `deadlock_timeout`. Taking these keys first (in a fixed order) turns that into a plain
//! wait, after which the loser sees the winner's committed row and gets a precise conflict.

use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockKey {
    Doctor(Uuid),
    Room(Uuid),
    Patient(Uuid),
}

impl LockKey {
    fn text(self) -> String {
        match self {
            LockKey::Doctor(id) => format!("doctor:{id}"),
            LockKey::Room(id) => format!("room:{id}"),
            LockKey::Patient(id) => format!("patient:{id}"),
        }
    }
}

/// Takes every key, sorted, until the transaction ends. Waits are bounded by the lock timeout.
#[tracing::instrument(skip_all, err)]
pub async fn lock(conn: &mut PgConnection, keys: &[LockKey]) -> Result<(), sqlx::Error> {
    let mut keys = keys.to_vec();
    keys.sort();
    keys.dedup();
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(key.text())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
