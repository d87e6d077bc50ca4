//! `TcpListener` and `TcpStream`.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, RawFd};
use std::panic::Location;
use std::rc::Rc;
use std::time::{Duration, Instant};

use socket2::{Domain, SockRef, Socket, Type};

use super::{ToSocketAddrs, each_addr};
use crate::io::reg::{Behaviour, READ, Registration, SocketType, WRITE};

/// Connections a listener lets the kernel queue before it accepts them
/// (capped by `net.core.somaxconn`).
const BACKLOG: i32 = 4096;

/// A TCP server socket: [`accept`](TcpListener::accept) parks the coro
/// until a connection comes.
///
/// `TcpListener` is not `Send`: it stays on the thread that made it. Moving it to
/// another thread fails to compile with an error that names a private field
/// (`Rc<corio::io::reg::Behaviour>` or `Rc<corio::sched::reactor::IoState>`
/// "cannot be sent between threads safely"); see
/// [the module docs](crate::net#threads) for what to do instead.
///
/// # Examples
///
/// ```
/// use corio::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let client = corio::spawn(move || TcpStream::connect(addr).unwrap());
/// let (_conn, peer) = listener.accept().unwrap();
/// assert_eq!(peer, client.join().unwrap().local_addr().unwrap());
/// ```
pub struct TcpListener {
    reg: Registration,
    how: Rc<Behaviour>,
    io: mio::net::TcpListener,
}

/// A TCP connection: reads and writes park the coro, not the thread.
///
/// `TcpStream` is not `Send`: it stays on the thread that made it. Moving it to
/// another thread fails to compile with an error that names a private field
/// (`Rc<corio::io::reg::Behaviour>` or `Rc<corio::sched::reactor::IoState>`
/// "cannot be sent between threads safely"); see
/// [the module docs](crate::net#threads) for what to do instead.
///
/// `Read` and `Write` are implemented for `TcpStream` and for
/// `&TcpStream`; reading and writing from two coros at once is fine.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use corio::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let echo = corio::spawn(move || {
///     let (mut conn, _) = listener.accept().unwrap();
///     let mut buf = [0; 4];
///     conn.read_exact(&mut buf).unwrap();
///     conn.write_all(&buf).unwrap();
/// });
/// let mut s = TcpStream::connect(addr).unwrap();
/// s.write_all(b"ping").unwrap();
/// let mut buf = [0; 4];
/// s.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"ping");
/// echo.join().unwrap();
/// ```
pub struct TcpStream {
    reg: Registration,
    how: Rc<Behaviour>,
    io: mio::net::TcpStream,
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        if let Ok(a) = self.io.local_addr() {
            d.field("addr", &a);
        }
        d.field("fd", &self.io.as_raw_fd()).finish()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(a) = self.io.local_addr() {
            d.field("addr", &a);
        }
        if let Ok(a) = self.io.peer_addr() {
            d.field("peer", &a);
        }
        d.field("fd", &self.io.as_raw_fd()).finish()
    }
}

