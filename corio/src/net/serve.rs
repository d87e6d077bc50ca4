//! `serve`: a TCP server in one line.

use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use crate::sync::mpmc;

/// First pause after running out of descriptors (or memory) on accept.
const BACKOFF_MIN: Duration = Duration::from_millis(1);
/// Longest pause.
const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// At most one warning about the same trouble this often.
const WARN_EVERY: Duration = Duration::from_secs(5);

/// Listens on `addr` and runs `handler` in a new coro for every
/// connection; the accept loop runs in the calling coro and returns only
/// on an error that makes the listener useless.
///
/// Each connection's coro is named after its peer (see
/// [`debug::ps`](crate::debug::ps)). A handler that panics ends its own
/// coro (the panic is reported by the panic hook and its stream is
/// closed); the server goes on. When the process runs out of file
/// descriptors (`EMFILE`) or memory, the loop pauses — 1 ms, doubling up
/// to 0.5 s — and tries again, instead of spinning; the connection waits
/// in the kernel's queue meanwhile.
///
/// A connection whose client goes quiet keeps its coro and descriptor for
/// as long as the handler waits. To let such clients go, set the stream's
/// timeouts first thing in the handler (see [`serve_on`]'s example), or
/// use [`Server`](super::Server), whose
/// [`idle_timeout`](super::Server::idle_timeout) does it for every
/// connection and which caps how many are open at once.
///
/// # Examples
///
/// An echo server:
///
/// ```no_run
/// use std::io::{Read, Write};
///
/// corio::net::serve("127.0.0.1:7070", |mut conn| {
///     let mut buf = [0; 1024];
///     while let Ok(n @ 1..) = conn.read(&mut buf) {
///         if conn.write_all(&buf[..n]).is_err() {
///             break;
///         }
///     }
/// })
/// .unwrap();
/// ```
///
/// # Errors
/// When binding fails; when `accept` fails for a reason that retrying
/// cannot cure (`EBADF`, `EINVAL`, ...).
///
/// # Panics
/// Unwinds if the calling coro is cancelled or thrown at (the listener is
/// closed; connection coros already started go on).
///
/// # Switching
///
/// Suspends the calling coro for as long as it serves.
#[track_caller]
pub fn serve(addr: impl ToSocketAddrs, handler: impl Fn(TcpStream) + 'static) -> io::Result<()> {
    serve_on(TcpListener::bind(addr)?, handler)
}

