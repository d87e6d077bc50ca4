//! A descriptor's registration with the scheduler's reactor, and the loop
//! every corio I/O call runs: try the system call; if it would block, park
//! the coro until the descriptor is ready; try again.

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::panic::Location;
use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::sched::reactor::IoState;
pub(crate) use crate::sched::reactor::{READ, WRITE};
use crate::sched::timer::Action;
use crate::sched::wait::WaitNode;
use crate::sched::{Scheduler, sched, try_sched};

/// How a blocking call behaves, as set on the socket or handle (shared by
/// its clones, like the socket options they stand for).
#[derive(Debug, Default)]
pub(crate) struct Behaviour {
    /// `set_nonblocking(true)`: return `WouldBlock` instead of waiting.
    pub(crate) nonblocking: Cell<bool>,
    pub(crate) read_timeout: Cell<Option<Duration>>,
    pub(crate) write_timeout: Cell<Option<Duration>>,
}

impl Behaviour {
    /// The timeout for `dir`.
    #[inline]
    pub(crate) fn timeout(&self, dir: u8) -> Option<Duration> {
        if dir == READ {
            self.read_timeout.get()
        } else {
            self.write_timeout.get()
        }
    }

    /// `set_read_timeout` / `set_write_timeout`: `Some(ZERO)` is refused,
    /// as std refuses it.
    pub(crate) fn set_timeout(&self, dir: u8, t: Option<Duration>) -> io::Result<()> {
        if t == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        if dir == READ {
            self.read_timeout.set(t);
        } else {
            self.write_timeout.set(t);
        }
        Ok(())
    }
}

/// The socket types that are tokio-console resources (feature `tracing`):
/// each one's waits for readiness show as async ops of its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SocketType {
    TcpStream,
    TcpListener,
    UdpSocket,
    UnixStream,
    UnixListener,
}

#[cfg(feature = "tracing")]
impl SocketType {
    /// The console resource kind of a wait for readiness to read (`read`)
    /// or write, and the wait's name.
    fn op(self, read: bool) -> (&'static crate::spans::Kind, &'static str) {
        use crate::spans::{TCP_LISTENER, TCP_STREAM, UDP_SOCKET, UNIX_LISTENER, UNIX_STREAM};
        match (self, read) {
            (SocketType::TcpStream, true) => (&TCP_STREAM, "TcpStream::readable"),
            (SocketType::TcpStream, false) => (&TCP_STREAM, "TcpStream::writable"),
            (SocketType::TcpListener, _) => (&TCP_LISTENER, "TcpListener::accept"),
            (SocketType::UdpSocket, true) => (&UDP_SOCKET, "UdpSocket::readable"),
            (SocketType::UdpSocket, false) => (&UDP_SOCKET, "UdpSocket::writable"),
            (SocketType::UnixStream, true) => (&UNIX_STREAM, "UnixStream::readable"),
            (SocketType::UnixStream, false) => (&UNIX_STREAM, "UnixStream::writable"),
            (SocketType::UnixListener, _) => (&UNIX_LISTENER, "UnixListener::accept"),
        }
    }
}

/// One registered descriptor. Must be dropped before the descriptor is
/// closed (owners declare it first, so it is dropped first).
#[derive(Debug)]
pub(crate) struct Registration {
    state: Rc<IoState>,
    token: mio::Token,
    fd: RawFd,
    /// Feature `tracing`: the socket it is, where it was made (bound,
    /// connected, accepted), and its resource once waited on.
    #[cfg(feature = "tracing")]
    socket: Option<(
        SocketType,
        Cell<&'static Location<'static>>,
        crate::spans::Resource,
    )>,
}

impl Registration {
    /// Registers `fd` with this thread's reactor (made on first use).
    ///
    /// # Errors
    /// When the reactor cannot be made (out of descriptors) or epoll
    /// refuses `fd` (`EPERM` for regular files and directories).
    pub(crate) fn new(fd: RawFd, interest: mio::Interest) -> io::Result<Registration> {
        let (token, state) = sched().reactor()?.register(fd, interest)?;
        Ok(Registration {
            state,
            token,
            fd,
            #[cfg(feature = "tracing")]
            socket: None,
        })
    }

