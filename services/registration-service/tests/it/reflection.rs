//! Operators' view: reflection in v1 and v1alpha, health, and grpcurl 1.8.6 end to end.

use std::process::Command;

use clinic_proto::pb::registration::v1 as pb;
use tokio_stream::StreamExt;
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::helpers::{form, spawn_app};

#[tokio::test]
async fn reflection_v1_lists_the_service_and_health() {
    let app = spawn_app().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(Ok(resp)) = stream.next().await else {
        panic!("no reflection answer")
    };
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected answer {resp:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"clinic.registration.v1.RegistrationService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}

/// The one on PATH, else grpcurl 1.8.6 fetched into the target dir (see `testing::grpcurl`).
fn grpcurl() -> Command {
    Command::new(clinic_common::testing::grpcurl())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run grpcurl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "grpcurl failed: {text}");
    text
}

// grpcurl runs as a blocking child process; the server needs other worker threads meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_the_service_checks_health_and_submits_a_registration() {
    let app = spawn_app().await;
    let addr = app.addr.to_string();

    let listed = run(grpcurl().args(["-plaintext", &addr, "list"]));
    assert!(
        listed.contains("clinic.registration.v1.RegistrationService"),
        "{listed}"
    );

    let described = run(grpcurl().args([
        "-plaintext",
        &addr,
        "describe",
        "clinic.registration.v1.RegistrationService",
    ]));
    assert!(
        described.contains("ApproveRegistrationRequest"),
        "{described}"
    );

    let health = run(grpcurl().args(["-plaintext", &addr, "grpc.health.v1.Health/Check"]));
    assert!(health.contains("SERVING"), "{health}");

    let f: pb::SubmitRegistrationRequest = form();
    let body = serde_json::json!({
        "email": f.email, "password": f.password, "first_name": f.first_name, "last_name": f.last_name,
        "address": f.address, "city": f.city, "country": f.country, "phone": f.phone,
        "insurance_number": f.insurance_number,
    })
    .to_string();
    let submitted = run(grpcurl().args([
        "-plaintext",
        "-d",
        &body,
        &addr,
        "clinic.registration.v1.RegistrationService/SubmitRegistration",
    ]));
    assert!(
        submitted.contains("REGISTRATION_STATUS_PENDING"),
        "{submitted}"
    );
    assert!(
        !submitted.contains("password"),
        "the password never comes back: {submitted}"
    );
    assert_eq!(app.count("registration_requests").await, 1);
}
