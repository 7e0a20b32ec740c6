//! Operators' view: reflection (only this port's services), health, and grpcurl 1.8.6 end to end.

use std::process::Command;

use clinic_common::testing::{expected_services, listed_services};
use clinic_proto::pb::{
    appointment::v1::{self as appt, appointment_service_client::AppointmentServiceClient},
    registration::v1 as pb,
};

use crate::helpers::{form, spawn_app};

#[tokio::test]
async fn reflection_lists_exactly_what_this_port_serves_and_other_services_are_unimplemented() {
    let app = spawn_app().await;
    assert_eq!(
        listed_services(app.addr).await,
        expected_services(&[
            "clinic.registration.v1.RegistrationService",
            "clinic.outbox.v1.OutboxFeed"
        ])
    );

    // A service of another port: what a server without it answers, not a policy refusal.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let err = AppointmentServiceClient::new(channel)
        .list_available_appointments(appt::ListAvailableAppointmentsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented, "{err:?}");
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
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort();
    assert_eq!(
        listed,
        expected_services(&[
            "clinic.registration.v1.RegistrationService",
            "clinic.outbox.v1.OutboxFeed"
        ]),
        "grpcurl list shows exactly this port's services"
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
