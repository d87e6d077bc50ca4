//! The sleeps: `nanosleep`, `clock_nanosleep` (std's `thread::sleep`),
//! `usleep`, `sleep`. On a thread with a scheduler they put the coro on a
//! corio timer; a zero sleep gives the CPU to the other ready coros once.
//! An interrupt (cancel, throw, `timeout`) ends the sleep early and stays
//! pending for the coro's next blocking corio call.

use std::panic::Location;
use std::time::{Duration, Instant};

use libc::{c_int, c_uint, clockid_t, timespec, useconds_t};

use super::park::{Ctx, ctx};
use super::real;

/// A valid `timespec` as a duration (`None`: invalid, let the C library
/// say so).
fn duration(ts: &timespec) -> Option<Duration> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Parks the coro of `c` for `d`.
#[track_caller]
fn park_for(c: &Ctx, d: Duration) {
    let loc = Location::caller();
    if d.is_zero() {
        c.cede(loc);
    } else {
        c.sleep_until(Instant::now().checked_add(d), loc);
    }
}

/// `nanosleep(2)`: the coro sleeps, not the thread.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    if let Some(c) = ctx()
        && !req.is_null()
        // SAFETY: the caller passes a valid timespec.
        && let Some(d) = duration(unsafe { &*req })
    {
        park_for(&c, d);
        return 0;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::nanosleep(req, rem) }
}

/// `clock_nanosleep(2)` (std's `thread::sleep` and `sleep_until`): the
/// coro sleeps on the real-time, monotonic and boot-time clocks, relative
/// or absolute (an absolute real-time deadline is read against the clock
/// once, when the call is made). CPU-time clocks pass straight through.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    let ours = matches!(
        clock,
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME
    );
    if ours
        && !req.is_null()
        && let Some(c) = ctx()
        // SAFETY: the caller passes a valid timespec.
        && let Some(d) = duration(unsafe { &*req })
    {
        let d = if flags & libc::TIMER_ABSTIME != 0 {
            let mut now = timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: a valid clock and out-pointer.
            if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
                // SAFETY: the caller's arguments, passed on.
                return unsafe { real::clock_nanosleep(clock, flags, req, rem) };
            }
            d.saturating_sub(duration(&now).unwrap_or_default())
        } else {
            d
        };
        park_for(&c, d);
        return 0;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::clock_nanosleep(clock, flags, req, rem) }
}

/// `usleep(3)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn usleep(us: useconds_t) -> c_int {
    if let Some(c) = ctx() {
        park_for(&c, Duration::from_micros(u64::from(us)));
        return 0;
    }
    // SAFETY: the caller's argument, passed on.
    unsafe { real::usleep(us) }
}

/// `sleep(3)`: returns 0 (the whole time was slept, or an interrupt ended
/// it: then it stays pending for the coro's next blocking corio call).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn sleep(secs: c_uint) -> c_uint {
    if let Some(c) = ctx() {
        park_for(&c, Duration::from_secs(u64::from(secs)));
        return 0;
    }
    // SAFETY: the caller's argument, passed on.
    unsafe { real::sleep(secs) }
}
