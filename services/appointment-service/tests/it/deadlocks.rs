//! A deadlock the service's own statement loses must reach the client as ABORTED `APPOINTMENT_BUSY`
//! with RetryInfo (retrying may succeed), never INTERNAL.
//!
//! Each test forces the cycle from outside: a transaction takes the lock the service takes second,
//! waits (bounded) until the service's statement is parked behind it, then asks for the lock the
//! service already holds. The service's session waited first, so its `deadlock_timeout` (the server's,
//! 1 s) fires first and it is the victim; the test's transaction raises its own to 30 s so it never
//! is. The lock timeout is set far beyond the test's bounds, so only the deadlock can end the wait.

use std::time::Duration;

use clinic_common::testing::{bearer, error_info, retry_delay};
use clinic_proto::pb::appointment::v1 as pb;
use sqlx::{PgConnection, Postgres, Transaction};
use tonic::{Code, Status};

use crate::helpers::{Cluster, in_hours, spawn_cluster_with};

const LOCK_TIMEOUT: Duration = Duration::from_secs(60);
const BOUND: Duration = Duration::from_secs(20);

async fn spawn() -> Cluster {
    let cluster = spawn_cluster_with(LOCK_TIMEOUT).await;
    let deadlock_timeout: String = sqlx::query_scalar("SHOW deadlock_timeout")
        .fetch_one(&cluster.pool)
        .await
        .unwrap();
    assert_eq!(
        deadlock_timeout, "1s",
        "the service session must detect first"
    );
    cluster
}

