//! The binary's subcommands: serve, migrate, and operator actions. Every knob is a flag with an env
//! fallback, so `--help` lists them all.

use std::{io::BufRead, net::SocketAddr, num::NonZeroU32, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use clinic_common::{
    auth::{TokenIssuer, TokenVerifier, generate_key_pair, public_pem_from_private},
    config::{
        DatabaseArgs, DbRolesArgs, MigrateOnStartArgs, MigrationDatabaseArgs, OutboxArgs,
        ShutdownArgs, read_key_file, read_private_key_file,
    },
    db,
    healthcheck::HealthcheckArgs,
};
use uuid::Uuid;

use crate::{
    application::Settings,
    db::{EXTENSIONS, MIGRATOR, SCHEMA},
    limits::LimitSettings,
    service::operators::{self, NewAdmin},
};

#[derive(Parser, Debug)]
#[command(
    name = "registration-service",
    version,
    about = "Patient registration, approvals, accounts and tokens"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gRPC server.
    Serve(ServeArgs),
    /// Apply database migrations to the `registration` schema and exit (as the migration role).
    Migrate(MigrationDatabaseArgs),
    /// Create or update this service's database roles (idempotent; before `migrate`): the migration
    /// role owns the `registration` schema, the runtime role may only read and write its rows.
    CreateDbRoles(DbRolesArgs),
    /// Exit 0 when this service's server answers SERVING to grpc.health.v1.Health/Check (for
    /// container healthchecks); non-zero otherwise.
    Healthcheck {
        #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:50051")]
        listen_addr: SocketAddr,
        #[command(flatten)]
        check: HealthcheckArgs,
    },
    /// Create a clinic-center admin account (password read from stdin).
    CreateAdmin(AdminArgs),
    /// Create a clinic admin account bound to one clinic (password read from stdin).
    CreateClinicAdmin {
        #[command(flatten)]
        admin: AdminArgs,
        /// The clinic this admin manages.
        #[arg(long)]
        clinic_id: Uuid,
    },
    /// Print a long-lived token for an internal caller.
    MintServiceToken(MintArgs),
    /// Write a new Ed25519 key pair (jwt_private.pem, jwt_public.pem) into a directory.
    GenKeypair {
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
    },
    /// Write a development CA certificate (ca.pem; its key is not kept) and, per service, a
    /// certificate and key (<name>.pem, <name>.key) naming the service, localhost, 127.0.0.1 and
    /// ::1. For a laptop, compose and tests; production certificates come from your own CA.
    GenDevCerts {
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
        /// A service to issue a certificate for (repeat the flag).
        #[arg(
            long = "service",
            default_values = ["registration-service", "appointment-service", "notifier-service"]
        )]
        services: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct DbArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Args, Debug)]
pub struct AdminArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub first_name: String,
    #[arg(long)]
    pub last_name: String,
}

#[derive(Args, Debug)]
pub struct KeyArgs {
    /// PEM file of the Ed25519 private key (PKCS#8) that signs access tokens. Only this service has it.
    #[arg(long, env = "JWT_PRIVATE_KEY_FILE")]
    pub jwt_private_key_file: PathBuf,
}

#[derive(Args, Debug)]
pub struct MintArgs {
    #[command(flatten)]
    pub keys: KeyArgs,
    /// `appointment-service` or `notifier-service`; the token's subject becomes `service:<name>`,
    /// its audience the services that service calls.
    #[arg(long)]
    pub name: String,
    /// Lifetime in hours (at most 30 days): mint a new one before it ends and replace the file.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=720))]
    pub ttl_hours: u64,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:50051")]
    pub listen_addr: SocketAddr,
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// PEM file of more Ed25519 public keys whose tokens are accepted too: the previous signing
    /// key's while the signing key rotates (the signing key's own is always accepted).
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub tls: clinic_common::tls::TlsArgs,
    #[command(flatten)]
    pub shutdown: ShutdownArgs,
    #[command(flatten)]
    pub outbox: OutboxArgs,
    /// Lifetime of access tokens issued by Login (at most 3600).
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECONDS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(60..=3600))]
    pub access_token_ttl_seconds: u64,
    /// Lifetime of the activation link sent on approval.
    #[arg(long, env = "ACTIVATION_TOKEN_TTL_HOURS", default_value_t = 72)]
    pub activation_token_ttl_hours: u64,
    /// Public calls (SubmitRegistration, ActivateAccount, Login) per client address per minute.
    #[arg(long, env = "RATE_LIMIT_PER_ADDRESS_PER_MINUTE", default_value_t = LimitSettings::default().per_address_per_minute)]
    pub rate_limit_per_address_per_minute: NonZeroU32,
    /// Login attempts per account (e-mail) per minute: the cap on guessing one password.
    #[arg(long, env = "LOGIN_ATTEMPTS_PER_ACCOUNT_PER_MINUTE", default_value_t = LimitSettings::default().logins_per_account_per_minute)]
    pub login_attempts_per_account_per_minute: NonZeroU32,
    /// Longest wait for a registration request's row lock before answering REGISTRATION_BUSY.
    #[arg(long, env = "LOCK_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub lock_timeout_ms: u64,
    /// The notifier's activation-token sealing key (`notifier-service gen-seal-keypair`): tokens are
    /// sealed with it before they reach the outbox, so only the notifier can read them.
    #[arg(long, env = "ACTIVATION_SEAL_KEY_FILE")]
    pub activation_seal_key_file: PathBuf,
    #[command(flatten)]
    pub migrate: MigrateOnStartArgs,
}

