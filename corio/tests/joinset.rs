//! `corio::JoinSet`: a dynamic set of coros joined in the order they end.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use corio::JoinSet;

/// Counts its drops.
struct Count(Rc<Cell<u32>>);

impl Drop for Count {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn join_next_returns_coros_in_the_order_they_end() {
    let mut set = JoinSet::new();
    // Coro i cedes 10 - i times: the last spawned ends first.
    for i in 0..10u32 {
        set.spawn(move || {
            for _ in 0..(10 - i) {
                corio::cede();
            }
            i
        });
    }
    let mut order = Vec::new();
    while let Some(r) = set.join_next() {
        order.push(r.unwrap());
    }
    assert_eq!(order, (0..10).rev().collect::<Vec<_>>());
    assert!(set.join_next().is_none());
}

#[test]
fn join_next_follows_timers_too() {
    let mut set = JoinSet::new();
    for ms in [40u64, 5, 25, 15] {
        set.spawn(move || {
            corio::sleep(Duration::from_millis(ms));
            ms
        });
    }
    let order: Vec<u64> = std::iter::from_fn(|| set.join_next())
        .map(Result::unwrap)
        .collect();
    assert_eq!(order, [5, 15, 25, 40]);
}

#[test]
fn join_next_parks_only_the_calling_coro() {
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let ticker = corio::spawn(move || {
        for _ in 0..5 {
            t.set(t.get() + 1);
            corio::sleep(Duration::from_millis(1));
        }
    });
    let mut set = JoinSet::new();
    set.spawn(|| corio::sleep(Duration::from_millis(30)));
    set.join_next().unwrap().unwrap();
    assert_eq!(ticks.get(), 5, "the ticker ran while join_next waited");
    ticker.join().unwrap();
}

#[test]
fn an_ended_coro_is_returned_without_switching() {
    let mut set = JoinSet::new();
    set.spawn(|| 1);
    corio::cede();
    let switches = corio::current().switches();
    assert_eq!(set.join_next().unwrap().unwrap(), 1);
    assert_eq!(corio::current().switches(), switches);
}

#[test]
fn len_and_is_empty_count_unjoined_coros() {
    let mut set = JoinSet::new();
    assert_eq!((set.len(), set.is_empty()), (0, true));
    for i in 0..3 {
        set.spawn(move || i);
    }
    assert_eq!((set.len(), set.is_empty()), (3, false));
    corio::cede(); // all ended, none joined
    assert_eq!(set.len(), 3);
    set.join_next().unwrap().unwrap();
    assert_eq!(set.len(), 2);
    set.join_next().unwrap().unwrap();
    set.join_next().unwrap().unwrap();
    assert_eq!((set.len(), set.is_empty()), (0, true));
}

#[test]
fn a_panic_comes_back_as_a_join_error_and_ends_only_its_coro() {
    let mut set = JoinSet::new();
    set.spawn(|| {
        corio::cede();
        "fine"
    });
    set.spawn(|| -> &str { panic!("worker 2 failed") });
    set.spawn(|| {
        corio::cede();
        corio::cede();
        "also fine"
    });
    let first = set.join_next().unwrap().unwrap_err();
    assert!(first.is_panic());
    assert_eq!(first.panic_message(), Some("worker 2 failed"));
    assert_eq!(set.join_next().unwrap().unwrap(), "fine");
    assert_eq!(set.join_next().unwrap().unwrap(), "also fine");
    assert!(set.join_next().is_none());
}

#[test]
fn a_coro_cancelled_from_outside_comes_back_cancelled() {
    let mut set = JoinSet::new();
    let dropped = Rc::new(Cell::new(0));
    let c = Count(dropped.clone());
    let victim = set.spawn(move || {
        let _c = c;
        corio::schedule();
    });
    set.spawn(|| corio::sleep(Duration::from_millis(20)));
    corio::cede();
    victim.cancel();
    assert_eq!(dropped.get(), 1);
    let r = set.join_next().unwrap();
    assert!(r.unwrap_err().is_cancelled());
    set.join_next().unwrap().unwrap();
}

#[test]
fn a_coro_cancelled_before_it_ran_comes_back_cancelled() {
    let mut set = JoinSet::new();
    let dropped = Rc::new(Cell::new(0));
    let c = Count(dropped.clone());
    let victim = set.spawn(move || drop(c));
    victim.cancel(); // never ran: its closure is dropped
    assert_eq!(dropped.get(), 1);
    assert!(set.join_next().unwrap().unwrap_err().is_cancelled());
    assert!(set.is_empty());
}

#[test]
fn cancel_all_runs_the_drops_and_empties_the_set() {
    let dropped = Rc::new(Cell::new(0));
    let mut set = JoinSet::new();
    for i in 0..5 {
        let c = Count(dropped.clone());
        set.spawn(move || {
            let _c = c;
            if i == 0 {
                return; // ends, unjoined
            }
            // A Drop that blocks: cancel_all waits for it.
            struct SlowDrop;
            impl Drop for SlowDrop {
                fn drop(&mut self) {
                    corio::sleep(Duration::from_millis(2));
                }
            }
            let _slow = SlowDrop;
            corio::schedule();
        });
    }
    // Two that end at once.
    for _ in 0..2 {
        let c = Count(dropped.clone());
        let _ = set.spawn(move || drop(c));
    }
    corio::cede(); // all seven run; four wait
    set.spawn({
        let c = Count(dropped.clone());
        move || drop(c)
    }); // this one never runs
    assert_eq!(set.len(), 8);
    set.cancel_all();
    assert_eq!(dropped.get(), 8);
    assert!(set.is_empty());
    assert!(set.join_next().is_none());
    // The set is as good as new.
    set.spawn(|| ());
    assert!(set.join_next().unwrap().is_ok());
}

#[test]
fn dropping_the_set_cancels_what_it_still_holds() {
    let dropped = Rc::new(Cell::new(0));
    let mut coros = Vec::new();
    {
        let mut set = JoinSet::new();
        for _ in 0..4 {
            let c = Count(dropped.clone());
            coros.push(set.spawn(move || {
                let _c = c;
                corio::sleep(Duration::from_secs(3600));
            }));
        }
        set.spawn(|| ());
        corio::cede(); // all five ran; four sleep
        let c = Count(dropped.clone());
        coros.push(set.spawn(move || drop(c))); // never runs
        assert_eq!(set.len(), 6);
        set.join_next().unwrap().unwrap();
        assert_eq!(dropped.get(), 0);
    }
    // Every Drop ran before the set's drop returned.
    assert_eq!(dropped.get(), 5);
    assert!(coros.iter().all(|c| c.is_done()));
}

#[test]
fn join_next_interrupted_keeps_the_coros_in_the_set() {
    let mut set = JoinSet::new();
    set.spawn(|| {
        corio::sleep(Duration::from_millis(30));
        "late"
    });
    let r = corio::timeout(Duration::from_millis(2), || set.join_next());
    assert!(r.is_err());
    assert_eq!(set.len(), 1);
    assert_eq!(set.join_next().unwrap().unwrap(), "late");
}

#[test]
fn a_result_already_in_is_not_lost_to_a_pending_throw() {
    let mut set = JoinSet::new();
    set.spawn(|| 5);
    corio::cede();
    corio::current().throw("later");
    // A ready result comes back without a switch, so the throw waits.
    assert_eq!(set.join_next().unwrap().unwrap(), 5);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(corio::cede));
    assert!(caught.is_err());
}

