//! Blocking-style I/O on any pollable file descriptor: reading and writing
//! park the current coro, never the thread (Perl's `Coro::Handle`).
//!
//! - [`Handle`] wraps a descriptor you own (a pipe, a tty, a socket of
//!   another library, a child process's stdout) and implements
//!   [`Read`] and [`Write`].
//! - [`stdin`], [`stdout`] and [`stderr`] give handles on the process's
//!   standard streams that leave their blocking mode alone (the terminal
//!   is shared with the shell).
//! - [`readable`] and [`writable`] wait for the readiness of a raw
//!   descriptor, for code that does its own system calls.
//!
//! Sockets have their own types in [`corio::net`](crate::net).
//!
//! # How waiting works
//!
//! A descriptor is registered once with the thread's reactor (epoll,
//! through `mio`), edge-triggered. A call tries the system call first; if
//! the kernel says it would block, the coro parks until the descriptor is
//! ready and tries again. When no coro is ready the scheduler waits in
//! `epoll_pwait2` (`epoll_wait` on kernels before 5.11), with the nearest
//! timer as its timeout.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::os::fd::OwnedFd;
//!
//! let (r, w) = std::io::pipe().unwrap();
//! let mut reader = corio::io::Handle::new(OwnedFd::from(r)).unwrap();
//! let mut writer = corio::io::Handle::new(OwnedFd::from(w)).unwrap();
//!
//! // The reader parks until the writer coro has written.
//! let h = corio::spawn(move || writer.write_all(b"hello").unwrap());
//! let mut buf = [0; 5];
//! reader.read_exact(&mut buf).unwrap();
//! assert_eq!(&buf, b"hello");
//! h.join().unwrap();
//! ```

pub(crate) mod reg;

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use reg::{Behaviour, READ, Registration, WRITE};

/// Most bytes written at once to a shared pipe or tty: a pipe that polls
/// writable has room for this many without blocking.
const SHARED_WRITE_MAX: usize = 4096;

/// A file descriptor whose reads and writes park the current coro instead
/// of blocking the thread.
///
/// `Handle` is not `Send`: it stays on the thread that made it (its
/// descriptor is registered with that thread's reactor). Moving it to another
/// thread fails to compile with an error naming a private field,
/// `Rc<corio::sched::reactor::IoState>`; take the descriptor out with
/// [`into_inner`](Handle::into_inner), send that, and wrap it anew there.
///
/// Made by [`Handle::new`] (which puts the descriptor in non-blocking
/// mode) or by [`stdin`], [`stdout`] and [`stderr`] (which do not: they
/// check readiness before each call instead). A descriptor that epoll
/// cannot watch — a regular file, a directory — is accepted too, and is
/// simply always ready: its calls run directly (use
/// [`corio::fs`](crate) for files when that is too slow).
///
/// `Read` and `Write` are implemented for `Handle` and for `&Handle`, so
/// one coro can read while another writes.
///
/// # Examples
///
/// A pipe between two coros (for a child process's pipes,
/// [`corio::process`](crate::process) does this for you, and its `wait`
/// parks only the coro too):
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::fd::OwnedFd;
///
/// let (r, w) = std::io::pipe().unwrap();
/// let mut r = corio::io::Handle::new(OwnedFd::from(r)).unwrap();
/// let mut w = corio::io::Handle::new(OwnedFd::from(w)).unwrap();
/// // 1 MiB: more than the pipe holds, so the writer parks until the
/// // reader has made room.
/// let writer = corio::spawn(move || w.write_all(&vec![7; 1 << 20]));
/// let mut got = Vec::new();
/// r.read_to_end(&mut got).unwrap();
/// writer.join().unwrap().unwrap();
/// assert_eq!(got.len(), 1 << 20);
/// ```
pub struct Handle {
    kind: Kind,
    how: Behaviour,
    /// Declared after `kind`: the registration goes before the descriptor
    /// closes.
    fd: OwnedFd,
}

enum Kind {
    /// Non-blocking descriptor, edge-triggered registration.
    Polled(Registration),
    /// A descriptor whose file description others share (the standard
    /// streams): its mode is left alone; sockets use `MSG_DONTWAIT`,
    /// others a zero-timeout `poll` before each call.
    Shared { reg: Registration, socket: bool },
    /// Not pollable (a regular file): always ready.
    Plain,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Polled(_) => "polled",
            Kind::Shared { .. } => "shared",
            Kind::Plain => "plain",
        };
        f.debug_struct("Handle")
            .field("fd", &self.fd.as_raw_fd())
            .field("kind", &kind)
            .finish()
    }
}

