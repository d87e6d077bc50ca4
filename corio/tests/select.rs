//! `corio::select!`: Go's select for any blocking call. The first call to
//! return wins, the others are cancelled before they run again and take or
//! give nothing, and the winner's arm runs in the caller.

mod util;

use std::cell::Cell;
use std::io::{Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::sync::{Channel, Mutex, Semaphore};
use util::{Log, panic_message};

const HOUR: Duration = Duration::from_secs(3600);

/// Logs `what` when dropped.
struct Mark(Log, &'static str);

impl Drop for Mark {
    fn drop(&mut self) {
        self.0.push(self.1);
    }
}

#[test]
fn branches_are_tried_in_order_and_the_first_ready_one_wins() {
    let (a, b) = (Channel::new(), Channel::new());
    a.put(1).unwrap();
    b.put(2).unwrap();
    let r = corio::select! {
        v = a.get() => ("a", v),
        v = b.get() => ("b", v),
    };
    assert_eq!(r, ("a", Some(1)));
    assert_eq!(b.len(), 1, "the second branch never started");
    let r = corio::select! {
        v = a.get() => ("a", v),
        v = b.get() => ("b", v),
    };
    assert_eq!(r, ("b", Some(2)));
    assert_eq!(a.len() + b.len(), 0);
}

#[test]
fn a_later_branch_wins_when_it_returns_first() {
    let (a, b) = (Channel::<u8>::new(), Channel::new());
    let b2 = b.clone();
    let feeder = corio::spawn(move || {
        corio::sleep(Duration::from_millis(5));
        b2.put("late").unwrap();
    });
    let r = corio::select! {
        v = a.get() => format!("a {v:?}"),
        v = b.get() => format!("b {}", v.unwrap()),
    };
    assert_eq!(r, "b late");
    feeder.join().unwrap();
    a.put(9).unwrap();
    assert_eq!(a.try_get(), Some(9), "the losing get took nothing");
}

#[test]
fn when_both_gets_are_woken_before_the_caller_runs_only_one_takes() {
    // The race: both channels get an item in one go, so both branches are
    // ready to complete before the caller runs again.
    let (a, b) = (Channel::new(), Channel::new());
    let (a2, b2) = (a.clone(), b.clone());
    let feeder = corio::spawn(move || {
        a2.put(1).unwrap();
        b2.put(2).unwrap();
    });
    let r = corio::select! {
        v = a.get() => v,
        v = b.get() => v,
    };
    feeder.join().unwrap();
    assert_eq!(r, Some(1));
    assert_eq!((a.len(), b.len()), (0, 1), "exactly one item was taken");
    assert_eq!(b.try_get(), Some(2));
}

#[test]
fn a_losing_put_on_a_full_channel_gives_nothing() {
    let jobs = Channel::bounded(1);
    jobs.put("first").unwrap();
    let quit = Channel::new();
    let q2 = quit.clone();
    let stopper = corio::spawn(move || q2.put(()).unwrap());
    let r = corio::select! {
        _ = jobs.put("second") => "sent",
        _ = quit.get() => "quit",
    };
    stopper.join().unwrap();
    assert_eq!(r, "quit");
    assert_eq!(jobs.try_get(), Some("first"));
    assert_eq!(jobs.try_get(), None, "the losing put gave nothing");
}

#[test]
fn a_losing_put_on_a_channel_half_gives_nothing() {
    let (tx, rx) = corio::sync::bounded(1);
    tx.put(1).unwrap(); // full
    let (stop_tx, stop_rx) = corio::sync::bounded::<()>(1);
    stop_tx.put(()).unwrap();
    let r = corio::select! {
        _ = tx.put(2) => "sent",
        _ = stop_rx.get() => "stopped",
    };
    assert_eq!(r, "stopped");
    assert_eq!((rx.try_get(), rx.try_get()), (Some(1), None));
}

#[test]
fn a_getter_that_frees_room_decides_the_race_for_a_parked_put() {
    // Both branches park. Then, in one go, another coro puts into `quit`
    // (waking the get branch) and gets from the full `jobs` (moving the
    // put branch's item). The get branch was woken first, but the item
    // moved first: the put branch won, and the get branch takes nothing.
    let jobs = Channel::bounded(1);
    jobs.put(1).unwrap();
    let quit = Channel::new();
    let (j2, q2) = (jobs.clone(), quit.clone());
    let other = corio::spawn(move || {
        q2.put(()).unwrap();
        j2.get()
    });
    let r = corio::select! {
        _ = jobs.put(2) => "sent",
        _ = quit.get() => "quit",
    };
    assert_eq!(other.join().unwrap(), Some(1));
    assert_eq!(r, "sent");
    assert_eq!(jobs.try_get(), Some(2));
    assert_eq!(quit.len(), 1, "the losing get took nothing");
}

#[test]
fn a_getter_passes_by_the_put_of_a_select_that_was_decided() {
    // The get branch wins first (its item came first); a getter that then
    // frees room in `jobs` must not take the losing put's item, even
    // though the put branch has not run yet to unwind.
    let jobs = Channel::bounded(1);
    jobs.put(1).unwrap();
    let quit = Channel::new();
    let (j2, q2) = (jobs.clone(), quit.clone());
    let other = corio::spawn(move || {
        q2.put(()).unwrap();
        corio::cede(); // the get branch runs and wins
        j2.get()
    });
    let r = corio::select! {
        _ = jobs.put(2) => "sent",
        _ = quit.get() => "quit",
    };
    assert_eq!(other.join().unwrap(), Some(1));
    assert_eq!(r, "quit");
    assert_eq!(jobs.len(), 0, "the losing put gave nothing");
}

#[test]
fn a_rendezvous_put_wins_when_a_getter_takes_its_item() {
    let rv = Channel::bounded(0);
    let r2 = rv.clone();
    let getter = corio::spawn(move || r2.get());
    let r = corio::select! {
        _ = rv.put(5) => "sent",
        _ = corio::sleep(HOUR) => "timed out",
    };
    assert_eq!(r, "sent");
    assert_eq!(getter.join().unwrap(), Some(5));
}

#[test]
fn a_select_never_matches_its_own_put_and_get() {
    let rv = Channel::bounded(0);
    let r = corio::select! {
        _ = rv.put(1) => "sent",
        v = rv.get() => if v.is_some() { "got" } else { "closed" },
        _ = corio::sleep(Duration::from_millis(10)) => "timed out",
    };
    assert_eq!(r, "timed out");
    assert!(rv.try_get().is_none());
    // Two selects on different coros do meet.
    let r2 = rv.clone();
    let other = corio::spawn(move || {
        corio::select! {
            v = r2.get() => v,
            _ = corio::sleep(HOUR) => None,
        }
    });
    let r = corio::select! {
        _ = rv.put(7) => "sent",
        _ = corio::sleep(HOUR) => "timed out",
    };
    assert_eq!(r, "sent");
    assert_eq!(other.join().unwrap(), Some(7));
}

#[test]
fn default_runs_when_nothing_is_ready_at_once_and_nothing_is_taken() {
    let ch = Channel::<u32>::new();
    let sem = Semaphore::new(0);
    let r = corio::select! {
        v = ch.get() => v,
        _ = sem.down() => Some(100),
        default => None,
    };
    assert_eq!(r, None);
    ch.put(3).unwrap();
    sem.up();
    corio::cede();
    assert_eq!((ch.len(), sem.count(), sem.waiters()), (1, 1, 0));
    // A branch that is ready wins over default.
    let r = corio::select! {
        v = ch.get() => v,
        default => None,
    };
    assert_eq!(r, Some(3));
    assert_eq!(corio::select! { default => "only default" }, "only default");
}

#[test]
fn a_sleep_branch_is_a_timeout() {
    let never = Channel::<u8>::new();
    let start = Instant::now();
    let r = corio::select! {
        v = never.get() => v,
        _ = corio::sleep(Duration::from_millis(20)) => None,
    };
    assert_eq!(r, None);
    assert!(start.elapsed() >= Duration::from_millis(20));
    never.put(1).unwrap();
    assert_eq!(never.try_get(), Some(1));
}

#[test]
fn a_timeout_arm_wins_when_no_branch_returns_in_time() {
    let log = Log::new();
    let ch = Channel::<u8>::new();
    let start = Instant::now();
    let r = corio::select! {
        v = { let _m = Mark(log.clone(), "get unwound"); ch.get() } => v,
        timeout(Duration::from_millis(20)) => None,
    };
    assert_eq!(r, None);
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(log.get(), ["get unwound"]);
    ch.put(1).unwrap();
    assert_eq!(ch.try_get(), Some(1), "the cancelled get took nothing");
    // Alone, it is a sleep.
    let start = Instant::now();
    assert_eq!(corio::select! { timeout(Duration::from_millis(5)) => 5 }, 5);
    assert!(start.elapsed() >= Duration::from_millis(5));
}

#[test]
fn a_branch_that_returns_in_time_beats_the_timeout_arm() {
    let ch = Channel::new();
    let c2 = ch.clone();
    let feeder = corio::spawn(move || {
        corio::sleep(Duration::from_millis(2));
        c2.put("in time").unwrap();
    });
    let r = corio::select! {
        v = ch.get() => v,
        timeout(HOUR) => None,
    };
    feeder.join().unwrap();
    assert_eq!(r, Some("in time"));
    // The timer is gone: nothing wakes this coro later.
    let start = Instant::now();
    corio::sleep(Duration::from_millis(5));
    assert!(start.elapsed() < HOUR);
}

#[test]
fn branches_borrow_the_callers_locals_and_the_arm_uses_them_after() {
    let mut buf = [0u8; 8];
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let a = corio::net::UnixStream::from_std(a).unwrap();
    let ch = Channel::<u32>::new();
    b.write_all(b"hi").unwrap();
    let n = corio::select! {
        n = (&a).read(&mut buf) => n.unwrap(),
        _ = ch.get() => 0,
        _ = corio::sleep(HOUR) => 0,
    };
    // `buf` was borrowed mutably by the read branch; it is free again.
    buf[n] = b'!';
    assert_eq!(&buf[..3], b"hi!");
    drop(b);
}

#[test]
fn arms_may_break_continue_and_return() {
    fn first_even(ch: &Channel<u32>) -> Result<u32, &'static str> {
        loop {
            corio::select! {
                v = ch.get() => {
                    let v = v.ok_or("closed")?;
                    if v % 2 == 1 {
                        continue;
                    }
                    return Ok(v);
                }
                _ = corio::sleep(HOUR) => break,
            }
        }
        Err("timed out")
    }
    let ch = Channel::new();
    for v in [1, 3, 4] {
        ch.put(v).unwrap();
    }
    assert_eq!(first_even(&ch), Ok(4));
    ch.shutdown();
    assert_eq!(first_even(&ch), Err("closed"));
}

#[test]
fn losing_waits_on_a_signal_a_semaphore_and_a_lock_take_nothing() {
    // Each branch is woken before the caller runs again; the first one
    // in the ready queue wins, and what woke the others is still there.
    let sig = corio::sync::Signal::new();
    let sem = Semaphore::new(0);
    let lock = Mutex::new(());
    let ch = Channel::new();
    let r = corio::scope(|s| {
        let held = lock.lock();
        s.spawn(|| {
            ch.put(()).unwrap();
            sig.send();
            sem.up();
            drop(held);
        });
        corio::select! {
            _ = ch.get() => "get",
            _ = sig.wait() => "signal",
            _ = sem.down() => "down",
            _ = lock.lock() => "lock",
        }
    });
    assert_eq!(r, "get");
    assert!(
        sig.wait_timeout(Duration::ZERO),
        "the signal's send is still there"
    );
    assert_eq!(sem.count(), 1, "the unit is still there");
    assert!(lock.try_lock().is_some(), "the lock is free");
}

#[test]
fn a_panicking_call_wins_and_its_panic_reaches_the_caller() {
    fn boom() -> Option<u8> {
        corio::cede();
        panic::panic_any(7u8)
    }
    let log = Log::new();
    let ch = Channel::<u8>::new();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        corio::select! {
            v = { let _m = Mark(log.clone(), "waiting get unwound"); ch.get() } => v,
            v = boom() => v,
        }
    }));
    assert_eq!(r.unwrap_err().downcast_ref::<u8>(), Some(&7));
    assert_eq!(log.get(), ["waiting get unwound"]);
    ch.put(1).unwrap();
    assert_eq!(ch.try_get(), Some(1));
}

