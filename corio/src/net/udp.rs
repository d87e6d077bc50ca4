//! `UdpSocket`.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, RawFd};
use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

use super::{ToSocketAddrs, each_addr};
use crate::io::reg::{Behaviour, READ, Registration, SocketType, WRITE};

/// A UDP socket whose receives (and, rarely, sends) park the coro, not the
/// thread.
///
/// `UdpSocket` is not `Send`: it stays on the thread that made it. Moving it to
/// another thread fails to compile with an error that names a private field
/// (`Rc<corio::io::reg::Behaviour>` or `Rc<corio::sched::reactor::IoState>`
/// "cannot be sent between threads safely"); see
/// [the module docs](crate::net#threads) for what to do instead.
///
/// # Examples
///
/// ```
/// use corio::net::UdpSocket;
///
/// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let b_addr = b.local_addr().unwrap();
/// let receiver = corio::spawn(move || {
///     let mut buf = [0; 16];
///     let (n, _from) = b.recv_from(&mut buf).unwrap();
///     buf[..n].to_vec()
/// });
/// a.send_to(b"datagram", b_addr).unwrap();
/// assert_eq!(receiver.join().unwrap(), b"datagram");
/// ```
pub struct UdpSocket {
    reg: Registration,
    how: Rc<Behaviour>,
    io: mio::net::UdpSocket,
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        if let Ok(a) = self.io.local_addr() {
            d.field("addr", &a);
        }
        d.field("fd", &self.io.as_raw_fd()).finish()
    }
}

impl UdpSocket {
    #[track_caller]
    fn from_mio(io: mio::net::UdpSocket, how: Rc<Behaviour>) -> io::Result<UdpSocket> {
        let reg = Registration::socket(
            io.as_raw_fd(),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
            SocketType::UdpSocket,
        )?;
        Ok(UdpSocket { reg, how, io })
    }

