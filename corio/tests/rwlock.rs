//! `RwLock` and `Mutex`.
//!
//! `perl_t04_rwlock` ports Perl Coro's `t/04_rwlock.t` (Coro 6.57, by Marc
//! Lehmann; public mirror laurent-aml/Perl-Coro). Perl's unlock is one call
//! for both kinds of lock; here each guard unlocks what it holds.

mod util;

use std::rc::Rc;

use corio::sync::{Mutex, RwLock};
use util::{Log, Oks};

#[test]
fn perl_t04_rwlock() {
    let oks = Oks::new();
    let l = Rc::new(RwLock::new(()));
    oks.ok(1);
    let r1 = l.read();
    let r2 = l.try_read();
    if r2.is_some() {
        oks.ok(2);
    }
    if l.try_write().is_none() {
        oks.ok(3);
    }
    drop((r1, r2));
    let w = l.try_write();
    if w.is_some() {
        oks.ok(4);
    }
    if l.try_write().is_none() {
        oks.ok(5);
    }
    if l.try_read().is_none() {
        oks.ok(6);
    }
    let (lk, o) = (l.clone(), oks.clone());
    let a = corio::spawn(move || {
        o.ok(8);
        let w = lk.write();
        o.ok(10);
        drop(w);
        let r = lk.read();
        o.ok(11);
        corio::cede();
        o.ok(14);
        drop(r);
    });
    oks.ok(7);
    for _ in 0..4 {
        corio::cede();
    }
    oks.ok(9);
    drop(w);
    corio::cede();
    oks.ok(12);
    let r = l.read();
    oks.ok(13);
    corio::cede();
    corio::cede();
    oks.ok(15);
    drop(r);
    corio::cede();
    oks.ok(16);
    let w = l.write();
    oks.ok(17);
    let reader = |first: u32, second: u32, third: u32| {
        let (lk, o) = (l.clone(), oks.clone());
        corio::spawn(move || {
            o.ok(first);
            let r = lk.read();
            o.ok(second);
            corio::cede();
            o.ok(third);
            drop(r);
        })
    };
    let b = reader(18, 21, 23);
    let c = reader(19, 22, 24);
    corio::cede();
    oks.ok(20);
    drop(w); // admits both queued readers
    corio::cede();
    corio::cede();
    oks.ok(25);
    for h in [a, b, c] {
        h.join().unwrap();
    }
    assert_eq!(oks.get(), (1..=25).collect::<Vec<_>>());
}

#[test]
fn a_waiting_writer_stops_new_readers() {
    let log = Log::new();
    let lock = Rc::new(RwLock::new(0));
    let r = lock.read();
    let (lk, lg) = (lock.clone(), log.clone());
    let writer = corio::spawn(move || {
        *lk.write() += 1;
        lg.push("writer");
    });
    corio::cede(); // the writer waits for our read lock
    assert!(
        lock.try_read().is_none(),
        "a waiting writer stops new readers"
    );
    let (lk, lg) = (lock.clone(), log.clone());
    let reader = corio::spawn(move || {
        let v = *lk.read();
        lg.push(format!("reader saw {v}"));
    });
    corio::cede();
    drop(r);
    writer.join().unwrap();
    reader.join().unwrap();
    assert_eq!(log.get(), ["writer", "reader saw 1"]);
}

#[test]
fn an_unlocking_writer_admits_every_reader_queued_before_the_next_writer() {
    let log = Log::new();
    let lock = Rc::new(RwLock::new(()));
    let w = lock.write();
    let mut hs = Vec::new();
    for (name, write) in [("r1", false), ("r2", false), ("w1", true), ("r3", false)] {
        let (lk, lg) = (lock.clone(), log.clone());
        hs.push(corio::spawn(move || {
            if write {
                let _g = lk.write();
                lg.push(format!("{name} in"));
                corio::cede();
                lg.push(format!("{name} out"));
            } else {
                let _g = lk.read();
                lg.push(format!("{name} in"));
                corio::cede();
                lg.push(format!("{name} out"));
            }
        }));
    }
    corio::cede(); // all four queue behind our write lock
    drop(w);
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(
        log.get(),
        [
            "r1 in", "r2 in", "r1 out", "r2 out", "w1 in", "w1 out", "r3 in", "r3 out"
        ]
    );
}

#[test]
fn a_cancelled_waiter_hands_the_lock_on() {
    let lock = Rc::new(RwLock::new(0));
    let w = lock.write();
    let lk = lock.clone();
    let doomed = corio::spawn(move || *lk.write() += 100);
    let lk = lock.clone();
    let next = corio::spawn(move || *lk.write() += 1);
    corio::cede();
    drop(w); // handed to `doomed`...
    doomed.cancel(); // ...which unwinds before it ran
    next.join().unwrap();
    assert_eq!(*lock.read(), 1);
    assert!(lock.try_write().is_some());
}

#[test]
fn failed_try_locks_release_nothing() {
    let lock = RwLock::new(());
    let w = lock.write();
    assert!(lock.try_read().is_none());
    assert!(lock.try_write().is_none());
    drop(w);
    let r = lock.read();
    assert!(lock.try_write().is_none());
    assert!(lock.try_read().is_some());
    drop(r);
    assert!(lock.try_write().is_some());
    let m = Mutex::new(());
    let g = m.lock();
    assert!(m.try_lock().is_none());
    assert!(m.is_locked(), "a failed try_lock must not unlock");
    drop(g);
    assert!(!m.is_locked());
}

#[test]
fn mutex_hands_the_lock_over_in_order() {
    let log = Log::new();
    let m = Rc::new(Mutex::new(Vec::new()));
    let g = m.lock();
    let hs: Vec<_> = (0..3)
        .map(|i| {
            let (mm, l) = (m.clone(), log.clone());
            corio::spawn(move || {
                let mut v = mm.lock();
                v.push(i);
                l.push(format!("{i}"));
            })
        })
        .collect();
    corio::cede();
    drop(g);
    // The lock now belongs to the first waiter: nobody can take it first.
    assert!(m.try_lock().is_none());
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(*m.lock(), [0, 1, 2]);
    assert_eq!(log.get(), ["0", "1", "2"]);
}

#[test]
fn mutex_guard_unlocks_on_panic_and_cancel() {
    let m = Rc::new(Mutex::new(0));
    let mm = m.clone();
    let p = corio::spawn(move || {
        let _g = mm.lock();
        panic!("holding the lock");
    });
    assert!(p.join().is_err());
    assert!(!m.is_locked());
    let mm = m.clone();
    let h = corio::spawn(move || {
        let _g = mm.lock();
        corio::schedule();
    });
    corio::cede();
    h.cancel();
    assert!(!m.is_locked());
    assert_eq!(format!("{:?}", m), "Mutex { value: 0, waiters: 0 }");
    let g = m.lock();
    assert_eq!(format!("{:?}", m), "Mutex { value: <locked>, waiters: 0 }");
    drop(g);
}
