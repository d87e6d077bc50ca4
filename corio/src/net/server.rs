//! `Server`: a TCP server with a connection limit, an idle timeout and a
//! graceful shutdown.
//!
//! # State
//!
//! A started server is a [`Shared`] behind an `Rc`, held by every
//! [`ServerHandle`] clone, by the accept coro and by a [`Conn`] guard in
//! every connection coro's closure:
//! - `conns` has one entry per connection coro whose closure is alive: the
//!   accept loop inserts it right after spawning (before the coro can
//!   run), the [`Conn`] guard removes it when the closure is dropped —
//!   when the handler returns, panics or is cancelled, or when a coro that
//!   never ran is cancelled. So `conns.len()` is the number of open
//!   connections.
//! - `slots` (with a limit) holds one unit per connection that may still
//!   open; the accept loop takes one before `accept`, the guard gives it
//!   back.
//! - `accept` is the accept coro until [`ServerHandle::shutdown`] takes and
//!   cancels it; the listener lives in that coro, so it is closed when the
//!   cancel returns.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::serve::Acceptor;
use super::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use crate::sync::{Semaphore, Signal};
use crate::{Coro, CoroId};

/// A TCP server to be started: a bound listener and the limits its
/// connections get. Made by [`Server::bind`], configured, then
/// [`start`](Server::start)ed.
///
/// Compared with [`serve`](super::serve), a started server runs its
/// accept loop in a coro of its own, caps the connections open at once,
/// closes connections that stay silent, and can be stopped gracefully:
/// [`ServerHandle::shutdown`] stops accepting, and
/// [`ServerHandle::drain`] waits for the open connections to end, then
/// cancels the stragglers. No registry of streams of your own is needed.
///
/// # Examples
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use std::time::Duration;
/// use corio::net::{Server, TcpStream};
///
/// let server = Server::bind("127.0.0.1:0")?
///     .max_connections(100)
///     .idle_timeout(Duration::from_secs(30))
///     .start(|conn| {
///         // A line echo: ends when the client closes or stays silent
///         // for 30 s (the read fails with `TimedOut`).
///         let mut line = String::new();
///         let mut r = BufReader::new(&conn);
///         while r.read_line(&mut line).unwrap_or(0) > 0 {
///             if (&conn).write_all(line.as_bytes()).is_err() {
///                 break;
///             }
///             line.clear();
///         }
///     })?;
///
/// let c = TcpStream::connect(server.local_addr()?)?;
/// (&c).write_all(b"hello\n")?;
/// let mut reply = String::new();
/// BufReader::new(&c).read_line(&mut reply)?;
/// assert_eq!(reply, "hello\n");
///
/// server.shutdown(); // new connections are refused from here on
/// drop(c); // the handler sees the end of the stream and returns
/// assert_eq!(server.drain(Duration::from_secs(5)), 0); // nobody was cut off
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Server {
    listener: TcpListener,
    max_connections: Option<usize>,
    idle_timeout: Option<Duration>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("max_connections", &self.max_connections)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

impl Server {
    /// Binds a listener to `addr`, as [`TcpListener::bind`] does; nothing
    /// is accepted before [`start`](Server::start) (connections wait in
    /// the kernel's queue).
    ///
    /// # Examples
    ///
    /// ```
    /// let server = corio::net::Server::bind("127.0.0.1:0")?;
    /// assert_ne!(server.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`TcpListener::bind`].
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled while a name is being resolved.
    ///
    /// # Switching
    ///
    /// Suspends the current coro only while a host name is resolved.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        Ok(Server::from_listener(TcpListener::bind(addr)?))
    }

    /// A server on a listener you made (bound with options of your choice,
    /// e.g. [`TcpListener::bind_reuse_port`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::net::{Server, TcpListener};
    /// let l = TcpListener::bind_reuse_port("127.0.0.1:0")?;
    /// let server = Server::from_listener(l);
    /// # drop(server);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn from_listener(listener: TcpListener) -> Server {
        Server {
            listener,
            max_connections: None,
            idle_timeout: None,
        }
    }

    /// At most `n` connections are open at once (the default: no limit).
    ///
    /// While `n` are open the server does not accept: connection `n + 1`
    /// **waits** in the kernel's listen queue (its `connect` succeeds, but
    /// nothing reads what it sends) until one of the open ones ends; it is
    /// not refused. When that queue (4096, or `net.core.somaxconn`) is
    /// full too, the kernel drops further connection attempts and their
    /// clients retry, then time out.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = corio::net::Server::bind("127.0.0.1:0")?.max_connections(1000);
    /// # drop(server);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// When `n` is 0 (nothing could ever be served).
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn max_connections(mut self, n: usize) -> Server {
        assert!(
            n > 0,
            "corio::net::Server::max_connections(0): nothing could be served"
        );
        self.max_connections = Some(n);
        self
    }

    /// Every connection gets this read timeout and write timeout: a read
    /// that waits longer than `d` for data, or a write that waits longer
    /// than `d` for the client to take some, fails with
    /// [`TimedOut`](io::ErrorKind::TimedOut). A handler that returns on
    /// errors (as `read_line(..).unwrap_or(0)` loops and `?` do) thereby
    /// closes a connection that stays silent for `d`. The default is no
    /// timeout. The handler may change them with
    /// [`TcpStream::set_read_timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let server = corio::net::Server::bind("127.0.0.1:0")?.idle_timeout(Duration::from_secs(60));
    /// # drop(server);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// When `d` is zero (std refuses a zero timeout too).
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn idle_timeout(mut self, d: Duration) -> Server {
        assert!(
            !d.is_zero(),
            "corio::net::Server::idle_timeout: zero duration"
        );
        self.idle_timeout = Some(d);
        self
    }

    /// The address the listener is bound to.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = corio::net::Server::bind("127.0.0.1:0")?;
    /// assert!(server.local_addr()?.ip().is_loopback());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// What `getsockname` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts serving: the accept loop runs in a coro of its own (named
    /// `server <addr>` in [`ps`](crate::debug::ps)), and every connection
    /// gets a coro (named `conn <peer>`) that runs `handler`; `start`
    /// returns at once. A handler that panics ends its own connection (its
    /// stream is closed; the panic hook reports it); the server goes on.
    /// Running out of descriptors on `accept` pauses the loop as
    /// [`serve`](super::serve) does.
    ///
    /// Dropping the [`ServerHandle`] (or all its clones) does not stop the
    /// server, as dropping a [`JoinHandle`](crate::JoinHandle) does not
    /// cancel its coro; call [`shutdown`](ServerHandle::shutdown) or
    /// [`drain`](ServerHandle::drain) for that.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use corio::net::{Server, TcpStream};
    ///
    /// let server = Server::bind("127.0.0.1:0")?.start(|mut conn| {
    ///     let _ = conn.write_all(b"hi\n");
    /// })?;
    /// let mut greeting = String::new();
    /// TcpStream::connect(server.local_addr()?)?.read_to_string(&mut greeting)?;
    /// assert_eq!(greeting, "hi\n");
    /// server.shutdown();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// When the listener's address cannot be read, or no coro can be
    /// started (out of memory for its stack).
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn start(self, handler: impl Fn(TcpStream) + 'static) -> io::Result<ServerHandle> {
        let addr = self.listener.local_addr()?;
        let shared = Rc::new(Shared {
            addr,
            conns: RefCell::new(HashMap::new()),
            ended: Signal::new(),
            accept: RefCell::new(None),
            stopped: Cell::new(false),
            slots: self.max_connections.map(|n| {
                // At most isize::MAX units fit a semaphore; more is no limit
                // anyway.
                Semaphore::new(isize::try_from(n).unwrap_or(isize::MAX))
            }),
        });
        let (listener, idle) = (self.listener, self.idle_timeout);
        let s = shared.clone();
        let accept = crate::Builder::new()
            .name(format!("server {addr}"))
            .spawn(move || accept_loop(&s, &listener, idle, Rc::new(handler)))?;
        *shared.accept.borrow_mut() = Some(accept.coro());
        Ok(ServerHandle { shared })
    }
}