impl KeyArgs {
    /// The issuer, and a verifier of its tokens and of those signed by the keys in `also` (a PEM file).
    fn load_accepting(
        &self,
        also: Option<&std::path::Path>,
    ) -> anyhow::Result<(TokenIssuer, TokenVerifier)> {
        let private = read_private_key_file(&self.jwt_private_key_file)?;
        let mut public = public_pem_from_private(&private)?;
        if let Some(path) = also {
            public.push_str(&read_key_file(path)?);
        }
        Ok((
            TokenIssuer::from_pem(&private)?,
            TokenVerifier::from_pem(&public)?,
        ))
    }

    fn load(&self) -> anyhow::Result<(TokenIssuer, TokenVerifier)> {
        self.load_accepting(None)
    }
}

impl ServeArgs {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let (issuer, verifier) = self
            .keys
            .load_accepting(self.jwt_public_key_file.as_deref())?;
        Ok(Settings {
            listen_addr: self.listen_addr,
            database_url: self.db.database_url.clone(),
            database_max_connections: self.db.database_max_connections,
            lock_timeout: Duration::from_millis(self.lock_timeout_ms),
            issuer,
            verifier,
            access_token_ttl: Duration::from_secs(self.access_token_ttl_seconds),
            activation_token_ttl: Duration::from_secs(self.activation_token_ttl_hours * 3600),
            drain_deadline: self.shutdown.drain_deadline(),
            outbox: self.outbox.settings(),
            limits: LimitSettings {
                per_address_per_minute: self.rate_limit_per_address_per_minute,
                logins_per_account_per_minute: self.login_attempts_per_account_per_minute,
            },
            activation_seal: clinic_common::seal::SealingKey::from_file(
                &self.activation_seal_key_file,
            )?,
            tls: self.tls.load()?,
            server_limits: Default::default(),
            migration_database_url: self.migrate.url()?,
        })
    }
}

fn read_password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on stdin");
    Ok(password)
}

async fn create_admin(args: &AdminArgs, clinic_id: Option<Uuid>) -> anyhow::Result<()> {
    let pool = db::pool(&args.db.db.database_url, SCHEMA, 1)?;
    let new = NewAdmin {
        email: args.email.clone(),
        password: read_password_from_stdin()?,
        first_name: args.first_name.clone(),
        last_name: args.last_name.clone(),
        clinic_id,
    };
    let id = operators::create_admin(&pool, new)
        .await
        .map_err(|e| anyhow::anyhow!("{:?}", e.to_api()))?;
    println!("{id}");
    Ok(())
}

/// Runs every subcommand except `serve`, which `main` owns.
pub async fn run_operator_command(command: &Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(_) => unreachable!("serve is run by main"),
        Command::Healthcheck { listen_addr, check } => {
            check.run(*listen_addr, crate::error::DOMAIN).await?
        }
        Command::Migrate(args) => args.migrate(SCHEMA, &MIGRATOR).await?,
        Command::CreateDbRoles(args) => args.run(SCHEMA, EXTENSIONS).await?,
        Command::CreateAdmin(args) => create_admin(args, None).await?,
        Command::CreateClinicAdmin { admin, clinic_id } => {
            create_admin(admin, Some(*clinic_id)).await?
        }
        Command::MintServiceToken(args) => {
            let (issuer, _) = args.keys.load()?;
            let ttl = Duration::from_secs(args.ttl_hours * 3600);
            println!(
                "{}",
                operators::mint_service_token(&issuer, &args.name, ttl)?
            );
        }
        Command::GenKeypair { out_dir } => {
            let pair = generate_key_pair()?;
            std::fs::create_dir_all(out_dir)?;
            let private = out_dir.join("jwt_private.pem");
            clinic_common::config::write_private_file(&private, &pair.private_pem, true)?;
            std::fs::write(out_dir.join("jwt_public.pem"), &pair.public_pem)?;
            eprintln!("wrote {} and jwt_public.pem", private.display());
        }
        Command::GenDevCerts { out_dir, services } => {
            let names: Vec<&str> = services.iter().map(String::as_str).collect();
            clinic_common::tls::write_dev_certificates(out_dir, &names)?;
            eprintln!(
                "wrote ca.pem and a certificate per service in {}",
                out_dir.display()
            );
        }
    }
    Ok(())
}
