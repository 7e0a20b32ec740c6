//! A real SMTP server on loopback for the tests: aiosmtpd (a maintained Python SMTP server package)
//! storing every accepted message in a Maildir. Messages are counted by their Message-ID.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine;

pub struct SmtpServer {
    pub port: u16,
    pub maildir: PathBuf,
    child: Option<Child>,
}

/// One accepted message, parsed just enough for assertions.
#[derive(Debug, Clone)]
pub struct Mail {
    pub message_id: String,
    pub to: String,
    pub subject: String,
    /// The decoded text/plain part.
    pub text: String,
    /// When the server stored it (read by the latency benchmark).
    #[allow(dead_code)]
    pub accepted_at: std::time::SystemTime,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir =
            std::env::temp_dir().join(format!("clinic-smtp-{}", uuid::Uuid::new_v4().simple()));
        let mut s = SmtpServer {
            port,
            maildir,
            child: None,
        };
        s.restart();
        s
    }

    /// Starts (again) on the same port and Maildir.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{}", self.port),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&self.maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd: pip install aiosmtpd (see README set-up)");
        self.child = Some(child);
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start; is it installed?"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Takes the server down: connections are refused until `restart`.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn messages(&self) -> Vec<Mail> {
        let dir = self.maildir.join("new");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let raw = std::fs::read_to_string(e.path()).ok()?;
                let accepted_at = e.metadata().ok()?.modified().ok()?;
                Some(parse(&raw, accepted_at))
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived (or panics after `limit`), then returns them all.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} e-mails arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

fn header(head: &str, name: &str) -> String {
    let mut value = String::new();
    let mut inside = false;
    for line in head.lines() {
        if inside && line.starts_with([' ', '\t']) {
            value.push_str(line.trim_start());
            continue;
        }
        inside = false;
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            value = v.trim().to_owned();
            inside = true;
        }
    }
    value
}

fn parse(raw: &str, accepted_at: std::time::SystemTime) -> Mail {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    Mail {
        message_id: header(head, "Message-ID"),
        to: header(head, "To"),
        subject: header(head, "Subject"),
        text: text_part(body),
        accepted_at,
    }
}

/// The text/plain part of a multipart/alternative body, transfer-decoded.
fn text_part(body: &str) -> String {
    for part in body.split("\n--") {
        let Some((head, content)) = part.split_once("\n\n") else {
            continue;
        };
        if !header(head, "Content-Type").starts_with("text/plain") {
            continue;
        }
        let encoding = header(head, "Content-Transfer-Encoding").to_ascii_lowercase();
        let content = content.trim_end();
        return match encoding.as_str() {
            "base64" => {
                let joined: String = content.lines().collect();
                String::from_utf8_lossy(
                    &base64::engine::general_purpose::STANDARD
                        .decode(joined)
                        .unwrap_or_default(),
                )
                .into_owned()
            }
            "quoted-printable" => quoted_printable(content),
            _ => content.to_owned(),
        };
    }
    String::new()
}

fn quoted_printable(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.replace("=\n", "").into_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if bytes[i] == b'='
            && let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
