//! [`JoinSet`]: a dynamic set of coros, joined in the order they end.
//!
//! # How a finished coro is found without a scan
//!
//! The set keeps its coros' handles in a slab (`slots`), each
//! slot tagged with a generation. Every coro's closure carries a
//! `Finished` token naming its slot; the token is dropped as the
//! closure's frame goes — when it returns, when it unwinds (panic, cancel,
//! throw, timeout), or when a coro that never ran is cancelled and its
//! closure dropped — and its `Drop` appends `(slot, generation)` to the
//! shared ready queue and wakes the set's waiter, if there is one.
//! [`JoinSet::join_next`] takes the front of that queue: O(1) per coro,
//! whatever the size of the set.
//!
//! A queued entry may be stale: its coro was already taken out of the set
//! by [`JoinSet::cancel_all`] (which may itself be interrupted half-way)
//! and the slot reused. The generation tells: an entry whose slot holds
//! another generation, or nothing, is skipped.
//!
//! The token is dropped at the very end of the coro's closure, a moment
//! before the scheduler stores the coro's outcome; `join_next` therefore
//! waits for the coro itself to be over before it takes the result (it
//! almost always is by the time the waiter runs).

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::sync::Signal;
use crate::{Coro, JoinError, JoinHandle};

/// A set of coros of the current thread, joined in the order they end
/// (tokio's `JoinSet`, Go's `errgroup` without the error policy).
///
/// [`spawn`](JoinSet::spawn) adds a coro; [`join_next`](JoinSet::join_next)
/// parks until one of the set's coros ends and returns its outcome — the
/// first to end first, whatever order they were spawned in — or `None`
/// when the set holds none. A panic ends only its own coro and comes back
/// as [`JoinError::Panicked`]; a coro cancelled from outside (through the
/// [`Coro`] that `spawn` returns) comes back as
/// [`JoinError::Cancelled`].
///
/// [`cancel_all`](JoinSet::cancel_all) cancels every coro the set holds
/// and waits until each has ended; dropping the set does the same, so no
/// coro outlives its set unless taken out of it by `join_next`.
///
/// Joining costs O(1) per coro: each coro reports its own end to the set
/// (see the module source), nothing is scanned.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio::JoinSet;
///
/// let mut set = JoinSet::new();
/// for ms in [30u64, 10, 20] {
///     set.spawn(move || {
///         corio::sleep(Duration::from_millis(ms));
///         ms
///     });
/// }
/// let mut order = Vec::new();
/// while let Some(done) = set.join_next() {
///     order.push(done.unwrap());
/// }
/// assert_eq!(order, [10, 20, 30]); // in the order they ended
/// assert!(set.is_empty());
/// ```
///
/// A set is tied to its thread, like its coros:
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// send(corio::JoinSet::<()>::new());
/// ```
pub struct JoinSet<T> {
    /// The handles, by slot; a free slot holds `None`.
    ///
    /// # Invariant
    /// `len` counts the `Some` handles; `free` lists exactly the slots
    /// that hold `None`.
    slots: Vec<Slot<T>>,
    /// Free slots, reused last freed first.
    free: Vec<usize>,
    /// How many coros the set holds.
    len: usize,
    /// Shared with every coro's [`Finished`] token.
    shared: Rc<Shared>,
}

/// One slot of the slab.
struct Slot<T> {
    /// Bumped each time the slot is given to a new coro.
    generation: u64,
    handle: Option<JoinHandle<T>>,
}

/// What the set shares with the tokens of its coros.
#[derive(Default)]
struct Shared {
    /// `(slot, generation)` of coros whose closure is gone, in that order.
    ended: RefCell<VecDeque<(usize, u64)>>,
    /// What `join_next` waits on; sent by a token when somebody waits.
    wake: Signal,
}

/// Rides in a coro's closure; its drop reports the coro's end to the set.
struct Finished {
    shared: Rc<Shared>,
    slot: usize,
    generation: u64,
}

impl Drop for Finished {
    fn drop(&mut self) {
        // Never blocks, never panics (the queue is borrowed only here and
        // in `JoinSet`'s methods, never across a switch).
        self.shared
            .ended
            .borrow_mut()
            .push_back((self.slot, self.generation));
        if self.shared.wake.awaited() {
            self.shared.wake.send();
        }
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet")
            .field("len", &self.len)
            .field(
                "ended",
                &self.shared.ended.try_borrow().map(|q| q.len()).ok(),
            )
            .finish()
    }
}

