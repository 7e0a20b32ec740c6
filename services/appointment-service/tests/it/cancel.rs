use std::sync::Arc;

use clinic_common::testing::{bearer, error_info};
use clinic_proto::pb::appointment::v1 as pb;
use tokio::sync::Barrier;
use tonic::Code;

use crate::helpers::spawn_cluster;

fn cancel(token: &str, id: &str) -> tonic::Request<pb::CancelReservationRequest> {
    bearer(
        token,
        pb::CancelReservationRequest {
            appointment_id: id.to_owned(),
        },
    )
}

#[tokio::test]
async fn cancelling_more_than_a_day_ahead_frees_the_slot_for_another_patient() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 48, 0).await;
    let mut ps = cluster.patients(2).await;
    let (first, second) = (ps.remove(0), ps.remove(0));
    let mut client = cluster.client().await;
    cluster.reserve(&mut client, &first, &a.id).await.unwrap();

    let released = client
        .cancel_reservation(cancel(&first.token, &a.id))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(released.status, pb::AppointmentStatus::Available as i32);
    assert_eq!(released.version, 3);
    assert!(released.patient_id.is_empty());
    let taken = cluster.reserve(&mut client, &second, &a.id).await.unwrap();
    assert_eq!(taken.patient_id, second.id.to_string());
    assert_eq!(
        cluster.events(&a.id).await,
        vec![
            "appointment.reserved",
            "appointment.cancelled",
            "appointment.reserved"
        ]
    );
}

#[tokio::test]
async fn cancelling_within_a_day_is_refused() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 23, 0).await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;
    cluster.reserve(&mut client, &p, &a.id).await.unwrap();

    let err = client
        .cancel_reservation(cancel(&p.token, &a.id))
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(error_info(&err).0, "CANCELLATION_WINDOW_CLOSED");
    assert_eq!(cluster.row(&a.id).await.0, "RESERVED");
    assert_eq!(cluster.events(&a.id).await, vec!["appointment.reserved"]);
}

#[tokio::test]
async fn another_patient_cannot_cancel() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 48, 0).await;
    let mut ps = cluster.patients(2).await;
    let (holder, intruder) = (ps.remove(0), ps.remove(0));
    let mut client = cluster.client().await;
    cluster.reserve(&mut client, &holder, &a.id).await.unwrap();

    let err = client
        .cancel_reservation(cancel(&intruder.token, &a.id))
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(error_info(&err).0, "FORBIDDEN");
    assert_eq!(cluster.row(&a.id).await.1, Some(holder.id));
}

/// A cancel retried after it succeeded (its answer lost) is told the slot is not reserved: a state
/// of the appointment, not a permission.
#[tokio::test]
async fn a_second_cancel_is_appointment_not_reserved_and_changes_nothing() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 48, 0).await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;
    cluster.reserve(&mut client, &p, &a.id).await.unwrap();
    client
        .cancel_reservation(cancel(&p.token, &a.id))
        .await
        .unwrap();

    let err = client
        .cancel_reservation(cancel(&p.token, &a.id))
        .await
        .unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(error_info(&err).0, "APPOINTMENT_NOT_RESERVED");
    assert_eq!(cluster.row(&a.id).await, ("AVAILABLE".into(), None, 3));
    assert_eq!(
        cluster.events(&a.id).await,
        vec!["appointment.reserved", "appointment.cancelled"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_racing_a_new_reservation_leaves_a_consistent_state() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    for round in 0..5 {
        let a = cluster
            .appointment(&f, 48 + round, (round % 2) as usize)
            .await;
        let mut ps = cluster.patients(2).await;
        let (holder, newcomer) = (ps.remove(0), ps.remove(0));
        let mut client = cluster.client().await;
        cluster.reserve(&mut client, &holder, &a.id).await.unwrap();
        let barrier = Arc::new(Barrier::new(2));

        let (b1, mut c1, id1, t1) = (
            barrier.clone(),
            client.clone(),
            a.id.clone(),
            holder.token.clone(),
        );
        let cancelling = tokio::spawn(async move {
            b1.wait().await;
            c1.cancel_reservation(cancel(&t1, &id1)).await
        });
        let (b2, mut c2, id2, t2) = (
            barrier.clone(),
            client.clone(),
            a.id.clone(),
            newcomer.token.clone(),
        );
        let reserving = tokio::spawn(async move {
            b2.wait().await;
            c2.reserve_appointment(bearer(
                &t2,
                pb::ReserveAppointmentRequest {
                    appointment_id: id2,
                    request_id: None,
                },
            ))
            .await
        });
        let cancelled = cancelling.await.unwrap();
        let reserved = reserving.await.unwrap();

        assert!(
            cancelled.is_ok(),
            "the holder may always cancel 48 h ahead: {cancelled:?}"
        );
        let (status, patient, _) = cluster.row(&a.id).await;
        let events = cluster.events(&a.id).await;
        match reserved {
            Ok(r) => {
                assert_eq!(r.into_inner().patient_id, newcomer.id.to_string());
                assert_eq!((status.as_str(), patient), ("RESERVED", Some(newcomer.id)));
                assert_eq!(
                    events,
                    vec![
                        "appointment.reserved",
                        "appointment.cancelled",
                        "appointment.reserved"
                    ]
                );
            }
            Err(e) => {
                assert_eq!(error_info(&e).0, "APPOINTMENT_ALREADY_RESERVED");
                assert_eq!((status.as_str(), patient), ("AVAILABLE", None));
                assert_eq!(
                    events,
                    vec!["appointment.reserved", "appointment.cancelled"]
                );
            }
        }
    }
}
