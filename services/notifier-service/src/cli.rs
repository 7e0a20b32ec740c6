//! The binary's subcommands. Every knob is a flag with an env fallback, so `--help` lists them all.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use clinic_common::{
    auth::ServiceToken,
    config::{
        DatabaseArgs, DbRolesArgs, MigrateOnStartArgs, MigrationDatabaseArgs, VerifierArgs,
        parse_secret,
    },
    healthcheck::HealthcheckArgs,
};
use lettre::message::Mailbox;
use secrecy::SecretString;

use crate::{
    application::Settings,
    mail::{Mailer, SmtpSettings, TlsMode},
    pipeline::{
        consumer::{ConsumerSettings, Source},
        purge::PurgeSettings,
        sender::SenderSettings,
    },
};

#[derive(Parser, Debug)]
#[command(
    name = "notifier-service",
    version,
    about = "Exactly one e-mail per outbox event"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the consumers, the sender and the operator gRPC server.
    Serve(Box<ServeArgs>),
    /// Write a new activation-token key pair into `out_dir`: `seal_open.key` (this service's, 0600)
    /// and `seal_public.key` (registration-service's ACTIVATION_SEAL_KEY_FILE).
    GenSealKeypair {
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Apply database migrations to the `notifier` schema and exit (as the migration role).
    Migrate(MigrationDatabaseArgs),
    /// Create or update this service's database roles (idempotent; before `migrate`): the migration
    /// role owns the `notifier` schema, the runtime role may only read and write its rows.
    CreateDbRoles(DbRolesArgs),
    /// Exit 0 when this service's server answers SERVING to grpc.health.v1.Health/Check (for
    /// container healthchecks); non-zero otherwise.
    Healthcheck {
        #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:50053")]
        listen_addr: SocketAddr,
        #[command(flatten)]
        check: HealthcheckArgs,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:50053")]
    pub listen_addr: SocketAddr,
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub verifier: VerifierArgs,
    #[command(flatten)]
    pub tls: clinic_common::tls::TlsArgs,
    /// After SIGTERM: how long in-flight calls and sends may take to finish. Must be longer than a
    /// send and its SENT write may take, 2 × CLAIM_SECONDS + 1 (checked at start-up): a send cut
    /// short is sent again by another replica once its claim lapses.
    #[arg(long, env = "SHUTDOWN_DRAIN_SECONDS", default_value_t = 125)]
    pub shutdown_drain_seconds: u64,
    #[arg(
        long,
        env = "REGISTRATION_URL",
        default_value = "https://127.0.0.1:50051"
    )]
    pub registration_url: String,
    #[arg(
        long,
        env = "APPOINTMENT_URL",
        default_value = "https://127.0.0.1:50052"
    )]
    pub appointment_url: String,
    /// File holding this service's `service` token (registration-service mint-service-token).
    #[arg(long, env = "SERVICE_TOKEN_FILE")]
    pub service_token_file: PathBuf,
    /// SMTP server host. Without it, e-mails are written as .eml files to --eml-dir.
    #[arg(long, env = "SMTP_HOST")]
    pub smtp_host: Option<String>,
    #[arg(long, env = "SMTP_PORT", default_value_t = 25)]
    pub smtp_port: u16,
    #[arg(long, env = "SMTP_TLS", value_enum, default_value_t = TlsMode::None)]
    pub smtp_tls: TlsMode,
    /// PEM file of a CA trusted for the SMTP server's certificate besides the public roots (a relay
    /// whose certificate a private CA signed); with SMTP_TLS=starttls or tls.
    #[arg(long, env = "SMTP_TLS_CA_FILE")]
    pub smtp_tls_ca_file: Option<PathBuf>,
    #[arg(long, env = "SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    #[arg(long, env = "SMTP_PASSWORD", hide_env_values = true, value_parser = parse_secret)]
    pub smtp_password: Option<SecretString>,
    /// Folder for .eml files when no SMTP host is set.
    #[arg(long, env = "EML_DIR", default_value = "mail-out")]
    pub eml_dir: PathBuf,
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "Clinic Center <no-reply@clinic-center.local>"
    )]
    pub mail_from: String,
    /// Right-hand side of every Message-ID.
    #[arg(
        long,
        env = "MESSAGE_ID_DOMAIN",
        default_value = "notifier.clinic-center.local"
    )]
    pub message_id_domain: String,
    /// The activation page; the e-mail links to `<url>?token=…`.
    #[arg(
        long,
        env = "ACTIVATION_BASE_URL",
        default_value = "http://localhost:8080/activate"
    )]
    pub activation_base_url: String,
    /// This service's activation-token opening key (`gen-seal-keypair`): registration-service seals
    /// every token with its public half, and only this key opens them.
    #[arg(long, env = "ACTIVATION_OPEN_KEY_FILE")]
    pub activation_open_key_file: PathBuf,
    /// Attempts before a delivery is DEAD.
    #[arg(long, env = "MAX_ATTEMPTS", default_value_t = 8)]
    pub max_attempts: i32,
    #[arg(long, env = "BACKOFF_BASE_MS", default_value_t = 2000)]
    pub backoff_base_ms: u64,
    #[arg(long, env = "BACKOFF_MAX_MS", default_value_t = 600_000)]
    pub backoff_max_ms: u64,
    /// How long a sender holds a claimed delivery before another replica may take it over.
    #[arg(long, env = "CLAIM_SECONDS", default_value_t = 60)]
    pub claim_seconds: u64,
    /// Longest one send attempt (patient look-up, render, SMTP) may take; at most half the claim.
    #[arg(long, env = "ATTEMPT_DEADLINE_SECONDS", default_value_t = 25)]
    pub attempt_deadline_seconds: u64,
    /// Deliveries sent in parallel; at most DATABASE_MAX_CONNECTIONS minus 4 (the sender's LISTEN, one
    /// per consumer, one for operator calls, claims and the purge).
    #[arg(long, env = "SEND_PARALLELISM", default_value_t = 6)]
    pub send_parallelism: i64,
    /// How long SENT deliveries stay in the ledger before they are purged (DEAD ones are kept).
    #[arg(long, env = "DELIVERY_RETENTION_HOURS", default_value_t = 168)]
    pub delivery_retention_hours: u64,
    /// Long-poll wait of each outbox pull.
    #[arg(long, env = "PULL_WAIT_MS", default_value_t = 10_000)]
    pub pull_wait_ms: u64,
    /// Deadline of each outbox Ack, and of each Pull beyond its wait: a call on a link that went
    /// silent fails after this instead of hanging.
    #[arg(long, env = "FEED_CALL_DEADLINE_MS", default_value_t = 5_000)]
    pub feed_call_deadline_ms: u64,
    /// HTTP/2 keep-alive PING interval on the connections to the outbox feeds (sent also while idle).
    #[arg(long, env = "FEED_KEEPALIVE_INTERVAL_MS", default_value_t = 10_000)]
    pub feed_keepalive_interval_ms: u64,
    /// How long a keep-alive PING may go unanswered before the feed connection is dropped and remade.
    #[arg(long, env = "FEED_KEEPALIVE_TIMEOUT_MS", default_value_t = 5_000)]
    pub feed_keepalive_timeout_ms: u64,
    #[command(flatten)]
    pub migrate: MigrateOnStartArgs,
}

