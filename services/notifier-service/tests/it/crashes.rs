//! Crashes: the notifier or a producer killed with SIGKILL, then restarted, as real processes.

use std::{
    collections::HashSet,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use clinic_common::testing::ServiceUrls;
use secrecy::ExposeSecret;

use crate::helpers::{
    Knobs, Pipeline, notifier_settings, service_token, spawn_pipeline, start_notifier,
};

const WAIT: Duration = Duration::from_secs(120);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The key files the service processes read. Removed when dropped, also when the test fails: it holds
/// private keys. Declare it before the processes, so they are killed first.
fn scratch(p: &Pipeline) -> tempfile::TempDir {
    let tmp = tempfile::Builder::new()
        .prefix("clinic-crash-")
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("public.pem"), &p.keys.pair.public_pem).unwrap();
    std::fs::write(dir.join("private.pem"), &p.keys.pair.private_pem).unwrap();
    std::fs::write(dir.join("seal_open.key"), p.keys.seal.to_text()).unwrap();
    std::fs::write(
        dir.join("seal_public.key"),
        p.keys.seal.sealing_key().to_text(),
    )
    .unwrap();
    for private in ["private.pem", "seal_open.key"] {
        // The services refuse a private key other users may read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(private), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
    std::fs::write(dir.join("token"), service_token(&p.keys)).unwrap();
    tmp
}

async fn notifier_urls(p: &Pipeline) -> ServiceUrls {
    use notifier_service::db::{EXTENSIONS, SCHEMA};
    p.db.service_urls(SCHEMA, EXTENSIONS).await
}

/// A service process that is killed when dropped, so a failing test leaves nothing running.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `<bin> serve` as its runtime role (`urls`: that service's), migrating first as its migration role.
fn spawn(bin: &str, urls: &ServiceUrls, dir: &std::path::Path, env: &[(&str, String)]) -> Proc {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .env("DATABASE_URL", urls.runtime.expose_secret())
        .env("MIGRATION_DATABASE_URL", urls.migration.expose_secret())
        .env("MIGRATE_ON_START", "true")
        .env("RUST_LOG", "warn")
        // Plaintext, as every suite of this crate; the system tests run the binaries over mutual TLS.
        .env("PLAINTEXT", "true")
        .env("JWT_PUBLIC_KEY_FILE", dir.join("public.pem"))
        .env("JWT_PRIVATE_KEY_FILE", dir.join("private.pem"))
        .env("SERVICE_TOKEN_FILE", dir.join("token"))
        .env("ACTIVATION_SEAL_KEY_FILE", dir.join("seal_public.key"))
        .env("ACTIVATION_OPEN_KEY_FILE", dir.join("seal_open.key"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc(cmd.spawn().expect("spawn service binary"))
}

fn sigkill(child: &mut Proc) {
    // Child::kill sends SIGKILL on Unix: no shutdown code runs.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
}

async fn approve_many(p: &Pipeline, n: usize) -> Vec<String> {
    let admin = p.admin(0).await;
    let mut client = p.registration().await;
    let mut ids = Vec::new();
    for _ in 0..n {
        let r = p.submit(&mut client).await;
        client
            .approve_registration_request(p.approve(&r.id, &admin.token))
            .await
            .unwrap();
        ids.push(r.id);
    }
    ids
}

/// Every registration outbox event has an e-mail, each Message-ID once.
async fn all_mailed_once(p: &Pipeline, expected: usize) {
    let mails = p.smtp.wait_for(expected, WAIT).await;
    let event_ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM outbox")
        .fetch_all(&p.reg_pool)
        .await
        .unwrap();
    assert_eq!(event_ids.len(), expected);
    let got: HashSet<&String> = mails.iter().map(|m| &m.message_id).collect();
    for id in event_ids {
        assert!(
            got.contains(&crate::helpers::message_id(id)),
            "event {id} never mailed"
        );
    }
    assert_eq!(got.len(), expected, "every event mailed once");
    assert_eq!(mails.len(), expected, "no e-mail twice");
}

/// Deliveries in each state, from the ledger.
async fn ledger(p: &Pipeline) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT status, count(*) FROM deliveries GROUP BY status ORDER BY status")
        .fetch_all(&p.pool)
        .await
        .unwrap()
}

async fn sent_count(p: &Pipeline) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'SENT'")
        .fetch_one(&p.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifier_killed_mid_stream_with_sends_in_flight_loses_none_and_duplicates_none() {
    let p = spawn_pipeline(Knobs {
        replicas: 0,
        ..Knobs::default()
    })
    .await;
    approve_many(&p, 40).await;
    let dir = scratch(&p);
    let env = [
        ("LISTEN_ADDR", format!("127.0.0.1:{}", free_port())),
        (
            "REGISTRATION_URL",
            format!("http://{}", p.registration.addr),
        ),
        ("APPOINTMENT_URL", format!("http://{}", p.appointment.addr)),
        ("SMTP_HOST", "127.0.0.1".into()),
        ("SMTP_PORT", p.smtp.port.to_string()),
        ("MESSAGE_ID_DOMAIN", "notifier.test".into()),
        // Short claims: what the killed process held is sent again soon.
        ("CLAIM_SECONDS", "4".into()),
        ("ATTEMPT_DEADLINE_SECONDS", "2".into()),
    ];
    let bin = env!("CARGO_BIN_EXE_notifier-service");
    let urls = notifier_urls(&p).await;
    let mut notifier = spawn(bin, &urls, dir.path(), &env);
    // Mid-stream, with SMTP up: some e-mails are out, then the next sends reach the end of DATA and
    // wait there for the server's answer, and the process dies.
    p.smtp.wait_for_at_least(5, WAIT).await;
    p.smtp.hold_replies();
    p.smtp.wait_for_held(1, WAIT).await;
    // What passed the end of DATA just before the hold is stored; nothing more is until the release.
    p.smtp.wait_for_unheld_stored(WAIT).await;
    // Every message the server took before the hold is in the ledger as SENT: the kill below falls
    // outside the crash window (accepted, not yet recorded), so no duplicate is allowed.
    let deadline = std::time::Instant::now() + WAIT;
    while sent_count(&p).await < p.smtp.messages().len() as i64 {
        assert!(std::time::Instant::now() < deadline, "SENT never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sigkill(&mut notifier);
    let sent_before = p.smtp.messages().len();
    assert!(sent_before < 40, "the kill came after everything was sent");
    let in_flight = ledger(&p).await;
    assert!(
        in_flight.iter().any(|(s, n)| s == "QUEUED" && *n > 0),
        "nothing was left to send: {in_flight:?}"
    );
    // The held sends' client is gone: the server never took those messages.
    p.smtp.release_replies();

    let mut restarted = spawn(bin, &urls, dir.path(), &env);
    all_mailed_once(&p, 40).await;
    assert_eq!(ledger(&p).await, vec![("SENT".to_owned(), 40)]);
    sigkill(&mut restarted);
}

/// registration-service's binary, built beside this one by `cargo test --workspace`.
fn registration_bin() -> PathBuf {
    let me = PathBuf::from(env!("CARGO_BIN_EXE_notifier-service"));
    let bin = me.with_file_name("registration-service");
    assert!(
        bin.exists(),
        "{} missing: run the workspace tests (cargo test --workspace)",
        bin.display()
    );
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_killed_while_the_notifier_pulls_loses_nothing() {
    let p = spawn_pipeline(Knobs {
        replicas: 0,
        ..Knobs::default()
    })
    .await;
    let dir = scratch(&p);
    // registration-service as a real process on a fixed port, so the restart has the same address.
    let port = free_port();
    let bin = registration_bin();
    let env = [("LISTEN_ADDR", format!("127.0.0.1:{port}"))];
    let urls =
        p.db.service_urls(
            registration_service::db::SCHEMA,
            registration_service::db::EXTENSIONS,
        )
        .await;
    let mut producer = spawn(bin.to_str().unwrap(), &urls, dir.path(), &env);
    let url = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let channel = loop {
        if let Ok(c) = tonic::transport::Channel::from_shared(url.clone())
            .unwrap()
            .connect()
            .await
        {
            break c;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "registration-service did not start (a stale binary? run cargo test --workspace)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut settings = notifier_settings(&p, Knobs::default()).await;
    settings.sources[0].url = url.clone();
    let _notifier = start_notifier(settings).await;

    let admin = p.admin(0).await;
    let mut via_process = clinic_proto::pb::registration::v1::registration_service_client::RegistrationServiceClient::new(channel);
    for _ in 0..10 {
        let r = p.submit(&mut via_process).await;
        via_process
            .approve_registration_request(p.approve(&r.id, &admin.token))
            .await
            .unwrap();
    }
    // Killed while the notifier is pulling from it (a long-poll is normally open).
    sigkill(&mut producer);
    // Meanwhile the other replica (in-process, same database) keeps committing events.
    let mut via_replica = p.registration().await;
    for _ in 0..10 {
        let r = p.submit(&mut via_replica).await;
        via_replica
            .approve_registration_request(p.approve(&r.id, &admin.token))
            .await
            .unwrap();
    }
    // Leases the dead process handed out run out as time would make them.
    sqlx::query(
        "UPDATE outbox SET lease_until = now() - interval '1 second' WHERE delivered_at IS NULL",
    )
    .execute(&p.reg_pool)
    .await
    .unwrap();
    let mut restarted = spawn(bin.to_str().unwrap(), &urls, dir.path(), &env);

    all_mailed_once(&p, 20).await;
    sigkill(&mut restarted);
}
