//! A real SMTP server on loopback for the tests, keeping every accepted message in memory.
//!
//! It runs on a runtime of its own so that `stop` can close the listener and every open session before
//! it returns, whatever runtime (or none) the test uses, and so a stopped server refuses connections at
//! once, as a killed one would. Messages survive `stop`/`restart`. [`start_tls`](SmtpServer::start_tls)
//! speaks TLS from the first byte (SMTPS), with a certificate the test gives it.

mod parse;
mod session;
#[cfg(test)]
mod tests;

use std::{
    future::Future,
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use tokio::{
    net::{TcpListener, TcpSocket, TcpStream},
    runtime::Runtime,
    sync::watch,
    task::{JoinHandle, JoinSet},
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    },
};
use tokio_util::sync::CancellationToken;

/// How long `wait_for` waits after the last arrival, so a late duplicate is still counted.
const QUIET: Duration = Duration::from_millis(750);

/// One accepted message, parsed just enough for assertions.
#[derive(Debug, Clone)]
pub struct Mail {
    pub message_id: String,
    pub to: String,
    pub subject: String,
    /// The decoded text/plain part.
    pub text: String,
    /// When the server stored it (read by the latency benchmark).
    pub accepted_at: SystemTime,
    /// The message as received, dot-unstuffed.
    pub raw: String,
}

/// What sessions share: the mailbox and the fault knobs.
struct Shared {
    mail: watch::Sender<Vec<Mail>>,
    accept_delay: Mutex<Duration>,
    rejected: Mutex<Vec<String>>,
    deferred: Mutex<Vec<String>>,
    hold: watch::Sender<Hold>,
    /// The next reply to this command (verb) waits this long, once.
    stall: Mutex<Option<(String, Duration)>>,
    /// How many replies have been stalled so far (each counted when its wait begins).
    stalled: watch::Sender<usize>,
}

/// Replies to the end of DATA held back until the test releases them.
#[derive(Debug, Default)]
struct Hold {
    on: bool,
    /// Messages that reached the end of DATA while holding, including ones whose client gave up.
    held: usize,
    /// Sessions waiting for the release right now.
    waiting: usize,
    /// Sessions past the end of DATA while not holding, whose message is not stored yet.
    passing: usize,
}

impl Shared {
    fn accept_delay(&self) -> Duration {
        *self.accept_delay.lock().unwrap()
    }

    fn defers(&self, recipient: &str) -> bool {
        let deferred = self.deferred.lock().unwrap();
        deferred.iter().any(|r| recipient.contains(r.as_str()))
    }

    /// Counts a held message when replies are held; the caller then waits for the release and calls
    /// `unhold`.
    /// Otherwise counts the message as passing until [`stored`](Self::stored).
    fn hold(&self) -> Option<watch::Receiver<Hold>> {
        let mut held = false;
        self.hold.send_modify(|h| {
            held = h.on;
            h.held += usize::from(h.on);
            h.waiting += usize::from(h.on);
            h.passing += usize::from(!h.on);
        });
        held.then(|| self.hold.subscribe())
    }

    /// A message that passed without a hold is stored.
    fn stored(&self) {
        self.hold.send_modify(|h| h.passing -= 1);
    }

    fn unhold(&self) {
        self.hold.send_modify(|h| h.waiting -= 1);
    }

    fn rejects(&self, recipient: &str) -> bool {
        let rejected = self.rejected.lock().unwrap();
        rejected.iter().any(|r| recipient.contains(r.as_str()))
    }

    /// How long the reply to `verb` must wait: the stall asked for, once.
    fn stall(&self, verb: &str) -> Option<Duration> {
        let mut stall = self.stall.lock().unwrap();
        let delay = match stall.as_ref() {
            Some((v, delay)) if v.eq_ignore_ascii_case(verb) => *delay,
            _ => return None,
        };
        *stall = None;
        self.stalled.send_modify(|n| *n += 1);
        Some(delay)
    }

    fn store(&self, raw: String) {
        let mail = parse::parse(raw, SystemTime::now());
        self.mail.send_modify(|all| all.push(mail));
    }
}

struct Listening {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

pub struct SmtpServer {
    pub port: u16,
    shared: Arc<Shared>,
    runtime: Option<Runtime>,
    listening: Option<Listening>,
    /// Set: every session speaks TLS from the first byte.
    tls: Option<TlsAcceptor>,
}

impl SmtpServer {
    /// Listens on a free loopback port.
    pub fn start() -> SmtpServer {
        Self::start_with(None)
    }

