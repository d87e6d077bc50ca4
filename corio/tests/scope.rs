//! `corio::scope`: coros that borrow from the caller's stack, and the
//! promise that the scope never returns or unwinds while one of them could
//! still run — whatever happens to the body, the coros or the caller.

mod util;

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::sync::{Channel, Semaphore};
use util::{Log, panic_message};

/// Logs `what` when dropped (in whichever coro drops it).
struct Mark<'a>(&'a Log, &'static str);

impl Drop for Mark<'_> {
    fn drop(&mut self) {
        self.0.push(self.1);
    }
}

#[test]
fn coros_borrow_and_mutate_the_callers_locals() {
    let mut evens = Vec::new();
    let mut odds = Vec::new();
    let total = Cell::new(0);
    corio::scope(|s| {
        s.spawn(|| {
            for n in (0..10).filter(|n| n % 2 == 0) {
                evens.push(n);
                total.set(total.get() + n);
                corio::cede();
            }
        });
        s.spawn(|| {
            for n in (0..10).filter(|n| n % 2 == 1) {
                odds.push(n);
                total.set(total.get() + n);
                corio::cede();
            }
        });
    });
    assert_eq!(evens, [0, 2, 4, 6, 8]);
    assert_eq!(odds, [1, 3, 5, 7, 9]);
    assert_eq!(total.get(), 45);
}

#[test]
fn spawned_coros_wait_for_the_caller_to_give_up_the_cpu() {
    let log = Log::new();
    corio::scope(|s| {
        s.spawn(|| log.push("child"));
        log.push("body");
    });
    log.push("after");
    assert_eq!(log.get(), ["body", "child", "after"]);
}

#[test]
fn the_scope_returns_only_after_every_coro_ended() {
    let log = Log::new();
    let start = Instant::now();
    let v = corio::scope(|s| {
        s.spawn(|| {
            corio::sleep(Duration::from_millis(30));
            log.push("slow");
        });
        s.spawn(|| {
            corio::cede();
            log.push("fast");
        });
        "body's value"
    });
    log.push("returned");
    assert_eq!(v, "body's value");
    assert_eq!(log.get(), ["fast", "slow", "returned"]);
    assert!(start.elapsed() >= Duration::from_millis(30));
}

#[test]
fn join_returns_the_value_and_the_handle_reports_progress() {
    let name = String::from("borrowed");
    let r = corio::scope(|s| {
        let h = s.spawn(|| {
            corio::cede();
            name.len()
        });
        assert!(!h.is_finished());
        assert!(!h.coro().is_done());
        let n = h.join().unwrap();
        assert_eq!(n, 8);
        n * 2
    });
    assert_eq!(r, 16);
}

#[test]
fn coros_of_a_scope_spawn_more_and_join_each_other() {
    let log = Log::new();
    corio::scope(|s| {
        let first = s.spawn(|| {
            corio::cede();
            log.push("first");
            7
        });
        s.spawn(|| {
            s.spawn(|| log.push("grandchild"));
            let v = first.join().unwrap();
            log.push(format!("second saw {v}"));
        });
    });
    let got = log.get();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.contains(&"grandchild".to_string()));
    assert!(got.iter().position(|l| l == "first") < got.iter().position(|l| l == "second saw 7"));
}

#[test]
fn a_panic_nobody_joined_is_reraised_with_its_payload_after_all_ended() {
    let log = Log::new();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        corio::scope(|s| {
            s.spawn(|| panic::panic_any(42u32));
            s.spawn(|| log.push("ran after the panic"));
            log.push("body done");
        });
        log.push("scope returned");
    }));
    let p = r.unwrap_err();
    assert_eq!(p.downcast_ref::<u32>(), Some(&42));
    // The panic cancelled the other coro before it ever ran.
    assert_eq!(log.get(), ["body done"]);
}

#[test]
fn a_joined_panic_is_not_reraised() {
    let r = corio::scope(|s| {
        let h = s.spawn(|| -> u8 { panic!("handled") });
        match h.join() {
            Err(e) => e.panic_message().map(str::to_owned),
            Ok(_) => None,
        }
    });
    assert_eq!(r.as_deref(), Some("handled"));
}

