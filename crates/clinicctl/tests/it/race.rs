//! `clinicctl race …` against real servers: one barrier round, exactly one winner, every loser told
//! why, exactly one e-mail — and the exit code says so.

use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{ADMIN_PASSWORD, Cluster, spawn_cluster, spawn_cluster_writing_eml, str_at};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_race_has_one_decision_and_one_email() {
    // Arrange
    let cluster = spawn_cluster().await;
    let center = cluster.ctl("center");
    let admin_email = cluster.create_admin("center", None).await;
    center.login(&admin_email, ADMIN_PASSWORD).await;

    // Act
    let report = center
        .json(&["race", "registration", "--admins", "8", "--quiet", "1"])
        .await;

    // Assert: one winner, seven told who decided, one e-mail matching the decision.
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["winners"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(report["outcomes"]["WON"], 1, "{report:#}");
    assert_eq!(
        report["outcomes"]["REGISTRATION_ALREADY_DECIDED"], 7,
        "{report:#}"
    );
    let status = str_at(&report, &["after", "status"]);
    for loser in losers(&report) {
        assert_eq!(loser["error"]["code"], "FAILED_PRECONDITION");
        let metadata = &loser["error"]["metadata"];
        assert_eq!(
            metadata["decidedByEmail"],
            admin_email.as_str(),
            "{loser:#}"
        );
        assert_eq!(metadata["currentVersion"], "2", "{loser:#}");
        assert_eq!(
            format!("REGISTRATION_STATUS_{}", str_at(metadata, &["status"])),
            status,
            "{loser:#}"
        );
    }
    let emails = report["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 1, "{report:#}");
    let decision = if status.ends_with("APPROVED") {
        "registration.approved"
    } else {
        "registration.rejected"
    };
    assert_eq!(emails[0]["event_type"], decision);
    assert_eq!(emails[0]["status"], "SENT");
    assert_eq!(emails[0]["recipient"], report["after"]["email"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appointment_race_has_one_reservation_and_one_email() {
    // Arrange: a clinic with a doctor, a room and an exam type; the notifier writes .eml files,
    // from which the race activates the patients it registers.
    let cluster = spawn_cluster_writing_eml().await;
    let (center, manager_email) = clinic(&cluster).await;
    let eml_dir = cluster.eml_dir.as_ref().unwrap().display().to_string();
    let args = [
        "race",
        "appointment",
        "--patients",
        "16",
        "--clinic-admin-email",
        &manager_email,
        "--clinic-admin-password",
        ADMIN_PASSWORD,
        "--eml-dir",
        &eml_dir,
        "--quiet",
        "1",
    ];

    // Act
    let report = center.json(&args).await;

    // Assert: one reservation; the others told it is taken (or busy); one e-mail, to the winner.
    assert_eq!(report["passed"], true, "{report:#}");
    let winners = report["winners"].as_array().unwrap();
    assert_eq!(winners.len(), 1, "{report:#}");
    for loser in losers(&report) {
        let reason = str_at(loser, &["error", "reason"]);
        assert!(
            ["APPOINTMENT_ALREADY_RESERVED", "APPOINTMENT_BUSY"].contains(&reason),
            "{loser:#}"
        );
    }
    assert_eq!(report["after"]["status"], "APPOINTMENT_STATUS_RESERVED");
    let winner = &report["actors"][winners[0].as_u64().unwrap() as usize];
    let emails = report["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 1, "{report:#}");
    assert_eq!(emails[0]["event_type"], "appointment.reserved");
    assert_eq!(emails[0]["recipient"], winner["who"]);

    // A second race reuses the 16 patients (already active) on a fresh appointment.
    let again = center.json(&args).await;
    assert_eq!(again["passed"], true, "{again:#}");
    assert_ne!(again["target"], report["target"]);
}

/// The actors that lost.
fn losers(report: &Value) -> impl Iterator<Item = &Value> {
    report["actors"]
        .as_array()
        .expect("actors")
        .iter()
        .filter(|a| a["won"] == false)
}

/// A signed-in center admin, and the e-mail of the admin of a clinic with one doctor, room and
/// exam type.
async fn clinic(cluster: &Cluster) -> (crate::helpers::Ctl, String) {
    let center = cluster.center_admin().await;
    let clinic = center.create_clinic("Sunce").await;
    let clinic_id = str_at(&clinic, &["id"]).to_owned();
    let manager_email = cluster
        .create_admin("manager", Some(clinic_id.parse::<Uuid>().unwrap()))
        .await;
    let manager = cluster.ctl("manager");
    manager.login(&manager_email, ADMIN_PASSWORD).await;
    for args in [
        &[
            "create-doctor",
            "--first-name",
            "Mira",
            "--last-name",
            "Jović",
            "--specialization",
            "cardiology",
        ][..],
        &["create-room", "--name", "Room 7"],
        &["create-exam-type", "--name", "ECG"],
    ] {
        let mut all = vec!["appointment"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--clinic-id", &clinic_id]);
        manager.ok(&all).await;
    }
    (center, manager_email)
}
