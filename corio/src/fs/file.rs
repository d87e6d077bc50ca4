//! [`File`] and [`OpenOptions`]: descriptors whose calls park only the
//! calling coro, on io_uring or on the file workers (see the module docs
//! of [`fs`](super)).

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use super::uring;
use super::{cstr, on_worker, path_err, ring};

mod direct_calls;

/// [`File::direct`]: the kernel refused non-blocking reads on this file.
const NO_DIRECT_READ: u8 = 1;
/// [`File::direct`]: the kernel refused non-blocking writes on this file.
const NO_DIRECT_WRITE: u8 = 2;

/// An open file (`std::fs::File`'s API) whose calls park only the calling
/// coro. Implements `Read`, `Write` and `Seek`, for `File` and `&File`.
pub struct File {
    fd: Arc<OwnedFd>,
    path: Arc<Path>,
    /// Which direct attempts (see `fs/direct.rs`) the kernel refused with
    /// "not supported": not tried again on this handle.
    direct: AtomicU8,
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("corio::fs::File")
            .field("fd", &self.fd.as_raw_fd())
            .field("path", &self.path)
            .finish()
    }
}

/// `std::fs::OpenOptions`: how to open a file.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// All options off (mode 0o666 before the umask).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corio::fs::OpenOptions::new().read(true).open("/no/such/file").unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// assert!(err.to_string().contains("/no/such/file"));
    /// ```
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.read = on;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.write = on;
        self
    }

    /// Every write goes to the end (implies writing).
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.append = on;
        self
    }

    /// Truncate to 0 bytes on open (needs writing).
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.truncate = on;
        self
    }

    /// Create the file if it does not exist (needs writing).
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.create = on;
        self
    }

    /// Create the file, failing if it exists (needs writing).
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.create_new = on;
        self
    }

    /// The permission bits a created file gets (before the umask).
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    fn flags(&self) -> io::Result<i32> {
        let access = match (self.read, self.write || self.append) {
            (true, false) => libc::O_RDONLY,
            (false, true) => libc::O_WRONLY,
            (true, true) => libc::O_RDWR,
            (false, false) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "open: neither read nor write access requested",
                ));
            }
        };
        let writing = self.write || self.append;
        if !writing && (self.truncate || self.create || self.create_new) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "open: create or truncate without write access",
            ));
        }
        let mut flags = access | libc::O_CLOEXEC;
        if self.append {
            flags |= libc::O_APPEND;
        }
        if self.truncate && !self.append {
            flags |= libc::O_TRUNC;
        }
        if self.create_new {
            flags |= libc::O_CREAT | libc::O_EXCL;
        } else if self.create {
            flags |= libc::O_CREAT;
        }
        Ok(flags)
    }

    /// Opens `path`.
    ///
    /// # Errors
    /// As `open(2)`, with the path in the message.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the file is opened.
    #[track_caller]
    pub fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        let flags = self.flags().map_err(|e| path_err("open", path, e))?;
        open_raw(path, flags, self.mode).map_err(|e| path_err("open", path, e))
    }
}

#[track_caller]
fn open_raw(path: &Path, flags: i32, mode: u32) -> io::Result<File> {
    let c = cstr(path)?;
    let r = ring()?;
    // On io_uring, opens queued together cost less than two system calls
    // each (the direct open, clearing O_NONBLOCK): `work corio fileread`
    // gave 4.8 µs a file with the ring's opens, 5.7 with direct ones
    // (medians of 12 interleaved runs). On the workers the direct open
    // saves a thread hop (about 6 against 17–20 µs).
    if r.is_none()
        && let Some(f) = File::open_direct(path, &c, flags)
    {
        return Ok(f);
    }
    let fd = match r {
        Some(r) => uring::open(&r, c, flags, mode)?,
        // The worker returns an owner: if this coro is cancelled meanwhile,
        // the descriptor is closed when the result is dropped.
        None => on_worker(move || {
            // SAFETY: `c` is a NUL-terminated path; open has no other
            // memory-safety preconditions.
            let fd = unsafe { libc::open(c.as_ptr(), flags, mode) };
            if fd < 0 {
                Err(io::Error::last_os_error())
            } else {
                // SAFETY: just opened, owned by nobody else.
                Ok(unsafe { OwnedFd::from_raw_fd(fd) })
            }
        })?,
    };
    Ok(File::new(fd, Arc::from(path)))
}

/// Where a read or write happens: at the file position (advancing it), or
/// at an offset.
#[derive(Clone, Copy)]
pub(super) enum At {
    Cursor,
    Offset(u64),
}

impl At {
    fn uring(self) -> u64 {
        match self {
            At::Cursor => uring::CURSOR,
            At::Offset(o) => o,
        }
    }

