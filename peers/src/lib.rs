//! Shared helpers for the peer servers and benchmark runners.
//!
//! The servers in `src/bin/` are the peers that corio's network benchmarks
//! measure against (`netbench`); see `peers/README.md`. This library holds
//! what they share: the command-line address, the one HTTP response every
//! HTTP server sends, and thin wrappers over the `libc` calls that the raw
//! epoll servers and the echo load generator are written against.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::RawFd;

/// The exact bytes every HTTP peer answers each request with (no `Date`).
pub const HTTP_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";

/// The response body, for the frameworks that build the head themselves.
pub const HTTP_BODY: &str = "Hello, world!";

/// The listen address from the first command-line argument
/// (`127.0.0.1:PORT`); exits with a usage message when it is missing, is
/// not an address, or is not on 127.0.0.1 (the peers serve loopback only).
pub fn server_addr() -> SocketAddrV4 {
    let prog = std::env::args().next().unwrap_or_else(|| "server".into());
    let Some(arg) = std::env::args().nth(1) else {
        eprintln!("usage: {prog} 127.0.0.1:PORT");
        std::process::exit(2);
    };
    match arg.parse::<SocketAddr>() {
        Ok(SocketAddr::V4(a)) if *a.ip() == Ipv4Addr::LOCALHOST => a,
        Ok(_) => {
            eprintln!("{prog}: listen address must be 127.0.0.1:PORT, not {arg}");
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("{prog}: bad listen address {arg:?}: {e}");
            std::process::exit(2);
        }
    }
}

/// Whether the hyper peers got `--header-read-timeout` after the address
/// (keep hyper's 30 s header read timeout, on the runtime's timer); exits
/// with a usage message on any other extra argument.
pub fn header_read_timeout_flag() -> bool {
    let prog = std::env::args().next().unwrap_or_else(|| "server".into());
    let rest: Vec<String> = std::env::args().skip(2).collect();
    match rest.as_slice() {
        [] => false,
        [f] if f == "--header-read-timeout" => true,
        _ => {
            eprintln!("usage: {prog} 127.0.0.1:PORT [--header-read-timeout]");
            std::process::exit(2);
        }
    }
}

/// Thin, safe wrappers over the `libc` calls the raw epoll programs use.
///
/// Each wrapper is a single system call; errors come back as
/// `io::Error::last_os_error()`.
pub mod sys {
    use super::*;