#[test]
fn a_panic_cancels_the_other_coros_at_once_and_the_first_one_wins() {
    let log = Log::new();
    let never = Semaphore::new(0);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        corio::scope(|s| {
            s.spawn(|| {
                let _m = Mark(&log, "waiter unwound");
                never.down(); // nothing will ever up it
                log.push("waiter went on");
            });
            s.spawn(|| {
                corio::cede();
                log.push("first panics");
                panic!("first");
            });
            s.spawn(|| {
                corio::cede();
                corio::cede();
                panic!("second");
            });
            log.push("body done");
        })
    }));
    assert_eq!(panic_message(r.unwrap_err()), "first");
    // The panic cancelled the waiter (and the would-be second panicker)
    // before they could go on.
    assert_eq!(
        log.get(),
        ["body done", "first panics", "waiter unwound"],
        "{:?}",
        log.get()
    );
    assert_eq!(never.waiters(), 0);
}

#[test]
fn a_panicking_body_cancels_and_awaits_every_coro_first() {
    let log = Log::new();
    let gate = Channel::<()>::new();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        corio::scope(|s| {
            for name in ["a unwound", "b unwound"] {
                let (log, gate) = (&log, &gate);
                s.spawn(move || {
                    let _m = Mark(log, name);
                    gate.get();
                });
            }
            corio::cede();
            panic!("body");
        })
    }));
    log.push("caught");
    assert_eq!(panic_message(r.unwrap_err()), "body");
    assert_eq!(log.get(), ["a unwound", "b unwound", "caught"]);
    assert_eq!(gate.len(), 0);
}

#[test]
fn the_body_panic_wins_over_a_panic_nobody_joined() {
    let r = panic::catch_unwind(|| {
        corio::scope(|s| {
            s.spawn(|| panic!("child"));
            corio::cede();
            panic!("body");
        })
    });
    assert_eq!(panic_message(r.unwrap_err()), "body");
}

#[test]
fn cancelling_the_caller_in_the_body_cancels_the_coros_before_it_unwinds() {
    let log = Log::new();
    let owner = {
        let log = log.clone();
        corio::spawn(move || {
            let _outer = Mark(&log, "owner unwound past the scope");
            let local = String::from("on the owner's stack");
            corio::scope(|s| {
                s.spawn(|| {
                    let _m = Mark(&log, "child unwound");
                    corio::schedule();
                    log.push(format!("child used {local}"));
                });
                corio::schedule(); // cancelled here
            });
        })
    };
    corio::cede(); // the owner spawns its child and waits
    corio::cede(); // the child runs and waits
    owner.coro().cancel();
    assert!(owner.join().unwrap_err().is_cancelled());
    assert_eq!(log.get(), ["child unwound", "owner unwound past the scope"]);
}

#[test]
fn cancelling_the_caller_while_it_waits_at_the_end_cancels_the_coros() {
    let log = Log::new();
    let owner = {
        let log = log.clone();
        corio::spawn(move || {
            let _outer = Mark(&log, "owner unwound");
            corio::scope(|s| {
                s.spawn(|| {
                    let _m = Mark(&log, "child unwound");
                    corio::sleep(Duration::from_secs(3600));
                });
            });
            log.push("scope returned");
        })
    };
    corio::cede(); // the owner waits at the end of the scope
    corio::cede();
    owner.coro().cancel();
    assert!(owner.join().unwrap_err().is_cancelled());
    assert_eq!(log.get(), ["child unwound", "owner unwound"]);
}

#[test]
fn a_throw_at_the_caller_passes_on_after_the_coros_ended() {
    let log = Log::new();
    let owner = {
        let log = log.clone();
        corio::spawn(move || {
            corio::scope(|s| {
                s.spawn(|| {
                    let _m = Mark(&log, "child unwound");
                    corio::schedule();
                });
            })
        })
    };
    corio::cede();
    corio::cede();
    owner.coro().throw("thrown");
    let e = owner.join().unwrap_err();
    assert_eq!(e.panic_message(), Some("thrown"));
    assert_eq!(log.get(), ["child unwound"]);
}

#[test]
fn a_timeout_of_the_caller_cancels_the_coros_and_returns_elapsed() {
    let log = Log::new();
    let start = Instant::now();
    let r = corio::timeout(Duration::from_millis(20), || {
        corio::scope(|s| {
            s.spawn(|| {
                let _m = Mark(&log, "child unwound");
                corio::sleep(Duration::from_secs(3600));
            });
            s.spawn(|| {
                let _m = Mark(&log, "other unwound");
                corio::schedule();
            });
        })
    });
    assert_eq!(r, Err(corio::Elapsed::new()));
    assert!(start.elapsed() < Duration::from_secs(60));
    assert_eq!(log.get(), ["child unwound", "other unwound"]);
}

