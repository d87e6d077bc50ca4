//! Randomized stress: many coros doing random operations on shared
//! primitives while a chaos coro cancels them, throws at them and wakes
//! them spuriously. Afterwards nothing is lost, nothing duplicated, no
//! unit held, nobody waiting. Each seed is a different, reproducible run.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use corio::sync::{Channel, Mutex, RwLock, Semaphore, Signal};

/// xorshift64*: small, deterministic.
#[derive(Clone)]
struct Rng(Rc<Cell<u64>>);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(Rc::new(Cell::new(
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        )))
    }
    fn next(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What happened to every item: received (once) or dropped unsent (once).
#[derive(Default)]
struct Ledger {
    attempted: RefCell<HashSet<u64>>,
    received: RefCell<Vec<u64>>,
    dropped: RefCell<Vec<u64>>,
}

/// An item that reports to the ledger where it ended.
struct Item {
    id: u64,
    ledger: Rc<Ledger>,
    received: bool,
}

impl Drop for Item {
    fn drop(&mut self) {
        if self.received {
            self.ledger.received.borrow_mut().push(self.id);
        } else {
            self.ledger.dropped.borrow_mut().push(self.id);
        }
    }
}

struct World {
    rng: Rng,
    sem: Semaphore,
    holders: Cell<isize>,
    chan: Channel<Item>,
    sig: Signal,
    mutex: Mutex<bool>,
    rw: RwLock<u64>,
    ledger: Rc<Ledger>,
    next_id: Cell<u64>,
}

const UNITS: isize = 3;

fn worker(w: &World, ops: u32) {
    for _ in 0..ops {
        match w.rng.below(9) {
            0 | 1 => {
                let g = if w.rng.below(2) == 0 {
                    Some(w.sem.guard())
                } else {
                    w.sem.guard_timeout(Duration::from_micros(w.rng.below(500)))
                };
                if let Some(g) = g {
                    w.holders.set(w.holders.get() + 1);
                    assert!(w.holders.get() <= UNITS, "more holders than units");
                    struct Release<'a>(&'a Cell<isize>);
                    impl Drop for Release<'_> {
                        fn drop(&mut self) {
                            self.0.set(self.0.get() - 1);
                        }
                    }
                    let _r = Release(&w.holders);
                    for _ in 0..w.rng.below(3) {
                        corio::cede();
                    }
                    drop(g);
                }
            }
            2 => {
                let id = w.next_id.get();
                w.next_id.set(id + 1);
                w.ledger.attempted.borrow_mut().insert(id);
                let item = Item {
                    id,
                    ledger: w.ledger.clone(),
                    received: false,
                };
                if w.rng.below(2) == 0 {
                    w.chan.put(item).ok();
                } else if let Err(e) = w.chan.try_put(item) {
                    drop(e.into_inner());
                }
            }
            3 => {
                let got = if w.rng.below(2) == 0 {
                    w.chan.get_timeout(Duration::from_micros(w.rng.below(800)))
                } else {
                    w.chan.try_get()
                };
                if let Some(mut item) = got {
                    item.received = true;
                }
            }
            4 => {
                let mut inside = w.mutex.lock();
                assert!(!*inside, "two coros inside the mutex");
                *inside = true;
                // Leave the flag cleared however we leave (cancel, throw).
                struct Leave<'a, 'b>(&'a mut corio::sync::MutexGuard<'b, bool>);
                impl Drop for Leave<'_, '_> {
                    fn drop(&mut self) {
                        **self.0 = false;
                    }
                }
                let _leave = Leave(&mut inside);
                corio::cede();
            }
            5 => {
                if w.rng.below(2) == 0 {
                    let r = w.rw.read();
                    let before = *r;
                    corio::cede();
                    assert_eq!(*r, before, "a write happened under a read lock");
                } else {
                    let mut g = w.rw.write();
                    *g += 1;
                    corio::cede();
                }
            }
            6 => {
                if w.rng.below(3) == 0 {
                    w.sig.send();
                } else {
                    w.sig.wait_timeout(Duration::from_micros(w.rng.below(300)));
                }
            }
            _ => corio::cede(),
        }
    }
}

