//! [`Io`]: a corio stream as tokio's, futures' and hyper's async I/O.
//!
//! # How a poll waits
//!
//! A poll tries the system call at once when the descriptor is believed
//! ready (the reactor's readiness bit for that direction; see
//! `io::reg`), and otherwise goes straight to waiting. Waiting has two
//! paths:
//!
//! - **Through the frame.** When the waker is that of the
//!   [`block_on`](crate::block_on) running on the current coro — the case
//!   for everything [`Executor`](super::Executor) and
//!   [`Http`](super::Http) run, and for a plain `block_on` — the poll
//!   links a wait node of that `block_on`'s frame into the descriptor's
//!   wait list. An edge readies the coro straight from the reactor: no
//!   waker clone, no allocation, no atomic operation.
//! - **Through the waker.** Any other waker (a combinator's own, like
//!   `FuturesUnordered`'s) is kept by the `Io`, and a small helper coro
//!   waits for the descriptor and wakes it. The helper is made once per
//!   wait and cancelled when the `Io` is dropped.
//!
//! # Invariants
//! - `foreign[d]`, when `Some`, is shared with at most one live helper
//!   coro (`Foreign::helper`), which waits on the `IoState` of `inner`'s
//!   registration (kept alive by its own `Rc`) and is cancelled by `Drop`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker, ready};
use std::time::Instant;

use super::framing::Framing;
use super::rt::Sleep;
use crate::JoinHandle;
use crate::io::reg::{Behaviour, READ, Registration, WRITE, wait_state};
use crate::net::{Shutdown, TcpStream, UnixStream};

/// The streams [`Io`] can wrap: [`TcpStream`], [`UnixStream`], and shared
/// references to either. Sealed: corio implements it for its own streams.
pub trait Stream: private::Sealed + Unpin {}

// Names crate-private types: the trait cannot be named outside the crate.
#[allow(private_interfaces)]
mod private {
    /// What `Io` needs from a stream.
    pub trait Sealed {
        fn registration(&self) -> &crate::io::reg::Registration;
        fn behaviour(&self) -> &crate::io::reg::Behaviour;
        fn shutdown_write(&self) -> std::io::Result<()>;
    }
}

// The sealed trait's methods name crate-private types: the trait cannot be
// named outside the crate, so they are not reachable from outside.
macro_rules! stream {
    ($t:ty) => {
        stream!(@for $t, $t);
        stream!(@for $t, &$t);
    };
    (@for $t:ty, $for:ty) => {
        #[allow(private_interfaces)]
        impl private::Sealed for $for {
            #[inline]
            fn registration(&self) -> &Registration {
                <$t>::registration(self)
            }
            #[inline]
            fn behaviour(&self) -> &Behaviour {
                <$t>::behaviour(self)
            }
            fn shutdown_write(&self) -> io::Result<()> {
                <$t>::shutdown(self, Shutdown::Write)
            }
        }
        impl Stream for $for {}
    };
}

stream!(TcpStream);
stream!(UnixStream);

/// A waker that is not a corio `block_on`'s, and the helper coro that
/// wakes it.
struct Foreign {
    waker: RefCell<Option<Waker>>,
    helper: RefCell<Option<JoinHandle<()>>>,
}