impl ServeArgs {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let token = ServiceToken::from_file(&self.service_token_file)?;
        let mailer = match &self.smtp_host {
            Some(host) => Mailer::smtp(&SmtpSettings {
                host: host.clone(),
                port: self.smtp_port,
                tls: self.smtp_tls,
                username: self.smtp_username.clone(),
                password: self.smtp_password.clone(),
                timeout: Duration::from_secs(10),
                ca_pem: self
                    .smtp_tls_ca_file
                    .as_deref()
                    .map(clinic_common::config::read_key_file)
                    .transpose()?,
            })?,
            None => Mailer::files(self.eml_dir.clone())?,
        };
        let from: Mailbox = self.mail_from.parse()?;
        Ok(Settings {
            listen_addr: self.listen_addr,
            database_url: self.db.database_url.clone(),
            database_max_connections: self.db.database_max_connections,
            verifier: self.verifier.load()?,
            sources: vec![
                Source {
                    name: "registration",
                    url: self.registration_url.clone(),
                },
                Source {
                    name: "appointment",
                    url: self.appointment_url.clone(),
                },
            ],
            registration_url: self.registration_url.clone(),
            service_token: token.clone(),
            mailer,
            consumer: ConsumerSettings {
                consumer: format!("notifier-{}", uuid::Uuid::now_v7().simple()),
                token,
                batch: 100,
                wait: Duration::from_millis(self.pull_wait_ms),
                call_deadline: Duration::from_millis(self.feed_call_deadline_ms),
                keep_alive_interval: Duration::from_millis(self.feed_keepalive_interval_ms),
                keep_alive_timeout: Duration::from_millis(self.feed_keepalive_timeout_ms),
                message_id_domain: self.message_id_domain.clone(),
            },
            sender: SenderSettings {
                from,
                activation_base_url: self.activation_base_url.clone(),
                activation_open: clinic_common::seal::OpeningKey::from_file(
                    &self.activation_open_key_file,
                )?,
                max_attempts: self.max_attempts,
                backoff_base: Duration::from_millis(self.backoff_base_ms),
                backoff_max: Duration::from_millis(self.backoff_max_ms),
                claim: Duration::from_secs(self.claim_seconds),
                attempt_deadline: Duration::from_secs(self.attempt_deadline_seconds),
                batch: self.send_parallelism,
                poll_fallback: Duration::from_secs(1),
            },
            purge: PurgeSettings {
                retention: Duration::from_secs(self.delivery_retention_hours * 3600),
                ..PurgeSettings::default()
            },
            drain_deadline: Duration::from_secs(self.shutdown_drain_seconds),
            tls: self.tls.load()?,
            migration_database_url: self.migrate.url()?,
        })
    }
}