    /// Listens on a free loopback port speaking TLS from the first byte (SMTPS), presenting the
    /// certificate chain `cert_pem` with its private key `key_pem` (e.g. a service certificate of
    /// `tls::write_dev_certificates`, which names 127.0.0.1 and `localhost`).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> SmtpServer {
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("private key PEM");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("TLS server config");
        Self::start_with(Some(TlsAcceptor::from(Arc::new(config))))
    }

    fn start_with(tls: Option<TlsAcceptor>) -> SmtpServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-smtp")
            .enable_all()
            .build()
            .expect("SMTP test server runtime");
        let mut server = SmtpServer {
            port: 0,
            shared: Arc::new(Shared {
                mail: watch::Sender::new(Vec::new()),
                accept_delay: Mutex::new(Duration::ZERO),
                rejected: Mutex::new(Vec::new()),
                deferred: Mutex::new(Vec::new()),
                hold: watch::Sender::new(Hold::default()),
                stall: Mutex::new(None),
                stalled: watch::Sender::new(0),
            }),
            runtime: Some(runtime),
            listening: None,
            tls,
        };
        server.restart();
        server
    }

    /// Starts (again) on the same port; earlier messages are kept.
    pub fn restart(&mut self) {
        assert!(self.listening.is_none(), "already running");
        let runtime = self.runtime.as_ref().expect("runtime");
        let listener = {
            let _inside = runtime.enter();
            bind(self.port)
        };
        self.port = listener.local_addr().expect("local addr").port();
        let stop = CancellationToken::new();
        let task = runtime.spawn(serve(
            listener,
            self.shared.clone(),
            self.tls.clone(),
            stop.clone(),
        ));
        self.listening = Some(Listening { stop, task });
    }

    /// Takes the server down like a kill: the listener and every open session are closed before this
    /// returns, and connections are refused until `restart`.
    pub fn stop(&mut self) {
        let Some(Listening { stop, task }) = self.listening.take() else {
            return;
        };
        stop.cancel();
        self.block_on(task).expect("SMTP accept loop");
    }

    /// Answers the end of DATA only after `delay` (a slow server). The message is stored when the
    /// delay ends, whether or not the client is still waiting, as a server that had queued it would.
    pub fn set_accept_delay(&self, delay: Duration) {
        *self.shared.accept_delay.lock().unwrap() = delay;
    }

    /// The next reply to the command `verb` (`MAIL`, `RCPT`, `DATA` — the reply after the message —
    /// …) goes out only after `delay`, once: a server that stalls in the middle of a transaction.
    /// The session reads nothing meanwhile; whatever the client sends waits in its buffer.
    pub fn stall_next_reply(&self, verb: &str, delay: Duration) {
        *self.shared.stall.lock().unwrap() = Some((verb.to_owned(), delay));
    }

    /// Waits until `n` replies have been stalled (their wait has begun); panics after `limit`.
    pub async fn wait_for_stalled(&self, n: usize, limit: Duration) {
        let mut stalled = self.shared.stalled.subscribe();
        let reached = tokio::time::timeout(limit, stalled.wait_for(|s| *s >= n))
            .await
            .is_ok();
        assert!(
            reached,
            "only {} of {n} replies stalled",
            *self.shared.stalled.borrow()
        );
    }

    /// Answers RCPT TO with a permanent `550` for addresses containing `part`.
    pub fn reject_recipients_containing(&self, part: &str) {
        self.shared.rejected.lock().unwrap().push(part.to_owned());
    }

    /// Answers RCPT TO with a temporary `450` for addresses containing `part`.
    pub fn defer_recipients_containing(&self, part: &str) {
        self.shared.deferred.lock().unwrap().push(part.to_owned());
    }

    /// From now on, the answer to each end of DATA waits for [`release_replies`](Self::release_replies):
    /// a send is in flight, the server has the message, the client has no answer yet. A message is
    /// stored only when its reply goes out; a client that hangs up while held leaves nothing stored
    /// (the server never took it), so a client that gives up in time causes no e-mail.
    pub fn hold_replies(&self) {
        self.shared.hold.send_modify(|h| h.on = true);
    }

    /// Answers every held message (storing it) and stops holding.
    pub fn release_replies(&self) {
        self.shared.hold.send_modify(|h| h.on = false);
    }

    /// Waits until every message that reached the end of DATA before the hold began is stored: after
    /// this (and with replies held), the stored messages stay as they are until the release.
    pub async fn wait_for_unheld_stored(&self, limit: Duration) {
        let mut hold = self.shared.hold.subscribe();
        let settled = tokio::time::timeout(limit, hold.wait_for(|h| h.on && h.passing == 0)).await;
        assert!(
            settled.is_ok(),
            "messages past the end of DATA still unstored after {limit:?}"
        );
    }

    /// Waits until `n` messages reached the end of DATA while replies were held (ones whose client gave
    /// up count too); panics after `limit`.
    pub async fn wait_for_held(&self, n: usize, limit: Duration) {
        let mut hold = self.shared.hold.subscribe();
        let reached = tokio::time::timeout(limit, hold.wait_for(|h| h.held >= n))
            .await
            .is_ok();
        assert!(
            reached,
            "only {} of {n} sends reached the end of DATA",
            self.shared.hold.borrow().held
        );
    }

    pub fn messages(&self) -> Vec<Mail> {
        self.shared.mail.borrow().clone()
    }

    /// Waits until at least `n` messages arrived (panics after `limit`): a point in a stream, not its
    /// end — use [`wait_for`](Self::wait_for) to count.
    pub async fn wait_for_at_least(&self, n: usize, limit: Duration) {
        let mut arrivals = self.shared.mail.subscribe();
        let reached = tokio::time::timeout(limit, arrivals.wait_for(|all| all.len() >= n))
            .await
            .is_ok();
        assert!(
            reached,
            "only {} of {n} e-mails arrived",
            self.messages().len()
        );
    }

    /// Waits until at least `n` messages arrived (or panics after `limit`), then until none arrived for
    /// a quiet period, and returns them all: callers assert exact counts, so a late duplicate fails.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Mail> {
        self.wait_for_at_least(n, limit).await;
        let mut arrivals = self.shared.mail.subscribe();
        let deadline = Instant::now() + limit;
        while tokio::time::timeout(QUIET, arrivals.changed())
            .await
            .is_ok()
        {
            assert!(
                Instant::now() < deadline,
                "e-mails kept arriving: {} so far, {n} expected",
                self.messages().len()
            );
        }
        self.messages()
    }

    /// Runs `fut` to completion on the server's runtime from a helper thread, which is allowed even
    /// when the caller is itself inside a runtime.
    fn block_on<F: Future + Send>(&self, fut: F) -> F::Output
    where
        F::Output: Send,
    {
        let runtime = self.runtime.as_ref().expect("runtime");
        std::thread::scope(|s| s.spawn(|| runtime.block_on(fut)).join())
            .expect("SMTP helper thread")
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(runtime) = self.runtime.take() {
            // Dropping a runtime inside another one panics; nothing of it is left running anyway.
            runtime.shutdown_background();
        }
    }
}

