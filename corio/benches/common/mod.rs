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

/// Nanoseconds per op of `f`, which does `n` ops.
pub fn per_op(n: u64, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_nanos() as f64 / n as f64
}
