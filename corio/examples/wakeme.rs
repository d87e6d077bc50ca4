//! The `$wakeme` program of Perl's Coro::Intro: the main coro goes to sleep
//! and a coro may or may not wake it. If it does not, nothing can: corio
//! detects the deadlock and the main coro's `schedule()` panics with a
//! listing of every coro and where it waits.
//!
//! ```text
//! cargo run --example wakeme            # a coin toss, as in the tutorial
//! cargo run --example wakeme -- wake    # exits quietly
//! cargo run --example wakeme -- nowake  # deadlock report, exit status 101
//! ```

fn main() {
    let wake = match std::env::args().nth(1).as_deref() {
        Some("wake") => true,
        Some("nowake") => false,
        _ => coin_toss(),
    };
    let wakeme = corio::current();
    let _helper = corio::spawn(move || {
        if wake {
            wakeme.ready();
        }
    });
    corio::schedule();
}

/// `0.5 > rand` without a random-number crate: the clock's nanoseconds.
fn coin_toss() -> bool {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    t.is_multiple_of(2)
}
