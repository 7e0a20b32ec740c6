//! SQL, one function per statement. Tables are unqualified: `search_path` is the `notifier` schema.

pub mod deliveries;

pub const SCHEMA: &str = "notifier";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Extensions the migrations use (`create-db-roles` creates them, as the migration role may not): none.
pub const EXTENSIONS: &[&str] = &[];

/// Channel the consumer notifies (at commit) when it queued deliveries; the sender listens.
pub const QUEUE_CHANNEL: &str = "notifier_queue";
