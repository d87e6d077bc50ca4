//! Files without blocking the thread (Perl's Coro::AIO): `std::fs`'s
//! functions and [`File`], where a call that waits for the disk parks only
//! the calling coro while the other coros of its thread run.
//!
//! Two back-ends, chosen at run time:
//!
//! - **io_uring** (Linux ≥ 5.6, unless `kernel.io_uring_disabled` or a
//!   seccomp filter forbids it): one ring per scheduler thread. Opening,
//!   reading, writing, syncing, renaming, removing files and making
//!   directories are io_uring operations; the thread waits for none of
//!   them.
//! - **worker threads** otherwise, and for the calls io_uring has no
//!   operation for (metadata, directory listings, `copy`, `set_len`, …):
//!   the `std::fs` call runs on a worker thread while the coro waits. The
//!   workers are a pool of their own, built like the
//!   [`multicore`](crate::multicore) pool (shared by every scheduler
//!   thread, growing on demand, idle threads exit after 10 s, results
//!   delivered by a [`rouse`](crate::rouse) callback that keeps the waiting
//!   scheduler alive — no false deadlock — and drops the result of a
//!   cancelled waiter, closing a file it opened) but bounded at 256
//!   threads, not at the number of CPUs: file calls wait rather than
//!   compute, and a read of a pipe or FIFO (a [`File`] made from any
//!   descriptor) may wait for ever, which in the CPU-sized pool would stall
//!   every other file call, name lookup and `multicore::run` of the
//!   process.
//!
//! [`backend`] tells which one this thread uses. Force one with the
//! environment variable `CORIO_FS=threads` (or `uring`, which fails calls
//! with an error naming the reason when io_uring is unavailable; `auto` or
//! unset is the default), read at the first file call, or with
//! [`set_backend`], which overrides the variable. Under valgrind (seen by
//! its preload library in `LD_PRELOAD`) `auto` means worker threads:
//! memcheck does not see the kernel write buffers through io_uring.
//!
//! Every error names the operation and the path, e.g. `open
//! /no/such/dir/x: No such file or directory (os error 2)`, and keeps the
//! [`io::ErrorKind`]; the original error is its
//! [`source`](std::error::Error::source), a [`PathError`] inside. std's
//! `io::Error` cannot carry both a message and an OS error code, so the
//! outer error's `raw_os_error()` is `None`: [`raw_os_error`] (or
//! [`PathError::raw_os_error`]) gives the code. A full disk or a missing
//! directory is an error, never a panic.
//!
//! Calls work anywhere: in a spawned coro, in the main coro of any thread
//! (the scheduler is made on first use), and even in a thread-local
//! destructor that runs after the thread's scheduler was torn down (the
//! call then simply blocks the thread, as nothing else can run on it).
//!
//! ```
//! # let dir = std::env::temp_dir().join(format!("corio-fs-doc-{}", std::process::id()));
//! # corio::fs::create_dir_all(&dir).unwrap();
//! use std::io::{Read, Write};
//!
//! let path = dir.join("hello.txt");
//! corio::fs::write(&path, b"hello")?;
//! let mut f = corio::fs::OpenOptions::new().append(true).open(&path)?;
//! f.write_all(b", world")?;
//! assert_eq!(corio::fs::read_to_string(&path)?, "hello, world");
//!
//! // Another coro runs while a file call waits.
//! let ticker = corio::spawn(|| corio::cede());
//! let mut s = String::new();
//! corio::fs::File::open(&path)?.read_to_string(&mut s)?;
//! ticker.join().unwrap();
//! # corio::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), std::io::Error>(())
//! ```

mod uring;

use std::ffi::CString;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use io_uring::opcode;

use uring::Keep;

/// How file calls wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// io_uring where the kernel allows it, else worker threads (the
    /// default).
    Auto,
    /// io_uring; calls fail when the kernel refuses it.
    Uring,
    /// `std::fs` on worker threads.
    Threads,
}

const UNSET: u8 = 0;
const AUTO: u8 = 1;
const URING: u8 = 2;
const THREADS: u8 = 3;

static BACKEND: AtomicU8 = AtomicU8::new(UNSET);

