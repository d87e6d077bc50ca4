//! The waiters of operations answered out of line — the io_uring rings'
//! completions and the open helper's results: a table of slots, each named
//! by `(index, generation)` so that a late answer for a slot since reused
//! is told apart and ignored.
//!
//! A slot owns what the operation needs kept alive (`K`: for io_uring, the
//! memory the kernel reads and writes) until the operation is answered,
//! whether or not its coro still waits: a coro that unwinds while parked
//! (cancelled, thrown at, timed out) leaves the slot behind, and the answer,
//! when it comes, is handed to the table's `abandon` function (which closes
//! an opened descriptor nobody will take) and the slot freed.

use std::cell::{Cell, RefCell};
use std::panic::Location;

use crate::io::reg::IoWaiting;
use crate::sched::Scheduler;
use crate::sched::inner::{CoroInner, What};

/// A slot's name: `(index, generation)`.
pub(crate) type Key = (u32, u32);

pub(crate) enum State<K, R> {
    Free,
    /// In flight; `waiter` is the coro waiting for it in [`Slots::wait`],
    /// or null once that coro left: then the answer goes to `abandon`.
    Pending {
        waiter: *const CoroInner,
        /// The waiter is parked (else it is still running).
        parked: bool,
        keep: K,
    },
    Done {
        res: R,
        keep: K,
    },
}

struct Slot<K, R> {
    generation: u32,
    state: State<K, R>,
}

pub(crate) struct Slots<K, R> {
    table: RefCell<Vec<Slot<K, R>>>,
    free: RefCell<Vec<u32>>,
    /// Slots not free: operations in flight, or answered and not yet taken.
    pending: Cell<u32>,
    /// Disposes of an answer whose waiter left.
    abandon: fn(R, K),
}

impl<K, R> Slots<K, R> {
    pub(crate) fn new(abandon: fn(R, K)) -> Slots<K, R> {
        Slots {
            table: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            pending: Cell::new(0),
            abandon,
        }
    }

    /// Operations in flight, or answered and not yet taken.
    #[inline]
    pub(crate) fn pending(&self) -> u32 {
        self.pending.get()
    }

    /// A pending slot for an operation of `waiter` that keeps `keep`.
    pub(crate) fn alloc(&self, keep: K, waiter: *const CoroInner) -> Key {
        let mut table = self.table.borrow_mut();
        let idx = self.free.borrow_mut().pop().unwrap_or_else(|| {
            table.push(Slot {
                generation: 0,
                state: State::Free,
            });
            u32::try_from(table.len() - 1).expect("fewer than 2^32 operations in flight")
        });
        let slot = &mut table[idx as usize];
        slot.state = State::Pending {
            waiter,
            parked: false,
            keep,
        };
        self.pending.set(self.pending.get() + 1);
        (idx, slot.generation)
    }