/// What a started server's coros and handles share (see the module docs).
struct Shared {
    addr: SocketAddr,
    /// The open connections' coros.
    conns: RefCell<HashMap<CoroId, Coro>>,
    /// Broadcast whenever a connection ends.
    ended: Signal,
    /// The accept coro, until `shutdown` takes it.
    accept: RefCell<Option<Coro>>,
    stopped: Cell<bool>,
    /// One unit per connection that may still open (with a limit).
    slots: Option<Semaphore>,
}

/// Lives in a connection coro's closure: when that is dropped (the
/// handler ended, or the coro was cancelled before it ran), the
/// connection no longer counts.
struct Conn {
    shared: Rc<Shared>,
    /// Set by the accept loop right after the spawn.
    id: Rc<Cell<Option<CoroId>>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(id) = self.id.get() {
            self.shared.conns.borrow_mut().remove(&id);
        }
        if let Some(slots) = &self.shared.slots {
            slots.up();
        }
        // Only when `drain` waits: a closure dropped as its thread exits
        // must not need the scheduler.
        if self.shared.ended.awaited() {
            self.shared.ended.broadcast();
        }
    }
}

/// Gives a unit back to `slots` unless disarmed: for the step between
/// taking one and handing it to a [`Conn`].
struct Slot<'a>(Option<&'a Semaphore>);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.0 {
            s.up();
        }
    }
}