/// A corio stream ([`TcpStream`], [`UnixStream`], or a `&` of either) as
/// async I/O: `tokio::io::{AsyncRead, AsyncWrite}`,
/// `futures_io::{AsyncRead, AsyncWrite}` and `hyper::rt::{Read, Write}`,
/// driven by corio's reactor — no tokio runtime.
///
/// Poll it from a future that corio drives: [`block_on`](crate::block_on),
/// the [`Executor`](super::Executor), or a connection served by
/// [`Http`](super::Http). A read or write tries the system call directly;
/// when the kernel says it would block, the coro running that `block_on`
/// waits for the descriptor (other coros run meanwhile). The stream's
/// [`set_read_timeout`](TcpStream::set_read_timeout) and
/// [`set_write_timeout`](TcpStream::set_write_timeout) apply: a read (or
/// write) that waits longer than that without progress fails with
/// `TimedOut`.
///
/// # Examples
///
/// ```
/// use corio::compat::Io;
/// use corio::net::{TcpListener, TcpStream};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let echo = corio::spawn(move || {
///     let (conn, _) = listener.accept().unwrap();
///     let mut io = Io::new(conn);
///     corio::block_on(async move {
///         let mut buf = [0; 5];
///         io.read_exact(&mut buf).await.unwrap();
///         io.write_all(&buf).await.unwrap();
///     });
/// });
/// let mut io = Io::new(TcpStream::connect(addr).unwrap());
/// let reply = corio::block_on(async {
///     io.write_all(b"hello").await.unwrap();
///     let mut reply = String::new();
///     io.read_to_string(&mut reply).await.unwrap();
///     reply
/// });
/// assert_eq!(reply, "hello");
/// echo.join().unwrap();
/// ```
///
/// # Switching
///
/// Polling never switches coros; the `block_on` that polls it suspends its
/// coro while the poll is pending.
pub struct Io<T> {
    inner: T,
    /// Per direction (read, write): the waker of a foreign poll.
    foreign: [Option<Rc<Foreign>>; 2],
    /// Per direction: when the current wait started (for the timeouts).
    since: [Cell<Option<Instant>>; 2],
}

impl<T: fmt::Debug> fmt::Debug for Io<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Io").field("inner", &self.inner).finish()
    }
}

impl<T: Stream> Io<T> {
    /// Wraps `inner`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::compat::Io;
    /// let (a, _b) = corio::net::UnixStream::pair().unwrap();
    /// let io = Io::new(&a); // a reference works too
    /// assert!(std::ptr::eq(*io.get_ref(), &a));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn new(inner: T) -> Io<T> {
        Io {
            inner,
            foreign: [None, None],
            since: [Cell::new(None), Cell::new(None)],
        }
    }
}

impl<T> Io<T> {
    /// The wrapped stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = corio::net::UnixStream::pair().unwrap();
    /// let io = corio::compat::Io::new(a);
    /// assert!(io.get_ref().peer_addr().is_ok());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = corio::net::UnixStream::pair().unwrap();
    /// let mut io = corio::compat::Io::new(a);
    /// io.get_mut().set_nonblocking(false).unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream (any wait in progress is abandoned).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (a, b) = corio::net::UnixStream::pair().unwrap();
    /// let mut a = corio::compat::Io::new(a).into_inner();
    /// a.write_all(b"x").unwrap();
    /// let mut buf = [0; 1];
    /// (&b).read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"x");
    /// ```
    ///
    /// # Switching
    ///
    /// May suspend the current coro, to cancel a helper coro waiting for a
    /// foreign waker (see the module docs).
    pub fn into_inner(mut self) -> T {
        self.cancel_helpers();
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again, so `inner` is moved
        // out exactly once; the other fields own nothing any more (the
        // helpers were taken and cancelled just above; `since` is plain
        // data).
        unsafe { std::ptr::read(&me.inner) }
    }

    fn cancel_helpers(&mut self) {
        for f in self.foreign.iter_mut().filter_map(Option::take) {
            let h = f.helper.borrow_mut().take();
            if let Some(h) = h
                && crate::sched::try_sched().is_some()
            {
                h.cancel();
            }
        }
    }
}

impl<T> Drop for Io<T> {
    fn drop(&mut self) {
        self.cancel_helpers();
    }
}

/// Direction index into `Io`'s per-direction arrays.
fn ix(dir: u8) -> usize {
    usize::from(dir == WRITE)
}

