//! System tests: the real service binaries as separate processes against a PostgreSQL cluster of
//! their own, driven from outside over gRPC: the chaos run (`tests/chaos.rs`), the README's local
//! cluster with its two races and Ctrl-C (`tests/local_cluster.rs`), one trace across the three
//! services (`tests/trace.rs`).

pub mod checker;
pub mod clients;
pub mod cluster;
pub mod faults;
pub mod local_cluster;
pub mod otlp;
pub mod process;
pub mod seed;
pub mod settle;
pub mod workload;
