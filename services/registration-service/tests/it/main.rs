//! registration-service integration tests: real PostgreSQL, the real gRPC server on a loopback port.

mod accounts;
mod approval_conflicts;
mod auth;
mod cli;
mod database_loss;
mod db_roles;
mod decision_race;
mod decisions;
mod enumeration;
mod feed;
mod healthcheck;
mod helpers;
mod limits;
mod lock_timeout;
mod login_delay;
mod outbox_atomicity;
mod purge;
mod reflection;
mod server_limits;
mod shutdown;
mod tls;
mod validation;
