//! Coro-local storage.
//!
//! `perl_t05_specific` ports the behaviour of Perl Coro's
//! `t/05_specific.t` (Coro 6.57, by Marc Lehmann; public mirror
//! laurent-aml/Perl-Coro), and `seed_printit` the per-coro state example of
//! Coro::Intro.

mod util;

use std::cell::{Cell, RefCell};

use util::{Log, Oks};

corio::coro_local! {
    static S1: Cell<Option<i32>> = Cell::new(None);
    static S2: Cell<Option<i32>> = Cell::new(None);
}

#[test]
fn perl_t05_specific() {
    let oks = Oks::new();
    oks.ok(1);
    S1.set(Some(5));
    S2.set(Some(S1.get().unwrap() + 5));
    if S2.get() == Some(10) {
        oks.ok(2);
    }
    if S1.get() == Some(S2.get().unwrap() - 5) {
        oks.ok(3);
    }
    let o = oks.clone();
    let h = corio::spawn(move || {
        if S2.get().is_none() {
            o.ok(5); // a new coro starts with its own, fresh value
        }
        S1.set(Some(6));
        S2.set(Some(S1.get().unwrap() + 6));
        S2.set(Some(S2.get().unwrap() + 1));
        corio::cede();
        if S2.get() == Some(13) {
            o.ok(7);
        }
    });
    if S2.get() == Some(10) {
        oks.ok(4);
    }
    corio::cede();
    if S2.get() == Some(10) {
        oks.ok(6);
    }
    corio::cede();
    if S2.get() == Some(10) {
        oks.ok(8);
    }
    h.join().unwrap();
    assert_eq!(oks.get(), (1..=8).collect::<Vec<_>>());
}

corio::coro_local! {
    static STRING: RefCell<String> = RefCell::new(String::new());
}

fn printit(out: &Log, s: &str) {
    // Coro::Intro's printit: a "my $string" per coro, across a cede.
    STRING.set(s.to_string());
    corio::cede();
    out.push(STRING.with_borrow(|s| s.clone()));
}

#[test]
fn seed_printit() {
    let out = Log::new();
    let o = out.clone();
    let a = corio::spawn(move || printit(&o, "Hello, "));
    let o = out.clone();
    let b = corio::spawn(move || printit(&o, "World!\n"));
    corio::cede();
    corio::cede();
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(out.get().concat(), "Hello, World!\n");
}

struct Counted(std::rc::Rc<Cell<u32>>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

thread_local! {
    static DROPS: std::rc::Rc<Cell<u32>> = std::rc::Rc::new(Cell::new(0));
    static INITS: Cell<u32> = const { Cell::new(0) };
}

corio::coro_local! {
    static TRACKED: Counted = {
        INITS.with(|i| i.set(i.get() + 1));
        Counted(DROPS.with(|d| d.clone()))
    };
}

#[test]
fn values_are_created_on_first_use_and_dropped_when_their_coro_ends() {
    let drops = DROPS.with(|d| d.clone());
    let h = corio::spawn(|| {
        TRACKED.with(|_| ());
        TRACKED.with(|_| ());
        corio::cede();
    });
    let untouched = corio::spawn(|| corio::cede());
    corio::cede();
    assert_eq!(INITS.with(Cell::get), 1, "created once, on first use only");
    assert_eq!(drops.get(), 0);
    h.join().unwrap();
    untouched.join().unwrap();
    assert_eq!(drops.get(), 1, "dropped when its coro ended");
}

#[test]
fn cancelled_coros_drop_their_values_too() {
    let drops = DROPS.with(|d| d.clone());
    let before = drops.get();
    let h = corio::spawn(|| {
        TRACKED.with(|_| ());
        corio::schedule();
    });
    corio::cede();
    h.cancel();
    assert_eq!(drops.get(), before + 1);
}

#[test]
fn cell_and_refcell_shortcuts() {
    corio::coro_local! {
        static N: Cell<u32> = Cell::new(1);
        static V: RefCell<Vec<u8>> = RefCell::new(vec![1]);
    }
    assert_eq!(N.replace(5), 1);
    assert_eq!(N.take(), 5);
    assert_eq!(N.get(), 0);
    V.with_borrow_mut(|v| v.push(2));
    assert_eq!(V.replace(vec![9]), [1, 2]);
    assert_eq!(V.take(), [9]);
    assert!(V.with_borrow(Vec::is_empty));
    let in_coro = corio::spawn(|| (N.get(), V.with_borrow(|v| v.clone())));
    assert_eq!(in_coro.join().unwrap(), (1, vec![1]));
}