#[test]
fn cancelling_the_caller_cancels_every_branch_first() {
    let log = Log::new();
    let ch = Channel::<u8>::new();
    let (l, c) = (log.clone(), ch.clone());
    let caller = corio::spawn(move || {
        let _m = Mark(l.clone(), "caller unwound");
        corio::select! {
            v = { let _m = Mark(l.clone(), "get unwound"); c.get() } => v,
            _ = { let _m = Mark(l.clone(), "sleep unwound"); corio::sleep(HOUR) } => None,
        }
    });
    corio::cede();
    caller.coro().cancel();
    assert!(caller.join().unwrap_err().is_cancelled());
    assert_eq!(
        log.get(),
        ["get unwound", "sleep unwound", "caller unwound"]
    );
    ch.put(1).unwrap();
    assert_eq!(ch.try_get(), Some(1));
}

#[test]
fn a_timeout_of_the_caller_cancels_every_branch() {
    let log = Log::new();
    let sem = Semaphore::new(0);
    let r = corio::timeout(Duration::from_millis(10), || {
        corio::select! {
            _ = { let _m = Mark(log.clone(), "down unwound"); sem.down() } => 1,
            _ = { let _m = Mark(log.clone(), "schedule unwound"); corio::schedule() } => 2,
        }
    });
    assert_eq!(r, Err(corio::Elapsed::new()));
    assert_eq!(log.get(), ["down unwound", "schedule unwound"]);
    sem.up();
    assert_eq!(sem.count(), 1);
}

