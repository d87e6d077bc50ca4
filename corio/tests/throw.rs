//! `Coro::throw`, and suspending/resuming coros.

mod util;

use std::cell::Cell;
use std::rc::Rc;

use util::{DropLog, Log};

#[derive(Debug, PartialEq)]
struct Reason(&'static str);

#[test]
fn throw_into_a_blocked_coro_unwinds_its_blocking_call_with_the_payload() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        let _g = DropLog {
            log: l.clone(),
            what: "g".into(),
        };
        corio::schedule();
        l.push("not reached");
    });
    corio::cede();
    h.coro().throw(Reason("stop"));
    let id = h.coro().id();
    let err = h.join().unwrap_err();
    assert_eq!(
        err.into_panic().downcast_ref::<Reason>(),
        Some(&Reason("stop"))
    );
    assert_eq!(log.get(), [format!("drop g in {id}")]);
}

#[test]
fn a_thrown_coro_can_catch_the_payload_and_go_on() {
    let h = corio::spawn(|| {
        let r = std::panic::catch_unwind(corio::schedule);
        let reason = *r.unwrap_err().downcast::<Reason>().unwrap();
        corio::cede(); // blocking works again: a throw fires once
        reason
    });
    corio::cede();
    h.coro().throw(Reason("caught"));
    assert_eq!(h.join().unwrap(), Reason("caught"));
}

#[test]
fn throw_to_self_fires_at_the_next_blocking_call_even_a_cede() {
    let h = corio::spawn(|| {
        corio::current().throw(Reason("self"));
        let reached = Rc::new(Cell::new(false));
        let r = reached.clone();
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            r.set(true); // the throw has not fired yet
            corio::cede(); // nothing else is ready, but it fires here
        }));
        (reached.get(), out.is_err())
    });
    assert_eq!(h.join().unwrap(), (true, true));
}

#[test]
fn throw_interrupts_a_join() {
    let blocker = corio::spawn(corio::schedule);
    let bc = blocker.coro();
    let joiner = corio::spawn(move || blocker.join().is_ok());
    corio::cede();
    joiner.coro().throw(Reason("no more waiting"));
    let err = joiner.join().unwrap_err();
    assert_eq!(
        err.into_panic().downcast_ref::<Reason>(),
        Some(&Reason("no more waiting"))
    );
    assert!(!bc.is_done());
    bc.cancel();
}

#[test]
fn clear_throw_withdraws_a_pending_throw() {
    let h = corio::spawn(|| {
        corio::cede();
        "finished normally"
    });
    corio::cede();
    let c = h.coro();
    c.throw(Reason("oops"));
    assert!(c.clear_throw());
    assert!(!c.clear_throw());
    // It was readied by the throw; it wakes, finds nothing, goes on.
    assert_eq!(h.join().unwrap(), "finished normally");
}

#[test]
fn a_later_throw_replaces_an_earlier_one() {
    let h = corio::spawn(corio::schedule);
    corio::cede();
    h.coro().throw(Reason("first"));
    h.coro().throw(Reason("second"));
    let p = h.join().unwrap_err().into_panic();
    assert_eq!(p.downcast_ref::<Reason>(), Some(&Reason("second")));
}

#[test]
fn throw_at_a_coro_that_never_ran_fires_before_its_body() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let h = corio::spawn(move || r.set(true));
    h.coro().throw(Reason("early"));
    assert!(h.join().is_err());
    assert!(!ran.get());
}

#[test]
fn throw_at_a_finished_coro_is_ignored() {
    let h = corio::spawn(|| 3);
    corio::cede();
    h.coro().throw(Reason("late"));
    assert_eq!(h.join().unwrap(), 3);
}

#[test]
fn throw_into_the_main_coro() {
    let main = corio::current();
    let h = corio::spawn(move || main.throw(Reason("to main")));
    let r = std::panic::catch_unwind(corio::schedule);
    assert_eq!(
        r.unwrap_err().downcast_ref::<Reason>(),
        Some(&Reason("to main"))
    );
    h.join().unwrap();
}

