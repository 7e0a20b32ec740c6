//! Publishing predefined appointments: validation, the database-enforced overlap rule, listing.

use std::sync::Arc;

use clinic_common::testing::{bearer, error_info, field_violations};
use clinic_proto::pb::appointment::v1 as pb;
use prost_types::Timestamp;
use tokio::sync::Barrier;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{in_hours, spawn_cluster};

#[tokio::test]
async fn bad_input_is_refused_with_field_violations_and_nothing_is_written() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let mut client = cluster.client().await;
    let base = cluster.new_appointment(&f, in_hours(30), 0, 0);
    let past = Timestamp {
        seconds: 1_000_000_000,
        nanos: 0,
    };
    let cases: Vec<(&str, pb::CreatePredefinedAppointmentRequest)> = vec![
        (
            "starts_at",
            pb::CreatePredefinedAppointmentRequest {
                starts_at: Some(past),
                ..base.clone()
            },
        ),
        (
            "starts_at",
            pb::CreatePredefinedAppointmentRequest {
                starts_at: None,
                ..base.clone()
            },
        ),
        (
            "price_minor",
            pb::CreatePredefinedAppointmentRequest {
                price_minor: -1,
                ..base.clone()
            },
        ),
        (
            "discount_percent",
            pb::CreatePredefinedAppointmentRequest {
                discount_percent: 101,
                ..base.clone()
            },
        ),
        (
            "currency",
            pb::CreatePredefinedAppointmentRequest {
                currency: "EURO".into(),
                ..base.clone()
            },
        ),
        (
            "currency",
            pb::CreatePredefinedAppointmentRequest {
                currency: "XYZ".into(),
                ..base.clone()
            },
        ),
        (
            "duration_minutes",
            pb::CreatePredefinedAppointmentRequest {
                duration_minutes: 4,
                ..base.clone()
            },
        ),
        (
            "duration_minutes",
            pb::CreatePredefinedAppointmentRequest {
                duration_minutes: 481,
                ..base.clone()
            },
        ),
        (
            "doctor_id",
            pb::CreatePredefinedAppointmentRequest {
                doctor_id: "x".into(),
                ..base.clone()
            },
        ),
    ];
    for (field, req) in cases {
        let err = client
            .create_predefined_appointment(bearer(&f.admin, req))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert_eq!(error_info(&err).0, "INVALID_FIELD");
        assert!(
            field_violations(&err).contains(&field.to_owned()),
            "{field}: {err:?}"
        );
    }

    // Unknown ids, or ids of another clinic's doctor: NOT_FOUND.
    let other = cluster.clinic().await;
    let unknown = [
        (
            "DOCTOR_NOT_FOUND",
            pb::CreatePredefinedAppointmentRequest {
                doctor_id: Uuid::new_v4().to_string(),
                ..base.clone()
            },
        ),
        (
            "DOCTOR_NOT_FOUND",
            pb::CreatePredefinedAppointmentRequest {
                doctor_id: other.doctors[0].clone(),
                ..base.clone()
            },
        ),
        (
            "ROOM_NOT_FOUND",
            pb::CreatePredefinedAppointmentRequest {
                room_id: Uuid::new_v4().to_string(),
                ..base.clone()
            },
        ),
        (
            "EXAM_TYPE_NOT_FOUND",
            pb::CreatePredefinedAppointmentRequest {
                exam_type_id: other.exam_type.clone(),
                ..base.clone()
            },
        ),
    ];
    for (reason, req) in unknown {
        let err = client
            .create_predefined_appointment(bearer(&f.admin, req))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{reason}: {err:?}");
        assert_eq!(error_info(&err).0, reason);
    }
    assert_eq!(cluster.count_appointments().await, 0);
}