impl TcpListener {
    /// Binds to the first of `addr`'s addresses that works and listens
    /// (with `SO_REUSEADDR`, as servers want, and a backlog of 4096).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(l.local_addr().unwrap().port(), 0);
    /// ```
    ///
    /// # Errors
    /// The last address's error (`AddrInUse`, `PermissionDenied`, ...), or
    /// the resolver's.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled while a name is being resolved.
    ///
    /// # Switching
    ///
    /// Suspends the current coro only while a host name is resolved.
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let loc = Location::caller();
        let l = each_addr(addr, |a| Self::bind_one(a, false))?;
        l.reg.made_at(loc);
        Ok(l)
    }

    /// Like [`bind`](TcpListener::bind), with `SO_REUSEPORT`: several
    /// listeners (on several threads or processes) share one port, and
    /// the kernel spreads the connections among them.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::net::TcpListener;
    /// let a = TcpListener::bind_reuse_port("127.0.0.1:0").unwrap();
    /// let b = TcpListener::bind_reuse_port(a.local_addr().unwrap()).unwrap();
    /// assert_eq!(a.local_addr().unwrap(), b.local_addr().unwrap());
    /// ```
    ///
    /// # Errors
    /// As [`bind`](TcpListener::bind).
    ///
    /// # Panics
    /// As [`bind`](TcpListener::bind).
    ///
    /// # Switching
    ///
    /// Suspends the current coro only while a host name is resolved.
    #[track_caller]
    pub fn bind_reuse_port(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let loc = Location::caller();
        let l = each_addr(addr, |a| Self::bind_one(a, true))?;
        l.reg.made_at(loc);
        Ok(l)
    }

    #[track_caller]
    fn bind_one(addr: &SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
        let socket = Socket::new(
            Domain::for_address(*addr),
            Type::STREAM.nonblocking().cloexec(),
            None,
        )?;
        socket.set_reuse_address(true)?;
        if reuse_port {
            socket.set_reuse_port(true)?;
        }
        socket.bind(&(*addr).into())?;
        socket.listen(BACKLOG)?;
        Self::from_mio(mio::net::TcpListener::from_std(socket.into()))
    }

    #[track_caller]
    fn from_mio(io: mio::net::TcpListener) -> io::Result<TcpListener> {
        let reg = Registration::socket(
            io.as_raw_fd(),
            mio::Interest::READABLE,
            SocketType::TcpListener,
        )?;
        Ok(TcpListener {
            reg,
            how: Rc::default(),
            io,
        })
    }

    /// Takes a listening std socket (it is made non-blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let l = corio::net::TcpListener::from_std(std).unwrap();
    /// # drop(l);
    /// ```
    ///
    /// # Errors
    /// When the socket cannot be made non-blocking or registered.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Self::from_mio(mio::net::TcpListener::from_std(listener))
    }

    /// Gives the socket back as a blocking std listener (to move it to
    /// another thread, say).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let std: std::net::TcpListener = l.into_std().unwrap();
    /// # drop(std);
    /// ```
    ///
    /// # Errors
    /// When the socket cannot be made blocking again.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        let TcpListener { reg, io, .. } = self;
        drop(reg);
        // SAFETY: `into_raw_fd` hands over the descriptor it owned.
        let l = unsafe { std::net::TcpListener::from_raw_fd(io.into_raw_fd()) };
        l.set_nonblocking(false)?;
        Ok(l)
    }

    /// Waits for a connection and accepts it.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = l.local_addr().unwrap();
    /// corio::spawn(move || corio::net::TcpStream::connect(addr).unwrap());
    /// let (stream, peer) = l.accept().unwrap();
    /// assert_eq!(stream.peer_addr().unwrap(), peer);
    /// ```
    ///
    /// # Errors
    /// What `accept4` says: `EMFILE`/`ENFILE` when out of descriptors (the
    /// connection stays queued; see [`serve`](super::serve) for a loop that
    /// backs off), `ECONNABORTED` for a connection reset while queued;
    /// `TimedOut` after the read timeout; `WouldBlock` in non-blocking
    /// mode.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits.
    ///
    /// # Switching
    ///
    /// Suspends the current coro until a connection comes.
    #[track_caller]
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (io, peer) = self.reg.io(READ, &self.how, || self.io.accept())?;
        Ok((TcpStream::from_mio(io, Rc::default())?, peer))
    }

    /// An endless iterator of [`accept`](TcpListener::accept)s.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = l.local_addr().unwrap();
    /// corio::spawn(move || corio::net::TcpStream::connect(addr).unwrap());
    /// let first = l.incoming().next().unwrap().unwrap();
    /// # drop(first);
    /// ```
    ///
    /// # Switching
    ///
    /// Each `next` suspends the current coro until a connection comes.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address it listens on.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(l.local_addr().unwrap().ip().is_loopback());
    /// ```
    ///
    /// # Errors
    /// What `getsockname` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// A second listener on the same socket (`dup`), registered anew; it
    /// shares the non-blocking mode and timeouts with this one.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let l2 = l.try_clone().unwrap();
    /// assert_eq!(l.local_addr().unwrap(), l2.local_addr().unwrap());
    /// ```
    ///
    /// # Errors
    /// When `dup` or the registration fails.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        let fd = self.io.as_fd().try_clone_to_owned()?;
        let io = mio::net::TcpListener::from_std(fd.into());
        let reg = Registration::socket(
            io.as_raw_fd(),
            mio::Interest::READABLE,
            SocketType::TcpListener,
        )?;
        Ok(TcpListener {
            reg,
            how: self.how.clone(),
            io,
        })
    }

    /// Makes [`accept`](TcpListener::accept) return `WouldBlock` instead
    /// of waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// l.set_nonblocking(true).unwrap();
    /// assert_eq!(l.accept().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// ```
    ///
    /// # Errors
    /// Never; the `Result` is std's signature.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.how.nonblocking.set(nonblocking);
        Ok(())
    }

    /// Makes [`accept`](TcpListener::accept) give up with `TimedOut`
    /// after waiting this long (`None`, the default: wait forever).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// l.set_accept_timeout(Some(Duration::from_millis(5))).unwrap();
    /// assert_eq!(l.accept().unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_accept_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.how.set_timeout(READ, timeout)
    }

    /// Sets `IP_TTL`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// l.set_ttl(64).unwrap();
    /// assert_eq!(l.ttl().unwrap(), 64);
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.set_ttl(ttl)
    }

    /// `IP_TTL`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(l.ttl().unwrap() > 0);
    /// ```
    ///
    /// # Errors
    /// What `getsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.ttl()
    }

    /// Takes the pending socket error (`SO_ERROR`).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(l.take_error().unwrap().is_none());
    /// ```
    ///
    /// # Errors
    /// What `getsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.take_error()
    }
}

