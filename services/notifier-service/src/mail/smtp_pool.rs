//! SMTP connections opened by us, with `TCP_NODELAY`, and kept for reuse.
//!
//! lettre writes a message's body and its terminating `\r\n.\r\n` as two writes. On a socket with
//! Nagle's algorithm on (lettre's own transport has no way to turn it off) the 5-byte terminator waits
//! for the server to ACK the body, and servers delay that ACK by ~40 ms: every e-mail took 40 ms
//! longer than it needs. So we connect the socket ourselves and hand it to lettre's connection (inside
//! TLS from the first byte for `SMTP_TLS=tls`, see `smtps`).
//!
//! A connection goes back to the pool only after a send that ran to its end. A send cut short (its
//! deadline here, or the caller's attempt deadline dropping it) drops its connection with it: a reply
//! left unread there would otherwise be read as the answer to the next message's command.

use std::time::{Duration, Instant};

use lettre::{
    address::Envelope,
    transport::smtp::{
        authentication::{Credentials, Mechanism},
        client::AsyncSmtpConnection,
        extension::ClientId,
    },
};
use secrecy::ExposeSecret;
use tokio::{net::TcpStream, sync::Mutex};

use super::{
    smtps::TlsStream,
    transport::{SmtpSettings, TlsMode},
};

/// Connections idle longer than this are closed rather than reused (servers drop idle clients).
const MAX_IDLE: Duration = Duration::from_secs(30);
/// Idle connections kept at most; concurrent sends beyond this open their own and close them.
const MAX_IDLE_CONNECTIONS: usize = 16;

pub struct SmtpPool {
    settings: SmtpSettings,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl std::fmt::Debug for SmtpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpPool")
            .field("host", &self.settings.host)
            .field("port", &self.settings.port)
            .finish_non_exhaustive()
    }
}

impl SmtpPool {
    pub fn new(settings: SmtpSettings) -> Self {
        Self {
            settings,
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends one message; Ok means the server accepted it. The whole exchange (connecting, TLS and
    /// greeting included) is bounded by the configured timeout. Cancel-safe: a send dropped midway
    /// drops its connection, which is never reused.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SendError> {
        let timeout = self.settings.timeout;
        let attempt = async {
            let mut conn = match self.reusable().await {
                Some(conn) => conn,
                None => self.connect().await?,
            };
            match conn.send(envelope, message).await {
                Ok(_) => {
                    self.give_back(conn).await;
                    Ok(())
                }
                Err(e) => {
                    conn.abort().await;
                    Err(e.into())
                }
            }
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(res) => res,
            Err(_) => Err(SendError::TimedOut(timeout)),
        }
    }

    async fn reusable(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self.idle.lock().await;
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < MAX_IDLE && !conn.has_broken() {
                return Some(conn);
            }
        }
        None
    }

    async fn give_back(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().await;
        if idle.len() < MAX_IDLE_CONNECTIONS && !conn.has_broken() {
            idle.push((conn, Instant::now()));
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let s = &self.settings;
        let stream = TcpStream::connect((s.host.as_str(), s.port))
            .await
            .map_err(SendError::Connect)?;
        stream.set_nodelay(true).map_err(SendError::Connect)?;
        let mut conn = match s.tls {
            TlsMode::Tls => {
                let tls = TlsStream::handshake(stream, s.tls_parameters()?).await?;
                AsyncSmtpConnection::connect_with_transport(Box::new(tls), &self.hello).await?
            }
            TlsMode::None | TlsMode::Starttls => {
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello).await?
            }
        };
        if s.tls == TlsMode::Starttls {
            conn.starttls(s.tls_parameters()?, &self.hello).await?;
        }
        if let (Some(user), Some(pass)) = (&s.username, &s.password) {
            let credentials = Credentials::new(user.clone(), pass.expose_secret().to_owned());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await?;
        }
        Ok(conn)
    }
}

/// Why a send failed. `Smtp` keeps lettre's error, which tells permanent (5xx) from transient.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("connect to the SMTP server: {0}")]
    Connect(#[source] std::io::Error),
    #[error(transparent)]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("SMTP exchange took longer than {0:?}")]
    TimedOut(Duration),
}

impl SendError {
    /// The server refused for good (a 5xx reply, e.g. 550 for an unknown mailbox): sending the same
    /// message again gets the same answer. Connection errors, time-outs and 4xx replies may heal.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Smtp(e) if e.is_permanent())
    }
}
