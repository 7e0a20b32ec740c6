//! appointment-service: clinic catalog, predefined appointments, reservations under a row lock.

pub mod application;
pub mod cli;
pub mod db;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod policy;
pub mod registration_client;
pub mod service;
#[cfg(feature = "test-support")]
pub mod testing;

pub use application::{Application, Settings};
