//! What every clinic service needs, once: typed config pieces, telemetry, the auth tower layer with its
//! per-RPC policy table, gRPC server bootstrap (health, reflection, graceful shutdown), the
//! `healthcheck` subcommand's client, the error → status mapping, the transactional outbox, and
//! (feature `test-support`) integration-test helpers.

pub mod auth;
pub mod client;
pub mod config;
pub mod db;
pub mod error;
pub mod healthcheck;
pub mod outbox;
pub mod pagination;
pub mod seal;
pub mod server;
pub mod telemetry;
pub mod time_pb;
pub mod tls;
pub mod validate;

#[cfg(feature = "test-support")]
pub mod testing;
