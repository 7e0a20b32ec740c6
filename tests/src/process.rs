//! One service binary run as a child process: started with its environment, killed (SIGKILL) or
//! terminated (SIGTERM, then waited for), and started again on the same address. Output goes to a log
//! file that restarts append to.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::process::{Child, Command};

pub struct ServiceProcess {
    pub name: String,
    pub addr: SocketAddr,
    bin: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    pub starts: u32,
}

impl ServiceProcess {
    pub fn new(
        name: impl Into<String>,
        bin: PathBuf,
        addr: SocketAddr,
        env: Vec<(String, String)>,
        log_dir: &Path,
    ) -> Self {
        let name = name.into();
        let log = log_dir.join(format!("{name}.log"));
        Self {
            name,
            addr,
            bin,
            env,
            log,
            child: None,
            starts: 0,
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The value of `name` in the environment the process is started with.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts `<bin> serve` and waits until it accepts TCP connections.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.bin)
            .arg("serve")
            .env("LISTEN_ADDR", self.addr.to_string())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        self.starts += 1;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(());
            }
            if !self.is_running() {
                anyhow::bail!(
                    "{} exited while starting; see {}",
                    self.name,
                    self.log.display()
                );
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("{} did not listen on {} within 30 s", self.name, self.addr);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no drain, no cleanup, like a crash or an OOM kill.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// SIGTERM, then waits up to `limit` for a graceful exit (SIGKILL after that). Returns whether
    /// it exited by itself, and with success.
    pub async fn terminate(&mut self, limit: Duration) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        if let Some(pid) = c.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(limit, c.wait()).await {
            Ok(Ok(status)) => status.success(),
            _ => {
                let _ = c.kill().await;
                false
            }
        }
    }
}

/// Runs `<bin> <args>` to completion (migrations, keys, tokens), feeding `stdin`; returns stdout.
pub async fn run_command(
    bin: &Path,
    args: &[&str],
    env: &[(String, String)],
    stdin: Option<&str>,
) -> anyhow::Result<String> {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(bin)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut input = child.stdin.take().expect("piped stdin");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).await?;
    }
    drop(input);
    let out = child.wait_with_output().await?;
    anyhow::ensure!(
        out.status.success(),
        "{} {args:?} failed: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}
