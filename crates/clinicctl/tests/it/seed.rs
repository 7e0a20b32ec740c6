//! `clinicctl seed` fills the demo clinic once; a second run finds everything and creates nothing.

use uuid::Uuid;

use crate::helpers::{ADMIN_PASSWORD, spawn_cluster_writing_eml, str_at};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_twice_creates_everything_once() {
    // Arrange: the clinic and its admin as an operator makes them (clinic admins have no public API).
    let cluster = spawn_cluster_writing_eml().await;
    let center = cluster.center_admin().await;
    let clinic = center.create_clinic("Demo Clinic").await;
    let clinic_id = str_at(&clinic, &["id"]).to_owned();
    let manager = cluster
        .create_admin("manager", Some(clinic_id.parse::<Uuid>().unwrap()))
        .await;
    let eml_dir = cluster.eml_dir.as_ref().unwrap().display().to_string();
    let args = [
        "seed",
        "--clinic-admin-email",
        &manager,
        "--clinic-admin-password",
        ADMIN_PASSWORD,
        "--eml-dir",
        &eml_dir,
    ];

    // Act
    let first = center.json(&args).await;
    let second = center.json(&args).await;

    // Assert: the catalog and the week made once; the same rows found again.
    assert_eq!(first["clinic_id"], clinic_id.as_str());
    let created = |report: &serde_json::Value, what: &str| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["what"] == what && r["created"] == true)
            .count()
    };
    assert_eq!(created(&first, "doctor"), 2, "{first:#}");
    assert_eq!(created(&first, "room"), 2, "{first:#}");
    assert_eq!(created(&first, "exam type"), 2, "{first:#}");
    assert_eq!(created(&first, "appointments"), 1, "{first:#}");
    assert_eq!(created(&first, "patient"), 2, "{first:#}");
    for what in [
        "clinic",
        "doctor",
        "room",
        "exam type",
        "appointments",
        "patient",
    ] {
        assert_eq!(created(&second, what), 0, "{what}: {second:#}");
    }
    let ids = |report: &serde_json::Value| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ids(&second));
    assert_eq!(
        first["credentials"]["patients"],
        serde_json::json!(["patient-1@clinic.local", "patient-2@clinic.local"])
    );
    // 56 appointments over the week, each listed once.
    let available = center
        .json(&[
            "appointment",
            "available",
            "--clinic-id",
            &clinic_id,
            "--page-size",
            "100",
        ])
        .await;
    assert_eq!(
        available["appointments"].as_array().unwrap().len(),
        56,
        "{available:#}"
    );
    // The patients are active: they sign in.
    cluster
        .ctl("patient")
        .login("patient-1@clinic.local", "demo patient password 1")
        .await;
}
