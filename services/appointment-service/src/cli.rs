//! The binary's subcommands. Every knob is a flag with an env fallback, so `--help` lists them all.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use clinic_common::{
    auth::ServiceToken,
    config::{
        DatabaseArgs, DbRolesArgs, MigrateOnStartArgs, MigrationDatabaseArgs, OutboxArgs,
        ShutdownArgs, VerifierArgs,
    },
    healthcheck::HealthcheckArgs,
};

use crate::application::Settings;

#[derive(Parser, Debug)]
#[command(
    name = "appointment-service",
    version,
    about = "Clinic catalog, predefined appointments and reservations"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gRPC server.
    Serve(ServeArgs),
    /// Apply database migrations to the `appointment` schema and exit (as the migration role).
    Migrate(MigrationDatabaseArgs),
    /// Create or update this service's database roles (idempotent; before `migrate`): the migration
    /// role owns the `appointment` schema, the runtime role may only read and write its rows.
    CreateDbRoles(DbRolesArgs),
    /// Exit 0 when this service's server answers SERVING to grpc.health.v1.Health/Check (for
    /// container healthchecks); non-zero otherwise.
    Healthcheck {
        #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:50052")]
        listen_addr: SocketAddr,
        #[command(flatten)]
        check: HealthcheckArgs,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:50052")]
    pub listen_addr: SocketAddr,
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub verifier: VerifierArgs,
    #[command(flatten)]
    pub tls: clinic_common::tls::TlsArgs,
    #[command(flatten)]
    pub shutdown: ShutdownArgs,
    #[command(flatten)]
    pub outbox: OutboxArgs,
    /// registration-service address, e.g. https://registration-service:50051 (http:// with --plaintext).
    #[arg(
        long,
        env = "REGISTRATION_URL",
        default_value = "https://127.0.0.1:50051"
    )]
    pub registration_url: String,
    /// File holding this service's `service` token (registration-service mint-service-token).
    #[arg(long, env = "SERVICE_TOKEN_FILE")]
    pub service_token_file: PathBuf,
    /// Deadline of each call to registration-service.
    #[arg(long, env = "REGISTRATION_DEADLINE_MS", default_value_t = 2000)]
    pub registration_deadline_ms: u64,
    /// Longest wait for an appointment's row lock before answering APPOINTMENT_BUSY.
    #[arg(long, env = "LOCK_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub lock_timeout_ms: u64,
    #[command(flatten)]
    pub migrate: MigrateOnStartArgs,
}

impl ServeArgs {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let token = ServiceToken::from_file(&self.service_token_file)?;
        Ok(Settings {
            listen_addr: self.listen_addr,
            database_url: self.db.database_url.clone(),
            database_max_connections: self.db.database_max_connections,
            verifier: self.verifier.load()?,
            registration_url: self.registration_url.clone(),
            service_token: token,
            registration_deadline: Duration::from_millis(self.registration_deadline_ms),
            lock_timeout: Duration::from_millis(self.lock_timeout_ms),
            drain_deadline: self.shutdown.drain_deadline(),
            outbox: self.outbox.settings(),
            tls: self.tls.load()?,
            migration_database_url: self.migrate.url()?,
        })
    }
}