#[tokio::test]
async fn an_overlapping_doctor_or_room_is_a_schedule_conflict_naming_the_other_appointment() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let mut client = cluster.client().await;
    let first = cluster.appointment(&f, 30, 0).await;
    let starts = first.starts_at.unwrap();
    let shifted = Timestamp {
        seconds: starts.seconds + 15 * 60,
        nanos: 0,
    };

    for (doctor, room) in [(0, 1), (1, 0)] {
        let err = client
            .create_predefined_appointment(bearer(
                &f.admin,
                cluster.new_appointment(&f, shifted, doctor, room),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        let (reason, meta) = error_info(&err);
        assert_eq!(reason, "SCHEDULE_CONFLICT");
        assert_eq!(meta["conflictingAppointmentId"], first.id);
    }
    // Back to back is fine.
    let after = Timestamp {
        seconds: starts.seconds + 30 * 60,
        nanos: 0,
    };
    client
        .create_predefined_appointment(bearer(&f.admin, cluster.new_appointment(&f, after, 0, 0)))
        .await
        .unwrap();
    assert_eq!(cluster.count_appointments().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_overlapping_creations_leave_exactly_one() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let starts = in_hours(40);
    let barrier = Arc::new(Barrier::new(8));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (mut client, barrier) = (cluster.client().await, barrier.clone());
        // Same doctor, different rooms (or the reverse): every pair overlaps on one of them.
        let req = bearer(&f.admin, cluster.new_appointment(&f, starts, i % 2, 0));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            client.create_predefined_appointment(req).await
        }));
    }
    let mut ok = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(a) => ok.push(a.into_inner()),
            Err(err) => {
                let (reason, meta) = error_info(&err);
                assert_eq!(reason, "SCHEDULE_CONFLICT", "{err:?}");
                assert!(!meta["conflictingAppointmentId"].is_empty());
            }
        }
    }
    assert_eq!(ok.len(), 1);
    assert_eq!(cluster.count_appointments().await, 1);
}

#[tokio::test]
async fn available_appointments_are_listed_by_start_with_filters_and_keyset_pages() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let g = cluster.clinic().await;
    let mut ids = Vec::new();
    for h in 0..5 {
        ids.push(cluster.appointment(&f, 30 + h, (h % 2) as usize).await.id);
    }
    cluster.appointment(&g, 31, 0).await;
    let p = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;
    cluster.reserve(&mut client, &p, &ids[2]).await.unwrap();

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_available_appointments(bearer(
                &p.token,
                pb::ListAvailableAppointmentsRequest {
                    clinic_id: Some(f.clinic_id.clone()),
                    exam_type_id: Some(f.exam_type.clone()),
                    from: None,
                    to: None,
                    page_size: 2,
                    page_token: token.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.appointments.into_iter().map(|a| a.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        vec![
            ids[0].clone(),
            ids[1].clone(),
            ids[3].clone(),
            ids[4].clone()
        ]
    );

    for size in [0, 101] {
        let err = client
            .list_available_appointments(bearer(
                &p.token,
                pb::ListAvailableAppointmentsRequest {
                    page_size: size,
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(field_violations(&err), vec!["page_size".to_owned()]);
    }
}

/// The listing index keeps ListAvailableAppointments an index range scan; the plan is printed for the
/// README and asserted not to be a sequential scan.
#[tokio::test]
async fn listing_available_appointments_uses_the_partial_index() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    sqlx::query(
        "INSERT INTO appointments (id, clinic_id, doctor_id, room_id, exam_type_id, starts_at, ends_at, \
         duration_minutes, price_minor, currency, discount_percent) \
         SELECT gen_random_uuid(), $1::uuid, $2::uuid, $3::uuid, $4::uuid, \
                date_trunc('minute', now()) + make_interval(mins => 30 * g), \
                date_trunc('minute', now()) + make_interval(mins => 30 * g + 30), 30, 1000, 'EUR', 0 \
         FROM generate_series(1, 20000) g",
    )
    .bind(&f.clinic_id)
    .bind(&f.doctors[0])
    .bind(&f.rooms[0])
    .bind(&f.exam_type)
    .execute(&cluster.pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE appointments")
        .execute(&cluster.pool)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT id FROM appointments WHERE status = 'AVAILABLE' AND starts_at > now() \
         AND clinic_id = $1::uuid AND exam_type_id = $2::uuid ORDER BY starts_at, id LIMIT 21",
    )
    .bind(&f.clinic_id)
    .bind(&f.exam_type)
    .fetch_all(&cluster.pool)
    .await
    .unwrap();
    let plan = plan.join("\n");
    println!("{plan}");
    assert!(plan.contains("Index"), "{plan}");
    assert!(!plan.contains("Seq Scan"), "{plan}");
}
