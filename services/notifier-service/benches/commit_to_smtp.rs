//! Commit → SMTP-accepted latency of the whole pipeline, measured, not asserted.
//!
//! Runs registration-, appointment- and notifier-service in-process against real PostgreSQL
//! (`DATABASE_URL` or a throwaway cluster) and the tests' SMTP server on loopback; approves EVENTS
//! registration requests one after another and, for each, takes the time from the approval RPC
//! returning (its transaction has committed) to the SMTP server storing the message.
//!
//!     cargo bench -p notifier-service --bench commit_to_smtp        # EVENTS=200 by default

#[path = "../tests/it/helpers.rs"]
#[allow(dead_code, unused_imports)]
mod helpers;

use std::{
    collections::HashMap,
    time::{Duration, SystemTime},
};

use helpers::{Knobs, message_id, spawn_pipeline};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let p = spawn_pipeline(Knobs::default()).await;
    let admin = p.admin(0).await;
    let mut client = p.registration().await;
    let mut requests = Vec::new();
    for _ in 0..events {
        requests.push(p.submit(&mut client).await);
    }
    // Warm-up: one full round trip so connections and prepared statements exist.
    let warm = p.submit(&mut client).await;
    client
        .approve_registration_request(p.approve(&warm.id, &admin.token))
        .await
        .unwrap();
    let warmed = p.smtp.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(warmed.len(), 1);

    let mut committed: HashMap<String, SystemTime> = HashMap::new();
    for r in &requests {
        client
            .approve_registration_request(p.approve(&r.id, &admin.token))
            .await
            .unwrap();
        let at = SystemTime::now();
        let event = p.event_ids(&p.reg_pool, &r.id).await[0];
        committed.insert(message_id(event), at);
    }
    let mails = p.smtp.wait_for(events + 1, Duration::from_secs(120)).await;
    assert_eq!(mails.len(), events + 1, "no e-mail twice");
    let mut latencies: Vec<Duration> = mails
        .iter()
        .filter_map(|m| {
            let at = committed.get(&m.message_id)?;
            Some(m.accepted_at.duration_since(*at).unwrap_or_default())
        })
        .collect();
    assert_eq!(latencies.len(), events, "every event mailed once");
    latencies.sort();
    let pct = |q: f64| {
        latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    println!("commit -> SMTP accepted over {events} events (sequential approvals):");
    println!("  median {:>8.1} ms", pct(0.50).as_secs_f64() * 1e3);
    println!("  p90    {:>8.1} ms", pct(0.90).as_secs_f64() * 1e3);
    println!("  p99    {:>8.1} ms", pct(0.99).as_secs_f64() * 1e3);
    println!(
        "  max    {:>8.1} ms",
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
}