impl Handle {
    /// Takes `fd`, puts it in non-blocking mode and registers it with this
    /// thread's reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let (r, _w) = std::io::pipe().unwrap();
    /// let h = corio::io::Handle::new(OwnedFd::from(r)).unwrap();
    /// # drop(h);
    /// ```
    ///
    /// # Errors
    /// When the descriptor's flags cannot be changed, or the reactor
    /// cannot be set up (out of file descriptors).
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn new(fd: OwnedFd) -> io::Result<Handle> {
        set_nonblocking(fd.as_fd(), true)?;
        let kind = match Registration::new(fd.as_raw_fd(), both()) {
            Ok(reg) => Kind::Polled(reg),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Kind::Plain,
            Err(e) => return Err(e),
        };
        Ok(Handle {
            kind,
            how: Behaviour::default(),
            fd,
        })
    }

    /// A handle on a duplicate of `fd` that leaves the file description's
    /// mode alone (for descriptors shared with other processes).
    fn shared(fd: BorrowedFd<'_>) -> io::Result<Handle> {
        let fd = fd.try_clone_to_owned()?;
        let kind = match Registration::new(fd.as_raw_fd(), both()) {
            Ok(reg) => Kind::Shared {
                reg,
                socket: is_socket(fd.as_fd()),
            },
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Kind::Plain,
            Err(e) => return Err(e),
        };
        Ok(Handle {
            kind,
            how: Behaviour::default(),
            fd,
        })
    }

    /// Gives the descriptor back, in blocking mode again (unless it came
    /// from [`stdin`] and friends, whose mode was never changed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let (r, _w) = std::io::pipe().unwrap();
    /// let h = corio::io::Handle::new(OwnedFd::from(r)).unwrap();
    /// let fd: OwnedFd = h.into_inner().unwrap();
    /// # drop(fd);
    /// ```
    ///
    /// # Errors
    /// When the descriptor's flags cannot be restored.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn into_inner(self) -> io::Result<OwnedFd> {
        let Handle { kind, fd, .. } = self;
        let polled = matches!(kind, Kind::Polled(_));
        drop(kind);
        if polled {
            set_nonblocking(fd.as_fd(), false)?;
        }
        Ok(fd)
    }

    /// A second handle on the same file description (`dup`); it shares
    /// nothing else with this one.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = corio::io::stdout().unwrap();
    /// let again = out.try_clone().unwrap();
    /// # drop((out, again));
    /// ```
    ///
    /// # Errors
    /// When `dup` fails (out of descriptors).
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_clone(&self) -> io::Result<Handle> {
        match self.kind {
            Kind::Polled(_) => Handle::new(self.fd.try_clone()?),
            Kind::Shared { .. } | Kind::Plain => Handle::shared(self.fd.as_fd()),
        }
    }

    /// Makes reads give up with an error of kind `TimedOut` after waiting
    /// this long (`None`: wait forever, the default).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::os::fd::OwnedFd;
    /// use std::time::Duration;
    ///
    /// let (r, _w) = std::io::pipe().unwrap();
    /// let mut h = corio::io::Handle::new(OwnedFd::from(r)).unwrap();
    /// h.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    /// let err = h.read(&mut [0; 8]).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
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

    /// Makes writes give up with an error of kind `TimedOut` after
    /// waiting this long (`None`: wait forever, the default).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let out = corio::io::stdout().unwrap();
    /// out.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
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

    /// The read timeout. The `Result` is std's signature (the sockets'
    /// `read_timeout` has it too); it is never an error here.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// use std::time::Duration;
    ///
    /// let (r, _w) = std::io::pipe().unwrap();
    /// let h = corio::io::Handle::new(OwnedFd::from(r)).unwrap();
    /// assert_eq!(h.read_timeout().unwrap(), None);
    /// h.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(h.read_timeout().unwrap(), Some(Duration::from_secs(1)));
    /// ```
    ///
    /// # Errors
    /// Never.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.how.read_timeout.get())
    }

    /// The write timeout (see [`read_timeout`](Handle::read_timeout)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio::io::stdout().unwrap().write_timeout().unwrap(), None);
    /// ```
    ///
    /// # Errors
    /// Never.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.how.write_timeout.get())
    }

    /// Waits until a read would not block (data, end of file or an error
    /// is there).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::fd::OwnedFd;
    /// let (r, mut w) = std::io::pipe().unwrap();
    /// let h = corio::io::Handle::new(OwnedFd::from(r)).unwrap();
    /// w.write_all(b"x").unwrap();
    /// h.readable().unwrap();
    /// ```
    ///
    /// # Errors
    /// `TimedOut` after the read timeout; errors of `poll` for shared
    /// descriptors.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits.
    ///
    /// # Switching
    ///
    /// Suspends the current coro until the descriptor is readable.
    #[track_caller]
    pub fn readable(&self) -> io::Result<()> {
        self.ready(READ)
    }

    /// Waits until a write would not block.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let (_r, w) = std::io::pipe().unwrap();
    /// let h = corio::io::Handle::new(OwnedFd::from(w)).unwrap();
    /// h.writable().unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`readable`](Handle::readable), with the write timeout.
    ///
    /// # Panics
    /// As [`readable`](Handle::readable).
    ///
    /// # Switching
    ///
    /// Suspends the current coro until the descriptor is writable.
    #[track_caller]
    pub fn writable(&self) -> io::Result<()> {
        self.ready(WRITE)
    }

    #[track_caller]
    fn ready(&self, dir: u8) -> io::Result<()> {
        match &self.kind {
            Kind::Plain => Ok(()),
            Kind::Polled(reg) => reg.io(dir, &self.how, || {
                if reg.is_ready(dir) {
                    Ok(())
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                }
            }),
            Kind::Shared { reg, .. } => {
                let fd = self.fd.as_fd();
                reg.io_level(dir, &self.how, || level_check(reg, fd, dir))
            }
        }
    }

    #[track_caller]
    fn do_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.fd.as_fd();
        match &self.kind {
            Kind::Plain => sys_read(fd, buf),
            Kind::Polled(reg) => reg.read(&self.how, buf.len(), || sys_read(fd, buf)),
            Kind::Shared { reg, socket: true } => {
                reg.io(READ, &self.how, || sys_recv(fd, buf, libc::MSG_DONTWAIT))
            }
            Kind::Shared { reg, socket: false } => reg.io_level(READ, &self.how, || {
                level_check(reg, fd, READ)?;
                sys_read(fd, buf)
            }),
        }
    }

    #[track_caller]
    fn do_write(&self, buf: &[u8]) -> io::Result<usize> {
        let fd = self.fd.as_fd();
        match &self.kind {
            Kind::Plain => sys_write(fd, buf),
            Kind::Polled(reg) => reg.write(&self.how, buf.len(), || sys_write(fd, buf)),
            Kind::Shared { reg, socket: true } => reg.io(WRITE, &self.how, || {
                sys_send(fd, buf, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
            }),
            Kind::Shared { reg, socket: false } => reg.io_level(WRITE, &self.how, || {
                level_check(reg, fd, WRITE)?;
                sys_write(fd, &buf[..buf.len().min(SHARED_WRITE_MAX)])
            }),
        }
    }
}

