//! registration-service failing under a call: the caller is told the dependency is unavailable (and
//! may retry), never INTERNAL.

use clinic_common::{auth::Role, testing::error_info};
use clinic_proto::pb::appointment::v1::ReserveAppointmentRequest;
use tokio::{io::AsyncReadExt, net::TcpListener};
use tonic::Code;
use uuid::Uuid;

use crate::helpers::spawn_cluster;
use clinic_common::testing::bearer;

#[tokio::test]
async fn reserve_when_registration_drops_the_connection_mid_call_answers_dependency_unavailable() {
    let cluster = spawn_cluster().await;
    // A "registration-service" that accepts, reads the start of the call, then drops the connection:
    // what a crashing or restarting replica looks like from the caller.
    let dropper = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = dropper.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = dropper.accept().await {
            let mut buf = [0u8; 256];
            let _ = sock.read(&mut buf).await;
            drop(sock);
        }
    });
    assert_reserve_answers_dependency_unavailable(&cluster, addr).await;
}

#[tokio::test]
async fn reserve_when_registration_resets_the_stream_answers_dependency_unavailable() {
    let cluster = spawn_cluster().await;
    // An HTTP/2 peer that takes the call and resets its stream with PROTOCOL_ERROR: what a stream
    // caught by a replica's GOAWAY while it shuts down looks like. tonic's client turns that into
    // INTERNAL "h2 protocol error", which is a transport failure, not an answer.
    let resetter = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = resetter.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = resetter.accept().await {
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(sock).await else {
                    return;
                };
                while let Some(Ok((_, mut respond))) = conn.accept().await {
                    respond.send_reset(h2::Reason::PROTOCOL_ERROR);
                }
            });
        }
    });
    assert_reserve_answers_dependency_unavailable(&cluster, addr).await;
}

/// A reservation through an appointment replica whose registration-service is at `registration`
/// answers UNAVAILABLE / DEPENDENCY_UNAVAILABLE naming registration-service.
async fn assert_reserve_answers_dependency_unavailable(
    cluster: &crate::helpers::Cluster,
    registration: std::net::SocketAddr,
) {
    let replica = cluster
        .appointment_replica_with_registration(registration)
        .await;
    let mut client = cluster.client_of(&replica).await;
    let patient = Uuid::new_v4();
    let token = cluster.token(&patient.to_string(), Role::Patient, None);

    let err = client
        .reserve_appointment(bearer(
            &token,
            ReserveAppointmentRequest {
                appointment_id: Uuid::new_v4().to_string(),
                request_id: None,
            },
        ))
        .await
        .expect_err("registration-service failed the call");

    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    let (reason, metadata) = error_info(&err);
    assert_eq!(reason, "DEPENDENCY_UNAVAILABLE");
    assert_eq!(metadata["dependency"], "registration-service");
}
