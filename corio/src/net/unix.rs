//! `UnixListener` and `UnixStream`.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use crate::io::reg::{Behaviour, READ, Registration, SocketType, WRITE};

/// A Unix-domain stream server socket.
///
/// `UnixListener` is not `Send`: it stays on the thread that made it. Moving it to
/// another thread fails to compile with an error that names a private field
/// (`Rc<corio::io::reg::Behaviour>` or `Rc<corio::sched::reactor::IoState>`
/// "cannot be sent between threads safely"); see
/// [the module docs](crate::net#threads) for what to do instead.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use corio::net::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("corio-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("sock");
/// # let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path).unwrap();
/// let p = path.clone();
/// let client = corio::spawn(move || {
///     let mut s = UnixStream::connect(&p).unwrap();
///     s.write_all(b"hi").unwrap();
/// });
/// let (mut conn, _) = listener.accept().unwrap();
/// let mut buf = [0; 2];
/// conn.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"hi");
/// client.join().unwrap();
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct UnixListener {
    reg: Registration,
    how: Rc<Behaviour>,
    io: mio::net::UnixListener,
}

/// A Unix-domain stream connection whose reads and writes park the coro.
/// `Read` and `Write` are implemented for it and for `&UnixStream`.
///
/// `UnixStream` is not `Send`: it stays on the thread that made it. Moving it to
/// another thread fails to compile with an error that names a private field
/// (`Rc<corio::io::reg::Behaviour>` or `Rc<corio::sched::reactor::IoState>`
/// "cannot be sent between threads safely"); see
/// [the module docs](crate::net#threads) for what to do instead.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// let (mut a, mut b) = corio::net::UnixStream::pair().unwrap();
/// let h = corio::spawn(move || a.write_all(b"over").unwrap());
/// let mut buf = [0; 4];
/// b.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"over");
/// h.join().unwrap();
/// ```
pub struct UnixStream {
    reg: Registration,
    how: Rc<Behaviour>,
    io: mio::net::UnixStream,
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixListener");
        if let Ok(a) = self.io.local_addr() {
            d.field("addr", &a);
        }
        d.field("fd", &self.io.as_raw_fd()).finish()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixStream");
        if let Ok(a) = self.io.local_addr() {
            d.field("addr", &a);
        }
        if let Ok(a) = self.io.peer_addr() {
            d.field("peer", &a);
        }
        d.field("fd", &self.io.as_raw_fd()).finish()
    }
}

impl UnixListener {
    #[track_caller]
    fn from_mio(io: mio::net::UnixListener, how: Rc<Behaviour>) -> io::Result<UnixListener> {
        let reg = Registration::socket(
            io.as_raw_fd(),
            mio::Interest::READABLE,
            SocketType::UnixListener,
        )?;
        Ok(UnixListener { reg, how, io })
    }