impl<T: 'static> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T: 'static> JoinSet<T> {
    /// An empty set.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut set = corio::JoinSet::<u8>::new();
    /// assert!(set.is_empty());
    /// assert!(set.join_next().is_none()); // nothing to wait for
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            shared: Rc::default(),
        }
    }

    /// How many coros the set holds: spawned and not yet returned by
    /// [`join_next`](JoinSet::join_next) (those that ended but were not
    /// joined count).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut set = corio::JoinSet::new();
    /// set.spawn(|| 1);
    /// set.spawn(|| 2);
    /// corio::cede(); // both end
    /// assert_eq!(set.len(), 2);
    /// set.join_next();
    /// assert_eq!(set.len(), 1);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set holds no coro.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut set = corio::JoinSet::new();
    /// set.spawn(|| ());
    /// assert!(!set.is_empty());
    /// set.join_next();
    /// assert!(set.is_empty());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Spawns a coro running `f` into the set (as [`spawn`](crate::spawn):
    /// it waits in the ready queue) and returns a handle to it, to cancel
    /// it alone, rename it or change its priority.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut set = corio::JoinSet::new();
    /// let stuck = set.spawn(|| corio::schedule());
    /// set.spawn(|| ());
    /// corio::cede();
    /// stuck.cancel();
    /// let outcomes: Vec<_> = std::iter::from_fn(|| set.join_next()).collect();
    /// assert!(outcomes[0].is_ok()); // ended first, in the cede
    /// assert!(outcomes[1].as_ref().unwrap_err().is_cancelled());
    /// ```
    ///
    /// # Panics
    /// As [`spawn`](crate::spawn), when no stack can be mapped.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn spawn(&mut self, f: impl FnOnce() -> T + 'static) -> Coro {
        let slot = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    handle: None,
                });
                self.slots.len() - 1
            }
        };
        // The generation is the slot's from now on, even if the spawn
        // fails: the token's entry must never match a later coro.
        let generation = self.slots[slot].generation.wrapping_add(1);
        self.slots[slot].generation = generation;
        let token = Finished {
            shared: self.shared.clone(),
            slot,
            generation,
        };
        let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::spawn(move || {
                // Dropped after `f`'s frame, on every way out.
                let _token = token;
                f()
            })
        }));
        let handle = match spawned {
            Ok(h) => h,
            Err(p) => {
                // No stack: the closure, token included, is gone.
                self.free.push(slot);
                std::panic::resume_unwind(p);
            }
        };
        let coro = handle.coro();
        self.slots[slot].handle = Some(handle);
        self.len += 1;
        coro
    }

    /// Waits until one of the set's coros ends, takes it out of the set and
    /// returns its value, or why there is none ([`JoinError::Panicked`],
    /// [`JoinError::Cancelled`]). Coros come out in the order they ended; a
    /// coro that had already ended is returned without switching. `None`,
    /// at once, when the set holds no coro.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut set = corio::JoinSet::new();
    /// set.spawn(|| -> u32 { panic!("bad input") });
    /// set.spawn(|| 7);
    /// let mut seen = Vec::new();
    /// while let Some(r) = set.join_next() {
    ///     seen.push(r.map_err(|e| e.panic_message().unwrap().to_owned()));
    /// }
    /// assert_eq!(seen, [Err("bad input".to_owned()), Ok(7)]);
    /// ```
    ///
    /// # Panics
    /// Unwinds if the calling coro is cancelled, thrown at or timed out
    /// while it waits (the set keeps its coros); panics with the deadlock
    /// report if none of them can ever end.
    ///
    /// # Switching
    ///
    /// Suspends the current coro until one of the set's coros ends, unless
    /// one has or the set is empty.
    #[track_caller]
    pub fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        loop {
            if self.len == 0 {
                // Whatever is queued is stale.
                self.shared.ended.borrow_mut().clear();
                return None;
            }
            if let Some(r) = self.take_ended(true) {
                return Some(r);
            }
            self.shared.wake.wait();
        }
    }

    /// The outcome of a coro of the set that already ended, taken out of
    /// the set; `None` if none has (or the set is empty).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut set = corio::JoinSet::new();
    /// set.spawn(|| "done");
    /// assert!(set.try_join_next().is_none()); // it has not run yet
    /// corio::cede();
    /// assert_eq!(set.try_join_next().unwrap().unwrap(), "done");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        self.take_ended(false)
    }

    /// Takes the first coro of the ready queue that is really over. With
    /// `wait`, a coro whose closure is gone but that is still finishing
    /// (dropping its coro-locals) is waited for; without, it stays queued.
    #[track_caller]
    fn take_ended(&mut self, wait: bool) -> Option<Result<T, JoinError>> {
        loop {
            let (slot, generation) = *self.shared.ended.borrow().front()?;
            let live = self
                .slots
                .get(slot)
                .filter(|s| s.generation == generation)
                .and_then(|s| s.handle.as_ref());
            let Some(h) = live else {
                // Stale: taken out by `cancel_all`.
                self.shared.ended.borrow_mut().pop_front();
                continue;
            };
            if !h.is_finished() {
                if !wait {
                    return None;
                }
                // Joining by a clone leaves the entry and the handle in
                // place if this wait is interrupted.
                let c = h.coro();
                crate::sched::sched().join_wait(&c.0, Location::caller());
            }
            self.shared.ended.borrow_mut().pop_front();
            let h = self.remove(slot);
            return Some(take_outcome(h));
        }
    }

    /// Cancels every coro of the set and waits until each has ended (their
    /// `Drop`s ran); the set is then empty. Outcomes not yet joined are
    /// dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// struct Count(Rc<Cell<u32>>);
    /// impl Drop for Count {
    ///     fn drop(&mut self) { self.0.set(self.0.get() + 1); }
    /// }
    ///
    /// let dropped = Rc::new(Cell::new(0));
    /// let mut set = corio::JoinSet::new();
    /// for _ in 0..3 {
    ///     let c = Count(dropped.clone());
    ///     set.spawn(move || { let _c = c; corio::schedule() });
    /// }
    /// corio::cede(); // they all wait
    /// set.cancel_all();
    /// assert_eq!(dropped.get(), 3);
    /// assert!(set.is_empty());
    /// ```
    ///
    /// # Panics
    /// Unwinds if the calling coro is cancelled, thrown at or timed out
    /// meanwhile — after the coro it was cancelling ended; the coros not
    /// reached yet stay in the set (dropping the set cancels them).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while each victim unwinds.
    #[track_caller]
    pub fn cancel_all(&mut self) {
        let loc = Location::caller();
        // Each handle leaves the set before its cancel, so an interrupt
        // leaves the set consistent.
        for slot in (0..self.slots.len()).rev() {
            if self.slots[slot].handle.is_some() {
                let generation = self.slots[slot].generation;
                cancel_and_wait(self.remove(slot), loc);
                // The victim's end was just queued behind the others: take
                // it out again, so that cancelling a million coros does not
                // grow the queue by a million entries (16 MiB, kept as its
                // capacity until the set is dropped).
                let mut ended = self.shared.ended.borrow_mut();
                if ended.back() == Some(&(slot, generation)) {
                    ended.pop_back();
                }
            }
        }
        self.shared.ended.borrow_mut().clear();
    }

    /// Takes the handle out of `slot` and frees the slot.
    fn remove(&mut self, slot: usize) -> JoinHandle<T> {
        let h = self.slots[slot].handle.take().expect("a live slot");
        self.free.push(slot);
        self.len -= 1;
        h
    }
}

