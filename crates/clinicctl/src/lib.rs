//! The clinic operator CLI: sign-in and its cached token ([`token_cache`]), one subcommand per RPC
//! ([`commands`]) printed as tables or JSON ([`output`]), failures told in full ([`failure`]), and
//! the load generator ([`bench`]).

pub mod bench;
pub mod cli;
pub mod commands;
pub mod connect;
pub mod failure;
pub mod output;
mod table;
pub mod timestamps;
pub mod token_cache;

use std::process::ExitCode;

use commands::Ctx;

/// Runs one command; the exit code says whether it (or what it checked) succeeded. Failures are
/// reported on stderr here: a gRPC status with its details (as JSON with `--json`), anything else
/// with its cause chain.
pub async fn main(cli: cli::Cli) -> ExitCode {
    let json = cli.session.json;
    match run(cli).await {
        Ok(code) => code,
        // The reader of stdout went away (`clinicctl … | head`): nothing left to tell anyone.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            match e.downcast_ref::<tonic::Status>() {
                Some(status) => {
                    let failure = failure::Failure::from_status(status);
                    if json {
                        eprintln!("{}", serde_json::json!({ "error": failure }));
                    } else {
                        eprint!("{}", failure.render());
                    }
                }
                None => eprintln!("clinicctl: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(cli.endpoints, cli.session);
    match cli.command {
        cli::Command::Login(args) => commands::login::login(&ctx, args).await?,
        cli::Command::Logout => commands::login::logout()?,
        cli::Command::Registration(c) => commands::registration::run(&ctx, c).await?,
        cli::Command::Appointment(c) => commands::appointment::run(&ctx, c).await?,
        cli::Command::Notifier(c) => commands::notifier::run(&ctx, c).await?,
        cli::Command::Seed(args) => commands::seed::seed(&ctx, args).await?,
        cli::Command::Race(c) => return commands::race::run(&ctx, c).await,
        cli::Command::Bench(args) => {
            return bench::run(&ctx.endpoints, args, ctx.session.json).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}
