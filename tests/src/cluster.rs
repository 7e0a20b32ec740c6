//! The whole system as separate processes: a PostgreSQL cluster of our own (so it can be restarted),
//! the SMTP test server, and `replicas` processes of each service binary — the binaries `cargo test
//! --workspace` builds, run with the environment `deploy/local/cluster.sh` gives them: each service's
//! roles made by its `create-db-roles`, its schema by `migrate` as its migration role, and `serve`
//! connected as its runtime role.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use clinic_common::testing::{PgCluster, SmtpServer, TcpProxy, with_login};

use crate::process::{ServiceProcess, run_command};

/// Domain of every `Message-ID` the notifiers write.
pub const MESSAGE_ID_DOMAIN: &str = "chaos.test";
pub const ACTIVATION_BASE_URL: &str = "http://chaos.test/activate";
/// How long a notifier's claim on a delivery lasts (its sends give up at 4 s).
pub const CLAIM_SECONDS: u64 = 10;
/// The notifiers' shutdown drain: longer than 2 × `CLAIM_SECONDS` + 1 (the other services drain 5 s).
pub const NOTIFIER_DRAIN_SECONDS: &str = "25";
/// Password of every account the run creates.
pub const PASSWORD: &str = "chaos run password 1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Registration,
    Appointment,
    Notifier,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Registration, Kind::Appointment, Kind::Notifier];

    pub fn binary(self) -> &'static str {
        match self {
            Kind::Registration => "registration-service",
            Kind::Appointment => "appointment-service",
            Kind::Notifier => "notifier-service",
        }
    }

    /// The PostgreSQL schema the service owns.
    pub fn schema(self) -> &'static str {
        match self {
            Kind::Registration => "registration",
            Kind::Appointment => "appointment",
            Kind::Notifier => "notifier",
        }
    }
}

/// A service's two database URLs, as deploy gives them.
#[derive(Debug, Clone)]
pub struct DbUrls {
    /// The migration role's (`migrate`): owns the schema.
    pub migration: String,
    /// The runtime role's (`serve`): the schema's rows, nothing else.
    pub runtime: String,
}

/// Makes every service's roles with its `create-db-roles` (twice: every deploy runs it, so it must be
/// idempotent) connected as `admin_url`, then its schema with `migrate` as its migration role.
pub async fn provision_database(bin_dir: &Path, admin_url: &str) -> anyhow::Result<Vec<DbUrls>> {
    let mut all = Vec::new();
    for kind in Kind::ALL {
        let schema = kind.schema();
        let urls = DbUrls {
            migration: with_login(
                admin_url,
                &format!("{schema}_owner"),
                &format!("{schema}-owner-pw"),
            ),
            runtime: with_login(
                admin_url,
                &format!("{schema}_app"),
                &format!("{schema}-app-pw"),
            ),
        };
        let bin = bin_dir.join(kind.binary());
        let roles_env = env(&[
            ("ADMIN_DATABASE_URL", admin_url),
            ("MIGRATION_DATABASE_URL", &urls.migration),
            ("DATABASE_URL", &urls.runtime),
        ]);
        for _ in 0..2 {
            run_command(&bin, &["create-db-roles"], &roles_env, None).await?;
        }
        let migrate_env = env(&[("MIGRATION_DATABASE_URL", &urls.migration)]);
        run_command(&bin, &["migrate"], &migrate_env, None).await?;
        all.push(urls);
    }
    Ok(all)
}

pub struct Cluster {
    pub dir: PathBuf,
    pub pg: PgCluster,
    pub smtp: Arc<Mutex<SmtpServer>>,
    pub registration: Vec<ServiceProcess>,
    pub appointment: Vec<ServiceProcess>,
    pub notifier: Vec<ServiceProcess>,
    /// One in front of every service process; every caller (clients and services) goes through
    /// them, so connections can be cut or frozen. Named like the process behind.
    pub proxies: Vec<(String, TcpProxy)>,
    /// The dev CA every service's certificate chains to (the services speak mutual TLS, as in
    /// production); clients verify the servers with it.
    pub ca_pem: String,
    /// Per service ([`Kind::ALL`] order), the database URLs it was given.
    db_urls: Vec<DbUrls>,
    bin_dir: PathBuf,
    base_env: Vec<(String, String)>,
}

/// Where cargo put the service binaries (and clinicctl): next to this test's own profile directory.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf();
    for bin in [Kind::Registration, Kind::Appointment, Kind::Notifier]
        .map(Kind::binary)
        .into_iter()
        .chain(["clinicctl"])
    {
        assert!(
            dir.join(bin).exists(),
            "{bin} is not built in {}: run the system tests with `cargo test --workspace` (it builds \
             every service binary and clinicctl first)",
            dir.display()
        );
    }
    dir
}

pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free loopback port")
}

