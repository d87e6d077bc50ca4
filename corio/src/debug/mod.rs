//! The inspector (Perl's `Coro::Debug`): what every coro of this thread is
//! doing, and where.

use std::fmt::Write as _;

use crate::sched::inner::{CANCELLED, CoroInner, CoroRef, SUSPENDED, State};
use crate::sched::{Scheduler, sched};
use crate::{Coro, CoroId};

/// How much [`ps_with`] shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PsMode {
    /// Descriptions cut at 24 characters, locations cut at 40.
    #[default]
    Normal,
    /// Whole descriptions (`ps w`).
    Wide,
    /// Whole descriptions and full location paths (`ps v`).
    Verbose,
}

/// The ps listing of this thread's coros: one row per live coro, the main
/// coro first, then in creation order.
///
/// Columns:
/// - `ID`: the [`CoroId`](crate::CoroId).
/// - `ST`: state — `R` running, `r` ready, `S` blocked or suspended, `N` new
///   (never ran); a following `C` marks a cancelled coro.
/// - `STACK`: deepest stack use seen at a switch / stack size (`-` for the
///   main coro, which runs on the thread's stack).
/// - `SWITCHES`: how many times it was switched in.
/// - `CPU`: CPU seconds while [`enable_times`] is on, else `-`.
/// - `DESC`: its description ([`Coro::set_desc`](crate::Coro::set_desc)).
/// - `WHERE`: `file:line` of the call it blocks (or last ceded) in.
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
    crate::hooks::set_traced(&coro.0, on);
}

/// The listing; `running` is the running coro (none while the scheduler
/// reports a deadlock: then everybody is blocked).
pub(crate) fn listing(s: &Scheduler, mode: PsMode, running: Option<&CoroInner>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6} {:<3} {:>13} {:>8} {:>8} {:<24} WHERE",
        "ID", "ST", "STACK", "SWITCHES", "CPU", "DESC"
    );
    let times = s.times_enabled();
    let is_running = |c: &CoroInner| running.is_some_and(|r| std::ptr::eq(r, c));
    s.for_each_coro(|c| row(&mut out, c, is_running(c), mode, times));
    out
}

fn row(out: &mut String, c: &CoroInner, running: bool, mode: PsMode, times: bool) {
    let mut st = String::with_capacity(3);
    st.push(match c.state() {
        _ if running => 'R',
        State::New => 'N',
        State::Done => 'Z',
        State::Live if c.is_ready() && !c.has(SUSPENDED) => 'r',
        State::Live => 'S',
    });
    if c.has(CANCELLED) {
        st.push('C');
    }
    let stack = if c.is_main() {
        "-".to_string()
    } else {
        format!(
            "{}/{}",
            human(c.stack_used() as u64),
            human(c.stack_size() as u64)
        )
    };
    let cpu = if times {
        let cpu = c.with_extra(|e| e.map(|e| e.cpu).unwrap_or_default());
        format!("{:.3}", cpu.as_secs_f64())
    } else {
        "-".to_string()
    };
    let desc = c.desc().unwrap_or_default();
    let desc = match mode {
        PsMode::Normal => cut_right(&desc, 24),
        _ => desc,
    };
    let place = match c.where_.get() {
        Some(l) if mode == PsMode::Verbose => format!("{}:{}", l.file(), l.line()),
        Some(l) => format!("{}:{}", cut_left(l.file(), 40), l.line()),
        None => "-".to_string(),
    };
    let _ = writeln!(
        out,
        "{:>6} {:<3} {:>13} {:>8} {:>8} {:<24} {}",
        c.id,
        st,
        stack,
        human(c.switches.get()),
        cpu,
        desc,
        place
    );
}

/// 1234 → "1234", 56789 → "55k", 3_000_000 → "2.9M".
fn human(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if n < 10_000 {
        n.to_string()
    } else if f < K * K {
        format!("{:.0}k", f / K)
    } else if f < 10.0 * K * K {
        format!("{:.1}M", f / (K * K))
    } else if f < K * K * K {
        format!("{:.0}M", f / (K * K))
    } else {
        format!("{:.1}G", f / (K * K * K))
    }
}

fn cut_right(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

fn cut_left(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        s.to_string()
    } else {
        let mut t = String::from("…");
        t.extend(s.chars().skip(n - (max - 1)));
        t
    }
}
