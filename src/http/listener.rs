//! The HTTP listener's own limits, below axum: how many connections are
//! open, how long a connection may take to prove itself, and how long it
//! may go without sending a byte.
//!
//! A client that opens connections and trickles half a request (one header
//! line every few seconds) must not lock anyone out, and needs no token to
//! try. So connections come in two kinds, each with a bounded pool:
//!
//! - *pending*: every new connection, until one of its requests passes
//!   authentication (or, in open mode, reaches a data route). A pending
//!   connection has a deadline for that (`request_timeout`), however
//!   steadily it trickles, and one client address holds at most
//!   `max_pending_per_address` of them; past that its new connections are
//!   closed at once. Health checks, the board's files and the API's
//!   documents are served to pending connections.
//! - *authenticated*: a connection that proved itself moves to the other
//!   pool (`max_connections`) and keeps its place for as long as it is
//!   open and not silent past the idle limit. Boards answer the service's
//!   pings every 20 s, so a live board is never idle that long.
//!
//! So boards cannot crowd out health checks (those come in as pending
//! connections), and unauthenticated clients cannot crowd out boards (they
//! never leave the pending pool). New connections wait in the kernel's
//! backlog while the pending pool is empty.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::telemetry::{ConnectionClosed, Connections, Signal};

/// Default bound on authenticated connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default bound on connections not yet authenticated.
pub const DEFAULT_MAX_PENDING: usize = 1024;
/// Default bound on one address's connections not yet authenticated.
pub const DEFAULT_MAX_PENDING_PER_ADDRESS: usize = 64;
/// Default time a connection has to prove itself.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a connection may stay silent (no byte received).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The listener's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Authenticated connections open at once.
    pub max_connections: usize,
    /// Connections not yet authenticated, open at once.
    pub max_pending: usize,
    /// Of those, from one client address.
    pub max_pending_per_address: usize,
    /// How long a connection has, from its accept, to be authenticated.
    pub request_timeout: Duration,
    /// How long any connection may send nothing.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_pending: DEFAULT_MAX_PENDING,
            max_pending_per_address: DEFAULT_MAX_PENDING_PER_ADDRESS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// The pools and the count of pending connections per address.
#[derive(Debug)]
struct Pools {
    /// The listener's name in `/metrics` (`main`, `metrics`).
    name: &'static str,
    pending: Arc<Semaphore>,
    authenticated: Arc<Semaphore>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    limits: ConnectionLimits,
}

impl Pools {
    /// Tells `/metrics` how full the pools are.
    fn emit(&self) {
        Connections {
            listener: self.name,
            pending: self.limits.max_pending - self.pending.available_permits(),
            authenticated: self.limits.max_connections - self.authenticated.available_permits(),
        }
        .emit();
    }
}

/// A TCP listener with the two pools of connections, speaking TLS when
/// given a certificate.
pub struct Bounded {
    inner: TcpListener,
    pools: Arc<Pools>,
    tls: Option<Arc<super::tls::Tls>>,
}

impl Bounded {
    /// `name` tells this listener's series apart in `/metrics`.
    pub fn new(inner: TcpListener, name: &'static str, limits: ConnectionLimits) -> Bounded {
        let pools = Pools {
            name,
            pending: Arc::new(Semaphore::new(limits.max_pending.max(1))),
            authenticated: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            per_address: Mutex::new(HashMap::new()),
            limits,
        };
        Bounded {
            inner,
            pools: Arc::new(pools),
            tls: None,
        }
    }

    /// Connections then speak TLS with `tls`'s current certificate.
    pub fn with_tls(mut self, tls: Arc<super::tls::Tls>) -> Bounded {
        self.tls = Some(tls);
        self
    }
}

impl axum::serve::Listener for Bounded {
    type Io = Stream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let permit = self
                .pools
                .pending
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (stream, addr) = loop {
                match self.inner.accept().await {
                    Ok(accepted) => break accepted,
                    // Out of descriptors, or a connection reset before it
                    // was accepted: wait a little rather than spin.
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            };
            let Some(slot) = PendingSlot::take(&self.pools, addr.ip(), permit) else {
                // Too many from that address: closed at once (dropped).
                ConnectionClosed(self.pools.name, "per_address").emit();
                continue;
            };
            let _ = stream.set_nodelay(true);
            let conn = Arc::new(Conn {
                promoted: AtomicBool::new(false),
                slots: Mutex::new(Slots {
                    pending: Some(slot),
                    authenticated: None,
                }),
                pools: self.pools.clone(),
            });
            self.pools.emit();
            let guarded = Guarded::new(stream, conn.clone(), self.pools.limits);
            // The handshake is not done here, where it would hold up every
            // other accept: on the connection's first read or write.
            let state = match &self.tls {
                Some(tls) => State::Handshake(Box::new(tls.acceptor().accept(guarded))),
                None => State::Plain(guarded),
            };
            return (Stream { conn, state }, addr);
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A pending connection's place: its permit, and its count against its
/// address (given back when the place is).
#[derive(Debug)]
struct PendingSlot {
    _permit: OwnedSemaphorePermit,
    ip: IpAddr,
    pools: Arc<Pools>,
}

impl PendingSlot {
    /// A place for a connection from `ip`, unless that address holds its
    /// share of pending connections already.
    fn take(pools: &Arc<Pools>, ip: IpAddr, permit: OwnedSemaphorePermit) -> Option<PendingSlot> {
        let mut per = pools.per_address.lock().unwrap_or_else(|e| e.into_inner());
        let n = per.entry(ip).or_default();
        if *n >= pools.limits.max_pending_per_address {
            return None;
        }
        *n += 1;
        Some(PendingSlot {
            _permit: permit,
            ip,
            pools: pools.clone(),
        })
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut per = self
            .pools
            .per_address
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per.remove(&self.ip);
            }
        }
    }
}

