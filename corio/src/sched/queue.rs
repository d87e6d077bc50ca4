//! The ready queue: eight intrusive FIFO lists, one per priority, and a
//! bitmask of the non-empty ones.
//!
//! # Invariants
//! - A coro is linked into at most one level, the one of its priority at
//!   the time it was pushed, exactly when its `QUEUED` flag is set.
//! - `q_next`/`q_prev` of a coro are meaningful only while it is linked.
//! - Every linked coro is alive: the scheduler owns every coro that is not
//!   done, and a coro is unlinked before it is marked done.
//! - Bit `l` of `mask` is set exactly when level `l` is non-empty.

use std::cell::Cell;
use std::ptr;

use super::inner::CoroInner;

/// Number of priority levels (`PRIO_MIN..=PRIO_MAX`).
pub(crate) const LEVELS: usize = 8;

#[derive(Debug)]
pub(crate) struct ReadyQueue {
    heads: [Cell<*const CoroInner>; LEVELS],
    tails: [Cell<*const CoroInner>; LEVELS],
    mask: Cell<u8>,
    len: Cell<usize>,
}

impl ReadyQueue {
    pub(crate) fn new() -> Self {
        ReadyQueue {
            heads: [const { Cell::new(ptr::null()) }; LEVELS],
            tails: [const { Cell::new(ptr::null()) }; LEVELS],
            mask: Cell::new(0),
            len: Cell::new(0),
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
        let level = c.level() as usize;
        let tail = self.tails[level].get();
        c.q_next.set(ptr::null());
        c.q_prev.set(tail);
        if tail.is_null() {
            self.heads[level].set(c);
        } else {
            // SAFETY: linked coros are alive (module invariant).
            unsafe { (*tail).q_next.set(c) };
        }
        self.tails[level].set(c);
        self.mask.set(self.mask.get() | (1 << level));
        self.len.set(self.len.get() + 1);
    }

    /// Unlinks and returns the head of the highest non-empty level.
    #[inline]
    pub(crate) fn pop(&self) -> *const CoroInner {
        let mask = self.mask.get();
        if mask == 0 {
            return ptr::null();
        }
        let level = 7 - mask.leading_zeros() as usize;
        let c = self.heads[level].get();
        // SAFETY: a set bit means a non-empty level; linked coros are alive.
        self.unlink_at(unsafe { &*c }, level);
        c
    }

    /// Unlinks `c`, which must be linked.
    #[inline]
    pub(crate) fn remove(&self, c: &CoroInner) {
        self.unlink_at(c, c.level() as usize);
    }

    #[inline]
    fn unlink_at(&self, c: &CoroInner, level: usize) {
        let next = c.q_next.get();
        let prev = c.q_prev.get();
        if prev.is_null() {
            self.heads[level].set(next);
        } else {
            // SAFETY: linked coros are alive.
            unsafe { (*prev).q_next.set(next) };
        }
        if next.is_null() {
            self.tails[level].set(prev);
        } else {
            // SAFETY: linked coros are alive.
            unsafe { (*next).q_prev.set(prev) };
        }
        if self.heads[level].get().is_null() {
            self.mask.set(self.mask.get() & !(1 << level));
        }
        // The links of an unlinked coro are left stale on purpose: its
        // QUEUED flag says they mean nothing, and clearing them here (the
        // compiler merges the two stores into one 16-byte store) stalls the
        // 8-byte loads and stores that soon follow on the same words.
        self.len.set(self.len.get() - 1);
    }
}
