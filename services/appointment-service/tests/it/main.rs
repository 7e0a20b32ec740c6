//! appointment-service integration tests: real PostgreSQL, a real registration-service and the real
//! appointment-service gRPC servers on loopback ports.

mod auth;
mod cancel;
mod catalog;
mod deadlocks;
mod dependency;
mod healthcheck;
mod helpers;
mod idempotency;
mod other_clinic;
mod outbox_atomicity;
mod reflection;
mod reservation_race;
mod reserve;
mod schedule;
mod stalls;
mod time_checks;
