//! The time checks of reserve and cancel are made on the clock after the lock waits, not at the
//! statement's start: a statement parked on the row lock until the appointment has started (or
//! until the 24 h window has closed) is refused and writes nothing.
//!
//! The test's transaction moves the start to a moment a little ahead of the database clock and keeps
//! the row locked; the service's statement is seen parked on that lock (pg_locks) and to have begun
//! before the moment; the test waits for the clock to pass it, then releases the row.

use std::time::Duration;

use clinic_common::testing::{bearer, error_info};
use clinic_proto::pb::appointment::v1 as pb;
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;
use tonic::Code;

use crate::helpers::{Cluster, spawn_cluster_with};

/// Far longer than the test holds the row (about two seconds), so only the time check can refuse.
const LOCK_TIMEOUT: Duration = Duration::from_secs(15);

/// Moves the appointment's start to `lead` after the database clock, in a transaction that keeps
/// the row locked until it ends; returns it and the new start.
async fn move_start_and_hold_the_row(
    cluster: &Cluster,
    appointment_id: &str,
    lead: &str,
) -> (Transaction<'static, Postgres>, OffsetDateTime) {
    let mut tx = cluster.pool.begin().await.unwrap();
    let starts: OffsetDateTime = sqlx::query_scalar(
        "UPDATE appointments SET starts_at = s.t, ends_at = s.t + make_interval(mins => duration_minutes) \
         FROM (SELECT clock_timestamp() + $2::interval AS t) s WHERE id = $1::uuid RETURNING starts_at",
    )
    .bind(appointment_id)
    .bind(lead)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    (tx, starts)
}

/// When the one statement parked on a row lock began.
async fn parked_statement_began(cluster: &Cluster) -> OffsetDateTime {
    cluster.wait_for_lock_waiters("transactionid", 1).await;
    sqlx::query_scalar(
        "SELECT s.query_start FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid \
         WHERE s.datname = current_database() AND l.locktype = 'transactionid' AND NOT l.granted",
    )
    .fetch_one(&cluster.pool)
    .await
    .unwrap()
}

/// Waits for the database clock to pass `t`: a wait for the clock, not an ordering of the race.
async fn wait_for_the_clock_to_pass(cluster: &Cluster, t: OffsetDateTime) {
    loop {
        let left: f64 =
            sqlx::query_scalar("SELECT extract(epoch FROM $1 - clock_timestamp())::float8")
                .bind(t)
                .fetch_one(&cluster.pool)
                .await
                .unwrap();
        if left < 0.0 {
            return;
        }
        tokio::time::sleep(Duration::from_secs_f64(left) + Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_parked_on_the_row_lock_until_the_start_is_appointment_in_past_and_writes_nothing()
 {
    let cluster = spawn_cluster_with(LOCK_TIMEOUT).await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;

    let (tx, starts) = move_start_and_hold_the_row(&cluster, &a.id, "2 seconds").await;
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
    let began = parked_statement_began(&cluster).await;
    assert!(began < starts, "the statement began before the start");
    wait_for_the_clock_to_pass(&cluster, starts).await;
    tx.commit().await.unwrap();
    let answer = call.await.unwrap();

    let err = answer.expect_err("the appointment had started when the row was free");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(error_info(&err).0, "APPOINTMENT_IN_PAST");
    assert_eq!(cluster.row(&a.id).await, ("AVAILABLE".into(), None, 1));
    assert!(cluster.events(&a.id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_parked_on_the_row_lock_until_the_window_closed_is_refused_and_changes_nothing()
 {
    let cluster = spawn_cluster_with(LOCK_TIMEOUT).await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 48, 0).await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;
    cluster.reserve(&mut client, &p, &a.id).await.unwrap();

    let (tx, starts) = move_start_and_hold_the_row(&cluster, &a.id, "24 hours 2 seconds").await;
    let window_closes = starts - time::Duration::hours(24);
    let (who, id) = (p.clone(), a.id.clone());
    let call = tokio::spawn(async move {
        client
            .cancel_reservation(bearer(
                &who.token,
                pb::CancelReservationRequest { appointment_id: id },
            ))
            .await
    });
    let began = parked_statement_began(&cluster).await;
    assert!(
        began < window_closes,
        "the statement began inside the window"
    );
    wait_for_the_clock_to_pass(&cluster, window_closes).await;
    tx.commit().await.unwrap();
    let answer = call.await.unwrap();

    let err = answer.expect_err("the window had closed when the row was free");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(error_info(&err).0, "CANCELLATION_WINDOW_CLOSED");
    assert_eq!(cluster.row(&a.id).await, ("RESERVED".into(), Some(p.id), 2));
    assert_eq!(cluster.events(&a.id).await, vec!["appointment.reserved"]);
}
