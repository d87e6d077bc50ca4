//! Serving a hyper service (and so an axum `Router`) on corio: [`Http`]
//! and [`serve`].

use std::cell::{Cell, RefCell};
use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::task::Waker;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::HttpService;

use super::io::Deadlined;
use super::limits::{BodyDeadline, NetPlace, Networks, Slot, permits, refuse};
use super::track::{ClientGone, Graceful, watch};
use super::{Io, Stream, Timer};
use crate::net::{TcpListener, TcpStream};
use crate::sync::Semaphore;

/// [`Http::new`]'s cap on a request head (hyper's `max_buf_size`).
const DEFAULT_MAX_HEAD: usize = 16 * 1024;
/// [`Http::new`]'s cap on open connections.
const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// [`Http::new`]'s cap on the connections of one client network.
const DEFAULT_MAX_PER_NETWORK: usize = 512;
/// [`Http::new`]'s client networks: IPv4 /24, IPv6 /64.
const DEFAULT_PREFIXES: (u8, u8) = (24, 64);
/// [`Http::new`]'s deadline for a request body.
const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// [`Http::new`]'s write timeout for the streams it accepts.
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves HTTP/1.1 connections with a hyper service: one coro per
/// connection, keep-alive and pipelining, hyper's limits and timeouts, and
/// graceful shutdown.
///
/// It holds a hyper [`http1::Builder`] with corio's [`Timer`] set — so
/// hyper's `header_read_timeout` is on, 30 s by default, which also closes
/// keep-alive connections that stay idle that long — and tweaks it through
/// [`builder`](Http::builder): `max_buf_size` caps a request head (hyper
/// answers a longer one with `431`), `max_headers`, `header_read_timeout`,
/// `keep_alive`, `pipeline_flush`, ... A stream's own read and write
/// timeouts apply too (a write that stalls that long fails and ends the
/// connection), so [`net::Server`'s] `idle_timeout` works as well.
///
/// # Limits
///
/// What one client can hold is bounded by default:
///
/// | limit | default | set with |
/// |---|---|---|
/// | request head (line and headers) | 16 KiB, else `431` | `builder().max_buf_size(n)` (at least 8 KiB) |
/// | time to send a request head | 30 s, else the connection closes | `builder().header_read_timeout(t)` |
/// | time to send a request body | 30 s from its head; past it, a body still arriving — or stalled, not arriving at all — closes the connection | [`body_timeout`](Http::body_timeout) |
/// | a client that stops reading | its connection closes after 30 s without progress | [`write_timeout`](Http::write_timeout) |
/// | open connections | 1,024: [`serve`](Http::serve) accepts no more until one closes; [`handler`](Http::handler) answers more with `503` and closes them | [`max_connections`](Http::max_connections) |
/// | open connections from one client network (IPv4 /24, IPv6 /64) | 512: more are answered `503` and closed at once | [`max_connections_per_network`](Http::max_connections_per_network), [`network_prefixes`](Http::network_prefixes) |
///
/// The body deadline cuts a body that trickles in for ever and one that
/// stops arriving: past it, a read that brings more of the body fails, and
/// so does one that waits while the bytes read so far end inside a
/// `Content-Length` or chunked body. A handler that is merely slow is not
/// cut: once its request's body is whole the deadline no longer applies,
/// and a handler that does not read its body is not made to wait for it
/// (hyper reads a body only as the handler asks for it). Requests whose
/// framing corio does not follow (malformed ones, upgrades) are cut only
/// when bytes arrive late. hyper itself reads no more than
/// `max_buf_size` ahead of what the handler consumed.
///
/// Serving: [`serve`](Http::serve) runs an accept loop on a listener;
/// [`handler`](Http::handler) gives the `Fn(TcpStream)` that
/// [`net::serve`](crate::net::serve), [`serve_on`](crate::net::serve_on)
/// or a `net::Server` call per connection; [`serve_connection`](Http::serve_connection)
/// serves one stream in the calling coro.
///
/// Clones share one shutdown switch: [`shutdown`](Http::shutdown) makes
/// every connection served through any of them finish the request in
/// flight and close; idle ones close at once. [`connections`](Http::connections) counts those still open.
///
/// # Blocking in handlers
///
/// Each connection's future runs in its own coro (under
/// [`block_on`](crate::block_on)), so the service's handler may call
/// blocking corio functions — [`corio::sleep`](crate::sleep), a corio
/// socket, [`corio::fs`](crate::fs), a blocking client — and only that
/// connection waits. Pipelined requests on one connection are answered in
/// order; other connections go on meanwhile.
///
/// A handler whose client has gone — closed or reset its connection — is
/// unwound at its blocking call (checked every half second, once it has
/// run that long): its `Drop`s run and the connection closes, as hyper on
/// tokio drops the handler's future when its connection goes. A client
/// that merely stops sending (`shutdown(SHUT_WR)`) counts as gone, as it
/// does for hyper. (Not with `panic = "abort"`, where unwinding would end
/// the process: there the handler runs to its end.)
///
/// A panic in the service ends its connection's coro (the connection is
/// closed without an answer) and is reported on stderr; the server and the
/// other connections go on.
///
/// [`net::Server`'s]: crate::net
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use std::io::{Read, Write};
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hyper::{Request, Response, body::Incoming, service::service_fn};
///
/// let hello = service_fn(|_req: Request<Incoming>| async {
///     corio::sleep(std::time::Duration::from_millis(1)); // blocks this connection only
///     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("Hello, world!"))))
/// });
/// let listener = corio::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let http = corio::compat::Http::new();
/// let server = corio::spawn({
///     let http = http.clone();
///     move || http.serve(listener, hello)
/// });
///
/// let mut conn = corio::net::TcpStream::connect(addr)?;
/// conn.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
/// let mut answer = String::new();
/// conn.read_to_string(&mut answer)?;
/// assert!(answer.starts_with("HTTP/1.1 200 OK"));
/// assert!(answer.ends_with("Hello, world!"));
///
/// server.cancel(); // stop accepting
/// http.shutdown(); // and close the rest
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Http {
    builder: http1::Builder,
    graceful: Rc<Graceful>,
    /// A place per open connection, for [`serve`](Http::serve) and
    /// [`handler`](Http::handler) (`max_connections` of them).
    slots: Rc<Semaphore>,
    max_connections: usize,
    /// Open connections per client network, for `serve` and `handler`.
    nets: Rc<Networks>,
    body_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("connections", &self.connections())
            .field("shutdown", &self.is_shutdown())
            .finish_non_exhaustive()
    }
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl Http {
    /// hyper's HTTP/1 defaults (keep-alive on, 30 s `header_read_timeout`)
    /// on corio's [`Timer`], with the limits of the [table](Http#limits):
    /// a 16 KiB `max_buf_size` (hyper's own is ~400 KiB), a 30 s body
    /// deadline, at most 1,024 connections.
    ///
    /// # Examples
    ///
    /// ```
    /// let http = corio::compat::Http::new();
    /// assert_eq!(http.connections(), 0);
    /// assert_eq!(http.max_connections_limit(), 1024);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn new() -> Http {
        let mut builder = http1::Builder::new();
        builder.timer(Timer).max_buf_size(DEFAULT_MAX_HEAD);
        Http::from_builder(builder)
    }

    /// Serves with `builder`'s settings (its `max_buf_size` stays as set
    /// there: hyper's ~400 KiB unless you set one), the default body
    /// deadline and connection cap. corio's [`Timer`] replaces any timer
    /// set on it (hyper's timeouts need one that corio drives).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut b = hyper::server::conn::http1::Builder::new();
    /// b.max_buf_size(16 * 1024).title_case_headers(true);
    /// let http = corio::compat::Http::from_builder(b);
    /// # drop(http);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn from_builder(mut builder: http1::Builder) -> Http {
        builder.timer(Timer);
        Http {
            builder,
            graceful: Rc::new(Graceful {
                shutdown: Cell::new(false),
                wakers: RefCell::new(Vec::new()),
                free: RefCell::new(Vec::new()),
                live: Cell::new(0),
                watched: RefCell::new(Vec::new()),
                watcher: RefCell::new(None),
            }),
            slots: Rc::new(Semaphore::new(permits(DEFAULT_MAX_CONNECTIONS))),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            nets: Networks::new(DEFAULT_PREFIXES, DEFAULT_MAX_PER_NETWORK),
            body_timeout: Some(DEFAULT_BODY_TIMEOUT),
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
        }
    }

    /// Caps the connections open at once through [`serve`](Http::serve)
    /// and [`handler`](Http::handler) (of this `Http` and clones made from
    /// now on): `serve` accepts no more until one closes (the rest wait in
    /// the kernel's listen queue); `handler` answers the excess `503` with
    /// `Retry-After: 1` and closes it. [`serve_connection`](Http::serve_connection)
    /// is not counted (the caller admits its streams). Under a
    /// `net::Server`, which has a `max_connections` of its own, set both to
    /// the same number (or this one to `usize::MAX`).
    ///
    /// Default: 1,024.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut http = corio::compat::Http::new();
    /// http.max_connections(64);
    /// assert_eq!(http.max_connections_limit(), 64);
    /// ```
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    ///
    /// # Switching
    ///
    /// Never suspends.
    #[track_caller]
    pub fn max_connections(&mut self, n: usize) -> &mut Http {
        assert!(n > 0, "corio::compat::Http::max_connections: 0 connections");
        self.max_connections = n;
        self.slots = Rc::new(Semaphore::new(permits(n)));
        self
    }

    /// The cap set by [`max_connections`](Http::max_connections).
    ///
    /// # Examples
    ///
    /// See [`max_connections`](Http::max_connections).
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn max_connections_limit(&self) -> usize {
        self.max_connections
    }

    /// Caps the connections open at once from one client network through
    /// [`serve`](Http::serve) and [`handler`](Http::handler): IPv4
    /// addresses that share their first 24 bits, IPv6 ones that share
    /// their first 64 ([`network_prefixes`](Http::network_prefixes)). More
    /// are answered `503` with `Retry-After: 1` and closed at once, so an
    /// attacker spread over many addresses of one network cannot take
    /// every slot of [`max_connections`](Http::max_connections).
    ///
    /// Loopback counts too (127.0.0.0/24 is one network). Behind a reverse
    /// proxy — on the same host or not — every client has the proxy's
    /// address: lift the cap there (`usize::MAX`) and cap per client at the
    /// proxy. Clients behind one NAT share their network's share.
    ///
    /// Default: 512 (half of `max_connections`' default; set it below
    /// `max_connections` when lowering that).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut http = corio::compat::Http::new();
    /// http.max_connections_per_network(64);
    /// ```
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    ///
    /// # Switching
    ///
    /// Never suspends.
    #[track_caller]
    pub fn max_connections_per_network(&mut self, n: usize) -> &mut Http {
        assert!(
            n > 0,
            "corio::compat::Http::max_connections_per_network: 0 connections"
        );
        self.nets = Networks::new(self.nets.prefixes, n);
        self
    }

    /// How client addresses are grouped into networks for
    /// [`max_connections_per_network`](Http::max_connections_per_network):
    /// by their first `v4` bits (IPv4; an IPv4-mapped IPv6 address counts
    /// as its IPv4 address) or first `v6` bits (IPv6). 32 and 128 make
    /// each address its own network (a per-address cap).
    ///
    /// Default: 24 and 64.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut http = corio::compat::Http::new();
    /// http.network_prefixes(32, 128); // a cap per address
    /// ```
    ///
    /// # Panics
    ///
    /// If `v4` is over 32 or `v6` over 128.
    ///
    /// # Switching
    ///
    /// Never suspends.
    #[track_caller]
    pub fn network_prefixes(&mut self, v4: u8, v6: u8) -> &mut Http {
        assert!(
            v4 <= 32 && v6 <= 128,
            "corio::compat::Http::network_prefixes: /{v4} or /{v6} is longer than an address"
        );
        self.nets = Networks::new((v4, v6), self.nets.max);
        self
    }

    /// How long after its head a request's body may still be arriving:
    /// once past it, a read that brings more of the body fails and the
    /// connection closes (a body trickled a byte at a time cannot hold a
    /// connection for ever), and so does a read that waits for more of a
    /// body that has stopped arriving (a stalled body cannot either).
    /// `None` turns it off. Requests without a body are not affected, nor
    /// is a slow handler: once the body is whole, or while the handler does
    /// not read it, nothing is cut.
    ///
    /// Default: 30 s.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut http = corio::compat::Http::new();
    /// http.body_timeout(Some(std::time::Duration::from_secs(10)));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn body_timeout(&mut self, timeout: Option<Duration>) -> &mut Http {
        self.body_timeout = timeout;
        self
    }

    /// hyper's builder, to change its settings (for connections served
    /// from now on).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut http = corio::compat::Http::new();
    /// http.builder()
    ///     .header_read_timeout(Duration::from_secs(5))
    ///     .max_buf_size(16 * 1024)
    ///     .max_headers(64);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn builder(&mut self) -> &mut http1::Builder {
        &mut self.builder
    }

    /// Serves one connection in the calling coro until it ends: the client
    /// closes it, a request says `connection: close`, an error, a timeout,
    /// or a [`shutdown`](Http::shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::io::{Read, Write};
    /// use hyper::{Request, Response, body::Incoming, service::service_fn};
    ///
    /// let (server_end, client_end) = corio::net::UnixStream::pair()?;
    /// let svc = service_fn(|req: Request<Incoming>| async move {
    ///     Ok::<_, Infallible>(Response::new(req.uri().path().to_owned()))
    /// });
    /// let conn = corio::spawn(move || {
    ///     corio::compat::Http::new().serve_connection(server_end, svc)
    /// });
    /// (&client_end).write_all(b"GET /abc HTTP/1.1\r\nconnection: close\r\n\r\n")?;
    /// let mut answer = String::new();
    /// (&client_end).read_to_string(&mut answer)?;
    /// assert!(answer.ends_with("\r\n\r\n/abc"));
    /// conn.join().unwrap().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// hyper's: a malformed request (after answering `400`), a head over
    /// `max_buf_size` (after `431`), the header read timeout, an I/O error
    /// (including a stream timeout's `TimedOut`).
    ///
    /// # Panics
    /// With the service's panic. Unwinds if the coro is cancelled.
    ///
    /// # Switching
    ///
    /// Suspends the current coro whenever the connection waits, and
    /// wherever the service blocks.
    #[track_caller]
    pub fn serve_connection<T, S, B>(&self, stream: T, service: S) -> Result<(), hyper::Error>
    where
        T: Stream,
        S: HttpService<Incoming, ResBody = B>,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let g = &*self.graceful;
        let me = g.enter();
        self.start_watcher();
        let deadline = Rc::new(Cell::new(None));
        let in_flight = Rc::new(Cell::new(None));
        let fd = stream.registration().fd();
        let io = Deadlined::new(Io::new(stream), deadline.clone());
        let service = BodyDeadline {
            inner: RefCell::new(service),
            deadline,
            in_flight: in_flight.clone(),
            requests: Cell::new(0),
            timeout: self.body_timeout,
        };
        let mut conn = pin!(self.builder.serve_connection(io, service));
        // Dropped before `conn` (which closes the socket): the watcher
        // never looks at a closed descriptor.
        let _watch = me.watch(fd, in_flight);
        // `block_on` polls with one waker for its whole run: register it
        // once. Then each poll only looks at the switch.
        let mut registered = false;
        let mut told = false;
        let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::block_on(poll_fn(|cx| {
                if !told {
                    if g.shutdown.get() {
                        conn.as_mut().graceful_shutdown();
                        told = true;
                    } else if !registered {
                        me.register(cx.waker());
                        registered = true;
                    }
                }
                conn.as_mut().poll(cx)
            }))
        }));
        match served {
            Ok(r) => r,
            Err(p) if p.is::<ClientGone>() => {
                log::debug!("corio::compat: the client went while its handler ran");
                Ok(())
            }
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    /// The per-connection function for [`net::serve`](crate::net::serve),
    /// [`serve_on`](crate::net::serve_on), `net::Server::start` or any
    /// accept loop: it turns on `TCP_NODELAY` and serves the connection
    /// with a clone of `service` (errors are logged at debug level).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::io::{Read, Write};
    /// use hyper::{Request, Response, body::Incoming, service::service_fn};
    ///
    /// let svc = service_fn(|_: Request<Incoming>| async { Ok::<_, Infallible>(Response::new("hi".to_owned())) });
    /// let listener = corio::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let handler = corio::compat::Http::new().handler(svc);
    /// let server = corio::spawn(move || corio::net::serve_on(listener, handler));
    /// let mut c = corio::net::TcpStream::connect(addr)?;
    /// c.write_all(b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n")?;
    /// let mut answer = String::new();
    /// c.read_to_string(&mut answer)?;
    /// assert!(answer.ends_with("hi"));
    /// server.cancel();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Making it never suspends; the handler suspends its coro as
    /// [`serve_connection`](Http::serve_connection) does.
    pub fn handler<S, B>(&self, service: S) -> impl Fn(TcpStream) + 'static
    where
        S: HttpService<Incoming, ResBody = B> + Clone + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let serve = self.serve_fn(service);
        let slots = self.slots.clone();
        let nets = self.nets.clone();
        move |stream: TcpStream| {
            let place = match stream.peer_addr() {
                Ok(peer) => match NetPlace::try_take(&nets, peer.ip()) {
                    Some(place) => Some(place),
                    None => return refuse(stream),
                },
                // Not an IP peer (or gone already): no network to count.
                Err(_) => None,
            };
            match Slot::try_take(&slots) {
                Some(slot) => {
                    serve(stream);
                    drop(slot);
                    drop(place);
                }
                None => refuse(stream),
            }
        }
    }

    /// How long a write to a client may wait without progress, on the
    /// streams [`serve`](Http::serve) and [`handler`](Http::handler) take
    /// (set as the stream's write timeout, unless it has one already): a
    /// client that stops reading holds its connection no longer than this
    /// once its socket buffers are full. `None` leaves the stream as it is.
    ///
    /// Default: 30 s.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut http = corio::compat::Http::new();
    /// http.write_timeout(None);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn write_timeout(&mut self, timeout: Option<Duration>) -> &mut Http {
        self.write_timeout = timeout;
        self
    }

    /// Starts the watcher coro unless it runs.
    fn start_watcher(&self) {
        // Throwing at a coro unwinds it: with `panic = "abort"` that would
        // end the process, so nothing is watched then.
        if cfg!(not(panic = "unwind")) {
            return;
        }
        let mut w = self.graceful.watcher.borrow_mut();
        if w.as_ref().is_none_or(|h| h.is_finished()) {
            let g = Rc::downgrade(&self.graceful);
            *w = crate::Builder::new()
                .name("compat::Http watcher")
                .spawn(move || watch(g))
                .ok();
        }
    }

    /// Serves one admitted stream (no slot taken here).
    fn serve_fn<S, B>(&self, service: S) -> impl Fn(TcpStream) + 'static
    where
        S: HttpService<Incoming, ResBody = B> + Clone + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let http = self.clone();
        move |stream: TcpStream| {
            let _ = stream.set_nodelay(true);
            // A timeout the stream has already (`net::Server`'s) stays.
            if let Some(t) = http.write_timeout
                && matches!(stream.write_timeout(), Ok(None))
            {
                let _ = stream.set_write_timeout(Some(t));
            }
            if let Err(e) = http.serve_connection(stream, service.clone()) {
                log::debug!("corio::compat: connection ended with an error: {e}");
            }
        }
    }

    /// Accepts connections on `listener` in the calling coro for ever,
    /// serving each in a coro of its own with a clone of `service` (see
    /// [`net::serve_on`](crate::net::serve_on) for how accept errors are
    /// handled), at most [`max_connections`](Http::max_connections) at
    /// once: at the cap it accepts nothing until a connection closes.
    /// Cancel the calling coro to stop accepting; then
    /// [`shutdown`](Http::shutdown) to close the connections.
    ///
    /// # Examples
    ///
    /// See [`Http`].
    ///
    /// # Errors
    /// What `serve_on` returns: an accept error it cannot ride out.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while it waits for connections.
    pub fn serve<S, B>(&self, listener: TcpListener, service: S) -> io::Result<()>
    where
        S: HttpService<Incoming, ResBody = B> + Clone + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let serve = Rc::new(self.serve_fn(service));
        let slots = self.slots.clone();
        let mut acceptor = crate::net::Acceptor::new("corio::compat::Http::serve");
        loop {
            slots.down();
            let slot = Slot(slots.clone());
            let (stream, peer) = acceptor.accept(&listener)?;
            let Some(place) = NetPlace::try_take(&self.nets, peer.ip()) else {
                // Over its network's share: answered at once, the slot back.
                refuse(stream);
                continue;
            };
            let serve = serve.clone();
            let spawned = crate::Builder::new()
                .name(format!("http {peer}"))
                .spawn(move || {
                    let _slot = slot;
                    let _place = place;
                    serve(stream);
                });
            if let Err(e) = spawned {
                // The stream and the slot were dropped with the closure.
                acceptor.spawn_failed(peer, &e);
            }
        }
    }

    /// Shuts the connections down gracefully: each finishes the request in
    /// flight (its answer goes out whole) and closes; idle
    /// keep-alive connections close at once, and connections served from
    /// now on close after their first request. Stopping the accept loop
    /// is the caller's part (cancel the coro running
    /// [`serve`](Http::serve), or `ServerHandle::shutdown`).
    ///
    /// # Examples
    ///
    /// ```
    /// let http = corio::compat::Http::new();
    /// http.shutdown();
    /// assert!(http.is_shutdown());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends; the connections' coros are readied.
    pub fn shutdown(&self) {
        let g = &*self.graceful;
        g.shutdown.set(true);
        let wakers: Vec<Waker> = g
            .wakers
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Whether [`shutdown`](Http::shutdown) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!corio::compat::Http::new().is_shutdown());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn is_shutdown(&self) -> bool {
        self.graceful.shutdown.get()
    }

    /// Connections being served (through this `Http` and its clones).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio::compat::Http::new().connections(), 0);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn connections(&self) -> usize {
        self.graceful.live.get()
    }
}

