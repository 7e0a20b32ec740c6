//! Shutdown: a send in flight finishes and records its outcome before the pool closes, however late
//! within its attempt deadline the SMTP server answers.

use std::time::{Duration, Instant};

use notifier_service::mail::{Mailer, SmtpSettings, TlsMode};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_reply_just_before_the_attempt_deadline_after_shutdown_began_is_recorded_sent_once()
{
    // An 8 s attempt deadline: longer than the test settings' drain used to be (5 s), as the
    // defaults' (25 s) was longer than theirs (20 s). The SMTP exchange may take all of it.
    let knobs = Knobs {
        claim: Duration::from_secs(16),
        replicas: 0,
        ..Knobs::default()
    };
    let attempt_deadline = knobs.claim / 2;
    let mut p = spawn_pipeline(knobs.clone()).await;
    let mut settings = notifier_settings(&p, knobs.clone()).await;
    settings.mailer = Mailer::smtp(&SmtpSettings {
        host: "127.0.0.1".into(),
        port: p.smtp.port,
        tls: TlsMode::None,
        username: None,
        password: None,
        timeout: attempt_deadline,
        ca_pem: None,
    })
    .unwrap();
    p.notifiers.push(start_notifier(settings).await);
    p.smtp.hold_replies();
    approve_one(&p, "ana.late-reply@mail.example.com").await;
    p.smtp.wait_for_held(1, WAIT).await;
    let held_at = Instant::now();

    // SIGTERM while the SMTP server has the message; it answers a second before the attempt would
    // give up (the attempt began before the message reached the end of DATA). The timing is the
    // point of the test: the reply comes late in the attempt, not at a step the notifier takes.
    p.notifiers[0].begin_shutdown();
    tokio::time::sleep_until((held_at + attempt_deadline - Duration::from_secs(1)).into()).await;
    p.smtp.release_replies();
    p.notifiers[0].stop().await;

    let (_, status, attempts) = only_delivery(&p).await;
    assert_eq!(
        (status.as_str(), attempts),
        ("SENT", 1),
        "the send answered late in its attempt is recorded before the notifier exits"
    );
    // A restarted notifier, once any claim would have lapsed, has nothing left to send.
    sqlx::query("UPDATE deliveries SET claimed_until = now() - interval '1 second'")
        .execute(&p.pool)
        .await
        .unwrap();
    let _restarted = start_notifier(notifier_settings(&p, knobs).await).await;
    let mails = p.smtp.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "exactly one e-mail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_shorter_than_a_send_and_its_sent_write_is_refused_at_start_up() {
    let knobs = Knobs {
        replicas: 0,
        ..Knobs::default()
    };
    let p = spawn_pipeline(knobs.clone()).await;
    let mut settings = notifier_settings(&p, knobs).await;
    // Longer than the attempt deadline, shorter than the SENT write's retry after it.
    settings.drain_deadline = settings.sender.attempt_deadline + Duration::from_secs(1);

    let refused = notifier_service::Application::build(settings).await;

    let error = refused
        .err()
        .expect("a notifier with a short drain must not start");
    assert!(
        error.to_string().contains("SHUTDOWN_DRAIN_SECONDS"),
        "{error:#}"
    );
}