fn setting() -> u8 {
    match BACKEND.load(Ordering::Relaxed) {
        UNSET => {
            let v = match std::env::var("CORIO_FS").as_deref() {
                Ok("threads") => THREADS,
                Ok("uring") => URING,
                Ok(other) if !other.is_empty() && other != "auto" => {
                    log::warn!(
                        "corio::fs: CORIO_FS={other:?} is not one of auto, uring, threads; using auto"
                    );
                    AUTO
                }
                _ if under_valgrind() => {
                    log::info!(
                        "corio::fs: running under valgrind, which does not see io_uring's \
                         writes into memory; using worker threads"
                    );
                    THREADS
                }
                _ => AUTO,
            };
            // A concurrent set_backend wins.
            let _ = BACKEND.compare_exchange(UNSET, v, Ordering::Relaxed, Ordering::Relaxed);
            BACKEND.load(Ordering::Relaxed)
        }
        v => v,
    }
}

/// Whether this process runs under valgrind, whose memcheck cannot see
/// the kernel fill buffers through io_uring (it would report every byte
/// read as uninitialised): valgrind preloads its `vgpreload_*.so` into the
/// programs it runs.
fn under_valgrind() -> bool {
    std::env::var_os("LD_PRELOAD")
        .is_some_and(|v| v.as_bytes().windows(9).any(|w| w == b"vgpreload"))
}

/// Chooses the back-end for every thread from now on (overrides
/// `CORIO_FS`).
///
/// # Examples
///
/// ```
/// use corio::fs::{set_backend, backend, Backend};
/// set_backend(Backend::Threads);
/// assert_eq!(backend(), Backend::Threads);
/// set_backend(Backend::Auto);
/// ```
pub fn set_backend(b: Backend) {
    let v = match b {
        Backend::Auto => AUTO,
        Backend::Uring => URING,
        Backend::Threads => THREADS,
    };
    BACKEND.store(v, Ordering::Relaxed);
}

/// The back-end this thread's file calls use: [`Backend::Uring`] or
/// [`Backend::Threads`] (with `Auto` resolved by trying to set up
/// io_uring on this thread).
///
/// # Examples
///
/// ```
/// let b = corio::fs::backend();
/// assert!(matches!(b, corio::fs::Backend::Uring | corio::fs::Backend::Threads));
/// ```
pub fn backend() -> Backend {
    match setting() {
        THREADS => Backend::Threads,
        URING => Backend::Uring,
        _ if uring::available() => Backend::Uring,
        _ => Backend::Threads,
    }
}

/// The ring to use, `None` for worker threads.
fn ring() -> io::Result<Option<std::rc::Rc<uring::Ring>>> {
    if crate::sched::sched_torn_down() {
        // A thread-local destructor after the scheduler's: no coro can
        // run any more, so the call blocks the thread (see `on_worker`).
        return Ok(None);
    }
    match setting() {
        THREADS => Ok(None),
        URING => uring::ring().map(Some).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring is unavailable on this system (CORIO_FS=uring)",
            )
        }),
        _ => Ok(uring::ring()),
    }
}

// ----- errors ------------------------------------------------------------

/// An error of one file operation on one path; the [`io::Error`]s of this
/// module wrap it (see the module docs).
#[derive(Debug)]
pub struct PathError {
    op: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl PathError {
    /// The operation (`open`, `read`, `rename`, …).
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// The path it was done on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying error, as the system call gave it.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }

    /// The OS error code (`errno`) of the underlying error, if it came
    /// from the OS. The wrapping `io::Error`'s own `raw_os_error()` is
    /// `None` (std cannot carry both a code and a message); use
    /// [`raw_os_error`] to get it from either.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

/// The OS error code of an error of this module (looking through its
/// [`PathError`]), or of any other `io::Error`.
///
/// # Examples
///
/// ```
/// let e = corio::fs::read("/no/such/dir/file").unwrap_err();
/// assert_eq!(e.raw_os_error(), None); // std cannot keep it next to a message
/// assert_eq!(corio::fs::raw_os_error(&e), Some(libc::ENOENT));
/// ```
pub fn raw_os_error(e: &io::Error) -> Option<i32> {
    e.raw_os_error().or_else(|| {
        e.get_ref()
            .and_then(|r| r.downcast_ref::<PathError>())
            .and_then(PathError::raw_os_error)
    })
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.op, self.path.display(), self.source)
    }
}

