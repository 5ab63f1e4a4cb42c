//! Latency and jitter without netem: a delaying TCP relay per link, in the style of
//! toxiproxy. Node `i` reaches peer `j` only through `127.0.0.1:RELAY_BASE+j` in its own
//! namespace, where a relay forwards to `j`'s real address and holds every chunk, each
//! way, for the link's delay ± jitter (in order: a chunk never overtakes the one before).
//!
//! The relay's sockets live in node `i`'s namespace (its thread joins it with `setns`
//! before making any), so its connections to `j` leave from `i`'s address and the
//! nftables faults on that address apply to them. They carry [`MARK`]: each namespace
//! drops outgoing libp2p connections without it, so a node that learns a peer's real
//! address (from identify, or from discovery) cannot bypass its relay.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::HostsError;

/// The first relay port: node `i` reaches peer `j` at `127.0.0.1:RELAY_BASE + j`.
pub const RELAY_BASE: u16 = 7200;

/// The socket mark of the relays' outgoing connections.
pub const MARK: u32 = 0x5e1;

/// Chunks in flight per direction of one relayed connection.
const QUEUE: usize = 1024;

/// The delay and jitter of every directed link, in µs, changed while the relays run.
pub struct Shapes {
    n: usize,
    delay_us: Vec<AtomicU64>,
    jitter_us: Vec<AtomicU64>,
}

impl Shapes {
    /// No delay on any of the `n`×`n` links.
    pub fn new(n: usize) -> Self {
        let zeros = || (0..n * n).map(|_| AtomicU64::new(0)).collect();
        Self {
            n,
            delay_us: zeros(),
            jitter_us: zeros(),
        }
    }

    /// Sets the link from `from` to `to`.
    pub fn set(&self, from: usize, to: usize, delay: Duration, jitter: Duration) {
        let k = from * self.n + to;
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if let (Some(d), Some(j)) = (self.delay_us.get(k), self.jitter_us.get(k)) {
            d.store(us(delay), Ordering::Relaxed);
            j.store(us(jitter), Ordering::Relaxed);
        }
    }

    /// Sets every link.
    pub fn set_all(&self, delay: Duration, jitter: Duration) {
        for a in 0..self.n {
            for b in 0..self.n {
                self.set(a, b, delay, jitter);
            }
        }
    }

    /// One delay draw for the link from `from` to `to`: uniform in delay ± jitter.
    fn draw(&self, from: usize, to: usize, rng: &mut u64) -> Duration {
        let k = from * self.n + to;
        let load = |v: &[AtomicU64]| v.get(k).map_or(0, |a| a.load(Ordering::Relaxed));
        let (d, j) = (load(&self.delay_us), load(&self.jitter_us));
        if j == 0 {
            return Duration::from_micros(d);
        }
        // xorshift64: enough for jitter, and no dependency.
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let offset = *rng % (2 * j + 1);
        Duration::from_micros((d + offset).saturating_sub(j))
    }
}

/// The relays of one node: a thread in its namespace, stopped (with every connection)
/// on drop.
pub struct NodeRelays {
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What node `me`'s relays forward to.
pub struct RelayPlan {
    /// This node.
    pub me: usize,
    /// Its namespace.
    pub namespace: String,
    /// Every node's real libp2p address.
    pub peers: Vec<SocketAddr>,
}

impl NodeRelays {
    /// Starts node `plan.me`'s relays; returns once they listen.
    pub fn start(plan: RelayPlan, shapes: Arc<Shapes>) -> Result<Self, HostsError> {
        let (stop, stopped) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("relay-n{}", plan.me))
            .spawn(move || {
                let result = serve(plan, shapes, stopped, &ready_tx);
                if let Err(e) = result {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| HostsError::Setup(format!("relay thread: {e}")))?;
        let relays = Self {
            stop,
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(relays),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(HostsError::Setup("relays did not start".into())),
        }
    }
}

impl Drop for NodeRelays {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The relay thread: joins the namespace, listens, serves until stopped.
fn serve(
    plan: RelayPlan,
    shapes: Arc<Shapes>,
    mut stopped: watch::Receiver<bool>,
    ready: &std::sync::mpsc::Sender<Result<(), HostsError>>,
) -> Result<(), HostsError> {
    let setup = |what: &str, e: &dyn std::fmt::Display| HostsError::Setup(format!("{what}: {e}"));
    let path = format!("/run/netns/{}", plan.namespace);
    let ns = std::fs::File::open(&path).map_err(|e| setup(&path, &e))?;
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| setup("setns", &e))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| setup("relay runtime", &e))?;
    runtime.block_on(async move {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        let seed = u64::from_le_bytes(seed) | 1;
        for (j, &target) in plan.peers.iter().enumerate() {
            if j == plan.me {
                continue;
            }
            let port = RELAY_BASE.saturating_add(u16::try_from(j).unwrap_or(u16::MAX));
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
                .await
                .map_err(|e| setup(&format!("relay listen 127.0.0.1:{port}"), &e))?;
            let link = Link {
                me: plan.me,
                peer: j,
                target,
                shapes: shapes.clone(),
                seed: seed.wrapping_mul(u64::try_from(j).unwrap_or(0).wrapping_add(3)),
            };
            tokio::spawn(accept(listener, link));
        }
        let _ = ready.send(Ok(()));
        let _ = stopped.wait_for(|s| *s).await;
        Ok(())
    })
}

/// One directed relay: node `me` to peer `peer`.
#[derive(Clone)]
struct Link {
    me: usize,
    peer: usize,
    target: SocketAddr,
    shapes: Arc<Shapes>,
    seed: u64,
}

async fn accept(listener: TcpListener, link: Link) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        let link = link.clone();
        tokio::spawn(async move {
            match connect(link.target).await {
                Ok(outbound) => relay(inbound, outbound, link).await,
                Err(e) => tracing::debug!(peer = link.peer, error = %e, "relay cannot connect"),
            }
        });
    }
}

/// Connects to the peer with the relay's mark, which lets it through the namespace's
/// rule against direct dials.
async fn connect(target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::Mark, &MARK)
        .map_err(std::io::Error::from)?;
    tokio::time::timeout(Duration::from_secs(10), socket.connect(target))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// Pipes both ways, each way delayed as its link is shaped now.
async fn relay(inbound: TcpStream, outbound: TcpStream, link: Link) {
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    let up = pipe(in_read, out_write, (link.me, link.peer), link.clone());
    let down = pipe(out_read, in_write, (link.peer, link.me), link);
    // When either way ends, the whole connection goes, as a cut TCP connection would.
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    (a, b): (usize, usize),
    link: Link,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE);
    let shapes = link.shapes.clone();
    let mut rng = link.seed ^ u64::try_from(a * 31 + b).unwrap_or(0);
    let reader = async move {
        let mut last = Instant::now();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let at = (Instant::now() + shapes.draw(a, b, &mut rng)).max(last);
            last = at;
            if tx
                .send((at, buf.get(..n).unwrap_or_default().to_vec()))
                .await
                .is_err()
            {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