#[test]
fn a_suspended_coro_is_never_picked_and_keeps_its_activation() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        for i in 0..3 {
            l.push(format!("tick {i}"));
            corio::cede();
        }
    });
    corio::cede(); // tick 0, now queued again
    let c = h.coro();
    assert!(c.is_ready());
    c.suspend();
    assert!(c.is_suspended());
    for _ in 0..3 {
        corio::cede();
    }
    assert_eq!(log.get(), ["tick 0"]);
    // ready() while suspended is remembered, not queued (and not lost).
    assert!(!c.ready(), "the activation kept from before the suspend");
    c.resume();
    assert!(!c.is_suspended());
    h.join().unwrap();
    assert_eq!(log.get(), ["tick 0", "tick 1", "tick 2"]);
}

#[test]
fn a_coro_readied_while_suspended_runs_after_resume() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let h = corio::spawn(move || {
        corio::schedule();
        r.set(true);
    });
    corio::cede();
    let c = h.coro();
    c.suspend();
    assert!(c.ready());
    corio::cede();
    assert!(!ran.get());
    c.resume();
    h.join().unwrap();
    assert!(ran.get());
}

#[test]
fn a_running_coro_that_suspends_itself_runs_until_it_cedes() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        corio::current().suspend();
        l.push("still running");
        corio::cede();
        l.push("resumed");
    });
    corio::cede();
    corio::cede();
    assert_eq!(log.get(), ["still running"]);
    h.coro().resume();
    h.join().unwrap();
    assert_eq!(log.get(), ["still running", "resumed"]);
}

#[test]
fn a_throw_or_cancel_that_ends_a_main_coro_is_reported_like_a_panic() {
    if util::child_role().as_deref() == Some("main-thrown") {
        // Reported through the panic hook, as a panic would be.
        std::panic::set_hook(Box::new(|info| {
            println!("HOOK {}", info.payload_as_str().unwrap_or("?"));
        }));
        // Thrown out: the thread ends as if it had panicked, with the
        // payload.
        let t = std::thread::spawn(|| {
            let main = corio::current();
            corio::spawn(move || main.throw("enough")).join().unwrap();
            corio::cede();
            unreachable!("the throw fires at the cede");
        });
        let err = t.join().unwrap_err();
        assert_eq!(err.downcast_ref::<&str>(), Some(&"enough"));
        // Cancelled by another coro.
        let t = std::thread::spawn(|| {
            let main = corio::current();
            corio::spawn(move || main.cancel()).join().unwrap();
            corio::cede();
        });
        assert!(t.join().is_err());
        // Caught: the program goes on (a caught panic is reported too).
        let main = corio::current();
        let h = corio::spawn(move || main.throw("caught"));
        assert!(std::panic::catch_unwind(|| corio::schedule()).is_err());
        h.join().unwrap();
        // A timeout in the main coro is no throw: not reported.
        assert!(corio::timeout(std::time::Duration::from_millis(1), corio::schedule).is_err());
        println!("DONE");
        return;
    }
    let out = util::run_child(
        "a_throw_or_cancel_that_ends_a_main_coro_is_reported_like_a_panic",
        "main-thrown",
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // (The first may share its line with the harness's "test ... ".)
    let hooks: Vec<&str> = stdout
        .split("HOOK ")
        .skip(1)
        .map(|h| h.lines().next().unwrap_or(""))
        .collect();
    assert_eq!(hooks.len(), 3, "{stdout}");
    assert!(
        hooks[0].starts_with("the main coro was thrown out (waiting at corio/tests/throw.rs:")
            && hooks[0].ends_with("): enough"),
        "{stdout}"
    );
    assert!(
        hooks[1].starts_with("the main coro was cancelled (waiting at corio/tests/throw.rs:"),
        "{stdout}"
    );
    assert!(hooks[2].ends_with(": caught"), "{stdout}");
    assert!(stdout.contains("DONE"), "{stdout}");
}