impl std::error::Error for PathError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn path_err(op: &'static str, path: &Path, e: io::Error) -> io::Error {
    // Do not wrap twice.
    if e.get_ref().is_some_and(|r| r.is::<PathError>()) {
        return e;
    }
    io::Error::new(
        e.kind(),
        PathError {
            op,
            path: path.to_path_buf(),
            source: e,
        },
    )
}

fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "path contains an interior NUL byte",
        )
    })
}

/// Most threads of the blocking pool: file calls mostly wait rather than
/// compute, and a read of a pipe or a FIFO may wait forever, so the bound is
/// high (as tokio's blocking pool) and apart from the CPU-sized
/// [`multicore`](crate::multicore) pool, which they would otherwise fill.
const BLOCKING_THREADS: usize = 256;

/// Runs a blocking std call on a worker thread, parking the coro.
#[track_caller]
fn on_worker<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    if crate::sched::sched_torn_down() {
        // Nothing else can run on this thread any more: just do it.
        return f();
    }
    static POOL: std::sync::OnceLock<crate::multicore::Pool> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| crate::multicore::Pool::new("corio-fs", BLOCKING_THREADS));
    crate::multicore::run_in(pool, f)
}

// ----- File ----------------------------------------------------------------

/// An open file (`std::fs::File`'s API) whose calls park only the calling
/// coro. Implements `Read`, `Write` and `Seek`, for `File` and `&File`.
pub struct File {
    fd: Arc<OwnedFd>,
    path: Arc<Path>,
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
    let fd = match ring()? {
        Some(r) => {
            let keep = Keep {
                path: Some(c),
                opens: true,
                ..Keep::default()
            };
            let (res, _) = r.submit(keep, |k| {
                let p = k.path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
                opcode::OpenAt::new(uring::fd(libc::AT_FDCWD), p)
                    .flags(flags)
                    .mode(mode)
                    .build()
            })?;
            let fd = uring::check(res)? as RawFd;
            // SAFETY: the kernel just opened `fd` for us; nobody else owns it.
            unsafe { OwnedFd::from_raw_fd(fd) }
        }
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
    Ok(File {
        fd: Arc::new(fd),
        path: Arc::from(path),
    })
}

/// Where a read or write happens: at the file position (advancing it), or
/// at an offset.
#[derive(Clone, Copy)]
enum At {
    Cursor,
    Offset(u64),
}

impl At {
    fn uring(self) -> u64 {
        match self {
            // -1: use and advance the file position.
            At::Cursor => u64::MAX,
            At::Offset(o) => o,
        }
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
const MAX_IO: usize = 1 << 30;

impl File {
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

    fn err(&self, op: &'static str, e: io::Error) -> io::Error {
        path_err(op, &self.path, e)
    }

    #[track_caller]
    fn read_inner(&self, buf: &mut [u8], at: At) -> io::Result<usize> {
        let len = buf.len().min(MAX_IO);
        if len == 0 {
            return Ok(0);
        }
        match ring()? {
            Some(r) => {
                let (n, data) = self.uring_read(&r, r.spare(len), at)?;
                buf[..n].copy_from_slice(&data[data.len() - n..]);
                r.give_back(data);
                Ok(n)
            }
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

    /// Reads into the spare capacity of `buf` (at most 1 GiB), which the
    /// operation owns while it is in flight; returns the bytes read and
    /// the buffer, its length grown by them.
    #[track_caller]
    fn uring_read(&self, r: &uring::Ring, buf: Vec<u8>, at: At) -> io::Result<(usize, Vec<u8>)> {
        let start = buf.len();
        let room = (buf.capacity() - start).min(MAX_IO);
        let keep = Keep {
            buf,
            fd: Some(self.fd.clone()),
            ..Keep::default()
        };
        let raw = self.fd.as_raw_fd();
        let (res, keep) = r.submit(keep, |k| {
            // SAFETY: `start + room` is within the capacity.
            let p = unsafe { k.buf.as_mut_ptr().add(start) };
            opcode::Read::new(uring::fd(raw), p, room as u32)
                .offset(at.uring())
                .build()
        })?;
        let mut buf = keep.buf;
        let n = uring::check(res)? as usize;
        // SAFETY: the kernel wrote `n ≤ room` bytes after `start`.
        unsafe { buf.set_len(start + n.min(room)) };
        Ok((n, buf))
    }

    #[track_caller]
    fn write_inner(&self, buf: &[u8], at: At) -> io::Result<usize> {
        let len = buf.len().min(MAX_IO);
        if len == 0 {
            return Ok(0);
        }
        match ring()? {
            Some(r) => {
                let mut data = r.spare(len);
                data.extend_from_slice(&buf[..len]);
                let keep = Keep {
                    buf: data,
                    fd: Some(self.fd.clone()),
                    ..Keep::default()
                };
                let raw = self.fd.as_raw_fd();
                let (res, keep) = r.submit(keep, |k| {
                    opcode::Write::new(uring::fd(raw), k.buf.as_ptr(), len as u32)
                        .offset(at.uring())
                        .build()
                })?;
                r.give_back(keep.buf);
                Ok(uring::check(res)? as usize)
            }
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
    /// Suspends the current coro while the read is in flight.
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
    /// Suspends the current coro while the write is in flight.
    #[track_caller]
    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.write_inner(buf, At::Offset(offset))
            .map_err(|e| self.err("write", e))
    }

    #[track_caller]
    fn sync(&self, data_only: bool) -> io::Result<()> {
        match ring()? {
            Some(r) => {
                let keep = Keep {
                    fd: Some(self.fd.clone()),
                    ..Keep::default()
                };
                let raw = self.fd.as_raw_fd();
                let flags = if data_only {
                    io_uring::types::FsyncFlags::DATASYNC
                } else {
                    io_uring::types::FsyncFlags::empty()
                };
                let (res, _) = r.submit(keep, |_| {
                    opcode::Fsync::new(uring::fd(raw)).flags(flags).build()
                })?;
                uring::check(res).map(drop)
            }
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
        Ok(File {
            fd: Arc::new(fd),
            path: self.path.clone(),
        })
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
        File {
            fd: Arc::new(fd),
            path: Arc::from(path.as_path()),
        }
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

// ----- whole-file and path functions ----------------------------------------

/// Reads the whole file (`std::fs::read`).
///
/// # Errors
/// As [`File::open`] and reading, with the path in the message.
///
/// # Switching
///
/// Suspends the current coro while the file is opened and read.
#[track_caller]
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    let Some(r) = ring().map_err(|e| path_err("open", path, e))? else {
        // One job on a worker, not one per system call.
        return std_call("read", path, std::fs::read);
    };
    let f = File::open(path)?;
    // Read straight into the output, growing it: no size query, no copy.
    let mut out = Vec::with_capacity(16 * 1024);
    loop {
        if out.capacity() == out.len() {
            out.reserve(out.len().clamp(16 * 1024, MAX_IO / 4));
        }
        let (n, grown) = f
            .uring_read(&r, out, At::Cursor)
            .map_err(|e| f.err("read", e))?;
        out = grown;
        if n == 0 {
            return Ok(out);
        }
    }
}

/// Reads the whole file as UTF-8 (`std::fs::read_to_string`).
///
/// # Errors
/// As [`read`]; `InvalidData` if it is not UTF-8.
///
/// # Switching
///
/// Suspends the current coro while the file is opened and read.
#[track_caller]
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref();
    String::from_utf8(read(path)?).map_err(|_| {
        path_err(
            "read",
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            ),
        )
    })
}

/// Writes `contents` as the whole file, creating or truncating it
/// (`std::fs::write`).
///
/// # Errors
/// As [`File::create`] and writing (`StorageFull` on a full disk), with
/// the path in the message.
///
/// # Switching
///
/// Suspends the current coro while the file is opened and written.
#[track_caller]
pub fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref();
    if ring().map_err(|e| path_err("open", path, e))?.is_none() {
        // One job on a worker, not one per system call.
        let data = contents.as_ref().to_vec();
        return std_call("write", path, move |p| std::fs::write(p, data));
    }
    let mut f = File::create(path)?;
    f.write_all(contents.as_ref())
}

/// A path operation done with io_uring.
type UringOp<'a> = dyn Fn(&uring::Ring) -> io::Result<()> + 'a;

/// Runs a path operation: `uring` when a ring is in use, `std` on a worker
/// otherwise; the error names `op` and the first path.
#[track_caller]
fn path_op(
    op: &'static str,
    path: &Path,
    uring_op: Option<&UringOp<'_>>,
    std_op: impl FnOnce() -> io::Result<()> + Send + 'static,
) -> io::Result<()> {
    let r = match (ring().map_err(|e| path_err(op, path, e))?, uring_op) {
        (Some(r), Some(f)) => f(&r),
        _ => on_worker(std_op),
    };
    r.map_err(|e| path_err(op, path, e))
}

/// Renames `from` to `to`, replacing `to` (`std::fs::rename`).
///
/// # Errors
/// As `rename(2)`, with the path in the message.
///
/// # Switching
///
/// Suspends the current coro while it is done.
#[track_caller]
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref().to_path_buf(), to.as_ref().to_path_buf());
    let (f2, t2) = (from.clone(), to.clone());
    path_op(
        "rename",
        &from,
        Some(&|r: &uring::Ring| {
            let keep = Keep {
                path: Some(cstr(&from)?),
                path2: Some(cstr(&to)?),
                ..Keep::default()
            };
            let (res, _) = r.submit(keep, |k| {
                let a = k.path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
                let b = k.path2.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
                opcode::RenameAt::new(uring::fd(libc::AT_FDCWD), a, uring::fd(libc::AT_FDCWD), b)
                    .build()
            })?;
            uring::check(res).map(drop)
        }),
        move || std::fs::rename(f2, t2),
    )
}

#[track_caller]
fn unlink(op: &'static str, path: &Path, dir: bool) -> io::Result<()> {
    let p2 = path.to_path_buf();
    path_op(
        op,
        path,
        Some(&|r: &uring::Ring| {
            let keep = Keep {
                path: Some(cstr(path)?),
                ..Keep::default()
            };
            let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
            let (res, _) = r.submit(keep, |k| {
                let p = k.path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
                opcode::UnlinkAt::new(uring::fd(libc::AT_FDCWD), p)
                    .flags(flags)
                    .build()
            })?;
            uring::check(res).map(drop)
        }),
        move || {
            if dir {
                std::fs::remove_dir(p2)
            } else {
                std::fs::remove_file(p2)
            }
        },
    )
}

/// Removes a file (`std::fs::remove_file`).
///
/// # Errors
/// As `unlink(2)`, with the path in the message.
///
/// # Switching
///
/// Suspends the current coro while it is done.
#[track_caller]
pub fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    unlink("remove_file", path.as_ref(), false)
}

/// Removes an empty directory (`std::fs::remove_dir`).
///
/// # Errors
/// As `rmdir(2)`, with the path in the message.
///
/// # Switching
///
/// Suspends the current coro while it is done.
#[track_caller]
pub fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    unlink("remove_dir", path.as_ref(), true)
}

/// Makes a directory (`std::fs::create_dir`).
///
/// # Errors
/// As `mkdir(2)`, with the path in the message.
///
/// # Switching
///
/// Suspends the current coro while it is done.
#[track_caller]
pub fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let p2 = path.to_path_buf();
    path_op(
        "create_dir",
        path,
        Some(&|r: &uring::Ring| {
            let keep = Keep {
                path: Some(cstr(path)?),
                ..Keep::default()
            };
            let (res, _) = r.submit(keep, |k| {
                let p = k.path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
                opcode::MkDirAt::new(uring::fd(libc::AT_FDCWD), p)
                    .mode(0o777)
                    .build()
            })?;
            uring::check(res).map(drop)
        }),
        move || std::fs::create_dir(p2),
    )
}

