//! Implicit TLS (SMTPS) over a socket we opened ourselves, so that it has `TCP_NODELAY` like the
//! plain and STARTTLS connections (see `smtp_pool`).
//!
//! lettre's connection takes any stream, but does TLS from the first byte only on a socket it opens
//! itself. So the TLS session is made with lettre's own stream type (its certificate checks, the
//! `TlsParameters` from the settings) on our socket, and handed to the connection as a plain stream.

// lettre's `AsyncNetworkStream` is deprecated as an API of its own, but it is the one way to lettre's
// TLS upgrade over a stream that is not lettre's.
#![allow(deprecated)]

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll, ready},
};

use lettre::transport::smtp::client::{AsyncNetworkStream, AsyncTokioStream, TlsParameters};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// A TLS session on our socket, as a stream for `AsyncSmtpConnection::connect_with_transport`.
#[derive(Debug)]
pub(super) struct TlsStream(AsyncNetworkStream);

impl TlsStream {
    /// Makes the TLS session (the handshake and the server's certificate check) on `socket`.
    pub(super) async fn handshake(
        socket: TcpStream,
        tls: TlsParameters,
    ) -> Result<Self, lettre::transport::smtp::Error> {
        let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(socket));
        stream.upgrade_tls(tls).await?;
        Ok(Self(stream))
    }
}

impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        let n = ready!(futures::io::AsyncRead::poll_read(
            Pin::new(&mut self.0),
            cx,
            unfilled
        ))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}
