//! The ps listing of a scheduler's coros, with its waits-for graph:
//! what [`debug::ps`](crate::debug::ps) shows and what the deadlock report
//! prints (so it lives with the scheduler, and `debug/` builds on it).

use std::collections::HashMap;
use std::fmt::Write as _;

use super::Scheduler;
use super::inner::{CANCELLED, CoroId, CoroInner, CoroRef, Holder, SUSPENDED, State, What};
use super::reactor::READ;

/// How much [`ps_with`](crate::debug::ps_with) shows.
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

/// The holder of the lock whose holder cell is at `at`.
///
/// # Safety
/// `at` comes from a `What::{Mutex, RwRead, RwWrite}` of a coro that is
/// parked right now: the lock call that set it borrows the lock, so its
/// holder cell is alive (see [`What`]).
unsafe fn holder(at: usize) -> Option<CoroId> {
    // SAFETY: guaranteed by the caller.
    unsafe { (*(at as *const Holder)).get() }
}

/// The coro that `c`, parked on `what`, waits for, when one coro can end
/// the wait: the coro it joins or cancels, the holder of the lock it wants.
fn waits_for(c: &CoroInner, what: What) -> Option<CoroId> {
    let target = match what {
        What::Join(t) | What::Cancel(t) => Some(t),
        // SAFETY: `what` is the current value of a live coro's `what`, so
        // the coro is parked inside the lock call (see `holder`).
        What::Mutex(at) | What::RwRead(at) | What::RwWrite(at) => unsafe { holder(at) },
        _ => None,
    };
    target.filter(|&t| t != c.id)
}

fn what_text(c: &CoroInner, what: What, mode: PsMode) -> String {
    // Objects are named by address; the normal listing shows its low 24
    // bits, enough to tell the objects of one program apart.
    let obj = |a: usize| match mode {
        PsMode::Normal => format!("{:06x}", a & 0xff_ffff),
        _ => format!("{a:x}"),
    };
    let held = |at: usize| {
        // SAFETY: as in `waits_for`.
        match unsafe { holder(at) } {
            Some(h) => format!(" held by {h}"),
            None => String::new(),
        }
    };
    match what {
        What::Nothing if c.has(SUSPENDED) => "suspended".into(),
        What::Nothing => "-".into(),
        What::Schedule => "schedule".into(),
        What::Sleep => "sleep".into(),
        What::Join(t) => format!("join {t}"),
        What::Cancel(t) => format!("cancel {t}"),
        What::Semaphore(a) => format!("semaphore@{}", obj(a)),
        What::Signal(a) => format!("signal@{}", obj(a)),
        What::ChanGet(a) => format!("channel@{} get", obj(a)),
        What::ChanPut(a) => format!("channel@{} put", obj(a)),
        What::Mutex(a) => format!("mutex@{}{}", obj(a), held(a)),
        What::RwRead(a) => format!("rwlock@{} read{}", obj(a), held(a)),
        What::RwWrite(a) => format!("rwlock@{} write{}", obj(a), held(a)),
        What::MpmcGet(a) => format!("mpmc@{} get", obj(a)),
        What::MpmcPut(a) => format!("mpmc@{} put", obj(a)),
        What::Fd(fd, dir) if dir == READ => format!("fd {fd} read"),
        What::Fd(fd, _) => format!("fd {fd} write"),
        What::Rouse => "rouse".into(),
        What::Future => "future".into(),
        What::File => "file io".into(),
        What::Idle => "idle select! helper".into(),
    }
}

/// The waits-for graph of this thread's blocked coros: cycles of coros
/// waiting on each other, and coros that nothing can wake any more.
struct Graph {
    /// Each cycle, starting at its lowest id.
    cycles: Vec<Vec<CoroId>>,
    /// Coros no live coro can wake, with the reason.
    leaked: HashMap<CoroId, String>,
}

