use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinSet,
};

use super::TcpProxy;

const WAIT: Duration = Duration::from_secs(10);
/// How long a link must stay silent to count as black-holed (bytes on loopback take microseconds).
const SILENCE: Duration = Duration::from_millis(300);

/// An echo server: writes back what it reads, closes when the client does.
async fn echo_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut sessions = JoinSet::new();
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            sessions.spawn(async move {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    (addr, task)
}

async fn echoes(stream: &mut TcpStream, msg: &[u8]) -> bool {
    stream.write_all(msg).await.unwrap();
    let mut buf = vec![0; msg.len()];
    matches!(
        tokio::time::timeout(WAIT, stream.read_exact(&mut buf)).await,
        Ok(Ok(_)) if buf == msg
    )
}

/// Nothing at all (no byte, no close) arrives on `stream` within [`SILENCE`].
async fn silent(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    tokio::time::timeout(SILENCE, stream.read(&mut buf))
        .await
        .is_err()
}

/// The connection is closed (end of stream or reset) within [`WAIT`].
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    matches!(
        tokio::time::timeout(WAIT, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn forwards_both_ways_and_passes_on_a_half_close() {
    let (target, _server) = echo_server().await;
    let proxy = TcpProxy::start(target).await.unwrap();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();

    assert!(echoes(&mut c, b"hello through the proxy").await);
    assert_eq!(proxy.accepted(), 1);
    assert_eq!(proxy.open_connections(), 1);
    // Our half-close reaches the echo server, which then closes its side.
    c.shutdown().await.unwrap();
    assert!(closed(&mut c).await);
    wait_until("link forgotten", || proxy.open_connections() == 0).await;
}

#[tokio::test]
async fn freeze_black_holes_open_connections_while_new_ones_work() {
    let (target, _server) = echo_server().await;
    let proxy = TcpProxy::start(target).await.unwrap();
    let mut old = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(echoes(&mut old, b"before").await);

    proxy.freeze();

    old.write_all(b"into the void").await.unwrap();
    assert!(
        silent(&mut old).await,
        "a frozen link moved bytes or closed"
    );
    assert_eq!(proxy.open_connections(), 1, "frozen, not closed");
    let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(echoes(&mut new, b"after").await);
    assert_eq!(proxy.accepted(), 2);
    assert!(silent(&mut old).await, "the old link stays frozen");
}

#[tokio::test]
async fn cut_closes_open_connections_frozen_or_not_while_new_ones_work() {
    let (target, _server) = echo_server().await;
    let proxy = TcpProxy::start(target).await.unwrap();
    let mut frozen = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(echoes(&mut frozen, b"one").await);
    proxy.freeze();
    let mut live = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(echoes(&mut live, b"two").await);
    assert_eq!(proxy.open_connections(), 2);

    proxy.cut();

    assert!(closed(&mut frozen).await);
    assert!(closed(&mut live).await);
    wait_until("links forgotten", || proxy.open_connections() == 0).await;
    let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(echoes(&mut new, b"three").await);
}

#[tokio::test]
async fn a_paused_proxy_holds_new_connections_until_resumed() {
    let (target, _server) = echo_server().await;
    let proxy = TcpProxy::start(target).await.unwrap();
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(echoes(&mut open, b"open").await);

    proxy.pause_accept();

    // The kernel completes the handshake; nothing answers.
    let mut waiting = TcpStream::connect(proxy.addr()).await.unwrap();
    waiting.write_all(b"anyone?").await.unwrap();
    assert!(silent(&mut waiting).await);
    assert_eq!(proxy.accepted(), 1);
    // Connections accepted before the pause keep working.
    assert!(echoes(&mut open, b"still open").await);

    proxy.resume_accept();

    let mut buf = [0u8; 7];
    tokio::time::timeout(WAIT, waiting.read_exact(&mut buf))
        .await
        .expect("answered after resume")
        .unwrap();
    assert_eq!(&buf, b"anyone?");
    assert_eq!(proxy.accepted(), 2);
}

#[tokio::test]
async fn dropping_the_proxy_closes_every_connection() {
    let (target, _server) = echo_server().await;
    let proxy = TcpProxy::start(target).await.unwrap();
    let mut frozen = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(echoes(&mut frozen, b"x").await);
    proxy.freeze();
    let addr = proxy.addr();

    drop(proxy);

    assert!(closed(&mut frozen).await);
    // The listener is gone too (the accept loop ends asynchronously: bounded retries).
    let deadline = tokio::time::Instant::now() + WAIT;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "still listening");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
