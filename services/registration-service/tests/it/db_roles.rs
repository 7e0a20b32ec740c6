//! The service's database roles (`clinic_common::db::roles`, what `create-db-roles` runs) beyond what
//! every other test shows by serving as the runtime role: a database whose schema was made before the
//! roles existed is taken over, and a name that belongs to a powerful role is never reused.

use std::sync::Arc;

use clinic_common::{
    db::roles::{self, Login, ServiceRoles},
    testing::{TestDb, TestKeys},
};
use registration_service::db::{EXTENSIONS, MIGRATOR, SCHEMA};
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