impl<T: Stream> Io<T> {
    /// Runs `op` (a non-blocking system call on the descriptor) when the
    /// descriptor may be ready for `dir`; when it would block, arranges to
    /// be woken and returns `Pending`.
    #[inline]
    fn poll_io<R>(
        &mut self,
        cx: &mut Context<'_>,
        dir: u8,
        mut op: impl FnMut(RawFd) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let reg = self.inner.registration();
        let since = &self.since[ix(dir)];
        loop {
            if reg.is_ready(dir) {
                match op(reg.fd()) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => reg.clear(dir),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => {
                        since.set(None);
                        return Poll::Ready(r);
                    }
                }
            }
            break;
        }
        let deadline = match self.inner.behaviour().timeout(dir) {
            None => None,
            Some(t) => {
                let now = Instant::now();
                let start = *since.get().get_or_insert(now);
                since.set(Some(start));
                match start.checked_add(t) {
                    Some(d) if d <= now => {
                        since.set(None);
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            if dir == READ {
                                "timed out waiting to read"
                            } else {
                                "timed out waiting to write"
                            },
                        )));
                    }
                    d => d,
                }
            }
        };
        if let Some(frame) = crate::future::frame_of(cx)
            && frame.wait_io(reg.state(), dir)
        {
            if let Some(d) = deadline {
                frame.wake_at(d);
            }
            return Poll::Pending;
        }
        let slot = &mut self.foreign[ix(dir)];
        match wait_foreign(slot, reg, dir, deadline, cx.waker()) {
            Ok(()) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Reads into hyper's cursor (see [`poll_read_uninit`](Self::poll_read_uninit));
    /// the bytes read are the cursor's, and shown to `seen` first. Returns
    /// how many.
    fn poll_read_cursor(
        &mut self,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
        seen: impl FnOnce(&[u8]),
    ) -> Poll<io::Result<usize>> {
        // SAFETY: only initialised bytes are written into the cursor's
        // unfilled part (recv(2) writes bytes).
        let dst = unsafe { buf.as_mut() };
        let n = ready!(self.poll_read_uninit(cx, dst))?;
        // SAFETY: recv(2) initialised the first `n` bytes of `dst` (`n` is
        // at most its length); they stay borrowed only for the call.
        seen(unsafe { std::slice::from_raw_parts(dst.as_ptr().cast::<u8>(), n) });
        // SAFETY: recv(2) initialised the first `n` bytes.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(n))
    }

    /// Reads into `buf`, marking the direction drained after a short read.
    fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        let len = buf.len();
        let n = ready!(self.poll_io(cx, READ, |fd| sys_recv(fd, buf)))?;
        if n > 0 && n < len {
            self.inner.registration().drained(READ);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_bytes(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let n = ready!(self.poll_io(cx, WRITE, |fd| sys_send(fd, buf)))?;
        if n < buf.len() {
            self.inner.registration().drained(WRITE);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_iov(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let bufs = &bufs[..bufs.len().min(IOV_MAX)];
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        let n = if len <= FLATTEN_MAX {
            ready!(self.poll_io(cx, WRITE, |fd| sys_send_flat(fd, bufs)))?
        } else {
            ready!(self.poll_io(cx, WRITE, |fd| sys_sendmsg(fd, bufs)))?
        };
        if n < len {
            self.inner.registration().drained(WRITE);
        }
        Poll::Ready(Ok(n))
    }

    fn shutdown_write(&self) -> Poll<io::Result<()>> {
        match self.inner.shutdown_write() {
            // Already shut down or reset by the peer: nothing left to close.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            r => Poll::Ready(r),
        }
    }
}

/// Arranges for `waker` to be woken when `reg` is ready for `dir` (or at
/// `deadline`), through a helper coro.
fn wait_foreign(
    slot: &mut Option<Rc<Foreign>>,
    reg: &Registration,
    dir: u8,
    deadline: Option<Instant>,
    waker: &Waker,
) -> io::Result<()> {
    let f = slot.get_or_insert_with(|| {
        Rc::new(Foreign {
            waker: RefCell::new(None),
            helper: RefCell::new(None),
        })
    });
    {
        let mut w = f.waker.borrow_mut();
        match &mut *w {
            Some(old) if old.will_wake(waker) => {}
            old => *old = Some(waker.clone()),
        }
    }
    if f.helper.borrow().as_ref().is_some_and(|h| !h.is_finished()) {
        return Ok(());
    }
    let state = reg.state().clone();
    let fd = reg.fd();
    let shared = f.clone();
    let h = crate::Builder::new()
        .name("compat::Io waker")
        .spawn(move || {
            // A timeout only ends the wait: the poll reports it.
            let _ = wait_state(&state, fd, dir, deadline);
            let w = shared.waker.borrow_mut().take();
            if let Some(w) = w {
                w.wake();
            }
        })?;
    *f.helper.borrow_mut() = Some(h);
    Ok(())
}

/// Most buffers one `sendmsg` takes (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// `recv(2)` into `buf`. The same as `read(2)` on a socket (the only
/// descriptors [`Stream`]s have), without the VFS layer's detour: a few
/// percent of the kernel's cost of a small request.
fn sys_recv(fd: RawFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes, and recv(2)
    // writes at most that many (writing initialised bytes into
    // `MaybeUninit` memory is always allowed).
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `send(2)` of `buf`, without `SIGPIPE` on a closed connection.
fn sys_send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Vectored writes of at most this many bytes in all are copied into one
/// buffer and sent with `send(2)` (see [`sys_send_flat`]).
const FLATTEN_MAX: usize = 2048;

/// `send(2)` of `bufs` copied one after the other into a buffer on the
/// stack, at most [`FLATTEN_MAX`] bytes in all, without `SIGPIPE`.
///
/// Cheaper than `sendmsg(2)` of the slices for small writes: a hyper
/// answer is a head and a body, two slices, and the kernel's cost of
/// importing and walking a second `iovec` is above a copy's. On loopback
/// TCP, 200 bytes of head and 100 to 2,000 of body, one send then costs
/// 130-170 ns less than `sendmsg` of the two (about 2.5 % of a whole hyper
/// hello request), and `writev`, which tokio uses, costs 80 ns more than
/// `sendmsg`.
///
/// # Panics
/// If the slices hold more than [`FLATTEN_MAX`] bytes.
#[inline(never)]
fn sys_send_flat(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let mut flat = [MaybeUninit::<u8>::uninit(); FLATTEN_MAX];
    let mut at = 0;
    for b in bufs {
        let to = &mut flat[at..at + b.len()];
        // SAFETY: `to` has exactly `b.len()` elements, and `MaybeUninit<u8>`
        // has `u8`'s layout; `b` is valid for reads of `b.len()` bytes; a
        // stack buffer and the caller's slices do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), to.as_mut_ptr().cast::<u8>(), b.len()) };
        at += b.len();
    }
    // SAFETY: the first `at` bytes of `flat` were initialised above, and
    // `MaybeUninit<u8>` has `u8`'s layout.
    sys_send(fd, unsafe {
        std::slice::from_raw_parts(flat.as_ptr().cast::<u8>(), at)
    })
}

/// `sendmsg(2)` of `bufs` (at most [`IOV_MAX`]), without `SIGPIPE`.
fn sys_sendmsg(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero `msghdr` is valid (null name and control).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is guaranteed ABI-compatible with `iovec` on Unix; the
    // kernel only reads through `msg_iov`.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len() as _;
    // SAFETY: `msg` points at `bufs.len()` valid iovecs, each valid for
    // reads of its length, for the duration of the call.
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Implements one of the async-write traits (tokio's, futures' or hyper's:
/// the same methods but for the name of the one that shuts the write side
/// down, and whether `is_write_vectored` exists) with `Io`'s inherent
/// methods.
macro_rules! async_write {
    ($trait:path, $shutdown:ident $(, $is_write_vectored:ident)?) => {
        impl<T: Stream> $trait for Io<T> {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().poll_write_bytes(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().poll_write_iov(cx, bufs)
            }

            $(
                fn $is_write_vectored(&self) -> bool {
                    true
                }
            )?

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                // Nothing is buffered.
                Poll::Ready(Ok(()))
            }

            fn $shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.shutdown_write()
            }
        }
    };
}

impl<T: Stream> tokio::io::AsyncRead for Io<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // SAFETY: `poll_read_uninit` only writes initialised bytes (it never
        // de-initialises any), so the `ReadBuf`'s contract holds.
        let dst = unsafe { buf.unfilled_mut() };
        let n = ready!(this.poll_read_uninit(cx, dst))?;
        // SAFETY: recv(2) initialised the first `n` bytes of the unfilled
        // part.
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

async_write!(tokio::io::AsyncWrite, poll_shutdown, is_write_vectored);

impl<T: Stream> futures_io::AsyncRead for Io<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let len = buf.len();
        // SAFETY: a `[u8]` is a valid `[MaybeUninit<u8>]`, and only
        // initialised bytes are written through it (recv(2) writes bytes).
        let dst = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast(), len) };
        self.get_mut().poll_read_uninit(cx, dst)
    }
}