#[test]
fn a_throw_at_the_caller_passes_on_after_every_branch_unwound() {
    let log = Log::new();
    let l = log.clone();
    let caller = corio::spawn(move || {
        corio::select! {
            _ = { let _m = Mark(l.clone(), "branch unwound"); corio::schedule() } => (),
        }
    });
    corio::cede();
    caller.coro().throw("thrown");
    assert_eq!(caller.join().unwrap_err().panic_message(), Some("thrown"));
    assert_eq!(log.get(), ["branch unwound"]);
}

#[test]
fn a_deadlock_cancels_the_branches_and_the_report_reaches_the_caller() {
    let ch = Channel::<u8>::new();
    let sem = Semaphore::new(0);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        corio::select! {
            v = ch.get() => v,
            _ = sem.down() => None,
        }
    }));
    assert!(panic_message(r.unwrap_err()).contains("deadlock detected"));
    ch.put(1).unwrap();
    sem.up();
    corio::cede();
    assert_eq!((ch.len(), sem.count()), (1, 1));
}

#[test]
fn any_blocking_call_can_be_a_branch() {
    let sem = Rc::new(Semaphore::new(0));
    let lock = Rc::new(Mutex::new(0));
    let worker = corio::spawn(|| {
        corio::sleep(Duration::from_millis(5));
        "joined"
    });
    let guard = lock.lock(); // the lock branch must wait
    let r = corio::select! {
        _ = sem.down() => "down",
        _ = lock.lock() => "locked",
        r = worker.join() => r.unwrap(),
    };
    assert_eq!(r, "joined");
    drop(guard);
    assert!(lock.try_lock().is_some(), "the losing lock holds nothing");
    assert_eq!(sem.waiters(), 0);
    // A function of one's own that blocks inside.
    let slow = |ms| {
        corio::sleep(Duration::from_millis(ms));
        ms
    };
    let r = corio::select! {
        a = slow(30) => a,
        b = slow(1) => b,
    };
    assert_eq!(r, 1);
}

