//! The faults of the chaos run, one after another at random moments until the deadline: SIGKILL or
//! SIGTERM a random service process (then start it again), restart PostgreSQL like a crash, take the
//! SMTP server down, make it slow. Each is recorded with its time window, so the checker can tell
//! which duplicate e-mails a fault explains.

use std::time::Duration;

use clinic_common::testing::StopMode;
use rand::Rng;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::cluster::Cluster;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    Kill,
    Terminate,
    PostgresRestart,
    SmtpDown,
    SmtpSlow,
    /// Every connection through one proxy closed.
    Cut,
    /// Every connection through one proxy stops carrying bytes but stays open (half-open).
    Freeze,
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub kind: FaultKind,
    /// The process (or "postgres", "smtp").
    pub target: String,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

fn millis(lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rand::rng().random_range(lo..hi))
}

pub async fn inject(cluster: &mut Cluster, until: Instant) -> anyhow::Result<Vec<Fault>> {
    let mut faults = Vec::new();
    while Instant::now() < until {
        tokio::time::sleep(millis(500, 2500)).await;
        let from = OffsetDateTime::now_utc();
        let roll = rand::rng().random_range(0..100);
        let (kind, target) = match roll {
            0..30 => {
                let p = random_process(cluster);
                let name = p.name.clone();
                p.kill().await;
                tokio::time::sleep(millis(200, 1500)).await;
                p.start().await?;
                (FaultKind::Kill, name)
            }
            30..45 => {
                let p = random_process(cluster);
                let name = p.name.clone();
                // Longer than any service's drain (the notifier's is the longest), so SIGTERM is
                // never turned into a SIGKILL mid-drain.
                p.terminate(Duration::from_secs(30)).await;
                p.start().await?;
                (FaultKind::Terminate, name)
            }
            45..55 => {
                let pg = &cluster.pg;
                tokio::task::block_in_place(|| pg.stop(StopMode::Immediate))
                    .map_err(anyhow::Error::msg)?;
                tokio::time::sleep(millis(300, 3000)).await;
                tokio::task::block_in_place(|| pg.start()).map_err(anyhow::Error::msg)?;
                (FaultKind::PostgresRestart, "postgres".to_owned())
            }
            55..70 => {
                let i = rand::rng().random_range(0..cluster.proxies.len());
                let (name, proxy) = &cluster.proxies[i];
                let kind = if roll < 65 {
                    proxy.cut();
                    FaultKind::Cut
                } else {
                    proxy.freeze();
                    FaultKind::Freeze
                };
                (kind, format!("connections to {name}"))
            }
            70..85 => {
                let smtp = cluster.smtp.clone();
                tokio::task::spawn_blocking(move || smtp.lock().unwrap().stop()).await?;
                tokio::time::sleep(millis(500, 5000)).await;
                let smtp = cluster.smtp.clone();
                tokio::task::spawn_blocking(move || smtp.lock().unwrap().restart()).await?;
                (FaultKind::SmtpDown, "smtp".to_owned())
            }
            _ => {
                cluster
                    .smtp
                    .lock()
                    .unwrap()
                    .set_accept_delay(millis(300, 3000));
                tokio::time::sleep(millis(1000, 6000)).await;
                cluster
                    .smtp
                    .lock()
                    .unwrap()
                    .set_accept_delay(Duration::ZERO);
                (FaultKind::SmtpSlow, "smtp".to_owned())
            }
        };
        faults.push(Fault {
            kind,
            target,
            from,
            to: OffsetDateTime::now_utc(),
        });
    }
    Ok(faults)
}

fn random_process(cluster: &mut Cluster) -> &mut crate::process::ServiceProcess {
    let n = cluster.all_mut().count();
    let i = rand::rng().random_range(0..n);
    cluster.all_mut().nth(i).expect("index in range")
}
