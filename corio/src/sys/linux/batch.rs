//! Advice for many ranges at once: one `process_madvise` on the calling
//! process per [`BATCH_MAX`] ranges, where the kernel accepts it, and one
//! `madvise` per range otherwise.
//!
//! A stack slot's guard install and a free stack's `MADV_DONTNEED` are
//! each a system call whose cost is mostly the call itself (the kernel walks
//! the same page tables either way), so a batch of 1,024 slots costs about
//! 40–50 % of 1,024 single calls.
//!
//! # How the calling process is named
//!
//! `process_madvise` takes a pidfd. Linux ≥ 6.15 accepts the sentinel
//! `PIDFD_SELF_PROCESS`, which needs no file descriptor and always means the
//! caller (also in a child after `fork`). On older kernels a pidfd of our own
//! pid is opened once and re-opened when the pid changes (a child after
//! `fork` must never advise its parent's memory; the kernel would refuse
//! these advices for another process anyway). Where neither works, or an
//! advice is refused for the calling process (kernels before 6.13), the
//! advice is marked unsupported once and every later call goes range by
//! range. Under valgrind, which does not know the system call, batching is
//! off from the start.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

/// Ranges per `process_madvise` call: the kernel's `IOV_MAX`.
pub(crate) const BATCH_MAX: usize = 1024;

/// Bytes per `process_madvise` call at most: the kernel caps one call's
/// total at about 2 GiB (`MAX_RW_COUNT`) and silently advises less; a range
/// bigger than this goes alone through `madvise`.
const BATCH_BYTES: usize = 1 << 30;

/// The pidfd sentinel for "the calling process" (`PIDFD_SELF_THREAD_GROUP`,
/// Linux ≥ 6.15).
const PIDFD_SELF_PROCESS: libc::c_int = -10001;

const UNKNOWN: u8 = 0;
const SENTINEL: u8 = 1;
const PIDFD: u8 = 2;
const NONE: u8 = 3;

/// How the calling process is named, decided once.
static SELF_MODE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Our pidfd and the pid it names, in `PIDFD` mode.
static SELF_FD: Mutex<Option<(libc::pid_t, OwnedFd)>> = Mutex::new(None);

/// Advices that the kernel refused through `process_madvise` on the calling
/// process, one bit each (see [`advice_bit`]).
static REFUSED: AtomicU8 = AtomicU8::new(0);

fn advice_bit(advice: libc::c_int) -> u8 {
    match advice {
        libc::MADV_DONTNEED => 1,
        super::MADV_GUARD_INSTALL => 2,
        _ => 128,
    }
}

/// Whether batched calls are in use for `advice` (for tests and reports).
pub(super) fn batched(advice: libc::c_int) -> bool {
    self_mode() != NONE && REFUSED.load(Ordering::Relaxed) & advice_bit(advice) == 0
}

fn self_mode() -> u8 {
    let mode = SELF_MODE.load(Ordering::Relaxed);
    if mode != UNKNOWN {
        return mode;
    }
    let mode = probe();
    SELF_MODE.store(mode, Ordering::Relaxed);
    mode
}

/// Finds out how to name the calling process: advises `MADV_DONTNEED` on a
/// throw-away page through the sentinel, then through a pidfd.
fn probe() -> u8 {
    let forced = std::env::var("CORIO_STACK_BATCH").ok();
    if forced.as_deref() == Some("off") || crate::sys::under_valgrind() {
        return NONE;
    }
    let page = super::page_size();
    let Ok(addr) = super::map_reserve(page) else {
        return NONE;
    };
    let iov = [libc::iovec {
        iov_base: addr as *mut _,
        iov_len: page,
    }];
    // SAFETY: the range is our fresh probe mapping, which holds nothing.
    let mode = if unsafe { call(PIDFD_SELF_PROCESS, &iov, libc::MADV_DONTNEED) } == Ok(page) {
        SENTINEL
    } else {
        match open_self() {
            Some(fd) => {
                // SAFETY: as above.
                let ok = unsafe { call(fd.as_raw_fd(), &iov, libc::MADV_DONTNEED) } == Ok(page);
                if ok {
                    // SAFETY: getpid has no preconditions.
                    let pid = unsafe { libc::getpid() };
                    *SELF_FD.lock().unwrap_or_else(|e| e.into_inner()) = Some((pid, fd));
                    PIDFD
                } else {
                    NONE
                }
            }
            None => NONE,
        }
    };
    // SAFETY: unmapping our own probe mapping.
    unsafe { libc::munmap(addr as *mut _, page) };
    mode
}

