//! The readiness waits: `poll`, `ppoll`, `select`, `pselect`, and
//! `epoll_wait` on an epoll descriptor other than the reactor's own.
//!
//! With a timeout other than zero, in a context that can park, each one
//! asks the kernel without waiting; if nothing is ready, it registers the
//! descriptors with the thread's reactor, parks until one of them has an
//! event (or the timeout passes), and asks the kernel again for the exact
//! answer. Everything else passes straight through.

use std::panic::Location;
use std::time::{Duration, Instant};

use libc::{c_int, epoll_event, fd_set, nfds_t, pollfd, sigset_t, size_t, timespec, timeval};

use super::park::{Ctx, READ, Reg, WRITE, Wait, ctx, errno, registration, set_errno};
use super::real;
use super::table;
use crate::sched::inner::What;

/// The deadline of a timeout in milliseconds (negative: none).
fn deadline_ms(ms: c_int) -> Option<Instant> {
    if ms < 0 {
        None
    } else {
        Instant::now().checked_add(Duration::from_millis(ms as u64))
    }
}

/// The deadline of a `timespec` timeout (`None`: none; invalid: `Err`).
fn deadline_ts(ts: Option<&timespec>) -> Result<Option<Instant>, ()> {
    let Some(ts) = ts else {
        return Ok(None);
    };
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(());
    }
    let d = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    Ok(Instant::now().checked_add(d))
}

/// Whether a `timespec` timeout is zero (the call must not wait).
fn zero_ts(ts: Option<&timespec>) -> bool {
    ts.is_some_and(|ts| ts.tv_sec == 0 && ts.tv_nsec == 0)
}

/// The directions `events` asks about.
fn dirs(events: i16) -> u8 {
    let mut d = 0;
    if events & (libc::POLLIN | libc::POLLPRI | libc::POLLRDNORM | libc::POLLRDBAND) != 0 {
        d |= READ;
    }
    if events & (libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND) != 0 {
        d |= WRITE;
    }
    // Errors and hang-ups are reported whatever was asked: they wake
    // both directions.
    if d == 0 { READ } else { d }
}

/// The parking `poll` (see the module docs): the kernel's answer for
/// `fds`, waiting until `deadline` at most. `-1` with errno on failure.
#[track_caller]
fn poll_parked(c: &Ctx, fds: &mut [pollfd], deadline: Option<Instant>) -> c_int {
    let loc = Location::caller();
    let n = fds.len() as nfds_t;
    loop {
        // SAFETY: `fds` is the caller's array of `n` pollfds.
        let r = unsafe { real::poll(fds.as_mut_ptr(), n, 0) };
        if r != 0 {
            return r;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return 0;
        }
        let mut regs: Vec<(Reg, u8)> = Vec::with_capacity(fds.len());
        for p in fds.iter() {
            if p.fd < 0 {
                continue;
            }
            let rec = table::tracked(p.fd);
            let generation = rec.map_or(0, table::Rec::generation);
            // A descriptor epoll refuses (a regular file) is always ready,
            // so the kernel would have said so above.
            if let Some(reg) = registration(c, p.fd, rec, generation) {
                regs.push((reg, dirs(p.events)));
            }
        }
        if regs.is_empty() {
            // Nothing to wait for but the time.
            c.sleep_until(deadline, loc);
            if c.interrupted() {
                set_errno(c.interrupt_errno());
                return -1;
            }
            continue;
        }
        for (reg, d) in &regs {
            // The kernel just said: not ready.
            reg.state().clear(*d);
        }
        let waits: Vec<_> = regs.iter().map(|(r, d)| (r.state(), *d)).collect();
        let what = What::Fd(
            fds.iter().find(|p| p.fd >= 0).map_or(-1, |p| p.fd),
            waits[0].1,
        );
        if c.wait_any(&waits, deadline, what, loc) == Wait::Interrupted {
            set_errno(c.interrupt_errno());
            return -1;
        }
    }
}

/// `poll(2)`: parks the coro instead of the thread (see the module docs).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int {
    if timeout != 0
        && !fds.is_null()
        && let Some(c) = ctx()
    {
        // SAFETY: the caller passes `n` valid pollfds.
        let fds = unsafe { std::slice::from_raw_parts_mut(fds, n as usize) };
        return poll_parked(&c, fds, deadline_ms(timeout));
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::poll(fds, n, timeout) }
}

