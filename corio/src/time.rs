//! Time: sleeping, deadlines, and `timeout` (Perl's `Coro::Timer` and
//! `Coro::AnyEvent::sleep`).
//!
//! Timers live in a per-thread heap (O(log n) to arm, O(1) to disarm), so
//! a hundred thousand sleeping coros are ordinary. The scheduler fires them
//! when it would otherwise sleep and at least once every 64 switches (16
//! when the coros switching wait for sockets, timers, futures or files).
//! When the thread has nothing else to do it sleeps until the next
//! deadline — with a reactor (sockets, cross-thread wakers) in
//! `epoll_pwait2`, whose timeout has the kernel's timer resolution (on
//! kernels before 5.11, in `epoll_wait`, rounded up to whole
//! milliseconds). A timer never fires before its deadline: a sleep never
//! returns early. It fires late by the kernel's wake-up latency plus the
//! thread's timer slack when the thread is idle, and by however long the
//! coros that run before the scheduler looks again take when it is not.
//!
//! The timer slack is how much later than asked the kernel may end a
//! timed wait, to merge wake-ups: 50 µs by default. Before its first timed
//! wait a scheduler lowers its thread's slack from that default to 10 µs
//! (`PR_SET_TIMERSLACK`), since it merges its own timers already; a
//! thread whose program set another slack keeps it. Under load the
//! default's 50 µs added up: coros woken by timers that fall due together
//! queue behind each other (an axum handler sleeping 10 ms, 256
//! connections: the median answer came 0.08 ms later with it).

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::sched::bind::Bind;
use crate::sched::timer::Action;
use crate::sched::{TimeoutUnwind, sched};

/// Blocks the current coro for at least `duration`. A zero duration just
/// gives other ready coros a turn (like [`cede_notself`](crate::cede_notself)).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let a = corio::spawn(|| corio::sleep(Duration::from_millis(20)));
/// let b = corio::spawn(|| corio::sleep(Duration::from_millis(20)));
/// a.join().unwrap();
/// b.join().unwrap();
/// let took = start.elapsed();
/// assert!(took >= Duration::from_millis(20));
/// assert!(took < Duration::from_millis(500)); // they slept at the same time
/// ```
///
/// # Panics
/// Unwinds (with the thrown payload, or to end the coro) if the coro is
/// thrown at or cancelled while it sleeps.
///
/// # Switching
///
/// Always suspends the current coro.
#[track_caller]
pub fn sleep(duration: Duration) {
    let loc = Location::caller();
    match Instant::now().checked_add(duration) {
        // Not in the past (unless `duration` is zero): no second look at
        // the clock.
        Some(deadline) if !duration.is_zero() => arm_and_park(deadline, duration, loc),
        Some(deadline) => sleep_until_at(deadline, loc),
        // Beyond the clock's range: sleep until woken by a cancel or throw.
        None => loop {
            sched().park_on(loc, crate::sched::inner::What::Sleep);
        },
    }
}

/// Blocks the current coro until `deadline` (at least). A deadline in the
/// past just gives other ready coros a turn.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let deadline = Instant::now() + Duration::from_millis(5);
/// corio::sleep_until(deadline);
/// assert!(Instant::now() >= deadline);
/// ```
///
/// # Panics
/// As [`sleep`].
///
/// # Switching
///
/// Always suspends the current coro.
#[track_caller]
pub fn sleep_until(deadline: Instant) {
    sleep_until_at(deadline, Location::caller());
}

fn sleep_until_at(deadline: Instant, loc: &'static Location<'static>) {
    let now = Instant::now();
    if deadline <= now {
        let s = sched();
        let me = s.cur();
        if me.interrupted() {
            s.raise(me);
        }
        // Coros whose earlier deadlines passed too go first.
        s.fire_timers();
        s.cede_notself(loc);
        return;
    }
    arm_and_park(deadline, deadline - now, loc);
}

/// Parks the current coro until `deadline`, which is in the future,
/// `duration` from when it was asked for.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
fn arm_and_park(deadline: Instant, duration: Duration, loc: &'static Location<'static>) {
    let s = sched();
    let me = s.cur();
    if me.interrupted() {
        s.raise(me);
    }
    let timer = s.timers.arm(deadline, Action::Ready(me));
    // Feature `tracing`: the sleep is a `Sleep` resource for tokio-console.
    #[cfg(feature = "tracing")]
    let op = crate::spans::sleep(duration, loc);
    while !timer.fired() {
        crate::sched::count_syscall_park(s);
        s.park_on(loc, crate::sched::inner::What::Sleep);
    }
    #[cfg(feature = "tracing")]
    if let Some(op) = op {
        op.ready(|| ());
    }
}

