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

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;

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
        // Kernels before 4.14 (EINVAL for unknown flags), files whose
        // driver has no non-blocking path (EOPNOTSUPP).
        Some(libc::EOPNOTSUPP | libc::EINVAL) => Ok(Tried::Unsupported),
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
    // the whole call; with RWF_NOWAIT the kernel writes into it only
    // during this call (it returns EAGAIN rather than queueing work that
    // would write later), so nothing writes into it after we return,
    // whatever happens to the caller next.
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
