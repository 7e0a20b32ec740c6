//! `clinicctl`: talks to a running cluster over gRPC. See `clinicctl --help`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    clinicctl::main(clinicctl::cli::Cli::parse()).await
}
