//! Creating, switching and readying coros.
//!
//! `perl_t01_process` ports the behaviour of Perl Coro's `t/01_process.t`
//! (Coro 6.57, by Marc Lehmann; public mirror laurent-aml/Perl-Coro): its
//! `ok N` lines become a recorded sequence that must come out in order.

mod util;

use std::cell::Cell;
use std::rc::Rc;

use util::{Log, Oks};

#[test]
fn perl_t01_process() {
    let oks = Oks::new();

    let o = oks.clone();
    let _first = corio::spawn(move || o.ok(2));
    oks.ok(1);
    corio::cede();
    oks.ok(3);

    let o = oks.clone();
    let c1 = corio::spawn(move || {
        o.ok(5);
        corio::cede();
        o.ok(1000); // never: cancelled while ceding
    });
    // Readying a coro that is already queued does nothing and says so.
    if !c1.coro().ready() {
        oks.ok(4);
    }
    corio::cede();
    oks.ok(6);
    let o = oks.clone();
    c1.coro().on_destroy(move || o.ok(7));
    c1.cancel(); // the on_destroy callback runs inside cancel
    oks.ok(8);
    corio::cede();
    corio::cede();
    oks.ok(9);

    {
        let o = oks.clone();
        let as1 = corio::spawn(move || o.ok(1001));
        let o = oks.clone();
        let as1c = as1.coro();
        let as2 = corio::spawn(move || {
            o.ok(10);
            as1c.cancel();
        });
        // Switch to as2 right away, ahead of as1 in the queue.
        as2.coro().cede_to();
        assert!(as1.join().unwrap_err().is_cancelled());
        as2.join().unwrap();
    }

    {
        let o = oks.clone();
        let as1 = corio::spawn(move || o.ok(1002));
        let o = oks.clone();
        let as1c = as1.coro();
        let main = corio::current();
        let as2 = corio::spawn(move || {
            o.ok(11);
            as1c.cancel();
            corio::cede(); // nothing else is ready: returns at once
            o.ok(12);
            main.ready();
            main.throw("exit");
        });
        let r = std::panic::catch_unwind(|| as2.coro().schedule_to());
        let payload = r.expect_err("the throw must interrupt schedule_to");
        if payload.downcast_ref::<&str>() == Some(&"exit") {
            oks.ok(13);
        }
        as2.join().unwrap();
    }

    assert_eq!(oks.get(), (1..=13).collect::<Vec<_>>());
}

#[test]
fn spawn_queues_without_running() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let h = corio::spawn(move || r.set(true));
    assert!(!ran.get());
    assert!(h.coro().is_new());
    assert!(h.coro().is_ready());
    assert_eq!(corio::nready(), 1);
    corio::cede();
    assert!(ran.get());
    assert!(h.is_finished());
    assert_eq!(corio::nready(), 0);
}

