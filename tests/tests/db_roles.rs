//! Least privilege in the database, as deployed (`deploy/local/cluster.sh`, compose, Kubernetes): each
//! service's roles made by its `create-db-roles`, its schema by `migrate` as its migration role, and
//! `serve` connected as its runtime role. Every service process is connected as its own runtime role,
//! and that role reads and writes its own schema's rows and can do nothing else: no other schema, no
//! DDL, no temporary tables, no migration history. (The suites of each service, which run every RPC
//! as the runtime role, show it is enough.)

use std::collections::BTreeSet;

use clinic_common::db::roles::Login;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use system_tests::cluster::{Cluster, Kind};

const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// What one role was seen to do that it should not, or not to do that it should.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    /// Runs `sql` as `conn` in a transaction that is rolled back; records a mismatch with `allowed`.
    async fn check(&mut self, conn: &mut PgConnection, who: &str, sql: &str, allowed: bool) {
        let mut tx = conn.begin().await.expect("begin");
        // Catalog names quoted by the caller; no input.
        let result = tx
            .execute(sqlx::raw_sql(AssertSqlSafe(sql.to_owned())))
            .await;
        tx.rollback().await.expect("rollback");
        match (result, allowed) {
            (Ok(_), true) => {}
            (Ok(_), false) => self.0.push(format!("{who} may: {sql}")),
            (Err(sqlx::Error::Database(e)), false)
                if e.code().as_deref() == Some(INSUFFICIENT_PRIVILEGE) => {}
            (Err(e), false) => self
                .0
                .push(format!("{who}: {sql}: refused, but not for rights: {e}")),
            (Err(e), true) => self.0.push(format!("{who} may not: {sql}: {e}")),
        }
    }
}

/// `(schema, table, first column)` of every table of the three schemas, as the superuser sees them.
async fn tables(admin: &mut PgConnection) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT n.nspname::text, c.relname::text, a.attname::text \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = 1 \
         WHERE c.relkind = 'r' AND n.nspname IN ('registration', 'appointment', 'notifier') \
         ORDER BY 1, 2",
    )
    .fetch_all(admin)
    .await
    .expect("list tables")
}

