//! Config pieces every service flattens into its own typed, env-backed config (`--help` lists each knob).

use std::{path::PathBuf, time::Duration};

use secrecy::SecretString;

use crate::auth::TokenVerifier;

/// Where the service's PostgreSQL is. The URL is a secret: it never reaches logs or `Debug` output.
#[derive(clap::Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// PostgreSQL URL of the service's runtime role: it reads and writes the rows of the service's
    /// schema, and may change nothing else (see `create-db-roles`).
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true, value_parser = parse_secret)]
    pub database_url: SecretString,
    /// Upper bound of the connection pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,
}

/// The migration role's connection, for `migrate`: that role owns the service's schema and may change it.
#[derive(clap::Args, Debug, Clone)]
pub struct MigrationDatabaseArgs {
    /// PostgreSQL URL of the migration role (owner of the service's schema, the only role that may
    /// change it).
    #[arg(long, env = "MIGRATION_DATABASE_URL", hide_env_values = true, value_parser = parse_secret)]
    pub migration_database_url: SecretString,
}

impl MigrationDatabaseArgs {
    pub async fn migrate(
        &self,
        schema: &'static str,
        migrator: &sqlx::migrate::Migrator,
    ) -> anyhow::Result<()> {
        crate::db::migrate_url(&self.migration_database_url, schema, migrator).await?;
        eprintln!("{schema} schema migrated");
        Ok(())
    }
}

/// `serve`'s development shortcut: migrate first, as the migration role.
#[derive(clap::Args, Debug, Clone)]
pub struct MigrateOnStartArgs {
    /// Apply migrations at start-up, connected as MIGRATION_DATABASE_URL (development; production runs
    /// `migrate`). The server itself connects as DATABASE_URL.
    #[arg(long, env = "MIGRATE_ON_START", default_value_t = false)]
    pub migrate_on_start: bool,
    /// PostgreSQL URL of the migration role (owner of the service's schema), for MIGRATE_ON_START only.
    #[arg(long, env = "MIGRATION_DATABASE_URL", hide_env_values = true, value_parser = parse_secret)]
    pub migration_database_url: Option<SecretString>,
}

impl MigrateOnStartArgs {
    /// The URL to migrate with before serving, if the service should.
    pub fn url(&self) -> anyhow::Result<Option<SecretString>> {
        if !self.migrate_on_start {
            return Ok(None);
        }
        let url = self.migration_database_url.clone();
        anyhow::ensure!(
            url.is_some(),
            "MIGRATE_ON_START needs MIGRATION_DATABASE_URL (the migration role's URL)"
        );
        Ok(url)
    }
}

/// `create-db-roles`: the service's migration and runtime roles, as its two URLs name them.
#[derive(clap::Args, Debug, Clone)]
pub struct DbRolesArgs {
    /// PostgreSQL URL of a role that may create roles, on the services' database: a superuser, or the
    /// database's owner with CREATEROLE. Only this command uses it.
    #[arg(long, env = "ADMIN_DATABASE_URL", hide_env_values = true, value_parser = parse_secret)]
    pub admin_database_url: SecretString,
    /// The migration role's URL (what `migrate` gets): its user becomes the schema's owner, with this
    /// password.
    #[arg(long, env = "MIGRATION_DATABASE_URL", hide_env_values = true, value_parser = parse_secret)]
    pub migration_database_url: SecretString,
    /// The runtime role's URL (what `serve` gets): its user may read and write the schema's rows and
    /// nothing else, with this password.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = parse_secret)]
    pub database_url: SecretString,
}

impl DbRolesArgs {
    /// Creates or updates the roles (idempotent: run it on every deploy, before `migrate`).
    pub async fn run(
        &self,
        schema: &'static str,
        extensions: &'static [&'static str],
    ) -> anyhow::Result<()> {
        let roles = crate::db::roles::provision_from_urls(
            &self.admin_database_url,
            schema,
            extensions,
            &self.migration_database_url,
            &self.database_url,
        )
        .await?;
        eprintln!(
            "{schema}: migration role {}, runtime role {}",
            roles.migration.name, roles.runtime.name
        );
        Ok(())
    }
}

