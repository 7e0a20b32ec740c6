//! The transactional outbox, once for every producing service.
//!
//! - [`append`]: write an event in the caller's transaction.
//! - [`CommitSignal`]: after the commit, wake this process's feed and (coalesced, outside the
//!   transaction) `NOTIFY` the feeds of other replicas.
//! - [`feed`]: the `clinic.outbox.v1.OutboxFeed` gRPC service: long-polling `Pull` that leases events
//!   with `FOR UPDATE SKIP LOCKED`, `Ack`, lease expiry, and purging of delivered rows
//!   ([`purge`]: bounded batches).
//!
//! Each service's migrations create the `outbox` table in its own schema (`search_path` points there).

mod append;
mod claims;
pub mod feed;
pub mod purge;
mod requests;
mod signal;

pub use append::{NewEvent, append, channel};
pub use feed::{FeedSettings, OutboxFeedApi};
pub use purge::PURGE_BATCH;
pub use signal::CommitSignal;
