//! The clinic operator CLI: endpoints and sign-in ([`connect`]) and the load generator ([`bench`]).

pub mod bench;
pub mod cli;
pub mod connect;

use std::process::ExitCode;

/// Runs one command; the exit code says whether what it checked held.
pub async fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        cli::Command::Bench(args) => bench::run(&cli.endpoints, args).await,
    }
}