/// The URL of a service behind `proxy` (TLS passes through the proxy untouched).
fn https(proxy: &TcpProxy) -> String {
    format!("https://{}", proxy.addr())
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Cluster {
    /// Starts PostgreSQL, migrates, creates keys and service tokens, starts `replicas` of each service.
    pub async fn start(tag: &str, replicas: usize) -> anyhow::Result<Cluster> {
        Self::start_with(tag, replicas, &[]).await
    }

    /// [`Cluster::start`], every service process also getting `extra` in its environment.
    pub async fn start_with(
        tag: &str,
        replicas: usize,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Cluster> {
        let bin_dir = bin_dir();
        let dir = bin_dir
            .join("system-tests")
            .join(format!("{tag}-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir)?;
        let pg = PgCluster::start_new(tag).map_err(anyhow::Error::msg)?;
        let smtp = SmtpServer::start();
        let smtp_port = smtp.port.to_string();
        let keys = dir.join("keys");
        let keys_s = keys.display().to_string();
        let db_urls = provision_database(&bin_dir, &pg.url()).await?;
        let mut base_env = env(&[
            ("JWT_PRIVATE_KEY_FILE", &format!("{keys_s}/jwt_private.pem")),
            ("JWT_PUBLIC_KEY_FILE", &format!("{keys_s}/jwt_public.pem")),
            ("RUST_LOG", "info"),
            ("SHUTDOWN_DRAIN_SECONDS", "5"),
            ("OUTBOX_LEASE_SECONDS", "5"),
            // Every client of the run is this machine, at full speed.
            ("RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "100000000"),
            ("LOGIN_ATTEMPTS_PER_ACCOUNT_PER_MINUTE", "100000000"),
        ]);
        let mut cluster = Cluster {
            dir,
            pg,
            smtp: Arc::new(Mutex::new(smtp)),
            registration: Vec::new(),
            appointment: Vec::new(),
            notifier: Vec::new(),
            proxies: Vec::new(),
            ca_pem: String::new(),
            db_urls,
            bin_dir,
            base_env: Vec::new(),
        };
        let reg_bin = cluster.bin(Kind::Registration);
        run_command(
            &reg_bin,
            &["gen-keypair", "--out-dir", &keys_s],
            &base_env,
            None,
        )
        .await?;
        let tls_dir = format!("{keys_s}/tls");
        run_command(
            &reg_bin,
            &["gen-dev-certs", "--out-dir", &tls_dir],
            &base_env,
            None,
        )
        .await?;
        cluster.ca_pem = std::fs::read_to_string(format!("{tls_dir}/ca.pem"))?;
        run_command(
            &cluster.bin(Kind::Notifier),
            &["gen-seal-keypair", "--out-dir", &keys_s],
            &base_env,
            None,
        )
        .await?;
        for name in ["appointment-service", "notifier-service"] {
            let token = run_command(
                &reg_bin,
                &["mint-service-token", "--name", name],
                &base_env,
                None,
            )
            .await?;
            std::fs::write(keys.join(format!("{name}.token")), token.trim())?;
        }
        base_env.extend(env(&[
            ("ACCESS_TOKEN_TTL_SECONDS", "3600"),
            ("TLS_CA_FILE", &format!("{tls_dir}/ca.pem")),
        ]));
        base_env.extend(env(extra));
        cluster.base_env = base_env;

        let reg_addrs: Vec<SocketAddr> = (0..replicas).map(|_| free_addr()).collect();
        let appt_addrs: Vec<SocketAddr> = (0..replicas).map(|_| free_addr()).collect();
        let reg_urls = cluster
            .proxy_all("registration-service", &reg_addrs)
            .await?;
        let appt_urls = cluster
            .proxy_all("appointment-service", &appt_addrs)
            .await?;
        for (i, addr) in reg_addrs.iter().enumerate() {
            let extra = env(&[(
                "ACTIVATION_SEAL_KEY_FILE",
                &format!("{keys_s}/seal_public.key"),
            )]);
            let p = cluster.process(Kind::Registration, i, *addr, extra);
            cluster.registration.push(p);
        }
        for (i, addr) in appt_addrs.iter().enumerate() {
            let extra = env(&[
                ("REGISTRATION_URL", &reg_urls[i]),
                (
                    "SERVICE_TOKEN_FILE",
                    &format!("{keys_s}/appointment-service.token"),
                ),
            ]);
            let p = cluster.process(Kind::Appointment, i, *addr, extra);
            cluster.appointment.push(p);
        }
        for i in 0..replicas {
            let extra = env(&[
                ("REGISTRATION_URL", &reg_urls[i]),
                ("APPOINTMENT_URL", &appt_urls[i]),
                (
                    "SERVICE_TOKEN_FILE",
                    &format!("{keys_s}/notifier-service.token"),
                ),
                ("SMTP_HOST", "127.0.0.1"),
                ("SMTP_PORT", &smtp_port),
                ("MESSAGE_ID_DOMAIN", MESSAGE_ID_DOMAIN),
                ("ACTIVATION_BASE_URL", ACTIVATION_BASE_URL),
                (
                    "ACTIVATION_OPEN_KEY_FILE",
                    &format!("{keys_s}/seal_open.key"),
                ),
                // Outages in the run are short; nothing may go DEAD because of them.
                ("MAX_ATTEMPTS", "100000"),
                ("BACKOFF_BASE_MS", "200"),
                ("BACKOFF_MAX_MS", "2000"),
                ("PULL_WAIT_MS", "2000"),
                // A killed sender's claims lapse soon, so the run settles soon after it.
                ("CLAIM_SECONDS", &CLAIM_SECONDS.to_string()),
                ("ATTEMPT_DEADLINE_SECONDS", "4"),
                // Outlasts a send and its SENT write (2 × CLAIM_SECONDS + 1, checked at start-up),
                // so a SIGTERM never cuts one; `faults` waits longer than this before it SIGKILLs.
                ("SHUTDOWN_DRAIN_SECONDS", NOTIFIER_DRAIN_SECONDS),
                // A frozen link to a feed is noticed within seconds.
                ("FEED_KEEPALIVE_INTERVAL_MS", "2000"),
                ("FEED_KEEPALIVE_TIMEOUT_MS", "2000"),
            ]);
            let p = cluster.process(Kind::Notifier, i, free_addr(), extra);
            cluster.notifier.push(p);
        }
        for p in cluster.all_mut() {
            p.start().await?;
        }
        Ok(cluster)
    }

    /// Proxies in front of `addrs` (processes named `<name>-<i>`); returns their URLs.
    async fn proxy_all(&mut self, name: &str, addrs: &[SocketAddr]) -> anyhow::Result<Vec<String>> {
        let mut urls = Vec::new();
        for (i, addr) in addrs.iter().enumerate() {
            let proxy = TcpProxy::start(*addr).await?;
            urls.push(https(&proxy));
            self.proxies.push((format!("{name}-{i}"), proxy));
        }
        Ok(urls)
    }

    fn bin(&self, kind: Kind) -> PathBuf {
        self.bin_dir.join(kind.binary())
    }

    /// The database URLs `kind` was given.
    pub fn db_urls(&self, kind: Kind) -> &DbUrls {
        let i = Kind::ALL.iter().position(|k| *k == kind).expect("a kind");
        &self.db_urls[i]
    }

    /// The environment every process of `kind` gets: the shared one and its runtime role's URL.
    fn env_of(&self, kind: Kind) -> Vec<(String, String)> {
        let mut env = self.base_env.clone();
        env.push(("DATABASE_URL".into(), self.db_urls(kind).runtime.clone()));
        env
    }

    fn process(
        &self,
        kind: Kind,
        replica: usize,
        addr: SocketAddr,
        extra: Vec<(String, String)>,
    ) -> ServiceProcess {
        let mut env = self.env_of(kind);
        // Each process holds only its own service's key.
        let tls = self.dir.join("keys/tls");
        for (var, file) in [
            ("TLS_CERT_FILE", format!("{}.pem", kind.binary())),
            ("TLS_KEY_FILE", format!("{}.key", kind.binary())),
        ] {
            env.push((var.to_owned(), tls.join(file).display().to_string()));
        }
        env.extend(extra);
        ServiceProcess::new(
            format!("{}-{replica}", kind.binary()),
            self.bin(kind),
            addr,
            env,
            &self.dir,
        )
    }

    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut ServiceProcess> {
        self.registration
            .iter_mut()
            .chain(self.appointment.iter_mut())
            .chain(self.notifier.iter_mut())
    }

    /// What clients call: the proxies in front of each replica of `kind`.
    pub fn urls(&self, kind: Kind) -> Vec<String> {
        self.proxies
            .iter()
            .filter(|(name, _)| name.starts_with(kind.binary()))
            .map(|(_, p)| https(p))
            .collect()
    }

    /// Runs a registration-service operator command (e.g. `create-admin`), password on stdin.
    pub async fn registration_cli(
        &self,
        args: &[&str],
        stdin: Option<&str>,
    ) -> anyhow::Result<String> {
        let env = self.env_of(Kind::Registration);
        run_command(&self.bin(Kind::Registration), args, &env, stdin).await
    }

    /// Verifies tokens the cluster issued (to read who signed in).
    pub fn verifier(&self) -> anyhow::Result<clinic_common::auth::TokenVerifier> {
        let pem = std::fs::read_to_string(self.dir.join("keys/jwt_public.pem"))?;
        Ok(clinic_common::auth::TokenVerifier::from_pem(&pem)?)
    }

    /// A connection pool on the cluster's database as its superuser (for the checker).
    pub async fn db(&self) -> anyhow::Result<sqlx::PgPool> {
        Ok(sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&self.pg.url())
            .await?)
    }

    /// Every service process that is not running is started again.
    pub async fn restart_stopped(&mut self) -> anyhow::Result<()> {
        for p in self.all_mut() {
            if !p.is_running() {
                p.start().await?;
            }
        }
        Ok(())
    }

    /// Where logs are, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "logs in {} (PostgreSQL: {})",
            self.dir.display(),
            self.pg.log_path().display()
        )
    }
}
