//! A real PostgreSQL for tests. `DATABASE_URL` (any database on a server where we may CREATE DATABASE
//! and CREATE ROLE) wins; otherwise a throwaway cluster is started once per test process from the
//! PostgreSQL binaries on the machine and stopped when the process exits.

use std::{collections::HashMap, sync::OnceLock};

use secrecy::SecretString;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use uuid::Uuid;

use super::PgCluster;
use crate::db::roles::{self, ServiceRoles};

/// One fresh, empty database, dropped when this value is dropped (with the roles made for it).
pub struct TestDb {
    /// The test's own connection: the server's admin, who sees and may do everything.
    pub url: String,
    pub name: String,
    admin_url: String,
    /// Per schema, the roles' URLs handed out (dropped with the database) and whether they were made.
    roles: tokio::sync::Mutex<HashMap<&'static str, (ServiceUrls, bool)>>,
}

/// A service's two connections to a [`TestDb`], as deploy gives them: `migration` as the role that
/// owns the schema, `runtime` as the role the server runs as (its schema's rows, nothing else).
#[derive(Debug, Clone)]
pub struct ServiceUrls {
    pub migration: SecretString,
    pub runtime: SecretString,
    pub migration_role: String,
    pub runtime_role: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let admin_url = server_url().to_owned();
        let name = format!("clinic_test_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to test PostgreSQL: {e}"));
        // The name is generated above, never input.
        conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
            r#"CREATE DATABASE "{name}""#
        ))))
        .await
        .expect("create test database");
        let url = with_database(&admin_url, &name);
        TestDb {
            url,
            name,
            admin_url,
            roles: Default::default(),
        }
    }

    /// The migration and runtime roles of `schema` on this database, made on first use by
    /// [`roles::provision`] as `create-db-roles` makes them.
    pub async fn service_urls(
        &self,
        schema: &'static str,
        extensions: &'static [&'static str],
    ) -> ServiceUrls {
        let mut known = self.roles.lock().await;
        let (urls, provisioned) = known
            .entry(schema)
            .or_insert_with(|| (self.new_role_urls(schema), false));
        if !*provisioned {
            let (service, _) =
                ServiceRoles::from_urls(schema, extensions, &urls.migration, &urls.runtime)
                    .expect("the test's role URLs");
            let mut admin = PgConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            roles::provision(&mut admin, &service)
                .await
                .unwrap_or_else(|e| panic!("provision the {schema} roles: {e:#}"));
            let _ = admin.close().await;
            *provisioned = true;
        }
        urls.clone()
    }

    /// URLs naming `schema`'s two roles on this database, which are not made here: for a test that
    /// makes them the way deploy does (`create-db-roles`). Dropped with the database all the same.
    pub async fn role_urls(&self, schema: &'static str) -> ServiceUrls {
        let mut known = self.roles.lock().await;
        let (urls, _) = known
            .entry(schema)
            .or_insert_with(|| (self.new_role_urls(schema), false));
        urls.clone()
    }

    /// Roles are cluster-wide: their names carry this database's. With passwords, so they sign in
    /// whatever authentication the server asks of them.
    fn new_role_urls(&self, schema: &str) -> ServiceUrls {
        let tag = self.name.trim_start_matches("clinic_test_");
        let role = |kind: &str| format!("t{tag}_{schema}_{kind}");
        let url = |role: &str| {
            let password = Uuid::new_v4().simple().to_string();
            SecretString::from(with_login(&self.url, role, &password))
        };
        let (migration_role, runtime_role) = (role("owner"), role("app"));
        ServiceUrls {
            migration: url(&migration_role),
            runtime: url(&runtime_role),
            migration_role,
            runtime_role,
        }
    }

    pub fn secret_url(&self) -> secrecy::SecretString {
        secrecy::SecretString::from(self.url.clone())
    }

    /// A pool on the test database with `search_path` set to `schema`.
    pub async fn pool(&self, schema: &'static str) -> sqlx::PgPool {
        crate::db::pool(&self.secret_url(), schema, 5).expect("test pool")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        let roles: Vec<String> = self
            .roles
            .get_mut()
            .values()
            .flat_map(|(u, _)| [u.migration_role.clone(), u.runtime_role.clone()])
            .collect();
        // Drop runs inside the test's runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = conn
                        .execute(sqlx::raw_sql(AssertSqlSafe(format!(
                            r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                        ))))
                        .await;
                    // Their objects and rights went with the database. The names are made above.
                    for role in roles {
                        let _ = conn
                            .execute(sqlx::raw_sql(AssertSqlSafe(format!(
                                r#"DROP ROLE IF EXISTS "{role}""#
                            ))))
                            .await;
                    }
                }
            });
        })
        .join();
    }
}

/// Replaces the database name in a `postgres://…/db?params` URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|j| start + j))
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Replaces the user and password in a `postgres://user:pw@host/db` URL (both plain ASCII names).
pub fn with_login(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let host = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{scheme}://{user}:{password}@{host}")
}

fn server_url() -> &'static str {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    match URL.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Ok(url),
        _ => throwaway_cluster(),
    }) {
        Ok(url) => url,
        Err(msg) => panic!("{msg}"),
    }
}

/// One cluster per test process, kept for the process's lifetime (its watchdog removes it after).
fn throwaway_cluster() -> Result<String, String> {
    static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
    let cluster = PgCluster::start_new("test")?;
    Ok(CLUSTER.get_or_init(|| cluster).url())
}

#[cfg(test)]
mod tests {
    use super::{with_database, with_login};

    #[test]
    fn replaces_database_keeping_params() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }

    #[test]
    fn replaces_the_user_and_password() {
        assert_eq!(
            with_login("postgres://u:p@h:5432/db?sslmode=disable", "app", "pw"),
            "postgres://app:pw@h:5432/db?sslmode=disable"
        );
        assert_eq!(
            with_login("postgres://h/db", "app", "pw"),
            "postgres://app:pw@h/db"
        );
    }
}
