//! Bad input never reaches a server and never panics: clap names the flag and what it wants.

use crate::helpers::Cluster;

#[tokio::test]
async fn a_bad_time_names_the_flag_and_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = Cluster::offline(dir.path());
    let args = [
        "appointment",
        "create-slot",
        "--clinic-id",
        "c",
        "--doctor-id",
        "d",
        "--room-id",
        "r",
        "--exam-type-id",
        "e",
        "--starts-at",
        "tomorrow",
        "--duration-minutes",
        "30",
        "--price-minor",
        "2500",
        "--currency",
        "EUR",
    ];

    let stderr = ctl.fails(&args, 2).await;

    assert!(
        stderr.contains("invalid value 'tomorrow' for '--starts-at <RFC3339>'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("RFC 3339 time such as 2026-12-01T09:30:00Z"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn an_unknown_status_lists_the_possible_ones() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = Cluster::offline(dir.path());

    let stderr = ctl
        .fails(&["registration", "list", "--status", "maybe"], 2)
        .await;

    assert!(
        stderr.contains("[possible values: pending, approved, rejected]"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_non_number_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = Cluster::offline(dir.path());

    let stderr = ctl
        .fails(
            &["registration", "approve", "r1", "--expected-version", "one"],
            2,
        )
        .await;

    assert!(
        stderr.contains("invalid value 'one' for '--expected-version"),
        "{stderr}"
    );
}

#[tokio::test]
async fn without_a_sign_in_a_command_says_how_to_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = Cluster::offline(dir.path());

    let stderr = ctl.fails(&["registration", "list"], 1).await;

    assert!(
        stderr.contains("not signed in: run `clinicctl login"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_unreachable_service_is_named_with_its_address() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = Cluster::offline(dir.path());

    let stderr = ctl
        .fails(&["--token", "t", "registration", "get", "r1"], 1)
        .await;

    assert!(stderr.contains("connect to http://127.0.0.1:9"), "{stderr}");
}

#[tokio::test]
async fn a_reader_that_went_away_is_not_a_panic() {
    // `clinicctl … | head`: stdout's reader is gone before anything is written.
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);

    // `spawn`, not `output`: tokio's `output` would replace stdout with a pipe of its own.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_clinicctl"))
        .arg("logout")
        .env("CLINICCTL_TOKEN_FILE", dir.path().join("token"))
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .await
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
