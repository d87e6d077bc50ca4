//! The transfer calls: reads, writes, `connect`, `accept`.
//!
//! Each one passes straight through for an untracked descriptor or one
//! the caller made non-blocking (one table lookup), and otherwise runs
//! [`transfer`] (see the module docs of `hook`).

use std::time::{Duration, Instant};

use libc::{c_int, c_uint, c_void, iovec, msghdr, off_t, size_t, sockaddr, socklen_t, ssize_t};

use super::park::{self, Mode, READ, WRITE, Wait, ctx, errno, set_errno, transfer};
use super::real;
use super::table::{self, ADOPTED, NONBLOCK, NOPOLL, SOCKET, STREAM};

/// `read(2)`, parking the coro while a blocking descriptor has no data.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    transfer(fd, READ, Mode::Once, move |_| unsafe {
        real::read(fd, buf, n)
    })
}

/// `readv(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    transfer(fd, READ, Mode::Once, move |_| unsafe {
        real::readv(fd, iov, cnt)
    })
}

/// `recv(2)`. `MSG_DONTWAIT` passes straight through; `MSG_WAITALL`
/// waits for the whole buffer (or end of stream, an error, the timeout) on
/// a stream socket, and takes one datagram on any other.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn recv(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
) -> ssize_t {
    if flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::recv(fd, buf, n, flags) };
    }
    let mode = if flags & libc::MSG_WAITALL != 0 {
        Mode::Whole(n)
    } else {
        Mode::Once
    };
    // SAFETY: `done <= n` bytes of `buf` were filled; the rest is passed on.
    transfer(fd, READ, mode, move |done| unsafe {
        real::recv(fd, buf.cast::<u8>().add(done).cast(), n - done, flags)
    })
}

/// `recvfrom(2)` (as `recv`: one datagram and its sender's address on a
/// datagram socket, `MSG_WAITALL` included).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    if flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::recvfrom(fd, buf, n, flags, addr, len) };
    }
    let mode = if flags & libc::MSG_WAITALL != 0 {
        Mode::Whole(n)
    } else {
        Mode::Once
    };
    // SAFETY: as in `recv`.
    transfer(fd, READ, mode, move |done| unsafe {
        real::recvfrom(
            fd,
            buf.cast::<u8>().add(done).cast(),
            n - done,
            flags,
            addr,
            len,
        )
    })
}

/// `recvmsg(2)`: returns on the first data (`MSG_WAITALL` included).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    if flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::recvmsg(fd, msg, flags) };
    }
    // SAFETY: the caller's arguments, passed on.
    transfer(fd, READ, Mode::Once, move |_| unsafe {
        real::recvmsg(fd, msg, flags)
    })
}

/// `write(2)`: on a byte stream, every byte is written before it returns
/// (or a short count on a timeout or an error after some were).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    // SAFETY: `done <= n` bytes of `buf` were written; the rest is passed on.
    transfer(fd, WRITE, Mode::Whole(n), move |done| unsafe {
        real::write(fd, buf.cast::<u8>().add(done).cast(), n - done)
    })
}

/// `writev(2)`: returns after the first progress (a short count is
/// possible, as `write_vectored` allows).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    transfer(fd, WRITE, Mode::Once, move |_| unsafe {
        real::writev(fd, iov, cnt)
    })
}

/// `send(2)`: as `write`; `MSG_DONTWAIT` passes straight through.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn send(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
) -> ssize_t {
    if flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::send(fd, buf, n, flags) };
    }
    // SAFETY: as in `write`.
    transfer(fd, WRITE, Mode::Whole(n), move |done| unsafe {
        real::send(fd, buf.cast::<u8>().add(done).cast(), n - done, flags)
    })
}

/// `sendto(2)`: as `send`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> ssize_t {
    if flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::sendto(fd, buf, n, flags, addr, len) };
    }
    // SAFETY: as in `write`.
    transfer(fd, WRITE, Mode::Whole(n), move |done| unsafe {
        real::sendto(
            fd,
            buf.cast::<u8>().add(done).cast(),
            n - done,
            flags,
            addr,
            len,
        )
    })
}