async_write!(futures_io::AsyncWrite, poll_close);

impl<T: Stream> hyper::rt::Read for Io<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.get_mut().poll_read_cursor(cx, buf, |_| {}))?;
        Poll::Ready(Ok(()))
    }
}

async_write!(hyper::rt::Write, poll_shutdown, is_write_vectored);

/// An [`Io`] whose reads fail once a request body's deadline has passed:
/// what [`Http`](super::Http) serves a connection through.
///
/// `deadline` is set by the service wrapper while a request with a body
/// is being handled. Past it, a read that *brings bytes* fails with
/// `TimedOut` (a body trickled a byte at a time cannot stretch the request
/// for ever), and so does a read that waits while the stream is inside a
/// body — as [`Framing`] follows the bytes read — so a body that stops
/// arriving altogether is cut at its deadline too. A read that waits once
/// the body is complete is not cut: hyper also reads while a slow handler
/// works, to see the client hang up, and that must not fail. (hyper reads
/// a body only while the handler asks for it, so a handler that does not
/// read its body is never cut either.)
pub(super) struct Deadlined<T> {
    pub(super) io: Io<T>,
    pub(super) deadline: Rc<Cell<Option<Instant>>>,
    pub(super) framing: Framing,
    /// Wakes a read that waits inside a body at its deadline.
    pub(super) stall: Option<(Instant, Pin<Box<Sleep>>)>,
}

