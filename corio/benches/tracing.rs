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

mod common;

use common::{ROUNDS, per_op};

/// Runs `base` and `subject` alternately (see `common::rounds`) and prints
/// the row, with what the subject costs on top of the baseline.
fn paired(name: &str, base_name: &str, base: impl FnMut() -> f64, subject: impl FnMut() -> f64) {
    let r = common::rounds(name, base_name, base, subject);
    println!(
        "{name:<30} {:>7.1} ns (min {:>6.1})   {base_name:<28} {:>7.1} ns (min {:>6.1})   \
         extra {:>6.1} ns   ratio {:>5.2}",
        r.subject.median,
        r.subject.min,
        r.base.median,
        r.base.min,
        r.subject.median - r.base.median,
        r.ratio.median
    );
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
