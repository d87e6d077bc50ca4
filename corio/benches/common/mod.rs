//! What the benchmarks share: timing one batch, and running a subject
//! beside its baseline in alternating rounds.
#![allow(dead_code)]

use std::time::Instant;

/// Rounds per row.
pub const ROUNDS: usize = 15;

/// The median and the minimum of a row's rounds.
pub struct Stats {
    pub median: f64,
    pub min: f64,
}

pub fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(|a, b| a.total_cmp(b));
    Stats {
        median: v[v.len() / 2],
        min: v[0],
    }
}

/// A row: the subject, its baseline and the round-by-round ratio.
pub struct Row {
    pub subject: Stats,
    pub base: Stats,
    pub ratio: Stats,
}

/// Runs `base` and `subject` alternately (after one warm-up each); each
/// returns nanoseconds per op. The ratio is the median of the
/// round-by-round ratios: two runs side by side share the machine's state
/// of the moment (this machine's speed changes by 2x from one second to
/// the next), so their ratio is the figure that holds still.
/// `CORIO_BENCH_ROUNDS=1` prints every round.
pub fn rounds(
    name: &str,
    base_name: &str,
    mut base: impl FnMut() -> f64,
    mut subject: impl FnMut() -> f64,
) -> Row {
    base();
    subject();
    let (mut b, mut s) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        b.push(base());
        s.push(subject());
    }
    if std::env::var_os("CORIO_BENCH_ROUNDS").is_some() {
        println!("  rounds of {name}: {s:.1?}");
        println!("  rounds of {base_name}: {b:.1?}");
    }
    let ratio = stats(s.iter().zip(&b).map(|(s, b)| s / b).collect());
    Row {
        subject: stats(s),
        base: stats(b),
        ratio,
    }
}

/// Nanoseconds per op of `f`, which does `n` ops, on the clock that
/// `CORIO_BENCH_CLOCK` names: `wall` (the default) or `thread`, the
/// calling thread's CPU time. The thread clock leaves out the time other
/// processes had the CPU (on a shared 2-vCPU machine, what makes wall-time
/// rounds bimodal), so A/B comparisons of one-thread workloads hold still
/// under load; workloads that wait for another thread use
/// [`per_op_wall`].
pub fn per_op(n: u64, f: impl FnOnce()) -> f64 {
    if !thread_clock() {
        return per_op_wall(n, f);
    }
    let t = thread_cpu_ns();
    f();
    (thread_cpu_ns() - t) as f64 / n as f64
}

/// [`per_op`] on the wall clock whatever `CORIO_BENCH_CLOCK` says: for
/// workloads whose ops wait for another thread.
pub fn per_op_wall(n: u64, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_nanos() as f64 / n as f64
}

/// Whether `CORIO_BENCH_CLOCK=thread` was asked for (any other value but
/// `wall` is refused, so a typo cannot silently time the wrong clock).
pub fn thread_clock() -> bool {
    static CLOCK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CLOCK.get_or_init(|| match std::env::var("CORIO_BENCH_CLOCK").as_deref() {
        Err(_) | Ok("wall") => false,
        Ok("thread") => true,
        Ok(other) => panic!("CORIO_BENCH_CLOCK={other:?}: use `wall` or `thread`"),
    })
}

/// The calling thread's CPU time, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a
    // constant every Linux kernel knows.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
