//! `on_enter` / `on_leave` hooks.
//!
//! `perl_t18_winder` ports the behaviour of Perl Coro's `t/18_winder.t`
//! (Coro 6.57, by Marc Lehmann; public mirror laurent-aml/Perl-Coro).

mod util;

use std::cell::RefCell;
use std::rc::Rc;

use util::{Log, Oks};

#[test]
fn perl_t18_winder() {
    let oks = Oks::new();
    let enter = Rc::new(RefCell::new(vec![3u32, 8, 12]));
    let leave = Rc::new(RefCell::new(vec![6u32, 10, 14]));
    let o = oks.clone();
    let h = corio::spawn(move || {
        o.ok(2);
        {
            let (o2, e) = (o.clone(), enter.clone());
            let _enter = corio::on_enter(move || o2.ok(e.borrow_mut().remove(0)));
            o.ok(4);
            let (o3, l) = (o.clone(), leave.clone());
            let _leave = corio::on_leave(move || o3.ok(l.borrow_mut().remove(0)));
            o.ok(5);
            corio::cede();
            o.ok(9);
            corio::cede();
            o.ok(13);
        }
        o.ok(15);
        corio::cede();
        o.ok(16);
    });
    oks.ok(1);
    corio::cede();
    oks.ok(7);
    corio::cede();
    oks.ok(11);
    corio::cede();
    h.join().unwrap();
    oks.ok(17);
    assert_eq!(oks.get(), (1..=17).collect::<Vec<_>>());
}

#[test]
fn nested_hooks_enter_in_install_order_and_leave_in_reverse() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        let (l1, l2, l3, l4) = (l.clone(), l.clone(), l.clone(), l.clone());
        let _e1 = corio::on_enter(move || l1.push("enter 1"));
        let _x1 = corio::on_leave(move || l2.push("leave 1"));
        let _e2 = corio::on_enter(move || l3.push("enter 2"));
        let _x2 = corio::on_leave(move || l4.push("leave 2"));
        l.push("body");
        corio::cede();
        l.push("back");
    });
    corio::cede();
    log.push("main");
    h.join().unwrap();
    assert_eq!(
        log.get(),
        [
            "enter 1", "enter 2", "body", "leave 2", "leave 1", "main", "enter 1", "enter 2",
            "back", // scope exit: guards drop in reverse declaration order
            "leave 2", "leave 1",
        ]
    );
}

#[test]
fn hooks_stay_balanced_when_the_coro_is_cancelled() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        let (a, b) = (l.clone(), l.clone());
        let _e = corio::on_enter(move || a.push("enter"));
        let _l = corio::on_leave(move || b.push("leave"));
        corio::schedule();
        l.push("never");
    });
    corio::cede();
    h.cancel();
    // enter at install, leave when parking, enter when switched in to
    // unwind, leave when the guard drops during the unwind.
    assert_eq!(log.get(), ["enter", "leave", "enter", "leave"]);
}

#[test]
fn hooks_belong_to_the_coro_that_installed_them() {
    let log = Log::new();
    let l = log.clone();
    let a = corio::spawn(move || {
        let l2 = l.clone();
        let _e = corio::on_enter(move || l2.push("a enter"));
        corio::cede();
        corio::cede();
    });
    let l = log.clone();
    let b = corio::spawn(move || {
        l.push("b runs");
        corio::cede();
        l.push("b runs");
    });
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(
        log.get(),
        ["a enter", "b runs", "a enter", "b runs", "a enter"]
    );
}

#[test]
fn the_main_coro_can_have_hooks_too() {
    let log = Log::new();
    let l = log.clone();
    let _leave = corio::on_leave(move || l.push("main leaves"));
    let l = log.clone();
    let h = corio::spawn(move || l.push("coro"));
    h.join().unwrap();
    assert_eq!(log.get(), ["main leaves", "coro"]);
}
