//! Cancelling coros: where Drops run, in which order things happen, and
//! what is released.
//!
//! `perl_t20_mutual_cancel` ports the behaviour of Perl Coro's
//! `t/20_mutual_cancel.t` (Coro 6.57, by Marc Lehmann; public mirror
//! laurent-aml/Perl-Coro).

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use util::{DropLog, Log, Oks};

#[test]
fn cancel_runs_drops_in_the_victim_then_on_destroy_lifo_then_joiners() {
    let log = Log::new();
    let l = log.clone();
    let victim = corio::spawn(move || {
        let _a = DropLog {
            log: l.clone(),
            what: "a".into(),
        };
        let _b = DropLog {
            log: l.clone(),
            what: "b".into(),
        };
        corio::schedule();
        l.push("never");
    });
    let vid = victim.coro().id();
    for i in 0..2 {
        let l = log.clone();
        victim
            .coro()
            .on_destroy(move || l.push(format!("on_destroy {i} in {}", corio::current().id())));
    }
    let l = log.clone();
    let vc = victim.coro();
    let joiner = corio::spawn(move || {
        let r = victim.join();
        l.push(format!(
            "joined cancelled={}",
            r.unwrap_err().is_cancelled()
        ));
    });
    corio::cede(); // victim parks; joiner waits in join
    assert!(!joiner.is_finished());
    let canceller = corio::current().id();
    log.push("cancel");
    vc.cancel();
    log.push("cancel returned");
    joiner.join().unwrap();
    assert_eq!(
        log.get(),
        [
            "cancel".to_string(),
            format!("drop b in {vid}"),
            format!("drop a in {vid}"),
            format!("on_destroy 1 in {vid}"),
            format!("on_destroy 0 in {vid}"),
            "cancel returned".to_string(),
            "joined cancelled=true".to_string(),
        ]
    );
    assert!(vc.is_done() && vc.is_cancelled());
    assert_ne!(canceller, vid);
}

#[test]
fn cancelling_a_coro_that_never_ran_drops_its_closure_before_returning() {
    let log = Log::new();
    let guard = DropLog {
        log: log.clone(),
        what: "closure state".into(),
    };
    let l = log.clone();
    let h = corio::spawn(move || {
        let _keep = &guard;
        l.push("ran");
    });
    let me = corio::current().id();
    h.cancel();
    assert_eq!(log.get(), [format!("drop closure state in {me}")]);
    assert!(h.join().unwrap_err().is_cancelled());
    corio::cede();
    assert_eq!(log.get().len(), 1, "the closure never runs");
}

#[test]
fn cancelling_yourself_unwinds_at_once() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        let _g = DropLog {
            log: l.clone(),
            what: "guard".into(),
        };
        l.push("before");
        corio::current().cancel();
        l.push("after");
    });
    let id = h.coro().id();
    assert!(h.join().unwrap_err().is_cancelled());
    assert_eq!(
        log.get(),
        ["before".to_string(), format!("drop guard in {id}")]
    );
}

#[test]
fn cancel_of_a_finished_coro_does_nothing() {
    let h = corio::spawn(|| 5);
    let c = h.coro();
    corio::cede();
    c.cancel();
    assert!(!c.is_cancelled());
    assert_eq!(h.join().unwrap(), 5);
}

#[test]
fn cancel_of_a_ready_coro_unwinds_it_where_it_ceded() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        let _g = DropLog {
            log: l.clone(),
            what: "g".into(),
        };
        loop {
            l.push("tick");
            corio::cede();
        }
    });
    corio::cede();
    corio::cede();
    assert!(h.coro().is_ready());
    h.cancel();
    let id = h.coro().id();
    assert_eq!(
        log.get(),
        [
            "tick".to_string(),
            "tick".to_string(),
            format!("drop g in {id}")
        ]
    );
    assert!(!h.coro().is_ready());
}

#[test]
fn perl_t20_mutual_cancel() {
    // b cancels a; a's destructor cancels b while b is busy cancelling a:
    // b finishes its cancel first, then ends without running further.
    let oks = Oks::new();
    oks.ok(1);
    let a_slot: Rc<RefCell<Option<corio::Coro>>> = Rc::default();
    let b_slot: Rc<RefCell<Option<corio::Coro>>> = Rc::default();

    struct Xyz(Oks, Rc<RefCell<Option<corio::Coro>>>);
    impl Drop for Xyz {
        fn drop(&mut self) {
            self.0.ok(7);
            let b = self.1.borrow().clone().unwrap();
            b.cancel();
            self.0.ok(8);
        }
    }

    let (o, a) = (oks.clone(), a_slot.clone());
    let b = corio::spawn(move || {
        o.ok(3);
        corio::cede();
        o.ok(6);
        let a = a.borrow().clone().unwrap();
        a.cancel();
        o.ok(1000); // "not ok 7"
    });
    let (o, bs) = (oks.clone(), b_slot.clone());
    let a = corio::spawn(move || {
        o.ok(4);
        let _x = Xyz(o.clone(), bs);
        corio::cede();
        o.ok(1001); // "not ok 5"
    });
    *a_slot.borrow_mut() = Some(a.coro());
    *b_slot.borrow_mut() = Some(b.coro());
    oks.ok(2);
    corio::cede();
    oks.ok(5);
    corio::cede();
    oks.ok(9);
    corio::cede();
    oks.ok(10);
    assert_eq!(oks.get(), (1..=10).collect::<Vec<_>>());
    assert!(a.join().unwrap_err().is_cancelled());
    assert!(b.join().unwrap_err().is_cancelled());
}