/// `__poll_chk` (`_FORTIFY_SOURCE`'s `poll`).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn __poll_chk(
    fds: *mut pollfd,
    n: nfds_t,
    timeout: c_int,
    fdslen: size_t,
) -> c_int {
    if (fdslen / std::mem::size_of::<pollfd>()) < n as usize {
        // SAFETY: glibc reports the overflow and aborts.
        return unsafe { real::__poll_chk(fds, n, timeout, fdslen) };
    }
    // SAFETY: as for `poll`.
    unsafe { poll(fds, n, timeout) }
}

/// `ppoll(2)`: as `poll`; with a signal mask it passes straight through
/// (the mask must be in force while the thread waits, which only the
/// kernel can do).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn ppoll(
    fds: *mut pollfd,
    n: nfds_t,
    timeout: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    // SAFETY: a non-null timeout points to a valid timespec (the C
    // function's contract).
    let ts = unsafe { timeout.as_ref() };
    if mask.is_null()
        && !zero_ts(ts)
        && !fds.is_null()
        && let Ok(deadline) = deadline_ts(ts)
        && let Some(c) = ctx()
    {
        // SAFETY: the caller passes `n` valid pollfds.
        let fds = unsafe { std::slice::from_raw_parts_mut(fds, n as usize) };
        return poll_parked(&c, fds, deadline);
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::ppoll(fds, n, timeout, mask) }
}

/// `select` through `poll_parked`: `None` when it must pass through.
///
/// # Safety
/// Each of `r`, `w`, `e` is null or points to an `fd_set` the caller may
/// read and write (the C function's contract for its arguments).
unsafe fn select_parked(
    n: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    deadline: Option<Instant>,
) -> Option<c_int> {
    let c = ctx()?;
    if !(0..=libc::FD_SETSIZE as c_int).contains(&n) {
        return None;
    }
    let set = |s: *mut fd_set, fd| {
        !s.is_null() && {
            // SAFETY: a non-null set is the caller's, and fd < FD_SETSIZE.
            unsafe { libc::FD_ISSET(fd, s) }
        }
    };
    let mut fds = Vec::new();
    for fd in 0..n {
        let mut events = 0;
        if set(r, fd) {
            events |= libc::POLLIN;
        }
        if set(w, fd) {
            events |= libc::POLLOUT;
        }
        if set(e, fd) {
            events |= libc::POLLPRI;
        }
        if events != 0 {
            fds.push(pollfd {
                fd,
                events,
                revents: 0,
            });
        }
    }
    let k = poll_parked(&c, &mut fds, deadline);
    if k < 0 {
        return Some(k);
    }
    if fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
        set_errno(libc::EBADF);
        return Some(-1);
    }
    for s in [r, w, e] {
        if !s.is_null() {
            // SAFETY: the caller's set.
            unsafe { libc::FD_ZERO(s) };
        }
    }
    let mut count = 0;
    for p in &fds {
        let mut mark = |s: *mut fd_set| {
            if !s.is_null() {
                // SAFETY: the caller's set; fd < n <= FD_SETSIZE.
                unsafe { libc::FD_SET(p.fd, s) };
                count += 1;
            }
        };
        let err = p.revents & (libc::POLLERR | libc::POLLHUP) != 0;
        if p.events & libc::POLLIN != 0 && (p.revents & libc::POLLIN != 0 || err) {
            mark(r);
        }
        if p.events & libc::POLLOUT != 0 && (p.revents & libc::POLLOUT != 0 || err) {
            mark(w);
        }
        if p.events & libc::POLLPRI != 0 && p.revents & libc::POLLPRI != 0 {
            mark(e);
        }
    }
    Some(count)
}

