//! Reads and writes done straight between the caller's buffer and the
//! page cache, on the calling thread, when they need not wait:
//! `preadv2`/`pwritev2` with `RWF_NOWAIT`. The kernel then either moves
//! the bytes during the system call or refuses with `EAGAIN` (data not
//! cached, dirty pages throttled, a lock held), and the call falls back to
//! io_uring or a worker thread, which wait.
//!
//! Why not hand the caller's buffer to io_uring or a worker: the kernel or
//! the worker would write into memory the calling coro only borrows, after
//! the call has parked. Waiting out a cancelled operation in the unwinding
//! covers cancels, timeouts, throws, `select!` and `scope`; it does not
//! cover the memory being freed without that coro unwinding at all. A
//! thread-local value is freed by its destructor at thread exit — or when
//! another coro of the thread calls `std::process::exit` (the C library
//! runs the calling thread's thread-local destructors first) — while a
//! coro that borrowed its buffer from it inside `LocalKey::with` may still
//! be parked: the scheduler never resumes such a coro (its frames are
//! leaked), but the thread-local's own destructor frees the memory
//! regardless, possibly before the scheduler's own thread-local destructor
//! runs, so no drain there can come first. A non-blocking read finishes
//! its writes before it returns, so nothing can outlive it.
//!
//! This is the same attempt io_uring makes itself when an operation is
//! submitted (a non-blocking try in the submitting thread before any
//! asynchronous work); done directly it skips the ring's bookkeeping, the
//! park and the copy through a buffer the operation owns.

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// `offset` for "use and advance the file position".
const CURSOR: libc::off_t = -1;

/// What the attempt gave.
pub(super) enum Tried {
    /// Moved this many bytes (`0` at the end of the file for a read).
    Done(usize),
    /// Would have waited: use the waiting path.
    Wait,
    /// `RWF_NOWAIT` is not supported for this file (or kernel): use the
    /// waiting path, and stop trying on this file.
    Unsupported,
}

fn classify(n: isize) -> io::Result<Tried> {
    if n >= 0 {
        return Ok(Tried::Done(n as usize));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::EINTR) => Ok(Tried::Wait),
        // Kernels without preadv2 (ENOSYS, before 4.6) or RWF_NOWAIT
        // (EOPNOTSUPP, before 4.14), files whose driver has no
        // non-blocking path (EOPNOTSUPP), or that take no such call
        // (EINVAL).
        Some(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS) => Ok(Tried::Unsupported),
        _ => Err(e),
    }
}

/// Reads into `buf` if that needs no waiting; `offset` `None` for the file
/// position.
pub(super) fn read(fd: RawFd, buf: &mut [u8], offset: Option<u64>) -> io::Result<Tried> {
    // SAFETY: an initialised slice is valid as an uninitialised one, and
    // the kernel writes only bytes (any value is a valid `u8`).
    read_uninit(
        fd,
        unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) },
        offset,
    )
}

/// [`read`] into memory that need not be initialised (a `Vec`'s spare
/// capacity); on `Done(n)` its first `n` bytes are.
pub(super) fn read_uninit(
    fd: RawFd,
    buf: &mut [MaybeUninit<u8>],
    offset: Option<u64>,
) -> io::Result<Tried> {
    let Some(off) = offset_arg(offset) else {
        // The waiting path reports the error.
        return Ok(Tried::Wait);
    };
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, valid for writes of its length for
    // the whole call. preadv2 is a synchronous system call: the kernel
    // writes into `buf` only before it returns (nothing is queued to write
    // later, unlike an io_uring operation), so nothing writes into it after
    // we return, whatever happens to the caller next. RWF_NOWAIT only keeps
    // the call from blocking the thread.
    let n = unsafe { libc::preadv2(fd, &iov, 1, off, libc::RWF_NOWAIT) };
    classify(n)
}

/// Writes from `buf` if that needs no waiting; `offset` `None` for the file
/// position (or the end, for a file opened to append).
pub(super) fn write(fd: RawFd, buf: &[u8], offset: Option<u64>) -> io::Result<Tried> {
    let Some(off) = offset_arg(offset) else {
        // The waiting path reports the error.
        return Ok(Tried::Wait);
    };
    let iov = libc::iovec {
        iov_base: buf.as_ptr().cast_mut().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, valid for reads of its length for the
    // whole call (the kernel only reads through it), and only during it.
    let n = unsafe { libc::pwritev2(fd, &iov, 1, off, libc::RWF_NOWAIT) };
    classify(n)
}

/// The kernel's offset argument; `None` for offsets it cannot take (past
/// `i64::MAX`: the waiting path reports the error).
fn offset_arg(offset: Option<u64>) -> Option<libc::off_t> {
    match offset {
        None => Some(CURSOR),
        Some(o) => libc::off_t::try_from(o).ok(),
    }
}

/// Whether `openat2` with `RESOLVE_CACHED` was refused as unknown (Linux
/// before 5.12): [`open`] then no longer tries.
static NO_CACHED_OPEN: AtomicBool = AtomicBool::new(false);

/// Opens `path` if that needs no waiting, exactly as io_uring's own first
/// attempt at an open does: the path is looked up only through cached
/// directory entries (`RESOLVE_CACHED`: `EAGAIN` if that is not enough),
/// with `O_NONBLOCK` so that a FIFO does not wait for its other end, a flag
/// cleared again after the open unless the caller asked for it. (So, as on
/// io_uring, opening a FIFO to read does not wait for a writer; opening
/// one to write with no reader fails here with `ENXIO` and is retried the
/// waiting way.) `None`: not cached, an error, or a flag that may write
/// (`O_CREAT`, `O_TRUNC`, `O_TMPFILE`, which io_uring never tries inline
/// either) — the caller opens it the waiting way, which also gives the
/// canonical error.
pub(super) fn open(path: &CStr, flags: i32) -> Option<OwnedFd> {
    if flags & (libc::O_CREAT | libc::O_TRUNC | libc::O_TMPFILE) != 0
        || NO_CACHED_OPEN.load(Ordering::Relaxed)
    {
        return None;
    }
    // SAFETY: all-zero is a valid `open_how` (plain integers).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_NONBLOCK | libc::O_CLOEXEC) as u64;
    how.mode = 0;
    how.resolve = libc::RESOLVE_CACHED;
    // SAFETY: `path` is NUL-terminated and `how` is a valid `open_how` of
    // the size passed; both are only read during the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error().raw_os_error();
        if matches!(e, Some(libc::ENOSYS | libc::EINVAL | libc::E2BIG)) {
            NO_CACHED_OPEN.store(true, Ordering::Relaxed);
        }
        return None;
    }
    // SAFETY: the kernel just opened `fd` for us; nobody else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: fcntl takes a descriptor and numbers.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) };
        if r != 0 {
            return None;
        }
    }
    Some(fd)
}