/// `sendmsg(2)`: returns after the first progress.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    if flags & libc::MSG_DONTWAIT != 0 {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::sendmsg(fd, msg, flags) };
    }
    // SAFETY: the caller's arguments, passed on.
    transfer(fd, WRITE, Mode::Once, move |_| unsafe {
        real::sendmsg(fd, msg, flags)
    })
}

/// `sendfile(2)` (std's `io::copy` from a file to a socket uses it): parks
/// while the socket's buffer is full.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn sendfile(
    out: c_int,
    inp: c_int,
    off: *mut off_t,
    n: size_t,
) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    transfer(out, WRITE, Mode::Once, move |_| unsafe {
        real::sendfile(out, inp, off, n)
    })
}

/// `sendfile64`: as `sendfile`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn sendfile64(
    out: c_int,
    inp: c_int,
    off: *mut off_t,
    n: size_t,
) -> ssize_t {
    // SAFETY: the caller's arguments, passed on.
    transfer(out, WRITE, Mode::Once, move |_| unsafe {
        real::sendfile64(out, inp, off, n)
    })
}

/// `splice(2)` (std's `io::copy` between sockets and pipes): parks on the
/// side that would block. `SPLICE_F_NONBLOCK` passes straight through.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn splice(
    inp: c_int,
    off_in: *mut i64,
    out: c_int,
    off_out: *mut i64,
    n: size_t,
    flags: c_uint,
) -> ssize_t {
    // SAFETY: the caller's arguments, passed on (every closure below).
    let op = || unsafe { real::splice(inp, off_in, out, off_out, n, flags) };
    if flags & libc::SPLICE_F_NONBLOCK != 0 {
        return op();
    }
    let blocking = |fd| table::tracked(fd).is_some_and(|r| r.flags() & (NONBLOCK | NOPOLL) == 0);
    match (blocking(inp), blocking(out)) {
        (false, false) => op(),
        (true, false) => transfer(inp, READ, Mode::Once, |_| op()),
        (false, true) => transfer(out, WRITE, Mode::Once, |_| op()),
        (true, true) => loop {
            // Either side may be the one that would block: ask the kernel
            // which, and wait for that one.
            let r = op();
            if !(r < 0 && errno() == libc::EAGAIN) {
                return r;
            }
            let mut p = [
                libc::pollfd {
                    fd: inp,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: out,
                    events: libc::POLLOUT,
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfds.
            unsafe { real::poll(p.as_mut_ptr(), 2, 0) };
            let c = ctx();
            let w = if p[1].revents == 0 {
                park::wait_fd(c.as_ref(), out, WRITE, None)
            } else if p[0].revents == 0 {
                park::wait_fd(c.as_ref(), inp, READ, None)
            } else {
                if let Some(c) = &c {
                    c.cede(std::panic::Location::caller());
                }
                Wait::Ready
            };
            if w == Wait::Interrupted {
                set_errno(c.map_or(libc::ECANCELED, |c| c.interrupt_errno()));
                return -1;
            }
        },
    }
}

/// `connect(2)`: parks until the connection is made (or fails, or the
/// send timeout passes: then `EINPROGRESS`, as the kernel says).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    match table::tracked(fd) {
        Some(rec) if rec.flags() & (NONBLOCK | NOPOLL) == 0 => {
            // SAFETY: the caller's address, as `connect` received it.
            unsafe { connect_slow(fd, rec, addr, len) }
        }
        // SAFETY: the caller's arguments, passed on.
        _ => unsafe { real::connect(fd, addr, len) },
    }
}

