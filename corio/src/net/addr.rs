//! Addresses, and name resolution off the scheduler thread (Perl's
//! `Coro::Util::inet_aton`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

pub(crate) use sealed::Resolve;

mod sealed {
    use super::*;

    /// The resolution behind [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait Resolve {
        /// The addresses, in the resolver's order.
        fn resolve(&self) -> io::Result<Vec<SocketAddr>>;
    }
}

/// What `connect`, `bind` and `send_to` accept: the same types as std's
/// [`ToSocketAddrs`](std::net::ToSocketAddrs) — socket addresses, `(ip,
/// port)` pairs, `"host:port"` strings, `(host, port)` pairs and slices.
///
/// Literal addresses are parsed on the spot. A host name is looked up on a
/// worker thread with the system resolver (`getaddrinfo`), while the
/// calling coro waits and the other coros of its thread keep running.
///
/// # Examples
///
/// ```
/// let listener = corio::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
/// let port = listener.local_addr().unwrap().port();
/// // "localhost" needs the resolver: it runs on a worker thread.
/// let _stream = corio::net::TcpStream::connect(("localhost", port));
/// ```
pub trait ToSocketAddrs: sealed::Resolve {}

impl<T: Resolve + ?Sized> ToSocketAddrs for T {}

impl Resolve for SocketAddr {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![*self])
    }
}

impl Resolve for SocketAddrV4 {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::V4(*self)])
    }
}

impl Resolve for SocketAddrV6 {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::V6(*self)])
    }
}

impl Resolve for (IpAddr, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(self.0, self.1)])
    }
}

impl Resolve for (Ipv4Addr, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(self.0.into(), self.1)])
    }
}

impl Resolve for (Ipv6Addr, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(self.0.into(), self.1)])
    }
}

impl Resolve for [SocketAddr] {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

impl Resolve for Vec<SocketAddr> {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.clone())
    }
}

impl Resolve for str {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        if let Ok(a) = self.parse::<SocketAddr>() {
            return Ok(vec![a]);
        }
        lookup(self.to_owned())
    }
}

impl Resolve for String {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        self.as_str().resolve()
    }
}

impl Resolve for (&str, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        if let Ok(ip) = self.0.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.1)]);
        }
        lookup_pair(self.0.to_owned(), self.1)
    }
}

impl Resolve for (String, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        (self.0.as_str(), self.1).resolve()
    }
}

impl<T: Resolve + ?Sized> Resolve for &T {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).resolve()
    }
}

/// Resolves `"host:port"` on a worker thread.
fn lookup(host_port: String) -> io::Result<Vec<SocketAddr>> {
    crate::multicore::run(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&host_port).map(Iterator::collect)
    })
}

/// Resolves `(host, port)` on a worker thread.
fn lookup_pair(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
    crate::multicore::run(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(Iterator::collect)
    })
}

/// The addresses of `host`, each with `port`, in the resolver's order: a
/// literal IPv4 or IPv6 address is parsed on the spot; a name is looked up
/// with the system resolver (`getaddrinfo`: `/etc/hosts`, DNS, ...) on a
/// worker thread, while the calling coro waits and the other coros of its
/// thread keep running.
///
/// # Examples
///
/// ```
/// let addrs = corio::net::lookup_host("localhost", 8080)?;
/// assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
///
/// let literal = corio::net::lookup_host("::1", 53)?;
/// assert_eq!(literal, ["[::1]:53".parse().unwrap()]);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// The resolver's error when the name is unknown or the resolver cannot
/// be reached.
///
/// # Panics
/// Unwinds if the coro is cancelled, thrown at or timed out while it
/// waits (the lookup finishes on its worker, and its result is dropped).
///
/// # Switching
///
/// Suspends the current coro while a name is looked up; a literal address
/// never suspends it.
#[track_caller]
pub fn lookup_host(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    (host, port).resolve()
}