/// A std call on a worker thread, its error naming `op` and `path`.
#[track_caller]
fn std_call<T: Send + 'static>(
    op: &'static str,
    path: &Path,
    f: impl FnOnce(PathBuf) -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let p = path.to_path_buf();
    on_worker(move || f(p)).map_err(|e| path_err(op, path, e))
}

/// Makes a directory and its missing parents (`std::fs::create_dir_all`).
///
/// # Errors
/// As `mkdir(2)`, with the path in the message.
///
/// # Switching
///
/// Suspends the current coro while a worker thread does it.
#[track_caller]
pub fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    std_call("create_dir_all", path.as_ref(), std::fs::create_dir_all)
}

/// Removes a directory and everything in it (`std::fs::remove_dir_all`).
///
/// # Errors
/// As `std::fs::remove_dir_all`, with the path in the message.
///
/// # Switching
///
/// Suspends the current coro while a worker thread does it.
#[track_caller]
pub fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    std_call("remove_dir_all", path.as_ref(), std::fs::remove_dir_all)
}

/// The metadata of `path`, following symbolic links (`std::fs::metadata`).
///
/// # Errors
/// As `stat(2)`, with the path in the message.
///
/// # Switching
///
/// Suspends the current coro while a worker thread does it.
#[track_caller]
pub fn metadata(path: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
    std_call("metadata", path.as_ref(), std::fs::metadata)
}

