//! `Channel<T>`: Perl's `Coro::Channel`, a FIFO queue between coros.
//!
//! # How waiting works
//!
//! Items live in `buf`. A getter that finds it empty waits in `getters`; a
//! put wakes the longest such getter, which takes an item when it runs (a
//! getter that gets there first may take it; the woken one then waits
//! again, at the back).
//!
//! A put that cannot store its item (the buffer is full, or the channel is
//! a rendezvous) waits in `putters` with the item in a [`PutWaiter`] on its
//! own stack. A getter that frees a place moves the longest putter's item
//! into the buffer and readies that putter, whose `put` then returns; on a
//! rendezvous channel the getter takes the item straight from the putter.
//! So the items of blocked putters are never in `buf`, and `len` does not
//! count them.
//!
//! # Invariants
//! - Every node linked in `putters` is the `node` of a pinned
//!   [`PutWaiter<T>`] (of this channel's `T`) whose `item` is `Some`.
//! - Putters wait only while the buffer is full (`cap > 0`) or always
//!   (`cap == 0`); so a non-empty `putters` with an empty `buf` means a
//!   rendezvous channel.

use std::cell::{Cell, UnsafeCell};
use std::collections::VecDeque;
use std::fmt;
use std::panic::Location;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::race::{self, Claim};
use super::{deadline, enter};
use crate::sched::inner::{CoroInner, What};
use crate::sched::timer::Action;
use crate::sched::wait::{WaitList, WaitNode, Waiter};
use crate::sched::{Scheduler, sched};

/// The value of a [`Channel::put`] on a channel that was shut down.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Closed<T>(pub T);

impl<T> fmt::Debug for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closed(..)")
    }
}

impl<T> fmt::Display for Closed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the channel is shut down")
    }
}

impl<T> std::error::Error for Closed<T> {}

impl<T> Closed<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Why [`Channel::try_put`] did not store its value, which it gives back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// The channel is full (or a rendezvous channel nobody waits on).
    Full(T),
    /// The channel is shut down.
    Closed(T),
}

impl<T> TryPutError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(v) | TryPutError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("the channel is full"),
            TryPutError::Closed(_) => f.write_str("the channel is shut down"),
        }
    }
}

impl<T> std::error::Error for TryPutError<T> {}

/// A FIFO channel between coros (Perl's `Coro::Channel`); a cheap handle,
/// clone it to share.
///
/// - [`Channel::new`] is unbounded: [`put`](Channel::put) never waits.
/// - [`Channel::bounded(n)`](Channel::bounded) buffers `n` items; `put`
///   waits while it is full.
/// - `Channel::bounded(0)` is a rendezvous: `put` returns only after a
///   getter took the item. (Perl's `new Coro::Channel $maxsize` is
///   `bounded(maxsize - 1)`.)
///
/// [`get`](Channel::get) waits while the channel is empty, and returns
/// `None` once it is [shut down](Channel::shutdown) and drained. Getters
/// and putters are served first come first served.
///
/// **Only [`shutdown`](Channel::shutdown) closes a channel.** All clones
/// are equal handles: dropping the ones a producer used does not end a
/// consumer's `get` or `for` loop — it waits for ever (in a program where
/// nothing else could wake it, the deadlock check reports it). Call
/// `shutdown` when the last item is put, or use
/// [`bounded`](super::bounded) / [`unbounded`](super::unbounded), whose
/// [`Sender`](super::Sender) and [`Receiver`](super::Receiver) halves
/// close the channel when the other side is dropped.
///
/// # Examples
///
/// Coro::Intro's squares: a coro squares the numbers it gets.
///
/// ```
/// use corio::sync::Channel;
///
/// let calculate = Channel::new();
/// let result = Channel::new();
/// let (c, r) = (calculate.clone(), result.clone());
/// let _squarer = corio::spawn(move || {
///     for num in &c {
///         r.put(num * num).unwrap();
///     }
/// });
/// for n in [1, 2, 5, 10, 77] {
///     calculate.put(n).unwrap();
///     println!("{n} ** 2 = {}", result.get().unwrap());
/// }
/// ```
pub struct Channel<T> {
    chan: Rc<Chan<T>>,
}

