//! The timer heap of a scheduler: one entry per coro waiting for a point
//! in time (a `sleep`, a `_timeout` form, a `timeout`).
//!
//! Arming is O(log n): an entry goes into a binary min-heap keyed by
//! deadline. Disarming is O(1): the entry's slot is freed and the heap
//! entry becomes stale, skipped when it reaches the top (the heap is
//! rebuilt when stale entries outnumber live ones, so a stream of timeouts
//! that never fire cannot grow it without bound). Expired entries are
//! fired by the scheduler, when it would otherwise sleep and at least once
//! every 64 switches: firing marks the slot and readies its coro.
//!
//! # Invariants
//! - A slot is either free (not armed, listed in `free`) or armed by
//!   exactly one [`Timer`] guard, which lives in the frame of the coro it
//!   wakes; the guard disarms the slot when dropped, so a slot never names
//!   a coro that stopped waiting.
//! - `live` counts armed slots that have not fired.

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
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

#[derive(PartialEq, Eq)]
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

/// The heap and its slots.
pub(crate) struct Timers {
    heap: RefCell<BinaryHeap<Entry>>,
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
        let mut heap = self.heap.borrow_mut();
        heap.push(Entry {
            deadline,
            generation,
            slot,
        });
        self.live.set(self.live.get() + 1);
        // Stale entries (disarmed before they fired) are skipped lazily;
        // rebuild when they dominate.
        if heap.len() > 64 && heap.len() > 4 * self.live.get() {
            let slots = self.slots.borrow();
            heap.retain(|e| {
                let s = &slots[e.slot as usize];
                s.armed && !s.fired && s.generation == e.generation
            });
        }
        Timer {
            timers: self,
            slot,
            generation,
        }
    }

    /// The earliest deadline of a live timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let mut heap = self.heap.borrow_mut();
        let slots = self.slots.borrow();
        while let Some(top) = heap.peek() {
            let s = &slots[top.slot as usize];
            if s.armed && !s.fired && s.generation == top.generation {
                return Some(top.deadline);
            }
            heap.pop();
        }
        None
    }

    /// Fires every live timer whose deadline is not after `now`, and
    /// returns what to do for each (the caller readies or interrupts).
    pub(crate) fn expire(&self, now: Instant, mut fire: impl FnMut(Action)) {
        loop {
            let action = {
                let mut heap = self.heap.borrow_mut();
                let Some(top) = heap.peek() else { return };
                if top.deadline > now {
                    return;
                }
                let Entry {
                    generation, slot, ..
                } = heap.pop().expect("peeked");
                let mut slots = self.slots.borrow_mut();
                let s = &mut slots[slot as usize];
                if !(s.armed && !s.fired && s.generation == generation) {
                    continue;
                }
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
