//! Naming the coro in panic messages.
//!
//! Rust's panic message names the OS thread (`thread 'main' panicked
//! at ...`), which for a coro is the thread it shares with all the others:
//! a `RefCell` borrowed across a switch panics with `already borrowed`
//! in *some* coro of `main`. So the first scheduler of the process wraps
//! the panic hook: before the previous hook prints its message, a panic in
//! a coro other than the thread's main coro prints which one:
//!
//! ```text
//! corio: the panic below is in coro 7 (conn 127.0.0.1:50312)
//! thread 'main' panicked at src/main.rs:12:9:
//! already borrowed: BorrowMutError
//! ```
//!
//! The wrapper calls the hook that was set before it, so a hook of the
//! program's own still runs; a hook set *after* corio started replaces
//! the note too (it is the program's choice then).

use std::sync::atomic::{AtomicBool, Ordering};

use super::try_sched;

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Wraps the panic hook, once per process. Called when a thread's
/// scheduler is made.
pub(crate) fn install() {
    // `take_hook` panics on a panicking thread: try again at the next
    // scheduler.
    if INSTALLED.load(Ordering::Relaxed) || std::thread::panicking() {
        return;
    }
    if INSTALLED
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        note_coro();
        prev(info);
    }));
}

/// Prints which coro panics, unless it is a main coro (the thread's name
/// says all) or the thread has no scheduler.
fn note_coro() {
    let Some(s) = try_sched() else { return };
    let c = s.cur();
    if c.is_main() {
        return;
    }
    match c.desc() {
        Some(d) => eprintln!("corio: the panic below is in coro {} ({d})", c.id),
        None => eprintln!("corio: the panic below is in coro {}", c.id),
    }
}
