//! Reservation edge cases: the lock timeout, overlapping holds, idempotency, inactive patients and an
//! unreachable registration-service.

use std::{sync::Arc, time::Duration};

use clinic_common::{
    auth::Role,
    testing::{bearer, error_info, retry_delay},
};
use clinic_proto::pb::appointment::v1 as pb;
use sqlx::Acquire;
use tokio::sync::Barrier;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{Patient, spawn_cluster, spawn_cluster_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_lock_held_past_the_lock_timeout_answers_busy_then_succeeds_after_release() {
    let cluster = spawn_cluster_with(Duration::from_millis(300)).await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 72, 0).await;
    let p = &cluster.patients(1).await[0];
    let mut client = cluster.client().await;

    // Another transaction holds the row lock for longer than the timeout: until the call returns.
    let mut holder = cluster.pool.acquire().await.unwrap();
    let mut tx = holder.begin().await.unwrap();
    sqlx::query("SELECT id FROM appointments WHERE id = $1::uuid FOR UPDATE")
        .bind(&a.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = cluster.reserve(&mut client, p, &a.id).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(error_info(&err).0, "APPOINTMENT_BUSY");
    assert!(retry_delay(&err).is_some());
    assert_eq!(cluster.row(&a.id).await.0, "AVAILABLE");
    tx.commit().await.unwrap();

    let reserved = cluster.reserve(&mut client, p, &a.id).await.unwrap();
    assert_eq!(reserved.patient_id, p.id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_patient_reserving_two_overlapping_appointments_at_once_gets_exactly_one() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    // Same time, different doctor and room: both can exist, one patient cannot hold both.
    let a = cluster.appointment(&f, 50, 0).await;
    let b = cluster.appointment(&f, 50, 1).await;
    let p = cluster.patients(1).await.remove(0);
    let barrier = Arc::new(Barrier::new(2));

    let mut tasks = Vec::new();
    for id in [a.id.clone(), b.id.clone()] {
        let (mut client, barrier, p) = (cluster.client().await, barrier.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            client
                .reserve_appointment(bearer(
                    &p.token,
                    pb::ReserveAppointmentRequest {
                        appointment_id: id,
                        request_id: None,
                    },
                ))
                .await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }

    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    let err = results.into_iter().find_map(Result::err).unwrap();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(error_info(&err).0, "PATIENT_SCHEDULE_CONFLICT");
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments WHERE patient_id = $1")
        .bind(p.id)
        .fetch_one(&cluster.pool)
        .await
        .unwrap();
    assert_eq!(held, 1);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&cluster.pool)
        .await
        .unwrap();
    assert_eq!(events, 1);
}

#[tokio::test]
async fn a_retry_or_the_holder_reserving_again_returns_the_reservation() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;
    let req = || {
        bearer(
            &p.token,
            pb::ReserveAppointmentRequest {
                appointment_id: a.id.clone(),
                request_id: Some("click-1".into()),
            },
        )
    };

    let first = client
        .reserve_appointment(req())
        .await
        .unwrap()
        .into_inner();
    let again = client
        .reserve_appointment(req())
        .await
        .unwrap()
        .into_inner();

    assert_eq!(first, again);
    assert_eq!(cluster.events(&a.id).await.len(), 1);
    assert_eq!(first.final_price_minor, 8_500);
}

#[tokio::test]
async fn inactive_and_unknown_patients_cannot_reserve() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let (inactive, _) = cluster.approved_patient().await;
    let mut client = cluster.client().await;

    for id in [inactive, Uuid::new_v4()] {
        let p = Patient {
            id,
            token: cluster.token(&id.to_string(), Role::Patient, None),
        };
        let err = cluster.reserve(&mut client, &p, &a.id).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert_eq!(error_info(&err).0, "ACCOUNT_NOT_ACTIVE");
    }
    assert_eq!(cluster.row(&a.id).await.0, "AVAILABLE");
    assert!(cluster.events(&a.id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_registration_service_stopped_reserve_is_unavailable_and_writes_nothing() {
    let mut cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let p = cluster.patients(1).await.remove(0);
    cluster.registration.stop().await;
    let mut client = cluster.client().await;

    let err = cluster.reserve(&mut client, &p, &a.id).await.unwrap_err();

    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    let (reason, meta) = error_info(&err);
    assert_eq!(reason, "DEPENDENCY_UNAVAILABLE");
    assert_eq!(meta["dependency"], "registration-service");
    assert_eq!(cluster.row(&a.id).await, ("AVAILABLE".into(), None, 1));
    assert!(cluster.events(&a.id).await.is_empty());
}

#[tokio::test]
async fn reserving_unknown_or_malformed_ids_is_refused() {
    let cluster = spawn_cluster().await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;

    let err = cluster
        .reserve(&mut client, &p, &Uuid::new_v4().to_string())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(error_info(&err).0, "APPOINTMENT_NOT_FOUND");

    let err = cluster
        .reserve(&mut client, &p, "1 OR 1=1")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn get_appointment_shows_patients_only_available_ones_and_their_own() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    let mut ps = cluster.patients(2).await;
    let (owner, other) = (ps.remove(0), ps.remove(0));
    let mut client = cluster.client().await;
    let get = |token: &str| bearer(token, pb::GetAppointmentRequest { id: a.id.clone() });

    assert!(
        client.get_appointment(get(&other.token)).await.is_ok(),
        "available: anyone"
    );
    cluster.reserve(&mut client, &owner, &a.id).await.unwrap();
    assert!(client.get_appointment(get(&owner.token)).await.is_ok());
    let err = client.get_appointment(get(&other.token)).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let other_clinic = cluster.token(
        &Uuid::new_v4().to_string(),
        Role::ClinicAdmin,
        Some(Uuid::new_v4()),
    );
    assert_eq!(
        client
            .get_appointment(get(&other_clinic))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    assert!(client.get_appointment(get(&f.admin)).await.is_ok());
}

#[tokio::test]
async fn reserving_an_appointment_that_has_started_is_appointment_in_past_and_changes_nothing() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 50, 0).await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;
    // Creation refuses a start in the past; time passing is what makes one, so move it back.
    sqlx::query(
        "UPDATE appointments SET starts_at = now() - interval '10 minutes', \
         ends_at = now() - interval '10 minutes' + make_interval(mins => duration_minutes) \
         WHERE id = $1::uuid",
    )
    .bind(&a.id)
    .execute(&cluster.pool)
    .await
    .unwrap();

    let err = cluster.reserve(&mut client, &p, &a.id).await.unwrap_err();

    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(error_info(&err).0, "APPOINTMENT_IN_PAST");
    assert_eq!(cluster.row(&a.id).await, ("AVAILABLE".into(), None, 1));
    assert!(cluster.events(&a.id).await.is_empty());
}

/// The loser's look-up of alternatives fails (here: a table lock, as a migration or `VACUUM FULL`
/// takes, is granted between the loser's reservation statement and its look-up, which gives up at the
/// lock timeout). The loser is still told the slot is taken, without alternatives; nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_look_up_of_alternatives_still_answers_already_reserved_without_them() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 60, 0).await;
    cluster.appointment(&f, 61, 1).await;
    let mut ps = cluster.patients(2).await;
    let (holder, loser) = (ps.remove(0), ps.remove(0));
    let mut client = cluster.client().await;
    cluster.reserve(&mut client, &holder, &a.id).await.unwrap();

    // The loser's statement parks on the row lock, holding its table locks.
    let mut row_tx = cluster.pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM appointments WHERE id = $1::uuid FOR UPDATE")
        .bind(&a.id)
        .execute(&mut *row_tx)
        .await
        .unwrap();
    let (who, id) = (loser.clone(), a.id.clone());
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
    // A table lock queues behind it: granted when that statement ends, before the look-up starts.
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let mut table_tx = cluster.pool.begin().await.unwrap();
    let table_lock = tokio::spawn(async move {
        sqlx::query("LOCK TABLE appointments IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *table_tx)
            .await
            .unwrap();
        released.await.unwrap();
        table_tx.rollback().await.unwrap();
    });
    cluster.wait_for_lock_waiters("relation", 1).await;
    row_tx.commit().await.unwrap();
    let answer = call.await.unwrap();
    release.send(()).unwrap();
    table_lock.await.unwrap();

    let err = answer.expect_err("the slot is taken");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let (reason, meta) = error_info(&err);
    assert_eq!(reason, "APPOINTMENT_ALREADY_RESERVED");
    assert!(
        !meta.keys().any(|k| k.starts_with("alternative")),
        "{meta:?}"
    );
    assert_eq!(
        cluster.row(&a.id).await,
        ("RESERVED".into(), Some(holder.id), 2)
    );
    assert_eq!(cluster.events(&a.id).await, vec!["appointment.reserved"]);
}
