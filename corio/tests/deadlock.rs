//! Deadlock detection: when every coro is blocked and nothing can wake one,
//! the main coro's blocking call panics with a report.
//!
//! Ports the behaviour of Perl Coro's `t/11_deadlock.t` (Coro 6.57, by Marc
//! Lehmann; public mirror laurent-aml/Perl-Coro) and of the `$wakeme`
//! program of Coro::Intro. Perl's custom `$Coro::idle` hook has no corio
//! equivalent (the event loop will be the idle handler), so that half of
//! t/11 is not ported.

mod util;

use std::panic::{self, AssertUnwindSafe};

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn perl_t11_deadlock_is_detected_in_the_main_coro() {
    // Only the main coro exists and it sleeps: nobody can ever wake it.
    // A closure, not `corio::schedule` itself: called through a function
    // value, `#[track_caller]` would name core's call shim as the caller.
    let line = line!() + 2;
    #[allow(clippy::redundant_closure)]
    let r = panic::catch_unwind(|| corio::schedule());
    let msg = panic_text(r.unwrap_err());
    assert!(msg.contains("deadlock detected"), "{msg}");
    let main_row = msg
        .lines()
        .find(|l| l.contains("[main]"))
        .expect("a row for main");
    assert!(
        main_row.contains(&format!("deadlock.rs:{line}")),
        "{main_row}"
    );
    // The program goes on after catching it.
    corio::cede();
}

#[test]
fn the_report_lists_every_coro_and_where_it_blocks() {
    let line_a = line!() + 2;
    let a = corio::Builder::new().name("waits forever").spawn(|| {
        corio::schedule();
    });
    let a = a.unwrap();
    let a_id = a.coro().id();
    let b = corio::Builder::new()
        .name("joins a")
        .spawn(move || a.join().is_ok())
        .unwrap();
    let bc = b.coro();
    let line_main = line!() + 1;
    let r = panic::catch_unwind(AssertUnwindSafe(|| b.join()));
    let msg = panic_text(r.unwrap_err());
    assert!(msg.starts_with("corio: deadlock detected"), "{msg}");
    let rows: Vec<&str> = msg.lines().filter(|l| l.contains("deadlock.rs:")).collect();
    assert_eq!(rows.len(), 3, "one row per coro:\n{msg}");
    let row = |desc: &str| {
        *rows
            .iter()
            .find(|r| r.contains(desc))
            .unwrap_or_else(|| panic!("no row for {desc}:\n{msg}"))
    };
    assert!(row("[main]").contains(&format!("deadlock.rs:{line_main}")));
    assert!(row("waits forever").contains(&format!("deadlock.rs:{line_a}")));
    // b blocks in a join inside its closure: its row names that line.
    let state = row("joins a").split_whitespace().nth(1).unwrap_or_default();
    assert!(state.starts_with('S'), "{msg}");
    // Below the rows, why nothing can go on: b waits for a, main for b.
    let (ida, idb) = (a_id, bc.id());
    assert!(
        msg.contains(&format!("leaked: {ida}: nothing left could wake it")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "leaked: {idb}: waits for {ida}, which can never go on"
        )),
        "{msg}"
    );
    assert!(row("joins a").contains(&format!("join {ida}")), "{msg}");
    // Clean up: both are cancelled at once.
    bc.cancel();
}

#[test]
fn a_deadlocked_thread_panics_and_the_rest_of_the_process_goes_on() {
    let t = std::thread::spawn(|| {
        let h = corio::spawn(corio::schedule);
        h.join().ok();
    });
    let msg = panic_text(t.join().unwrap_err());
    assert!(msg.contains("deadlock detected"), "{msg}");
    // This thread's scheduler is unaffected.
    assert_eq!(corio::spawn(|| 1).join().unwrap(), 1);
}

#[test]
fn after_a_caught_deadlock_the_blocked_coros_can_still_be_woken() {
    let h = corio::spawn(|| {
        corio::schedule();
        "woken"
    });
    let c = h.coro();
    let r = panic::catch_unwind(corio::schedule);
    assert!(r.is_err());
    c.ready();
    assert_eq!(h.join().unwrap(), "woken");
}

#[test]
fn no_deadlock_while_some_coro_is_ready() {
    // Main sleeps, but a ready coro wakes it: not a deadlock.
    let main = corio::current();
    let h = corio::spawn(move || {
        for _ in 0..3 {
            corio::cede();
        }
        main.ready();
    });
    corio::schedule();
    h.join().unwrap();
}

#[test]
fn seed_wakeme_example_deadlocks_or_exits_quietly() {
    // Coro::Intro: the coro readies main, or it does not and Perl prints
    // "FATAL: deadlock detected." with a listing of the coros.
    let exe = util::example("wakeme");
    let woken = util::output_within(util::command(&exe).arg("wake"), util::CHILD_LIMIT);
    assert!(woken.status.success());
    assert!(woken.stdout.is_empty() && woken.stderr.is_empty());

    let stuck = util::output_within(
        util::command(&exe).arg("nowake").env("RUST_BACKTRACE", "0"),
        util::CHILD_LIMIT,
    );
    assert!(!stuck.status.success());
    let err = String::from_utf8_lossy(&stuck.stderr);
    assert!(err.contains("deadlock detected"), "{err}");
    let row = err
        .lines()
        .find(|l| l.contains("[main]"))
        .unwrap_or_default();
    assert!(row.contains("wakeme.rs:"), "{err}");
}
