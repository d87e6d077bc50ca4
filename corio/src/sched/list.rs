//! Intrusive circular doubly linked lists with a sentinel: O(1) push,
//! pop and removal, no allocation, no null checks on the hot path.
//!
//! A coro is in up to two lists at once, through two [`Links`] fields of
//! its control block: the ready queue (`q`) and the scheduler's list of
//! live coros (`a`). The list hands back `&Links`; the caller turns it into
//! the coro it is embedded in.
//!
//! # Invariants
//! - A list's sentinel points to itself exactly when the list is empty.
//! - The links of a node are meaningful only while it is linked; unlinking
//!   leaves them stale on purpose (clearing them costs a store-forwarding
//!   stall on the next push: the compiler merges the two stores into one
//!   16-byte store that the following 8-byte accesses cannot forward from).
//! - Every linked node is alive (the owners of the lists guarantee it).
//! - A list does not move after [`List::init`] (lists live in the leaked
//!   scheduler), so the sentinel's self-pointers stay valid.

use std::cell::Cell;
use std::ptr;

/// The links of a node.
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

    /// The node after this one (the sentinel after the last).
    #[inline]
    pub(crate) fn next(&self) -> *const Links {
        self.next.get()
    }
}

/// A list: just its sentinel.
#[derive(Debug)]
pub(crate) struct List {
    sentinel: Links,
}

impl List {
    pub(crate) const fn new() -> List {
        List {
            sentinel: Links::new(),
        }
    }

    /// Points the sentinel at itself. Call once the list is at its final
    /// address.
    pub(crate) fn init(&self) {
        self.sentinel.next.set(&self.sentinel);
        self.sentinel.prev.set(&self.sentinel);
    }

    /// Whether `l` is this list's sentinel (the end of an iteration).
    #[inline]
    pub(crate) fn is_end(&self, l: *const Links) -> bool {
        ptr::eq(l, &self.sentinel)
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.is_end(self.sentinel.next.get())
    }

    /// The first node, or the sentinel when empty.
    #[inline]
    pub(crate) fn first(&self) -> *const Links {
        self.sentinel.next.get()
    }

    /// Appends `node`, which must not be linked.
    #[inline]
    pub(crate) fn push_back(&self, node: &Links) {
        let tail = self.sentinel.prev.get();
        node.next.set(&self.sentinel);
        node.prev.set(tail);
        // SAFETY: `tail` is the sentinel or a linked node: alive.
        unsafe { (*tail).next.set(node) };
        self.sentinel.prev.set(node);
    }

    /// Unlinks and returns the first node; the list must not be empty.
    #[inline]
    pub(crate) fn pop_front(&self) -> *const Links {
        let first = self.sentinel.next.get();
        debug_assert!(!self.is_end(first));
        // SAFETY: a non-empty list's first node is alive, and so is the
        // node (or sentinel) after it.
        unsafe {
            let next = (*first).next.get();
            self.sentinel.next.set(next);
            (*next).prev.set(&self.sentinel);
        }
        first
    }

    /// Unlinks and returns the first node and appends `node` (not linked):
    /// `pop_front` then `push_back`, one call for the ready queue's
    /// one-step cede; the list must not be empty. When `node` is the only
    /// one linked afterwards, the sentinel and `node` point at each other.
    #[inline]
    pub(crate) fn rotate(&self, node: &Links) -> *const Links {
        let first = self.pop_front();
        self.push_back(node);
        first
    }

    /// Unlinks `node`, which must be linked in this list.
    #[inline]
    pub(crate) fn remove(&self, node: &Links) {
        let (next, prev) = (node.next.get(), node.prev.get());
        // SAFETY: the neighbours of a linked node are alive.
        unsafe {
            (*prev).next.set(next);
            (*next).prev.set(prev);
        }
    }
}