#[test]
fn an_interrupted_cancel_all_leaves_the_set_consistent() {
    // The owner is thrown at while cancel_all waits for a slow Drop: the
    // coros it had not reached stay in the set, and the slot it freed may
    // be reused without the old coro's end being taken for the new one's.
    let owner = corio::spawn(|| {
        let dropped = Rc::new(Cell::new(0));
        let mut set = JoinSet::new();
        let mut coros = Vec::new();
        for i in 0..3 {
            let c = Count(dropped.clone());
            coros.push(set.spawn(move || {
                struct SlowDrop;
                impl Drop for SlowDrop {
                    fn drop(&mut self) {
                        corio::sleep(Duration::from_millis(5));
                    }
                }
                let _c = c;
                let _slow = (i == 2).then_some(SlowDrop);
                corio::schedule();
            }));
        }
        corio::cede();
        let me = corio::current();
        let thrower = corio::spawn(move || me.throw("stop"));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| set.cancel_all()));
        thrower.join().unwrap();
        assert_eq!(
            r.unwrap_err().downcast_ref::<&str>(),
            Some(&"stop"),
            "the throw surfaced from cancel_all"
        );
        // The last spawned went first (and its Drop ran); two remain.
        assert_eq!(dropped.get(), 1);
        assert!(coros[2].is_done());
        assert_eq!(set.len(), 2);
        // A new coro takes the freed slot and ends late; the end of the
        // cancelled coro that had the slot must not stand for it.
        set.spawn(|| {
            corio::sleep(Duration::from_millis(20));
        });
        coros[0].cancel();
        let first = set.join_next().unwrap();
        assert!(first.unwrap_err().is_cancelled());
        assert!(set.join_next().unwrap().is_ok());
        assert_eq!(set.len(), 1);
        assert!(set.try_join_next().is_none());
        drop(set);
        dropped.get()
    });
    assert_eq!(owner.join().unwrap(), 3);
}

#[test]
fn a_set_dropped_by_one_of_its_own_coros() {
    let dropped = Rc::new(Cell::new(0));
    let holder: Rc<RefCell<Option<JoinSet<()>>>> = Rc::new(RefCell::new(Some(JoinSet::new())));
    let mut coros = Vec::new();
    for _ in 0..3 {
        let c = Count(dropped.clone());
        let set = &mut *holder.borrow_mut();
        coros.push(set.as_mut().unwrap().spawn(move || {
            let _c = c;
            corio::schedule();
        }));
    }
    let h = holder.clone();
    let c = Count(dropped.clone());
    let dropper = holder.borrow_mut().as_mut().unwrap().spawn(move || {
        let _c = c;
        let set = h.borrow_mut().take();
        drop(set); // cancels the others and itself
        unreachable!("a coro that drops its own set is cancelled with it");
    });
    for _ in 0..100 {
        if dropper.is_done() {
            break;
        }
        corio::cede();
    }
    assert!(dropper.is_done());
    assert!(coros.iter().all(|c| c.is_done()));
    assert_eq!(dropped.get(), 4);
}

#[test]
fn many_coros() {
    const N: u64 = 10_000;
    let mut set = JoinSet::new();
    for i in 0..N {
        set.spawn(move || {
            for _ in 0..(i % 7) {
                corio::cede();
            }
            i
        });
    }
    assert_eq!(set.len(), N as usize);
    let mut sum = 0;
    let mut last_cedes = 0;
    let mut n = 0;
    while let Some(r) = set.join_next() {
        let i = r.unwrap();
        // Ends come in the order of how long each ceded.
        assert!(
            i % 7 >= last_cedes,
            "{i} came after one that ceded {last_cedes} times"
        );
        last_cedes = i % 7;
        sum += i;
        n += 1;
    }
    assert_eq!(n, N);
    assert_eq!(sum, N * (N - 1) / 2);
    // Reused slots: a second round in the same set.
    for i in 0..N {
        set.spawn(move || i);
    }
    assert_eq!(set.len(), N as usize);
    set.cancel_all();
    assert!(set.is_empty());
}