/// `connect` on a tracked blocking socket: parks (or waits in `poll`
/// where it cannot) until the connection is made, fails, or the send
/// timeout passes.
///
/// # Safety
/// `addr` points to `len` readable bytes of a socket address (the C
/// function's contract).
#[cold]
#[inline(never)]
unsafe fn connect_slow(
    fd: c_int,
    rec: &table::Rec,
    addr: *const sockaddr,
    len: socklen_t,
) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let op = || unsafe { real::connect(fd, addr, len) };
    let ns = rec.timeout_ns(false);
    let deadline = (ns != 0)
        .then(|| Instant::now().checked_add(Duration::from_nanos(ns)))
        .flatten();
    let c = ctx();
    if c.is_none() && rec.flags() & ADOPTED == 0 {
        return op();
    }
    if c.is_some() && !park::adopt(fd, rec) {
        return op();
    }
    let generation = rec.generation();
    loop {
        let r = op();
        if r == 0 {
            return 0;
        }
        let e = errno();
        if e != libc::EINPROGRESS && e != libc::EAGAIN && e != libc::EINTR {
            return -1;
        }
        if e != libc::EINTR {
            let w = park::wait_fd(c.as_ref(), fd, WRITE, deadline);
            match w {
                Wait::Ready => {}
                Wait::TimedOut => {
                    set_errno(if e == libc::EAGAIN {
                        libc::EAGAIN
                    } else {
                        libc::EINPROGRESS
                    });
                    return -1;
                }
                Wait::Interrupted => {
                    set_errno(c.map_or(libc::ECANCELED, |c| c.interrupt_errno()));
                    return -1;
                }
            }
            if rec.generation() != generation {
                set_errno(libc::EBADF);
                return -1;
            }
        }
        if e == libc::EINPROGRESS {
            // The connection attempt ended: how?
            let mut err: c_int = 0;
            let mut l = std::mem::size_of::<c_int>() as socklen_t;
            // SAFETY: SO_ERROR into a c_int of the given length.
            let r = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&mut err as *mut c_int).cast(),
                    &mut l,
                )
            };
            if r < 0 {
                return -1;
            }
            if err != 0 {
                set_errno(err);
                return -1;
            }
            return 0;
        }
        // EAGAIN (a Unix socket's full backlog) or EINTR: try again.
    }
}

/// Records a descriptor `accept` made: a stream socket of the listener's
/// kind, non-blocking in the caller's view if asked with `SOCK_NONBLOCK`.
fn accepted(listener: c_int, fd: c_int, flags: c_int) {
    if fd < 0 || park::FORKED.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let kind = table::tracked(listener).map_or(STREAM, |r| r.flags() & STREAM);
    let nb = if flags & libc::SOCK_NONBLOCK != 0 {
        NONBLOCK
    } else {
        0
    };
    if let Some(r) = table::get_or_map(fd) {
        r.init(SOCKET | kind | nb);
    }
}

/// `accept(2)`: parks until a connection comes (or the receive timeout).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn accept(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let r = transfer(fd, READ, Mode::Once, move |_| unsafe {
        real::accept(fd, addr, len) as isize
    });
    let saved = errno();
    accepted(fd, r as c_int, 0);
    set_errno(saved);
    r as c_int
}

/// `accept4(2)` (std's `TcpListener::accept`).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let r = transfer(fd, READ, Mode::Once, move |_| unsafe {
        real::accept4(fd, addr, len, flags) as isize
    });
    let saved = errno();
    accepted(fd, r as c_int, flags);
    set_errno(saved);
    r as c_int
}

/// `__read_chk`, what `read` becomes in C built with `_FORTIFY_SOURCE`:
/// glibc's own calls an internal `read` that no hook sees.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
) -> ssize_t {
    if n > buflen {
        // SAFETY: glibc reports the overflow and aborts.
        return unsafe { real::__read_chk(fd, buf, n, buflen) };
    }
    // SAFETY: as for `read`.
    unsafe { read(fd, buf, n) }
}

/// `__recv_chk` (`_FORTIFY_SOURCE`'s `recv`).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    if n > buflen {
        // SAFETY: glibc reports the overflow and aborts.
        return unsafe { real::__recv_chk(fd, buf, n, buflen, flags) };
    }
    // SAFETY: as for `recv`.
    unsafe { recv(fd, buf, n, flags) }
}

/// `__recvfrom_chk` (`_FORTIFY_SOURCE`'s `recvfrom`).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    if n > buflen {
        // SAFETY: glibc reports the overflow and aborts.
        return unsafe { real::__recvfrom_chk(fd, buf, n, buflen, flags, addr, len) };
    }
    // SAFETY: as for `recvfrom`.
    unsafe { recvfrom(fd, buf, n, flags, addr, len) }
}