struct Chan<T> {
    /// The items. Only [`Chan::buf`] touches it, and no user code runs
    /// while its borrow lives (items are only moved in and out).
    buf: UnsafeCell<VecDeque<T>>,
    /// How many items `buf` may hold; `usize::MAX` when unbounded.
    cap: usize,
    closed: Cell<bool>,
    getters: WaitList,
    putters: WaitList,
    /// Feature `tracing`: its tokio-console resource, once waited on.
    #[cfg(feature = "tracing")]
    res: crate::spans::Resource,
}

/// A putter waiting with its item. `repr(C)` with the node first: a node
/// popped from `putters` is turned back into its `PutWaiter`.
#[repr(C)]
struct PutWaiter<T> {
    node: WaitNode,
    item: Cell<Option<T>>,
    /// When the putter is a branch of a `select!`: the race a getter must
    /// win for it before taking the item (see [`super::race`]).
    claim: Option<Claim>,
}

impl<T> PutWaiter<T> {
    /// The waiter a node of `putters` belongs to.
    ///
    /// # Safety
    /// `node` must have been linked in the `putters` list of a
    /// `Channel<T>` (module invariant: such nodes are `PutWaiter<T>`s).
    unsafe fn of(node: &WaitNode) -> &PutWaiter<T> {
        // SAFETY: `node` is the first field of a `repr(C)` `PutWaiter<T>`.
        unsafe { &*(node as *const WaitNode as *const PutWaiter<T>) }
    }

    fn node(self: Pin<&Self>) -> Pin<&WaitNode> {
        // SAFETY: structural pinning: the node is never moved out of a
        // pinned `PutWaiter`.
        unsafe { self.map_unchecked(|w| &w.node) }
    }
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            chan: Rc::clone(&self.chan),
        }
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.chan;
        f.debug_struct("Channel")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("shut_down", &c.closed.get())
            .field("getters", &c.getters.coros())
            .field("putters", &c.putters.coros())
            .finish()
    }
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Channel::new()
    }
}

impl<T> Channel<T> {
    fn with_cap(cap: usize) -> Self {
        Channel {
            chan: Rc::new(Chan {
                buf: UnsafeCell::new(VecDeque::new()),
                cap,
                closed: Cell::new(false),
                getters: WaitList::new(),
                putters: WaitList::new(),
                #[cfg(feature = "tracing")]
                res: crate::spans::Resource::new(),
            }),
        }
    }