    /// Runs `f` on what the pending slot `key` keeps (to point an operation
    /// into it).
    #[cfg_attr(
        not(any(feature = "io-uring", test)),
        expect(dead_code, reason = "used by the io_uring rings only")
    )]
    pub(crate) fn with_keep<T>(&self, key: Key, f: impl FnOnce(&mut K) -> T) -> T {
        let mut table = self.table.borrow_mut();
        let State::Pending { keep, .. } = &mut table[key.0 as usize].state else {
            unreachable!("a fresh slot is pending");
        };
        f(keep)
    }

    /// Frees slot `idx`, returning its state.
    pub(crate) fn release(&self, idx: u32) -> State<K, R> {
        let mut table = self.table.borrow_mut();
        let slot = &mut table[idx as usize];
        slot.generation = slot.generation.wrapping_add(1);
        self.free.borrow_mut().push(idx);
        self.pending.set(self.pending.get().saturating_sub(1));
        std::mem::replace(&mut slot.state, State::Free)
    }

    /// Records the answer `res` for `key`: readies its parked waiter, or,
    /// if the waiter left, frees the slot and hands the answer to
    /// `abandon`. An answer for a slot since reused, or already answered
    /// (see [`fail`](Self::fail)), is ignored.
    pub(crate) fn answer(&self, s: &Scheduler, key: Key, res: R) {
        let abandoned = {
            let mut table = self.table.borrow_mut();
            let Some(slot) = table.get_mut(key.0 as usize) else {
                return;
            };
            if slot.generation != key.1 {
                return;
            }
            match std::mem::replace(&mut slot.state, State::Free) {
                State::Pending { waiter, keep, .. } if waiter.is_null() => Some((res, keep)),
                State::Pending {
                    waiter,
                    parked,
                    keep,
                } => {
                    slot.state = State::Done { res, keep };
                    if parked {
                        // SAFETY: a non-null, parked waiter is parked in
                        // `wait` for this slot; it nulls the pointer before
                        // it leaves (see `Leave`).
                        s.ready(unsafe { &*waiter });
                    }
                    None
                }
                other => {
                    slot.state = other;
                    None
                }
            }
        };
        if let Some((res, keep)) = abandoned {
            self.release(key.0);
            (self.abandon)(res, keep);
        }
    }

    /// Ends the pending operation `key` with `res` without its answer (the
    /// kernel refused it for good, but may still take it): what the slot
    /// kept is returned, for the caller to leak, and `keep` takes its
    /// place. A slot whose waiter left is retired, never reused, like its
    /// memory. `None` if `key` is not pending.
    #[cfg_attr(
        not(any(feature = "io-uring", test)),
        expect(dead_code, reason = "used by the io_uring rings only")
    )]
    pub(crate) fn fail(&self, s: &Scheduler, key: Key, res: R, keep: K) -> Option<K> {
        let mut table = self.table.borrow_mut();
        let slot = &mut table[key.0 as usize];
        if slot.generation != key.1 {
            return None;
        }
        let (waiter, parked, kept) = match std::mem::replace(&mut slot.state, State::Free) {
            State::Pending {
                waiter,
                parked,
                keep,
            } => (waiter, parked, keep),
            other => {
                slot.state = other;
                return None;
            }
        };
        if waiter.is_null() {
            // Out of use: not on the free list.
            slot.generation = slot.generation.wrapping_add(1);
            self.pending.set(self.pending.get().saturating_sub(1));
            return Some(kept);
        }
        slot.state = State::Done { res, keep };
        if parked {
            // SAFETY: as in `answer`.
            s.ready(unsafe { &*waiter });
        }
        Some(kept)
    }

    /// Parks the current coro, `me`, until `key` is answered; frees the
    /// slot and returns the answer with what the slot kept. Should the coro
    /// unwind meanwhile, the slot stays behind (see the module docs).
    #[track_caller]
    pub(crate) fn wait(&self, s: &'static Scheduler, key: Key) -> (R, K) {
        let loc = Location::caller();
        let leave = Leave { slots: self, key };
        let _counted = IoWaiting::enter(s);
        let mut switched = false;
        loop {
            {
                let mut table = self.table.borrow_mut();
                match &mut table[key.0 as usize].state {
                    State::Done { .. } => break,
                    State::Pending { parked, .. } => *parked = true,
                    State::Free => unreachable!("slot freed under its waiter"),
                }
            }
            crate::sched::count_syscall_park(s);
            s.park_on(loc, What::File);
            switched = true;
            if let State::Pending { parked, .. } =
                &mut self.table.borrow_mut()[key.0 as usize].state
            {
                // Readied by something else: running again.
                *parked = false;
            }
        }
        if !switched {
            // Answered at once (a cached open completes in its submit):
            // counted as a switch, ceding when a look around is due (see
            // `count_quick_call`). An interrupt raised there leaves through
            // `leave`, which disposes of the answer.
            crate::sched::count_quick_call(s);
        }
        std::mem::forget(leave);
        match self.release(key.0) {
            State::Done { res, keep } => (res, keep),
            _ => unreachable!("checked above"),
        }
    }

    /// Every slot in flight, emptied: what each keeps (for a ring that ends
    /// while the kernel may still write into that memory).
    #[cfg_attr(
        not(any(feature = "io-uring", test)),
        expect(dead_code, reason = "used by the io_uring rings only")
    )]
    pub(crate) fn drain_pending(&mut self) -> impl Iterator<Item = K> + '_ {
        self.table
            .get_mut()
            .drain(..)
            .filter_map(|slot| match slot.state {
                State::Pending { keep, .. } => Some(keep),
                _ => None,
            })
    }
}

/// A waiter unwinding while its operation is in flight: the slot stays
/// until the answer comes; an answer that came already is abandoned.
struct Leave<'a, K, R> {
    slots: &'a Slots<K, R>,
    key: Key,
}

