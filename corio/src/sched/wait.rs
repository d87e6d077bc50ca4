//! Wait lists: intrusive FIFO lists of what waits for something — coros
//! blocked in a call, or callbacks registered to run instead (Perl's
//! `$sem->wait(\&cb)`).
//!
//! A blocking call puts a [`WaitNode`] on its own stack, pins it, links it
//! into the list of the thing it waits for, and parks. Whoever wakes it
//! unlinks the node, marks it woken and readies its coro. If the waiter
//! leaves early (cancelled, thrown at, timed out), dropping the node
//! unlinks it, so a wait list never holds a coro that stopped waiting.
//! Nothing is allocated, except for callback nodes, which the list owns.
//!
//! # Invariants
//! - A node is linked into at most one list, and `node.list` points to it
//!   exactly while it is linked.
//! - A linked coro node is pinned and alive: it is only linked through
//!   `Pin<&WaitNode>`, and its `Drop` unlinks it before its memory goes.
//! - A callback node is the `node` of a leaked `Box<CallbackNode>` owned
//!   by its list (its `coro` is null): freed when popped or when the list
//!   is dropped.
//! - A list that is dropped with nodes still linked unlinks them first, so
//!   no node ever points at a dead list.
//! - The coro of a linked node is alive: it is parked in the frame that
//!   owns the node.

use std::cell::Cell;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::ptr;

use super::inner::CoroInner;

/// One waiter's entry in a [`WaitList`].
#[repr(C)]
pub(crate) struct WaitNode {
    /// The waiting coro; null for a callback node.
    coro: *const CoroInner,
    next: Cell<*const WaitNode>,
    prev: Cell<*const WaitNode>,
    list: Cell<*const WaitList>,
    woken: Cell<bool>,
    /// A small value for the primitive's own use (reader or writer, ...).
    pub(crate) tag: Cell<u8>,
    _pinned: PhantomPinned,
}

/// A callback waiter: a node with nobody parked behind it. `repr(C)` with
/// the node first, so a node with a null coro is one of these.
#[repr(C)]
struct CallbackNode {
    node: WaitNode,
    callback: Box<dyn FnOnce()>,
}

impl std::fmt::Debug for WaitNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitNode")
            .field("linked", &self.is_linked())
            .field("woken", &self.woken.get())
            .finish_non_exhaustive()
    }
}

impl WaitNode {
    /// A node for `coro`, not linked anywhere.
    #[inline]
    pub(crate) fn new(coro: &CoroInner) -> Self {
        Self::with_tag(coro, 0)
    }

    /// A node for `coro` carrying `tag`.
    #[inline]
    pub(crate) fn with_tag(coro: *const CoroInner, tag: u8) -> Self {
        WaitNode {
            coro,
            next: Cell::new(ptr::null()),
            prev: Cell::new(ptr::null()),
            list: Cell::new(ptr::null()),
            woken: Cell::new(false),
            tag: Cell::new(tag),
            _pinned: PhantomPinned,
        }
    }

    /// Whether the node is in a list.
    #[inline]
    pub(crate) fn is_linked(&self) -> bool {
        !self.list.get().is_null()
    }

    /// The waiting coro of a coro node.
    #[inline]
    pub(crate) fn coro(&self) -> &CoroInner {
        debug_assert!(!self.coro.is_null());
        // SAFETY: the coro owning a node outlives it (module invariant).
        unsafe { &*self.coro }
    }

    /// Whether a waker took this node off its list (as opposed to the
    /// waiter leaving by itself). Cleared when it is linked again.
    #[inline]
    pub(crate) fn is_woken(&self) -> bool {
        self.woken.get()
    }
}

impl Drop for WaitNode {
    #[inline]
    fn drop(&mut self) {
        let list = self.list.get();
        if !list.is_null() {
            // SAFETY: a linked node's list is alive (module invariant).
            unsafe { (*list).unlink(self) };
        }
    }
}

/// What [`WaitList::pop_front`] took off the list. Two words, so it comes
/// back in registers.
pub(crate) enum Waiter<'a> {
    /// A coro (now marked woken); the caller readies it.
    Coro(&'a CoroInner),
    /// A callback; the caller calls it.
    Callback(Callback),
}

/// A callback taken off a wait list (a thin owning pointer).
pub(crate) struct Callback(Box<CallbackNode>);