    /// An unbounded channel: `put` never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::Channel::new();
    /// for i in 0..1000 {
    ///     ch.put(i).unwrap();
    /// }
    /// assert_eq!(ch.len(), 1000);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn new() -> Self {
        Self::with_cap(usize::MAX)
    }

    /// A channel that buffers `n` items; with `n == 0`, a rendezvous.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::Channel::bounded(1);
    /// ch.put("one").unwrap();
    /// assert!(ch.try_put("two").is_err()); // full
    /// assert_eq!(ch.get(), Some("one"));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn bounded(n: usize) -> Self {
        Self::with_cap(n)
    }

    /// How many items the channel buffers (`None`: unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::sync::Channel;
    /// assert_eq!(Channel::<u8>::bounded(3).capacity(), Some(3));
    /// assert_eq!(Channel::<u8>::new().capacity(), None);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn capacity(&self) -> Option<usize> {
        (self.chan.cap != usize::MAX).then_some(self.chan.cap)
    }

    /// Sends `value`, waiting while the channel is full; on a rendezvous
    /// channel, until a getter took it. Gives the value back if the channel
    /// is (or gets, while waiting) shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::Channel::new();
    /// ch.put(1).unwrap();
    /// ch.shutdown();
    /// assert_eq!(ch.put(2).unwrap_err().0, 2);
    /// ```
    ///
    /// # Errors
    /// [`Closed`] with the value when the channel is shut down.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (the value is dropped, not sent); panics with the deadlock
    /// report if no getter can ever come.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the channel is full, and on a
    /// rendezvous channel until a getter took the value.
    #[track_caller]
    #[inline(always)]
    pub fn put(&self, value: T) -> Result<(), Closed<T>> {
        let (s, me) = enter();
        let c = &*self.chan;
        if c.closed.get() {
            return Err(Closed(value));
        }
        if c.cap > 0 {
            // SAFETY: a short borrow; no user code runs.
            let buf = unsafe { c.buf() };
            if buf.len() < c.cap {
                buf.push_back(value);
                c.wake_getter(s);
                return Ok(());
            }
        }
        c.wait_put(s, me, value, Location::caller())
    }

    /// Sends `value` if that needs no wait: the channel has room, or (a
    /// rendezvous) a getter is waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::sync::{Channel, TryPutError};
    /// let ch = Channel::bounded(1);
    /// assert!(ch.try_put(1).is_ok());
    /// assert!(matches!(ch.try_put(2), Err(TryPutError::Full(2))));
    /// ch.shutdown();
    /// assert!(matches!(ch.try_put(3), Err(TryPutError::Closed(3))));
    /// ```
    ///
    /// # Errors
    /// [`TryPutError::Full`] or [`TryPutError::Closed`], with the value.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_put(&self, value: T) -> Result<(), TryPutError<T>> {
        let c = &*self.chan;
        if c.closed.get() {
            return Err(TryPutError::Closed(value));
        }
        // SAFETY: a short borrow; no user code runs.
        let buf = unsafe { c.buf() };
        // A rendezvous hands the item to a waiting getter through the
        // buffer: the getter takes it from there first.
        let room = if c.cap == 0 {
            !c.getters.is_empty() && buf.is_empty()
        } else {
            buf.len() < c.cap
        };
        if !room {
            return Err(TryPutError::Full(value));
        }
        buf.push_back(value);
        c.wake_getter(sched());
        Ok(())
    }

    /// Receives the next item, waiting while the channel is empty; `None`
    /// once it is shut down and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::Channel::new();
    /// let c = ch.clone();
    /// let producer = corio::spawn(move || {
    ///     c.put("hi").unwrap();
    ///     c.shutdown();
    /// });
    /// assert_eq!(ch.get(), Some("hi"));
    /// assert_eq!(ch.get(), None);
    /// producer.join().unwrap();
    /// ```
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (an item it was woken for goes to the next getter); panics with
    /// the deadlock report if nothing can ever put.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the channel is empty and open.
    #[track_caller]
    #[inline(always)]
    pub fn get(&self) -> Option<T> {
        let (s, me) = enter();
        let c = &*self.chan;
        if let Some(v) = c.take_item(s) {
            return Some(v);
        }
        c.wait_get(s, me, None, Location::caller())
    }

    /// Like [`get`](Channel::get), but gives up after `timeout`: `None` on
    /// timeout or when shut down and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let ch = corio::sync::Channel::<u8>::new();
    /// assert_eq!(ch.get_timeout(Duration::from_millis(2)), None);
    /// ch.put(4).unwrap();
    /// assert_eq!(ch.get_timeout(Duration::from_millis(2)), Some(4));
    /// ```
    ///
    /// # Panics
    /// As [`get`](Channel::get).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the channel is empty and open, up to
    /// `timeout`.
    #[track_caller]
    pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
        let (s, me) = enter();
        let c = &*self.chan;
        if let Some(v) = c.take_item(s) {
            return Some(v);
        }
        // A timeout beyond the clock's range never comes: wait as `get`.
        c.wait_get(s, me, deadline(timeout), Location::caller())
    }

    /// Receives the next item if there is one now.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::Channel::new();
    /// assert_eq!(ch.try_get(), None::<u8>);
    /// ch.put(1).unwrap();
    /// assert_eq!(ch.try_get(), Some(1));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_get(&self) -> Option<T> {
        self.chan.take_item(sched())
    }

    /// Number of buffered items (not counting those of putters still
    /// waiting on a full or rendezvous channel).
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::Channel::new();
    /// ch.put('a').unwrap();
    /// ch.put('b').unwrap();
    /// assert_eq!(ch.len(), 2);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether no item is buffered.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio::sync::Channel::<u8>::new().is_empty());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shuts the channel down: every waiting getter and later `get` returns
    /// `None` once the buffered items are gone; every waiting and later
    /// `put` gives its value back as `Err(Closed(value))`. Idempotent.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::Channel::new();
    /// ch.put(1).unwrap();
    /// ch.shutdown();
    /// assert!(ch.is_shutdown());
    /// assert_eq!(ch.get(), Some(1)); // drained first
    /// assert_eq!(ch.get(), None);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn shutdown(&self) {
        let c = &*self.chan;
        c.closed.set(true);
        let s = sched();
        while let Some(w) = c.getters.pop_front() {
            if let Waiter::Coro(g) = w {
                s.ready(g);
            }
        }
        while let Some(node) = c.putters.pop_front_node() {
            s.ready(node.coro());
        }
    }

    /// Whether the channel was shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::Channel::<()>::new();
    /// assert!(!ch.is_shutdown());
    /// ch.shutdown();
    /// assert!(ch.is_shutdown());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_shutdown(&self) -> bool {
        self.chan.closed.get()
    }

    /// An iterator over received items: each `next` is a [`get`](Channel::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::Channel::new();
    /// ch.put(1).unwrap();
    /// ch.put(2).unwrap();
    /// ch.shutdown();
    /// assert_eq!(ch.iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    ///
    /// # Switching
    ///
    /// Each `next` suspends the current coro while the channel is empty.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { chan: self }
    }
}