#[test]
fn killall_cancels_everyone_but_the_caller_and_main() {
    let log = Log::new();
    let mut hs = Vec::new();
    for i in 0..3 {
        let l = log.clone();
        hs.push(corio::spawn(move || {
            let _g = DropLog {
                log: l.clone(),
                what: format!("c{i}"),
            };
            corio::schedule();
        }));
    }
    let killer = corio::spawn(|| {
        corio::killall();
        "survived"
    });
    let fresh = corio::spawn(|| ()); // never ran when killall comes
    corio::cede();
    assert_eq!(killer.join().unwrap(), "survived");
    for h in hs {
        assert!(h.join().unwrap_err().is_cancelled());
    }
    assert!(fresh.join().unwrap_err().is_cancelled());
    assert_eq!(log.get().len(), 3);
    assert!(!corio::current().is_cancelled());
}

#[test]
fn a_cancelled_joiner_leaves_the_join_and_the_target_lives_on() {
    let gate = Rc::new(Cell::new(false));
    let g = gate.clone();
    let target = corio::spawn(move || {
        while !g.get() {
            corio::cede();
        }
        1
    });
    let tc = target.coro();
    let holder = Rc::new(RefCell::new(Some(target)));
    let h2 = holder.clone();
    let joiner = corio::spawn(move || {
        let t = h2.borrow_mut().take().unwrap();
        t.join().unwrap()
    });
    corio::cede();
    joiner.cancel();
    assert!(joiner.join().unwrap_err().is_cancelled());
    assert!(!tc.is_done());
    gate.set(true);
    while !tc.is_done() {
        corio::cede();
    }
}

#[test]
fn a_coro_that_catches_its_cancel_still_ends_cancelled() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        let r = std::panic::catch_unwind(corio::schedule);
        l.push(format!("caught {}", r.is_err()));
        // Every later blocking call unwinds again.
        let r2 = std::panic::catch_unwind(corio::cede);
        l.push(format!("cede unwound {}", r2.is_err()));
        7
    });
    corio::cede();
    h.cancel();
    assert!(h.join().unwrap_err().is_cancelled());
    assert_eq!(log.get(), ["caught true", "cede unwound true"]);
}

#[test]
fn cancelling_a_suspended_coro_still_unwinds_it() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        let _g = DropLog {
            log: l.clone(),
            what: "g".into(),
        };
        corio::cede();
    });
    corio::cede();
    h.coro().suspend();
    h.cancel();
    assert_eq!(log.get().len(), 1);
    assert!(h.join().unwrap_err().is_cancelled());
}

#[test]
fn cancelling_the_main_coro_unwinds_its_blocking_call() {
    let main = corio::current();
    let h = corio::spawn(move || main.cancel());
    let r = std::panic::catch_unwind(corio::schedule);
    assert!(
        r.is_err(),
        "schedule() in the cancelled main coro must unwind"
    );
    h.join().unwrap();
}

#[test]
fn on_destroy_on_a_finished_coro_runs_at_once() {
    let h = corio::spawn(|| ());
    let c = h.coro();
    h.join().unwrap();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    c.on_destroy(move || r.set(true));
    assert!(ran.get());
}

#[test]
fn a_panicking_on_destroy_callback_does_not_stop_the_others() {
    let log = Log::new();
    let h = corio::spawn(|| ());
    let l = log.clone();
    h.coro().on_destroy(move || l.push("first registered"));
    h.coro().on_destroy(|| panic!("callback failure"));
    let l = log.clone();
    h.coro().on_destroy(move || l.push("last registered"));
    h.join().unwrap();
    assert_eq!(log.get(), ["last registered", "first registered"]);
}

/// Cancels its coro when dropped.
struct CancelOnDrop(Option<corio::JoinHandle<()>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.cancel();
        }
    }
}

