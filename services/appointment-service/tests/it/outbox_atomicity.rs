//! The outbox row is written in the change's own transaction: when the event cannot be written, the
//! change does not happen either. A trigger the test installs makes every outbox insert raise.

use clinic_common::testing::{
    allow_outbox_inserts, assert_internal, bearer, refuse_outbox_inserts,
};
use clinic_proto::pb::appointment::v1 as pb;

use crate::helpers::{Client, Patient, spawn_cluster};

async fn reserve(
    client: &mut Client,
    p: &Patient,
    id: &str,
) -> Result<pb::Appointment, tonic::Status> {
    client
        .reserve_appointment(bearer(
            &p.token,
            pb::ReserveAppointmentRequest {
                appointment_id: id.to_owned(),
                request_id: Some("click-1".into()),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn cancel(
    client: &mut Client,
    p: &Patient,
    id: &str,
) -> Result<pb::Appointment, tonic::Status> {
    client
        .cancel_reservation(bearer(
            &p.token,
            pb::CancelReservationRequest {
                appointment_id: id.to_owned(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn a_reservation_whose_event_cannot_be_written_does_not_happen() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;
    refuse_outbox_inserts(&cluster.pool).await;

    assert_internal(reserve(&mut client, &p, &a.id).await);
    assert_eq!(cluster.row(&a.id).await, ("AVAILABLE".into(), None, 1));
    assert!(cluster.events(&a.id).await.is_empty());

    // Nothing of it remained — not even the request id's record: the same call now reserves.
    allow_outbox_inserts(&cluster.pool).await;
    let reserved = reserve(&mut client, &p, &a.id).await.unwrap();
    assert_eq!(reserved.status, pb::AppointmentStatus::Reserved as i32);
    assert_eq!(cluster.row(&a.id).await, ("RESERVED".into(), Some(p.id), 2));
    assert_eq!(cluster.events(&a.id).await, vec!["appointment.reserved"]);
}

#[tokio::test]
async fn a_cancellation_whose_event_cannot_be_written_does_not_happen() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;
    reserve(&mut client, &p, &a.id).await.unwrap();
    refuse_outbox_inserts(&cluster.pool).await;

    assert_internal(cancel(&mut client, &p, &a.id).await);
    assert_eq!(cluster.row(&a.id).await, ("RESERVED".into(), Some(p.id), 2));
    assert_eq!(cluster.events(&a.id).await, vec!["appointment.reserved"]);

    allow_outbox_inserts(&cluster.pool).await;
    let released = cancel(&mut client, &p, &a.id).await.unwrap();
    assert_eq!(released.status, pb::AppointmentStatus::Available as i32);
    assert_eq!(cluster.row(&a.id).await, ("AVAILABLE".into(), None, 3));
    assert_eq!(
        cluster.events(&a.id).await,
        vec!["appointment.reserved", "appointment.cancelled"]
    );
}
