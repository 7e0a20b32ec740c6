//! `clinicctl`: talks to a running cluster over gRPC. See `clinicctl --help`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = clinicctl::cli::Cli::parse();
    match clinicctl::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("clinicctl: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