#[test]
fn interrupts_that_reach_the_caller_while_it_cancels_are_absorbed() {
    // The owner is cancelled; while it waits for a child whose cleanup
    // takes a while, it is thrown at and cancelled again. It still waits
    // for the child before unwinding on.
    let log = Log::new();
    let release = Rc::new(Semaphore::new(0));
    let owner = {
        let (log, release) = (log.clone(), release.clone());
        corio::spawn(move || {
            let _outer = Mark(&log, "owner unwound");
            corio::scope(|s| {
                s.spawn(|| {
                    struct SlowDrop<'a>(&'a Log, &'a Semaphore);
                    impl Drop for SlowDrop<'_> {
                        fn drop(&mut self) {
                            self.1.down(); // blocks while unwinding
                            self.0.push("child cleanup done");
                        }
                    }
                    let _d = SlowDrop(&log, &release);
                    corio::schedule();
                });
                corio::schedule();
            });
        })
    };
    corio::cede();
    let (oc, l2) = (owner.coro(), log.clone());
    let canceller = corio::spawn(move || {
        oc.cancel(); // waits until the owner is done
        l2.push("cancel returned");
    });
    corio::cede(); // the canceller starts; the owner cancels the child, which blocks
    corio::cede();
    owner.coro().throw("ignored: the owner is busy unwinding");
    corio::cede();
    owner.coro().cancel(); // a second cancel waits too... in a coro of its own
    assert!(!owner.is_finished());
    release.up();
    canceller.join().unwrap();
    assert!(owner.join().unwrap_err().is_cancelled());
    assert_eq!(
        log.get(),
        ["child cleanup done", "owner unwound", "cancel returned"]
    );
}

#[test]
fn a_deadlock_in_the_body_cancels_the_coros_and_the_report_reaches_the_caller() {
    let log = Log::new();
    let sem = Semaphore::new(0);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        corio::scope(|s| {
            s.spawn(|| {
                let _m = Mark(&log, "child unwound");
                sem.down();
                log.push("child went on");
            });
            sem.wait(); // main and child both wait: deadlock
        })
    }));
    let msg = panic_message(r.unwrap_err());
    assert!(msg.contains("deadlock detected"), "{msg}");
    // Waking what the child waited for runs nothing: it ended.
    sem.up();
    corio::cede();
    assert_eq!(log.get(), ["child unwound"]);
    assert_eq!(sem.count(), 1);
}

#[test]
fn a_deadlock_while_waiting_at_the_end_cancels_the_coros() {
    let log = Log::new();
    let ch = Channel::<u8>::new();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        corio::scope(|s| {
            s.spawn(|| {
                let _m = Mark(&log, "child unwound");
                ch.get();
            });
        })
    }));
    assert!(panic_message(r.unwrap_err()).contains("deadlock detected"));
    ch.put(1).unwrap();
    corio::cede();
    assert_eq!(log.get(), ["child unwound"]);
    assert_eq!(ch.len(), 1, "the cancelled get took nothing");
}

#[test]
fn a_coro_whose_cleanup_blocks_keeps_the_cancelled_caller_waiting() {
    // The owner (not main) is cancelled; its child's cleanup blocks until
    // main releases it. Main's cancel of the owner cannot return before
    // that: it deadlocks, main catches the report, releases the child,
    // and only then does the owner end.
    let log = Log::new();
    let release = Rc::new(Semaphore::new(0));
    let owner = {
        let (log, release) = (log.clone(), release.clone());
        corio::spawn(move || {
            let _outer = Mark(&log, "owner unwound");
            corio::scope(|s| {
                s.spawn(|| {
                    struct Blocks<'a>(&'a Log, &'a Semaphore);
                    impl Drop for Blocks<'_> {
                        fn drop(&mut self) {
                            self.1.down();
                            self.0.push("child cleanup done");
                        }
                    }
                    let _b = Blocks(&log, &release);
                    corio::schedule();
                });
                corio::schedule();
            })
        })
    };
    corio::cede(); // the owner spawns its child and waits
    corio::cede(); // the child runs and waits
    let r = panic::catch_unwind(AssertUnwindSafe(|| owner.coro().cancel()));
    assert!(panic_message(r.unwrap_err()).contains("deadlock detected"));
    assert!(!owner.is_finished(), "the owner waits for its child");
    assert!(log.get().is_empty());
    release.up();
    assert!(owner.join().unwrap_err().is_cancelled());
    assert_eq!(log.get(), ["child cleanup done", "owner unwound"]);
}

