//! The inspector (Perl's `Coro::Debug`): what every coro of this thread is
//! doing, and where.

#[cfg(feature = "debug-shell")]
mod shell;

#[cfg(feature = "debug-shell")]
pub use shell::{DebugServer, serve_tcp, serve_tcp_insecure, serve_unix};

use crate::sched::inner::CoroRef;
pub use crate::sched::ps::PsMode;
use crate::sched::ps::listing;
use crate::sched::sched;
use crate::{Coro, CoroId};

/// The ps listing of this thread's coros: one row per live coro, the main
/// coro first, then in creation order.
///
/// Columns:
/// - `ID`: the [`CoroId`].
/// - `ST`: state — `R` running, `r` ready, `S` blocked or suspended, `N` new
///   (never ran); a following `C` marks a cancelled coro, `L` a leaked one.
/// - `STACK`: deepest stack use seen at a switch / stack size (`-` for the
///   main coro, which runs on the thread's stack).
/// - `SWITCHES`: how many times it was switched in.
/// - `CPU`: CPU seconds while [`enable_times`] is on, else `-`.
/// - `DESC`: its description ([`Coro::set_desc`](crate::Coro::set_desc)).
/// - `WHAT`: what a blocked coro waits on — `semaphore@ID`, `signal@ID`,
///   `channel@ID get|put`, `mpmc@ID get|put`, `mutex@ID held by N`,
///   `rwlock@ID read|write held by N`, `join N`, `cancel N`, `sleep`,
///   `fd N read|write`, `schedule`, `rouse`, `future`. `ID` is the object's
///   address (its low 24 bits here, in full in the wide forms), so coros
///   waiting on the same object show the same `ID`.
/// - `WHERE`: `file:line` of the call it blocks (or last ceded) in.
///
/// Below the rows, the waits-for graph: `cycle: a -> b -> a` for coros
/// that wait on each other (joins, cancels, lock holders), and `leaked:
/// N: why` for coros nothing can wake any more — in a cycle, waiting for
/// one that is, or suspended with no handle left to `ready()` them. Their
/// `ST` has an `L`. The deadlock report uses the same listing.
///
/// # Examples
///
/// ```
/// let h = corio::Builder::new().name("sleeper").spawn(|| corio::schedule()).unwrap();
/// corio::cede();
/// let ps = corio::debug::ps();
/// let row = ps.lines().find(|l| l.contains("sleeper")).unwrap();
/// assert!(row.contains(" S "));
/// assert!(row.contains(".rs:"));
/// h.cancel();
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn ps() -> String {
    ps_with(PsMode::Normal)
}

/// [`ps`] in the given form.
///
/// # Examples
///
/// ```
/// use corio::debug::{ps_with, PsMode};
/// let name = "a coro with a rather long description";
/// let h = corio::Builder::new().name(name).spawn(|| ()).unwrap();
/// assert!(!ps_with(PsMode::Normal).contains(name));
/// assert!(ps_with(PsMode::Wide).contains(name));
/// # h.join().unwrap();
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn ps_with(mode: PsMode) -> String {
    let s = sched();
    listing(s, mode, Some(s.cur()))
}

/// Turns per-coro time accounting on or off for this thread and returns the
/// previous setting (Perl's `enable_times`). While on, every switch reads
/// the clocks; [`Coro::times`](crate::Coro::times) and the `CPU` column of
/// [`ps`] show the result.
///
/// # Examples
///
/// ```
/// assert!(!corio::debug::enable_times(true));
/// let h = corio::spawn(|| (0..100_000u64).map(std::hint::black_box).sum::<u64>());
/// let c = h.coro();
/// h.join().unwrap();
/// assert!(c.times().0 > std::time::Duration::ZERO);
/// assert!(corio::debug::enable_times(false));
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn enable_times(on: bool) -> bool {
    sched().enable_times(on)
}

