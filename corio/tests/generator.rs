//! `Generator`: the Coro::State layer.
//!
//! `perl_t00_basic` ports the behaviour of Perl Coro's `t/00_basic.t`
//! (Coro 6.57, by Marc Lehmann; public mirror laurent-aml/Perl-Coro):
//! two continuations with state of their own, and control moving back and
//! forth between them and the main program.

mod util;

use std::cell::Cell;
use std::rc::Rc;

use corio::{Generator, GeneratorState, Yielder};
use util::{DropLog, Log, Oks};

#[test]
fn perl_t00_basic() {
    let oks = Oks::new();
    oks.ok(1);
    // Each state has its own "$/"; main's stays 55 throughout.
    let main_sep = Rc::new(Cell::new(55));
    let o = oks.clone();
    let mut a = Generator::new(move |y: &Yielder<()>, ()| {
        let mut sep = 10; // "\n"
        if sep == 10 {
            o.ok(3);
        }
        sep = 77;
        o.ok(4);
        y.yield_(());
        if sep == 77 {
            o.ok(6);
        }
        y.yield_(());
        o.ok(1000); // "not ok 7": never resumed again
    });
    let o = oks.clone();
    let mut b = Generator::new(move |y: &Yielder<()>, ()| {
        let sep = 10;
        if sep == 10 {
            o.ok(8);
        }
        y.yield_(());
        o.ok(1001);
    });
    oks.ok(2);
    assert_eq!(a.resume(()), GeneratorState::Yielded(()));
    if main_sep.get() == 55 {
        oks.ok(5);
    }
    a.resume(());
    if main_sep.get() == 55 {
        oks.ok(7);
    }
    b.resume(());
    if main_sep.get() == 55 {
        oks.ok(9);
    }
    assert_eq!(oks.get(), (1..=9).collect::<Vec<_>>());
}

#[test]
fn yields_from_any_depth_of_recursion() {
    fn walk(y: &Yielder<u32>, depth: u32) {
        if depth == 0 {
            return;
        }
        y.yield_(depth);
        walk(y, depth - 1);
        y.yield_(100 + depth);
    }
    let v: Vec<u32> = Generator::new(|y, ()| walk(y, 3)).collect();
    assert_eq!(v, [3, 2, 1, 101, 102, 103]);
}

#[test]
fn two_way_values_and_a_final_result() {
    let mut g = Generator::new(|y: &Yielder<String, i32>, first: i32| -> i32 {
        let mut sum = first;
        loop {
            let next = y.yield_(format!("sum {sum}"));
            if next == 0 {
                return sum;
            }
            sum += next;
        }
    });
    assert!(!g.is_started());
    assert_eq!(g.resume(1), GeneratorState::Yielded("sum 1".to_string()));
    assert!(g.is_started());
    assert_eq!(g.resume(2), GeneratorState::Yielded("sum 3".to_string()));
    assert_eq!(g.resume(0), GeneratorState::Complete(3));
    assert!(g.is_complete());
}

#[test]
fn resuming_a_completed_generator_panics() {
    let mut g = Generator::new(|_: &Yielder<()>, ()| ());
    assert_eq!(g.resume(()), GeneratorState::Complete(()));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.resume(())));
    assert!(r.is_err());
}

#[test]
fn a_panic_inside_propagates_to_resume_and_completes_the_generator() {
    let mut g = Generator::new(|y: &Yielder<u8>, ()| {
        y.yield_(1);
        panic!("inside the generator");
    });
    assert_eq!(g.resume(()), GeneratorState::Yielded(1));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.resume(())));
    assert!(r.is_err());
    assert!(g.is_complete());
    assert_eq!(g.next(), None);
}

#[test]
fn dropping_an_unfinished_generator_unwinds_its_stack() {
    let log = Log::new();
    let l = log.clone();
    let mut g = Generator::new(move |y: &Yielder<u8>, ()| {
        let _g = DropLog {
            log: l.clone(),
            what: "inside".into(),
        };
        y.yield_(1);
        y.yield_(2);
    });
    assert_eq!(g.next(), Some(1));
    assert!(log.get().is_empty());
    drop(g);
    assert_eq!(log.get().len(), 1);
    assert!(log.get()[0].starts_with("drop inside"));
}

#[test]
fn a_generator_that_never_started_just_drops_its_closure() {
    let log = Log::new();
    let guard = DropLog {
        log: log.clone(),
        what: "closure".into(),
    };
    let g = Generator::new(move |_: &Yielder<()>, ()| drop(guard));
    drop(g);
    assert_eq!(log.get().len(), 1);
}

#[test]
fn generators_nest() {
    let outer = Generator::new(|y: &Yielder<u32>, ()| {
        for x in Generator::new(|y2: &Yielder<u32>, ()| {
            for i in 0..3 {
                y2.yield_(i);
            }
        }) {
            y.yield_(x * 10);
        }
    });
    assert_eq!(outer.collect::<Vec<_>>(), [0, 10, 20]);
}