impl Callback {
    /// Calls the callback, consuming it.
    pub(crate) fn call(self) {
        let CallbackNode { callback, .. } = *self.0;
        callback();
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

    /// Number of coros waiting (callbacks not counted). Walks the list.
    pub(crate) fn coros(&self) -> usize {
        let mut n = 0;
        self.for_each_node(|node| n += usize::from(!node.coro.is_null()));
        n
    }

    /// Links `node` at the tail. A node that is already linked (to this
    /// list) keeps its place: that is what a spuriously woken waiter that
    /// waits again needs.
    #[inline]
    pub(crate) fn push_back(&self, node: Pin<&WaitNode>) {
        let node = node.get_ref();
        if node.is_linked() {
            debug_assert!(ptr::eq(node.list.get(), self));
            return;
        }
        node.woken.set(false);
        self.link_back(node);
    }

    /// Registers `f` to be called in turn (the list owns it until then).
    pub(crate) fn push_callback(&self, f: Box<dyn FnOnce()>) {
        let cb: &CallbackNode = Box::leak(Box::new(CallbackNode {
            node: WaitNode::with_tag(ptr::null(), 0),
            callback: f,
        }));
        self.link_back(&cb.node);
    }

    #[inline]
    fn link_back(&self, node: &WaitNode) {
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

    /// Takes the head off the list: a coro (marked woken) or a callback.
    #[inline]
    pub(crate) fn pop_front(&self) -> Option<Waiter<'_>> {
        let head = self.head.get();
        if head.is_null() {
            return None;
        }
        // SAFETY: linked nodes are alive.
        Some(unsafe { self.take(&*head) })
    }

    /// Takes the tail off the list (see [`pop_front`](Self::pop_front)).
    pub(crate) fn pop_back(&self) -> Option<Waiter<'_>> {
        let tail = self.tail.get();
        if tail.is_null() {
            return None;
        }
        // SAFETY: linked nodes are alive.
        Some(unsafe { self.take(&*tail) })
    }

    /// Takes the head coro node off the list and marks it woken; for lists
    /// that hold no callbacks, whose owner wants the node itself.
    #[inline]
    pub(crate) fn pop_front_node(&self) -> Option<&WaitNode> {
        let head = self.head.get();
        if head.is_null() {
            return None;
        }
        // SAFETY: linked nodes are alive; a coro node stays alive until its
        // coro runs again, after the caller's borrow ends.
        let node = unsafe { &*head };
        debug_assert!(
            !node.coro.is_null(),
            "pop_front_node on a list with callbacks"
        );
        self.unlink(node);
        node.woken.set(true);
        Some(node)
    }

    /// Unlinks `node` if it is linked here (a waiter leaving by itself).
    #[inline]
    pub(crate) fn remove(&self, node: &WaitNode) {
        if ptr::eq(node.list.get(), self) {
            self.unlink(node);
        }
    }

    /// The head node, if any, without taking it.
    pub(crate) fn front(&self) -> Option<&WaitNode> {
        // SAFETY: linked nodes are alive.
        unsafe { self.head.get().as_ref() }
    }

    /// Unlinks `node` and returns what it stood for.
    ///
    /// # Safety
    /// `node` must be linked in this list.
    #[inline]
    unsafe fn take(&self, node: &WaitNode) -> Waiter<'_> {
        self.unlink(node);
        if node.coro.is_null() {
            // SAFETY: a node with a null coro is the first field of a leaked
            // `Box<CallbackNode>` owned by this list (module invariant), now
            // unlinked: take the box back.
            let cb = unsafe { Box::from_raw(node as *const WaitNode as *mut CallbackNode) };
            Waiter::Callback(Callback(cb))
        } else {
            node.woken.set(true);
            // SAFETY: the coro of a node outlives it, and the node stays
            // alive until its coro runs again, after this borrow ends.
            Waiter::Coro(unsafe { &*node.coro })
        }
    }

    fn for_each_node(&self, mut f: impl FnMut(&WaitNode)) {
        let mut p = self.head.get();
        while !p.is_null() {
            // SAFETY: linked nodes are alive; `f` gets no access to the list.
            let node = unsafe { &*p };
            f(node);
            p = node.next.get();
        }
    }

    #[inline]
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
        // `next` and `prev` are stale from here on; only `list` says
        // whether the node is linked, and linking sets them afresh.
        node.list.set(ptr::null());
    }
}

impl Drop for WaitList {
    fn drop(&mut self) {
        while !self.head.get().is_null() {
            // SAFETY: linked nodes are alive.
            let node = unsafe { &*self.head.get() };
            if node.coro.is_null() {
                // SAFETY: linked; dropping the callback uncalled.
                drop(unsafe { self.take(node) });
            } else {
                self.unlink(node);
            }
        }
    }
}
