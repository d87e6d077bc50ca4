//! The ready queue: one FIFO [`List`] per priority and a bitmask of the
//! non-empty ones, so picking the next coro is a bit scan and a pop.
//!
//! # Invariants
//! - A coro is linked into at most one level, the one of its priority at
//!   the time it was pushed, exactly when its `QUEUED` flag is set.
//! - Every linked coro is alive: the scheduler owns every coro that is not
//!   done, and a coro is unlinked before it is marked done.
//! - Bit `l` of `mask` is set exactly when level `l` is non-empty.

use std::cell::Cell;

use super::inner::CoroInner;
use super::list::{Links, List};

/// Number of priority levels (`PRIO_MIN..=PRIO_MAX`).
pub(crate) const LEVELS: usize = 8;

#[derive(Debug)]
pub(crate) struct ReadyQueue {
    levels: [List; LEVELS],
    mask: Cell<u8>,
    len: Cell<usize>,
}

impl ReadyQueue {
    pub(crate) fn new() -> Self {
        ReadyQueue {
            levels: [const { List::new() }; LEVELS],
            mask: Cell::new(0),
            len: Cell::new(0),
        }
    }

    /// Initialises the levels. Must be called once the queue is at its
    /// final address.
    pub(crate) fn init(&self) {
        for l in &self.levels {
            l.init();
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
        self.levels[level].push_back(&c.q);
        self.mask.set(self.mask.get() | (1 << level));
        self.len.set(self.len.get() + 1);
    }

    /// Unlinks and returns the head of the highest non-empty level.
    #[inline]
    pub(crate) fn pop(&self) -> Option<&CoroInner> {
        let mask = self.mask.get();
        if mask == 0 {
            return None;
        }
        let level = 7 - mask.leading_zeros() as usize;
        let list = &self.levels[level];
        let first = list.pop_front();
        if list.is_empty() {
            self.mask.set(mask & !(1 << level));
        }
        self.len.set(self.len.get() - 1);
        // SAFETY: linked coros are alive (see the invariants).
        Some(unsafe { coro_of(first) })
    }

    /// When the level of `c` (not linked) is the highest non-empty one:
    /// appends `c` to it and unlinks and returns its head, as `push_back`
    /// then `pop` would, in one step that leaves the mask and the count as
    /// they were. Otherwise changes nothing and returns `None`.
    #[inline]
    pub(crate) fn rotate(&self, c: &CoroInner) -> Option<&CoroInner> {
        let level = c.level() as usize & (LEVELS - 1);
        if self.mask.get() >> level != 1 {
            return None;
        }
        let first = self.levels[level].rotate(&c.q);
        // SAFETY: `first` was linked, so its coro is alive (see the
        // invariants).
        Some(unsafe { coro_of(first) })
    }

    /// Unlinks `c`, which must be linked.
    #[inline]
    pub(crate) fn remove(&self, c: &CoroInner) {
        let level = c.level() as usize & (LEVELS - 1);
        let list = &self.levels[level];
        list.remove(&c.q);
        if list.is_empty() {
            self.mask.set(self.mask.get() & !(1 << level));
        }
        self.len.set(self.len.get() - 1);
    }
}

/// The coro whose ready-queue links `l` are.
///
/// # Safety
/// `l` must be the `q` links of a live coro.
#[inline(always)]
unsafe fn coro_of<'a>(l: *const Links) -> &'a CoroInner {
    let c = CoroInner::from_q(l);
    // SAFETY: the caller guarantees `c` is a live coro, so not null
    // (telling the compiler so spares callers a null test on the result).
    unsafe {
        std::hint::assert_unchecked(!c.is_null());
        &*c
    }
}
