//! A decision that cannot be made is told with its reason and metadata, and the exit code fails.

use crate::helpers::{spawn_cluster, str_at, submit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_twice_prints_already_decided_and_fails() {
    // Arrange: a request approved once.
    let cluster = spawn_cluster().await;
    let admin = cluster.center_admin().await;
    let request = submit(
        &cluster.ctl("patient"),
        "ana@mail.example.com",
        "100000000001",
    )
    .await;
    let id = str_at(&request, &["id"]);
    admin
        .ok(&["registration", "approve", id, "--expected-version", "1"])
        .await;

    // Act
    let stderr = admin
        .fails(
            &["registration", "approve", id, "--expected-version", "1"],
            1,
        )
        .await;

    // Assert: the code, the reason, who decided and the version now.
    assert!(stderr.contains("FAILED_PRECONDITION"), "{stderr}");
    assert!(
        stderr.contains("reason: REGISTRATION_ALREADY_DECIDED (registration-service)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("decidedByEmail  center@clinic.example.com"),
        "{stderr}"
    );
    assert!(stderr.contains("currentVersion  2"), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.trim_start().starts_with("status") && l.ends_with("APPROVED")),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_on_stderr_with_json() {
    let cluster = spawn_cluster().await;
    let admin = cluster.center_admin().await;
    let request = submit(
        &cluster.ctl("patient"),
        "ana@mail.example.com",
        "100000000001",
    )
    .await;
    let id = str_at(&request, &["id"]);

    // A stale version on a still-pending request.
    let stderr = admin
        .fails(
            &[
                "--json",
                "registration",
                "reject",
                id,
                "--expected-version",
                "7",
                "--reason",
                "x",
            ],
            1,
        )
        .await;

    let error: serde_json::Value =
        serde_json::from_str(&stderr).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(error["error"]["code"], "ABORTED");
    assert_eq!(error["error"]["reason"], "VERSION_MISMATCH");
    assert_eq!(error["error"]["metadata"]["currentVersion"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_violation_names_the_field() {
    let cluster = spawn_cluster().await;
    let admin = cluster.center_admin().await;

    let stderr = admin
        .fails(
            &[
                "appointment",
                "create-clinic",
                "--name",
                "",
                "--address",
                "a",
                "--city",
                "c",
                "--time-zone",
                "Nowhere/Atlantis",
            ],
            1,
        )
        .await;

    assert!(stderr.contains("INVALID_ARGUMENT"), "{stderr}");
    assert!(stderr.contains("reason: INVALID_FIELD"), "{stderr}");
    assert!(stderr.contains("field name:"), "{stderr}");
}
