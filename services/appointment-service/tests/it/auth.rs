use appointment_service::policy::{FEED_SERVICE_NAME, SERVICE_NAME, policy};
use clinic_common::{
    auth::Role,
    testing::{bearer, error_info},
};
use clinic_proto::pb::appointment::v1 as pb;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::spawn_cluster;

#[test]
fn every_rpc_of_the_service_has_a_policy_entry() {
    clinic_common::testing::assert_every_rpc_has_a_policy(
        policy(),
        &[SERVICE_NAME, FEED_SERVICE_NAME],
    );
}

#[tokio::test]
async fn reserving_needs_a_patient_token() {
    let cluster = spawn_cluster().await;
    let f = cluster.clinic().await;
    let a = cluster.appointment(&f, 50, 0).await;
    let mut client = cluster.client().await;
    let req = |id: &str| pb::ReserveAppointmentRequest {
        appointment_id: id.to_owned(),
        request_id: None,
    };

    let err = client.reserve_appointment(req(&a.id)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(error_info(&err).0, "TOKEN_INVALID");

    let person = Uuid::new_v4().to_string();
    for (subject, role) in [
        (person.as_str(), Role::ClinicAdmin),
        (person.as_str(), Role::ClinicCenterAdmin),
        // A service whose token is for this server, but not for this RPC.
        ("service:notifier-service", Role::Service),
    ] {
        let token = cluster.token(subject, role, None);
        let err = client
            .reserve_appointment(bearer(&token, req(&a.id)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{role}");
    }
    assert_eq!(cluster.row(&a.id).await.0, "AVAILABLE");
}
