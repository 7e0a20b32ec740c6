//! The service's database roles (`clinic_common::db::roles`, what `create-db-roles` runs) beyond what
//! every other test shows by serving as the runtime role: a database whose schema was made before the
//! roles existed is taken over, and a name that belongs to a powerful role is never reused.

use std::sync::Arc;

use clinic_common::{
    db::roles::{self, Login, ServiceRoles},
    testing::{TestDb, TestKeys},
};
use registration_service::db::{EXTENSIONS, MIGRATOR, SCHEMA};
use secrecy::ExposeSecret;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use crate::helpers::{approve, form, spawn_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_migrated_before_its_roles_existed_is_handed_to_the_migration_role_and_serves() {
    // Arrange: the schema as a release before the roles made it, as the superuser.
    let db = Arc::new(TestDb::create().await);
    let admin_pool = db.pool(SCHEMA).await;
    clinic_common::db::migrate(&admin_pool, SCHEMA, &MIGRATOR)
        .await
        .unwrap();

    // Act: the roles are made (the schema and its tables change hands), the service migrates as the
    // migration role and serves as the runtime role.
    let app = spawn_on(db.clone(), Arc::new(TestKeys::generate())).await;
    let admin = app.admin(1).await;
    let req = app.submit(form()).await;
    let approved = app
        .client()
        .await
        .approve_registration_request(approve(&req.id, 1, &admin.token))
        .await;

    // Assert
    assert!(approved.is_ok(), "{approved:?}");
    let urls = db.service_urls(SCHEMA, EXTENSIONS).await;
    let owners: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, pg_get_userbyid(c.relowner)::text FROM pg_class c \
         WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'v', 'S') ORDER BY 1",
    )
    .bind(SCHEMA)
    .fetch_all(&admin_pool)
    .await
    .unwrap();
    assert!(owners.len() > 4, "{owners:?}");
    for (relation, owner) in owners {
        assert_eq!(owner, urls.migration_role, "{relation}");
    }
}

#[tokio::test]
async fn a_name_that_belongs_to_a_powerful_role_is_refused_and_that_role_left_as_it_was() {
    let db = TestDb::create().await;
    let urls = db.role_urls("probe").await;
    let mut admin = PgConnection::connect(&db.url).await.unwrap();
    // The name is made by TestDb, never input.
    admin
        .execute(sqlx::raw_sql(AssertSqlSafe(format!(
            r#"CREATE ROLE "{}" CREATEROLE"#,
            urls.runtime_role
        ))))
        .await
        .unwrap();
    let login = |name: &str| Login {
        name: name.to_owned(),
        password: None,
    };

    let refused = roles::provision(
        &mut admin,
        &ServiceRoles {
            schema: "probe",
            extensions: &[],
            migration: login(&urls.migration_role),
            runtime: login(&urls.runtime_role),
        },
    )
    .await;
    let me: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    let as_admin = roles::provision(
        &mut admin,
        &ServiceRoles {
            schema: "probe",
            extensions: &[],
            migration: login(&me),
            runtime: login(&urls.migration_role),
        },
    )
    .await;

    let message = refused.unwrap_err().to_string();
    assert!(message.contains("powers beyond its schema"), "{message}");
    assert!(as_admin.is_err(), "the provisioning role itself is refused");
    let (can_create_roles, schema_made): (bool, bool) = sqlx::query_as(
        "SELECT rolcreaterole, EXISTS (SELECT FROM pg_namespace WHERE nspname = 'probe') \
         FROM pg_roles WHERE rolname = $1",
    )
    .bind(&urls.runtime_role)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(can_create_roles && !schema_made, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_services_provisioned_at_once_on_one_database_all_get_their_roles() {
    // Arrange: compose starts the three services' create-db-roles jobs side by side.
    let db = Arc::new(TestDb::create().await);
    let barrier = Arc::new(tokio::sync::Barrier::new(3));
    let mut runs = Vec::new();
    for schema in ["alpha", "beta", "gamma"] {
        let (db, barrier) = (db.clone(), barrier.clone());
        runs.push(tokio::spawn(async move {
            let urls = db.role_urls(schema).await;
            let (service, _) = ServiceRoles::from_urls(schema, &[], &urls.migration, &urls.runtime)
                .expect("role URLs");
            let mut admin = PgConnection::connect(&db.url).await.unwrap();
            barrier.wait().await;
            roles::provision(&mut admin, &service).await
        }));
    }

    // Act
    let mut outcomes = Vec::new();
    for run in runs {
        outcomes.push(run.await.unwrap());
    }

    // Assert: none trips over another's grants on the database ("tuple concurrently updated").
    for outcome in outcomes {
        assert!(outcome.is_ok(), "{outcome:?}");
    }
}

#[tokio::test]
async fn a_failing_role_change_never_shows_the_password_and_a_stored_one_is_a_scram_verifier() {
    // Arrange: the roles exist, made by a superuser whose server would hash a clear password as MD5.
    let db = TestDb::create().await;
    let urls = db.role_urls("probe").await;
    let (service, _) =
        ServiceRoles::from_urls("probe", &[], &urls.migration, &urls.runtime).unwrap();
    let mut admin = PgConnection::connect(&db.url).await.unwrap();
    admin
        .execute("SET password_encryption = 'md5'")
        .await
        .unwrap();
    roles::provision(&mut admin, &service).await.unwrap();
    // A provisioning role that may not change roles (no CREATEROLE): its `ALTER ROLE` fails, and the
    // server puts the failing statement in the error's CONTEXT and in its log.
    let weak = db.role_urls("weakprov").await;
    let (weak_login, _) = Login::from_url(&weak.migration).unwrap();
    let weak_password = weak_login.password.unwrap().expose_secret().to_owned();
    // The name and password are made by TestDb, never input; it drops the role with the database.
    admin
        .execute(sqlx::raw_sql(AssertSqlSafe(format!(
            r#"CREATE ROLE "{}" LOGIN PASSWORD '{weak_password}'"#,
            weak.migration_role
        ))))
        .await
        .unwrap();
    let (owner_login, _) = Login::from_url(&urls.migration).unwrap();
    let owner_password = owner_login.password.unwrap().expose_secret().to_owned();
    let new_password = format!("Do not log {}", uuid::Uuid::new_v4().simple());
    let renewed = ServiceRoles {
        runtime: Login {
            name: urls.runtime_role.clone(),
            password: Some(new_password.clone().into()),
        },
        ..service
    };

    // Act
    let mut weak_conn = PgConnection::connect(weak.migration.expose_secret())
        .await
        .unwrap();
    let failed = roles::provision(&mut weak_conn, &renewed).await;

    // Assert: it failed, and nothing the client (or the server's log) got holds the clear password.
    let err = failed.expect_err("a role without CREATEROLE cannot change another role");
    let context = err
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .and_then(|e| e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
        .and_then(|e| e.r#where().map(str::to_owned))
        .unwrap_or_default();
    let everything = format!("{err:#} {err:?} {context}");
    assert!(everything.contains("ALTER ROLE"), "{everything}");
    assert!(!everything.contains(&new_password), "{everything}");
    assert!(!everything.contains(&owner_password), "{everything}");
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT rolpassword FROM pg_authid WHERE rolname IN ($1, $2) ORDER BY rolname",
    )
    .bind(&urls.migration_role)
    .bind(&urls.runtime_role)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(stored.len(), 2);
    for verifier in stored {
        assert!(verifier.starts_with("SCRAM-SHA-256$4096:"), "{verifier}");
    }
}