/// [`serve`] on a listener you made (bound with options of your choice,
/// e.g. [`TcpListener::bind_reuse_port`]).
///
/// # Examples
///
/// A server in a coro of its own, stopped by cancelling that coro:
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use corio::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = corio::spawn(move || {
///     corio::net::serve_on(listener, |conn| {
///         let mut line = String::new();
///         BufReader::new(&conn).read_line(&mut line).unwrap();
///         (&conn).write_all(format!("hello, {line}").as_bytes()).unwrap();
///     })
/// });
/// let mut c = TcpStream::connect(addr).unwrap();
/// c.write_all(b"world\n").unwrap();
/// let mut reply = String::new();
/// BufReader::new(&c).read_line(&mut reply).unwrap();
/// assert_eq!(reply, "hello, world\n");
/// server.coro().cancel();
/// ```
///
/// Letting go of clients that stay silent for 50 ms:
///
/// ```
/// use std::io::{BufRead, BufReader, Read};
/// use std::time::Duration;
/// use corio::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = corio::spawn(move || {
///     corio::net::serve_on(listener, |conn| {
///         conn.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
///         conn.set_write_timeout(Some(Duration::from_millis(50))).unwrap();
///         let mut line = String::new();
///         // Fails with `TimedOut` when nothing comes: the handler returns
///         // and the connection closes.
///         let _ = BufReader::new(&conn).read_line(&mut line);
///     })
/// });
/// let mut quiet = TcpStream::connect(addr).unwrap();
/// let mut rest = Vec::new();
/// assert_eq!(quiet.read_to_end(&mut rest).unwrap(), 0); // closed by the server
/// server.coro().cancel();
/// ```
///
/// # Errors
/// As [`serve`].
///
/// # Panics
/// As [`serve`].
///
/// # Switching
///
/// Suspends the calling coro for as long as it serves.
#[track_caller]
pub fn serve_on(listener: TcpListener, handler: impl Fn(TcpStream) + 'static) -> io::Result<()> {
    let handler = Rc::new(handler);
    let mut acceptor = Acceptor::new("corio::net::serve");
    loop {
        let (stream, peer) = acceptor.accept(&listener)?;
        let h = handler.clone();
        let spawned = crate::Builder::new()
            .name(format!("conn {peer}"))
            .spawn(move || h(stream));
        if let Err(e) = spawned {
            // The stream was dropped with the closure, closing it.
            acceptor.spawn_failed(peer, &e);
        }
    }
}

/// [`serve`] on `threads` scheduler threads that share the port through
/// `SO_REUSEPORT`: every thread has its own listener, accept loop,
/// connections and coros, and the kernel spreads new connections among
/// them. The calling coro runs one of the accept loops; the others run on
/// [`corio::thread`](crate::thread)s started here.
///
/// `make_handler` runs once on each thread and gives that thread's
/// handler, so per-thread state can be `Rc`/`RefCell` (a handler is never
/// shared between threads). All listeners are bound before anything is
/// served, so a bad address fails at once. Port 0 picks one free port for
/// all of them.
///
/// When the calling coro's loop ends (an error, or the coro is cancelled),
/// the other threads stop accepting; connections in progress on any thread
/// go on to their end.
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
///
/// // A hello server on every core.
/// let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
/// corio::net::serve_threads("127.0.0.1:8080", cores, || {
///     |mut conn: corio::net::TcpStream| {
///         let _ = conn.write_all(b"hello\n");
///     }
/// })
/// .unwrap();
/// ```
///
/// # Errors
/// When binding any listener or starting any thread fails (nothing is
/// served then); afterwards as [`serve`], for the calling thread's loop.
/// An error that ends another thread's loop is logged.
///
/// # Panics
/// As [`serve`].
///
/// # Switching
///
/// Suspends the calling coro for as long as it serves.
#[track_caller]
pub fn serve_threads<M, H>(
    addr: impl ToSocketAddrs,
    threads: usize,
    make_handler: M,
) -> io::Result<()>
where
    M: Fn() -> H + Send + Sync + 'static,
    H: Fn(TcpStream) + 'static,
{
    let first = TcpListener::bind_reuse_port(addr)?;
    let local = first.local_addr()?;
    let mut others = Vec::with_capacity(threads.saturating_sub(1));
    for _ in 1..threads {
        others.push(TcpListener::bind_reuse_port(local)?.into_std()?);
    }
    let make_handler = Arc::new(make_handler);
    // Shut down when this loop ends, however: the others stop accepting.
    let stop = mpmc::Channel::<()>::new();
    struct Stop(mpmc::Channel<()>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.shutdown();
        }
    }
    let stop_guard = Stop(stop.clone());
    for (i, listener) in others.into_iter().enumerate() {
        let (make, stop) = (make_handler.clone(), stop.clone());
        crate::thread::Builder::new()
            .name(format!("corio-serve-{}", i + 1))
            .spawn(move || {
                let accept = crate::spawn(move || {
                    let served = TcpListener::from_std(listener).and_then(|l| serve_on(l, make()));
                    if let Err(e) = served {
                        crate::warn::error(
                            "corio::net::serve_threads",
                            format_args!("thread {}: {e}", i + 1),
                        );
                    }
                });
                // Wait for the stop (a shut-down channel gives `None`).
                let _ = stop.get();
                accept.cancel();
            })?;
    }
    let served = serve_on(first, make_handler());
    drop(stop_guard);
    served
}

/// The accept step of a server loop: retries what a retry cures, backs
/// off (1 ms, doubling up to 0.5 s) when out of descriptors or memory,
/// warns about trouble at most every 5 s.
pub(crate) struct Acceptor {
    who: &'static str,
    backoff: Duration,
    warned: Option<Instant>,
}

impl Acceptor {
    pub(crate) fn new(who: &'static str) -> Acceptor {
        Acceptor {
            who,
            backoff: BACKOFF_MIN,
            warned: None,
        }
    }

    /// The next connection, or an error that retrying cannot cure.
    #[track_caller]
    pub(crate) fn accept(&mut self, listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        loop {
            match listener.accept() {
                Ok(conn) => {
                    self.backoff = BACKOFF_MIN;
                    return Ok(conn);
                }
                Err(e) if retry_at_once(&e) => {}
                Err(e) if out_of_resources(&e) => {
                    let b = self.backoff;
                    self.warn(format_args!(
                        "accept failed: {e}; pausing {b:?} before trying again"
                    ));
                    self.pause();
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// No coro could be started for a connection (out of memory or
    /// address space for its stack): warn and pause.
    pub(crate) fn spawn_failed(&mut self, peer: SocketAddr, e: &io::Error) {
        self.warn(format_args!("cannot start a coro for {peer}: {e}"));
        self.pause();
    }

    fn pause(&mut self) {
        crate::sleep(self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    fn warn(&mut self, msg: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        if self
            .warned
            .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
        {
            self.warned = Some(now);
            crate::warn::warn(self.who, msg);
        }
    }
}

/// Errors of one connection that went away while queued, or of a signal.
fn retry_at_once(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EINTR
                | libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    ) || e.kind() == io::ErrorKind::ConnectionReset
}

/// Errors that go away once other connections close.
fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