/// Binds `port` (0: any free one). SO_REUSEADDR lets a restart take its port back while old
/// connections linger in TIME_WAIT.
fn bind(port: u16) -> TcpListener {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listener = TcpSocket::new_v4().and_then(|socket| {
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(1024)
        });
        match listener {
            Ok(listener) => return listener,
            Err(e) if Instant::now() < deadline => {
                eprintln!("SMTP test server: binding {addr}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("SMTP test server cannot bind {addr}: {e}"),
        }
    }
}

/// Accepts until `stop`, then drops the listener and aborts every session, waiting until they are gone.
async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    stop: CancellationToken,
) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = sessions.join_next() => {}
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    // The client's commands are small writes; don't let Nagle hold our replies.
                    let _ = socket.set_nodelay(true);
                    sessions.spawn(session_over(socket, tls.clone(), shared.clone()));
                }
                Err(e) => eprintln!("SMTP test server: accept: {e}"),
            },
        }
    }
    drop(listener);
    sessions.shutdown().await;
}

/// One session on `socket`, inside TLS when `tls` is set.
async fn session_over(socket: TcpStream, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    match tls {
        None => session::run(socket, shared).await,
        Some(acceptor) => match acceptor.accept(socket).await {
            Ok(stream) => session::run(stream, shared).await,
            Err(e) => eprintln!("SMTP test server: TLS handshake: {e}"),
        },
    }
}
