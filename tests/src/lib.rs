//! System tests: the real service binaries as separate processes against a PostgreSQL cluster of
//! their own, driven from outside over gRPC. The chaos run (`tests/chaos.rs`) lives here.

pub mod checker;
pub mod clients;
pub mod cluster;
pub mod faults;
pub mod process;
pub mod seed;
pub mod settle;
pub mod workload;
