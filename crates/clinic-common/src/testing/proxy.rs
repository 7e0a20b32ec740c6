//! A TCP proxy on loopback for fault injection: point a client at [`TcpProxy::addr`] instead of the
//! server, then break the link the way networks break.
//!
//! - [`freeze`](TcpProxy::freeze): every current connection stops moving bytes in both directions
//!   but stays open — a half-open, black-holed link (a dead NAT entry, a pulled cable). Neither
//!   end sees an error; only its own timeouts or keep-alives can notice. Connections made after
//!   the freeze work normally.
//! - [`cut`](TcpProxy::cut): every current connection (frozen or not) is closed at once.
//! - [`pause_accept`](TcpProxy::pause_accept) / [`resume_accept`](TcpProxy::resume_accept): new
//!   connections complete the TCP handshake (the kernel's backlog) but are neither accepted nor
//!   forwarded until resumed — a server that hangs before answering.
//!
//! The proxy runs on the caller's runtime and stops (closing every connection) when dropped.

#[cfg(test)]
mod tests;

use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;

pub struct TcpProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accepting: watch::Sender<bool>,
    stop: CancellationToken,
}

/// One forwarded connection's controls.
struct Link {
    freeze: CancellationToken,
    cut: CancellationToken,
}

#[derive(Default)]
struct Shared {
    /// The connections open now, by a sequence number.
    links: Mutex<HashMap<u64, Link>>,
    /// Connections accepted so far.
    accepted: AtomicU64,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<TcpProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (accepting, accepting_rx) = watch::channel(true);
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(
            listener,
            target,
            shared.clone(),
            accepting_rx,
            stop.clone(),
        ));
        Ok(TcpProxy {
            addr,
            shared,
            accepting,
            stop,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, for a gRPC channel.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops forwarding on every current connection without closing it. Later connections work.
    pub fn freeze(&self) {
        self.each_link(|l| l.freeze.cancel());
    }

    /// Closes every current connection. Later connections work.
    pub fn cut(&self) {
        self.each_link(|l| l.cut.cancel());
    }

    /// New connections wait in the listen backlog, unanswered, until [`resume_accept`](Self::resume_accept).
    pub fn pause_accept(&self) {
        self.accepting.send_replace(false);
    }

    pub fn resume_accept(&self) {
        self.accepting.send_replace(true);
    }

    /// Connections accepted since the start (a client that reconnected shows here).
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections open now, frozen ones included.
    pub fn open_connections(&self) -> usize {
        self.shared.links.lock().unwrap().len()
    }

    fn each_link(&self, f: impl Fn(&Link)) {
        self.shared.links.lock().unwrap().values().for_each(f);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    shared: Arc<Shared>,
    mut accepting: watch::Receiver<bool>,
    stop: CancellationToken,
) {
    let mut links = JoinSet::new();
    loop {
        let open = *accepting.borrow_and_update();
        tokio::select! {
            // A pause requested before a client connected is seen before that connection.
            biased;
            () = stop.cancelled() => break,
            changed = accepting.changed() => if changed.is_err() { break },
            Some(_) = links.join_next() => {}
            accepted = listener.accept(), if open => match accepted {
                Ok((client, _)) => {
                    let id = shared.accepted.fetch_add(1, Ordering::SeqCst);
                    let link = Link { freeze: CancellationToken::new(), cut: stop.child_token() };
                    let (freeze, cut) = (link.freeze.clone(), link.cut.clone());
                    shared.links.lock().unwrap().insert(id, link);
                    let shared = shared.clone();
                    links.spawn(async move {
                        forward(client, target, freeze, cut).await;
                        shared.links.lock().unwrap().remove(&id);
                    });
                }
                Err(e) => eprintln!("test TCP proxy: accept: {e}"),
            },
        }
    }
    // Closes every connection; the listener closes when this returns.
    links.shutdown().await;
}

/// Copies both ways until both sides are done (half-closes are passed on), an error, or `cut`.
/// After `freeze` it copies nothing more but keeps both sockets open until `cut`.
async fn forward(
    mut client: TcpStream,
    target: SocketAddr,
    freeze: CancellationToken,
    cut: CancellationToken,
) {
    let mut server = tokio::select! {
        () = cut.cancelled() => return,
        connected = TcpStream::connect(target) => match connected {
            Ok(s) => s,
            // The client sees its connection closed, as if the server had refused it.
            Err(_) => return,
        },
    };
    // Small gRPC frames must not wait on Nagle in the proxy either.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        () = cut.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        // The copy is dropped here, but the sockets it borrowed stay open.
        () = freeze.cancelled() => cut.cancelled().await,
    }
}
