//! Graceful shutdown: health turns NOT_SERVING before the server stops accepting calls.

use tokio_stream::StreamExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::helpers::spawn_app;

#[tokio::test]
async fn shutdown_reports_not_serving_before_stopping() {
    let app = spawn_app().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "clinic.registration.v1.RegistrationService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);

    app.begin_shutdown();

    let next = watch
        .next()
        .await
        .expect("an update before the stream ends")
        .unwrap();
    assert_eq!(next.status, ServingStatus::NotServing as i32);
}
