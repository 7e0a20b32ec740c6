//! `request_id` is an idempotency key per patient: a retry with the same key for the same appointment
//! changes nothing and returns the appointment as it is now; the key used for another appointment is
//! refused. The record outlives a cancellation.

use std::sync::Arc;

use clinic_common::testing::{bearer, error_info};
use clinic_proto::pb::appointment::v1 as pb;
use tokio::sync::Barrier;
use tonic::Code;

use crate::helpers::{Client, Patient, spawn_cluster};

const RETRIES: usize = 16;

async fn reserve_with(
    client: &mut Client,
    p: &Patient,
    appointment_id: &str,
    request_id: &str,
) -> Result<pb::Appointment, tonic::Status> {
    client
        .reserve_appointment(bearer(
            &p.token,
            pb::ReserveAppointmentRequest {
                appointment_id: appointment_id.to_owned(),
                request_id: Some(request_id.to_owned()),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn cancel(client: &mut Client, p: &Patient, appointment_id: &str) -> pb::Appointment {
    client
        .cancel_reservation(bearer(
            &p.token,
            pb::CancelReservationRequest {
                appointment_id: appointment_id.to_owned(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_retry_arriving_after_the_cancel_leaves_the_slot_available_and_appends_nothing() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;
    reserve_with(&mut client, &p, &a.id, "click-1")
        .await
        .unwrap();
    cancel(&mut client, &p, &a.id).await;

    let retry = reserve_with(&mut client, &p, &a.id, "click-1")
        .await
        .unwrap();

    assert_eq!(retry.status, pb::AppointmentStatus::Available as i32);
    assert!(retry.patient_id.is_empty());
    assert_eq!(retry.version, 3);
    assert_eq!(cluster.row(&a.id).await, ("AVAILABLE".into(), None, 3));
    assert_eq!(
        cluster.events(&a.id).await,
        vec!["appointment.reserved", "appointment.cancelled"]
    );
}

/// The patient already holds the slot (reserved with `click-1`) when `click-2` arrives; its answer is
/// lost, the patient cancels, and the client retries `click-2`. The key was bound when it was first
/// answered, so the retry is answered like a retry of `click-1`: nothing reserved, no second e-mail.
#[tokio::test]
async fn a_second_request_id_for_a_slot_already_held_is_bound_so_its_retry_after_the_cancel_reserves_nothing()
 {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;
    reserve_with(&mut client, &p, &a.id, "click-1")
        .await
        .unwrap();
    let held = reserve_with(&mut client, &p, &a.id, "click-2")
        .await
        .unwrap();
    assert_eq!(held.patient_id, p.id.to_string());
    cancel(&mut client, &p, &a.id).await;

    let retry = reserve_with(&mut client, &p, &a.id, "click-2")
        .await
        .unwrap();

    assert_eq!(retry.status, pb::AppointmentStatus::Available as i32);
    assert_eq!(cluster.row(&a.id).await, ("AVAILABLE".into(), None, 3));
    assert_eq!(
        cluster.events(&a.id).await,
        vec!["appointment.reserved", "appointment.cancelled"]
    );
    let first_key_retry = reserve_with(&mut client, &p, &a.id, "click-1")
        .await
        .unwrap();
    assert_eq!(retry, first_key_retry);
}

#[tokio::test]
async fn a_request_id_reused_for_another_appointment_is_refused_and_writes_nothing() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let b = cluster.appointment(&f, 62, 1).await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;
    reserve_with(&mut client, &p, &a.id, "click-1")
        .await
        .unwrap();

    let err = reserve_with(&mut client, &p, &b.id, "click-1")
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    assert_eq!(error_info(&err).0, "REQUEST_ID_REUSED");
    assert_eq!(cluster.row(&b.id).await, ("AVAILABLE".into(), None, 1));
    assert!(cluster.events(&b.id).await.is_empty());
    assert_eq!(cluster.row(&a.id).await, ("RESERVED".into(), Some(p.id), 2));
    // Also after the first reservation was cancelled: the key stays bound to its appointment.
    cancel(&mut client, &p, &a.id).await;
    let err = reserve_with(&mut client, &p, &b.id, "click-1")
        .await
        .unwrap_err();
    assert_eq!(error_info(&err).0, "REQUEST_ID_REUSED");
    assert_eq!(cluster.row(&b.id).await, ("AVAILABLE".into(), None, 1));
    assert!(cluster.events(&b.id).await.is_empty());
}

#[tokio::test]
async fn the_same_request_id_from_another_patient_is_another_request() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let b = cluster.appointment(&f, 62, 1).await;
    let mut ps = cluster.patients(2).await;
    let (first, second) = (ps.remove(0), ps.remove(0));
    let mut client = cluster.client().await;

    reserve_with(&mut client, &first, &a.id, "click-1")
        .await
        .unwrap();
    let other = reserve_with(&mut client, &second, &b.id, "click-1")
        .await
        .unwrap();

    assert_eq!(other.patient_id, second.id.to_string());
    assert_eq!(cluster.events(&b.id).await, vec!["appointment.reserved"]);
}

#[tokio::test]
async fn a_retry_after_the_slot_went_to_another_patient_is_told_it_is_taken_and_not_by_whom() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let mut ps = cluster.patients(2).await;
    let (first, second) = (ps.remove(0), ps.remove(0));
    let mut client = cluster.client().await;
    reserve_with(&mut client, &first, &a.id, "click-1")
        .await
        .unwrap();
    cancel(&mut client, &first, &a.id).await;
    cluster.reserve(&mut client, &second, &a.id).await.unwrap();

    let err = reserve_with(&mut client, &first, &a.id, "click-1")
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(error_info(&err).0, "APPOINTMENT_ALREADY_RESERVED");
    assert_eq!(
        cluster.row(&a.id).await,
        ("RESERVED".into(), Some(second.id), 4)
    );
    assert_eq!(cluster.events(&a.id).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_identical_retries_reserve_once_and_append_one_event() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let p = cluster.patients(1).await.remove(0);
    let barrier = Arc::new(Barrier::new(RETRIES));

    let mut tasks = Vec::new();
    for _ in 0..RETRIES {
        let (mut client, barrier, p, id) = (
            cluster.client().await,
            barrier.clone(),
            p.clone(),
            a.id.clone(),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            reserve_with(&mut client, &p, &id, "click-1").await
        }));
    }

    for t in tasks {
        let got = t.await.unwrap().expect("every retry gets the reservation");
        assert_eq!(got.status, pb::AppointmentStatus::Reserved as i32);
        assert_eq!(got.patient_id, p.id.to_string());
        assert_eq!(got.version, 2);
    }
    assert_eq!(cluster.row(&a.id).await, ("RESERVED".into(), Some(p.id), 2));
    assert_eq!(cluster.events(&a.id).await, vec!["appointment.reserved"]);
}

/// The retry's statement takes its snapshot, then waits for the patient's lock; meanwhile the key is
/// bound and committed. The snapshot cannot see that record, the statement's own insert of the key
/// collides with it, and the service must answer from the record, not reserve and not fail.
async fn bound_while_waiting(bound_to_other: bool) {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let b = cluster.appointment(&f, 62, 1).await;
    let p = cluster.patients(1).await.remove(0);
    let record_for = if bound_to_other { &a.id } else { &b.id };

    let mut tx = cluster.pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('patient:' || $1::text, 0))")
        .bind(p.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let mut client = cluster.client().await;
    let (retry_p, retry_id) = (p.clone(), b.id.clone());
    let retry =
        tokio::spawn(
            async move { reserve_with(&mut client, &retry_p, &retry_id, "click-1").await },
        );
    cluster.wait_for_lock_waiters("advisory", 1).await;
    sqlx::query(
        "INSERT INTO reservation_requests (patient_id, request_id, appointment_id) \
         VALUES ($1, 'click-1', $2::uuid)",
    )
    .bind(p.id)
    .bind(record_for)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let answer = retry.await.unwrap();
    if bound_to_other {
        let err = answer.unwrap_err();
        assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
        assert_eq!(error_info(&err).0, "REQUEST_ID_REUSED");
    } else {
        let now = answer.expect("the appointment as it is now");
        assert_eq!(now.status, pb::AppointmentStatus::Available as i32);
        assert_eq!(now.version, 1);
    }
    assert_eq!(cluster.row(&b.id).await, ("AVAILABLE".into(), None, 1));
    assert!(cluster.events(&b.id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_bound_to_another_appointment_while_the_retry_waited_is_refused() {
    bound_while_waiting(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_bound_to_the_same_appointment_while_the_retry_waited_changes_nothing() {
    bound_while_waiting(false).await;
}