/// A transaction that never detects a deadlock itself.
async fn outside_transaction(cluster: &Cluster) -> Transaction<'static, Postgres> {
    let mut tx = cluster.pool.begin().await.unwrap();
    sqlx::query("SET LOCAL deadlock_timeout = '30s'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

async fn advisory_lock(conn: &mut PgConnection, key: String) {
    tokio::time::timeout(
        BOUND,
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(key)
            .execute(conn),
    )
    .await
    .expect("the service's statement gave way within the bound")
    .expect("the test's transaction is never the victim");
}

async fn lock_row(conn: &mut PgConnection, appointment_id: &str) {
    sqlx::query("SELECT id FROM appointments WHERE id = $1::uuid FOR UPDATE")
        .bind(appointment_id)
        .execute(conn)
        .await
        .unwrap();
}

fn assert_busy<T: std::fmt::Debug>(answer: Result<T, Status>) {
    let err = answer.expect_err("the deadlock victim cannot succeed");
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    assert_eq!(error_info(&err).0, "APPOINTMENT_BUSY");
    assert!(retry_delay(&err).is_some(), "BUSY carries RetryInfo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_losing_a_deadlock_is_busy_and_changes_nothing() {
    let cluster = spawn().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let p = cluster.patients(1).await.remove(0);

    // The service takes the patient's lock, then the row's; the test holds the row, then asks for
    // the patient's.
    let mut tx = outside_transaction(&cluster).await;
    lock_row(&mut tx, &a.id).await;
    let mut client = cluster.client().await;
    let (who, id) = (p.clone(), a.id.clone());
    let call = tokio::spawn(async move {
        client
            .reserve_appointment(bearer(
                &who.token,
                pb::ReserveAppointmentRequest {
                    appointment_id: id,
                    request_id: None,
                },
            ))
            .await
    });
    cluster.wait_for_lock_waiters("transactionid", 1).await;
    advisory_lock(&mut tx, format!("patient:{}", p.id)).await;
    let answer = tokio::time::timeout(BOUND, call).await.unwrap().unwrap();
    tx.commit().await.unwrap();

    assert_busy(answer);
    assert_eq!(cluster.row(&a.id).await, ("AVAILABLE".into(), None, 1));
    assert!(cluster.events(&a.id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_losing_a_deadlock_is_busy_and_changes_nothing() {
    let cluster = spawn().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;
    cluster.reserve(&mut client, &p, &a.id).await.unwrap();

    let mut tx = outside_transaction(&cluster).await;
    lock_row(&mut tx, &a.id).await;
    let (who, id) = (p.clone(), a.id.clone());
    let call = tokio::spawn(async move {
        client
            .cancel_reservation(bearer(
                &who.token,
                pb::CancelReservationRequest { appointment_id: id },
            ))
            .await
    });
    cluster.wait_for_lock_waiters("transactionid", 1).await;
    advisory_lock(&mut tx, format!("patient:{}", p.id)).await;
    let answer = tokio::time::timeout(BOUND, call).await.unwrap().unwrap();
    tx.commit().await.unwrap();

    assert_busy(answer);
    assert_eq!(cluster.row(&a.id).await, ("RESERVED".into(), Some(p.id), 2));
    assert_eq!(cluster.events(&a.id).await, vec!["appointment.reserved"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creation_losing_a_deadlock_is_busy_and_writes_nothing() {
    let cluster = spawn().await;
    let f = cluster.clinic().await;

    // The service takes the doctor's lock, then the room's; the test holds the room, then asks for
    // the doctor.
    let mut tx = outside_transaction(&cluster).await;
    advisory_lock(&mut tx, format!("room:{}", f.rooms[0])).await;
    let mut client = cluster.client().await;
    let req = bearer(&f.admin, cluster.new_appointment(&f, in_hours(60), 0, 0));
    let call = tokio::spawn(async move { client.create_predefined_appointment(req).await });
    cluster.wait_for_lock_waiters("advisory", 1).await;
    advisory_lock(&mut tx, format!("doctor:{}", f.doctors[0])).await;
    let answer = tokio::time::timeout(BOUND, call).await.unwrap().unwrap();
    tx.commit().await.unwrap();

    assert_busy(answer);
    assert_eq!(cluster.count_appointments().await, 0);
}

/// The deadlock a creation could have with a reservation: the creation's new row enters the doctor's
/// exclusion index and waits for an overlapping row being changed; the reservation's update of that
/// row re-enters the same index, meets the creation's uncommitted entry and waits for it. Here the
/// creation is first parked on another overlapping row of the doctor that the test is moving away, so
/// the two enter the index in that order every time. A creation that overlaps an appointment is a
/// schedule conflict whatever that appointment is doing: it must say so, and the reservation succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creation_overlapping_a_reservation_in_flight_is_a_schedule_conflict_and_the_reservation_succeeds()
 {
    let cluster = spawn().await;
    let f = cluster.clinic().await;
    let base = in_hours(60).seconds;
    let at = |minutes: i64| prost_types::Timestamp {
        seconds: base + minutes * 60,
        nanos: 0,
    };
    let mut client = cluster.client().await;
    // Doctor 0 in room 0: first the one the test moves away (:30), then the one reserved (:00).
    let create = |minutes, room| {
        let mut c = client.clone();
        let req = bearer(&f.admin, cluster.new_appointment(&f, at(minutes), 0, room));
        async move { c.create_predefined_appointment(req).await }
    };
    let moved = create(30, 0).await.unwrap().into_inner();
    let reserved = create(0, 0).await.unwrap().into_inner();
    let p = cluster.patients(1).await.remove(0);

    let mut tx = outside_transaction(&cluster).await;
    sqlx::query(
        "UPDATE appointments SET starts_at = starts_at + interval '5 hours', \
         ends_at = ends_at + interval '5 hours' WHERE id = $1::uuid",
    )
    .bind(&moved.id)
    .execute(&mut *tx)
    .await
    .unwrap();
    // Doctor 0 in room 1 from :15 overlaps both.
    let creating = tokio::spawn(create(15, 1));
    cluster
        .wait_until_answered_or_waiting(&creating, "transactionid", 1)
        .await;
    let (who, id) = (p.clone(), reserved.id.clone());
    let reserving = tokio::spawn(async move {
        client
            .reserve_appointment(bearer(
                &who.token,
                pb::ReserveAppointmentRequest {
                    appointment_id: id,
                    request_id: None,
                },
            ))
            .await
    });
    cluster
        .wait_until_answered_or_waiting(&reserving, "transactionid", 2)
        .await;
    tx.commit().await.unwrap();
    let created = tokio::time::timeout(BOUND, creating)
        .await
        .unwrap()
        .unwrap();
    let reservation = tokio::time::timeout(BOUND, reserving)
        .await
        .unwrap()
        .unwrap();

    let err = created.expect_err("the creation overlaps");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let (reason, meta) = error_info(&err);
    assert_eq!(reason, "SCHEDULE_CONFLICT");
    assert_eq!(meta["conflictingAppointmentId"], reserved.id);
    let reservation = reservation
        .expect("the reservation is not a deadlock victim")
        .into_inner();
    assert_eq!(reservation.patient_id, p.id.to_string());
    assert_eq!(
        cluster.row(&reserved.id).await,
        ("RESERVED".into(), Some(p.id), 2)
    );
    assert_eq!(cluster.count_appointments().await, 2);
}
