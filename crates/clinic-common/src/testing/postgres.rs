//! A real PostgreSQL for tests. `DATABASE_URL` (any database on a server where we may CREATE DATABASE)
//! wins; otherwise a throwaway cluster is started once per test process from the PostgreSQL binaries on
//! the machine and stopped when the process exits.

use std::sync::OnceLock;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use uuid::Uuid;

use super::PgCluster;

/// One fresh, empty database, dropped when this value is dropped.
pub struct TestDb {
    pub url: String,
    pub name: String,
    admin_url: String,
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
    use super::with_database;

    #[test]
    fn replaces_database_keeping_params() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
