//! Priorities: strict, FIFO within a level, `cede` never yields down.
//!
//! `perl_t06_prio` ports the behaviour of Perl Coro's `t/06_prio.t`
//! (Coro 6.57, by Marc Lehmann; public mirror laurent-aml/Perl-Coro).

mod util;

use corio::{PRIO_HIGH, PRIO_IDLE, PRIO_LOW, PRIO_MAX, PRIO_MIN, PRIO_NORMAL};
use util::{Log, Oks};

#[test]
fn perl_t06_prio() {
    let oks = Oks::new();
    oks.ok(1);
    let spawn = |f: Box<dyn FnOnce()>, prio: Option<i32>| {
        let h = corio::spawn(f);
        if let Some(p) = prio {
            h.coro().set_prio(p);
        }
        h
    };
    let o = oks.clone();
    // Out-of-range priorities clamp (10 -> PRIO_MAX, -500 -> PRIO_MIN).
    let _a = spawn(
        Box::new(move || {
            o.ok(2);
            corio::cede();
            corio::cede();
            corio::cede();
            o.ok(3);
        }),
        Some(10),
    );
    let o = oks.clone();
    let _b = spawn(Box::new(move || o.ok(4)), Some(2));
    let o = oks.clone();
    let _c = spawn(Box::new(move || o.ok(5)), Some(PRIO_HIGH));
    let o = oks.clone();
    let _d = spawn(Box::new(move || o.ok(6)), None);
    let o = oks.clone();
    let _e = spawn(Box::new(move || o.ok(7)), Some(PRIO_LOW));
    let o = oks.clone();
    let _f = spawn(Box::new(move || o.ok(8)), Some(PRIO_IDLE));
    let o = oks.clone();
    let _g = spawn(
        Box::new(move || {
            o.ok(9);
            corio::cede();
            o.ok(11);
        }),
        Some(-500),
    );
    corio::current().set_prio(-100);
    corio::cede();
    oks.ok(10);
    // Perl's test ends here; "ok 11" would only print after another cede.
    assert_eq!(oks.get(), (1..=10).collect::<Vec<_>>());
    corio::cede();
    assert_eq!(oks.get(), (1..=11).collect::<Vec<_>>());
    corio::current().set_prio(PRIO_NORMAL);
}

#[test]
fn priority_values_match_perl_coro() {
    assert_eq!(
        [
            PRIO_MAX,
            PRIO_HIGH,
            PRIO_NORMAL,
            PRIO_LOW,
            PRIO_IDLE,
            PRIO_MIN
        ],
        [3, 1, 0, -1, -3, -4]
    );
}

#[test]
fn set_prio_returns_the_old_value_and_clamps() {
    let h = corio::spawn(|| ());
    let c = h.coro();
    assert_eq!(c.prio(), PRIO_NORMAL);
    assert_eq!(c.set_prio(PRIO_HIGH), PRIO_NORMAL);
    assert_eq!(c.set_prio(99), PRIO_HIGH);
    assert_eq!(c.prio(), PRIO_MAX);
    assert_eq!(c.set_prio(-99), PRIO_MAX);
    assert_eq!(c.prio(), PRIO_MIN);
    // nice(n) lowers by n and returns the old priority.
    c.set_prio(0);
    assert_eq!(c.nice(1), 0);
    assert_eq!(c.prio(), -1);
    assert_eq!(c.nice(-3), -1);
    assert_eq!(c.prio(), 2);
    h.join().unwrap();
}

#[test]
fn cede_never_yields_to_lower_priorities() {
    let log = Log::new();
    let l = log.clone();
    let low = corio::Builder::new()
        .prio(PRIO_LOW)
        .spawn(move || l.push("low"))
        .unwrap();
    corio::cede();
    corio::cede();
    assert!(log.get().is_empty(), "cede ran a lower-priority coro");
    assert_eq!(corio::nready(), 1);
    // cede_notself gives the CPU to anyone.
    corio::cede_notself();
    assert_eq!(log.get(), ["low"]);
    low.join().unwrap();
}

