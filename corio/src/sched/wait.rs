//! Wait lists: intrusive FIFO lists of coros blocked on something.
//!
//! A blocking call puts a [`WaitNode`] on its own stack, pins it, links it
//! into the list of the thing it waits for, and parks. Whoever wakes it
//! unlinks the node, marks it woken and readies its coro. If the waiter
//! leaves early (cancelled, thrown at, timed out), dropping the node
//! unlinks it, so a wait list never holds a coro that stopped waiting.
//! Nothing is allocated.
//!
//! # Invariants
//! - A node is linked into at most one list, and `node.list` points to it
//!   exactly while it is linked.
//! - A linked node is pinned and alive: it is only linked through
//!   `Pin<&WaitNode>`, and its `Drop` unlinks it before its memory goes.
//! - A list that is dropped with nodes still linked unlinks them first, so
//!   no node ever points at a dead list.
//! - The coro of a linked node is alive: it is parked in the frame that
//!   owns the node.

use std::cell::Cell;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::ptr;

use super::inner::CoroInner;

/// One waiting coro's entry in a [`WaitList`].
#[derive(Debug)]
pub(crate) struct WaitNode {
    coro: *const CoroInner,
    next: Cell<*const WaitNode>,
    prev: Cell<*const WaitNode>,
    list: Cell<*const WaitList>,
    woken: Cell<bool>,
    _pinned: PhantomPinned,
}

impl WaitNode {
    /// A node for `coro`, not linked anywhere.
    pub(crate) fn new(coro: &CoroInner) -> Self {
        WaitNode {
            coro,
            next: Cell::new(ptr::null()),
            prev: Cell::new(ptr::null()),
            list: Cell::new(ptr::null()),
            woken: Cell::new(false),
            _pinned: PhantomPinned,
        }
    }

    /// Whether the node is in a list.
    #[inline]
    pub(crate) fn is_linked(&self) -> bool {
        !self.list.get().is_null()
    }
}

impl Drop for WaitNode {
    fn drop(&mut self) {
        let list = self.list.get();
        if !list.is_null() {
            // SAFETY: a linked node's list is alive (module invariant).
            unsafe { (*list).unlink(self) };
        }
    }
}

/// An intrusive list of [`WaitNode`]s.
#[derive(Debug)]
pub(crate) struct WaitList {
    head: Cell<*const WaitNode>,
    tail: Cell<*const WaitNode>,
}

impl WaitList {
    pub(crate) const fn new() -> Self {
        WaitList {
            head: Cell::new(ptr::null()),
            tail: Cell::new(ptr::null()),
        }
    }

    /// Whether no node is linked.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.get().is_null()
    }

    /// Links `node` at the tail. A node that is already linked (to this
    /// list) keeps its place: that is what a spuriously woken waiter that
    /// waits again needs.
    pub(crate) fn push_back(&self, node: Pin<&WaitNode>) {
        let node = node.get_ref();
        if node.is_linked() {
            debug_assert!(ptr::eq(node.list.get(), self));
            return;
        }
        node.woken.set(false);
        let tail = self.tail.get();
        node.prev.set(tail);
        node.next.set(ptr::null());
        if tail.is_null() {
            self.head.set(node);
        } else {
            // SAFETY: linked nodes are alive (module invariant).
            unsafe { (*tail).next.set(node) };
        }
        self.tail.set(node);
        node.list.set(self);
    }

    /// Unlinks the tail, marks it woken, and returns its coro.
    pub(crate) fn pop_back(&self) -> Option<&CoroInner> {
        let tail = self.tail.get();
        if tail.is_null() {
            return None;
        }
        // SAFETY: linked nodes are alive.
        let node = unsafe { &*tail };
        self.unlink(node);
        node.woken.set(true);
        // SAFETY: as in `pop_front`.
        Some(unsafe { &*node.coro })
    }

    fn unlink(&self, node: &WaitNode) {
        debug_assert!(ptr::eq(node.list.get(), self));
        let next = node.next.get();
        let prev = node.prev.get();
        if prev.is_null() {
            self.head.set(next);
        } else {
            // SAFETY: linked nodes are alive.
            unsafe { (*prev).next.set(next) };
        }
        if next.is_null() {
            self.tail.set(prev);
        } else {
            // SAFETY: linked nodes are alive.
            unsafe { (*next).prev.set(prev) };
        }
        node.next.set(ptr::null());
        node.prev.set(ptr::null());
        node.list.set(ptr::null());
    }
}

impl Drop for WaitList {
    fn drop(&mut self) {
        while !self.head.get().is_null() {
            // SAFETY: linked nodes are alive.
            let node = unsafe { &*self.head.get() };
            self.unlink(node);
        }
    }
}