    fn offset(self) -> Option<u64> {
        match self {
            At::Cursor => None,
            At::Offset(o) => Some(o),
        }
    }
}

/// The start of a read or write: raises a cancel, throw or timeout that
/// waits for the coro's next blocking call, as a call that parks would
/// (even when the direct attempt then needs no park), and counts as a
/// switch toward the loop's periodic look around, ceding when it is due
/// (see `count_quick_call`). Nothing to do in a thread-local destructor
/// after the scheduler was torn down.
#[track_caller]
fn enter() {
    if !crate::sched::sched_torn_down() {
        let (s, _) = crate::sched::enter_blocking();
        crate::sched::count_quick_call(s);
    }
}

fn sys_read(fd: RawFd, buf: &mut [u8], at: At) -> io::Result<usize> {
    let len = buf.len().min(isize::MAX as usize);
    // SAFETY: `buf` is valid for `len` bytes of writes.
    let n = unsafe {
        match at {
            At::Cursor => libc::read(fd, buf.as_mut_ptr().cast(), len),
            At::Offset(o) => libc::pread(fd, buf.as_mut_ptr().cast(), len, o as libc::off_t),
        }
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn sys_write(fd: RawFd, buf: &[u8], at: At) -> io::Result<usize> {
    let len = buf.len().min(isize::MAX as usize);
    // SAFETY: `buf` is valid for `len` bytes of reads.
    let n = unsafe {
        match at {
            At::Cursor => libc::write(fd, buf.as_ptr().cast(), len),
            At::Offset(o) => libc::pwrite(fd, buf.as_ptr().cast(), len, o as libc::off_t),
        }
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Most bytes one read or write moves (io_uring takes a `u32` length).
pub(super) const MAX_IO: usize = 1 << 30;

impl File {
    fn new(fd: OwnedFd, path: Arc<Path>) -> File {
        File {
            fd: Arc::new(fd),
            path,
            direct: AtomicU8::new(0),
        }
    }

    /// Opens `path` for reading (`std::fs::File::open`).
    ///
    /// # Errors
    /// As `open(2)`, with the path in the message.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the file is opened.
    #[track_caller]
    pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Opens `path` for writing, creating or truncating it
    /// (`std::fs::File::create`).
    ///
    /// # Errors
    /// As `open(2)`, with the path in the message.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the file is opened.
    #[track_caller]
    pub fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    /// [`OpenOptions::new`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// The path it was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn err(&self, op: &'static str, e: io::Error) -> io::Error {
        path_err(op, &self.path, e)
    }

    #[track_caller]
    fn read_inner(&self, buf: &mut [u8], at: At) -> io::Result<usize> {
        let len = buf.len().min(MAX_IO);
        if len == 0 {
            return Ok(0);
        }
        let r = ring()?;
        enter();
        if let Some(n) = self.read_direct(&mut buf[..len], at)? {
            return Ok(n);
        }
        // Waiting: through a buffer the operation owns, then copied (see
        // `fs/direct.rs` for why not into `buf`).
        match r {
            Some(r) => uring::read_into(&r, &self.fd, &mut buf[..len], at.uring()),
            None => {
                let fd = self.fd.clone();
                let data = on_worker(move || {
                    let mut v = vec![0u8; len];
                    let n = sys_read(fd.as_raw_fd(), &mut v, at)?;
                    v.truncate(n);
                    Ok(v)
                })?;
                buf[..data.len()].copy_from_slice(&data);
                Ok(data.len())
            }
        }
    }

    #[track_caller]
    fn write_inner(&self, buf: &[u8], at: At) -> io::Result<usize> {
        let len = buf.len().min(MAX_IO);
        if len == 0 {
            return Ok(0);
        }
        let r = ring()?;
        enter();
        if let Some(n) = self.write_direct(&buf[..len], at)? {
            return Ok(n);
        }
        match r {
            Some(r) => uring::write(&r, &self.fd, &buf[..len], at.uring()),
            None => {
                let data = buf[..len].to_vec();
                let fd = self.fd.clone();
                on_worker(move || sys_write(fd.as_raw_fd(), &data, at))
            }
        }
    }

    /// Reads from `offset` without moving the file position
    /// (`FileExt::read_at`).
    ///
    /// # Errors
    /// As `pread(2)`, with the path in the message.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the read waits (not for data in the
    /// page cache, which is read at once; see the module docs).
    #[track_caller]
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.read_inner(buf, At::Offset(offset))
            .map_err(|e| self.err("read", e))
    }

    /// Writes at `offset` without moving the file position
    /// (`FileExt::write_at`).
    ///
    /// # Errors
    /// As `pwrite(2)` (`ENOSPC` on a full disk), with the path in the
    /// message.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the write waits (not when the page
    /// cache takes it at once; see the module docs).
    #[track_caller]
    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.write_inner(buf, At::Offset(offset))
            .map_err(|e| self.err("write", e))
    }

    #[track_caller]
    fn sync(&self, data_only: bool) -> io::Result<()> {
        match ring()? {
            Some(r) => uring::fsync(&r, &self.fd, data_only),
            None => {
                let fd = self.fd.clone();
                on_worker(move || {
                    // SAFETY: fsync/fdatasync take a descriptor only.
                    let r = unsafe {
                        if data_only {
                            libc::fdatasync(fd.as_raw_fd())
                        } else {
                            libc::fsync(fd.as_raw_fd())
                        }
                    };
                    if r < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(())
                    }
                })
            }
        }
    }

    /// Flushes data and metadata to the disk (`fsync`).
    ///
    /// # Errors
    /// As `fsync(2)`, with the path in the message.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the disk works.
    #[track_caller]
    pub fn sync_all(&self) -> io::Result<()> {
        self.sync(false).map_err(|e| self.err("sync", e))
    }

    /// Flushes data to the disk (`fdatasync`).
    ///
    /// # Errors
    /// As `fdatasync(2)`, with the path in the message.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the disk works.
    #[track_caller]
    pub fn sync_data(&self) -> io::Result<()> {
        self.sync(true).map_err(|e| self.err("sync", e))
    }

    /// Truncates or extends the file to `size` bytes.
    ///
    /// # Errors
    /// As `ftruncate(2)`, with the path in the message.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while a worker thread does it.
    #[track_caller]
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        let fd = self.fd.clone();
        on_worker(move || {
            // SAFETY: a borrowed std File over a descriptor kept open by
            // `fd`; ManuallyDrop keeps it from closing the descriptor.
            let f =
                std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd.as_raw_fd()) });
            f.set_len(size)
        })
        .map_err(|e| self.err("set_len", e))
    }

    /// The file's metadata.
    ///
    /// # Errors
    /// As `fstat(2)`, with the path in the message.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while a worker thread does it.
    #[track_caller]
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        let fd = self.fd.clone();
        on_worker(move || {
            // SAFETY: as in `set_len`.
            let f =
                std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd.as_raw_fd()) });
            f.metadata()
        })
        .map_err(|e| self.err("metadata", e))
    }

    /// Another handle to the same open file (sharing its position).
    ///
    /// # Errors
    /// As `dup(2)` (`EMFILE` when out of descriptors).
    pub fn try_clone(&self) -> io::Result<File> {
        let fd = self.fd.try_clone().map_err(|e| self.err("dup", e))?;
        let f = File::new(fd, self.path.clone());
        // The same open file: the same answers about direct calls.
        f.direct
            .store(self.direct.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(f)
    }

    fn seek_inner(&self, pos: SeekFrom) -> io::Result<u64> {
        let (off, whence) = match pos {
            SeekFrom::Start(o) => (
                i64::try_from(o).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "seek offset too large")
                })?,
                libc::SEEK_SET,
            ),
            SeekFrom::End(o) => (o, libc::SEEK_END),
            SeekFrom::Current(o) => (o, libc::SEEK_CUR),
        };
        // SAFETY: lseek takes a descriptor and numbers; it never blocks.
        let r = unsafe { libc::lseek(self.fd.as_raw_fd(), off as libc::off_t, whence) };
        if r < 0 {
            Err(self.err("seek", io::Error::last_os_error()))
        } else {
            Ok(r as u64)
        }
    }
}