#[test]
fn higher_priorities_run_first_then_fifo_within_a_level() {
    let log = Log::new();
    let mut handles = Vec::new();
    for (name, prio) in [
        ("n1", 0),
        ("l1", -1),
        ("h1", 1),
        ("n2", 0),
        ("m1", 3),
        ("h2", 1),
        ("i1", -3),
    ] {
        let l = log.clone();
        handles.push(
            corio::Builder::new()
                .prio(prio)
                .spawn(move || l.push(name))
                .unwrap(),
        );
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(log.get(), ["m1", "h1", "h2", "n1", "n2", "l1", "i1"]);
}

#[test]
fn set_prio_moves_a_queued_coro_to_the_back_of_its_new_level() {
    let log = Log::new();
    let mk = |name: &'static str| {
        let l = log.clone();
        corio::spawn(move || l.push(name))
    };
    let a = mk("a");
    let b = mk("b");
    let c = mk("c");
    // Queue (normal level): a b c. Raise a and then lower it back: it is
    // now behind c.
    a.coro().set_prio(PRIO_HIGH);
    a.coro().set_prio(PRIO_NORMAL);
    b.coro().set_prio(PRIO_HIGH);
    for h in [a, b, c] {
        h.join().unwrap();
    }
    assert_eq!(log.get(), ["b", "c", "a"]);
}

#[test]
fn a_running_coro_that_lowers_itself_yields_at_its_next_cede() {
    let log = Log::new();
    let l = log.clone();
    let other = corio::spawn(move || l.push("other"));
    let l = log.clone();
    let me = corio::spawn(move || {
        corio::current().set_prio(PRIO_LOW);
        l.push("still running");
        corio::cede(); // `other` (normal) was queued ahead anyway
        l.push("after cede");
    });
    me.join().unwrap();
    other.join().unwrap();
    assert_eq!(log.get(), ["other", "still running", "after cede"]);
}

#[test]
fn an_idle_coro_runs_only_when_nothing_else_is_ready() {
    let log = Log::new();
    let l = log.clone();
    let idle = corio::Builder::new()
        .prio(PRIO_IDLE)
        .spawn(move || {
            for _ in 0..3 {
                l.push("idle");
                corio::cede();
            }
        })
        .unwrap();
    let l = log.clone();
    let busy = corio::spawn(move || {
        for _ in 0..3 {
            l.push("busy");
            corio::cede();
        }
    });
    busy.join().unwrap();
    idle.join().unwrap();
    assert_eq!(log.get(), ["busy", "busy", "busy", "idle", "idle", "idle"]);
}

/// A cede queues the coro behind the others of its level and runs the
/// head, also when the scheduler does both in one step: strict round-robin
/// between the main coro and three coros, with the ready count right at
/// every turn (the three others queued while one runs).
#[test]
fn ceding_coros_and_the_main_coro_take_turns_in_order() {
    let log = Log::new();
    let mut hs = Vec::new();
    for name in ["a", "b", "c"] {
        let l = log.clone();
        hs.push(corio::spawn(move || {
            for round in 0..200 {
                l.push(format!("{name}{round} {}", corio::nready()));
                corio::cede();
            }
        }));
    }
    for round in 0..200 {
        log.push(format!("main{round} {}", corio::nready()));
        corio::cede();
    }
    for h in hs {
        h.join().unwrap();
    }
    let want: Vec<String> = (0..200)
        .flat_map(|r| ["main", "a", "b", "c"].map(|n| format!("{n}{r} 3")))
        .collect();
    assert_eq!(log.take(), want);
}

/// A coro that readies a higher-priority one and cedes gives it the CPU
/// first, though the coros of its own level are waiting too; after it, they
/// take turns as before.
#[test]
fn a_cede_runs_a_higher_priority_coro_readied_meanwhile_first() {
    let log = Log::new();
    let l = log.clone();
    let high = corio::Builder::new()
        .prio(PRIO_HIGH)
        .spawn(move || {
            for _ in 0..3 {
                l.push("high");
                corio::schedule();
            }
        })
        .unwrap();
    corio::cede(); // `high` runs and parks
    let l = log.clone();
    let hc = high.coro();
    let a = corio::spawn(move || {
        for i in 0..3 {
            l.push(format!("a{i}"));
            hc.ready();
            corio::cede();
        }
    });
    let l = log.clone();
    let b = corio::spawn(move || {
        for i in 0..3 {
            l.push(format!("b{i}"));
            corio::cede();
        }
    });
    a.join().unwrap();
    b.join().unwrap();
    high.join().unwrap();
    assert_eq!(
        log.take(),
        ["high", "a0", "high", "b0", "a1", "high", "b1", "a2", "b2"]
    );
}