#[test]
fn ready_coros_run_first_come_first_served() {
    let log = Log::new();
    let handles: Vec<_> = (0..5)
        .map(|i| {
            let log = log.clone();
            corio::spawn(move || {
                log.push(format!("{i}a"));
                corio::cede();
                log.push(format!("{i}b"));
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(
        log.get(),
        ["0a", "1a", "2a", "3a", "4a", "0b", "1b", "2b", "3b", "4b"]
    );
}

#[test]
fn seed_tutorial_cede_ordering() {
    // Coro::Intro: "main 1 / async 1 / main 2 / async 2".
    let log = Log::new();
    let l = log.clone();
    let _h = corio::spawn(move || {
        l.push("async 1");
        corio::cede();
        l.push("async 2");
    });
    log.push("main 1");
    corio::cede();
    log.push("main 2");
    corio::cede();
    assert_eq!(log.get(), ["main 1", "async 1", "main 2", "async 2"]);
}

#[test]
fn cede_with_nothing_ready_returns_at_once() {
    let before = corio::current().switches();
    corio::cede();
    corio::cede_notself();
    assert_eq!(corio::current().switches(), before);
}

#[test]
fn schedule_sleeps_until_readied() {
    let log = Log::new();
    let me = corio::current();
    let l = log.clone();
    let h = corio::spawn(move || {
        l.push("waker runs");
        assert!(me.ready());
        assert!(!me.ready(), "a second ready() finds it queued already");
        l.push("waker done");
    });
    corio::schedule();
    log.push("main woke");
    h.join().unwrap();
    assert_eq!(log.get(), ["waker runs", "waker done", "main woke"]);
}

#[test]
fn cede_is_ready_then_schedule() {
    // Perl's `sub my_cede { $current->ready; schedule }`.
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || l.push("other"));
    corio::current().ready();
    corio::schedule();
    log.push("main again");
    h.join().unwrap();
    assert_eq!(log.get(), ["other", "main again"]);
}

#[test]
fn spurious_ready_does_not_break_a_join() {
    let gate = Rc::new(Cell::new(false));
    let g = gate.clone();
    let target = corio::spawn(move || {
        while !g.get() {
            corio::cede();
        }
        7
    });
    let t = target.coro();
    let joiner = corio::spawn(move || target.join().unwrap());
    corio::cede(); // target cedes, joiner blocks in join
    // Wake the joiner for no reason, several times: it must keep waiting.
    for _ in 0..3 {
        joiner.coro().ready();
        corio::cede();
        assert!(!joiner.is_finished());
    }
    gate.set(true);
    assert_eq!(joiner.join().unwrap(), 7);
    assert!(t.is_done());
}

#[test]
fn spawn_suspended_runs_only_after_ready() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let h = corio::Builder::new()
        .spawn_suspended(move || r.set(true))
        .unwrap();
    assert!(!h.coro().is_ready());
    corio::cede();
    corio::cede();
    assert!(!ran.get());
    assert!(h.coro().ready());
    corio::cede();
    assert!(ran.get());
}

#[test]
fn a_finished_coro_is_not_ready_and_cannot_be_readied() {
    let h = corio::spawn(|| ());
    let c = h.coro();
    h.join().unwrap();
    assert!(c.is_done());
    assert!(!c.is_ready());
    assert!(!c.ready());
    assert!(!c.is_running());
}

#[test]
fn state_predicates_follow_the_life_cycle() {
    let h = corio::spawn(|| {
        let me = corio::current();
        assert!(me.is_running());
        assert!(!me.is_new());
        corio::schedule();
    });
    let c = h.coro();
    assert!(c.is_new() && c.is_ready() && !c.is_running() && !c.is_done());
    corio::cede();
    assert!(!c.is_new() && !c.is_ready() && !c.is_running() && !c.is_done());
    c.ready();
    assert!(c.is_ready());
    h.join().unwrap();
    assert!(c.is_done() && !c.is_ready());
    assert!(corio::current().is_running());
}

#[test]
fn current_names_the_running_coro() {
    let main = corio::current();
    assert_eq!(main, corio::current());
    assert_eq!(main.desc(), "[main]");
    let h = corio::spawn(corio::current);
    let id = h.coro().id();
    let inside = h.join().unwrap();
    assert_eq!(inside.id(), id);
    assert_ne!(inside, main);
}

#[test]
fn descriptions_and_ids() {
    let h = corio::Builder::new().name("worker").spawn(|| ()).unwrap();
    let c = h.coro();
    assert_eq!(c.desc(), "worker");
    c.set_desc("renamed");
    assert_eq!(c.name().as_deref(), Some("renamed"));
    let anon = corio::spawn(|| ());
    assert_eq!(anon.coro().desc(), "");
    assert_eq!(anon.coro().name(), None);
    assert_ne!(anon.coro().id(), c.id());
    assert_eq!(c.id().to_string(), c.id().as_u64().to_string());
    h.join().unwrap();
    anon.join().unwrap();
    // The handle still answers after the coro ended.
    assert_eq!(c.desc(), "renamed");
}

#[test]
fn ids_are_unique_across_threads() {
    let here: Vec<u64> = (0..300)
        .map(|_| corio::spawn(|| ()).coro().id().as_u64())
        .collect();
    let there: Vec<u64> = std::thread::spawn(|| {
        (0..300)
            .map(|_| corio::spawn(|| ()).coro().id().as_u64())
            .collect()
    })
    .join()
    .unwrap();
    let mut all: Vec<u64> = here.into_iter().chain(there).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 600);
}

#[test]
fn unblock_runs_calls_later_in_order_in_coros_that_may_block() {
    let log = Log::new();
    let l = log.clone();
    let cb = corio::unblock(move |n: u32| {
        l.push(format!("start {n}"));
        corio::cede();
        l.push(format!("end {n}"));
    });
    let cb2 = cb.clone();
    cb(1);
    cb2(2);
    log.push("returned");
    while corio::nready() > 0 {
        corio::cede();
    }
    assert_eq!(
        log.get(),
        ["returned", "start 1", "start 2", "end 1", "end 2"]
    );
}