#[test]
fn a_branch_cancelled_by_somebody_else_drops_out() {
    let victim = Rc::new(Cell::new(None));
    let v2 = victim.clone();
    let killer = corio::spawn(move || {
        let c: corio::Coro = v2.take().expect("the branch ran");
        c.cancel();
    });
    let ch = Channel::<u8>::new();
    let c2 = ch.clone();
    let feeder = corio::spawn(move || {
        corio::sleep(Duration::from_millis(5));
        c2.put(4).unwrap();
    });
    let r = corio::select! {
        _ = { victim.set(Some(corio::current())); corio::schedule() } => None,
        v = ch.get() => v,
    };
    killer.join().unwrap();
    feeder.join().unwrap();
    assert_eq!(r, Some(4));
}

#[test]
fn selects_nest_and_run_inside_scoped_coros() {
    let (a, b) = (Channel::new(), Channel::new());
    let out = corio::scope(|s| {
        let h = s.spawn(|| {
            corio::select! {
                v = a.get() => corio::select! {
                    w = b.get() => v.unwrap() + w.unwrap(),
                    default => v.unwrap(),
                },
                _ = corio::sleep(HOUR) => 0,
            }
        });
        b.put(10).unwrap();
        a.put(1).unwrap();
        h.join().unwrap()
    });
    assert_eq!(out, 11);
}