fn user_of(url: &str) -> String {
    let (login, _) = Login::from_url(&url.to_owned().into()).expect("a URL with a user");
    login.name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_connects_as_a_runtime_role_that_reaches_only_its_own_schemas_rows() {
    // Arrange: one replica of each service, as deployed.
    let cluster = Cluster::start("roles", 1).await.expect("cluster");
    let serving: Vec<(Kind, String)> = Kind::ALL
        .into_iter()
        .zip([
            &cluster.registration,
            &cluster.appointment,
            &cluster.notifier,
        ])
        .map(|(kind, procs)| {
            let url = procs[0]
                .env_var("DATABASE_URL")
                .expect("serve gets DATABASE_URL");
            (kind, url.to_owned())
        })
        .collect();
    let mut admin = PgConnection::connect(&cluster.pg.url()).await.unwrap();
    let tables = tables(&mut admin).await;
    assert!(
        tables.len() > 8,
        "the three schemas are migrated: {tables:?}"
    );

    let mut findings = Findings::default();

    // Assert: three roles, none a superuser, and the services' sessions are theirs (each service
    // holds its LISTEN connection).
    let expected: BTreeSet<String> = serving.iter().map(|(_, url)| user_of(url)).collect();
    if expected.len() != 3 {
        findings
            .0
            .push(format!("the services share roles: {expected:?}"));
    }
    let superusers: Vec<String> = sqlx::query_scalar(
        "SELECT rolname::text FROM pg_roles WHERE rolsuper AND rolname = ANY($1)",
    )
    .bind(expected.iter().collect::<Vec<_>>())
    .fetch_all(&mut admin)
    .await
    .unwrap();
    if !superusers.is_empty() {
        findings
            .0
            .push(format!("services serve as superusers: {superusers:?}"));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let users: BTreeSet<String> = sqlx::query_scalar(
            "SELECT DISTINCT usename::text FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap()
        .into_iter()
        .collect();
        if users == expected {
            break;
        }
        if std::time::Instant::now() > deadline || !users.is_subset(&expected) {
            findings.0.push(format!(
                "the services are connected as {users:?}, not as their runtime roles {expected:?}"
            ));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Assert: what each runtime role may and may not do.
    for (kind, url) in &serving {
        let own = kind.schema();
        let who = format!("{} runtime role {}", kind.binary(), user_of(url));
        let mut conn = PgConnection::connect(url)
            .await
            .expect("runtime role signs in");
        for (schema, table, column) in &tables {
            let t = format!(r#""{schema}"."{table}""#);
            let history = table == "_sqlx_migrations";
            let mine = schema == own && !history;
            findings
                .check(&mut conn, &who, &format!("SELECT FROM {t} LIMIT 1"), mine)
                .await;
            findings
                .check(
                    &mut conn,
                    &who,
                    &format!(
                        r#"INSERT INTO {t} ("{column}") SELECT "{column}" FROM {t} WHERE false"#
                    ),
                    mine,
                )
                .await;
            findings
                .check(
                    &mut conn,
                    &who,
                    &format!(r#"UPDATE {t} SET "{column}" = "{column}" WHERE false"#),
                    mine,
                )
                .await;
            findings
                .check(
                    &mut conn,
                    &who,
                    &format!("DELETE FROM {t} WHERE false"),
                    mine,
                )
                .await;
            if schema == own {
                for ddl in [
                    format!("DROP TABLE {t}"),
                    format!("ALTER TABLE {t} ADD COLUMN probe int"),
                    format!(r#"CREATE INDEX probe ON {t} ("{column}")"#),
                    format!("TRUNCATE {t}"),
                ] {
                    findings.check(&mut conn, &who, &ddl, false).await;
                }
            }
        }
        for sql in [
            format!(r#"CREATE TABLE "{own}".probe (i int)"#),
            format!(r#"CREATE VIEW "{own}".probe AS SELECT 1 AS i"#),
            format!(r#"CREATE FUNCTION "{own}".probe() RETURNS int LANGUAGE sql AS 'SELECT 1'"#),
            "CREATE TEMPORARY TABLE probe (i int)".to_owned(),
            "CREATE TABLE public.probe (i int)".to_owned(),
            "CREATE SCHEMA probe".to_owned(),
            format!(
                r#"SET ROLE "{}""#,
                user_of(&cluster.db_urls(*kind).migration)
            ),
        ] {
            findings.check(&mut conn, &who, &sql, false).await;
        }
        conn.close().await.unwrap();

        // The migration role changes its own schema, and only that.
        let migration = &cluster.db_urls(*kind).migration;
        let who = format!("{} migration role {}", kind.binary(), user_of(migration));
        let mut conn = PgConnection::connect(migration)
            .await
            .expect("migration role signs in");
        findings
            .check(
                &mut conn,
                &who,
                &format!(r#"CREATE TABLE "{own}".probe (i int)"#),
                true,
            )
            .await;
        for (schema, table, _) in tables.iter().filter(|(s, _, _)| s != own) {
            findings
                .check(
                    &mut conn,
                    &who,
                    &format!(r#"SELECT FROM "{schema}"."{table}" LIMIT 1"#),
                    false,
                )
                .await;
        }
        findings
            .check(&mut conn, &who, "CREATE SCHEMA probe", false)
            .await;
        findings
            .check(
                &mut conn,
                &who,
                "CREATE TEMPORARY TABLE probe (i int)",
                false,
            )
            .await;
        conn.close().await.unwrap();
    }
    assert!(
        findings.0.is_empty(),
        "{} findings ({}):\n{}",
        findings.0.len(),
        cluster.describe(),
        findings.0.join("\n")
    );
}