/// A coro whose cleanup blocks on `sem` for ever, logging if it goes on.
struct Stuck<'a>(&'a Semaphore, &'a Log);

impl Drop for Stuck<'_> {
    fn drop(&mut self) {
        self.0.down(); // nothing will ever up it (until too late)
        self.1.push("cleanup went on");
    }
}

#[test]
fn a_coro_that_can_neither_finish_nor_be_cancelled_is_abandoned() {
    // The body panics; the scope cancels its coro, whose cleanup blocks
    // with nothing left to wake it: the main coro's wait gets the deadlock
    // report. The coro is abandoned (never resumed) and the body's panic
    // goes on; waking what the coro waited for later runs nothing.
    let log = Log::new();
    let never = Semaphore::new(0);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        corio::scope(|s| {
            s.spawn(|| {
                let _s = Stuck(&never, &log);
                corio::schedule();
            });
            corio::cede();
            panic!("body");
        })
    }));
    assert_eq!(panic_message(r.unwrap_err()), "body");
    let ps = corio::debug::ps();
    assert_eq!(ps.lines().count(), 2, "only main is left:\n{ps}");
    never.up();
    corio::cede();
    corio::sleep(Duration::from_millis(2));
    assert!(
        log.get().is_empty(),
        "an abandoned coro ran: {:?}",
        log.get()
    );
    assert_eq!(never.count(), 1, "the unit was not taken");
}

#[test]
fn a_deadlock_whose_cancel_gets_stuck_still_reaches_the_caller() {
    // The body returns, the coro waits for ever: deadlock. Cancelling it
    // gets stuck in its cleanup: abandoned, and the report goes on.
    let log = Log::new();
    let never = Semaphore::new(0);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        corio::scope(|s| {
            s.spawn(|| {
                let _s = Stuck(&never, &log);
                corio::schedule();
            });
        })
    }));
    assert!(panic_message(r.unwrap_err()).contains("deadlock detected"));
    never.up();
    corio::cede();
    assert!(log.get().is_empty());
}

#[test]
fn forgetting_handles_changes_nothing() {
    let log = Log::new();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        corio::scope(|s| {
            std::mem::forget(s.spawn(|| {
                corio::cede();
                log.push("forgotten one ran");
            }));
            let h = s.spawn(|| -> () {
                corio::cede();
                corio::cede();
                panic!("forgotten panic")
            });
            std::mem::forget(h);
        })
    }));
    assert_eq!(panic_message(r.unwrap_err()), "forgotten panic");
    assert_eq!(log.get(), ["forgotten one ran"]);
}

#[test]
fn a_coro_cancelled_before_it_ran_drops_its_closure_in_the_canceller() {
    let log = Log::new();
    let log = &log;
    corio::scope(|s| {
        let mark = Mark(log, "closure dropped");
        let h = s.spawn(move || {
            let _keep = mark;
            log.push("ran");
        });
        h.cancel();
        log.push("cancel returned");
        assert!(h.join().unwrap_err().is_cancelled());
    });
    assert_eq!(log.get(), ["closure dropped", "cancel returned"]);
}

#[test]
fn cleanup_that_spawns_into_the_scope_is_waited_for_too() {
    // A coro's Drop spawns another coro of the same scope while the scope
    // is cancelling: that one is cancelled and awaited as well.
    let log = Log::new();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        corio::scope(|s| {
            s.spawn(|| {
                struct SpawnOnDrop<'scope, 'env>(&'scope corio::Scope<'scope, 'env>, &'scope Log);
                impl Drop for SpawnOnDrop<'_, '_> {
                    fn drop(&mut self) {
                        let m = Mark(self.1, "late child's closure dropped");
                        self.0.spawn(move || {
                            let _m = m;
                            corio::schedule();
                        });
                    }
                }
                let _d = SpawnOnDrop(s, &log);
                corio::schedule();
            });
            corio::cede();
            panic!("body");
        })
    }));
    assert_eq!(panic_message(r.unwrap_err()), "body");
    assert_eq!(log.get(), ["late child's closure dropped"]);
}

