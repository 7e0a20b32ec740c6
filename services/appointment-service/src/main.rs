use appointment_service::{
    Application,
    cli::{Cli, Command},
    db::{EXTENSIONS, MIGRATOR, SCHEMA},
};
use clap::Parser;
use clinic_common::{server::cancel_on_signal, telemetry};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Before telemetry: a healthcheck runs every few seconds and exports nothing.
    if let Command::Healthcheck { listen_addr, check } = &cli.command {
        std::process::exit(
            check
                .exit_code(*listen_addr, appointment_service::error::DOMAIN)
                .await,
        );
    }
    let _telemetry = telemetry::init("appointment-service")?;
    match &cli.command {
        Command::Serve(args) => {
            let app = Application::build(args.settings()?).await?;
            let shutdown = CancellationToken::new();
            cancel_on_signal(shutdown.clone());
            app.run_until_stopped(shutdown).await
        }
        Command::Migrate(args) => args.migrate(SCHEMA, &MIGRATOR).await,
        Command::CreateDbRoles(args) => args.run(SCHEMA, EXTENSIONS).await,
        Command::Healthcheck { .. } => unreachable!("handled before telemetry"),
    }
}