/// How the gRPC server stops.
#[derive(clap::Args, Debug, Clone)]
pub struct ShutdownArgs {
    /// After SIGTERM: how long in-flight calls may take to finish before they are dropped.
    #[arg(long, env = "SHUTDOWN_DRAIN_SECONDS", default_value_t = 20)]
    pub shutdown_drain_seconds: u64,
}

impl ShutdownArgs {
    pub fn drain_deadline(&self) -> Duration {
        Duration::from_secs(self.shutdown_drain_seconds)
    }
}

/// The public key every service verifies access tokens with.
#[derive(clap::Args, Debug, Clone)]
pub struct VerifierArgs {
    /// PEM file of the Ed25519 public key (SPKI) that verifies access tokens.
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: PathBuf,
}

impl VerifierArgs {
    pub fn load(&self) -> anyhow::Result<TokenVerifier> {
        let pem = read_key_file(&self.jwt_public_key_file)?;
        Ok(TokenVerifier::from_pem(&pem)?)
    }
}

pub fn parse_secret(raw: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(raw.to_owned()))
}

pub fn read_key_file(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read key file {}: {e}", path.display()))
}

/// [`read_key_file`] for a private key: refused when other users may read or write it (a group may
/// read it, as a Kubernetes Secret mounted with `defaultMode: 0440` is).
pub fn read_private_key_file(path: &std::path::Path) -> anyhow::Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| anyhow::anyhow!("cannot read key file {}: {e}", path.display()))?
            .permissions()
            .mode();
        anyhow::ensure!(
            mode & 0o027 == 0,
            "private key file {} is open to other users (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        );
    }
    read_key_file(path)
}

/// Writes `contents` to a file only its owner may read or write (mode 0600). With `replace` false an
/// existing file is an error (a key in use is never overwritten by accident).
pub fn write_private_file(
    path: &std::path::Path,
    contents: &str,
    replace: bool,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if replace {
        // A file left from before keeps its mode when truncated; start from a new one.
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                anyhow::bail!("cannot replace {}: {e}", path.display())
            }
            _ => {}
        }
    }
    options.create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// The outbox feed a producing service serves.
#[derive(clap::Args, Debug, Clone)]
pub struct OutboxArgs {
    /// How long a pulled, unacked outbox event stays leased before it is delivered again.
    #[arg(long, env = "OUTBOX_LEASE_SECONDS", default_value_t = 30)]
    pub outbox_lease_seconds: u64,
    /// How long delivered outbox events are kept before they are purged.
    #[arg(long, env = "OUTBOX_RETENTION_HOURS", default_value_t = 168)]
    pub outbox_retention_hours: u64,
    /// How many times an outbox event is handed out; when the last lease expires unacked the event is
    /// parked (kept, never handed out again, logged at error, listed in the `outbox_parked` view).
    #[arg(long, env = "OUTBOX_MAX_DELIVERIES", default_value_t = 10, value_parser = clap::value_parser!(i32).range(1..))]
    pub outbox_max_deliveries: i32,
}

impl OutboxArgs {
    pub fn settings(&self) -> crate::outbox::FeedSettings {
        crate::outbox::FeedSettings {
            lease: Duration::from_secs(self.outbox_lease_seconds),
            retention: Duration::from_secs(self.outbox_retention_hours * 3600),
            max_deliveries: self.outbox_max_deliveries,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_private_key_open_to_other_users_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt_private.pem");
        std::fs::write(&path, "key").unwrap();
        for (mode, ok) in [
            (0o600, true),
            (0o400, true),
            (0o640, true),
            (0o440, true),
            (0o644, false),
            (0o660, false),
            (0o606, false),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_private_key_file(&path).is_ok(), ok, "mode {mode:o}");
        }
    }
}
