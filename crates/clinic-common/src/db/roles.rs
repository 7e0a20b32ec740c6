//! Each service's two PostgreSQL roles (least privilege): a migration role that owns the service's
//! schema and alone may change it, and a runtime role the server connects as, which may read and
//! write the rows of that schema's tables and nothing else (no DDL, no other schema, no temporary
//! tables). `roles.sql` is the one definition; deploy (`<service> create-db-roles`), the local cluster
//! and the tests all provision through [`provision`].
//!
//! The roles are named by the URLs the service is given: the user and password of
//! `MIGRATION_DATABASE_URL` become the migration role, those of `DATABASE_URL` the runtime role.

use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use sqlx::{Connection, Executor, PgConnection, postgres::PgConnectOptions};

/// One login role: its name and password (`None`: no password, for trust or certificate auth).
#[derive(Debug, Clone)]
pub struct Login {
    pub name: String,
    pub password: Option<SecretString>,
}

impl Login {
    /// The user and password of a `postgres://user:password@host/db` URL (percent-decoded).
    pub fn from_url(url: &SecretString) -> anyhow::Result<(Login, String)> {
        let parsed = url::Url::parse(url.expose_secret())
            .map_err(|e| anyhow::anyhow!("not a PostgreSQL URL: {e}"))?;
        let decode = |s: &str| -> anyhow::Result<String> {
            Ok(percent_encoding::percent_decode_str(s)
                .decode_utf8()?
                .into_owned())
        };
        let name = decode(parsed.username())?;
        anyhow::ensure!(!name.is_empty(), "the URL names no user");
        let password = parsed
            .password()
            .map(decode)
            .transpose()?
            .filter(|p| !p.is_empty())
            .map(SecretString::from);
        let database = decode(parsed.path().trim_start_matches('/'))?;
        anyhow::ensure!(!database.is_empty(), "the URL names no database");
        Ok((Login { name, password }, database))
    }
}

/// What [`provision`] makes for one service.
#[derive(Debug, Clone)]
pub struct ServiceRoles {
    pub schema: &'static str,
    /// Extensions the service's migrations create (created here, in its schema, by the admin).
    pub extensions: &'static [&'static str],
    /// Owns the schema; runs the migrations.
    pub migration: Login,
    /// What the server connects as.
    pub runtime: Login,
}

impl ServiceRoles {
    /// The roles named by the service's two URLs, which must be for one database; returns it too.
    pub fn from_urls(
        schema: &'static str,
        extensions: &'static [&'static str],
        migration_url: &SecretString,
        runtime_url: &SecretString,
    ) -> anyhow::Result<(ServiceRoles, String)> {
        let (migration, db) = Login::from_url(migration_url)
            .map_err(|e| anyhow::anyhow!("MIGRATION_DATABASE_URL: {e}"))?;
        let (runtime, runtime_db) =
            Login::from_url(runtime_url).map_err(|e| anyhow::anyhow!("DATABASE_URL: {e}"))?;
        anyhow::ensure!(
            db == runtime_db,
            "MIGRATION_DATABASE_URL names database {db:?}, DATABASE_URL {runtime_db:?}"
        );
        let roles = ServiceRoles {
            schema,
            extensions,
            migration,
            runtime,
        };
        Ok((roles, db))
    }
}

/// Creates or updates `roles` in the database `admin` is connected to, in one transaction. `admin`
/// must be a superuser, or the database's owner with CREATEROLE. Idempotent; passwords are set anew.
pub async fn provision(admin: &mut PgConnection, roles: &ServiceRoles) -> anyhow::Result<()> {
    // The SCRAM-SHA-256 verifier, computed here: `ALTER ROLE` takes no parameters, so the value is
    // pasted into the statement's text, which the server repeats in an error's CONTEXT and its log.
    // A verifier there reveals no password (and the server stores a verifier as given, whatever its
    // `password_encryption`).
    let verifier = |l: &Login| {
        l.password
            .as_ref()
            .map(|p| postgres_protocol::password::scram_sha_256(p.expose_secret().as_bytes()))
            .unwrap_or_default()
    };
    let mut tx = admin.begin().await?;
    // One service at a time per database: concurrent GRANTs on the database and on `public` fail
    // ("tuple concurrently updated"), and compose runs the three services' jobs side by side.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('clinic_common::db::roles'))")
        .execute(&mut *tx)
        .await?;
    // Transaction-local parameters, bound: not even a verifier appears in this statement's text.
    sqlx::query(
        "SELECT set_config('clinic_roles.schema', $1, true), \
                set_config('clinic_roles.owner', $2, true), \
                set_config('clinic_roles.owner_verifier', $3, true), \
                set_config('clinic_roles.app', $4, true), \
                set_config('clinic_roles.app_verifier', $5, true), \
                set_config('clinic_roles.extensions', $6, true)",
    )
    .bind(roles.schema)
    .bind(&roles.migration.name)
    .bind(verifier(&roles.migration))
    .bind(&roles.runtime.name)
    .bind(verifier(&roles.runtime))
    .bind(roles.extensions.join(","))
    .execute(&mut *tx)
    .await?;
    tx.execute(sqlx::raw_sql(include_str!("roles.sql"))).await?;
    tx.commit().await?;
    Ok(())
}

/// `<service> create-db-roles`: connects with `admin_url` to the database the service's URLs name
/// and provisions the roles they name.
pub async fn provision_from_urls(
    admin_url: &SecretString,
    schema: &'static str,
    extensions: &'static [&'static str],
    migration_url: &SecretString,
    runtime_url: &SecretString,
) -> anyhow::Result<ServiceRoles> {
    let (roles, database) =
        ServiceRoles::from_urls(schema, extensions, migration_url, runtime_url)?;
    let options = PgConnectOptions::from_str(admin_url.expose_secret())?;
    anyhow::ensure!(
        options.get_database() == Some(database.as_str()),
        "ADMIN_DATABASE_URL must name the services' database {database:?}"
    );
    let mut admin = PgConnection::connect_with(&options).await?;
    provision(&mut admin, &roles).await?;
    admin.close().await?;
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn a_url_names_the_role_its_password_and_the_database() {
        let (login, db) = Login::from_url(&secret(
            "postgres://app%40x:p%2Fw@db:5432/clinic?sslmode=require",
        ))
        .unwrap();
        assert_eq!(login.name, "app@x");
        assert_eq!(login.password.unwrap().expose_secret(), "p/w");
        assert_eq!(db, "clinic");

        let (login, _) = Login::from_url(&secret("postgres://app@db/clinic")).unwrap();
        assert!(login.password.is_none());
        assert!(Login::from_url(&secret("postgres://db/clinic")).is_err());
        assert!(Login::from_url(&secret("postgres://app@db")).is_err());
    }

    #[test]
    fn the_two_urls_must_name_one_database() {
        let err = ServiceRoles::from_urls(
            "registration",
            &[],
            &secret("postgres://owner@db/a"),
            &secret("postgres://app@db/b"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"a\""), "{err}");
    }
}