fn open_self() -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// One `process_madvise` call.
///
/// # Safety
/// When `pidfd` names the calling process, the ranges must be valid for
/// `advice` (see [`advise`]).
unsafe fn call(pidfd: libc::c_int, iov: &[libc::iovec], advice: libc::c_int) -> Result<usize, i32> {
    // SAFETY: `iov` is a valid array of `iov.len()` iovecs; the caller
    // vouches for what they name.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            pidfd,
            iov.as_ptr(),
            iov.len(),
            advice,
            0,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(rc as usize)
    }
}

/// Advises one batch through `process_madvise`; `false` when the caller
/// must do it range by range instead.
///
/// # Safety
/// As for [`advise`].
unsafe fn advise_batch(iov: &[libc::iovec], total: usize, advice: libc::c_int) -> bool {
    let result = match self_mode() {
        // SAFETY: the sentinel names the calling process; the caller vouches
        // for the ranges.
        SENTINEL => unsafe { call(PIDFD_SELF_PROCESS, iov, advice) },
        PIDFD => {
            let mut fd = SELF_FD.lock().unwrap_or_else(|e| e.into_inner());
            // SAFETY: getpid has no preconditions.
            let pid = unsafe { libc::getpid() };
            if fd.as_ref().is_none_or(|(p, _)| *p != pid) {
                // A child after fork: the inherited pidfd names the parent.
                *fd = open_self().map(|f| (pid, f));
            }
            match fd.as_ref() {
                // SAFETY: the pidfd names the calling process (its pid was
                // checked just now, under the lock); the caller vouches for
                // the ranges.
                Some((_, f)) => unsafe { call(f.as_raw_fd(), iov, advice) },
                None => return false,
            }
        }
        _ => return false,
    };
    match result {
        Ok(n) if n == total => true,
        // A partial result: the rest is done range by range (both advices
        // used here are idempotent).
        Ok(_) => false,
        Err(libc::EINVAL | libc::ENOSYS | libc::EPERM | libc::EBADF | libc::ESRCH) => {
            REFUSED.fetch_or(advice_bit(advice), Ordering::Relaxed);
            false
        }
        Err(_) => false,
    }
}

/// Applies `advice` to every `(addr, len)` range: batched where it can be,
/// one `madvise` per range otherwise. Returns the first error of a
/// range-by-range call (the ranges after it are still advised).
///
/// # Safety
/// Every range must be page aligned and lie inside a mapping made by
/// [`map_reserve`](super::map_reserve), and `advice` must be harmless to
/// whatever the ranges hold: `MADV_DONTNEED` and `MADV_GUARD_INSTALL` drop
/// their contents, so nothing may be read from them again.
pub(crate) unsafe fn advise(ranges: &[(usize, usize)], advice: libc::c_int) -> io::Result<()> {
    let mut one_by_one = OneByOne {
        advice,
        first_err: None,
    };
    if ranges.len() < 2 || !batched(advice) {
        for &(addr, len) in ranges {
            // SAFETY: the caller vouches for every range.
            unsafe { one_by_one.advise(addr, len) };
        }
        return one_by_one.result();
    }
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(ranges.len().min(BATCH_MAX));
    let mut total = 0usize;
    for &(addr, len) in ranges {
        if len > BATCH_BYTES {
            // SAFETY: as above.
            unsafe { one_by_one.advise(addr, len) };
            continue;
        }
        if iov.len() == BATCH_MAX || total + len > BATCH_BYTES {
            // SAFETY: as above.
            unsafe { flush(&mut iov, total, &mut one_by_one) };
            total = 0;
        }
        iov.push(libc::iovec {
            iov_base: addr as *mut _,
            iov_len: len,
        });
        total += len;
    }
    // SAFETY: as above.
    unsafe { flush(&mut iov, total, &mut one_by_one) };
    one_by_one.result()
}

/// Advises the collected ranges in one call (or one by one if the kernel
/// does not take them) and empties `iov`.
///
/// # Safety
/// As for [`advise`].
unsafe fn flush(iov: &mut Vec<libc::iovec>, total: usize, one_by_one: &mut OneByOne) {
    // SAFETY: the caller vouches for every range.
    if !iov.is_empty() && !unsafe { advise_batch(iov, total, one_by_one.advice) } {
        for v in iov.iter() {
            // SAFETY: as above.
            unsafe { one_by_one.advise(v.iov_base as usize, v.iov_len) };
        }
    }
    iov.clear();
}

/// The range-by-range fallback, remembering its first error.
struct OneByOne {
    advice: libc::c_int,
    first_err: Option<io::Error>,
}

impl OneByOne {
    /// # Safety
    /// As for [`advise`].
    unsafe fn advise(&mut self, addr: usize, len: usize) {
        // SAFETY: the caller vouches for the range.
        if unsafe { libc::madvise(addr as *mut _, len, self.advice) } != 0
            && self.first_err.is_none()
        {
            self.first_err = Some(io::Error::last_os_error());
        }
    }

    fn result(self) -> io::Result<()> {
        self.first_err.map_or(Ok(()), Err)
    }
}