fn run(seed: u64) {
    let world = Rc::new(World {
        rng: Rng::new(seed),
        sem: Semaphore::new(UNITS),
        holders: Cell::new(0),
        chan: Channel::bounded(4),
        sig: Signal::new(),
        mutex: Mutex::new(false),
        rw: RwLock::new(0),
        ledger: Rc::new(Ledger::default()),
        next_id: Cell::new(0),
    });
    let workers: Vec<_> = (0..40)
        .map(|_| {
            let w = world.clone();
            corio::spawn(move || worker(&w, 60))
        })
        .collect();
    let coros: Vec<corio::Coro> = workers.iter().map(|h| h.coro()).collect();
    let w = world.clone();
    let chaos = corio::spawn(move || {
        for _ in 0..300 {
            let victim = &coros[w.rng.below(coros.len() as u64) as usize];
            match w.rng.below(10) {
                0 => victim.cancel(),
                1 => victim.throw("chaos"),
                2..=5 => {
                    victim.ready();
                }
                _ => {}
            }
            for _ in 0..w.rng.below(4) {
                corio::cede();
            }
        }
    });
    chaos.join().unwrap();
    // Putters may still wait on a full channel: keep draining until every
    // worker is done.
    let done = Rc::new(Cell::new(false));
    let (w, d) = (world.clone(), done.clone());
    let drainer = corio::spawn(move || {
        while !d.get() {
            if let Some(mut item) = w.chan.get_timeout(Duration::from_millis(1)) {
                item.received = true;
            }
        }
    });
    for h in workers {
        // Finished, cancelled, or ended by a thrown "chaos": all fine.
        if let Err(e) = h.join() {
            assert!(
                e.is_cancelled() || e.panic_message() == Some("chaos"),
                "{e}"
            );
        }
    }
    done.set(true);
    drainer.join().unwrap();
    // Drain what is left.
    while let Some(mut item) = world.chan.try_get() {
        item.received = true;
    }
    let w = &*world;
    assert_eq!(
        w.sem.count(),
        UNITS,
        "seed {seed}: a semaphore unit was lost or duplicated"
    );
    assert_eq!(w.holders.get(), 0);
    assert_eq!(w.sem.waiters(), 0, "seed {seed}: waiters left behind");
    assert!(!w.sig.awaited(), "seed {seed}: signal waiters left behind");
    assert!(!w.mutex.is_locked(), "seed {seed}: mutex left locked");
    assert!(w.rw.try_write().is_some(), "seed {seed}: rwlock left held");
    let attempted = w.ledger.attempted.borrow();
    let received = w.ledger.received.borrow();
    let dropped = w.ledger.dropped.borrow();
    let mut seen = HashSet::new();
    for id in received.iter().chain(dropped.iter()) {
        assert!(
            seen.insert(*id),
            "seed {seed}: item {id} delivered or dropped twice"
        );
    }
    assert_eq!(seen, *attempted, "seed {seed}: an item vanished");
    assert!(
        !received.is_empty(),
        "seed {seed}: the run exercised nothing"
    );
}

#[test]
fn random_operations_under_random_cancels_throws_and_wakeups() {
    for seed in 1..=64 {
        run(seed);
    }
}

/// Waiters are woken and then killed (cancel or throw) before they run;
/// what they were woken for must reach the next waiter. Exactly one
/// wake-up is given per waiter that survives, so a single lost wake-up
/// leaves a waiter stuck and the final joins deadlock.
fn wake_then_kill(seed: u64, kind: u32) {
    let rng = Rng::new(seed);
    let n = 10;
    let sem = Rc::new(Semaphore::new(0));
    let sig = Rc::new(Signal::new());
    let mutex = Rc::new(Mutex::new(()));
    let chan = Channel::<u32>::new();
    let held = mutex.lock();
    let waiters: Vec<_> = (0..n)
        .map(|_| {
            let (sem, sig, mutex, chan) = (sem.clone(), sig.clone(), mutex.clone(), chan.clone());
            corio::spawn(move || match kind {
                0 => sem.down(),
                1 => sig.wait(),
                2 => drop(mutex.lock()),
                _ => drop(chan.get()),
            })
        })
        .collect();
    corio::cede(); // all of them wait, in order
    let kill = |i: usize| {
        let c = waiters[i].coro();
        if rng.below(2) == 0 {
            c.cancel();
        } else {
            c.throw("killed");
        }
    };
    let mut front = 0;
    let mut held = Some(held);
    while front < n {
        // One wake-up: it goes to waiters[front].
        match kind {
            0 => sem.up(),
            1 => sig.send(),
            2 => {
                // The lock passes from each survivor to the next by itself:
                // only the first release is ours.
                if let Some(h) = held.take() {
                    drop(h);
                }
            }
            _ => chan.put(front as u32).unwrap(),
        }
        // Kill some woken waiters before they run: each one's wake-up
        // must move on to the next. Keep the last one alive.
        while front + 1 < n && rng.below(2) == 0 {
            kill(front);
            front += 1;
        }
        front += 1;
    }
    for h in waiters {
        if let Err(e) = h.join() {
            assert!(
                e.is_cancelled() || e.panic_message() == Some("killed"),
                "{e}"
            );
        }
    }
    drop(held);
    assert_eq!(sem.count(), 0);
    assert!(!sig.is_sent());
    assert!(chan.is_empty());
    assert!(!mutex.is_locked());
}

#[test]
fn woken_waiters_that_die_pass_their_wakeups_on() {
    for kind in 0..4 {
        for seed in 1..=50 {
            wake_then_kill(seed, kind);
        }
    }
}
