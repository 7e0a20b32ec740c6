//! Reflection lists only this port's services; another port's service is UNIMPLEMENTED here.

use clinic_common::testing::{expected_services, listed_services};
use clinic_proto::pb::outbox::v1::{self as outbox, outbox_feed_client::OutboxFeedClient};

use crate::helpers::{Knobs, spawn_pipeline};

#[tokio::test]
async fn reflection_lists_exactly_what_this_port_serves_and_other_services_are_unimplemented() {
    let p = spawn_pipeline(Knobs::default()).await;
    let addr = p.notifiers[0].addr;
    assert_eq!(
        listed_services(addr).await,
        expected_services(&["clinic.notifier.v1.NotifierService"])
    );

    // The feed is the producers' service, not the notifier's.
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let err = OutboxFeedClient::new(channel)
        .pull(outbox::PullRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented, "{err:?}");
}
