//! Client-side round robin over every address a service's name resolves to.
//!
//! Why: one HTTP/2 connection carries all of a caller's gRPC calls, so behind a Kubernetes ClusterIP
//! (an L4 balancer that picks a pod per *connection*) every call of a caller lands on one pod and the
//! other replicas idle. Behind a headless Service the name resolves to every ready pod's IP; this
//! channel keeps one lazily connected [`Channel`] per address and hands each call to the next one.
//! The name is re-resolved every [`REFRESH_EVERY`], so pods that come and go (scale-out, rollout,
//! readiness) join and leave; an address whose call failed at the transport level (refused, reset,
//! timed out) is passed over for [`DOWN_FOR`] while another is up. An IP address in the URL is used as
//! it is, with no resolution.

use std::{
    collections::BTreeMap,
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        Arc, OnceLock, RwLock, Weak,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tonic::{
    body::Body,
    transport::{Channel, Endpoint},
};
use tower::{Service, ServiceExt};

/// How often a name is resolved again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);
/// How long an address whose call failed at the transport level is passed over.
pub const DOWN_FOR: Duration = Duration::from_secs(5);
/// Longest wait for one resolution.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// Turns (host, port) into the addresses to balance over.
pub type Resolver =
    Arc<dyn Fn(String, u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> + Send + Sync>;
type Configure = Arc<dyn Fn(Endpoint) -> Endpoint + Send + Sync>;

/// A cheaply cloned gRPC channel that balances calls over a name's addresses (see the module doc).
#[derive(Clone)]
pub struct BalancedChannel {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BalancedChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BalancedChannel")
            .field("host", &self.shared.host)
            .field("port", &self.shared.port)
            .finish_non_exhaustive()
    }
}

struct Shared {
    /// `http` or `https`; with `https`, `configure` sets the TLS config (and the name checked).
    scheme: &'static str,
    host: String,
    port: u16,
    configure: Configure,
    resolver: Resolver,
    backends: RwLock<Arc<[Arc<Backend>]>>,
    next: AtomicUsize,
    epoch: Instant,
    down_for: Duration,
    refresher: OnceLock<tokio::task::AbortHandle>,
}

struct Backend {
    addr: SocketAddr,
    channel: Channel,
    /// Milliseconds since `Shared::epoch` until which this address is passed over.
    down_until: AtomicU64,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The refresher holds only a weak reference; with the last clone gone it has nothing to do.
        if let Some(task) = self.refresher.get() {
            task.abort();
        }
    }
}

impl BalancedChannel {
    /// A lazily connected channel to `url` (`http://host:port` or `https://host:port`); `configure`
    /// sets up the endpoint of each address (timeouts, keep-alive, and for `https` the TLS config,
    /// whose name to check is the host's, not the address's). Needs a Tokio runtime when the host is a name.
    pub fn new(
        url: &str,
        configure: impl Fn(Endpoint) -> Endpoint + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        Self::with_resolver(url, configure, Arc::new(dns), REFRESH_EVERY, DOWN_FOR)
    }

    /// [`BalancedChannel::new`] with another way of finding the addresses, and other intervals
    /// (tests; a discovery source other than DNS).
    pub fn with_resolver(
        url: &str,
        configure: impl Fn(Endpoint) -> Endpoint + Send + Sync + 'static,
        resolver: Resolver,
        refresh_every: Duration,
        down_for: Duration,
    ) -> anyhow::Result<Self> {
        let uri: http::Uri = url.parse()?;
        let scheme = match uri.scheme_str() {
            Some("http") => "http",
            Some("https") => "https",
            _ => anyhow::bail!("{url}: only http:// and https:// URLs are supported"),
        };
        let host = uri
            .host()
            .ok_or_else(|| anyhow::anyhow!("{url}: no host"))?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let literal = host.parse::<IpAddr>().ok();
        let shared = Arc::new(Shared {
            scheme,
            host,
            port,
            configure: Arc::new(configure),
            resolver,
            backends: RwLock::new(Arc::from([])),
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
            down_for,
            refresher: OnceLock::new(),
        });
        match literal {
            Some(ip) => shared.replace(&[SocketAddr::new(ip, port)])?,
            None => {
                let weak = Arc::downgrade(&shared);
                let task = tokio::spawn(refresh_loop(weak, refresh_every));
                let _ = shared.refresher.set(task.abort_handle());
            }
        }
        Ok(Self { shared })
    }

    /// The addresses calls are currently spread over.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.shared.current().iter().map(|b| b.addr).collect()
    }
}

/// Resolves the name again every `every` until the channel is dropped.
async fn refresh_loop(shared: Weak<Shared>, every: Duration) {
    let mut first = true;
    loop {
        if !first {
            tokio::time::sleep(every).await;
        }
        first = false;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.refresh().await;
    }
}

async fn dns_lookup(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok(tokio::net::lookup_host((host.as_str(), port))
        .await?
        .collect())
}

fn dns(host: String, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
    Box::pin(dns_lookup(host, port))
}

impl Shared {
    fn current(&self) -> Arc<[Arc<Backend>]> {
        self.backends.read().expect("backends lock").clone()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Resolves the name; on success the address set becomes the answer, keeping the channels of
    /// addresses still in it. A failed or empty answer keeps the set as it was (a DNS hiccup must not
    /// take every backend away).
    async fn refresh(&self) {
        let lookup = (self.resolver)(self.host.clone(), self.port);
        match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            Ok(Ok(addrs)) if !addrs.is_empty() => {
                if let Err(e) = self.replace(&addrs) {
                    tracing::warn!(host = %self.host, error = %e, "bad resolved address");
                }
            }
            Ok(Ok(_)) => tracing::warn!(host = %self.host, "name resolved to no address"),
            Ok(Err(e)) => tracing::warn!(host = %self.host, error = %e, "cannot resolve"),
            Err(_) => tracing::warn!(host = %self.host, "name resolution timed out"),
        }
    }