    /// [`new`](Registration::new) for a socket of type `socket`, made by
    /// the caller: with the feature `tracing`, a tokio-console resource
    /// located there, whose async ops are the blocking calls' waits for
    /// readiness (made at the first wait).
    #[track_caller]
    pub(crate) fn socket(
        fd: RawFd,
        interest: mio::Interest,
        socket: SocketType,
    ) -> io::Result<Registration> {
        #[cfg_attr(not(feature = "tracing"), allow(unused_mut))]
        let mut reg = Registration::new(fd, interest)?;
        #[cfg(feature = "tracing")]
        {
            let at = Cell::new(Location::caller());
            reg.socket = Some((socket, at, crate::spans::Resource::new()));
        }
        #[cfg(not(feature = "tracing"))]
        let _ = socket;
        Ok(reg)
    }

    /// The socket was made at `loc` (for constructors whose call chain
    /// passes a closure, which loses the caller's location).
    #[inline]
    pub(crate) fn made_at(&self, loc: &'static Location<'static>) {
        #[cfg(feature = "tracing")]
        if let Some((_, at, _)) = &self.socket {
            at.set(loc);
        }
        #[cfg(not(feature = "tracing"))]
        let _ = loc;
    }

    /// The readiness and wait lists this registration shares with the
    /// reactor (for waiters outside a blocking call: `compat`).
    #[cfg_attr(not(feature = "compat"), allow(dead_code))]
    #[inline]
    pub(crate) fn state(&self) -> &Rc<IoState> {
        &self.state
    }

    /// The registered descriptor.
    #[cfg_attr(not(feature = "compat"), allow(dead_code))]
    #[inline]
    pub(crate) fn fd(&self) -> RawFd {
        self.fd
    }

    /// Whether `dir` is (believed) ready.
    #[inline]
    pub(crate) fn is_ready(&self, dir: u8) -> bool {
        self.state.is_ready(dir)
    }

    /// Marks `dir` not ready: the kernel said it would block.
    #[inline]
    pub(crate) fn clear(&self, dir: u8) {
        self.state.clear(dir);
    }

    /// Marks `dir` not ready after a short read (the kernel buffer is
    /// drained) or a short write (it is full), unless the descriptor was
    /// reported closed: end-of-stream and errors come with no new edge.
    #[inline]
    pub(crate) fn drained(&self, dir: u8) {
        self.state.drained(dir);
    }

    /// Runs `op` until it does not fail with `WouldBlock` (or
    /// `Interrupted`), parking the coro until `dir` is ready between tries.
    /// With `how.nonblocking` the `WouldBlock` is returned instead; with a
    /// timeout for `dir`, waiting longer than that in total fails with
    /// `TimedOut`.
    #[inline]
    #[track_caller]
    pub(crate) fn io<R>(
        &self,
        dir: u8,
        how: &Behaviour,
        op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        self.io_inner(dir, how, false, op)
    }

    /// [`io`](Registration::io) for a read into `len` bytes of buffer: a
    /// short read drained the kernel buffer, so it marks [`READ`]
    /// [`drained`](Registration::drained) (the next data brings a new edge).
    #[inline]
    #[track_caller]
    pub(crate) fn read(
        &self,
        how: &Behaviour,
        len: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        let n = self.io(READ, how, op)?;
        if n > 0 && n < len {
            self.drained(READ);
        }
        Ok(n)
    }

    /// [`io`](Registration::io) for a write of `len` bytes: a short write
    /// filled the kernel buffer, so it marks [`WRITE`] drained.
    #[inline]
    #[track_caller]
    pub(crate) fn write(
        &self,
        how: &Behaviour,
        len: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        let n = self.io(WRITE, how, op)?;
        if n < len {
            self.drained(WRITE);
        }
        Ok(n)
    }

