//! notifier-service: drains the outbox feeds of registration- and appointment-service into a delivery
//! ledger and sends exactly one e-mail per event.

pub mod application;
pub mod cli;
pub mod db;
pub mod error;
pub mod grpc;
pub mod mail;
pub mod pipeline;
pub mod policy;
#[cfg(feature = "test-support")]
pub mod testing;

pub use application::{Application, Settings};