/// Starts the blocked-scheduler monitor for this thread: when a coro keeps
/// the CPU longer than `threshold` without switching — a tight loop, a
/// blocking call made outside corio, a long computation that should go to
/// [`multicore::run`](crate::multicore::run) — every other coro of the
/// thread stalls. The monitor warns (through `log`, target
/// `corio::monitor`; on stderr, at most once every 5 s, when no logger is
/// installed) twice: while it happens, from a watchdog thread, with
/// the coro's id and where it was resumed; and when the coro switches at
/// last, with its description, how long it ran, and where it switched
/// out. Stops when the returned guard is dropped; starting it again
/// replaces the threshold.
///
/// Costs two clock reads per switch while on; nothing when off.
///
/// `CORIO_MONITOR=<ms>` in the environment starts it on every scheduler
/// without code changes (`0` turns it off); with no `log` logger
/// installed, its warnings then go to stderr.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let _monitor = corio::debug::monitor(Duration::from_millis(100)).unwrap();
/// let h = corio::Builder::new().name("hog").spawn(|| {
///     let start = std::time::Instant::now();
///     while start.elapsed() < Duration::from_millis(150) {} // keeps the thread!
/// }).unwrap();
/// h.join().unwrap(); // logs: coro N [hog] held thread … for 150 ms …
/// ```
///
/// # Errors
/// When the watchdog thread cannot be started.
///
/// # Switching
///
/// Never suspends the current coro.
pub fn monitor(threshold: std::time::Duration) -> std::io::Result<Monitor> {
    sched().set_monitor(Some(threshold))?;
    Ok(Monitor {
        _not_send: std::marker::PhantomData,
    })
}

/// Keeps the blocked-scheduler monitor of [`monitor`] running; dropping it
/// stops the monitor.
#[must_use = "the monitor stops as soon as the guard is dropped"]
#[derive(Debug)]
pub struct Monitor {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Some(s) = crate::sched::try_sched() {
            let _ = s.set_monitor(None);
        }
    }
}

/// Every live coro of this thread, the main coro first, then in creation
/// order (the rows of [`ps`]).
///
/// # Examples
///
/// ```
/// let h = corio::spawn(|| ());
/// let ids: Vec<_> = corio::debug::coros().iter().map(|c| c.id()).collect();
/// assert_eq!(ids, [corio::current().id(), h.coro().id()]);
/// # h.join().unwrap();
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn coros() -> Vec<Coro> {
    let s = sched();
    let mut v = Vec::new();
    s.for_each_coro(|c| {
        // SAFETY: every coro is made by `Rc`, and `c` is alive.
        v.push(Coro(unsafe { CoroRef::clone_raw(c) }));
    });
    v
}

/// The live coro of this thread with id `id` (as shown by [`ps`]), if any.
///
/// # Examples
///
/// ```
/// let h = corio::Builder::new().name("x").spawn(|| ()).unwrap();
/// let id: corio::CoroId = h.coro().id().to_string().parse().unwrap();
/// assert_eq!(corio::debug::find(id).unwrap().desc(), "x");
/// h.join().unwrap();
/// assert!(corio::debug::find(id).is_none());
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn find(id: CoroId) -> Option<Coro> {
    let s = sched();
    let mut found = None;
    s.for_each_coro(|c| {
        if c.id == id && found.is_none() {
            // SAFETY: every coro is made by `Rc`, and `c` is alive.
            found = Some(Coro(unsafe { CoroRef::clone_raw(c) }));
        }
    });
    found
}

/// Turns switch tracing of `coro` on or off (Coro::Debug's `trace`): while
/// on, every switch into and out of it is logged at `info` level, target
/// `corio::trace`, with the `file:line` it blocks or resumes at. Costs the
/// traced coro a slower switch; others pay nothing.
///
/// # Examples
///
/// ```
/// let h = corio::spawn(|| corio::cede());
/// corio::debug::trace(&h.coro(), true);
/// h.join().unwrap(); // logs "coro N switched in at …" / "… out at …"
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn trace(coro: &Coro, on: bool) {
    if coro.is_done() {
        return;
    }
    crate::sched::hooks::set_traced(&coro.0, on);
}