    /// Binds to the first of `addr`'s addresses that works.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(s.local_addr().unwrap().port(), 0);
    /// ```
    ///
    /// # Errors
    /// The last address's error, or the resolver's.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled while a name is being resolved.
    ///
    /// # Switching
    ///
    /// Suspends the current coro only while a host name is resolved.
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let loc = Location::caller();
        let s = each_addr(addr, |a| {
            Self::from_mio(mio::net::UdpSocket::bind(*a)?, Rc::default())
        })?;
        s.reg.made_at(loc);
        Ok(s)
    }

    /// Takes a std socket (it is made non-blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// let std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let s = corio::net::UdpSocket::from_std(std).unwrap();
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
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Self::from_mio(mio::net::UdpSocket::from_std(socket), Rc::default())
    }

    /// Gives the socket back as a blocking std socket.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let std: std::net::UdpSocket = s.into_std().unwrap();
    /// # drop(std);
    /// ```
    ///
    /// # Errors
    /// When the socket cannot be made blocking again.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        let UdpSocket { reg, io, .. } = self;
        drop(reg);
        // SAFETY: `into_raw_fd` hands over the descriptor it owned.
        let s = unsafe { std::net::UdpSocket::from_raw_fd(io.into_raw_fd()) };
        s.set_nonblocking(false)?;
        Ok(s)
    }

    /// Receives one datagram and says where it came from; the part of it
    /// that does not fit in `buf` is lost.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    ///
    /// # Errors
    /// What `recvfrom` says; `TimedOut` after the read timeout.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits.
    ///
    /// # Switching
    ///
    /// Suspends the current coro until a datagram comes.
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.reg.io(READ, &self.how, || self.io.recv_from(buf))
    }

    /// Like [`recv_from`](UdpSocket::recv_from), leaving the datagram
    /// queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::net::UdpSocket;
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.send_to(b"x", a.local_addr().unwrap()).unwrap();
    /// let mut buf = [0; 1];
    /// assert_eq!(a.peek_from(&mut buf).unwrap().0, 1);
    /// assert_eq!(a.recv_from(&mut buf).unwrap().0, 1);
    /// ```
    ///
    /// # Errors
    /// As [`recv_from`](UdpSocket::recv_from).
    ///
    /// # Panics
    /// As [`recv_from`](UdpSocket::recv_from).
    ///
    /// # Switching
    ///
    /// Suspends the current coro until a datagram comes.
    #[track_caller]
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.reg.io(READ, &self.how, || self.io.peek_from(buf))
    }

    /// Sends one datagram to `addr` (the first address it resolves to).
    ///
    /// # Examples
    ///
    /// See [`UdpSocket`].
    ///
    /// # Errors
    /// What `sendto` says; `InvalidInput` when `addr` resolves to nothing.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while a host name is resolved, and while
    /// the send buffer is full.
    #[track_caller]
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let target = addr.resolve()?.into_iter().next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to")
        })?;
        self.reg
            .io(WRITE, &self.how, || self.io.send_to(buf, target))
    }

    /// Sets the default peer: [`send`](UdpSocket::send) goes there and
    /// only its datagrams are received.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::net::UdpSocket;
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.connect(b.local_addr().unwrap()).unwrap();
    /// a.send(b"hi").unwrap();
    /// let mut buf = [0; 2];
    /// assert_eq!(b.recv(&mut buf).unwrap(), 2);
    /// ```
    ///
    /// # Errors
    /// The last address's error, or the resolver's.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled while a name is being resolved.
    ///
    /// # Switching
    ///
    /// Suspends the current coro only while a host name is resolved.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |a| self.io.connect(*a))
    }

    /// Sends one datagram to the peer set by
    /// [`connect`](UdpSocket::connect).
    ///
    /// # Examples
    ///
    /// See [`connect`](UdpSocket::connect).
    ///
    /// # Errors
    /// What `send` says (`ConnectionRefused` after an ICMP unreachable).
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the send buffer is full.
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.reg.io(WRITE, &self.how, || self.io.send(buf))
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Examples
    ///
    /// See [`connect`](UdpSocket::connect).
    ///
    /// # Errors
    /// What `recv` says; `TimedOut` after the read timeout.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits.
    ///
    /// # Switching
    ///
    /// Suspends the current coro until a datagram comes.
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.reg.io(READ, &self.how, || self.io.recv(buf))
    }

    /// Like [`recv`](UdpSocket::recv), leaving the datagram queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::net::UdpSocket;
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.connect(a.local_addr().unwrap()).unwrap();
    /// a.send(b"x").unwrap();
    /// assert_eq!(a.peek(&mut [0; 1]).unwrap(), 1);
    /// ```
    ///
    /// # Errors
    /// As [`recv`](UdpSocket::recv).
    ///
    /// # Panics
    /// As [`recv`](UdpSocket::recv).
    ///
    /// # Switching
    ///
    /// Suspends the current coro until a datagram comes.
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.reg.io(READ, &self.how, || self.io.peek(buf))
    }

    /// The local address.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
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

    /// The connected peer's address.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(s.peer_addr().is_err()); // not connected
    /// ```
    ///
    /// # Errors
    /// `NotConnected` before [`connect`](UdpSocket::connect).
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.peer_addr()
    }

    /// A second handle on the same socket (`dup`), registered anew; it
    /// shares the non-blocking mode and timeouts with this one.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let t = s.try_clone().unwrap();
    /// assert_eq!(s.local_addr().unwrap(), t.local_addr().unwrap());
    /// ```
    ///
    /// # Errors
    /// When `dup` or the registration fails.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        let fd = self.io.as_fd().try_clone_to_owned()?;
        let std = std::net::UdpSocket::from(fd);
        Self::from_mio(mio::net::UdpSocket::from_std(std), self.how.clone())
    }

    /// Makes receives give up with `TimedOut` after waiting this long.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    /// let e = s.recv_from(&mut [0; 8]).unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
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

    /// Makes sends give up with `TimedOut` after waiting this long.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
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
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
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
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
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

    /// Makes sends and receives return `WouldBlock` instead of waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.set_nonblocking(true).unwrap();
    /// let e = s.recv_from(&mut [0; 8]).unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
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

    /// Sets `SO_BROADCAST`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.set_broadcast(true).unwrap();
    /// assert!(s.broadcast().unwrap());
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.set_broadcast(on)
    }

    /// `SO_BROADCAST`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(!s.broadcast().unwrap());
    /// ```
    ///
    /// # Errors
    /// What `getsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.broadcast()
    }

    /// Sets `IP_TTL`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.set_ttl(8).unwrap();
    /// assert_eq!(s.ttl().unwrap(), 8);
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
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
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

    /// Joins an IPv4 multicast group on the interface with address
    /// `interface` (`UNSPECIFIED`: the default one).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::Ipv4Addr;
    /// let s = corio::net::UdpSocket::bind("0.0.0.0:5353").unwrap();
    /// s.join_multicast_v4(&Ipv4Addr::new(224, 0, 0, 251), &Ipv4Addr::UNSPECIFIED).unwrap();
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn join_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.io.join_multicast_v4(group, interface)
    }

    /// Leaves an IPv4 multicast group.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::Ipv4Addr;
    /// let s = corio::net::UdpSocket::bind("0.0.0.0:5353").unwrap();
    /// let g = Ipv4Addr::new(224, 0, 0, 251);
    /// s.join_multicast_v4(&g, &Ipv4Addr::UNSPECIFIED).unwrap();
    /// s.leave_multicast_v4(&g, &Ipv4Addr::UNSPECIFIED).unwrap();
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn leave_multicast_v4(&self, group: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.io.leave_multicast_v4(group, interface)
    }

    /// Joins an IPv6 multicast group on interface number `interface` (0:
    /// the default one).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::Ipv6Addr;
    /// let s = corio::net::UdpSocket::bind("[::]:5353").unwrap();
    /// s.join_multicast_v6(&"ff02::fb".parse().unwrap(), 0).unwrap();
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.join_multicast_v6(group, interface)
    }

    /// Leaves an IPv6 multicast group.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let s = corio::net::UdpSocket::bind("[::]:5353").unwrap();
    /// let g = "ff02::fb".parse().unwrap();
    /// s.join_multicast_v6(&g, 0).unwrap();
    /// s.leave_multicast_v6(&g, 0).unwrap();
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn leave_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.leave_multicast_v6(group, interface)
    }

    /// Sets `IP_MULTICAST_LOOP`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.set_multicast_loop_v4(false).unwrap();
    /// assert!(!s.multicast_loop_v4().unwrap());
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.io.set_multicast_loop_v4(on)
    }

    /// `IP_MULTICAST_LOOP`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(s.multicast_loop_v4().unwrap());
    /// ```
    ///
    /// # Errors
    /// What `getsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.io.multicast_loop_v4()
    }

    /// Sets `IP_MULTICAST_TTL`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.set_multicast_ttl_v4(4).unwrap();
    /// assert_eq!(s.multicast_ttl_v4().unwrap(), 4);
    /// ```
    ///
    /// # Errors
    /// What `setsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.io.set_multicast_ttl_v4(ttl)
    }

    /// `IP_MULTICAST_TTL`.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_eq!(s.multicast_ttl_v4().unwrap(), 1);
    /// ```
    ///
    /// # Errors
    /// What `getsockopt` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.io.multicast_ttl_v4()
    }

    /// Takes the pending socket error (`SO_ERROR`).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
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
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}