/// The error of [`timeout`]: the deadline passed before the closure
/// returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timeout(());

/// The earlier name of [`Timeout`] (tokio's), kept for code that uses it.
pub type Elapsed = Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Timeout {}

impl From<Timeout> for io::Error {
    fn from(e: Timeout) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, e)
    }
}

static NEXT_TIMEOUT: AtomicU64 = AtomicU64::new(1);

/// Runs `f` in the current coro, and interrupts it if it is still running
/// after `duration`: whatever blocking call it waits in then unwinds (its
/// `Drop`s run, as with a cancel), and `timeout` returns `Err(Timeout)`.
///
/// `Ok` means `f` returned before the deadline, and only that: whenever the
/// deadline passed before `f` returned, the result is `Err(Timeout)` and
/// `f`'s value is dropped — also when `f` returned normally after it, be it
/// code that never blocks and ran late, or code whose blocking calls cannot
/// unwind. Calls made through the [`hook`](crate::hook) feature (`std::net`,
/// `std::thread::sleep`, a blocking client library) are such calls: the
/// deadline makes them fail (`ETIMEDOUT`, a sleep cut short) rather than
/// unwind through the C library, and the library may then return its own
/// error (or retry) — `timeout` still reports `Err(Timeout)`, not the
/// library's `Ok(Err(..))`. A deadline that passes after `f` returned
/// changes nothing.
///
/// Timeouts nest; when several expire, the outermost one wins. `f` need
/// not be `'static` and runs in the calling coro.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let slow = corio::timeout(Duration::from_millis(10), || {
///     corio::sleep(Duration::from_secs(3600));
///     "never"
/// });
/// assert_eq!(slow, Err(corio::Timeout::new()));
///
/// let fast = corio::timeout(Duration::from_secs(10), || 42);
/// assert_eq!(fast, Ok(42));
///
/// // Late without blocking: not interrupted, but not in time either.
/// let late = corio::timeout(Duration::from_millis(1), || {
///     let t = Instant::now();
///     while t.elapsed() < Duration::from_millis(5) {}
///     "late"
/// });
/// assert_eq!(late, Err(corio::Timeout::new()));
/// ```
///
/// A generator must not yield from inside `f`: the timer names the coro
/// that called `timeout`, so [`Yielder::yield_`](crate::Yielder::yield_)
/// panics there.
///
/// # Panics
/// Panics that `f` raises pass through, as do the unwinds of a cancel or
/// a throw aimed at the coro. The interruption is an unwind: in a program
/// built with `panic = "abort"`, an expiring deadline prints one line
/// naming the coro and the blocking call it was in, and the process
/// aborts. A deadline that passes while the coro unwinds a panic (blocked
/// in a `Drop`) does not interrupt that `Drop`.
///
/// # Switching
///
/// Suspends the current coro whenever `f` does.
pub fn timeout<T>(duration: Duration, f: impl FnOnce() -> T) -> Result<T, Timeout> {
    let s = sched();
    let me = s.cur();
    let Some(deadline) = Instant::now().checked_add(duration) else {
        return Ok(f());
    };
    let id = NEXT_TIMEOUT.fetch_add(1, Ordering::Relaxed);
    // The timer names `me`: this frame must stay `me`'s while it is armed
    // (see `sched/bind.rs`), so a generator cannot yield from inside `f`.
    let bind = Bind::new(me);
    let timer = s.timers.arm(deadline, Action::Interrupt(me, id));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    // Whether the deadline passed before `f` returned. The clock decides
    // (a timer fires exactly when the clock reaches its deadline): also
    // for an `f` that never blocked, whose timer nothing has expired yet.
    let late = Instant::now() >= deadline;
    drop(timer);
    drop(bind);
    // A deadline that passed while `f` ran without blocking (or while a
    // hooked call, which cannot unwind, failed with it) must not fire
    // later, in whatever the caller does next.
    s.clear_timeout(me, id);
    match result {
        Ok(_) if late => Err(Timeout(())),
        Ok(v) => Ok(v),
        Err(p) => match p.downcast_ref::<TimeoutUnwind>() {
            Some(t) if t.0 == id => Err(Timeout(())),
            _ => panic::resume_unwind(p),
        },
    }
}

impl Timeout {
    /// A `Timeout` error (for tests and for wrapping APIs).
    pub fn new() -> Timeout {
        Timeout(())
    }
}

impl Default for Timeout {
    fn default() -> Self {
        Timeout::new()
    }
}