/// Cancels `h`'s coro and waits until it is over. `cancel` returns early
/// when the victim is itself busy cancelling another coro (it ends when
/// that is done); the join waits for that. When a set is emptied by one of
/// its own coros, that coro unwinds there and then, as any coro that
/// cancels itself (it cannot wait for itself).
fn cancel_and_wait<T>(h: JoinHandle<T>, loc: &'static Location<'static>) {
    let s = crate::sched::sched();
    let c = h.coro();
    if std::ptr::eq(s.cur(), &*c.0) {
        s.cancel(&c.0, loc);
        return;
    }
    s.cancel(&c.0, loc);
    if !c.0.is_over() {
        s.join_wait(&c.0, loc);
    }
}

/// The outcome of a handle whose coro is over, without the interrupt check
/// of `join` (an ended coro's value is never lost to one).
fn take_outcome<T: 'static>(mut h: JoinHandle<T>) -> Result<T, JoinError> {
    match Pin::new(&mut h).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => unreachable!("take_outcome on a coro that is not over"),
    }
}

impl<T> Drop for JoinSet<T> {
    /// Cancels every coro still in the set and waits until each has ended.
    /// An interrupt of the dropping coro that surfaces meanwhile does not
    /// stop it: the rest are cancelled as that interrupt unwinds.
    fn drop(&mut self) {
        /// Finishes the job if an interrupt unwinds out of a `cancel`
        /// (interrupts are not raised in a coro that is unwinding).
        struct Rest<'a, T>(&'a mut JoinSet<T>);
        impl<T> Drop for Rest<'_, T> {
            fn drop(&mut self) {
                let loc = Location::caller();
                for s in &mut self.0.slots {
                    if let Some(h) = s.handle.take() {
                        cancel_and_wait(h, loc);
                    }
                }
            }
        }
        // Take the handles out one at a time, so the guard sees only the
        // ones still to do.
        let rest = Rest(self);
        let loc = Location::caller();
        for i in (0..rest.0.slots.len()).rev() {
            if let Some(h) = rest.0.slots[i].handle.take() {
                cancel_and_wait(h, loc);
            }
        }
    }
}