#[test]
fn many_selects_leave_no_coro_behind() {
    let (a, b) = (Channel::new(), Channel::new());
    let mut sum = 0u64;
    for i in 0..2_000u64 {
        if i % 2 == 0 {
            b.put(i).unwrap();
        } else {
            a.put(i).unwrap();
        }
        sum += corio::select! {
            v = a.get() => v.unwrap(),
            v = b.get() => v.unwrap(),
        };
    }
    assert_eq!(sum, (0..2_000u64).sum::<u64>());
    let rows = corio::debug::ps().lines().count();
    assert!(rows <= 3, "{}", corio::debug::ps());
}

#[test]
fn the_callers_hooks_stay_balanced_and_branches_get_its_priority() {
    let (leaves, enters) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let (l2, e2) = (leaves.clone(), enters.clone());
    let _leave = corio::on_leave(move || l2.set(l2.get() + 1));
    let _enter = corio::on_enter(move || e2.set(e2.get() + 1));
    let old = corio::current().set_prio(corio::PRIO_HIGH);
    let ch = Channel::new();
    ch.put(1).unwrap();
    let (before_l, before_e) = (leaves.get(), enters.get());
    let prio = corio::select! {
        _ = ch.get() => corio::current().prio(),
    };
    assert_eq!(prio, corio::PRIO_HIGH, "the arm runs in the caller");
    let branch_prio = corio::select! { p = corio::current().prio() => p };
    assert_eq!(
        branch_prio,
        corio::PRIO_HIGH,
        "the branch runs at the caller's priority"
    );
    assert!(leaves.get() > before_l);
    assert_eq!(leaves.get() - before_l, enters.get() - before_e);
    corio::current().set_prio(old);
}

#[test]
fn terminate_in_a_branch_ends_the_select_with_a_panic() {
    fn ends(v: u8) -> u8 {
        corio::terminate(v)
    }
    let r = panic::catch_unwind(|| {
        corio::select! {
            v = ends(1) => v,
        }
    });
    let msg = panic_message(r.unwrap_err());
    assert!(msg.contains("terminate"), "{msg}");
}

