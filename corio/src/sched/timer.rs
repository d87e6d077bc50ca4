//! The timer heap of a scheduler: one entry per coro waiting for a point
//! in time (a `sleep`, a `_timeout` form, a `timeout`).
//!
//! Arming is O(1) for a deadline no earlier than the last one armed (the
//! common case: sleeps and timeouts of one duration arm in deadline
//! order), which goes to the back of a FIFO *run*; any other deadline goes
//! into a binary min-heap, O(log n). The next timer to fire is the earlier
//! of the run's front and the heap's top. Disarming is O(1): the entry's
//! slot is freed and the queued entry becomes stale, skipped when it
//! reaches the front (both queues are rebuilt when stale entries outnumber
//! live ones, so a stream of timeouts that never fire cannot grow them
//! without bound). Expired entries are
//! fired by the scheduler, when it would otherwise sleep and at least once
//! every 64 switches (see `POLL_EVERY`): firing marks the slot and
//! readies its coro.
//!
//! # Invariants
//! - A slot is either free (not armed, listed in `free`) or armed by
//!   exactly one [`Timer`] guard, which lives in a frame of the coro it
//!   wakes; the guard disarms the slot when dropped, so a slot never names
//!   a coro that stopped waiting. The frame stays that coro's: the calls
//!   that arm a timer either run no user code while it is armed (`sleep`,
//!   the `_timeout` forms) or hold a bind (`timeout`), so no generator can
//!   carry the frame to another coro (see `bind.rs`). A coro abandoned with
//!   a timer armed keeps its control block forever (it is leaked), so the
//!   pointer stays valid; firing it is ignored.
//! - `live` counts armed slots that have not fired.

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use super::inner::CoroInner;

/// What an armed slot does when its deadline passes.
#[derive(Clone, Copy)]
pub(crate) enum Action {
    /// Ready this coro (it checks [`Timer::fired`] when it runs).
    Ready(*const CoroInner),
    /// Interrupt this coro's current blocking call with the timeout of
    /// this id (see `corio::timeout`).
    Interrupt(*const CoroInner, u64),
}

struct Slot {
    /// Incremented each time the slot is armed: a heap entry whose
    /// generation differs is stale.
    generation: u64,
    armed: bool,
    fired: bool,
    action: Action,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry {
    deadline: Instant,
    generation: u64,
    slot: u32,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap, we want the earliest first.
        other
            .deadline
            .cmp(&self.deadline)
            .then_with(|| other.generation.cmp(&self.generation))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The two queues and the slots.
pub(crate) struct Timers {
    heap: RefCell<BinaryHeap<Entry>>,
    /// Entries in deadline order, each armed no earlier than the one
    /// before it.
    run: RefCell<VecDeque<Entry>>,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
    next_gen: Cell<u64>,
    live: Cell<usize>,
}

impl std::fmt::Debug for Timers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timers")
            .field("live", &self.live.get())
            .finish()
    }
}

impl Timers {
    pub(crate) fn new() -> Self {
        Timers {
            heap: RefCell::new(BinaryHeap::new()),
            run: RefCell::new(VecDeque::new()),
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            next_gen: Cell::new(1),
            live: Cell::new(0),
        }
    }

    /// Armed timers that have not fired.
    pub(crate) fn live(&self) -> usize {
        self.live.get()
    }

    /// Arms a timer; the returned guard disarms it when dropped.
    pub(crate) fn arm(&self, deadline: Instant, action: Action) -> Timer<'_> {
        let generation = self.next_gen.get();
        self.next_gen.set(generation + 1);
        let mut slots = self.slots.borrow_mut();
        let slot = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                slots.push(Slot {
                    generation: 0,
                    armed: false,
                    fired: false,
                    action,
                });
                (slots.len() - 1) as u32
            }
        };
        slots[slot as usize] = Slot {
            generation,
            armed: true,
            fired: false,
            action,
        };
        drop(slots);
        let entry = Entry {
            deadline,
            generation,
            slot,
        };
        let mut heap = self.heap.borrow_mut();
        let mut run = self.run.borrow_mut();
        match run.back() {
            Some(last) if deadline < last.deadline => heap.push(entry),
            _ => run.push_back(entry),
        }
        self.live.set(self.live.get() + 1);
        // Stale entries (disarmed before they fired) are skipped lazily;
        // rebuild when they dominate.
        let queued = heap.len() + run.len();
        if queued > 64 && queued > 4 * self.live.get() {
            let slots = self.slots.borrow();
            let current = |e: &Entry| {
                let s = &slots[e.slot as usize];
                s.armed && !s.fired && s.generation == e.generation
            };
            heap.retain(current);
            run.retain(current);
        }
        Timer {
            timers: self,
            slot,
            generation,
        }
    }

    /// The earliest live entry, dropping stale ones before it. With
    /// `due: Some(now)` it is also removed, if its deadline is not after
    /// `now` (and `None` returned otherwise).
    fn first(&self, due: Option<Instant>) -> Option<Entry> {
        let mut heap = self.heap.borrow_mut();
        let mut run = self.run.borrow_mut();
        let slots = self.slots.borrow();
        let current = |e: &Entry| {
            let s = &slots[e.slot as usize];
            s.armed && !s.fired && s.generation == e.generation
        };
        loop {
            // The earlier of the two fronts; on a tie the one armed first.
            let from_run = match (run.front(), heap.peek()) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(r), Some(h)) => (r.deadline, r.generation) <= (h.deadline, h.generation),
            };
            let e = if from_run {
                *run.front().expect("checked")
            } else {
                *heap.peek().expect("checked")
            };
            let live = current(&e);
            if live && due.is_some_and(|now| e.deadline > now) {
                return None;
            }
            if !live || due.is_some() {
                if from_run {
                    run.pop_front();
                } else {
                    heap.pop();
                }
            }
            if live {
                return Some(e);
            }
        }
    }

    /// The earliest deadline of a live timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.first(None).map(|e| e.deadline)
    }

    /// Fires every live timer whose deadline is not after `now`, and
    /// returns what to do for each (the caller readies or interrupts).
    pub(crate) fn expire(&self, now: Instant, mut fire: impl FnMut(Action)) {
        while let Some(e) = self.first(Some(now)) {
            let action = {
                let mut slots = self.slots.borrow_mut();
                let s = &mut slots[e.slot as usize];
                s.fired = true;
                self.live.set(self.live.get() - 1);
                s.action
            };
            fire(action);
        }
    }
}

/// An armed timer; dropping it disarms it.
pub(crate) struct Timer<'a> {
    timers: &'a Timers,
    slot: u32,
    generation: u64,
}

impl Timer<'_> {
    /// Whether the deadline passed (the timer fired).
    pub(crate) fn fired(&self) -> bool {
        let slots = self.timers.slots.borrow();
        let s = &slots[self.slot as usize];
        s.generation == self.generation && s.fired
    }
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        let mut slots = self.timers.slots.borrow_mut();
        let s = &mut slots[self.slot as usize];
        if s.generation == self.generation && s.armed {
            if !s.fired {
                self.timers.live.set(self.timers.live.get() - 1);
            }
            s.armed = false;
            self.timers.free.borrow_mut().push(self.slot);
        }
    }
}