impl<T> Chan<T> {
    /// The buffer, for the duration of one operation.
    ///
    /// # Safety
    /// No other borrow of the buffer may be alive: callers hold it only
    /// within a method of `Chan`, call no user code meanwhile (moving an
    /// item runs none), and never call another `buf()` user.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    unsafe fn buf(&self) -> &mut VecDeque<T> {
        // SAFETY: guaranteed by the caller.
        unsafe { &mut *self.buf.get() }
    }

    fn len(&self) -> usize {
        // SAFETY: a short borrow; no user code runs.
        unsafe { self.buf().len() }
    }

    /// Wakes the longest waiting getter.
    #[inline]
    fn wake_getter(&self, s: &Scheduler) {
        if let Some(Waiter::Coro(g)) = self.getters.pop_front() {
            s.ready(g);
        }
    }

    /// Takes the next item if one is there: from the buffer (then a place
    /// is free, so the longest putter's item moves in), or straight from
    /// the longest putter of a rendezvous channel.
    #[inline(always)]
    fn take_item(&self, s: &Scheduler) -> Option<T> {
        if self.putters.is_empty() {
            // SAFETY: a short borrow; no user code runs.
            return unsafe { self.buf() }.pop_front();
        }
        self.take_item_from_putters(s)
    }

    /// [`take_item`](Self::take_item) when putters wait.
    #[inline(never)]
    fn take_item_from_putters(&self, s: &Scheduler) -> Option<T> {
        // SAFETY: `buf` is used in this function only, which runs no user
        // code.
        let buf = unsafe { self.buf() };
        if let Some(v) = buf.pop_front() {
            if let Some(item) = self.take_from_putter(s) {
                buf.push_back(item);
            }
            return Some(v);
        }
        self.take_from_putter(s)
    }

    /// Takes the item of the longest putter that may give it now, and
    /// readies that putter (whose `put` then returns). A putter that is a
    /// branch of a `select!` gives its item only if its branch wins the
    /// race (it is skipped when another branch won), and never to another
    /// branch of its own select.
    fn take_from_putter(&self, s: &Scheduler) -> Option<T> {
        let mine = race::branch_of(s.cur());
        let mut first_own: *const WaitNode = std::ptr::null();
        loop {
            let node = self.putters.pop_front_node()?;
            // SAFETY: nodes in `putters` are `PutWaiter<T>`s.
            let waiter = unsafe { PutWaiter::<T>::of(node) };
            if let Some(claim) = waiter.claim {
                if claim.same_race(mine) {
                    // Our own select's putter: it stays, at the back.
                    // SAFETY: a linked node is pinned (wait-list invariant);
                    // we only unlinked it.
                    self.putters.push_back(unsafe { Pin::new_unchecked(node) });
                    if std::ptr::eq(first_own, node) {
                        return None;
                    }
                    if first_own.is_null() {
                        first_own = node;
                    }
                    continue;
                }
                // SAFETY: the putter is parked in `wait_put` (it was linked),
                // so its select waits for it and the race is alive.
                if !unsafe { claim.claim() } {
                    // Its select chose another branch: it unwinds, item and
                    // all, when it runs.
                    s.ready(node.coro());
                    continue;
                }
            }
            let item = waiter.item.take();
            s.ready(node.coro());
            return item;
        }
    }

    /// Feature `tracing`: how many items are buffered, for tokio-console.
    #[cfg(feature = "tracing")]
    fn trace_len(&self) {
        // SAFETY: a short borrow, over before the event (subscriber code)
        // is emitted; no user code runs.
        let len = unsafe { self.buf() }.len() as u64;
        tracing::trace!(
            target: "runtime::resource::state_update",
            items = len,
            items.op = "override",
        );
    }

    #[inline(always)]
    fn wait_put(
        &self,
        s: &Scheduler,
        me: &CoroInner,
        value: T,
        loc: &'static Location<'static>,
    ) -> Result<(), Closed<T>> {
        let waiter = pin!(PutWaiter {
            node: WaitNode::new(me),
            item: Cell::new(Some(value)),
            claim: race::branch_of(me),
        });
        let waiter = waiter.into_ref();
        if self.cap == 0 {
            // Offer the item to a waiting getter.
            self.wake_getter(s);
        }
        #[cfg(feature = "tracing")]
        let op = self.res.wait(
            &crate::spans::CHANNEL,
            "Channel::put",
            "poll_send",
            loc,
            || {
                self.trace_len();
            },
        );
        loop {
            self.putters.push_back(waiter.node());
            s.park_on(loc, What::ChanPut(self as *const Self as usize));
            let item = waiter.item.take();
            match item {
                None => {
                    #[cfg(feature = "tracing")]
                    if let Some(op) = op {
                        op.ready(|| self.trace_len());
                    }
                    return Ok(());
                }
                Some(v) if self.closed.get() => {
                    self.putters.remove(&waiter.node);
                    return Err(Closed(v));
                }
                Some(v) => waiter.item.set(Some(v)),
            }
        }
    }

    #[inline(always)]
    fn wait_get(
        &self,
        s: &Scheduler,
        me: &CoroInner,
        deadline: Option<Instant>,
        loc: &'static Location<'static>,
    ) -> Option<T> {
        if self.closed.get() {
            return None;
        }
        let node = pin!(WaitNode::new(me));
        let timer = deadline.map(|d| s.timers.arm(d, Action::Ready(me)));
        let pass_on = PassOn {
            chan: self,
            node: &node,
        };
        #[cfg(feature = "tracing")]
        let op = self.res.wait(
            &crate::spans::CHANNEL,
            "Channel::get",
            "poll_recv",
            loc,
            || {
                self.trace_len();
            },
        );
        loop {
            self.getters.push_back(node.as_ref());
            s.park_on(loc, What::ChanGet(self as *const Self as usize));
            if let Some(v) = self.take_item(s) {
                self.getters.remove(&node);
                std::mem::forget(pass_on);
                #[cfg(feature = "tracing")]
                if let Some(op) = op {
                    op.ready(|| self.trace_len());
                }
                return Some(v);
            }
            if self.closed.get() || timer.as_ref().is_some_and(|t| t.fired()) {
                self.getters.remove(&node);
                return None;
            }
        }
    }
}

/// Wakes the next getter if a woken getter unwinds before it took an item.
struct PassOn<'a, T> {
    chan: &'a Chan<T>,
    node: &'a WaitNode,
}

impl<T> Drop for PassOn<'_, T> {
    fn drop(&mut self) {
        let c = self.chan;
        let items = c.len() > 0 || !c.putters.is_empty();
        if self.node.is_woken() && !self.node.is_linked() && items {
            c.wake_getter(sched());
        }
    }
}

/// Iterator over the items of a borrowed [`Channel`] (see [`Channel::iter`]).
#[derive(Debug)]
pub struct Iter<'a, T> {
    chan: &'a Channel<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.chan.get()
    }
}

/// Iterator over the items of a [`Channel`] it owns.
#[derive(Debug)]
pub struct IntoIter<T> {
    chan: Channel<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.chan.get()
    }
}

impl<'a, T> IntoIterator for &'a Channel<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Channel<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { chan: self }
    }
}
