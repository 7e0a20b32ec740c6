//! A clinic admin learns nothing about another clinic's schedule through
//! `CreatePredefinedAppointment`: another clinic's doctor or room is answered exactly like an unknown
//! id — whether it is busy at that time, free, or locked by that clinic's own work — and nothing is
//! written.

use clinic_common::testing::{bearer, error_info};
use clinic_proto::pb::appointment::v1 as pb;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::helpers::{Client, spawn_cluster};

/// Everything the caller receives of a refusal.
fn raw(s: &Status) -> (Code, String, Vec<u8>) {
    (s.code(), s.message().to_owned(), s.details().to_vec())
}

async fn refusal(
    client: &mut Client,
    admin: &str,
    req: pb::CreatePredefinedAppointmentRequest,
) -> Status {
    client
        .create_predefined_appointment(bearer(admin, req))
        .await
        .expect_err("another clinic's doctor or room is refused")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clinics_doctor_or_room_is_answered_like_an_unknown_id_busy_free_or_locked() {
    let cluster = spawn_cluster().await;
    let a = cluster.clinic().await;
    let b = cluster.clinic().await;
    // B's doctor 0 and room 0 are busy at `starts`; B's doctor 1 and room 1 are free.
    let busy = cluster.appointment(&b, 30, 0).await;
    let starts = busy.starts_at.unwrap();
    let base = cluster.new_appointment(&a, starts, 0, 0);
    let mut client = cluster.client().await;

    for (what, reason) in [("doctor", "DOCTOR_NOT_FOUND"), ("room", "ROOM_NOT_FOUND")] {
        let with = |id: &str| {
            let mut req = base.clone();
            match what {
                "doctor" => req.doctor_id = id.to_owned(),
                _ => req.room_id = id.to_owned(),
            }
            req
        };
        let (b_busy, b_free) = match what {
            "doctor" => (&b.doctors[0], &b.doctors[1]),
            _ => (&b.rooms[0], &b.rooms[1]),
        };
        let unknown = refusal(&mut client, &a.admin, with(&Uuid::new_v4().to_string())).await;
        assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
        assert_eq!(error_info(&unknown).0, reason);

        let answer_busy = refusal(&mut client, &a.admin, with(b_busy)).await;
        assert_eq!(
            raw(&answer_busy),
            raw(&unknown),
            "busy {what}: {answer_busy:?}"
        );
        let answer_free = refusal(&mut client, &a.admin, with(b_free)).await;
        assert_eq!(
            raw(&answer_free),
            raw(&unknown),
            "free {what}: {answer_free:?}"
        );

        // B's own work holds the lock a creation for that doctor or room takes: A's call neither
        // waits for it nor says anything else.
        let mut tx = cluster.pool.begin().await.unwrap();
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("{what}:{b_busy}"))
            .execute(&mut *tx)
            .await
            .unwrap();
        let answer_locked = refusal(&mut client, &a.admin, with(b_busy)).await;
        tx.rollback().await.unwrap();
        assert_eq!(
            raw(&answer_locked),
            raw(&unknown),
            "locked {what}: {answer_locked:?}"
        );
    }
    assert_eq!(
        cluster.count_appointments().await,
        1,
        "only B's appointment"
    );
}
