//! Files without blocking the thread (Perl's Coro::AIO): `std::fs`'s
//! functions and [`File`], where a call that waits for the disk parks only
//! the calling coro while the other coros of its thread run.
//!
//! Two back-ends, chosen at run time:
//!
//! - **io_uring** (Linux ≥ 5.6, unless `kernel.io_uring_disabled` or a
//!   seccomp filter forbids it, and only with the `io-uring` feature, on
//!   by default): one ring per scheduler thread. Opening,
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
//! Reads and writes of data that needs no waiting skip both: a
//! [`File`] read (and [`read`]'s reads, on io_uring) first asks the
//! kernel for a non-blocking read straight into the caller's buffer, on
//! the calling thread (`preadv2` with `RWF_NOWAIT`; writes likewise with
//! `pwritev2`). Cached data is thus read as by `std::fs`, with no copy, no
//! park and no ring round trip, and the coro keeps the CPU as a socket read
//! with data waiting does. Only when the kernel would wait (data not in the
//! page cache, a pipe with nothing in it, a write that must wait for
//! writeback) does the call go to io_uring or a worker, through a buffer
//! of the operation's own, copied to or from the caller's: a coro that is
//! cancelled, timed out or abandoned at thread exit while such an
//! operation is in flight leaves it writing into memory nobody else uses.
//! (Handing the caller's buffer itself to the kernel or a worker would not
//! be sound even with the unwinding waiting for the operation: a
//! thread-local's destructor can free a buffer its coro borrowed while that
//! coro stays parked; see `fs/direct.rs`.) File systems without
//! non-blocking buffered writes (ext4 among them) refuse the first direct
//! write of each [`File`] with `EOPNOTSUPP`; that handle's writes then
//! always take the waiting path. On the worker threads, opening a file
//! without creating or truncating it is tried the same way first
//! (`openat2` with `RESOLVE_CACHED` and `O_NONBLOCK`, which io_uring's own
//! open also tries first), so a cached [`read`] needs no worker at all; as
//! with io_uring's open, opening a FIFO to read then does not wait for a
//! writer.
//!
//! While eight or more file operations of a thread are under way at once,
//! its opens run on another CPU, beside the thread's own reads: with
//! io_uring, on a second ring whose kernel thread polls for submissions
//! (`IORING_SETUP_SQPOLL`, shown as `iou-sqp-PID`); on the worker threads,
//! on a helper thread of corio's (`corio-opener`), which tries each open
//! without waiting and hands back the ones that would wait. Either thread
//! spins for at most 1 ms after the last such open, then sleeps; with fewer
//! operations under way, opens complete on the calling thread as before.
//! Not on one CPU (nor, for the ring, under valgrind);
//! `CORIO_FS_SQPOLL=off` turns both off.
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

#[cfg(feature = "io-uring")]
mod uring;
#[cfg(not(feature = "io-uring"))]
#[path = "no_uring.rs"]
mod uring;

use std::ffi::CString;
use std::fmt;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

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
                    crate::warn::warn(
                        "corio::fs",
                        format_args!(
                            "CORIO_FS={other:?} is not one of auto, uring, threads; using auto"
                        ),
                    );
                    AUTO
                }
                _ if crate::sys::under_valgrind() => {
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

/// Whether opens may go to a thread of their own under load (the polled
/// ring's kernel thread, or the worker threads' helper): not on one CPU,
/// nor with `CORIO_FS_SQPOLL=off`.
fn offload_wanted() -> bool {
    std::env::var("CORIO_FS_SQPOLL").as_deref() != Ok("off")
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
}

mod direct;
mod file;
mod opener;
mod slots;
pub use file::{File, OpenOptions};

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
    let r = ring().map_err(|e| path_err("open", path, e))?;
    let f = match &r {
        Some(_) => File::open(path)?,
        None => {
            let c = cstr(path).map_err(|e| path_err("open", path, e))?;
            match File::open_direct(path, &c, libc::O_RDONLY | libc::O_CLOEXEC) {
                Some(f) => f,
                // Not cached: one job on a worker, not one per system call.
                None => return std_call("read", path, std::fs::read),
            }
        }
    };
    // Read straight into the output, growing it: no size query, no copy.
    f.read_rest(r.as_deref(), Vec::with_capacity(16 * 1024))
        .map_err(|e| f.err("read", e))
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
        Some(&|r: &uring::Ring| uring::rename(r, cstr(&from)?, cstr(&to)?)),
        move || std::fs::rename(f2, t2),
    )
}

#[track_caller]
fn unlink(op: &'static str, path: &Path, dir: bool) -> io::Result<()> {
    let p2 = path.to_path_buf();
    path_op(
        op,
        path,
        Some(&|r: &uring::Ring| uring::unlink(r, cstr(path)?, dir)),
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
        Some(&|r: &uring::Ring| uring::mkdir(r, cstr(path)?, 0o777)),
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