    /// `-1` to `Err(last_os_error)`, anything else through.
    pub fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
        if r == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    /// `-1` to `Err(last_os_error)` for the `ssize_t` calls.
    pub fn cvt_size(r: libc::ssize_t) -> io::Result<usize> {
        if r == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    fn sockaddr_in(addr: SocketAddrV4) -> libc::sockaddr_in {
        libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: addr.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*addr.ip()).to_be(),
            },
            sin_zero: [0; 8],
        }
    }

    fn setsockopt_int(
        fd: RawFd,
        level: libc::c_int,
        name: libc::c_int,
        val: libc::c_int,
    ) -> io::Result<()> {
        // SAFETY: `val` is a live c_int and the length passed is its size;
        // the kernel only reads it. A bad fd is reported as EBADF.
        let r = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&val as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        cvt(r).map(drop)
    }

    /// A nonblocking, close-on-exec TCP listener with `SO_REUSEADDR`,
    /// bound to `addr` and listening with `backlog`.
    pub fn listen(addr: SocketAddrV4, backlog: i32) -> io::Result<RawFd> {
        // SAFETY: plain socket(2) call with constant arguments.
        let fd = cvt(unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        })?;
        let sa = sockaddr_in(addr);
        let r = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1).and_then(|()| {
            // SAFETY: `sa` is a valid sockaddr_in and the length is its size.
            cvt(unsafe {
                libc::bind(
                    fd,
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            })?;
            // SAFETY: listen(2) on the socket we just created.
            cvt(unsafe { libc::listen(fd, backlog) }).map(drop)
        });
        match r {
            Ok(()) => Ok(fd),
            Err(e) => {
                close(fd);
                Err(e)
            }
        }
    }

    /// A blocking connect to `addr` that gives up after `timeout` (through
    /// `SO_SNDTIMEO`, which bounds connect(2) on Linux); the socket comes
    /// back blocking and close-on-exec (set it nonblocking after).
    pub fn connect(addr: SocketAddrV4, timeout: std::time::Duration) -> io::Result<RawFd> {
        // SAFETY: plain socket(2) call with constant arguments.
        let fd =
            cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: `tv` is a live timeval and the length is its size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if let Err(e) = cvt(r) {
            close(fd);
            return Err(e);
        }
        let sa = sockaddr_in(addr);
        // SAFETY: `sa` is a valid sockaddr_in and the length is its size.
        let r = unsafe {
            libc::connect(
                fd,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        match cvt(r) {
            Ok(_) => Ok(fd),
            Err(e) => {
                close(fd);
                Err(e)
            }
        }
    }

    /// `accept4` with `SOCK_NONBLOCK | SOCK_CLOEXEC`; the peer address is
    /// not asked for.
    pub fn accept(listener: RawFd) -> io::Result<RawFd> {
        // SAFETY: null address and length pointers are allowed by accept4(2).
        cvt(unsafe {
            libc::accept4(
                listener,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        })
    }

    /// Sets `O_NONBLOCK` on `fd`.
    pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
        // SAFETY: fcntl(2) F_GETFL/F_SETFL take and return plain ints.
        let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
    }

    /// Sets `TCP_NODELAY` on `fd`.
    pub fn set_nodelay(fd: RawFd) -> io::Result<()> {
        setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
    }

    /// `read(2)` into `buf`.
    #[inline]
    pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is a live, writable slice of `buf.len()` bytes.
        cvt_size(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
    }

    /// `write(2)` from `buf`.
    #[inline]
    pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: `buf` is a live slice of `buf.len()` bytes; write(2) only
        // reads it.
        cvt_size(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
    }

    /// `close(2)`; errors are ignored (the descriptor is gone either way).
    pub fn close(fd: RawFd) {
        // SAFETY: the callers own `fd` and never use it after this call.
        unsafe { libc::close(fd) };
    }

    /// An epoll instance, closed on drop.
    pub struct Epoll {
        fd: RawFd,
    }

    impl Epoll {
        /// `epoll_create1(EPOLL_CLOEXEC)`.
        pub fn new() -> io::Result<Epoll> {
            // SAFETY: plain epoll_create1(2) call.
            let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
            Ok(Epoll { fd })
        }

        fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
            let mut ev = libc::epoll_event { events, u64: token };
            // SAFETY: `ev` is a valid epoll_event for the call's duration.
            cvt(unsafe { libc::epoll_ctl(self.fd, op, fd, &mut ev) }).map(drop)
        }

        /// `EPOLL_CTL_ADD` of `fd` for `events`, reported with `token`.
        pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
            self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
        }

        /// `EPOLL_CTL_MOD` of `fd` to `events`, reported with `token`.
        pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
            self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
        }

        /// `epoll_wait` into `events`, retrying on `EINTR`; `timeout_ms`
        /// of -1 waits for ever. Returns how many entries were filled.
        #[inline]
        pub fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
            loop {
                let max = events.len().min(i32::MAX as usize) as libc::c_int;
                // SAFETY: `events` is a live, writable array of at least
                // `max` epoll_event entries.
                let r = unsafe { libc::epoll_wait(self.fd, events.as_mut_ptr(), max, timeout_ms) };
                match cvt(r) {
                    Ok(n) => return Ok(n as usize),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }

    impl Drop for Epoll {
        fn drop(&mut self) {
            close(self.fd);
        }
    }

    /// A zeroed event array for [`Epoll::wait`].
    pub fn events<const N: usize>() -> [libc::epoll_event; N] {
        [libc::epoll_event { events: 0, u64: 0 }; N]
    }
}
