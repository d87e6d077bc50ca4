//! The ready queue: eight intrusive circular FIFO lists, one per priority,
//! each with a sentinel node, and a bitmask of the non-empty ones.
//!
//! # Invariants
//! - A coro is linked into at most one level, the one of its priority at
//!   the time it was pushed, exactly when its `QUEUED` flag is set.
//! - `CoroInner::q` is meaningful only while the coro is linked; unlinking
//!   leaves it stale on purpose (clearing it costs a store-forwarding
//!   stall on the next push, see `unlink`).
//! - Every linked coro is alive: the scheduler owns every coro that is not
//!   done, and a coro is unlinked before it is marked done.
//! - Each sentinel points to itself when its level is empty, and bit `l`
//!   of `mask` is set exactly when level `l` is non-empty.
//! - The queue does not move after [`ReadyQueue::init`] (it lives in the
//!   leaked scheduler), so the sentinels' self-pointers stay valid.

use std::cell::Cell;
use std::ptr;

use super::inner::CoroInner;

/// Number of priority levels (`PRIO_MIN..=PRIO_MAX`).
pub(crate) const LEVELS: usize = 8;

/// Links of a circular list; the first field of `CoroInner` (`repr(C)`), so
/// a pointer to a coro's links is a pointer to the coro.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Links {
    next: Cell<*const Links>,
    prev: Cell<*const Links>,
}

impl Links {
    pub(crate) const fn new() -> Links {
        Links {
            next: Cell::new(ptr::null()),
            prev: Cell::new(ptr::null()),
        }
    }
}

#[derive(Debug)]
pub(crate) struct ReadyQueue {
    sentinels: [Links; LEVELS],
    mask: Cell<u8>,
    len: Cell<usize>,
}

impl ReadyQueue {
    pub(crate) fn new() -> Self {
        ReadyQueue {
            sentinels: [const { Links::new() }; LEVELS],
            mask: Cell::new(0),
            len: Cell::new(0),
        }
    }

    /// Points every sentinel at itself. Must be called once the queue is
    /// at its final address.
    pub(crate) fn init(&self) {
        for s in &self.sentinels {
            s.next.set(s);
            s.prev.set(s);
        }
    }

    /// Number of linked coros.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.get()
    }

    /// Whether some coro of `level` or higher is linked.
    #[inline]
    pub(crate) fn has_at_least(&self, level: u8) -> bool {
        self.mask.get() >> level != 0
    }

    /// Appends `c` to the tail of its level.
    #[inline]
    pub(crate) fn push_back(&self, c: &CoroInner) {
        let level = c.level() as usize & (LEVELS - 1);
        let s = &self.sentinels[level];
        let tail = s.prev.get();
        c.q.next.set(s);
        c.q.prev.set(tail);
        // SAFETY: `tail` is the sentinel or a linked coro's links, alive
        // (module invariants).
        unsafe { (*tail).next.set(&c.q) };
        s.prev.set(&c.q);
        self.mask.set(self.mask.get() | (1 << level));
        self.len.set(self.len.get() + 1);
    }

    /// Unlinks and returns the head of the highest non-empty level, or null.
    #[inline]
    pub(crate) fn pop(&self) -> *const CoroInner {
        let mask = self.mask.get();
        if mask == 0 {
            return ptr::null();
        }
        let level = 7 - mask.leading_zeros() as usize;
        let s = &self.sentinels[level];
        let first = s.next.get();
        // SAFETY: a set bit means a non-empty level, so `first` is a linked
        // coro's links (alive); its `next` is the sentinel or another one.
        let next = unsafe { (*first).next.get() };
        s.next.set(next);
        // SAFETY: as above.
        unsafe { (*next).prev.set(s) };
        if ptr::eq(next, s) {
            self.mask.set(mask & !(1 << level));
        }
        self.len.set(self.len.get() - 1);
        // `Links` is the first field of the `repr(C)` `CoroInner`.
        first.cast()
    }

    /// Unlinks `c`, which must be linked.
    #[inline]
    pub(crate) fn remove(&self, c: &CoroInner) {
        let level = c.level() as usize & (LEVELS - 1);
        let (next, prev) = (c.q.next.get(), c.q.prev.get());
        // SAFETY: the neighbours of a linked node are alive.
        unsafe {
            (*prev).next.set(next);
            (*next).prev.set(prev);
        }
        let s = &self.sentinels[level];
        if ptr::eq(s.next.get(), s) {
            self.mask.set(self.mask.get() & !(1 << level));
        }
        self.len.set(self.len.get() - 1);
    }
}