fn accept_loop(
    shared: &Rc<Shared>,
    listener: &TcpListener,
    idle: Option<Duration>,
    handler: Rc<dyn Fn(TcpStream)>,
) {
    let mut acceptor = Acceptor::new("corio::net::Server");
    loop {
        // Connection n + 1 waits in the kernel's queue until one ends.
        if let Some(slots) = &shared.slots {
            slots.down();
        }
        let mut slot = Slot(shared.slots.as_ref());
        let (stream, peer) = match acceptor.accept(listener) {
            Ok(conn) => conn,
            Err(e) => {
                crate::warn::error(
                    "corio::net::Server",
                    format_args!(
                        "on {}: accept failed: {e}; no longer accepting",
                        shared.addr
                    ),
                );
                return;
            }
        };
        if let Some(d) = idle {
            // Cannot fail: `d` is not zero.
            let _ = stream.set_read_timeout(Some(d));
            let _ = stream.set_write_timeout(Some(d));
        }
        slot.0 = None; // the `Conn` gives it back now
        let id = Rc::new(Cell::new(None));
        let conn = Conn {
            shared: shared.clone(),
            id: id.clone(),
        };
        let h = handler.clone();
        // Queued, not run: it is in `conns` before it can run.
        let spawned = crate::Builder::new()
            .name(format!("conn {peer}"))
            .spawn(move || {
                let _conn = conn;
                h(stream)
            });
        match spawned {
            Ok(j) => {
                let c = j.coro();
                id.set(Some(c.id()));
                shared.conns.borrow_mut().insert(c.id(), c);
            }
            // The closure, stream and `Conn` were dropped: the slot is back.
            Err(e) => acceptor.spawn_failed(peer, &e),
        }
    }
}

/// A started [`Server`]: its address, how many connections are open, and
/// the way to stop it. Clones refer to the same server; dropping them all
/// leaves it running.
///
/// `ServerHandle` is not `Send`: the server runs on this thread's
/// scheduler (the compiler's error names `Rc<corio::net::server::Shared>`).
/// To stop it from another thread, send a message over an
/// [`mpmc::Channel`](crate::sync::mpmc::Channel) to a coro here.
///
/// # Examples
///
/// Stopping on `SIGTERM`, letting open connections finish for up to 5 s:
///
/// ```no_run
/// use std::time::Duration;
/// use corio::net::Server;
/// use corio::signal::{SIGTERM, Signals};
///
/// let sigterm = Signals::new(&[SIGTERM])?;
/// let server = Server::bind("127.0.0.1:7070")?.start(|conn| { /* ... */ })?;
/// sigterm.wait();
/// let cut = server.drain(Duration::from_secs(5));
/// eprintln!("stopped; {cut} connections cut off");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct ServerHandle {
    shared: Rc<Shared>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.shared.addr)
            .field("connections", &self.connections())
            .field("shut_down", &self.shared.stopped.get())
            .finish()
    }
}

