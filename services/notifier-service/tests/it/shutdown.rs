//! Shutdown: a send in flight finishes and records its outcome before the pool closes.

use std::time::Duration;

use crate::helpers::{
    Knobs, approve_one, notifier_settings, only_delivery, spawn_pipeline, start_notifier,
};

const WAIT: Duration = Duration::from_secs(60);

/// Waits (bounded) until nothing accepts connections on `addr` any more: the gRPC server has stopped.
async fn refuses_connections(addr: std::net::SocketAddr) {
    let deadline = std::time::Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "{addr} still accepts");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_send_records_it_sent_and_a_restart_sends_nothing_more() {
    let mut p = spawn_pipeline(Knobs::default()).await;
    p.smtp.hold_replies();
    approve_one(&p, "ana.shutdown@mail.example.com").await;
    p.smtp.wait_for_held(1, WAIT).await;

    // SIGTERM while the SMTP server has the message and has not answered yet; it answers once the
    // gRPC server has stopped.
    p.notifiers[0].begin_shutdown();
    refuses_connections(p.notifiers[0].addr).await;
    p.smtp.release_replies();
    p.notifiers[0].stop().await;

    let (_, status, attempts) = only_delivery(&p).await;
    assert_eq!(
        (status.as_str(), attempts),
        ("SENT", 1),
        "the accepted send is recorded before the pool closes"
    );
    // A restarted notifier, once any claim would have lapsed, has nothing left to send.
    sqlx::query("UPDATE deliveries SET claimed_until = now() - interval '1 second'")
        .execute(&p.pool)
        .await
        .unwrap();
    let _restarted = start_notifier(notifier_settings(&p, Knobs::default()).await).await;
    let mails = p.smtp.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "exactly one e-mail");
}
