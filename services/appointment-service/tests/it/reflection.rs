//! Reflection lists only this port's services; another port's service is UNIMPLEMENTED here.

use clinic_common::testing::{expected_services, listed_services};
use clinic_proto::pb::registration::v1::{
    self as reg, registration_service_client::RegistrationServiceClient,
};

use crate::helpers::spawn_cluster;

#[tokio::test]
async fn reflection_lists_exactly_what_this_port_serves_and_other_services_are_unimplemented() {
    let c = spawn_cluster().await;
    assert_eq!(
        listed_services(c.appointment.addr).await,
        expected_services(&[
            "clinic.appointment.v1.AppointmentService",
            "clinic.outbox.v1.OutboxFeed"
        ])
    );

    let channel = tonic::transport::Channel::from_shared(format!("http://{}", c.appointment.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let err = RegistrationServiceClient::new(channel)
        .login(reg::LoginRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented, "{err:?}");
}