impl ServerHandle {
    /// The address the server listens (or listened) on.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = corio::net::Server::bind("127.0.0.1:0")?.start(|_| {})?;
    /// let addr = server.local_addr()?;
    /// assert!(addr.ip().is_loopback() && addr.port() != 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// Never; the `Result` is std's signature for `local_addr` (the
    /// address was read when the server started).
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.shared.addr)
    }

    /// How many connections are open: their handlers have not returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::net::{Server, TcpStream};
    ///
    /// let server = Server::bind("127.0.0.1:0")?.start(|conn| {
    ///     let _ = std::io::Read::read(&mut &conn, &mut [0; 1]); // until the client closes
    /// })?;
    /// let c = TcpStream::connect(server.local_addr()?)?;
    /// while server.connections() == 0 {
    ///     corio::cede();
    /// }
    /// drop(c);
    /// while server.connections() == 1 {
    ///     corio::sleep(std::time::Duration::from_millis(1));
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn connections(&self) -> usize {
        self.shared.conns.borrow().len()
    }

    /// Whether [`shutdown`](ServerHandle::shutdown) (or
    /// [`drain`](ServerHandle::drain)) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = corio::net::Server::bind("127.0.0.1:0")?.start(|_| {})?;
    /// assert!(!server.is_shut_down());
    /// server.shutdown();
    /// assert!(server.is_shut_down());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_shut_down(&self) -> bool {
        self.shared.stopped.get()
    }

    /// Stops accepting: the accept coro is cancelled and the listener is
    /// closed when this returns, so a new `connect` is refused. Open
    /// connections go on (see [`drain`](ServerHandle::drain)). Calling it
    /// again does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::net::{Server, TcpStream};
    ///
    /// let server = Server::bind("127.0.0.1:0")?.start(|_| {})?;
    /// let addr = server.local_addr()?;
    /// server.shutdown();
    /// server.shutdown(); // no-op
    /// assert!(TcpStream::connect(addr).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the accept coro unwinds (briefly:
    /// it only closes the listener).
    #[track_caller]
    pub fn shutdown(&self) {
        self.shared.stopped.set(true);
        let accept = self.shared.accept.borrow_mut().take();
        if let Some(c) = accept {
            c.cancel();
        }
    }

    /// Shuts the server down ([`shutdown`](ServerHandle::shutdown)), waits
    /// up to `grace` for the open connections to end, then cancels those
    /// still open (their coros unwind: every `Drop` runs and each stream
    /// is closed) and returns how many it cancelled. Connections that end
    /// in time are not counted. Called from one of the server's own
    /// connections, it neither waits for nor cancels that one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corio::net::{Server, TcpStream};
    ///
    /// // A handler that never ends on its own.
    /// let server = Server::bind("127.0.0.1:0")?.start(|_conn| corio::schedule())?;
    /// let _c = TcpStream::connect(server.local_addr()?)?;
    /// while server.connections() == 0 {
    ///     corio::cede();
    /// }
    /// assert_eq!(server.drain(Duration::from_millis(10)), 1);
    /// assert_eq!(server.connections(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// Unwinds if the calling coro is cancelled, thrown at or timed out
    /// while it waits.
    ///
    /// # Switching
    ///
    /// Suspends the current coro until the connections ended or `grace`
    /// is over, and while it cancels the rest.
    #[track_caller]
    pub fn drain(&self, grace: Duration) -> usize {
        self.shutdown();
        let me = crate::current().id();
        let others = || {
            let conns = self.shared.conns.borrow();
            conns.len() - usize::from(conns.contains_key(&me))
        };
        let deadline = Instant::now().checked_add(grace);
        while others() > 0 {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() || !self.shared.ended.wait_timeout(left) {
                break;
            }
        }
        let stragglers: Vec<Coro> = self
            .shared
            .conns
            .borrow()
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(_, c)| c.clone())
            .collect();
        let mut cancelled = 0;
        for c in stragglers {
            if !c.is_done() {
                cancelled += 1;
                c.cancel();
            }
        }
        cancelled
    }
}