/// `gen-seal-keypair`: the opening key readable by its owner only.
pub fn gen_seal_keypair(out_dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out_dir)?;
    let (open, public) = clinic_common::seal::generate_pair();
    let open_path = out_dir.join("seal_open.key");
    clinic_common::config::write_private_file(&open_path, &format!("{open}\n"), false)?;
    std::fs::write(out_dir.join("seal_public.key"), format!("{public}\n"))?;
    println!("wrote {} and seal_public.key", open_path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `serve` with only the required flags: every other knob at its default.
    fn defaults() -> ServeArgs {
        let cli = Cli::try_parse_from([
            "notifier-service",
            "serve",
            "--database-url",
            "postgres://notifier@localhost/clinic",
            "--jwt-public-key-file",
            "jwt.pem",
            "--service-token-file",
            "token",
            "--activation-open-key-file",
            "seal_open.key",
        ])
        .unwrap();
        match cli.command {
            Command::Serve(args) => *args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_default_drain_outlasts_a_send_and_its_sent_write() {
        let args = defaults();
        let claim = Duration::from_secs(args.claim_seconds);
        let attempt = Duration::from_secs(args.attempt_deadline_seconds);
        let drain = Duration::from_secs(args.shutdown_drain_seconds);
        assert!(claim >= attempt * 2);
        // What `SenderSettings::check_drain` asks of it: 2 × the claim + the last write's second.
        assert!(
            drain > claim * 2 + crate::pipeline::outcome::MIN_WRITE_TIME,
            "{drain:?}"
        );
    }
}