/// The metadata of `path` itself, not following a symbolic link
/// (`std::fs::symlink_metadata`).
///
/// # Errors
/// As `lstat(2)`, with the path in the message.
///
/// # Switching
///
/// Suspends the current coro while a worker thread does it.
#[track_caller]
pub fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
    std_call("symlink_metadata", path.as_ref(), std::fs::symlink_metadata)
}

/// Whether `path` exists (`std::fs::exists`): `Ok(false)` if it does not,
/// an error if that cannot be told (no permission on a parent).
///
/// # Errors
/// As `stat(2)` other than "not found", with the path in the message.
///
/// # Switching
///
/// Suspends the current coro while a worker thread does it.
#[track_caller]
pub fn exists(path: impl AsRef<Path>) -> io::Result<bool> {
    std_call("exists", path.as_ref(), std::fs::exists)
}

/// The absolute path with every link resolved (`std::fs::canonicalize`).
///
/// # Errors
/// As `realpath(3)`, with the path in the message.
///
/// # Switching
///
/// Suspends the current coro while a worker thread does it.
#[track_caller]
pub fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    std_call("canonicalize", path.as_ref(), std::fs::canonicalize)
}

/// Copies the contents and permissions of `from` to `to`; returns the
/// bytes copied (`std::fs::copy`, which uses `copy_file_range` where it
/// can).
///
/// # Errors
/// As `std::fs::copy`, with the source path in the message.
///
/// # Switching
///
/// Suspends the current coro while a worker thread does it.
#[track_caller]
pub fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let to = to.as_ref().to_path_buf();
    std_call("copy", from.as_ref(), move |from| std::fs::copy(from, to))
}