#[test]
fn values_nobody_joined_are_dropped_before_the_scope_returns() {
    let log = Log::new();
    corio::scope(|s| {
        s.spawn(|| Mark(&log, "value dropped"));
        // A value whose Drop spawns a coro into the scope: waited for too.
        struct Spawns<'scope, 'env>(&'scope corio::Scope<'scope, 'env>, &'scope Log);
        impl Drop for Spawns<'_, '_> {
            fn drop(&mut self) {
                let log = self.1;
                self.0.spawn(move || {
                    corio::cede();
                    log.push("spawned from a value's drop ran");
                });
            }
        }
        s.spawn(|| Spawns(s, &log));
    });
    log.push("returned");
    let got = log.get();
    assert_eq!(got.last().map(String::as_str), Some("returned"));
    assert!(got.contains(&"value dropped".to_string()), "{got:?}");
    assert!(
        got.contains(&"spawned from a value's drop ran".to_string()),
        "{got:?}"
    );
}

#[test]
fn many_short_coros_in_one_scope_keep_working_and_panics_are_kept() {
    let sum = Cell::new(0u64);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        corio::scope(|s| {
            for i in 0..5_000u64 {
                let sum = &sum;
                let h = s.spawn(move || {
                    sum.set(sum.get() + i);
                    i
                });
                if i % 2 == 0 {
                    assert_eq!(h.join().unwrap(), i);
                }
                if i == 10 {
                    // Spawned after the others ended; nobody joins it.
                    s.spawn(|| panic!("kept through compaction"));
                    corio::cede();
                }
            }
        })
    }));
    assert_eq!(panic_message(r.unwrap_err()), "kept through compaction");
    // Coros spawned after the panic are not cancelled by it.
    assert_eq!(sum.get(), (0..5_000u64).sum::<u64>());
}

#[test]
fn a_scope_inside_a_scoped_coro_nests() {
    let data = RefCell::new(Vec::new());
    corio::scope(|outer| {
        outer.spawn(|| {
            corio::scope(|inner| {
                inner.spawn(|| data.borrow_mut().push("inner"));
            });
            data.borrow_mut().push("outer");
        });
    });
    assert_eq!(*data.borrow(), ["inner", "outer"]);
}

#[test]
fn killall_from_another_coro_ends_owner_and_children() {
    let log = Log::new();
    let l = log.clone();
    let owner = corio::spawn(move || {
        corio::scope(|s| {
            for name in ["c1", "c2"] {
                let l = &l;
                s.spawn(move || {
                    let _m = Mark(l, name);
                    corio::schedule();
                });
            }
        })
    });
    corio::cede();
    corio::cede();
    corio::killall();
    assert!(owner.join().unwrap_err().is_cancelled());
    let mut got = log.get();
    got.sort();
    assert_eq!(got, ["c1", "c2"]);
}

#[test]
fn a_generator_that_yields_inside_a_scope_panics_at_the_yield() {
    let log = Log::new();
    let l = log.clone();
    let mut g = corio::Generator::<u32>::new(move |y, ()| {
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            corio::scope(|s| {
                s.spawn(|| {
                    let _m = Mark(&l, "child unwound");
                    corio::schedule();
                });
                corio::cede();
                y.yield_(1); // would carry the scope away
                l.push("yield returned");
            })
        }));
        l.push(if r.is_err() {
            "yield panicked"
        } else {
            "no panic"
        });
    });
    assert!(matches!(g.resume(()), corio::GeneratorState::Complete(())));
    assert_eq!(log.get(), ["child unwound", "yield panicked"]);
}

#[test]
fn a_scoped_coro_cannot_yield_the_generator_whose_frame_it_borrows() {
    let log = Log::new();
    let l = log.clone();
    let mut g = corio::Generator::<u32>::new(move |y, ()| {
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            corio::scope(|s| {
                s.spawn(|| {
                    y.yield_(1); // from another coro's stack: refused
                    l.push("child yielded");
                });
            })
        }));
        let msg = panic_message(r.unwrap_err());
        l.push(if msg.contains("from another coro") {
            "refused"
        } else {
            "other panic"
        });
        y.yield_(2); // the generator's own yield still works
    });
    assert_eq!(g.resume(()), corio::GeneratorState::Yielded(2));
    assert_eq!(g.resume(()), corio::GeneratorState::Complete(()));
    assert_eq!(log.get(), ["refused"]);
}
