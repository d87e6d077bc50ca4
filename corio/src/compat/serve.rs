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

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::HttpService;

use super::{Io, Stream, Timer};
use crate::net::{TcpListener, TcpStream};

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

/// The shutdown switch and the connections it must reach.
struct Graceful {
    shutdown: Cell<bool>,
    /// The waker of each open connection's `block_on`, by slot (`None`
    /// until it first polls, and after it was woken for the shutdown).
    wakers: RefCell<Vec<Option<Waker>>>,
    /// Slots of `wakers` not in use.
    free: RefCell<Vec<usize>>,
    /// Open connections.
    live: Cell<usize>,
}

/// An open connection's slot in [`Graceful`]; frees it when dropped.
struct Conn<'a> {
    g: &'a Graceful,
    slot: usize,
}

impl Graceful {
    fn enter(&self) -> Conn<'_> {
        let slot = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                let mut w = self.wakers.borrow_mut();
                w.push(None);
                w.len() - 1
            }
        };
        self.live.set(self.live.get() + 1);
        Conn { g: self, slot }
    }
}

impl Conn<'_> {
    /// Keeps `waker` to wake the connection at shutdown.
    fn register(&self, waker: &Waker) {
        let mut wakers = self.g.wakers.borrow_mut();
        let w = &mut wakers[self.slot];
        if !w.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *w = Some(waker.clone());
        }
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        self.g.wakers.borrow_mut()[self.slot] = None;
        self.g.free.borrow_mut().push(self.slot);
        self.g.live.set(self.g.live.get() - 1);
    }
}

impl Http {
    /// hyper's HTTP/1 defaults (keep-alive on, 30 s `header_read_timeout`,
    /// ~400 KiB `max_buf_size`), on corio's [`Timer`].
    ///
    /// # Examples
    ///
    /// ```
    /// let http = corio::compat::Http::new();
    /// assert_eq!(http.connections(), 0);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn new() -> Http {
        let mut builder = http1::Builder::new();
        builder.timer(Timer);
        Http::from_builder(builder)
    }

    /// Serves with `builder`'s settings. corio's [`Timer`] replaces any
    /// timer set on it (hyper's timeouts need one that corio drives).
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
            }),
        }
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
        let mut conn = pin!(self.builder.serve_connection(Io::new(stream), service));
        // `block_on` polls with one waker for its whole run: register it
        // once. Then each poll only looks at the switch.
        let mut registered = false;
        let mut told = false;
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
        let http = self.clone();
        move |stream: TcpStream| {
            let _ = stream.set_nodelay(true);
            if let Err(e) = http.serve_connection(stream, service.clone()) {
                log::debug!("corio::compat: connection ended with an error: {e}");
            }
        }
    }

    /// Accepts connections on `listener` in the calling coro for ever,
    /// serving each in a coro of its own with a clone of `service` (see
    /// [`net::serve_on`](crate::net::serve_on) for how accept errors are
    /// handled). Cancel the calling coro to stop accepting; then
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
        crate::net::serve_on(listener, self.handler(service))
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
/// a coro per connection, keep-alive, 30 s header read timeout. Runs the
/// accept loop in the calling coro for ever (cancel it to stop).
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