fn graph(s: &Scheduler, deadlocked: bool) -> Graph {
    let mut edge: HashMap<CoroId, CoroId> = HashMap::new();
    let mut leaked: HashMap<CoroId, String> = HashMap::new();
    let mut blocked: Vec<CoroId> = Vec::new();
    s.for_each_coro(|c| {
        let what = c.what.get();
        if what == What::Nothing || what == What::Idle || c.is_ready() {
            return;
        }
        blocked.push(c.id);
        if let Some(t) = waits_for(c, what) {
            edge.insert(c.id, t);
        }
        if what == What::Schedule && !c.is_main() {
            // SAFETY: every coro is made by `Rc`, and `c` is alive.
            let r = unsafe { CoroRef::clone_raw(c) };
            // The scheduler's own reference and ours: no handle anywhere
            // could `ready()` it.
            if r.strong_count() <= 2 && !c.has_handle.get() {
                leaked.insert(c.id, "suspended, and no handle to it is left".into());
            }
        }
    });
    // Cycles: every blocked coro has at most one edge, so walk each path.
    let mut cycles = Vec::new();
    let mut done: HashMap<CoroId, ()> = HashMap::new();
    for &start in &blocked {
        let mut path = Vec::new();
        let mut at = start;
        while !done.contains_key(&at) {
            if let Some(i) = path.iter().position(|&p| p == at) {
                let mut cycle: Vec<CoroId> = path[i..].to_vec();
                let min = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
                cycle.rotate_left(min);
                cycles.push(cycle);
                break;
            }
            path.push(at);
            match edge.get(&at) {
                Some(&next) => at = next,
                None => break,
            }
        }
        for p in path {
            done.insert(p, ());
        }
    }
    let in_cycle: Vec<CoroId> = cycles.iter().flatten().copied().collect();
    for c in &in_cycle {
        leaked.insert(*c, "in a waits-for cycle".into());
    }
    if deadlocked {
        // Nothing can run: every blocked coro that does not wait for
        // another blocked one is stuck on its own account.
        for b in &blocked {
            if !edge.get(b).is_some_and(|t| blocked.contains(t)) {
                leaked
                    .entry(*b)
                    .or_insert_with(|| "nothing left could wake it (deadlock)".into());
            }
        }
    }
    // Waiting for a stuck coro is stuck too.
    loop {
        let more: Vec<(CoroId, CoroId)> = edge
            .iter()
            .filter(|(c, t)| !leaked.contains_key(c) && leaked.contains_key(t))
            .map(|(c, t)| (*c, *t))
            .collect();
        if more.is_empty() {
            break;
        }
        for (c, t) in more {
            leaked.insert(c, format!("waits for {t}, which can never go on"));
        }
    }
    if deadlocked {
        for b in &blocked {
            leaked
                .entry(*b)
                .or_insert_with(|| "nothing left could wake it (deadlock)".into());
        }
    }
    Graph { cycles, leaked }
}

/// The listing; `running` is the running coro (none while the scheduler
/// reports a deadlock: then everybody is blocked).
pub(crate) fn listing(s: &Scheduler, mode: PsMode, running: Option<&CoroInner>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6} {:<3} {:>13} {:>8} {:>8} {:<24} {:<24} WHERE",
        "ID", "ST", "STACK", "SWITCHES", "CPU", "DESC", "WHAT"
    );
    let times = s.times_enabled();
    let g = graph(s, running.is_none());
    let is_running = |c: &CoroInner| running.is_some_and(|r| std::ptr::eq(r, c));
    // Idle select! helpers are corio's, parked until a select needs one:
    // counted, not listed (unless verbose).
    let mut idle = 0;
    s.for_each_coro(|c| {
        if c.what.get() == What::Idle && !c.is_ready() && mode != PsMode::Verbose {
            idle += 1;
        } else {
            row(&mut out, c, is_running(c), mode, times, &g);
        }
    });
    if idle > 0 {
        let _ = writeln!(
            out,
            "({idle} idle select! helper(s) not shown; `ps v` lists them)"
        );
    }
    for cycle in &g.cycles {
        let ids: Vec<String> = cycle.iter().map(|c| c.to_string()).collect();
        let _ = writeln!(
            out,
            "cycle: {} -> {} (each waits for the next)",
            ids.join(" -> "),
            ids[0]
        );
    }
    let mut leaked: Vec<_> = g.leaked.iter().collect();
    leaked.sort();
    for (id, why) in leaked {
        let _ = writeln!(out, "leaked: {id}: {why}");
    }
    out
}

fn row(out: &mut String, c: &CoroInner, running: bool, mode: PsMode, times: bool, g: &Graph) {
    let mut st = String::with_capacity(3);
    st.push(match c.state() {
        _ if running => 'R',
        State::New => 'N',
        State::Done | State::Abandoned => 'Z',
        State::Live if c.is_ready() && !c.has(SUSPENDED) => 'r',
        State::Live => 'S',
    });
    if c.has(CANCELLED) {
        st.push('C');
    }
    if g.leaked.contains_key(&c.id) {
        st.push('L');
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
    let what = what_text(c, c.what.get(), mode);
    let what = match mode {
        PsMode::Normal => cut_right(&what, 24),
        _ => what,
    };
    let _ = writeln!(
        out,
        "{:>6} {:<3} {:>13} {:>8} {:>8} {:<24} {:<24} {}",
        c.id,
        st,
        stack,
        human(c.switches.get()),
        cpu,
        desc,
        what,
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