    /// As [`io`](Registration::io), but `op` runs on every round whatever
    /// the readiness bit says: for operations that check readiness
    /// themselves (a zero-timeout `poll` on a shared descriptor), where
    /// the descriptor can stay ready with no edge to say so.
    #[inline]
    #[track_caller]
    pub(crate) fn io_level<R>(
        &self,
        dir: u8,
        how: &Behaviour,
        op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        self.io_inner(dir, how, true, op)
    }

    #[inline(always)]
    #[track_caller]
    fn io_inner<R>(
        &self,
        dir: u8,
        how: &Behaviour,
        level: bool,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        crate::sched::enter_blocking();
        let mut deadline = None;
        loop {
            // In non-blocking mode the kernel decides: an event may be in
            // flight that no poll has reported yet. A level-checked
            // operation always asks the kernel.
            if level || self.state.is_ready(dir) || how.nonblocking.get() {
                match op() {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.state.clear(dir),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => return r,
                }
            }
            if how.nonblocking.get() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if deadline.is_none()
                && let Some(t) = how.timeout(dir)
            {
                // A timeout beyond the clock's range never comes.
                deadline = Instant::now().checked_add(t);
            }
            self.wait(dir, deadline)?;
        }
    }

    /// Parks the current coro until `dir` is ready (at once if it is), or
    /// until `deadline`: then `TimedOut`.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out meanwhile.
    #[track_caller]
    pub(crate) fn wait(&self, dir: u8, deadline: Option<Instant>) -> io::Result<()> {
        #[cfg(feature = "tracing")]
        if let Some((socket, at, res)) = &self.socket
            && !self.state.is_ready(dir)
        {
            let read = dir == READ;
            let op = crate::spans::socket_wait(res, socket.op(read), self.fd, read, at.get());
            let r = wait_state(&self.state, self.fd, dir, deadline);
            if let (Some(op), Ok(())) = (op, &r) {
                op.ready(|| {});
            }
            return r;
        }
        wait_state(&self.state, self.fd, dir, deadline)
    }
}

/// [`Registration::wait`] on the state of a registration (which the caller
/// keeps alive); `fd` is only shown by `ps`.
#[track_caller]
pub(crate) fn wait_state(
    state: &IoState,
    fd: RawFd,
    dir: u8,
    deadline: Option<Instant>,
) -> io::Result<()> {
    let loc = Location::caller();
    let (s, me) = crate::sched::enter_blocking();
    if state.is_ready(dir) {
        return Ok(());
    }
    let list = state.waiters(dir);
    let node = pin!(WaitNode::new(me));
    let timer = deadline.map(|d| s.timers.arm(d, Action::Ready(me)));
    let _counted = IoWaiting::enter(s);
    loop {
        list.push_back(node.as_ref());
        crate::sched::count_syscall_park(s);
        s.park_on(loc, crate::sched::inner::What::Fd(fd, dir));
        if state.is_ready(dir) {
            list.remove(&node);
            return Ok(());
        }
        if timer.as_ref().is_some_and(|t| t.fired()) {
            list.remove(&node);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                if dir == READ {
                    "timed out waiting to read"
                } else {
                    "timed out waiting to write"
                },
            ));
        }
        // Spuriously readied (the node kept its place), or woken by an
        // event that another coro's call used up: wait again.
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // A descriptor dropped after its thread's scheduler is gone: the
        // poll set went with it.
        if let Some(r) = try_sched().and_then(Scheduler::reactor_if_made) {
            r.deregister(self.fd, self.token);
        }
    }
}

/// Counts a coro parked on a descriptor, for the deadlock check: while one
/// is, an idle scheduler waits for events instead of reporting.
pub(crate) struct IoWaiting(&'static Scheduler);

impl IoWaiting {
    pub(crate) fn enter(s: &'static Scheduler) -> IoWaiting {
        s.io_waiters.set(s.io_waiters.get() + 1);
        IoWaiting(s)
    }
}

impl Drop for IoWaiting {
    fn drop(&mut self) {
        self.0.io_waiters.set(self.0.io_waiters.get() - 1);
    }
}