impl<T> Deadlined<T> {
    pub(super) fn new(io: Io<T>, deadline: Rc<Cell<Option<Instant>>>) -> Deadlined<T> {
        Deadlined {
            io,
            deadline,
            framing: Framing::default(),
            stall: None,
        }
    }
}

impl<T: Stream> hyper::rt::Read for Deadlined<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(deadline) = this.deadline.get() else {
            this.stall = None;
            let framing = &mut this.framing;
            ready!(this.io.poll_read_cursor(cx, buf, |b| framing.feed(b)))?;
            return Poll::Ready(Ok(()));
        };
        if this.framing.in_body() && Instant::now() >= deadline {
            return Poll::Ready(Err(stalled()));
        }
        let framing = &mut this.framing;
        match this.io.poll_read_cursor(cx, buf, |b| framing.feed(b)) {
            Poll::Ready(Ok(n)) if n > 0 && Instant::now() >= deadline => {
                // The bytes are in hyper's buffer, but the error ends the
                // connection before it parses them.
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request body was still arriving at its deadline",
                )))
            }
            Poll::Ready(r) => Poll::Ready(r.map(drop)),
            Poll::Pending if this.framing.in_body() => {
                // Waiting for more of the body: wake at the deadline, when
                // hyper's next read fails.
                if this.stall.as_ref().is_none_or(|(d, _)| *d != deadline) {
                    this.stall = Some((deadline, Box::pin(Sleep::until(deadline))));
                }
                if let Some((_, sleep)) = this.stall.as_mut()
                    && sleep.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(stalled()));
                }
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A body that stopped arriving before its deadline.
fn stalled() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the request body stopped arriving before its deadline",
    )
}

impl<T: Stream> hyper::rt::Write for Deadlined<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io.poll_write_bytes(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io.poll_write_iov(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.shutdown_write()
    }
}