/// Makes `link` a hard link to `original` (`std::fs::hard_link`).
///
/// # Errors
/// As `link(2)`, with the original's path in the message.
///
/// # Switching
///
/// Suspends the current coro while a worker thread does it.
#[track_caller]
pub fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let link = link.as_ref().to_path_buf();
    std_call("hard_link", original.as_ref(), move |o| {
        std::fs::hard_link(o, link)
    })
}

/// Sets the permissions of `path` (`std::fs::set_permissions`).
///
/// # Errors
/// As `chmod(2)`, with the path in the message.
///
/// # Switching
///
/// Suspends the current coro while a worker thread does it.
#[track_caller]
pub fn set_permissions(path: impl AsRef<Path>, perm: std::fs::Permissions) -> io::Result<()> {
    std_call("set_permissions", path.as_ref(), move |p| {
        std::fs::set_permissions(p, perm)
    })
}

/// The entries of a directory (`std::fs::read_dir`), listed on a worker
/// thread. The entries are `std::fs::DirEntry`s: their own `metadata()`
/// calls are std's, which block the thread (use [`metadata`] on
/// `entry.path()` instead).
///
/// # Errors
/// As `opendir(3)`/`readdir(3)`, with the path in the message.
///
/// # Switching
///
/// Suspends the current coro while a worker thread lists the directory.
#[track_caller]
pub fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref();
    let shown = path.to_path_buf();
    let entries = std_call("read_dir", path, |p| {
        Ok(std::fs::read_dir(p)?.collect::<Vec<io::Result<std::fs::DirEntry>>>())
    })?;
    let entries = entries
        .into_iter()
        .map(|e| e.map_err(|e| path_err("read_dir", &shown, e)))
        .collect::<Vec<_>>();
    Ok(ReadDir {
        entries: entries.into_iter(),
    })
}

/// The entries of a directory, from [`read_dir`].
#[derive(Debug)]
pub struct ReadDir {
    entries: std::vec::IntoIter<io::Result<std::fs::DirEntry>>,
}

impl Iterator for ReadDir {
    type Item = io::Result<std::fs::DirEntry>;
    fn next(&mut self) -> Option<Self::Item> {
        self.entries.next()
    }
}