#[test]
fn a_cancel_from_a_drop_during_another_coros_panic_still_unwinds_the_victim() {
    // The thread's panic count is shared by its coros: the victim must not
    // take the main coro's unwinding for its own and block again (that
    // made `cancel` wait for ever).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(|| {
            let victim = corio::spawn(|| corio::sleep(std::time::Duration::from_secs(60)));
            let _g = CancelOnDrop(Some(victim));
            corio::cede();
            panic!("boom");
        });
        let _ = tx.send(r.is_err());
    });
    let panicked = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the cancel from a Drop never finished");
    assert!(panicked);
}

/// `checkpoint()` acts on a pending cancel like a blocking call — and,
/// like one, does nothing in a `Drop` that runs while the coro unwinds (a
/// second unwind there would abort the process).
#[test]
fn checkpoint_in_a_drop_during_the_cancel_unwind_returns() {
    struct CheckInDrop(std::rc::Rc<std::cell::Cell<u32>>);
    impl Drop for CheckInDrop {
        fn drop(&mut self) {
            assert!(!corio::interrupted(), "nothing to act on while unwinding");
            corio::checkpoint();
            self.0.set(self.0.get() + 1);
        }
    }
    let dropped = std::rc::Rc::new(std::cell::Cell::new(0));
    let d = dropped.clone();
    let h = corio::spawn(move || {
        let _g = CheckInDrop(d);
        corio::schedule(); // parked for ever: cancelled here
    });
    corio::cede();
    h.cancel();
    assert!(h.join().unwrap_err().is_cancelled());
    assert_eq!(dropped.get(), 1, "the Drop ran to its end");
    // A cancel caught at a blocking call stays pending (a cancelled coro
    // stays cancelled): `checkpoint` raises it again, also from inside a
    // generator, whose stack unwinds first.
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let l = log.clone();
    let h = corio::spawn(move || {
        let mut g = corio::Generator::new(move |_y: &corio::Yielder<()>, ()| {
            struct Note(std::rc::Rc<std::cell::RefCell<Vec<&'static str>>>);
            impl Drop for Note {
                fn drop(&mut self) {
                    self.0.borrow_mut().push("generator frame");
                }
            }
            let _n = Note(l);
            let caught = std::panic::catch_unwind(corio::schedule);
            assert!(caught.is_err(), "cancelled while the generator runs");
            assert!(corio::interrupted());
            corio::checkpoint();
            unreachable!("checkpoint returned with a cancel pending");
        });
        g.resume(());
    });
    corio::cede();
    h.cancel();
    assert!(h.join().unwrap_err().is_cancelled());
    assert_eq!(*log.borrow(), ["generator frame"]);
}

/// Two coros cancel the same coro while its `Drop` blocks: the second
/// cancel waits for the first, both return once the victim has ended, and
/// the first canceller runs first (it is handed the CPU as the victim
/// ends; the second waits like a joiner). Cancels in progress are kept by
/// the scheduler, not by the victim: many at once must not mix up.
#[test]
fn two_cancels_of_one_coro_wait_for_its_end_and_the_first_canceller_runs_first() {
    struct SlowDrop(Log);
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            self.0.push("drop starts");
            for _ in 0..3 {
                corio::cede();
            }
            self.0.push("drop ends");
        }
    }
    let log = Log::new();
    for round in 0..3 {
        log.take();
        let l = log.clone();
        let victim = corio::spawn(move || {
            let _d = SlowDrop(l);
            corio::schedule();
        });
        // Other cancels in progress at the same time, of other coros.
        let others: Vec<_> = (0..4)
            .map(|_| {
                corio::spawn(|| {
                    struct Cedes;
                    impl Drop for Cedes {
                        fn drop(&mut self) {
                            corio::cede();
                            corio::cede();
                        }
                    }
                    let _c = Cedes;
                    corio::schedule();
                })
            })
            .collect();
        corio::cede(); // everyone parks
        let cancellers: Vec<_> = others
            .iter()
            .map(|o| {
                let o = o.coro();
                corio::spawn(move || o.cancel())
            })
            .collect();
        let (va, vb) = (victim.coro(), victim.coro());
        let (la, lb) = (log.clone(), log.clone());
        let a = corio::spawn(move || {
            la.push("a cancels");
            va.cancel();
            la.push("a returned");
        });
        let b = corio::spawn(move || {
            lb.push("b cancels");
            vb.cancel();
            lb.push("b returned");
        });
        a.join().unwrap();
        b.join().unwrap();
        for c in cancellers {
            c.join().unwrap();
        }
        for o in others {
            assert!(o.join().unwrap_err().is_cancelled());
        }
        assert!(victim.join().unwrap_err().is_cancelled());
        assert_eq!(
            log.take(),
            [
                "a cancels",
                "drop starts",
                "b cancels",
                "drop ends",
                "a returned",
                "b returned"
            ],
            "round {round}"
        );
    }
}