/// `select(2)`: parks the coro (through `poll`); the timeout is updated
/// with the time left, as Linux does.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn select(
    n: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    t: *mut timeval,
) -> c_int {
    // SAFETY: a non-null timeout points to a timeval.
    let tv = (!t.is_null()).then(|| unsafe { *t });
    let zero = tv.is_some_and(|tv| tv.tv_sec == 0 && tv.tv_usec == 0);
    let valid = tv.is_none_or(|tv| tv.tv_sec >= 0 && (0..1_000_000).contains(&tv.tv_usec));
    if !zero && valid {
        let deadline = tv.and_then(|tv| {
            Instant::now().checked_add(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
        });
        // SAFETY: the caller's sets, as `select` received them.
        if let Some(k) = unsafe { select_parked(n, r, w, e, deadline) } {
            let saved = errno();
            if let (Some(d), false) = (deadline, t.is_null()) {
                let left = d.saturating_duration_since(Instant::now());
                // SAFETY: the caller's timeval.
                unsafe {
                    (*t).tv_sec = left.as_secs() as libc::time_t;
                    (*t).tv_usec = left.subsec_micros() as libc::suseconds_t;
                }
            }
            set_errno(saved);
            return k;
        }
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::select(n, r, w, e, t) }
}

/// `pselect(2)`: as `select`; with a signal mask it passes through.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn pselect(
    n: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    t: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    // SAFETY: as in `ppoll`.
    let ts = unsafe { t.as_ref() };
    if mask.is_null()
        && !zero_ts(ts)
        && let Ok(deadline) = deadline_ts(ts)
        // SAFETY: the caller's sets, as `pselect` received them.
        && let Some(k) = unsafe { select_parked(n, r, w, e, deadline) }
    {
        return k;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::pselect(n, r, w, e, t, mask) }
}

/// The parking `epoll_wait` (an epoll descriptor is itself pollable: it
/// is readable while it has events to report).
///
/// # Safety
/// `ev` points to `max` writable `epoll_event`s (the C function's
/// contract).
#[track_caller]
unsafe fn epoll_parked(
    c: &Ctx,
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    deadline: Option<Instant>,
) -> c_int {
    let loc = Location::caller();
    loop {
        // SAFETY: the caller's buffer of `max` events.
        let r = unsafe { real::epoll_wait(epfd, ev, max, 0) };
        if r != 0 {
            return r;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return 0;
        }
        let rec = table::tracked(epfd);
        let generation = rec.map_or(0, table::Rec::generation);
        let Some(reg) = registration(c, epfd, rec, generation) else {
            // Not pollable here: wait in the kernel after all.
            let ms = deadline.map_or(-1, |d| {
                c_int::try_from(d.saturating_duration_since(Instant::now()).as_millis())
                    .unwrap_or(c_int::MAX)
            });
            // SAFETY: the caller's arguments.
            return unsafe { real::epoll_wait(epfd, ev, max, ms) };
        };
        let st = reg.state();
        st.clear(READ);
        // Not interruptible: an event loop takes any error from
        // `epoll_wait` for a bug (tokio panics, then panics again in the
        // `Drop`s of its clients, which aborts). A cancel, throw or timeout
        // is delivered when the client's call has returned, at the coro's
        // next corio call.
        c.wait_one_as(st, READ, deadline, What::Fd(epfd, READ), loc, false);
    }
}

/// Whether `epfd` is this thread's own reactor (its loop polls it).
fn own(c: &Ctx, epfd: c_int) -> bool {
    c.s.reactor_if_made().is_some_and(|r| r.epoll_fd() == epfd)
}

/// `epoll_wait(2)` on somebody else's epoll descriptor (a client's private
/// event loop, such as the tokio runtime inside the `postgres` crate's
/// blocking `Client`): parks the coro. The reactor's own passes through.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    timeout: c_int,
) -> c_int {
    if timeout != 0
        && max > 0
        && let Some(c) = ctx()
        && !own(&c, epfd)
    {
        // SAFETY: the caller's buffer of `max` events.
        return unsafe { epoll_parked(&c, epfd, ev, max, deadline_ms(timeout)) };
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::epoll_wait(epfd, ev, max, timeout) }
}

/// `epoll_pwait(2)`: as `epoll_wait`; with a signal mask it passes through.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    timeout: c_int,
    mask: *const sigset_t,
) -> c_int {
    if mask.is_null() {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { epoll_wait(epfd, ev, max, timeout) };
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::epoll_pwait(epfd, ev, max, timeout, mask) }
}