    /// Creates the socket file at `path` and listens on it.
    ///
    /// # Examples
    ///
    /// See [`UnixListener`].
    ///
    /// # Errors
    /// `AddrInUse` if the file exists; what `bind`/`listen` say.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        Self::from_mio(mio::net::UnixListener::bind(path)?, Rc::default())
    }

    /// Takes a listening std socket (it is made non-blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("corio-doc-fs-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let std = std::os::unix::net::UnixListener::bind(dir.join("s")).unwrap();
    /// let l = corio::net::UnixListener::from_std(std).unwrap();
    /// # drop(l);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    ///
    /// # Errors
    /// When the socket cannot be made non-blocking or registered.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Self::from_mio(mio::net::UnixListener::from_std(listener), Rc::default())
    }

    /// Gives the socket back as a blocking std listener.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("corio-doc-is-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let l = corio::net::UnixListener::bind(dir.join("s")).unwrap();
    /// let std = l.into_std().unwrap();
    /// # drop(std);
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    ///
    /// # Errors
    /// When the socket cannot be made blocking again.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        let UnixListener { reg, io, .. } = self;
        drop(reg);
        // SAFETY: `into_raw_fd` hands over the descriptor it owned.
        let l = unsafe { std::os::unix::net::UnixListener::from_raw_fd(io.into_raw_fd()) };
        l.set_nonblocking(false)?;
        Ok(l)
    }

    /// Waits for a connection and accepts it.
    ///
    /// # Examples
    ///
    /// See [`UnixListener`].
    ///
    /// # Errors
    /// What `accept4` says (`EMFILE` when out of descriptors); `TimedOut`
    /// after the accept timeout; `WouldBlock` in non-blocking mode.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits.
    ///
    /// # Switching
    ///
    /// Suspends the current coro until a connection comes.
    #[track_caller]
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (io, peer) = self.reg.io(READ, &self.how, || self.io.accept())?;
        Ok((UnixStream::from_mio(io, Rc::default())?, peer))
    }

    /// An endless iterator of [`accept`](UnixListener::accept)s.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let l = corio::net::UnixListener::bind("/tmp/corio-incoming.sock").unwrap();
    /// for conn in l.incoming() {
    ///     let conn = conn.unwrap();
    ///     corio::spawn(move || drop(conn));
    /// }
    /// ```
    ///
    /// # Switching
    ///
    /// Each `next` suspends the current coro until a connection comes.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The path it listens on.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("corio-doc-la-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let l = corio::net::UnixListener::bind(dir.join("s")).unwrap();
    /// assert_eq!(l.local_addr().unwrap().as_pathname(), Some(dir.join("s").as_path()));
    /// # drop(l);
    /// std::fs::remove_dir_all(&dir).unwrap();
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

    /// A second listener on the same socket (`dup`), registered anew.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("corio-doc-tc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let l = corio::net::UnixListener::bind(dir.join("s")).unwrap();
    /// let l2 = l.try_clone().unwrap();
    /// # drop((l, l2));
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    ///
    /// # Errors
    /// When `dup` or the registration fails.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        let fd = self.io.as_fd().try_clone_to_owned()?;
        let std = std::os::unix::net::UnixListener::from(fd);
        Self::from_mio(mio::net::UnixListener::from_std(std), self.how.clone())
    }

    /// Makes [`accept`](UnixListener::accept) return `WouldBlock` instead
    /// of waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("corio-doc-nb-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let l = corio::net::UnixListener::bind(dir.join("s")).unwrap();
    /// l.set_nonblocking(true).unwrap();
    /// assert_eq!(l.accept().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// # drop(l);
    /// std::fs::remove_dir_all(&dir).unwrap();
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

    /// Takes the pending socket error (`SO_ERROR`).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("corio-doc-te-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let l = corio::net::UnixListener::bind(dir.join("s")).unwrap();
    /// assert!(l.take_error().unwrap().is_none());
    /// # drop(l);
    /// std::fs::remove_dir_all(&dir).unwrap();
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

