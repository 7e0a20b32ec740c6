//! A day at the clinic through `clinicctl` only: the catalog, a slot, a patient registered,
//! approved and activated, the slot reserved, and the approval e-mail in the notifier's ledger.

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::helpers::{ADMIN_PASSWORD, Ctl, PATIENT_PASSWORD, spawn_cluster, str_at, submit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_slot_registration_and_reservation_through_the_cli() {
    let cluster = spawn_cluster().await;

    // The center admin signs in and opens a clinic.
    let center = cluster.center_admin().await;
    let clinic = center.create_clinic("Sunce").await;
    let clinic_id = str_at(&clinic, &["id"]).to_owned();
    assert_eq!(clinic["time_zone"], "Europe/Belgrade");
    assert!(
        center
            .ok(&["appointment", "clinics"])
            .await
            .contains(&clinic_id)
    );

    // Its clinic admin fills the catalog and publishes a slot three days ahead.
    let clinic_uuid: Uuid = clinic_id.parse().unwrap();
    let manager = cluster.ctl("manager");
    manager
        .login(
            &cluster.create_admin("manager", Some(clinic_uuid)).await,
            ADMIN_PASSWORD,
        )
        .await;
    let doctor = manager
        .json(&[
            "appointment",
            "create-doctor",
            "--clinic-id",
            &clinic_id,
            "--first-name",
            "Mira",
            "--last-name",
            "Jović",
            "--specialization",
            "cardiology",
        ])
        .await;
    let room = manager
        .json(&[
            "appointment",
            "create-room",
            "--clinic-id",
            &clinic_id,
            "--name",
            "Room 7",
        ])
        .await;
    let exam = manager
        .json(&[
            "appointment",
            "create-exam-type",
            "--clinic-id",
            &clinic_id,
            "--name",
            "ECG",
        ])
        .await;
    let (doctor_id, room_id, exam_id) = (
        str_at(&doctor, &["id"]),
        str_at(&room, &["id"]),
        str_at(&exam, &["id"]),
    );
    let doctors = manager
        .ok(&["appointment", "doctors", "--clinic-id", &clinic_id])
        .await;
    assert!(
        doctors.contains("Jović") && doctors.contains("cardiology"),
        "{doctors}"
    );
    assert!(
        manager
            .ok(&["appointment", "rooms", "--clinic-id", &clinic_id])
            .await
            .contains("Room 7")
    );
    assert!(
        manager
            .ok(&["appointment", "exam-types", "--clinic-id", &clinic_id])
            .await
            .contains("ECG")
    );
    let starts_at = (time::OffsetDateTime::now_utc() + time::Duration::days(3))
        .replace_second(0)
        .unwrap()
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    let slot = manager
        .json(&[
            "appointment",
            "create-slot",
            "--clinic-id",
            &clinic_id,
            "--doctor-id",
            doctor_id,
            "--room-id",
            room_id,
            "--exam-type-id",
            exam_id,
            "--starts-at",
            &starts_at,
            "--duration-minutes",
            "30",
            "--price-minor",
            "5000",
            "--currency",
            "EUR",
            "--discount-percent",
            "10",
        ])
        .await;
    let slot_id = str_at(&slot, &["id"]).to_owned();
    assert_eq!(slot["status"], "APPOINTMENT_STATUS_AVAILABLE");
    assert_eq!(slot["final_price_minor"], 4500);
    assert_eq!(slot["starts_at"], starts_at.as_str());

    // Anyone signed in sees it, as a table and as JSON.
    let table = center
        .ok(&["appointment", "available", "--clinic-id", &clinic_id])
        .await;
    let row = table
        .lines()
        .find(|l| l.starts_with(&slot_id))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains(&starts_at) && row.contains("AVAILABLE") && row.contains("4500"),
        "{row}"
    );
    assert!(table.starts_with("ID "), "{table}");
    let listed = center
        .json(&["appointment", "available", "--exam-type-id", exam_id])
        .await;
    assert_eq!(listed["appointments"][0]["id"], slot_id.as_str());

    // A patient registers; the center admin approves; the e-mail's token activates the account.
    let patient = cluster.ctl("patient");
    let request = submit(&patient, "ana@mail.example.com", "100000000001").await;
    let request_id = str_at(&request, &["id"]);
    assert_eq!(request["status"], "REGISTRATION_STATUS_PENDING");
    let pending = center
        .ok(&["registration", "list", "--status", "pending"])
        .await;
    assert!(pending.contains(request_id), "{pending}");
    let approved = center
        .json(&[
            "registration",
            "approve",
            request_id,
            "--expected-version",
            "1",
        ])
        .await;
    assert_eq!(
        approved["request"]["status"],
        "REGISTRATION_STATUS_APPROVED"
    );
    let patient_id = str_at(&approved, &["patient_id"]).to_owned();
    let token = cluster.activation_token("ana@mail.example.com").await;
    patient.ok(&["registration", "activate", &token]).await;

    // The patient signs in and reserves the slot.
    patient
        .login("ana@mail.example.com", PATIENT_PASSWORD)
        .await;
    let reserved = patient.json(&["appointment", "reserve", &slot_id]).await;
    assert_eq!(reserved["status"], "APPOINTMENT_STATUS_RESERVED");
    assert_eq!(reserved["patient_id"], patient_id.as_str());
    let mine = patient.ok(&["appointment", "mine"]).await;
    assert!(
        mine.contains(&slot_id) && mine.contains("RESERVED"),
        "{mine}"
    );
    let details = patient.ok(&["appointment", "get", &slot_id]).await;
    assert!(
        details
            .lines()
            .any(|l| l.starts_with("status") && l.ends_with("RESERVED")),
        "{details}"
    );
    let me = patient
        .json(&["registration", "patient", &patient_id])
        .await;
    assert_eq!(me["status"], "ACCOUNT_STATUS_ACTIVE");

    // More than 24 h ahead, the patient may cancel: the slot is offered again.
    let cancelled = patient.json(&["appointment", "cancel", &slot_id]).await;
    assert_eq!(cancelled["status"], "APPOINTMENT_STATUS_AVAILABLE");
    assert!(
        patient
            .ok(&["appointment", "available"])
            .await
            .contains(&slot_id)
    );

    // The operator sees the approval e-mail go out; a sent one cannot be retried.
    let delivery = sent_delivery(&center, "registration.approved").await;
    let shown = center.ok(&["notifier", "delivery", &delivery]).await;
    assert!(shown.contains("ana@mail.example.com"), "{shown}");
    let stderr = center.fails(&["notifier", "retry", &delivery], 1).await;
    assert!(stderr.contains("reason: DELIVERY_ALREADY_SENT"), "{stderr}");
}

/// Id of the delivery of `event_type` once the notifier lists it as SENT (polled, bounded).
async fn sent_delivery(ctl: &Ctl, event_type: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let page = ctl
            .json(&["notifier", "deliveries", "--status", "sent"])
            .await;
        let found = page["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["event_type"] == event_type);
        if let Some(d) = found {
            return str_at(d, &["id"]).to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no SENT {event_type} delivery: {page:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
