//! 64 patients, one appointment, released together: exactly one reservation.

use std::{collections::HashMap, sync::Arc};

use appointment_service::service::reserve::BUSY_RETRY_AFTER;
use clinic_common::testing::{bearer, error_info, retry_delay};
use clinic_proto::pb::appointment::v1 as pb;
use tokio::sync::Barrier;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{Client, Cluster, spawn_cluster};

const PATIENTS: usize = 64;
const APPOINTMENTS: usize = 20;

async fn race(cluster: &Cluster, clients: &[Client]) {
    let fixture = cluster.clinic().await;
    let patients = Arc::new(cluster.patients(PATIENTS).await);
    let mut appointments = Vec::new();
    for i in 0..APPOINTMENTS {
        // Alternate doctor/room so consecutive hours never clash.
        appointments.push(cluster.appointment(&fixture, 48 + i as i64, i % 2).await);
    }
    let all_ids: Vec<String> = appointments.iter().map(|a| a.id.clone()).collect();

    let mut winners: HashMap<String, Uuid> = HashMap::new();
    for (k, a) in appointments.iter().enumerate() {
        // Raced in start order, so the ones still available are the later ones; nearest first.
        let expected_alternatives: Vec<&String> = all_ids[k + 1..].iter().take(3).collect();
        let barrier = Arc::new(Barrier::new(PATIENTS));
        let mut tasks = Vec::new();
        for i in 0..PATIENTS {
            let mut client = clients[i % clients.len()].clone();
            let (barrier, patients, id) = (barrier.clone(), patients.clone(), a.id.clone());
            tasks.push(tokio::spawn(async move {
                let p = &patients[i];
                barrier.wait().await;
                let r = client
                    .reserve_appointment(bearer(
                        &p.token,
                        pb::ReserveAppointmentRequest {
                            appointment_id: id,
                            request_id: None,
                        },
                    ))
                    .await;
                (p.id, r)
            }));
        }
        let mut ok = Vec::new();
        let mut already = 0;
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                (who, Ok(r)) => ok.push((who, r.into_inner())),
                (_, Err(status)) => {
                    let (reason, meta) = error_info(&status);
                    match reason.as_str() {
                        "APPOINTMENT_ALREADY_RESERVED" => {
                            assert_eq!(status.code(), Code::FailedPrecondition);
                            already += 1;
                            // Alternatives: the nearest other available appointments of the
                            // same clinic and exam type, nearest first, at most three.
                            let alts: Vec<&String> = (1..)
                                .map_while(|n| meta.get(&format!("alternative{n}")))
                                .collect();
                            assert_eq!(alts, expected_alternatives, "{status:?}");
                            assert_eq!(
                                meta.keys().filter(|k| k.starts_with("alternative")).count(),
                                alts.len()
                            );
                        }
                        "APPOINTMENT_BUSY" => {
                            assert_eq!(status.code(), Code::Aborted);
                            assert_eq!(
                                retry_delay(&status),
                                Some(BUSY_RETRY_AFTER),
                                "BUSY carries RetryInfo"
                            );
                            busy += 1;
                        }
                        other => panic!("unexpected loser answer {other}: {status:?}"),
                    }
                }
            }
        }
        assert_eq!(ok.len(), 1, "appointment {}: {} winners", a.id, ok.len());
        assert_eq!(already + busy, PATIENTS - 1);
        let (winner, reserved) = &ok[0];
        assert_eq!(reserved.patient_id, winner.to_string());
        assert_eq!(reserved.status, pb::AppointmentStatus::Reserved as i32);

        let (status, holder, version) = cluster.row(&a.id).await;
        assert_eq!(
            (status.as_str(), holder, version),
            ("RESERVED", Some(*winner), 2)
        );
        assert_eq!(cluster.events(&a.id).await, vec!["appointment.reserved"]);
        winners.insert(a.id.clone(), *winner);
    }

    // ListMyAppointments shows each appointment to its winner only.
    let mut client = clients[0].clone();
    for p in patients.iter() {
        let mine = client
            .list_my_appointments(bearer(
                &p.token,
                pb::ListMyAppointmentsRequest { include_past: None },
            ))
            .await
            .unwrap()
            .into_inner()
            .appointments;
        let expected: Vec<&String> = winners
            .iter()
            .filter(|(_, w)| **w == p.id)
            .map(|(a, _)| a)
            .collect();
        assert_eq!(mine.len(), expected.len(), "patient {}", p.id);
        for m in mine {
            assert_eq!(winners[&m.id], p.id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_patients_racing_for_one_appointment_leave_exactly_one_reservation() {
    let cluster = spawn_cluster().await;
    let client = cluster.client().await;
    race(&cluster, &[client]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_race_holds_across_two_appointment_servers_sharing_one_database() {
    let cluster = spawn_cluster().await;
    let replica = cluster.appointment_replica().await;
    let clients = [cluster.client().await, cluster.client_of(&replica).await];
    race(&cluster, &clients).await;
}
