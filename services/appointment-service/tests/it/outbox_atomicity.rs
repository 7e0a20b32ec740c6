//! The outbox row is written in the change's own transaction: when the event cannot be written, the
//! change does not happen either. A trigger the test installs makes every outbox insert raise.

use clinic_common::testing::{bearer, error_info};
use clinic_proto::pb::appointment::v1 as pb;
use sqlx::PgPool;
use tonic::Code;

use crate::helpers::{Client, Patient, spawn_cluster};

async fn refuse_outbox_inserts(pool: &PgPool) {
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_outbox_insert() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'outbox refused by the test'; END $$; \
         CREATE TRIGGER refuse_outbox_insert BEFORE INSERT ON outbox \
         FOR EACH ROW EXECUTE FUNCTION refuse_outbox_insert();",
    )
    .execute(pool)
    .await
    .unwrap();
}

async fn allow_outbox_inserts(pool: &PgPool) {
    sqlx::query("DROP TRIGGER refuse_outbox_insert ON outbox")
        .execute(pool)
        .await
        .unwrap();
}

fn assert_internal<T: std::fmt::Debug>(answer: Result<T, tonic::Status>) {
    let err = answer.expect_err("the change cannot commit without its event");
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    assert_eq!(error_info(&err).0, "INTERNAL");
}

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