impl Read for Handle {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.do_read(buf)
    }
}

impl Read for &Handle {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.do_read(buf)
    }
}

impl Write for Handle {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.do_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &Handle {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.do_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for Handle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Handle {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A handle on the process's standard input. It reads through its own
/// duplicate of descriptor 0 and does not change the terminal's (or
/// pipe's) blocking mode, which the shell shares. Wrap it in a
/// `BufReader` to read lines; use one reader for the whole program, since
/// each buffers what it read ahead.
///
/// # Examples
///
/// ```no_run
/// use std::io::BufRead;
///
/// let stdin = std::io::BufReader::new(corio::io::stdin().unwrap());
/// for line in stdin.lines() {
///     println!("you said {}", line.unwrap());
/// }
/// ```
///
/// # Errors
/// When descriptor 0 cannot be duplicated or registered.
///
/// # Switching
///
/// Never suspends the current coro; reading from the handle does.
pub fn stdin() -> io::Result<Handle> {
    Handle::shared(std::io::stdin().as_fd())
}

/// A handle on the process's standard output (see [`stdin`]). It writes
/// directly, without std's `stdout` buffer: do not mix the two in one
/// line of output.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// writeln!(corio::io::stdout().unwrap(), "hello").unwrap();
/// ```
///
/// # Errors
/// When descriptor 1 cannot be duplicated or registered.
///
/// # Switching
///
/// Never suspends the current coro; writing to the handle does.
pub fn stdout() -> io::Result<Handle> {
    Handle::shared(std::io::stdout().as_fd())
}

/// A handle on the process's standard error (see [`stdout`]).
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// writeln!(corio::io::stderr().unwrap(), "a warning").unwrap();
/// ```
///
/// # Errors
/// When descriptor 2 cannot be duplicated or registered.
///
/// # Switching
///
/// Never suspends the current coro; writing to the handle does.
pub fn stderr() -> io::Result<Handle> {
    Handle::shared(std::io::stderr().as_fd())
}

/// Waits until a read from `fd` would not block: data, end of file, a
/// hang-up or an error is there. Returns at once if that is so already.
/// For descriptors corio does not own; `fd` itself is not modified (a
/// duplicate is watched while waiting).
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsFd;
///
/// let (r, mut w) = std::io::pipe().unwrap();
/// let writer = corio::spawn(move || w.write_all(b"ping").unwrap());
/// corio::io::readable(r.as_fd()).unwrap(); // parks until the writer ran
/// writer.join().unwrap();
/// ```
///
/// # Errors
/// `EBADF` for a closed descriptor; errors of `dup`, `poll` or the
/// registration (out of descriptors). A descriptor epoll cannot watch (a
/// regular file) is always ready.
///
/// # Panics
/// Unwinds if the coro is cancelled, thrown at or timed out while it
/// waits.
///
/// # Switching
///
/// Suspends the current coro until `fd` is readable.
#[track_caller]
pub fn readable(fd: BorrowedFd<'_>) -> io::Result<()> {
    wait_fd(fd, READ)
}

/// Waits until a write to `fd` would not block (see [`readable`]).
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// let (_r, w) = std::io::pipe().unwrap();
/// corio::io::writable(w.as_fd()).unwrap(); // an empty pipe has room
/// ```
///
/// # Errors
/// As [`readable`].
///
/// # Panics
/// As [`readable`].
///
/// # Switching
///
/// Suspends the current coro until `fd` is writable.
#[track_caller]
pub fn writable(fd: BorrowedFd<'_>) -> io::Result<()> {
    wait_fd(fd, WRITE)
}

#[track_caller]
fn wait_fd(fd: BorrowedFd<'_>, dir: u8) -> io::Result<()> {
    crate::sched::enter_blocking();
    if poll_now(fd, dir)? {
        return Ok(());
    }
    let dup = fd.try_clone_to_owned()?;
    let interest = if dir == READ {
        mio::Interest::READABLE
    } else {
        mio::Interest::WRITABLE
    };
    let reg = match Registration::new(dup.as_raw_fd(), interest) {
        Ok(reg) => reg,
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => return Ok(()),
        Err(e) => return Err(e),
    };
    // Not ready when we looked: the edge-triggered registration reports
    // readiness that exists now or comes later, so nothing is missed.
    reg.clear(READ | WRITE);
    let r = reg.wait(dir, None);
    drop(reg);
    drop(dup);
    r
}

/// The `Interest` of a descriptor read and written.
fn both() -> mio::Interest {
    mio::Interest::READABLE | mio::Interest::WRITABLE
}

/// For shared descriptors: `WouldBlock` unless `fd` is ready for `dir`
/// right now (then the next call will not block). Clears the
/// registration's bit first, so that readiness arriving after the look
/// still wakes a waiter.
fn level_check(reg: &Registration, fd: BorrowedFd<'_>, dir: u8) -> io::Result<()> {
    reg.clear(dir);
    if poll_now(fd, dir)? {
        Ok(())
    } else {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// Whether `fd` is ready for `dir` now (`poll` with a zero timeout);
/// hang-ups and errors count as ready: the next call reports them.
fn poll_now(fd: BorrowedFd<'_>, dir: u8) -> io::Result<bool> {
    let events = if dir == READ {
        libc::POLLIN
    } else {
        libc::POLLOUT
    };
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    loop {
        // SAFETY: `p` is one valid pollfd; a zero timeout never blocks.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        if n >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    if p.revents & libc::POLLNVAL != 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    Ok(p.revents & (events | libc::POLLHUP | libc::POLLERR) != 0)
}

fn is_socket(fd: BorrowedFd<'_>) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is a valid out-pointer for one stat; `fd` is open.
    let r = unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) };
    // SAFETY: fstat filled `st` when it returned 0.
    r == 0 && unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFSOCK
}

fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFL on an open descriptor reads its status flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: F_SETFL with flags derived from the current ones.
    if new != flags && unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, new) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn cvt(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn sys_read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` writable bytes.
    cvt(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

fn sys_write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` readable bytes.
    cvt(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

fn sys_recv(fd: BorrowedFd<'_>, buf: &mut [u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` writable bytes.
    cvt(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) })
}

fn sys_send(fd: BorrowedFd<'_>, buf: &[u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` readable bytes.
    cvt(unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) })
}
