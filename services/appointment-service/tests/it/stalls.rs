//! Regression check for transport stalls (Nagle + delayed ACK, ~40 ms per response). A healthy call on
//! loopback takes a few milliseconds; the limit is a tenfold margin over that, so this fails when a
//! stall comes back, not when the machine is busy.

use std::time::{Duration, Instant};

use appointment_service::registration_client::RegistrationClient;
use clinic_common::{auth::Role, testing::bearer};
use clinic_proto::pb::appointment::v1 as pb;

use crate::helpers::spawn_cluster;

const CALLS: usize = 200;
const MEDIAN_LIMIT: Duration = Duration::from_millis(20);

fn median(mut took: Vec<Duration>) -> Duration {
    took.sort();
    took[took.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_internal_calls_to_registration_service_do_not_stall() {
    let cluster = spawn_cluster().await;
    let patient = cluster.patients(1).await.remove(0);
    let token = cluster.token("service:appointment-service", Role::Service, None);
    // The client appointment-service itself uses for its one internal hop.
    let internal = RegistrationClient::new(
        &format!("http://{}", cluster.registration.addr),
        token.into(),
        Duration::from_secs(5),
        &clinic_common::tls::Tls::Plaintext,
    )
    .unwrap();
    internal.ask(patient.id).await.unwrap();

    let mut took = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        internal.ask(patient.id).await.unwrap();
        took.push(start.elapsed());
    }

    let median = median(took);
    assert!(
        median < MEDIAN_LIMIT,
        "median GetPatient hop {median:?} (limit {MEDIAN_LIMIT:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_reserve_and_cancel_calls_do_not_stall() {
    let cluster = spawn_cluster().await;
    let clinic = cluster.clinic().await;
    let appointment = cluster.appointment(&clinic, 72, 0).await;
    let patient = cluster.patients(1).await.remove(0);
    let mut client = cluster.client().await;
    cluster
        .reserve(&mut client, &patient, &appointment.id)
        .await
        .unwrap();

    let mut took = Vec::with_capacity(CALLS);
    for _ in 0..CALLS / 2 {
        let start = Instant::now();
        client
            .cancel_reservation(bearer(
                &patient.token,
                pb::CancelReservationRequest {
                    appointment_id: appointment.id.clone(),
                },
            ))
            .await
            .unwrap();
        took.push(start.elapsed());
        let start = Instant::now();
        cluster
            .reserve(&mut client, &patient, &appointment.id)
            .await
            .unwrap();
        took.push(start.elapsed());
    }

    let median = median(took);
    assert!(
        median < MEDIAN_LIMIT,
        "median reserve/cancel call {median:?} (limit {MEDIAN_LIMIT:?})"
    );
}