/// Serves `service` on `listener` with [`Http::new`]'s settings: HTTP/1.1,
/// a coro per connection, keep-alive, and the [limits](Http#limits) — a
/// 16 KiB head, 30 s for a head and for a body, a 30 s write timeout, at
/// most 1,024 connections. Runs the accept loop in the calling coro for
/// ever (cancel it to stop).
///
/// An axum `Router` is served through hyper's `service_fn`, as axum's own
/// hyper examples do (`Router` is always ready):
///
/// ```no_run
/// use tower_service::Service; // for Router::call
/// # fn main() -> std::io::Result<()> {
/// # let router: axum::Router = axum::Router::new();
/// let service = hyper::service::service_fn(move |req| router.clone().call(req));
/// corio::compat::serve(corio::net::TcpListener::bind("127.0.0.1:8080")?, service)
/// # }
/// ```
///
/// # Examples
///
/// See [`Http`], which has the knobs and the shutdown.
///
/// # Errors
/// As [`Http::serve`].
///
/// # Panics
/// Unwinds if the coro is cancelled.
///
/// # Switching
///
/// Suspends the current coro while it waits for connections.
pub fn serve<S, B>(listener: TcpListener, service: S) -> io::Result<()>
where
    S: HttpService<Incoming, ResBody = B> + Clone + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    Http::new().serve(listener, service)
}
