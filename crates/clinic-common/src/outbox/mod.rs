//! The transactional outbox, once for every producing service.
//!
//! - [`append`]: write an event in the caller's transaction, plus a `NOTIFY` that PostgreSQL delivers
//!   only if and when that transaction commits.
//! - [`feed`]: the `clinic.outbox.v1.OutboxFeed` gRPC service: long-polling `Pull` that leases events
//!   with `FOR UPDATE SKIP LOCKED`, `Ack`, lease expiry, and purging of delivered rows.
//!
//! Each service's migrations create the `outbox` table in its own schema (`search_path` points there).

mod append;
mod claims;
pub mod feed;

pub use append::{NewEvent, append, channel};
pub use feed::{FeedSettings, OutboxFeedApi};
