//! A PostgreSQL cluster of our own, from the server binaries on this machine: initialised in a
//! temporary directory, listening on loopback, stopped and removed when the process that made it is
//! gone (a watchdog shell survives a killed test). Tests that restart the database use it directly.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Command, Stdio},
};

/// How `stop` shuts the server down (`pg_ctl -m`).
#[derive(Debug, Clone, Copy)]
pub enum StopMode {
    /// Rolls back open transactions, closes connections, checkpoints.
    Fast,
    /// Like a crash: no checkpoint; the next start runs recovery.
    Immediate,
}

pub struct PgCluster {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PgCluster {
    /// Initialises and starts a cluster on a free loopback port, with trust auth for `postgres`.
    pub fn start_new(tag: &str) -> Result<PgCluster, String> {
        let bin = find_pg_bin()?;
        let dir = std::env::temp_dir().join(format!(
            "clinic-{tag}-pg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let data = dir.join("data");
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if as_postgres {
            run(
                Command::new("chown").arg("postgres:postgres").arg(&dir),
                "chown cluster dir",
            )?;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("pick a port: {e}"))?
            .port();
        let cluster = PgCluster {
            bin,
            dir,
            data,
            port,
            as_postgres,
        };
        run(
            cluster
                .command("initdb")
                .arg("-D")
                .arg(&cluster.data)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
            "initdb",
        )?;
        cluster.start()?;
        cluster.watch()?;
        Ok(cluster)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
            self.port,
            self.dir.display()
        );
        run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-o", &opts, "-l"])
                .arg(self.dir.join("log"))
                .args(["-w", "-t", "60", "start"]),
            "pg_ctl start",
        )
    }

    /// Stops the server and waits until it is down.
    pub fn stop(&self, mode: StopMode) -> Result<(), String> {
        let m = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", m, "-w", "stop"]),
            "pg_ctl stop",
        )
    }

    /// The server's log, for diagnostics.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    fn command(&self, tool: &str) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
            c
        } else {
            Command::new(self.bin.join(tool))
        }
    }

    /// A shell that stops the cluster and removes it once this process is gone.
    fn watch(&self) -> Result<(), String> {
        let stop = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {prefix}{pg_ctl} -D {data} -m immediate stop; rm -rf {dir}",
            pid = std::process::id(),
            prefix = if self.as_postgres {
                "runuser -u postgres -- "
            } else {
                ""
            },
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data.display(),
            dir = self.dir.display(),
        );
        Command::new("sh")
            .args(["-c", &stop])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(drop)
            .map_err(|e| format!("start cluster watchdog: {e}"))
    }
}

fn find_pg_bin() -> Result<PathBuf, String> {
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        && out.status.success()
    {
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if let Some(dir) = path.parent() {
            return Ok(dir.to_path_buf());
        }
    }
    // Debian keeps them off PATH, one directory per major version; take the newest.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "no PostgreSQL for tests: set DATABASE_URL to a server where tests may CREATE DATABASE, \
         or install the server binaries (Debian: apt-get install postgresql)"
            .to_owned()
    })
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