    fn replace(&self, addrs: &[SocketAddr]) -> anyhow::Result<()> {
        let old = self.current();
        let mut kept: BTreeMap<SocketAddr, Arc<Backend>> =
            old.iter().map(|b| (b.addr, b.clone())).collect();
        let mut next = Vec::with_capacity(addrs.len());
        let mut wanted: Vec<SocketAddr> = addrs.to_vec();
        wanted.sort();
        wanted.dedup();
        for addr in &wanted {
            let backend = match kept.remove(addr) {
                Some(b) => b,
                None => {
                    let endpoint = Endpoint::from_shared(format!("{}://{addr}", self.scheme))?;
                    Arc::new(Backend {
                        addr: *addr,
                        channel: (self.configure)(endpoint).connect_lazy(),
                        down_until: AtomicU64::new(0),
                    })
                }
            };
            next.push(backend);
        }
        if old.iter().map(|b| b.addr).ne(wanted.iter().copied()) {
            tracing::info!(host = %self.host, addresses = ?wanted, "balancing over");
        }
        *self.backends.write().expect("backends lock") = Arc::from(next);
        Ok(())
    }

    /// The next address in turn that is not passed over; when all are, the next one anyway.
    fn pick(&self) -> Option<Arc<Backend>> {
        let list = self.current();
        if list.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        (0..list.len())
            .map(|i| &list[(start + i) % list.len()])
            .find(|b| b.down_until.load(Ordering::Relaxed) <= now)
            .or_else(|| list.get(start % list.len()))
            .cloned()
    }
}

impl Service<http::Request<Body>> for BalancedChannel {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    // Readiness is each address's own: the call waits on the channel it is given.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            let backend = match shared.pick() {
                Some(b) => b,
                // Before the first resolution has answered (or while none has yet).
                None => {
                    shared.refresh().await;
                    shared.pick().ok_or_else(|| {
                        tonic::Status::unavailable(format!("{}: no address resolved", shared.host))
                    })?
                }
            };
            let result = backend.channel.clone().oneshot(request).await;
            if result.is_err() {
                let until = shared.now_ms() + shared.down_for.as_millis() as u64;
                backend.down_until.store(until, Ordering::Relaxed);
            }
            result.map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::net::TcpListener;
    use tonic::transport::server::TcpIncoming;
    use tonic_health::{
        ServingStatus,
        pb::{HealthCheckRequest, health_client::HealthClient},
    };

    use super::*;

    /// A health server that answers SERVING for `name` only, so a call shows which server took it.
    async fn named_server(name: &'static str) -> SocketAddr {
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _keep = reporter;
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(TcpIncoming::from(listener))
                .await
        });
        addr
    }

    fn fixed(addrs: Arc<Mutex<Vec<SocketAddr>>>) -> Resolver {
        Arc::new(move |_, _| {
            let answer = addrs.lock().unwrap().clone();
            Box::pin(async move { Ok(answer) })
        })
    }

    /// Which server answered each of `n` calls ("a", "b", or "failed").
    async fn who_answers(channel: &BalancedChannel, n: usize) -> Vec<&'static str> {
        let mut client = HealthClient::new(channel.clone());
        let mut out = Vec::new();
        for _ in 0..n {
            let a = client
                .check(HealthCheckRequest {
                    service: "a".into(),
                })
                .await;
            out.push(match a {
                Ok(_) => "a",
                Err(s) if s.code() == tonic::Code::NotFound => "b",
                Err(_) => "failed",
            });
        }
        out
    }

    fn configure(e: Endpoint) -> Endpoint {
        e.connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(2))
    }

    #[tokio::test]
    async fn calls_take_turns_over_every_resolved_address_and_follow_a_new_answer() {
        let (a, b) = (named_server("a").await, named_server("b").await);
        let answer = Arc::new(Mutex::new(vec![a, b]));
        let channel = BalancedChannel::with_resolver(
            "http://registration-service:50051",
            configure,
            fixed(answer.clone()),
            Duration::from_millis(50),
            DOWN_FOR,
        )
        .unwrap();

        let first = who_answers(&channel, 10).await;
        assert_eq!(first.iter().filter(|w| **w == "a").count(), 5, "{first:?}");
        assert_eq!(first.iter().filter(|w| **w == "b").count(), 5, "{first:?}");

        // A scale-in: the name now resolves to one pod only.
        *answer.lock().unwrap() = vec![b];
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(channel.addresses(), vec![b]);
        assert_eq!(who_answers(&channel, 6).await, vec!["b"; 6]);
    }

    #[tokio::test]
    async fn an_address_that_refuses_is_passed_over_after_one_failed_call() {
        let a = named_server("a").await;
        let gone = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let channel = BalancedChannel::with_resolver(
            "http://appointment-service:50052",
            configure,
            fixed(Arc::new(Mutex::new(vec![a, gone]))),
            Duration::from_secs(60),
            Duration::from_secs(60),
        )
        .unwrap();
        let answers = who_answers(&channel, 10).await;
        let failed = answers.iter().filter(|w| **w == "failed").count();
        assert!(failed <= 1, "{answers:?}");
        assert_eq!(answers.iter().filter(|w| **w == "a").count(), 10 - failed);
    }

    #[tokio::test]
    async fn an_ip_address_is_used_as_it_is() {
        let a = named_server("a").await;
        let channel = BalancedChannel::new(&format!("http://{a}"), configure).unwrap();
        assert_eq!(channel.addresses(), vec![a]);
        assert_eq!(who_answers(&channel, 3).await, vec!["a"; 3]);
    }
}
