//! One reservation is one trace across the three services: the real binaries export their spans
//! over OTLP to a receiver in this test, and the spans of the request (appointment-service), its
//! patient check (registration-service), the outbox write, and the notifier's send with its SMTP
//! exchange all carry the trace id the client sent.

use std::time::Duration;

use clinic_proto::pb::appointment::v1::ReserveAppointmentRequest;
use system_tests::{
    clients::{Clients, call},
    cluster::{Cluster, Kind},
    otlp::{ReceivedSpan, Receiver},
    seed,
};

fn find<'a>(
    spans: &'a [ReceivedSpan],
    service: &str,
    matches: impl Fn(&ReceivedSpan) -> bool,
) -> Option<&'a ReceivedSpan> {
    spans.iter().find(|s| s.service == service && matches(s))
}

fn smtp_send(s: &ReceivedSpan) -> bool {
    s.name == "smtp_send"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_reservation_is_one_trace_across_the_three_services() {
    // Arrange: one replica of each service exporting to the receiver; a patient and an appointment.
    let (receiver, addr) = Receiver::start().await.expect("OTLP receiver");
    let endpoint = format!("http://{addr}");
    let cluster = Cluster::start_with(
        "trace",
        1,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            // Export within a fraction of a second rather than the default 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    )
    .await
    .expect("cluster");
    let clients = Clients::new(
        &cluster.ca_pem,
        &cluster.urls(Kind::Registration),
        &cluster.urls(Kind::Appointment),
    );
    let size = seed::SeedSize {
        admins: 1,
        patients: 1,
        doctors: 1,
        appointments_per_doctor: 1,
    };
    let world = seed::seed(&cluster, &clients, &size).await.expect("seed");
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let mut req = call(
        Some(&world.patients[0].token),
        ReserveAppointmentRequest {
            appointment_id: world.appointments[0].to_string(),
            request_id: None,
        },
    );
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .expect("ASCII"),
    );

    // Act
    clients
        .appointment()
        .reserve_appointment(req)
        .await
        .expect("reserved");

    // Assert: the four steps, in three services, under the client's trace id.
    let spans = receiver
        .wait_for_trace(
            &trace_id,
            |s| find(s, "notifier-service", smtp_send).is_some(),
            Duration::from_secs(1),
            Duration::from_secs(60),
        )
        .await;
    let show = || {
        spans
            .iter()
            .map(|s| format!("{} {} {:?}", s.service, s.name, s.attributes))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let request = find(&spans, "appointment-service", |s| {
        s.name == "rpc"
            && s.attribute("rpc.method")
                == Some("/clinic.appointment.v1.AppointmentService/ReserveAppointment")
    });
    assert!(request.is_some(), "the request's span; got:\n{}", show());
    let outbox = find(&spans, "appointment-service", |s| {
        s.attribute("outbox_event_id").is_some()
    });
    assert!(
        outbox.is_some(),
        "the reservation and outbox write; got:\n{}",
        show()
    );
    let patient_check = find(&spans, "registration-service", |s| {
        s.attribute("rpc.method") == Some("/clinic.registration.v1.RegistrationService/GetPatient")
    });
    assert!(
        patient_check.is_some(),
        "registration-service's GetPatient; got:\n{}",
        show()
    );
    let send = find(&spans, "notifier-service", |s| {
        s.name == "send_email" && s.attribute("event_type") == Some("appointment.reserved")
    });
    assert!(send.is_some(), "the notifier's send; got:\n{}", show());
    assert!(
        find(&spans, "notifier-service", smtp_send).is_some(),
        "the SMTP exchange; got:\n{}",
        show()
    );
    let delivered = cluster
        .smtp
        .lock()
        .unwrap()
        .messages()
        .into_iter()
        .filter(|m| m.subject.starts_with("Appointment confirmed"))
        .count();
    assert_eq!(delivered, 1, "one confirmation reached the SMTP server");
}