impl<K, R> Drop for Leave<'_, K, R> {
    fn drop(&mut self) {
        let answered = {
            let mut table = self.slots.table.borrow_mut();
            let slot = &mut table[self.key.0 as usize];
            if slot.generation != self.key.1 {
                return;
            }
            match &mut slot.state {
                State::Pending { waiter, .. } => {
                    *waiter = std::ptr::null();
                    false
                }
                State::Done { .. } => true,
                State::Free => false,
            }
        };
        if answered && let State::Done { res, keep } = self.slots.release(self.key.0) {
            (self.slots.abandon)(res, keep);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;
    use crate::sched::sched;

    type Table = Rc<Slots<&'static str, i32>>;

    thread_local! {
        static ABANDONED: RefCell<Vec<(i32, &'static str)>> = const { RefCell::new(Vec::new()) };
    }

    fn note(res: i32, keep: &'static str) {
        ABANDONED.with(|a| a.borrow_mut().push((res, keep)));
    }

    /// The answers given to `abandon` since the last call.
    fn abandoned() -> Vec<(i32, &'static str)> {
        ABANDONED.with(RefCell::take)
    }

    fn table() -> Table {
        Rc::new(Slots::new(note))
    }

    /// A coro parked in `wait` on a new slot that keeps `keep`.
    fn waiter(t: &Table, keep: &'static str) -> (Key, crate::JoinHandle<(i32, &'static str)>) {
        let key = Rc::new(Cell::new(None));
        let h = crate::spawn({
            let (t, key) = (t.clone(), key.clone());
            move || {
                let (s, me) = crate::sched::enter_blocking();
                let k = t.alloc(keep, me);
                key.set(Some(k));
                t.wait(s, k)
            }
        });
        crate::cede();
        (key.get().expect("the waiter ran"), h)
    }

    #[test]
    fn an_answer_wakes_its_waiter_and_frees_the_slot() {
        let t = table();
        let (key, h) = waiter(&t, "buf");
        assert_eq!(t.pending(), 1);
        assert_eq!(t.with_keep(key, |keep| *keep), "buf");
        t.answer(sched(), key, 7);
        assert_eq!(h.join().unwrap(), (7, "buf"));
        assert_eq!(t.pending(), 0);
        assert!(abandoned().is_empty());
    }

    #[test]
    fn an_answer_for_an_earlier_tenant_is_ignored() {
        let t = table();
        let (old, h) = waiter(&t, "a");
        t.answer(sched(), old, 1);
        assert_eq!(h.join().unwrap(), (1, "a"));
        let (new, h) = waiter(&t, "b");
        assert_eq!(new.0, old.0, "the slot is reused");
        assert_ne!(new.1, old.1, "in a new generation");
        t.answer(sched(), old, 99);
        t.answer(sched(), (old.0 + 100, 0), 99);
        assert_eq!(t.pending(), 1);
        t.answer(sched(), new, 2);
        assert_eq!(h.join().unwrap(), (2, "b"));
        assert!(abandoned().is_empty());
    }

    #[test]
    fn a_cancelled_waiter_leaves_its_slot_until_the_answer() {
        let t = table();
        let (key, h) = waiter(&t, "kept");
        h.cancel();
        assert_eq!(t.pending(), 1, "the slot outlives its waiter");
        assert!(abandoned().is_empty());
        t.answer(sched(), key, 5);
        assert_eq!(abandoned(), [(5, "kept")]);
        assert_eq!(t.pending(), 0);
        t.answer(sched(), key, 6);
        assert!(abandoned().is_empty(), "a second answer is ignored");
    }

    #[test]
    fn an_answer_its_waiter_never_took_is_abandoned_when_it_unwinds() {
        let t = table();
        let (key, h) = waiter(&t, "x");
        t.answer(sched(), key, 3);
        h.cancel();
        assert_eq!(abandoned(), [(3, "x")]);
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn a_failed_operation_ends_its_waiter_and_hands_back_what_it_kept() {
        let t = table();
        let (key, h) = waiter(&t, "lent");
        assert_eq!(t.fail(sched(), key, -5, "empty"), Some("lent"));
        t.answer(sched(), key, 8);
        assert_eq!(
            h.join().unwrap(),
            (-5, "empty"),
            "a late answer changes nothing"
        );
        assert_eq!(t.fail(sched(), key, -5, "again"), None);
        assert!(abandoned().is_empty());
    }

    #[test]
    fn a_failed_operation_whose_waiter_left_retires_its_slot() {
        let t = table();
        let (key, h) = waiter(&t, "lent");
        h.cancel();
        assert_eq!(t.fail(sched(), key, -5, "empty"), Some("lent"));
        assert_eq!(t.pending(), 0);
        t.answer(sched(), key, 1);
        assert!(abandoned().is_empty(), "its late answer is ignored");
        let (next, h) = waiter(&t, "next");
        assert_ne!(next.0, key.0, "a retired slot is never reused");
        t.answer(sched(), next, 2);
        assert_eq!(h.join().unwrap(), (2, "next"));
    }

    #[test]
    fn an_ending_table_gives_up_what_its_operations_in_flight_keep() {
        let mut t = table();
        let (done, h) = waiter(&t, "done");
        t.answer(sched(), done, 0);
        h.join().unwrap();
        let (_, h) = waiter(&t, "in flight");
        h.cancel();
        let t = Rc::get_mut(&mut t).expect("the waiters are gone");
        assert_eq!(t.drain_pending().collect::<Vec<_>>(), ["in flight"]);
    }
}
