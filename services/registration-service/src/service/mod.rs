//! Use cases. Each begins its own transaction, passes it down to `db`, and commits before returning;
//! events leave only through the outbox row written in that transaction.

pub mod accounts;
pub mod decide;
pub mod operators;
pub mod requests;
pub mod submit;

use std::time::Duration;

use clinic_common::{auth::TokenIssuer, outbox::CommitSignal};
use sqlx::PgPool;

/// What the use cases need, shared by every RPC.
#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub issuer: TokenIssuer,
    pub access_token_ttl: Duration,
    pub activation_token_ttl: Duration,
    /// Called after every commit that appended outbox events.
    pub signal: CommitSignal,
    /// Rate limits on the public RPCs.
    pub limits: crate::limits::Limits,
    /// Seals each activation token for the notifier before it reaches the outbox.
    pub activation_seal: clinic_common::seal::SealingKey,
}
