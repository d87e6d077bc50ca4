//! Waiting on an epoll set with a timeout of nanosecond resolution.
//!
//! `epoll_wait` takes its timeout in whole milliseconds, so a wait for the
//! next timer must round up (or wake early and spin): a timer due in
//! 0.3 ms fires 1 ms later, and one due in 9.2 ms fires after 10. Linux ≥
//! 5.11 has `epoll_pwait2`, whose timeout is a `timespec`; the kernel then
//! wakes the thread at the deadline plus its timer slack (50 µs by
//! default; a scheduler's thread lowers it to 10, see
//! `sys::tighten_timer_slack`), as `nanosleep` would. Where the call is
//! missing (an older kernel, a seccomp filter that does not know it,
//! valgrind) the first failure makes every later wait use `epoll_wait`,
//! rounding up.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Cleared when `epoll_pwait2` turned out to be unavailable.
static PWAIT2: AtomicBool = AtomicBool::new(true);

/// Waits on `epfd` for at most `timeout` (`None`: until an event comes;
/// `Some(ZERO)`: not at all) and fills `events` (cleared first, up to its
/// capacity) with what the kernel reported. The wait never ends before
/// `timeout` has passed unless an event or a signal ends it.
///
/// # Errors
/// What the kernel says: `EINTR` when a signal handler ran, `EBADF` or
/// `EINVAL` for a descriptor that is not an epoll set.
pub(crate) fn epoll_wait(
    epfd: libc::c_int,
    events: &mut Vec<libc::epoll_event>,
    timeout: Option<Duration>,
) -> io::Result<()> {
    if PWAIT2.load(Ordering::Relaxed) {
        match wait_ns(epfd, events, timeout) {
            // Missing (ENOSYS) or refused by a seccomp filter (EPERM, which
            // the call itself never returns): fall back for good.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                PWAIT2.store(false, Ordering::Relaxed);
            }
            r => return r,
        }
    }
    wait_ms(epfd, events, timeout)
}

/// The room in `events`, cleared, for the kernel to fill.
fn room(events: &mut Vec<libc::epoll_event>) -> (*mut libc::epoll_event, libc::c_int) {
    events.clear();
    let cap = events.capacity().min(libc::c_int::MAX as usize) as libc::c_int;
    (events.as_mut_ptr(), cap)
}

/// [`epoll_wait`] with `epoll_pwait2`.
fn wait_ns(
    epfd: libc::c_int,
    events: &mut Vec<libc::epoll_event>,
    timeout: Option<Duration>,
) -> io::Result<()> {
    let (buf, cap) = room(events);
    let ts = timeout.map(|t| libc::timespec {
        // Beyond the range of `time_t` (never, in practice): as long as
        // the kernel lets us wait.
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
    });
    let tp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `buf` has room for `cap` events (the vector's capacity), `tp`
    // is null or points to `ts`, which outlives the call, and a null signal
    // mask leaves the mask alone. The kernel writes at most `cap` events
    // and reads nothing else.
    let r = unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait2,
            epfd,
            buf,
            cap,
            tp,
            std::ptr::null::<libc::sigset_t>(),
            0usize,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel initialised the first `r` (≤ `cap`) events.
    unsafe { events.set_len(r as usize) };
    Ok(())
}

/// [`epoll_wait`] with `epoll_wait`: the timeout rounded up to whole
/// milliseconds (zero only when zero was asked for), as mio does.
fn wait_ms(
    epfd: libc::c_int,
    events: &mut Vec<libc::epoll_event>,
    timeout: Option<Duration>,
) -> io::Result<()> {
    let (buf, cap) = room(events);
    let ms = timeout.map_or(-1, |t| {
        let ms = t
            .checked_add(Duration::from_nanos(999_999))
            .unwrap_or(t)
            .as_millis();
        libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
    });
    // SAFETY: `buf` has room for `cap` events; the kernel writes at most
    // `cap` of them.
    let r = unsafe { libc::epoll_wait(epfd, buf, cap, ms) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel initialised the first `r` (≤ `cap`) events.
    unsafe { events.set_len(r as usize) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Instant;

    fn epoll() -> OwnedFd {
        // SAFETY: epoll_create1 has no preconditions; the descriptor it
        // returns is ours alone.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(fd >= 0, "{}", io::Error::last_os_error());
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    type Wait = fn(libc::c_int, &mut Vec<libc::epoll_event>, Option<Duration>) -> io::Result<()>;

    /// Both ways of waiting (the fallback too, where the kernel has
    /// `epoll_pwait2`).
    fn waits() -> Vec<Wait> {
        vec![epoll_wait, wait_ms]
    }

    /// A wait with no event lasts at least its timeout, and a zero timeout
    /// returns at once with nothing.
    #[test]
    fn waits_at_least_the_timeout() {
        let ep = epoll();
        let mut events = Vec::with_capacity(8);
        for wait in waits() {
            for t in [Duration::from_micros(300), Duration::from_micros(2_500)] {
                let start = Instant::now();
                wait(ep.as_raw_fd(), &mut events, Some(t)).unwrap();
                assert!(start.elapsed() >= t, "{:?} < {t:?}", start.elapsed());
                assert!(events.is_empty());
            }
            wait(ep.as_raw_fd(), &mut events, Some(Duration::ZERO)).unwrap();
            assert!(events.is_empty());
        }
    }

    /// An event that is pending is reported, with its token.
    #[test]
    fn reports_events() {
        let ep = epoll();
        // SAFETY: eventfd has no preconditions.
        let efd = unsafe { libc::eventfd(1, libc::EFD_CLOEXEC) };
        assert!(efd >= 0);
        // SAFETY: a fresh descriptor nobody else owns.
        let efd = unsafe { OwnedFd::from_raw_fd(efd) };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 77,
        };
        // SAFETY: both descriptors are open; `ev` is a valid event.
        let r = unsafe {
            libc::epoll_ctl(
                ep.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                efd.as_raw_fd(),
                &mut ev,
            )
        };
        assert_eq!(r, 0);
        let mut events = Vec::with_capacity(8);
        for wait in waits() {
            // Level-triggered: reported to every wait.
            wait(ep.as_raw_fd(), &mut events, None).unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!({ events[0].u64 }, 77);
        }
    }
}
