//! SMTP over implicit TLS (SMTPS, `SMTP_TLS=tls`), against the test server speaking TLS with a
//! certificate of the test's own CA.

use std::time::{Duration, Instant};

use clinic_common::{
    config::read_key_file,
    testing::SmtpServer,
    tls::{DevCertificates, write_dev_certificates},
};
use notifier_service::mail::{Mailer, SmtpSettings, TlsMode};

use crate::helpers::{
    Knobs, Pipeline, approve_one, notifier_settings, spawn_pipeline, start_notifier,
};

const WAIT: Duration = Duration::from_secs(60);

/// Replaces the pipeline's SMTP server by one speaking TLS from the first byte, with a certificate
/// for 127.0.0.1 that `certs`' CA signed.
fn smtps(p: &mut Pipeline, certs: &DevCertificates) {
    let files = certs.service("smtp");
    p.smtp = SmtpServer::start_tls(
        &read_key_file(&files.cert).unwrap(),
        &read_key_file(&files.key).unwrap(),
    );
}

/// Waits (bounded) until no delivery is `QUEUED` any more; returns (recipient address part, status,
/// last error) of each.
async fn settled(p: &Pipeline, n: i64) -> Vec<(String, String, Option<String>)> {
    let deadline = Instant::now() + WAIT;
    loop {
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT payload->>'email', status, last_error FROM deliveries ORDER BY created_at",
        )
        .fetch_all(&p.pool)
        .await
        .unwrap();
        if rows.len() as i64 == n && rows.iter().all(|(_, status, _)| status != "QUEUED") {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never settled: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_implicit_tls_a_reply_stalled_past_the_attempt_deadline_leaves_the_next_messages_replies_in_step()
 {
    // Arrange: a 2 s attempt deadline; the notifier mails over implicit TLS, trusting the test CA.
    let knobs = Knobs {
        replicas: 0,
        claim: Duration::from_secs(4),
        ..Knobs::default()
    };
    let mut p = spawn_pipeline(knobs.clone()).await;
    let dir = tempfile::TempDir::new().unwrap();
    let certs = write_dev_certificates(dir.path(), &["smtp"]).unwrap();
    smtps(&mut p, &certs);
    let mut settings = notifier_settings(&p, knobs).await;
    let attempt_deadline = settings.sender.attempt_deadline;
    settings.mailer = Mailer::smtp(&SmtpSettings {
        host: "127.0.0.1".into(),
        port: p.smtp.port,
        tls: TlsMode::Tls,
        username: None,
        password: None,
        timeout: Duration::from_secs(10),
        ca_pem: Some(certs.ca_pem().unwrap()),
    })
    .unwrap();
    p.notifiers.push(start_notifier(settings).await);

    // Act: the reply to the first message's RCPT TO comes only after its attempt gave up (but within
    // the next attempt's deadline); the next messages are sent after that give-up.
    p.smtp
        .stall_next_reply("RCPT", attempt_deadline + attempt_deadline / 2);
    approve_one(&p, "first.stalled@mail.example.com").await;
    p.smtp.wait_for_stalled(1, WAIT).await;
    let next = ["second@mail.example.com", "third@mail.example.com"];
    for email in next {
        approve_one(&p, email).await;
    }

    // Assert: each delivery recorded SENT, and each e-mail arrived once (the stalled one was never
    // accepted: the server had not reached DATA when the attempt gave up).
    let rows = settled(&p, 1 + next.len() as i64).await;
    for (email, status, error) in &rows {
        assert_eq!(status, "SENT", "{email}: {status} ({error:?})");
    }
    let mails = p.smtp.wait_for(1 + next.len(), WAIT).await;
    assert_eq!(mails.len(), 1 + next.len(), "one e-mail per delivery");
    for (email, _, _) in &rows {
        let sent = mails
            .iter()
            .filter(|m| m.to.contains(email.as_str()))
            .count();
        assert_eq!(sent, 1, "{email} e-mailed once");
    }
}
