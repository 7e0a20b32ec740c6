//! `clinicctl login` / `logout`: the token is cached owner-only and never printed unless asked for.

use std::os::unix::fs::PermissionsExt;

use crate::helpers::{ADMIN_PASSWORD, spawn_cluster, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_caches_the_token_owner_only_and_never_prints_it() {
    // Arrange
    let cluster = spawn_cluster().await;
    let email = cluster.create_admin("center", None).await;
    let ctl = cluster.ctl("center");

    // Act
    let out = ctl
        .run_with_stdin(
            &["login", "--email", &email, "--password-stdin"],
            &format!("{ADMIN_PASSWORD}\n"),
        )
        .await;

    // Assert
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = std::fs::read_to_string(&ctl.token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.len() > 20);
    let mode = std::fs::metadata(&ctl.token_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(format!("{:o}", mode & 0o777), "600");
    let printed = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !printed.contains(&token),
        "the token was printed: {printed}"
    );
    assert!(!printed.contains(ADMIN_PASSWORD));
    assert!(
        printed.contains("signed in as center@clinic.example.com (CLINIC_CENTER_ADMIN)"),
        "{printed}"
    );
    // The cached token works for the next command.
    ctl.ok(&["registration", "list"]).await;
    // `--json` tells the role and expiry, still without the token.
    let out = ctl
        .run_with_stdin(
            &["--json", "login", "--email", &email, "--password-stdin"],
            &format!("{ADMIN_PASSWORD}\n"),
        )
        .await;
    let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(said["role"], "ROLE_CLINIC_CENTER_ADMIN");
    assert!(
        said["expires_at"].as_str().unwrap().ends_with('Z'),
        "{said}"
    );
    assert!(said["access_token"].is_null(), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_token_prints_it_and_logout_deletes_it() {
    let cluster = spawn_cluster().await;
    let email = cluster.create_admin("center", None).await;
    let ctl = cluster.ctl("center");

    let out = ctl
        .run_with_stdin(
            &[
                "login",
                "--email",
                &email,
                "--password-stdin",
                "--print-token",
            ],
            &format!("{ADMIN_PASSWORD}\n"),
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cached = std::fs::read_to_string(&ctl.token_file).unwrap();
    assert_eq!(text(&out.stdout).trim(), cached.trim());

    let said = ctl.ok(&["logout"]).await;

    assert!(said.contains("signed out"), "{said}");
    assert!(!ctl.token_file.exists());
    let stderr = ctl.fails(&["registration", "list"], 1).await;
    assert!(stderr.contains("not signed in"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_told_as_invalid_credentials() {
    let cluster = spawn_cluster().await;
    let email = cluster.create_admin("center", None).await;
    let ctl = cluster.ctl("center");

    let out = ctl
        .run_with_stdin(
            &["login", "--email", &email, "--password-stdin"],
            "not the password\n",
        )
        .await;

    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("UNAUTHENTICATED"), "{stderr}");
    assert!(stderr.contains("reason: INVALID_CREDENTIALS"), "{stderr}");
    assert!(!ctl.token_file.exists());
}