/// The iterator of [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    #[track_caller]
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl TcpStream {
    #[track_caller]
    fn from_mio(io: mio::net::TcpStream, how: Rc<Behaviour>) -> io::Result<TcpStream> {
        let reg = Registration::socket(
            io.as_raw_fd(),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
            SocketType::TcpStream,
        )?;
        Ok(TcpStream { reg, how, io })
    }

    /// Connects to the first of `addr`'s addresses that accepts.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
    /// ```
    ///
    /// # Errors
    /// The last address's error (`ConnectionRefused`, ...), or the
    /// resolver's.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (the half-open socket is closed).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the name is resolved and the
    /// connection is set up.
    #[track_caller]
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let loc = Location::caller();
        each_addr(addr, |a| {
            crate::sched::enter_blocking();
            let s = Self::from_mio(mio::net::TcpStream::connect(*a)?, Rc::default())?;
            s.reg.made_at(loc);
            Self::connected(s, None)
        })
    }

    /// Connects to `addr`, giving up with `TimedOut` after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = l.local_addr().unwrap();
    /// let s = corio::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    /// assert!(s.is_ok());
    /// ```
    ///
    /// # Errors
    /// As [`connect`](TcpStream::connect); `InvalidInput` for a zero
    /// timeout.
    ///
    /// # Panics
    /// As [`connect`](TcpStream::connect).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the connection is set up.
    #[track_caller]
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        Self::connect_one(addr, Instant::now().checked_add(timeout))
    }

    #[track_caller]
    fn connect_one(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        crate::sched::enter_blocking();
        let s = Self::from_mio(mio::net::TcpStream::connect(*addr)?, Rc::default())?;
        Self::connected(s, deadline)
    }

    /// Waits until `s`, just set connecting, is connected (or failed).
    #[track_caller]
    fn connected(s: TcpStream, deadline: Option<Instant>) -> io::Result<TcpStream> {
        loop {
            s.reg.wait(WRITE, deadline)?;
            if let Some(e) = s.io.take_error()? {
                return Err(e);
            }
            match s.io.peer_addr() {
                Ok(_) => return Ok(s),
                Err(e)
                    if e.kind() == io::ErrorKind::NotConnected
                        || e.raw_os_error() == Some(libc::EINPROGRESS) =>
                {
                    // Woken before the handshake finished: wait again.
                    s.reg.clear(WRITE);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes a connected std stream (it is made non-blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let std = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let s = corio::net::TcpStream::from_std(std).unwrap();
    /// # drop(s);
    /// ```
    ///
    /// # Errors
    /// When the socket cannot be made non-blocking or registered.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Self::from_mio(mio::net::TcpStream::from_std(stream), Rc::default())
    }

    /// Gives the connection back as a blocking std stream (to move it to
    /// another thread, say).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let std: std::net::TcpStream = s.into_std().unwrap();
    /// # drop(std);
    /// ```
    ///
    /// # Errors
    /// When the socket cannot be made blocking again.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        let TcpStream { reg, io, .. } = self;
        drop(reg);
        // SAFETY: `into_raw_fd` hands over the descriptor it owned.
        let s = unsafe { std::net::TcpStream::from_raw_fd(io.into_raw_fd()) };
        s.set_nonblocking(false)?;
        Ok(s)
    }

    /// The address of the other end.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
    /// ```
    ///
    /// # Errors
    /// `NotConnected` once the connection is gone.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.peer_addr()
    }

    /// The address of this end.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert!(s.local_addr().unwrap().ip().is_loopback());
    /// ```
    ///
    /// # Errors
    /// What `getsockname` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// Shuts down the reading or writing half, or both: the peer reads end
    /// of file after what was written.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use corio::net::{Shutdown, TcpListener, TcpStream};
    ///
    /// let l = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let (mut conn, _) = l.accept().unwrap();
    /// s.shutdown(Shutdown::Write).unwrap();
    /// assert_eq!(conn.read(&mut [0; 8]).unwrap(), 0);
    /// ```
    ///
    /// # Errors
    /// `NotConnected` when the connection is gone.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.shutdown(how)
    }

    /// A second handle on the same connection (`dup`), registered anew;
    /// it shares the non-blocking mode and timeouts with this one, as the
    /// socket options they stand for would be.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let s2 = s.try_clone().unwrap();
    /// assert_eq!(s.local_addr().unwrap(), s2.local_addr().unwrap());
    /// ```
    ///
    /// # Errors
    /// When `dup` or the registration fails.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let fd = self.io.as_fd().try_clone_to_owned()?;
        let std = std::net::TcpStream::from(fd);
        Self::from_mio(mio::net::TcpStream::from_std(std), self.how.clone())
    }

    /// Reads without taking the bytes out of the receive queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let (mut conn, _) = l.accept().unwrap();
    /// s.write_all(b"hi").unwrap();
    /// let mut buf = [0; 2];
    /// conn.peek(&mut buf).unwrap();
    /// conn.read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"hi");
    /// ```
    ///
    /// # Errors
    /// As `read`.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits.
    ///
    /// # Switching
    ///
    /// Suspends the current coro until data (or end of file) is there.
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.reg.io(READ, &self.how, || self.io.peek(buf))
    }

    /// Waits until a read would not block.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let (conn, _) = l.accept().unwrap();
    /// s.write_all(b"x").unwrap();
    /// conn.readable().unwrap();
    /// ```
    ///
    /// # Errors
    /// `TimedOut` after the read timeout; `WouldBlock` in non-blocking
    /// mode when not readable.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits.
    ///
    /// # Switching
    ///
    /// Suspends the current coro until the socket is readable.
    #[track_caller]
    pub fn readable(&self) -> io::Result<()> {
        self.ready(READ)
    }

    /// Waits until a write would not block.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.writable().unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`readable`](TcpStream::readable), with the write timeout.
    ///
    /// # Panics
    /// As [`readable`](TcpStream::readable).
    ///
    /// # Switching
    ///
    /// Suspends the current coro until the socket is writable.
    #[track_caller]
    pub fn writable(&self) -> io::Result<()> {
        self.ready(WRITE)
    }

    #[track_caller]
    fn ready(&self, dir: u8) -> io::Result<()> {
        let kind = if dir == READ {
            libc::POLLIN
        } else {
            libc::POLLOUT
        };
        self.reg.io(dir, &self.how, || {
            // The believed readiness may be stale after a consumed event:
            // ask the kernel.
            let mut p = libc::pollfd {
                fd: self.io.as_raw_fd(),
                events: kind,
                revents: 0,
            };
            // SAFETY: one valid pollfd; a zero timeout never blocks.
            if unsafe { libc::poll(&mut p, 1, 0) } > 0 {
                Ok(())
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            }
        })
    }

    /// Makes reads give up with `TimedOut` after waiting this long
    /// (`None`, the default: wait forever).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::time::Duration;
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    /// assert_eq!(s.read(&mut [0; 1]).unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.how.set_timeout(READ, timeout)
    }

    /// Makes writes give up with `TimedOut` after waiting this long
    /// (`None`, the default: wait forever).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(s.write_timeout().unwrap(), Some(Duration::from_secs(1)));
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.how.set_timeout(WRITE, timeout)
    }

    /// The read timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert_eq!(s.read_timeout().unwrap(), None);
    /// ```
    ///
    /// # Errors
    /// Never; the `Result` is std's signature.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.how.read_timeout.get())
    }

    /// The write timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert_eq!(s.write_timeout().unwrap(), None);
    /// ```
    ///
    /// # Errors
    /// Never; the `Result` is std's signature.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.how.write_timeout.get())
    }

    /// Makes reads and writes return `WouldBlock` instead of waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.set_nonblocking(true).unwrap();
    /// assert_eq!(s.read(&mut [0; 1]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// ```
    ///
    /// # Errors
    /// Never; the `Result` is std's signature.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.how.nonblocking.set(nonblocking);
        Ok(())
    }

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.set_nodelay(true).unwrap();
    /// assert!(s.nodelay().unwrap());
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.set_nodelay(nodelay)
    }

    /// `TCP_NODELAY`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert!(!s.nodelay().unwrap());
    /// ```
    ///
    /// # Errors
    /// What `getsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.nodelay()
    }

    /// Sets `IP_TTL`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.set_ttl(32).unwrap();
    /// assert_eq!(s.ttl().unwrap(), 32);
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.set_ttl(ttl)
    }

    /// `IP_TTL`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert!(s.ttl().unwrap() > 0);
    /// ```
    ///
    /// # Errors
    /// What `getsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.ttl()
    }

    /// Sets `SO_LINGER`: `Some(d)` makes closing wait up to `d` for unsent
    /// data (`Some(ZERO)` resets the connection on close), `None` is the
    /// default background close.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.set_linger(Some(Duration::ZERO)).unwrap();
    /// assert_eq!(s.linger().unwrap(), Some(Duration::ZERO));
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro (note that a non-zero linger makes
    /// `close`, and so dropping the stream, block the thread).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        SockRef::from(&self.io).set_linger(linger)
    }

    /// `SO_LINGER`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert_eq!(s.linger().unwrap(), None);
    /// ```
    ///
    /// # Errors
    /// What `getsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        SockRef::from(&self.io).linger()
    }

    /// Turns TCP keep-alive probes on after `idle` without traffic
    /// (`None`: off, the default).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.set_keepalive(Some(Duration::from_secs(60))).unwrap();
    /// assert!(s.keepalive().unwrap());
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        let sock = SockRef::from(&self.io);
        match idle {
            None => sock.set_keepalive(false),
            Some(t) => sock.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(t)),
        }
    }

    /// Whether keep-alive probes are on (`SO_KEEPALIVE`).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert!(!s.keepalive().unwrap());
    /// ```
    ///
    /// # Errors
    /// What `getsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn keepalive(&self) -> io::Result<bool> {
        SockRef::from(&self.io).keepalive()
    }

    /// Sets the kernel's receive buffer size (`SO_RCVBUF`; Linux doubles
    /// it for bookkeeping).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.set_recv_buffer_size(64 * 1024).unwrap();
    /// assert!(s.recv_buffer_size().unwrap() >= 64 * 1024);
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        SockRef::from(&self.io).set_recv_buffer_size(size)
    }

    /// `SO_RCVBUF`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert!(s.recv_buffer_size().unwrap() > 0);
    /// ```
    ///
    /// # Errors
    /// What `getsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        SockRef::from(&self.io).recv_buffer_size()
    }

    /// Sets the kernel's send buffer size (`SO_SNDBUF`; Linux doubles it
    /// for bookkeeping).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.set_send_buffer_size(64 * 1024).unwrap();
    /// assert!(s.send_buffer_size().unwrap() >= 64 * 1024);
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        SockRef::from(&self.io).set_send_buffer_size(size)
    }

    /// `SO_SNDBUF`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert!(s.send_buffer_size().unwrap() > 0);
    /// ```
    ///
    /// # Errors
    /// What `getsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        SockRef::from(&self.io).send_buffer_size()
    }

    /// Takes the pending socket error (`SO_ERROR`).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert!(s.take_error().unwrap().is_none());
    /// ```
    ///
    /// # Errors
    /// What `getsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.take_error()
    }

    /// The descriptor's registration with the reactor (for `compat::Io`,
    /// which makes its own system calls and waits through it).
    #[cfg(feature = "compat")]
    #[inline]
    pub(crate) fn registration(&self) -> &Registration {
        &self.reg
    }

    /// Its read and write timeouts (for `compat::Io`).
    #[cfg(feature = "compat")]
    #[inline]
    pub(crate) fn behaviour(&self) -> &Behaviour {
        &self.how
    }

    #[track_caller]
    fn do_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.reg.read(&self.how, buf.len(), || (&self.io).read(buf))
    }

    #[track_caller]
    fn do_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.reg
            .read(&self.how, len, || (&self.io).read_vectored(bufs))
    }

    #[track_caller]
    fn do_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.reg
            .write(&self.how, buf.len(), || (&self.io).write(buf))
    }

    #[track_caller]
    fn do_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.reg
            .write(&self.how, len, || (&self.io).write_vectored(bufs))
    }
}

impl Read for TcpStream {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.do_read(buf)
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.do_read_vectored(bufs)
    }
}

impl Read for &TcpStream {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.do_read(buf)
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.do_read_vectored(bufs)
    }
}

impl Write for TcpStream {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.do_write(buf)
    }

    #[track_caller]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.do_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &TcpStream {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.do_write(buf)
    }

    #[track_caller]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.do_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}
