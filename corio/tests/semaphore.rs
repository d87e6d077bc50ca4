//! `Semaphore` and `SemaphoreSet`.
//!
//! The `perl_t15_*` tests port Perl Coro's `t/15_semaphore.t` (Coro 6.57,
//! by Marc Lehmann; public mirror laurent-aml/Perl-Coro), including its
//! checksum, which depends on the exact order coros run in.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use corio::sync::{Semaphore, SemaphoreSet};
use util::{Log, Oks};

#[test]
fn perl_t15_checksum() {
    let sem = Rc::new(Semaphore::new(2));
    let rand = Rc::new(Cell::new(0u64));
    // Perl: $rand = ($rand * 121 + 2121) % 212121; $rand / 212120
    let xrand = move || {
        let r = (rand.get() * 121 + 2121) % 212121;
        rand.set(r);
        r as f64 / 212120.0
    };
    let counter = Rc::new(Cell::new(0isize));
    let coros: Vec<_> = (0..15)
        .map(|_| {
            let (sem, xrand, counter) = (sem.clone(), xrand.clone(), counter.clone());
            corio::spawn(move || {
                let current = corio::current();
                for _ in 0..100 {
                    if 0.2 > xrand() {
                        corio::cede();
                    }
                    if 0.2 > xrand() {
                        // Perl: Coro::async_pool { $current->ready }
                        let c = current.clone();
                        drop(corio::spawn(move || {
                            c.ready();
                        }));
                    }
                    counter.set(counter.get() + sem.count());
                    let _guard = sem.guard();
                    corio::cede();
                    corio::cede();
                    corio::cede();
                    corio::cede();
                }
            })
        })
        .collect();
    for c in coros {
        c.join().unwrap();
    }
    assert_eq!(counter.get(), 998);
}

#[test]
fn perl_t15_a_cancelled_waiter_passes_its_wakeup_on() {
    let oks = Oks::new();
    let sem = Rc::new(Semaphore::new(0));
    let (s, o) = (sem.clone(), oks.clone());
    let as1 = corio::spawn(move || {
        let _g = s.guard();
        o.ok(1000); // "not ok 2"
    });
    let (s, o) = (sem.clone(), oks.clone());
    let as2 = corio::spawn(move || {
        let _g = s.guard();
        o.ok(2);
    });
    corio::cede();
    sem.up(); // wakes as1
    as1.cancel(); // before it could take the unit
    assert!(as1.join().unwrap_err().is_cancelled());
    as2.join().unwrap();
    assert_eq!(oks.get(), [2]);
    assert_eq!(sem.count(), 1);
}

#[test]
fn perl_t15_a_thrown_out_waiter_passes_its_wakeup_on() {
    let oks = Oks::new();
    let sem = Rc::new(Semaphore::new(0));
    let (s, o) = (sem.clone(), oks.clone());
    let as1 = corio::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.guard().forget()));
        if r.is_err() {
            o.ok(3);
        }
    });
    let (s, o) = (sem.clone(), oks.clone());
    let as2 = corio::spawn(move || {
        let _g = s.guard();
        o.ok(4);
    });
    corio::cede();
    sem.up();
    as1.coro().throw(1);
    as1.join().unwrap();
    as2.join().unwrap();
    assert_eq!(oks.get(), [3, 4]);
}

#[test]
fn perl_t15_wait_passes_the_wakeup_on() {
    let oks = Oks::new();
    let sem = Rc::new(Semaphore::new(0));
    let (s, o) = (sem.clone(), oks.clone());
    let as1 = corio::spawn(move || {
        s.wait();
        o.ok(5);
    });
    let (s, o) = (sem.clone(), oks.clone());
    let as2 = corio::spawn(move || {
        let _g = s.guard();
        o.ok(6);
    });
    corio::cede();
    sem.up(); // wakes as1, which takes nothing and wakes as2
    as1.join().unwrap();
    as2.join().unwrap();
    assert_eq!(oks.get(), [5, 6]);
}

#[test]
fn seed_tutorial_semaphore_program() {
    // Coro::Intro: a locked semaphore, unlocked by a coro.
    let log = Log::new();
    let sem = Rc::new(Semaphore::new(0));
    let (s, l) = (sem.clone(), log.clone());
    let _h = corio::spawn(move || {
        l.push("unlocking semaphore");
        s.up();
    });
    log.push("trying to lock semaphore");
    sem.down();
    log.push("we got it!");
    assert_eq!(
        log.get(),
        [
            "trying to lock semaphore",
            "unlocking semaphore",
            "we got it!"
        ]
    );
}

#[test]
fn waiters_are_woken_first_come_first_served() {
    let log = Log::new();
    let sem = Rc::new(Semaphore::new(0));
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let (s, l) = (sem.clone(), log.clone());
            corio::spawn(move || {
                s.down();
                l.push(format!("{i}"));
            })
        })
        .collect();
    corio::cede();
    assert_eq!(sem.waiters(), 4);
    for _ in 0..4 {
        sem.up();
    }
    assert_eq!(
        sem.waiters(),
        0,
        "woken waiters that did not run yet are not counted"
    );
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(log.get(), ["0", "1", "2", "3"]);
    assert_eq!(sem.count(), 0);
}

#[test]
fn a_coro_that_gets_there_first_takes_the_unit_and_the_waiter_queues_again_at_the_back() {
    let log = Log::new();
    let sem = Rc::new(Semaphore::new(0));
    let mk = |name: &'static str| {
        let (s, l) = (sem.clone(), log.clone());
        corio::spawn(move || {
            s.down();
            l.push(name);
        })
    };
    let first = mk("first");
    let second = mk("second");
    corio::cede(); // both wait: first, second
    sem.up(); // wakes `first`...
    assert!(sem.try_down(), "...but we get there first");
    corio::cede(); // `first` finds nothing and queues again, behind `second`
    assert_eq!(sem.waiters(), 2);
    sem.up();
    sem.up();
    first.join().unwrap();
    second.join().unwrap();
    assert_eq!(log.get(), ["second", "first"]);
}