#[derive(Debug)]
struct Slots {
    pending: Option<PendingSlot>,
    authenticated: Option<OwnedSemaphorePermit>,
}

/// One connection's standing, shared by its stream and its requests.
#[derive(Debug)]
pub struct Conn {
    promoted: AtomicBool,
    slots: Mutex<Slots>,
    pools: Arc<Pools>,
}

/// Every authenticated connection's place is taken.
#[derive(Debug)]
pub struct Full;

impl Conn {
    /// The connection proved itself (a request passed authentication): it
    /// moves to the authenticated pool, and its deadline is lifted. `Full`
    /// when that pool has no place: the request is refused, and the
    /// connection stays pending (and goes at its deadline).
    pub fn promote(&self) -> Result<(), Full> {
        if self.promoted.load(Ordering::Acquire) {
            return Ok(());
        }
        let permit = self
            .pools
            .authenticated
            .clone()
            .try_acquire_owned()
            .map_err(|_| Full)?;
        {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.authenticated = Some(permit);
            slots.pending = None;
        }
        self.promoted.store(true, Ordering::Release);
        self.pools.emit();
        Ok(())
    }

    fn promoted(&self) -> bool {
        self.promoted.load(Ordering::Acquire)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The permits go with the slots; the gauges follow.
        let slots = std::mem::replace(
            self.slots.get_mut().unwrap_or_else(|e| e.into_inner()),
            Slots {
                pending: None,
                authenticated: None,
            },
        );
        drop(slots);
        self.pools.emit();
    }
}

/// The client's address and its connection's standing, for handlers
/// (`ConnectInfo<Peer>`).
#[derive(Clone, Debug)]
pub struct Peer(pub SocketAddr, pub Arc<Conn>);

impl Connected<IncomingStream<'_, Bounded>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Bounded>) -> Self {
        Peer(*stream.remote_addr(), stream.io().conn.clone())
    }
}

/// A connection as the server reads and writes it: plain, or TLS (its
/// handshake done on first use, under the pending connection's deadline).
pub struct Stream {
    conn: Arc<Conn>,
    state: State,
}

enum State {
    Plain(Guarded),
    Handshake(Box<tokio_rustls::Accept<Guarded>>),
    Tls(Box<tokio_rustls::server::TlsStream<Guarded>>),
    Failed,
}

impl Stream {
    /// Completes a pending handshake; `Ready(Ok)` once the stream can be
    /// read and written.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let State::Handshake(accept) = &mut self.state {
            match Pin::new(accept.as_mut()).poll(cx) {
                Poll::Ready(Ok(tls)) => self.state = State::Tls(Box::new(tls)),
                Poll::Ready(Err(e)) => {
                    self.state = State::Failed;
                    ConnectionClosed(self.conn.pools.name, "tls_handshake").emit();
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        match self.state {
            State::Failed => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the TLS handshake failed",
            ))),
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// Runs `$op` on the stream under the connection, plain or TLS.
macro_rules! on_stream {
    ($self:ident, $cx:ident, |$s:ident| $op:expr) => {{
        let this = &mut *$self;
        if let Poll::Ready(Err(e)) = this.poll_ready($cx) {
            return Poll::Ready(Err(e));
        }
        match &mut this.state {
            State::Plain($s) => {
                let $s = Pin::new($s);
                $op
            }
            State::Tls(t) => {
                let $s = Pin::new(t.as_mut());
                $op
            }
            State::Handshake(_) => Poll::Pending,
            State::Failed => unreachable!("poll_ready returned the failure"),
        }
    }};
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        on_stream!(self, cx, |s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        on_stream!(self, cx, |s| s.poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_stream!(self, cx, |s| s.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if matches!(self.state, State::Handshake(_) | State::Failed) {
            // Nothing was said over it yet: nothing to close but the socket.
            return Poll::Ready(Ok(()));
        }
        on_stream!(self, cx, |s| s.poll_shutdown(cx))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        on_stream!(self, cx, |s| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.state {
            State::Plain(s) => s.is_write_vectored(),
            State::Tls(t) => t.is_write_vectored(),
            _ => false,
        }
    }
}

/// A connection holding its place, closed when it is still pending at its
/// deadline, or when its reads stay pending past the idle limit.
struct Guarded {
    stream: TcpStream,
    conn: Arc<Conn>,
    idle: Duration,
    idle_deadline: Pin<Box<Sleep>>,
    request_deadline: Pin<Box<Sleep>>,
}

impl Guarded {
    fn new(stream: TcpStream, conn: Arc<Conn>, limits: ConnectionLimits) -> Guarded {
        Guarded {
            stream,
            conn,
            idle: limits.idle_timeout,
            idle_deadline: Box::pin(tokio::time::sleep(limits.idle_timeout)),
            request_deadline: Box::pin(tokio::time::sleep(limits.request_timeout)),
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // However steadily a pending connection sends, it has until its
        // deadline to prove itself.
        if !this.conn.promoted() && this.request_deadline.as_mut().poll(cx).is_ready() {
            ConnectionClosed(this.conn.pools.name, "request_timeout").emit();
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no request authenticated within the time a new connection has",
            )));
        }
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(r) => {
                let idle = this.idle;
                this.idle_deadline.as_mut().reset(Instant::now() + idle);
                Poll::Ready(r)
            }
            Poll::Pending => match this.idle_deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    ConnectionClosed(this.conn.pools.name, "idle").emit();
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client sent nothing for too long",
                    )))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
