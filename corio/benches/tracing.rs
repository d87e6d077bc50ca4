//! Feature `tracing`: what a switch costs when spans follow coros, beside
//! what a poll costs tokio with the same subscriber.
//!
//! ```text
//! cargo bench --features tracing --bench tracing
//! ```
//!
//! The subscriber is `tracing-subscriber`'s `fmt` (a Registry underneath)
//! writing to `io::sink`, installed globally, as a server installs it. Its
//! level is INFO: coros' task spans (TRACE) are disabled, so what is
//! measured is the user's span following the coro.
//!
//! - corio: two coros ceding to each other, each inside an `info_span!`
//!   (every switch exits one span and enters the other), against the same
//!   two coros without spans (every switch still asks the subscriber for
//!   the current span, and finds none).
//! - tokio: two tasks of a current-thread runtime calling `yield_now`, each
//!   future `.instrument`ed with an `info_span!` (every poll enters and
//!   exits its span), against the same tasks without spans.
//!
//! Rounds alternate between the two sides of each row, as in `core.rs`.
//! The feature's cost with no subscriber at all is measured by
//! `bench/tracing_ab.sh` (the `core` benchmark built with and without the
//! feature, run in alternation).

use std::time::Instant;

use tracing::{Instrument, info_span};

const ROUNDS: usize = 15;

fn median(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0])
}

fn paired(
    name: &str,
    base_name: &str,
    mut base: impl FnMut() -> f64,
    mut subject: impl FnMut() -> f64,
) {
    base();
    subject();
    let (mut b, mut s) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        b.push(base());
        s.push(subject());
    }
    let ratios = median(s.iter().zip(&b).map(|(s, b)| s / b).collect());
    let ((sm, smin), (bm, bmin)) = (median(s), median(b));
    println!(
        "{name:<30} {sm:>7.1} ns (min {smin:>6.1})   {base_name:<28} {bm:>7.1} ns (min {bmin:>6.1})   \
         extra {:>6.1} ns   ratio {:>5.2}",
        sm - bm,
        ratios.0
    );
}

fn per_op(n: u64, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_nanos() as f64 / n as f64
}

/// Two coros ceding `n` times each, inside a span each if `spans`.
fn corio_switch(n: u64, spans: bool) -> f64 {
    let player = move |id: u32| {
        move || {
            let _span = spans.then(|| info_span!("work", id).entered());
            for _ in 0..n {
                corio::cede();
            }
        }
    };
    let (a, b) = (corio::spawn(player(0)), corio::spawn(player(1)));
    per_op(2 * n, || {
        a.join().unwrap();
        b.join().unwrap();
    })
}

/// Two tokio tasks yielding `n` times each, instrumented if `spans`.
fn tokio_poll(rt: &tokio::runtime::Runtime, n: u64, spans: bool) -> f64 {
    let player = move || async move {
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
    };
    let t = Instant::now();
    rt.block_on(async move {
        let (a, b) = if spans {
            (
                tokio::spawn(player().instrument(info_span!("work", id = 0))),
                tokio::spawn(player().instrument(info_span!("work", id = 1))),
            )
        } else {
            (tokio::spawn(player()), tokio::spawn(player()))
        };
        a.await.unwrap();
        b.await.unwrap();
    });
    t.elapsed().as_nanos() as f64 / (2 * n) as f64
}

fn main() {
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish(),
    )
    .expect("the only global subscriber");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let n = 500_000;
    println!("feature tracing, fmt subscriber (INFO) to io::sink; median of {ROUNDS} rounds");
    paired(
        "corio switch, span entered",
        "corio switch, no span",
        || corio_switch(n, false),
        || corio_switch(n, true),
    );
    paired(
        "tokio poll, instrumented",
        "tokio poll, no span",
        || tokio_poll(&rt, n, false),
        || tokio_poll(&rt, n, true),
    );
}
