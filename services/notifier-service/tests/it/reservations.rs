//! The 64-patients-one-appointment race through the pipeline: one confirmation, to the winner.

use std::{sync::Arc, time::Duration};

use clinic_common::{auth::Role, testing::bearer};
use clinic_proto::pb::{
    appointment::v1::{self as ap, appointment_service_client::AppointmentServiceClient},
    registration::v1 as reg,
};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::helpers::{Knobs, Pipeline, message_id, spawn_pipeline};

const PATIENTS: usize = 64;
const APPOINTMENTS: usize = 2;

/// `n` active patients: (id, e-mail, token).
async fn patients(p: &Pipeline, n: usize) -> Vec<(Uuid, String, String)> {
    let admin = p.admin(0).await;
    let mut client = p.registration().await;
    let mut out = Vec::new();
    for _ in 0..n {
        let r = p.submit(&mut client).await;
        let approved = client
            .approve_registration_request(p.approve(&r.id, &admin.token))
            .await
            .unwrap()
            .into_inner();
        let sealed: String = sqlx::query_scalar(
            "SELECT payload->>'activation_token_sealed' FROM outbox WHERE aggregate_id = $1",
        )
        .bind(&r.id)
        .fetch_one(&p.reg_pool)
        .await
        .unwrap();
        let token = p
            .keys
            .seal
            .open(&sealed)
            .expect("the notifier's key opens it");
        client
            .activate_account(reg::ActivateAccountRequest { token })
            .await
            .unwrap();
        let id: Uuid = approved.patient_id.parse().unwrap();
        out.push((id, r.email, p.token(&id.to_string(), Role::Patient, None)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_patients_get_exactly_one_confirmation_sent_to_the_winner() {
    let p = spawn_pipeline(Knobs::default()).await;
    let mut appt = AppointmentServiceClient::new(p.appointment.channel().await);
    let center = p.token(&Uuid::new_v4().to_string(), Role::ClinicCenterAdmin, None);
    let clinic = appt
        .create_clinic(bearer(
            &center,
            ap::CreateClinicRequest {
                name: "Pipeline Clinic".into(),
                address: "Bulevar 1".into(),
                city: "Novi Sad".into(),
                time_zone: "Europe/Belgrade".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let admin = p.token(
        &Uuid::new_v4().to_string(),
        Role::ClinicAdmin,
        Some(clinic.id.parse().unwrap()),
    );
    let doctor = appt
        .create_doctor(bearer(
            &admin,
            ap::CreateDoctorRequest {
                clinic_id: clinic.id.clone(),
                first_name: "Mia".into(),
                last_name: "Doc".into(),
                specialization: "cardiology".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let room = appt
        .create_room(bearer(
            &admin,
            ap::CreateRoomRequest {
                clinic_id: clinic.id.clone(),
                name: "R1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let exam = appt
        .create_exam_type(bearer(
            &admin,
            ap::CreateExamTypeRequest {
                clinic_id: clinic.id.clone(),
                name: "ECG".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut appointments = Vec::new();
    for i in 0..APPOINTMENTS as i64 {
        let start = now - now.rem_euclid(3600) + (48 + i) * 3600;
        appointments.push(
            appt.create_predefined_appointment(bearer(
                &admin,
                ap::CreatePredefinedAppointmentRequest {
                    clinic_id: clinic.id.clone(),
                    doctor_id: doctor.id.clone(),
                    room_id: room.id.clone(),
                    exam_type_id: exam.id.clone(),
                    starts_at: Some(prost_types::Timestamp {
                        seconds: start,
                        nanos: 0,
                    }),
                    duration_minutes: 30,
                    price_minor: 10_000,
                    currency: "EUR".into(),
                    discount_percent: 15,
                },
            ))
            .await
            .unwrap()
            .into_inner(),
        );
    }
    let people = Arc::new(patients(&p, PATIENTS).await);

    let mut winners = Vec::new();
    for a in &appointments {
        let barrier = Arc::new(Barrier::new(PATIENTS));
        let mut tasks = Vec::new();
        for i in 0..PATIENTS {
            let (mut c, barrier, people, id) =
                (appt.clone(), barrier.clone(), people.clone(), a.id.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let req = bearer(
                    &people[i].2,
                    ap::ReserveAppointmentRequest {
                        appointment_id: id,
                        request_id: None,
                    },
                );
                c.reserve_appointment(req)
                    .await
                    .map(|_| i)
                    .map_err(|s| (s.code(), clinic_common::testing::error_info(&s).0))
            }));
        }
        let mut won = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(i) => won.push(i),
                // A loser is told it is taken, or to retry; anything else (INTERNAL) is a bug.
                Err((tonic::Code::FailedPrecondition, r))
                    if r == "APPOINTMENT_ALREADY_RESERVED" => {}
                Err((tonic::Code::Aborted, r)) if r == "APPOINTMENT_BUSY" => {}
                Err(other) => panic!("a loser was told {other:?}"),
            }
        }
        assert_eq!(won.len(), 1);
        winners.push((a.id.clone(), won[0]));
    }

    // 64 approval e-mails and one confirmation per appointment.
    let mails = p
        .smtp
        .wait_for(PATIENTS + APPOINTMENTS, Duration::from_secs(120))
        .await;
    let confirmations: Vec<_> = mails
        .iter()
        .filter(|m| m.subject.starts_with("Appointment confirmed"))
        .collect();
    assert_eq!(confirmations.len(), APPOINTMENTS);
    for (appointment_id, winner) in winners {
        let events: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM outbox WHERE aggregate_id = $1")
            .bind(&appointment_id)
            .fetch_all(&p.appt_pool)
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        let mail = confirmations
            .iter()
            .find(|m| m.message_id == message_id(events[0]))
            .expect("confirmation");
        assert!(
            mail.to.contains(&people[winner].1),
            "sent to the winner: {}",
            mail.to
        );
        assert!(
            mail.text.contains("85.00 EUR") && mail.text.contains("Dr Mia Doc"),
            "{}",
            mail.text
        );
    }
    assert_eq!(
        mails.len(),
        PATIENTS + APPOINTMENTS,
        "nothing to the losers"
    );
}