impl From<OwnedFd> for File {
    /// Takes over an open descriptor (a file, a pipe, a device). Errors
    /// name it `fd N`.
    fn from(fd: OwnedFd) -> File {
        let path = PathBuf::from(format!("fd {}", fd.as_raw_fd()));
        // SAFETY: fcntl takes a descriptor and numbers.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        let f = File::new(fd, Arc::from(path.as_path()));
        if flags < 0 || flags & libc::O_DIRECT != 0 {
            // A direct-I/O read or write, even non-blocking, waits in the
            // call for the device: keep those off the scheduler's thread.
            f.direct
                .store(NO_DIRECT_READ | NO_DIRECT_WRITE, Ordering::Relaxed);
        }
        f
    }
}

impl From<std::fs::File> for File {
    /// Takes over a std file (its errors name it `fd N`).
    fn from(f: std::fs::File) -> File {
        File::from(OwnedFd::from(f))
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Read for &File {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_inner(buf, At::Cursor)
            .map_err(|e| self.err("read", e))
    }
}

impl Read for File {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for &File {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_inner(buf, At::Cursor)
            .map_err(|e| self.err("write", e))
    }

    fn flush(&mut self) -> io::Result<()> {
        // Nothing is buffered here (as std's File).
        Ok(())
    }
}

impl Write for File {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.seek_inner(pos)
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.seek_inner(pos)
    }
}
