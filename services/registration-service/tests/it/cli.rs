//! The operator commands, run as the real binary: database roles, keys, migrations, admins (password on
//! stdin), service tokens.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use clinic_common::{
    auth::{Role, TokenVerifier},
    testing::TestDb,
};
use secrecy::ExposeSecret;

const BIN: &str = env!("CARGO_BIN_EXE_registration-service");

fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> String {
    let mut child = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn registration-service");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_create_roles_keys_schema_admins_and_service_tokens() {
    let db = TestDb::create().await;
    let urls = db.role_urls("registration").await;
    let (migration, runtime) = (urls.migration.expose_secret(), urls.runtime.expose_secret());
    let dir = std::env::temp_dir().join(format!("clinic-cli-{}", uuid::Uuid::new_v4().simple()));
    let dir_s = dir.to_str().unwrap();

    run(&["gen-keypair", "--out-dir", dir_s], &[], None);
    let private = dir.join("jwt_private.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the private key is readable by its owner only");
    }
    // Twice, as every deploy runs it: the second run changes nothing.
    let roles_env = [
        ("ADMIN_DATABASE_URL", db.url.as_str()),
        ("MIGRATION_DATABASE_URL", migration),
        ("DATABASE_URL", runtime),
    ];
    run(&["create-db-roles"], &roles_env, None);
    run(&["create-db-roles"], &roles_env, None);
    run(&["migrate"], &[("MIGRATION_DATABASE_URL", migration)], None);
    // The operator commands that write accounts need no more than the runtime role.
    let as_runtime = [("DATABASE_URL", runtime)];
    let admin = run(
        &[
            "create-admin",
            "--email",
            "Boss@Clinic.example.com",
            "--first-name",
            "B",
            "--last-name",
            "Oss",
        ],
        &as_runtime,
        Some("operator password 1\n"),
    );
    let clinic = uuid::Uuid::new_v4();
    let clinic_admin = run(
        &[
            "create-clinic-admin",
            "--clinic-id",
            &clinic.to_string(),
            "--email",
            "ca@clinic.example.com",
            "--first-name",
            "C",
            "--last-name",
            "A",
        ],
        &as_runtime,
        Some("operator password 2\n"),
    );
    let token = run(
        &[
            "mint-service-token",
            "--name",
            "appointment-service",
            "--jwt-private-key-file",
            private.to_str().unwrap(),
        ],
        &[],
        None,
    );

    let pool = db.pool("registration").await;
    let owner: String = sqlx::query_scalar(
        "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'registration'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        owner, urls.migration_role,
        "the migration role owns the schema"
    );
    let rows: Vec<(String, String, Option<uuid::Uuid>, String)> =
        sqlx::query_as("SELECT id::text, role, clinic_id, status FROM accounts ORDER BY role")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                clinic_admin.trim().to_owned(),
                "clinic_admin".into(),
                Some(clinic),
                "ACTIVE".into()
            ),
            (
                admin.trim().to_owned(),
                "clinic_center_admin".into(),
                None,
                "ACTIVE".into()
            ),
        ]
    );
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM accounts WHERE role = 'clinic_admin'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains("operator password"));

    let public = std::fs::read_to_string(dir.join("jwt_public.pem")).unwrap();
    let claims = TokenVerifier::from_pem(&public)
        .unwrap()
        .verify(token.trim())
        .unwrap();
    assert_eq!(claims.role, Role::Service);
    assert_eq!(claims.sub, "service:appointment-service");
    assert_eq!(claims.aud, ["registration-service"], "what it calls, only");
    assert_eq!(claims.exp - claims.iat, 24 * 3600, "a day by default");

    // No all-powerful token for anyone else (the old operator token): nothing is printed.
    let refused = Command::new(BIN)
        .args([
            "mint-service-token",
            "--name",
            "operator",
            "--jwt-private-key-file",
            private.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no service `operator`"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
