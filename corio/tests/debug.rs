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

/// The WHAT column of a row (between DESC and WHERE: found by its text).
fn what_of<'a>(row: &'a str, starts: &str) -> &'a str {
    let i = row
        .find(starts)
        .unwrap_or_else(|| panic!("no WHAT starting {starts:?} in {row}"));
    &row[i..]
}

#[test]
fn what_names_the_object_each_blocked_coro_waits_on() {
    use std::rc::Rc;
    let sem = Rc::new(corio::sync::Semaphore::new(0));
    let chan = corio::sync::Channel::<u8>::new();
    let lock = Rc::new(corio::sync::Mutex::new(()));
    let (s, c) = (sem.clone(), chan.clone());
    let on_sem = corio::Builder::new()
        .name("on sem")
        .spawn(move || s.down())
        .unwrap();
    let on_chan = corio::Builder::new()
        .name("on chan")
        .spawn(move || c.get())
        .unwrap();
    let sleeper = corio::Builder::new()
        .name("sleeper")
        .spawn(|| corio::sleep(std::time::Duration::from_secs(60)))
        .unwrap();
    let holder = {
        let l = lock.clone();
        corio::Builder::new()
            .name("holder")
            .spawn(move || {
                let _g = l.lock();
                corio::schedule();
            })
            .unwrap()
    };
    let waiter = {
        let l = lock.clone();
        corio::Builder::new()
            .name("waiter")
            .spawn(move || drop(l.lock()))
            .unwrap()
    };
    let joiner = {
        let target = holder.coro();
        corio::Builder::new()
            .name("joiner")
            .spawn(move || {
                while !target.is_done() {
                    corio::schedule();
                }
            })
            .unwrap()
    };
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let reader = corio::Builder::new()
        .name("reader")
        .spawn(move || {
            let a = corio::net::UnixStream::from_std(a).unwrap();
            let mut buf = [0u8; 1];
            std::io::Read::read(&mut &a, &mut buf).unwrap()
        })
        .unwrap();
    corio::cede();
    let listing = ps_with(PsMode::Wide);
    let sem_at = format!("{:x}", Rc::as_ptr(&sem) as usize);
    assert!(
        what_of(row(&listing, "on sem"), "semaphore@").starts_with(&format!("semaphore@{sem_at}")),
        "{listing}"
    );
    assert!(
        what_of(row(&listing, "on chan"), "channel@").contains(" get"),
        "{listing}"
    );
    assert!(
        what_of(row(&listing, "sleeper"), "sleep").starts_with("sleep"),
        "{listing}"
    );
    let held = format!("held by {}", holder.coro().id());
    assert!(
        what_of(row(&listing, "waiter"), "mutex@").contains(&held),
        "{listing}"
    );
    assert!(
        what_of(row(&listing, "joiner"), "schedule").starts_with("schedule"),
        "{listing}"
    );
    assert!(
        what_of(row(&listing, "reader"), "fd ").contains(" read"),
        "{listing}"
    );
    // Clean up: wake everyone.
    sem.up();
    chan.put(1).unwrap();
    sleeper.cancel();
    holder.coro().ready();
    std::io::Write::write_all(&mut &b, b"x").unwrap();
    for h in [on_sem.coro(), on_chan.coro(), waiter.coro(), joiner.coro()] {
        h.ready();
    }
    on_sem.join().unwrap();
    assert_eq!(on_chan.join().unwrap(), Some(1));
    holder.join().unwrap();
    waiter.join().unwrap();
    joiner.coro().ready();
    joiner.join().unwrap();
    assert_eq!(reader.join().unwrap(), 1);
}

#[test]
fn a_lock_cycle_is_reported_as_a_cycle() {
    use std::rc::Rc;
    let (m1, m2) = (
        Rc::new(corio::sync::Mutex::new(())),
        Rc::new(corio::sync::Mutex::new(())),
    );
    let spawn_locker =
        |name: &str, first: Rc<corio::sync::Mutex<()>>, second: Rc<corio::sync::Mutex<()>>| {
            corio::Builder::new()
                .name(name)
                .spawn(move || {
                    let _a = first.lock();
                    corio::cede();
                    let _b = second.lock();
                })
                .unwrap()
        };
    let a = spawn_locker("locker a", m1.clone(), m2.clone());
    let b = spawn_locker("locker b", m2, m1);
    let (ida, idb) = (a.coro().id(), b.coro().id());
    corio::cede();
    corio::cede();
    let listing = ps();
    let (lo, hi) = if ida < idb { (ida, idb) } else { (idb, ida) };
    assert!(
        listing.contains(&format!("cycle: {lo} -> {hi} -> {lo}")),
        "{listing}"
    );
    assert!(state(row(&listing, "locker a")).contains('L'), "{listing}");
    assert!(state(row(&listing, "locker b")).contains('L'), "{listing}");
    // The deadlock report names the cycle too.
    let report = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| a.join()))
        .expect_err("joining a deadlocked coro is a deadlock");
    let msg = report.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("deadlock detected"), "{msg}");
    assert!(
        msg.contains(&format!("cycle: {lo} -> {hi} -> {lo}")),
        "{msg}"
    );
    b.cancel();
}

#[test]
fn a_suspended_coro_nobody_can_wake_is_marked_leaked() {
    let lost = corio::Builder::new()
        .name("lost")
        .spawn(corio::schedule)
        .unwrap();
    let kept = corio::Builder::new()
        .name("kept")
        .spawn(corio::schedule)
        .unwrap();
    let lost_id = lost.coro().id();
    drop(lost); // detached: no handle left to ready it
    corio::cede();
    let listing = ps();
    assert!(state(row(&listing, "lost")).contains('L'), "{listing}");
    assert!(!state(row(&listing, "kept")).contains('L'), "{listing}");
    assert!(
        listing.contains(&format!("leaked: {lost_id}: suspended")),
        "{listing}"
    );
    kept.coro().ready();
    kept.join().unwrap();
    corio::killall();
}
