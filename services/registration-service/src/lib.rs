//! registration-service: patient registration requests, clinic-center decisions (optimistic
//! compare-and-swap), accounts, activation and access tokens.

pub mod application;
pub mod cli;
pub mod db;
pub mod domain;
pub mod error;
pub mod grpc;
mod hashing;
pub mod limits;
pub mod policy;
pub mod secrets;
pub mod service;
#[cfg(feature = "test-support")]
pub mod testing;

pub use application::{Application, Settings};