corio::coro_local! {
    static SEEN: Cell<u32> = Cell::new(0);
}

#[test]
fn a_branch_never_sees_what_an_earlier_branch_left_on_its_coro() {
    // Branches run in helper coros that select! reuses; reuse must not
    // show. A coro-local set by one branch is not there in the next.
    for round in 0..3 {
        let seen = corio::select! {
            v = { let v = SEEN.get(); SEEN.set(v + 1); v } => v,
        };
        assert_eq!(seen, 0, "round {round}");
    }
    // A branch that keeps its own handle: its coro ends with its call,
    // and the next branch runs elsewhere.
    let kept = corio::select! { c = corio::current() => c };
    assert!(kept.is_done());
    let next = corio::select! { c = corio::current().id() => c };
    assert_ne!(next, kept.id());
    // A branch that was cancelled: its coro ended too.
    let victim = Rc::new(Cell::new(None));
    let v2 = victim.clone();
    let r = corio::select! {
        _ = { v2.set(Some(corio::current().id())); corio::schedule() } => 1,
        timeout(Duration::from_millis(1)) => 2,
    };
    assert_eq!(r, 2);
    let id = victim.take().unwrap();
    assert!(corio::debug::find(id).is_none(), "{}", corio::debug::ps());
}

#[test]
fn idle_helpers_that_are_cancelled_or_thrown_at_are_not_reused() {
    // Fill the idle list, then kill everything but main: the next
    // selects still work, on fresh helpers.
    let (a, b) = (Channel::new(), Channel::new());
    for i in 0..3u32 {
        b.put(i).unwrap();
        let _ = corio::select! { v = a.get() => v, v = b.get() => v };
    }
    corio::killall();
    a.put(7).unwrap();
    assert_eq!(
        corio::select! { v = a.get() => v, v = b.get() => v },
        Some(7)
    );
    for c in corio::debug::coros() {
        if !c.is_running() {
            c.throw("stray");
        }
    }
    corio::cede();
    b.put(8).unwrap();
    assert_eq!(
        corio::select! { v = a.get() => v, v = b.get() => v },
        Some(8)
    );
}

#[test]
fn a_generator_that_yields_inside_a_branch_panics_at_the_yield() {
    let log = Log::new();
    let l = log.clone();
    let mut g = corio::Generator::<u32>::new(move |y, ()| {
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            corio::select! {
                _ = { let _m = Mark(l.clone(), "other unwound"); corio::schedule() } => (),
                _ = y.yield_(1) => (), // another coro's stack: refused
            }
        }));
        l.push(if r.is_err() {
            "yield panicked"
        } else {
            "no panic"
        });
    });
    assert!(matches!(g.resume(()), corio::GeneratorState::Complete(())));
    assert_eq!(log.get(), ["other unwound", "yield panicked"]);
}

#[test]
fn idle_helpers_keep_no_thread_alive_and_stay_out_of_ps() {
    // A corio thread ends when its coros have; the helpers a select leaves
    // idle wait for work, not to finish.
    let t = corio::thread::spawn(|| {
        let a = corio::sync::Channel::<u8>::new();
        let b = corio::sync::Channel::<u8>::new();
        b.put(2).unwrap();
        let got = corio::select! {
            x = a.get() => x,
            y = b.get() => y,
        };
        let listing = corio::debug::ps();
        let verbose = corio::debug::ps_with(corio::debug::PsMode::Verbose);
        (got, listing, verbose)
    });
    let (got, listing, verbose) = t.join().unwrap();
    assert_eq!(got, Some(2));
    assert!(!listing.contains("scope/select.rs"), "{listing}");
    assert!(
        listing.contains("idle select! helper(s) not shown"),
        "{listing}"
    );
    assert!(
        verbose.contains("idle select! helper"),
        "{listing}\n{verbose}"
    );
    assert!(!verbose.contains("leaked"), "{verbose}");
}