#[test]
fn generators_work_without_any_coro_on_a_fresh_thread() {
    let v = std::thread::spawn(|| {
        Generator::new(|y: &Yielder<u8>, ()| y.yield_(9)).collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    assert_eq!(v, [9]);
}

#[test]
fn a_blocking_call_inside_a_generator_parks_the_coro_that_drives_it() {
    let log = Log::new();
    let l = log.clone();
    let driver = corio::spawn(move || {
        let l2 = l.clone();
        let g = Generator::new(move |y: &Yielder<u32>, ()| {
            for i in 0..3 {
                l2.push(format!("gen {i}"));
                corio::cede(); // parks the driving coro; others run meanwhile
                y.yield_(i);
            }
        });
        let got: Vec<u32> = g.collect();
        l.push("driver done");
        got
    });
    let l = log.clone();
    let other = corio::spawn(move || {
        for i in 0..3 {
            l.push(format!("other {i}"));
            corio::cede();
        }
    });
    assert_eq!(driver.join().unwrap(), [0, 1, 2]);
    other.join().unwrap();
    assert_eq!(
        log.get(),
        [
            "gen 0",
            "other 0",
            "gen 1",
            "other 1",
            "gen 2",
            "other 2",
            "driver done"
        ]
    );
}

#[test]
fn a_coro_blocked_inside_a_generator_can_be_cancelled() {
    let log = Log::new();
    let l = log.clone();
    let driver = corio::spawn(move || {
        let l2 = l.clone();
        let mut g = Generator::new(move |_: &Yielder<()>, ()| {
            let _inner = DropLog {
                log: l2.clone(),
                what: "in generator".into(),
            };
            corio::schedule();
        });
        let _outer = DropLog {
            log: l.clone(),
            what: "in driver".into(),
        };
        g.resume(());
    });
    corio::cede();
    driver.cancel();
    let entries = log.get();
    assert_eq!(entries.len(), 2);
    assert!(entries[0].starts_with("drop in generator"));
    assert!(entries[1].starts_with("drop in driver"));
    assert!(driver.join().unwrap_err().is_cancelled());
}

#[test]
fn the_main_coro_can_block_inside_a_generator() {
    let h = corio::spawn(|| 5);
    let mut g = Generator::new(move |y: &Yielder<i32>, ()| {
        let v = h.join().unwrap(); // the main coro waits here
        y.yield_(v);
    });
    assert_eq!(g.resume(()), GeneratorState::Yielded(5));
}

#[test]
fn an_impossible_stack_size_is_an_error() {
    let e = Generator::<(), (), ()>::with_stack_size(0, |_, ()| ()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let e = Generator::<(), (), ()>::with_stack_size(usize::MAX, |_, ()| ()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let mut g = Generator::with_stack_size(64 * 1024, |_: &Yielder<()>, ()| 1).unwrap();
    assert_eq!(g.resume(()), GeneratorState::Complete(1));
}

#[test]
fn big_closures_values_and_results_cross_the_switch() {
    // corosensei copies a coroutine's closure onto its stack and refuses
    // more than 1 KiB ("type is too big to transfer"): corio boxes big ones.
    let big = [7u8; 4096];
    let h = corio::spawn(move || big.iter().map(|&b| b as u32).sum::<u32>());
    assert_eq!(h.join().unwrap(), 7 * 4096);
    let big = [3u8; 8192];
    let mut g = corio::Generator::new(move |y: &corio::Yielder<[u8; 2048], [u8; 2048]>, first| {
        let back = y.yield_([big[0]; 2048]);
        [first[0] + back[0] + big[1]; 4096]
    });
    match g.resume([1; 2048]) {
        corio::GeneratorState::Yielded(v) => assert_eq!(v, [3; 2048]),
        corio::GeneratorState::Complete(_) => panic!("completed early"),
    }
    match g.resume([2; 2048]) {
        corio::GeneratorState::Complete(v) => assert_eq!(v, [6; 4096]),
        corio::GeneratorState::Yielded(_) => panic!("yielded twice"),
    }
}

/// A generator whose body cedes, resumed first by the main coro and then
/// carried to another coro and resumed there: each cede queues the coro
/// that drives the generator at that moment (once, behind the coros
/// already ready), so the turns stay in order and nobody runs twice.
#[test]
fn a_generator_that_cedes_queues_whichever_coro_drives_it() {
    let log = Log::new();
    let l = log.clone();
    let mut g = Generator::new(move |y: &Yielder<u32>, ()| {
        for i in 0..4 {
            l.push(format!("gen {i}"));
            corio::cede();
            y.yield_(i);
        }
    });
    let l = log.clone();
    let other = corio::spawn(move || {
        for i in 0..4 {
            l.push(format!("other {i}"));
            corio::cede();
        }
    });
    // The main coro drives it twice: each cede lets `other` take a turn.
    assert_eq!(g.resume(()), GeneratorState::Yielded(0));
    assert_eq!(g.resume(()), GeneratorState::Yielded(1));
    assert_eq!(corio::nready(), 1, "only `other` is ready");
    // Then a fresh coro drives it: its cedes queue that coro, not main.
    let l = log.clone();
    let carrier = corio::spawn(move || {
        let got: Vec<u32> = std::iter::from_fn(|| match g.resume(()) {
            GeneratorState::Yielded(v) => Some(v),
            GeneratorState::Complete(()) => None,
        })
        .collect();
        l.push("carrier done".to_string());
        got
    });
    assert_eq!(carrier.join().unwrap(), [2, 3]);
    other.join().unwrap();
    assert_eq!(corio::nready(), 0);
    assert_eq!(
        log.get(),
        [
            "gen 0",
            "other 0",
            "gen 1",
            "other 1",
            // `other` was queued before `carrier` was spawned.
            "other 2",
            "gen 2",
            "other 3",
            "gen 3",
            "carrier done"
        ]
    );
}
