//! `rouse`: callbacks into blocking calls, from any thread.
//!
//! `perl_t17_rouse` ports Perl Coro's `t/17_rouse.t` (Coro 6.57, by Marc
//! Lehmann; public mirror laurent-aml/Perl-Coro). Perl's `rouse_wait` in
//! scalar context returns the last argument; here the callback takes one
//! value, a tuple.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use util::Oks;

#[test]
fn perl_t17_rouse() {
    let oks = Oks::new();
    let cb = Rc::new(RefCell::new(None));
    let (c, o) = (cb.clone(), oks.clone());
    let h = corio::spawn(move || {
        let (callback, rouse) = corio::rouse::<(i32, i32)>();
        *c.borrow_mut() = Some(callback);
        o.ok(2);
        if rouse.wait().map(|(_, last)| last) == Some(77) {
            o.ok(4);
        }
    });
    oks.ok(1);
    corio::cede();
    oks.ok(3);
    cb.borrow_mut().take().unwrap().call((13, 77));
    corio::cede();
    oks.ok(5);
    h.join().unwrap();
    assert_eq!(oks.get(), [1, 2, 3, 4, 5]);
}

#[test]
fn the_callback_may_be_called_from_another_thread_while_the_scheduler_sleeps() {
    let (cb, rouse) = corio::rouse::<String>();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        cb.call("from a thread".to_string());
    });
    // Nothing else is ready here: the scheduler must sleep until the other
    // thread calls back, not report a deadlock.
    assert_eq!(rouse.wait().as_deref(), Some("from a thread"));
    t.join().unwrap();
}

#[test]
fn many_coros_wait_for_many_threads() {
    let waiters: Vec<_> = (0..20u32)
        .map(|i| {
            let (cb, rouse) = corio::rouse::<u32>();
            std::thread::spawn(move || cb.call(i * i));
            corio::spawn(move || rouse.wait())
        })
        .collect();
    let got: Vec<u32> = waiters
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    assert_eq!(got, (0..20).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn a_callback_dropped_uncalled_wakes_the_waiter_with_none() {
    let (cb, rouse) = corio::rouse::<u8>();
    let t = std::thread::spawn(move || drop(cb));
    assert_eq!(rouse.wait(), None);
    t.join().unwrap();
    let (cb, rouse) = corio::rouse::<u8>();
    assert!(!rouse.is_ready());
    cb.into_fn()(9);
    assert!(rouse.is_ready());
    assert_eq!(rouse.wait(), Some(9));
}

#[test]
fn a_live_callback_keeps_the_scheduler_waiting_instead_of_reporting_a_deadlock() {
    let (cb, rouse) = corio::rouse::<u8>();
    let h = corio::spawn(move || rouse.wait());
    corio::cede();
    // The callback still lives here, so waiting is legitimate...
    let idle = corio::timeout(Duration::from_millis(10), corio::schedule);
    assert!(
        idle.is_err(),
        "the scheduler slept instead of reporting a deadlock"
    );
    drop(cb);
    assert_eq!(h.join().unwrap(), None);
}

#[test]
fn a_waiting_coro_can_be_cancelled() {
    let (cb, rouse) = corio::rouse::<u8>();
    let h = corio::spawn(move || rouse.wait());
    corio::cede();
    h.cancel();
    assert!(h.join().unwrap_err().is_cancelled());
    // Calling back after the waiter left does nothing harmful.
    std::thread::spawn(move || cb.call(1)).join().unwrap();
    corio::sleep(Duration::from_millis(1));
}