#[test]
fn a_spuriously_woken_waiter_keeps_its_place() {
    let log = Log::new();
    let sem = Rc::new(Semaphore::new(0));
    let mk = |name: &'static str| {
        let (s, l) = (sem.clone(), log.clone());
        corio::spawn(move || {
            s.down();
            l.push(name);
        })
    };
    let a = mk("a");
    let b = mk("b");
    corio::cede();
    for _ in 0..3 {
        a.coro().ready(); // spurious
        corio::cede();
    }
    assert_eq!(sem.waiters(), 2);
    sem.up();
    corio::cede();
    assert_eq!(log.get(), ["a"]);
    sem.up();
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(log.get(), ["a", "b"]);
}

#[test]
fn adjust_may_go_negative_and_wakes_as_many_as_it_frees() {
    let sem = Rc::new(Semaphore::new(0));
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let s = sem.clone();
            corio::spawn(move || s.down())
        })
        .collect();
    corio::cede();
    sem.adjust(-2);
    assert_eq!(sem.count(), -2);
    sem.adjust(4); // count 2: two waiters wake
    assert_eq!(sem.waiters(), 1);
    corio::cede();
    assert_eq!(sem.count(), 0);
    sem.up();
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn a_guard_gives_the_unit_back_on_panic_and_cancel() {
    let sem = Rc::new(Semaphore::new(1));
    let s = sem.clone();
    let panicker = corio::spawn(move || {
        let _g = s.guard();
        corio::cede();
        panic!("while holding the unit");
    });
    corio::cede();
    assert_eq!(sem.count(), 0);
    assert!(panicker.join().is_err());
    assert_eq!(sem.count(), 1);
    let s = sem.clone();
    let holder = corio::spawn(move || {
        let _g = s.guard();
        corio::schedule();
    });
    corio::cede();
    holder.cancel();
    assert_eq!(sem.count(), 1);
}

#[test]
fn failed_try_calls_release_nothing() {
    let sem = Semaphore::new(0);
    assert!(sem.try_guard().is_none());
    assert_eq!(
        sem.count(),
        0,
        "a failed try_guard must not give back a unit"
    );
    assert!(!sem.try_down());
    assert_eq!(sem.count(), 0);
    assert!(sem.guard_timeout(Duration::from_millis(1)).is_none());
    assert_eq!(sem.count(), 0);
}

#[test]
fn down_timeout_times_out_and_leaves_the_queue() {
    let sem = Rc::new(Semaphore::new(0));
    assert!(!sem.down_timeout(Duration::from_millis(3)));
    assert_eq!(sem.waiters(), 0);
    let s = sem.clone();
    let h = corio::spawn(move || s.down_timeout(Duration::from_secs(5)));
    corio::cede();
    sem.up();
    assert!(h.join().unwrap());
    assert_eq!(sem.count(), 0);
}

#[test]
fn callback_waiters_run_in_turn_and_do_not_use_up_the_count() {
    let log = Log::new();
    let sem = Rc::new(Semaphore::new(0));
    let l = log.clone();
    sem.wait_callback(move || l.push("callback"));
    let (s, l) = (sem.clone(), log.clone());
    let h = corio::spawn(move || {
        s.down();
        l.push("coro");
    });
    corio::cede();
    sem.up(); // calls the callback, then wakes the coro with the same unit
    assert_eq!(log.get(), ["callback"]);
    h.join().unwrap();
    assert_eq!(log.get(), ["callback", "coro"]);
    // With a unit available, the callback runs at once.
    let l = log.clone();
    sem.up();
    sem.wait_callback(move || l.push("at once"));
    assert_eq!(log.get().last().map(String::as_str), Some("at once"));
}

#[test]
fn semaphore_set_members_come_and_go() {
    let set = Rc::new(SemaphoreSet::new(1));
    assert_eq!(set.count("a"), 1);
    assert!(set.is_empty());
    let g = set.guard("a");
    assert_eq!(set.len(), 1);
    let s = set.clone();
    let waiter = corio::spawn(move || {
        let _g = s.guard("a");
        "got a"
    });
    corio::cede();
    assert_eq!(set.waiters("a"), 1);
    drop(g);
    assert_eq!(waiter.join().unwrap(), "got a");
    assert!(set.is_empty(), "idle members are dropped");
    // up on an absent key creates a member with one unit more.
    set.up("b");
    assert_eq!(set.count("b"), 2);
    assert!(set.try_down("b"));
    assert!(set.is_empty());
}

#[test]
fn semaphore_set_with_no_initial_units() {
    let set = Rc::new(SemaphoreSet::<u32>::new(0));
    assert!(!set.try_down(1));
    assert!(set.is_empty(), "a failed try_down creates no member");
    let s = set.clone();
    let w = corio::spawn(move || s.wait(1));
    corio::cede();
    assert!(
        !w.is_finished(),
        "wait on an absent member with no units waits"
    );
    set.up(1);
    w.join().unwrap();
    assert!(set.try_down(1));
    assert!(set.is_empty());
}

#[test]
fn a_cancelled_set_waiter_leaves_no_member_behind() {
    let set = Rc::new(SemaphoreSet::new(0));
    let s = set.clone();
    let h = corio::spawn(move || s.down("k"));
    corio::cede();
    assert_eq!(set.len(), 1);
    h.cancel();
    assert!(set.is_empty());
}