/// The iterator of [`UnixListener::incoming`].
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;
    #[track_caller]
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl UnixStream {
    #[track_caller]
    fn from_mio(io: mio::net::UnixStream, how: Rc<Behaviour>) -> io::Result<UnixStream> {
        let reg = Registration::socket(
            io.as_raw_fd(),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
            SocketType::UnixStream,
        )?;
        Ok(UnixStream { reg, how, io })
    }

    /// Connects to the socket at `path`.
    ///
    /// # Examples
    ///
    /// See [`UnixListener`].
    ///
    /// # Errors
    /// `NotFound` or `ConnectionRefused` when nobody listens there.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the listener's queue is full.
    #[track_caller]
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        crate::sched::enter_blocking();
        let path = path.as_ref();
        let mut backoff = Duration::from_micros(500);
        let io = loop {
            match mio::net::UnixStream::connect(path) {
                Ok(io) => break io,
                // The listener's queue is full: Unix sockets say so at once
                // and have nothing to wait on, so retry after a pause.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    crate::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        };
        let s = Self::from_mio(io, Rc::default())?;
        loop {
            s.reg.wait(WRITE, None)?;
            if let Some(e) = s.io.take_error()? {
                return Err(e);
            }
            match s.io.peer_addr() {
                Ok(_) => return Ok(s),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => s.reg.clear(WRITE),
                Err(e) => return Err(e),
            }
        }
    }

    /// Two connected streams.
    ///
    /// # Examples
    ///
    /// See [`UnixStream`].
    ///
    /// # Errors
    /// What `socketpair` says (out of descriptors).
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((
            Self::from_mio(a, Rc::default())?,
            Self::from_mio(b, Rc::default())?,
        ))
    }

    /// Takes a connected std stream (it is made non-blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = corio::net::UnixStream::from_std(a).unwrap();
    /// # drop(s);
    /// ```
    ///
    /// # Errors
    /// When the socket cannot be made non-blocking or registered.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Self::from_mio(mio::net::UnixStream::from_std(stream), Rc::default())
    }

    /// Gives the connection back as a blocking std stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = corio::net::UnixStream::pair().unwrap();
    /// let std = a.into_std().unwrap();
    /// # drop(std);
    /// ```
    ///
    /// # Errors
    /// When the socket cannot be made blocking again.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        let UnixStream { reg, io, .. } = self;
        drop(reg);
        // SAFETY: `into_raw_fd` hands over the descriptor it owned.
        let s = unsafe { std::os::unix::net::UnixStream::from_raw_fd(io.into_raw_fd()) };
        s.set_nonblocking(false)?;
        Ok(s)
    }

    /// The address of this end.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = corio::net::UnixStream::pair().unwrap();
    /// assert!(a.local_addr().unwrap().is_unnamed());
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

    /// The address of the other end.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = corio::net::UnixStream::pair().unwrap();
    /// assert!(a.peer_addr().unwrap().is_unnamed());
    /// ```
    ///
    /// # Errors
    /// What `getpeername` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.peer_addr()
    }

    /// Shuts down the reading or writing half, or both.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// let (a, mut b) = corio::net::UnixStream::pair().unwrap();
    /// a.shutdown(corio::net::Shutdown::Write).unwrap();
    /// assert_eq!(b.read(&mut [0; 4]).unwrap(), 0);
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

    /// A second handle on the same connection (`dup`), registered anew; it
    /// shares the non-blocking mode and timeouts with this one.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = corio::net::UnixStream::pair().unwrap();
    /// let a2 = a.try_clone().unwrap();
    /// # drop(a2);
    /// ```
    ///
    /// # Errors
    /// When `dup` or the registration fails.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        let fd = self.io.as_fd().try_clone_to_owned()?;
        let std = std::os::unix::net::UnixStream::from(fd);
        Self::from_mio(mio::net::UnixStream::from_std(std), self.how.clone())
    }

    /// Makes reads give up with `TimedOut` after waiting this long.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::time::Duration;
    /// let (mut a, _b) = corio::net::UnixStream::pair().unwrap();
    /// a.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    /// assert_eq!(a.read(&mut [0; 1]).unwrap_err().kind(), std::io::ErrorKind::TimedOut);
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

    /// Makes writes give up with `TimedOut` after waiting this long.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = corio::net::UnixStream::pair().unwrap();
    /// a.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
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
    /// let (a, _b) = corio::net::UnixStream::pair().unwrap();
    /// assert_eq!(a.read_timeout().unwrap(), None);
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
    /// let (a, _b) = corio::net::UnixStream::pair().unwrap();
    /// assert_eq!(a.write_timeout().unwrap(), None);
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
    /// let (mut a, _b) = corio::net::UnixStream::pair().unwrap();
    /// a.set_nonblocking(true).unwrap();
    /// assert_eq!(a.read(&mut [0; 1]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
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

    /// Takes the pending socket error (`SO_ERROR`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = corio::net::UnixStream::pair().unwrap();
    /// assert!(a.take_error().unwrap().is_none());
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

impl Read for UnixStream {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.do_read(buf)
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.do_read_vectored(bufs)
    }
}

impl Read for &UnixStream {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.do_read(buf)
    }

    #[track_caller]
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.do_read_vectored(bufs)
    }
}

impl Write for UnixStream {
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

impl Write for &UnixStream {
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

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}
