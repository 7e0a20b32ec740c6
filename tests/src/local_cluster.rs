//! `deploy/local/cluster.sh` — the README's first command — run as a newcomer runs it, in a process
//! group of its own (what a terminal's Ctrl-C signals), on free ports, with a throwaway PostgreSQL
//! under its state directory. It reads what the script prints, runs the `clinicctl race …` lines it
//! prints, and after Ctrl-C lists whatever the script left running.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

use crate::cluster::{bin_dir, free_addr};

/// How the line starts after which the cluster is up, seeded and watching for e-mail.
pub const READY: &str = "Ctrl-C stops the cluster.";
/// Every process the script starts inherits this variable (with a value unique to the run).
const MARKER: &str = "CLINIC_LOCAL_CLUSTER_TEST";

pub struct LocalCluster {
    pub state: PathBuf,
    pub ports: Vec<SocketAddr>,
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Everything the script printed so far.
    pub printed: Vec<String>,
    marker: String,
}

impl LocalCluster {
    /// Starts the script and reads its output until [`READY`] (or fails with what it printed).
    pub async fn start(within: Duration) -> anyhow::Result<LocalCluster> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let bin = bin_dir();
        let marker = uuid::Uuid::new_v4().to_string();
        let state = bin
            .join("system-tests")
            .join(format!("local-cluster-{marker}"));
        std::fs::create_dir_all(&state)?;
        let [reg, appt, notifier, pg] = [(); 4].map(|()| free_addr());
        let stderr = std::fs::File::create(state.join("cluster.sh.stderr"))?;
        let mut child = Command::new("bash")
            .arg(root.join("deploy/local/cluster.sh"))
            .env_remove("DATABASE_URL")
            .env("CLINIC_BIN_DIR", &bin)
            .env("CLINIC_STATE_DIR", &state)
            .env("REGISTRATION_ADDR", reg.to_string())
            .env("APPOINTMENT_ADDR", appt.to_string())
            .env("NOTIFIER_ADDR", notifier.to_string())
            .env("PG_PORT", pg.port().to_string())
            .env(MARKER, &marker)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()?;
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut cluster = LocalCluster {
            state,
            ports: vec![reg, appt, notifier, pg],
            child,
            stdout,
            printed: Vec::new(),
            marker,
        };
        cluster.read_until(|l| l.starts_with(READY), within).await?;
        Ok(cluster)
    }

    /// Reads printed lines until one matches `done`; returns it.
    pub async fn read_until(
        &mut self,
        done: impl Fn(&str) -> bool,
        within: Duration,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let line = tokio::time::timeout_at(deadline, self.stdout.next_line()).await;
            match line {
                Ok(Ok(Some(line))) => {
                    self.printed.push(line.clone());
                    if done(&line) {
                        return Ok(line);
                    }
                }
                Ok(Ok(None)) => anyhow::bail!("cluster.sh ended early; {}", self.describe()),
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => anyhow::bail!(
                    "nothing expected printed in {within:?}; {}",
                    self.describe()
                ),
            }
        }
    }

    /// The printed lines that start with `prefix` (indentation ignored).
    pub fn printed_starting(&self, prefix: &str) -> Vec<String> {
        self.printed
            .iter()
            .map(|l| l.trim())
            .filter(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    /// Runs one printed command line as an operator would paste it: after the printed `export`
    /// lines, in bash. Returns its exit status and stdout.
    pub async fn run_printed(&self, line: &str) -> anyhow::Result<(ExitStatus, String)> {
        let mut script = self.printed_starting("export ");
        script.push(line.to_owned());
        let out = Command::new("bash")
            .arg("-c")
            .arg(script.join("\n"))
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .await?;
        Ok((out.status, String::from_utf8(out.stdout)?))
    }

    /// Ctrl-C in the script's terminal: SIGINT to its whole process group; waits for it to exit.
    pub async fn interrupt(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        let pgid = self.child.id().expect("still running");
        let status = Command::new("kill")
            .args(["-INT", "--", &format!("-{pgid}")])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "kill -INT failed");
        let stopped = async {
            // Drain what it prints while stopping, so a full pipe cannot block it.
            while let Ok(Some(line)) = self.stdout.next_line().await {
                self.printed.push(line);
            }
            self.child.wait().await
        };
        match tokio::time::timeout(within, stopped).await {
            Ok(status) => Ok(status?),
            Err(_) => anyhow::bail!(
                "cluster.sh (or a process holding its output) still running {within:?} after Ctrl-C"
            ),
        }
    }

    /// Processes still running that the script started (they carry its marker in their
    /// environment, or its state directory on their command line), as "pid: command line".
    pub fn leftovers(&self) -> Vec<String> {
        let state = self.state.display().to_string();
        let mut found = Vec::new();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return found;
        };
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let read = |f: &str| std::fs::read(entry.path().join(f)).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&read("cmdline")).replace('\0', " ");
            let environ = read("environ");
            let marked = environ
                .split(|b| *b == 0)
                .any(|kv| kv == format!("{MARKER}={}", self.marker).as_bytes());
            if marked || cmdline.contains(&state) {
                found.push(format!("{pid}: {}", cmdline.trim()));
            }
        }
        found
    }

    /// The ports the cluster used that something still listens on.
    pub async fn ports_in_use(&self) -> Vec<SocketAddr> {
        let mut open = Vec::new();
        for addr in &self.ports {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                open.push(*addr);
            }
        }
        open
    }

    pub fn describe(&self) -> String {
        let stderr =
            std::fs::read_to_string(self.state.join("cluster.sh.stderr")).unwrap_or_default();
        format!(
            "printed:\n{}\nstderr:\n{stderr}\nlogs in {}",
            self.printed.join("\n"),
            self.state.display()
        )
    }
}

/// A test that failed half-way still stops the cluster: Ctrl-C to the script's group, then a bounded
/// wait for the script to clean up (its throwaway PostgreSQL runs in a session of its own).
impl Drop for LocalCluster {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        if let Some(pgid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-INT", "--", &format!("-{pgid}")])
                .status();
        }
        for _ in 0..300 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
