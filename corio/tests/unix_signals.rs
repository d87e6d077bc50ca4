//! `corio::signal`: the operating system's signals as a blocking call
//! (not `corio::sync::Signal`, whose tests are in `signal.rs`).
//!
//! Tests of one process share its signals, so each test uses signals of
//! its own (real-time ones, which nothing else sends).

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::signal::{Signals, ctrl_c};

/// The `k`th real-time signal; each test takes its own.
fn rt(k: i32) -> i32 {
    let s = libc::SIGRTMIN() + k;
    assert!(s <= libc::SIGRTMAX());
    s
}

fn raise(sig: i32) {
    // SAFETY: raise has no preconditions; every signal raised here has a
    // handler (a `Signals` for it was made first).
    assert_eq!(unsafe { libc::raise(sig) }, 0);
}

/// Sends `sig` to this process from another thread after `after`.
fn kill_later(sig: i32, after: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        // SAFETY: kill has no preconditions.
        assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
    })
}

#[test]
fn several_signals_objects_each_get_every_delivery() {
    let (s1, s2) = (rt(1), rt(2));
    let a = Signals::new(&[s1]).unwrap();
    let b = Signals::new(&[s1, s2]).unwrap();
    let c = Signals::new(&[s2]).unwrap();
    raise(s1);
    assert_eq!(a.wait(), s1);
    assert_eq!(b.wait(), s1);
    assert_eq!(c.try_wait(), None);
    raise(s2);
    assert_eq!(b.wait(), s2);
    assert_eq!(c.wait(), s2);
    assert_eq!(a.try_wait(), None);
    // A second delivery is a second wake-up for each.
    raise(s1);
    assert_eq!(a.wait(), s1);
    assert_eq!(b.wait(), s1);
    assert_eq!(b.try_wait(), None);
}

#[test]
fn a_signals_made_later_does_not_see_earlier_deliveries() {
    let s = rt(3);
    let early = Signals::new(&[s]).unwrap();
    raise(s);
    let late = Signals::new(&[s]).unwrap();
    assert_eq!(early.try_wait(), Some(s));
    assert_eq!(late.try_wait(), None);
}

#[test]
fn wait_timeout_gives_up_then_gets_a_signal_sent_meanwhile() {
    let s = rt(4);
    let sig = Signals::new(&[s]).unwrap();
    let start = Instant::now();
    assert_eq!(sig.wait_timeout(Duration::from_millis(50)), None);
    assert!(start.elapsed() >= Duration::from_millis(50));
    let t = kill_later(s, Duration::from_millis(20));
    assert_eq!(sig.wait_timeout(Duration::from_secs(60)), Some(s));
    t.join().unwrap();
}

#[test]
fn waiting_parks_only_the_coro() {
    let s = rt(5);
    let sig = Rc::new(Signals::new(&[s]).unwrap());
    let w = sig.clone();
    let waiter = corio::spawn(move || w.wait());
    // Other coros (here: this one) go on meanwhile.
    let ticks = Rc::new(Cell::new(0));
    for _ in 0..10 {
        corio::cede();
        ticks.set(ticks.get() + 1);
    }
    assert!(!waiter.is_finished());
    assert_eq!(ticks.get(), 10);
    raise(s);
    assert_eq!(waiter.join().unwrap(), s);
}

#[test]
fn a_coro_waiting_only_for_a_signal_is_not_deadlocked() {
    let s = rt(6);
    // A thread of its own, so that its main coro is all there is; the
    // signal comes from another process.
    let got = corio::thread::spawn(move || {
        let sig = Signals::new(&[s]).unwrap();
        let pid = std::process::id().to_string();
        let num = s.to_string();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let st = std::process::Command::new("kill")
                .args(["-s", &num, &pid])
                .status()
                .unwrap();
            assert!(st.success());
        });
        // Nothing else could wake this thread: a deadlock report would
        // panic here.
        sig.wait()
    });
    assert_eq!(got.join().unwrap(), s);
}

#[test]
fn signals_iterate() {
    let (s1, s2) = (rt(7), rt(8));
    let sig = Signals::new(&[s1, s2]).unwrap();
    assert_eq!(sig.signals(), [s1, s2]);
    let sender = corio::spawn(move || {
        for s in [s1, s2, s1] {
            raise(s);
            corio::sleep(Duration::from_millis(5));
        }
    });
    let got: Vec<i32> = (&sig).take(3).collect();
    assert_eq!(got, [s1, s2, s1]);
    sender.join().unwrap();
    // `for` over `&Signals` handles them as they come.
    raise(s2);
    let mut seen = Vec::new();
    for got in &sig {
        seen.push(got);
        if seen.len() == 2 {
            break;
        }
        raise(s1);
    }
    assert_eq!(seen, [s2, s1]);
}

#[test]
fn a_cancelled_waiter_loses_nothing() {
    let s = rt(9);
    let sig = Rc::new(Signals::new(&[s]).unwrap());
    let w = sig.clone();
    let waiter = corio::spawn(move || w.wait());
    corio::cede();
    waiter.cancel();
    assert!(waiter.join().unwrap_err().is_cancelled());
    raise(s);
    assert_eq!(sig.wait_timeout(Duration::from_secs(60)), Some(s));
}

#[test]
fn two_coros_waiting_on_one_signals_are_both_served() {
    let s = rt(10);
    let sig = Rc::new(Signals::new(&[s]).unwrap());
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let w = sig.clone();
            corio::spawn(move || w.wait())
        })
        .collect();
    corio::cede();
    raise(s);
    // One delivery, one of them gets it; a second delivery for the other.
    corio::sleep(Duration::from_millis(20));
    raise(s);
    for w in waiters {
        assert_eq!(w.join().unwrap(), s);
    }
}

#[test]
fn signals_go_to_the_thread_that_listens() {
    let s = rt(11);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let listener = corio::thread::spawn(move || {
        let sig = Signals::new(&[s]).unwrap();
        ready_tx.send(()).unwrap();
        sig.wait()
    });
    ready_rx.recv().unwrap();
    // Raised on this thread, delivered to the other's `Signals`.
    raise(s);
    assert_eq!(listener.join().unwrap(), s);
}

#[test]
fn ctrl_c_waits_for_one_sigint() {
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    let waiter = corio::spawn(move || {
        ctrl_c().unwrap();
        d.set(true);
    });
    corio::cede(); // it listens now
    assert!(!done.get());
    raise(libc::SIGINT);
    waiter.join().unwrap();
    assert!(done.get());
}

#[test]
fn uncatchable_signals_are_refused() {
    for s in [libc::SIGKILL, libc::SIGSTOP, 0, -3, 4096] {
        let e = Signals::new(&[s]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "signal {s}");
    }
}
