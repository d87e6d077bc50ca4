//! `Signal`.
//!
//! `perl_t16_signal` ports Perl Coro's `t/16_signal.t` (Coro 6.57, by Marc
//! Lehmann; public mirror laurent-aml/Perl-Coro). Perl reads a signal's
//! remembered send with `Coro::Semaphore::count`; corio with `is_sent`.

mod util;

use std::rc::Rc;
use std::time::Duration;

use corio::sync::Signal;
use util::{Log, Oks};

#[test]
fn perl_t16_signal() {
    let oks = Oks::new();
    let sig = Rc::new(Signal::new());
    let waiter = |n: u32| {
        let (s, o) = (sig.clone(), oks.clone());
        corio::spawn(move || {
            s.wait();
            o.ok(n);
        })
    };
    let as1 = waiter(3);
    let as2 = waiter(4);
    corio::cede(); // as1, as2 wait
    let as3 = waiter(2);
    let as4 = waiter(6);
    let as5 = waiter(9);
    sig.send(); // readies as1
    sig.send(); // readies as2
    sig.send(); // remembered
    if sig.is_sent() {
        oks.ok(1);
    }
    corio::cede(); // as3 (consumes the remembered send), as4, as5 wait; as1, as2 run
    if !sig.is_sent() {
        oks.ok(5);
    }
    sig.send(); // as4
    corio::cede();
    if !sig.is_sent() {
        oks.ok(7);
    }
    sig.broadcast(); // as5
    if !sig.is_sent() {
        oks.ok(8);
    }
    corio::cede();
    let o = oks.clone();
    sig.wait_callback(move || o.ok(12));
    oks.ok(10);
    oks.ok(11);
    sig.send(); // calls the callback
    oks.ok(13);
    corio::cede();
    oks.ok(14);
    sig.send(); // remembered
    oks.ok(15);
    let o = oks.clone();
    sig.wait_callback(move || o.ok(16)); // consumes it at once
    oks.ok(17);
    if !sig.is_sent() {
        oks.ok(18);
    }
    for h in [as1, as2, as3, as4, as5] {
        h.join().unwrap();
    }
    assert_eq!(oks.get(), (1..=18).collect::<Vec<_>>());
}

#[test]
fn sends_without_waiters_collapse_into_one() {
    let sig = Signal::new();
    sig.send();
    sig.send();
    sig.send();
    sig.wait();
    assert!(
        !sig.wait_timeout(Duration::from_millis(2)),
        "only one send was remembered"
    );
}

#[test]
fn broadcast_wakes_everyone_waiting_and_forgets_a_remembered_send() {
    let log = Log::new();
    let sig = Rc::new(Signal::new());
    let hs: Vec<_> = (0..3)
        .map(|i| {
            let (s, l) = (sig.clone(), log.clone());
            corio::spawn(move || {
                s.wait();
                l.push(format!("{i}"));
            })
        })
        .collect();
    corio::cede();
    assert_eq!(sig.waiters(), 3);
    sig.broadcast();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(log.get(), ["0", "1", "2"]);
    sig.send();
    sig.broadcast();
    assert!(!sig.is_sent());
}

#[test]
fn a_spurious_wakeup_does_not_end_a_wait() {
    let sig = Rc::new(Signal::new());
    let s = sig.clone();
    let h = corio::spawn(move || s.wait());
    corio::cede();
    for _ in 0..3 {
        h.coro().ready();
        corio::cede();
        assert!(!h.is_finished());
    }
    sig.send();
    h.join().unwrap();
}

#[test]
fn a_cancelled_waiter_passes_its_send_on() {
    let log = Log::new();
    let sig = Rc::new(Signal::new());
    let s = sig.clone();
    let first = corio::spawn(move || s.wait());
    let (s, l) = (sig.clone(), log.clone());
    let second = corio::spawn(move || {
        s.wait();
        l.push("second got it");
    });
    corio::cede();
    sig.send(); // wakes `first`...
    first.cancel(); // ...which never gets to run
    second.join().unwrap();
    assert_eq!(log.get(), ["second got it"]);
    // With nobody else waiting, a lost-by-cancel send is remembered.
    let s = sig.clone();
    let lone = corio::spawn(move || s.wait());
    corio::cede();
    sig.send();
    lone.cancel();
    assert!(sig.is_sent());
}

#[test]
fn wait_timeout_gives_up_and_leaves_the_queue() {
    let sig = Rc::new(Signal::new());
    assert!(!sig.wait_timeout(Duration::from_millis(2)));
    assert!(!sig.awaited());
    let s = sig.clone();
    let h = corio::spawn(move || s.wait_timeout(Duration::from_secs(5)));
    corio::cede();
    sig.send();
    assert!(h.join().unwrap());
}
