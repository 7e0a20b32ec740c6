//! The three services in this process on a fresh database with a real SMTP server, and the built
//! `clinicctl` binary run against them as a subprocess, each user with their own token file.

use std::{
    path::{Path, PathBuf},
    process::{Output, Stdio},
    time::Duration,
};

use clinic_common::testing::{Running, SmtpServer, TestDb, TestKeys};
use registration_service::service::operators::{NewAdmin, create_admin};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

pub const ADMIN_PASSWORD: &str = "admin password 1";
pub const PATIENT_PASSWORD: &str = "patient password 1";

pub struct Cluster {
    pub db: TestDb,
    pub smtp: SmtpServer,
    pub registration: Running,
    pub appointment: Running,
    pub notifier: Running,
    /// Where the notifier writes e-mail instead of SMTP, for [`spawn_cluster_writing_eml`].
    pub eml_dir: Option<PathBuf>,
    /// Token files live here.
    dir: tempfile::TempDir,
}

pub async fn spawn_cluster() -> Cluster {
    spawn(false).await
}

/// The same cluster, but the notifier writes each e-mail as an .eml file into `eml_dir` (as
/// `deploy/local/cluster.sh` runs it) instead of sending it over SMTP.
pub async fn spawn_cluster_writing_eml() -> Cluster {
    spawn(true).await
}

async fn spawn(eml: bool) -> Cluster {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDb::create().await;
    let keys = TestKeys::generate();
    let smtp = SmtpServer::start();
    let registration = registration_service::testing::start(
        registration_service::testing::settings(&db, &keys).await,
    )
    .await;
    let appointment = appointment_service::testing::start(
        appointment_service::testing::settings(
            &db,
            &keys,
            registration.addr,
            Duration::from_secs(2),
        )
        .await,
    )
    .await;
    let mut settings = notifier_service::testing::settings(
        &db,
        &keys,
        registration.addr,
        appointment.addr,
        smtp.port,
    )
    .await;
    let eml_dir = eml.then(|| dir.path().join("mail"));
    if let Some(eml_dir) = &eml_dir {
        settings.mailer = notifier_service::mail::Mailer::files(eml_dir.clone()).expect("eml dir");
    }
    let notifier = notifier_service::testing::start(settings).await;
    Cluster {
        db,
        smtp,
        registration,
        appointment,
        notifier,
        eml_dir,
        dir,
    }
}

impl Cluster {
    /// An admin account made the way an operator makes the first one (registration-service's
    /// `create-admin` path); a clinic admin when `clinic_id` is given. Returns its e-mail.
    pub async fn create_admin(&self, name: &str, clinic_id: Option<Uuid>) -> String {
        let email = format!("{name}@clinic.example.com");
        let pool = self.db.pool("registration").await;
        create_admin(
            &pool,
            NewAdmin {
                email: email.clone(),
                password: ADMIN_PASSWORD.into(),
                first_name: name.into(),
                last_name: "Admin".into(),
                clinic_id,
            },
        )
        .await
        .expect("create admin");
        email
    }

    /// `clinicctl` signed in as a new clinic-center admin (`center@…`).
    pub async fn center_admin(&self) -> Ctl {
        let center = self.ctl("center");
        center
            .login(&self.create_admin("center", None).await, ADMIN_PASSWORD)
            .await;
        center
    }

    /// `clinicctl` for one user: its own token file, the cluster's endpoints.
    pub fn ctl(&self, user: &str) -> Ctl {
        Ctl {
            token_file: self.dir.path().join(user).join("token"),
            endpoints: vec![
                (
                    "CLINIC_REGISTRATION_URL",
                    format!("http://{}", self.registration.addr),
                ),
                (
                    "CLINIC_APPOINTMENT_URL",
                    format!("http://{}", self.appointment.addr),
                ),
                (
                    "CLINIC_NOTIFIER_URL",
                    format!("http://{}", self.notifier.addr),
                ),
            ],
        }
    }

    /// `clinicctl` pointed at nothing that listens, with an empty token cache.
    pub fn offline(dir: &Path) -> Ctl {
        Ctl {
            token_file: dir.join("token"),
            endpoints: vec![("CLINIC_REGISTRATION_URL", "http://127.0.0.1:9".into())],
        }
    }

    /// The activation token from the approval e-mail sent to `email` (waits, bounded).
    pub async fn activation_token(&self, email: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let link = self
                .smtp
                .messages()
                .into_iter()
                .filter(|m| m.to.contains(email))
                .find_map(|m| {
                    m.text
                        .lines()
                        .find(|l| l.starts_with(notifier_service::testing::ACTIVATION_URL))
                        .map(str::to_owned)
                });
            if let Some(link) = link {
                return link
                    .split("token=")
                    .nth(1)
                    .expect("token=")
                    .trim()
                    .to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no approval e-mail to {email}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub struct Ctl {
    pub token_file: PathBuf,
    endpoints: Vec<(&'static str, String)>,
}

impl Ctl {
    /// Runs the binary with `args`, feeding `stdin`.
    pub async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_clinicctl"));
        cmd.args(args)
            .env("CLINICCTL_TOKEN_FILE", &self.token_file)
            .env_remove("CLINIC_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &self.endpoints {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn clinicctl");
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(stdin.as_bytes())
            .await
            .expect("write stdin");
        drop(input);
        tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("clinicctl finished within a minute")
            .expect("clinicctl output")
    }

    /// Creates a clinic in Novi Sad named `name` (as a center admin); returns the created clinic.
    pub async fn create_clinic(&self, name: &str) -> serde_json::Value {
        self.json(&[
            "appointment",
            "create-clinic",
            "--name",
            name,
            "--address",
            "Bulevar 1",
            "--city",
            "Novi Sad",
            "--time-zone",
            "Europe/Belgrade",
        ])
        .await
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "").await
    }

    /// Stdout of a run that must succeed.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "clinicctl {args:?} failed:\n{}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// The `--json` answer of a run that must succeed.
    pub async fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let stdout = self.ok(&all).await;
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: not JSON:\n{stdout}"))
    }

    /// Stderr of a run that must fail with exit code `code`.
    pub async fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args).await;
        assert_eq!(
            out.status.code(),
            Some(code),
            "clinicctl {args:?}: stdout\n{}\nstderr\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stderr)
    }

    /// Signs in with the password on stdin; returns stdout.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let out = self
            .run_with_stdin(
                &["login", "--email", email, "--password-stdin"],
                &format!("{password}\n"),
            )
            .await;
        assert!(out.status.success(), "login failed:\n{}", text(&out.stderr));
        text(&out.stdout)
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `s["a"]["b"]` as a string.
pub fn str_at<'a>(v: &'a serde_json::Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_str()
        .unwrap_or_else(|| panic!("no string at {path:?} in {v:#}"))
}

/// `clinicctl registration submit` for `email` (public: no sign-in); returns the request as JSON.
pub async fn submit(ctl: &Ctl, email: &str, insurance_number: &str) -> serde_json::Value {
    let args = [
        "--json",
        "registration",
        "submit",
        "--email",
        email,
        "--first-name",
        "Ana",
        "--last-name",
        "Petrović",
        "--address",
        "Street 1",
        "--city",
        "Novi Sad",
        "--country",
        "Serbia",
        "--phone",
        "+381 21 123456",
        "--insurance-number",
        insurance_number,
        "--password-stdin",
    ];
    let out = ctl
        .run_with_stdin(&args, &format!("{PATIENT_PASSWORD}\n"))
        .await;
    assert!(
        out.status.success(),
        "submit failed:\n{}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("submit answers JSON")
}
