//! The ps listing.

use corio::debug::{PsMode, ps, ps_with};

fn row<'a>(listing: &'a str, desc: &str) -> &'a str {
    listing
        .lines()
        .find(|l| l.contains(desc))
        .unwrap_or_else(|| panic!("no row for {desc}:\n{listing}"))
}

/// The ST column of a row.
fn state(row: &str) -> &str {
    row.split_whitespace().nth(1).unwrap()
}

#[test]
fn one_row_per_live_coro_main_first_then_in_creation_order() {
    let line_blocked = line!() + 2;
    let blocked = corio::Builder::new().name("blocked one").spawn(|| {
        corio::schedule();
    });
    let blocked = blocked.unwrap();
    let ready = corio::Builder::new()
        .name("ready one")
        .spawn(|| corio::cede())
        .unwrap();
    corio::cede(); // both run once: one blocks, one cedes and is ready
    let fresh = corio::Builder::new().name("new one").spawn(|| ()).unwrap();
    let listing = ps();
    let lines: Vec<&str> = listing.lines().collect();
    assert!(
        lines[0].contains("ID") && lines[0].contains("WHERE"),
        "{listing}"
    );
    assert!(lines[1].contains("[main]"), "{listing}");
    assert!(
        lines[2].contains("blocked one")
            && lines[3].contains("ready one")
            && lines[4].contains("new one")
    );
    assert_eq!(lines.len(), 5, "{listing}");

    assert_eq!(state(row(&listing, "[main]")), "R");
    assert_eq!(state(row(&listing, "blocked one")), "S");
    assert_eq!(state(row(&listing, "ready one")), "r");
    assert_eq!(state(row(&listing, "new one")), "N");
    let b = row(&listing, "blocked one");
    assert!(b.contains(&format!("tests/debug.rs:{line_blocked}")), "{b}");
    assert!(b.starts_with(&format!("{:>6}", blocked.coro().id())), "{b}");
    assert!(b.contains("/256k"), "stack used/size: {b}");
    assert!(
        row(&listing, "new one").trim_end().ends_with('-'),
        "a new coro has no location"
    );

    blocked.cancel();
    ready.join().unwrap();
    fresh.join().unwrap();
    let after = ps();
    assert_eq!(
        after.lines().count(),
        2,
        "finished coros are not listed:\n{after}"
    );
}

#[test]
fn descriptions_are_cut_unless_wide() {
    let long = "a description much longer than twenty-four characters";
    let h = corio::Builder::new().name(long).spawn(|| ()).unwrap();
    assert!(!ps().contains(long));
    assert!(ps().contains("a description much long…"));
    assert!(ps_with(PsMode::Wide).contains(long));
    assert!(ps_with(PsMode::Verbose).contains(long));
    h.join().unwrap();
}

#[test]
fn switches_and_cpu_columns() {
    let h = corio::Builder::new()
        .name("counter")
        .spawn(|| {
            for _ in 0..3 {
                corio::cede();
            }
            loop {
                corio::schedule();
            }
        })
        .unwrap();
    for _ in 0..4 {
        corio::cede();
    }
    let r = ps();
    let cols: Vec<&str> = row(&r, "counter").split_whitespace().collect();
    assert_eq!(cols[3], "4", "switched in four times: {r}");
    assert_eq!(cols[4], "-", "no CPU column without enable_times: {r}");
    let was = corio::debug::enable_times(true);
    assert!(!was);
    h.coro().ready();
    corio::cede();
    let r = ps();
    let cpu = row(&r, "counter").split_whitespace().nth(4).unwrap();
    assert!(cpu.parse::<f64>().is_ok(), "{r}");
    assert!(corio::debug::enable_times(false));
    h.cancel();
}

#[test]
fn a_cancelled_coro_that_is_still_unwinding_is_marked() {
    struct Slow;
    impl Drop for Slow {
        fn drop(&mut self) {
            corio::cede(); // cleanup that switches: the coro is still listed
        }
    }
    let h = corio::Builder::new()
        .name("unwinding")
        .spawn(|| {
            let _s = Slow;
            corio::schedule();
        })
        .unwrap();
    corio::cede();
    let watcher = corio::spawn(ps);
    h.cancel();
    let listing = watcher.join().unwrap();
    assert!(
        state(row(&listing, "unwinding")).ends_with('C'),
        "{listing}"
    );
}

#[inline(never)]
fn parked_deep_in_here(depth: u32) {
    if depth == 0 {
        corio::schedule();
    } else {
        parked_deep_in_here(depth - 1);
        std::hint::black_box(depth);
    }
}

#[test]
fn backtraces_are_taken_on_the_target_coros_own_stack() {
    let h = corio::spawn(|| parked_deep_in_here(3));
    corio::cede();
    let queued = corio::spawn(|| ());
    let c = h.coro();
    let switches = c.switches();
    let bt = c.backtrace().to_string();
    assert!(bt.contains("parked_deep_in_here"), "{bt}");
    // It kept waiting where it was, and the queue kept its order.
    assert!(!h.is_finished() && !c.is_ready());
    assert!(queued.coro().is_ready());
    assert_eq!(c.switches(), switches + 1);
    // The current coro's own, and those of coros without a stack.
    assert!(
        corio::current()
            .backtrace()
            .to_string()
            .contains("backtraces_are_taken")
    );
    let fresh = corio::spawn(|| ());
    assert_eq!(
        fresh.coro().backtrace().status(),
        std::backtrace::BacktraceStatus::Disabled
    );
    fresh.join().unwrap();
    queued.join().unwrap();
    c.ready();
    h.join().unwrap();
    assert_eq!(
        c.backtrace().status(),
        std::backtrace::BacktraceStatus::Disabled
    );
}

#[test]
fn a_coro_can_take_the_main_coros_backtrace() {
    let main = corio::current();
    let h = corio::spawn(move || main.backtrace().to_string());
    let bt = h.join().unwrap();
    assert!(
        bt.contains("a_coro_can_take_the_main_coros_backtrace"),
        "{bt}"
    );
}

#[test]
fn a_ready_coro_keeps_its_place_when_asked_for_a_backtrace() {
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mk = |name: &'static str| {
        let l = log.clone();
        corio::spawn(move || {
            corio::cede();
            l.borrow_mut().push(name);
        })
    };
    let (a, b, c) = (mk("a"), mk("b"), mk("c"));
    corio::cede(); // all three ran and ceded: queued a, b, c
    let _ = b.coro().backtrace();
    for h in [a, b, c] {
        h.join().unwrap();
    }
    assert_eq!(*log.borrow(), ["a", "b", "c"]);
}
