//! `Pool`: a pool of reusable items (connections), whose `get` parks the
//! coro while all are out.
//!
//! # State
//!
//! - `slots` is a [`Semaphore`] with one unit per item that may be out:
//!   `get` takes a unit before it takes or makes an item, and the unit goes
//!   back only after the item went back to `idle` or was dropped. So the
//!   items alive (out, idle, or being made) never number more than `max`.
//! - `idle` holds the returned items, the most recently returned last;
//!   only a holder of a unit pops from it, and nothing holds the borrow
//!   across a switch or across user code (`make`, an item's `Drop`).
//! - A unit is a [`SemaphoreGuard`] until the item is handed out, so a
//!   `make` that fails, panics or is interrupted gives the unit back; a
//!   waiter cancelled in `get` takes nothing (the semaphore passes a
//!   wake-up it received on to the next waiter).

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::{Semaphore, SemaphoreGuard};

/// A pool of at most `max` items — database connections, say — made on
/// demand by a closure and reused; [`get`](Pool::get) parks the calling
/// coro while all `max` are out.
///
/// This is r2d2 or deadpool for coros. A pool built on OS-thread locks
/// (r2d2) blocks the whole thread when it waits, stopping every coro on
/// it; this one parks only the coro that waits, first come first served.
///
/// - `get` takes an idle item if there is one — the one returned last
///   (LIFO), so a burst is served by the warmest connections and the
///   rest may time out on the server's side unused — and otherwise calls
///   `make`. Making happens outside any lock: other coros run while a
///   connection is being opened.
/// - Dropping the [`Pooled`] item returns it. [`Pooled::discard`] drops a
///   broken one instead, freeing its place for a new one; so does dropping
///   a `Pooled` while its coro unwinds (a panic, a cancel, a `timeout`),
///   since a connection abandoned half-way through a request may still
///   hold the answer nobody read.
/// - A failing `make` gives the error to the caller of `get` and its place
///   back to the pool. A coro cancelled while it waits in `get` takes
///   nothing.
///
/// A `Pool` belongs to its thread, like its coros; share it with `Rc` or
/// a reference (a [`scope`](crate::scope)'s coros may borrow it).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use corio::sync::Pool;
///
/// // A stand-in for connecting to a server.
/// let made = Rc::new(std::cell::Cell::new(0));
/// let m = made.clone();
/// let pool = Rc::new(Pool::new(2, move || {
///     m.set(m.get() + 1);
///     Ok::<_, std::io::Error>(format!("connection {}", m.get()))
/// }));
///
/// let mut workers = Vec::new();
/// for i in 0..10 {
///     let pool = pool.clone();
///     workers.push(corio::spawn(move || {
///         let conn = pool.get()?; // parks while 2 are out
///         corio::sleep(std::time::Duration::from_millis(1)); // "the query"
///         Ok::<_, std::io::Error>(format!("{i} used {}", *conn))
///     }));
/// }
/// for w in workers {
///     w.join().unwrap()?;
/// }
/// assert_eq!(made.get(), 2); // 10 jobs, 2 connections
/// assert_eq!(pool.idle(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// The type of `make`'s error is the pool's second parameter, `E`
/// (`io::Error` unless said otherwise):
///
/// ```
/// use corio::sync::Pool;
///
/// let pool: Pool<u32, String> = Pool::new(1, || Err("server down".to_owned()));
/// assert_eq!(pool.get().unwrap_err(), "server down");
/// assert_eq!(pool.available(), 1); // the failed make gave its place back
/// ```
pub struct Pool<T, E = io::Error> {
    slots: Slots<T>,
    max: usize,
    make: Box<dyn Fn() -> Result<T, E>>,
}

/// The part of a pool a [`Pooled`] needs to go back (no `E` in it).
struct Slots<T> {
    /// One unit per item that may be out (see the module docs).
    units: Semaphore,
    /// Returned items, the most recently returned last.
    idle: RefCell<Vec<T>>,
    /// Items alive: out, idle, or being made.
    live: Cell<usize>,
}

impl<T, E> fmt::Debug for Pool<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("max", &self.max)
            .field("live", &self.slots.live.get())
            .field("idle", &self.slots.idle.try_borrow().map(|v| v.len()).ok())
            .field("waiters", &self.slots.units.waiters())
            .finish()
    }
}

impl<T, E> Pool<T, E> {
    /// A pool of at most `max` items, made by `make` when `get` finds none
    /// idle. Nothing is made yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio::sync::Pool::new(4, || Ok::<_, std::io::Error>(Vec::<u8>::new()));
    /// assert_eq!((pool.max(), pool.live(), pool.available()), (4, 0, 4));
    /// ```
    ///
    /// # Panics
    /// If `max` is 0 (every `get` would wait for ever) or more than
    /// `isize::MAX`.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn new(max: usize, make: impl Fn() -> Result<T, E> + 'static) -> Pool<T, E> {
        assert!(max > 0, "corio::sync::Pool::new: max must be at least 1");
        let units = isize::try_from(max).expect("corio::sync::Pool::new: max beyond isize::MAX");
        Pool {
            slots: Slots {
                units: Semaphore::new(units),
                idle: RefCell::new(Vec::new()),
                live: Cell::new(0),
            },
            max,
            make: Box::new(make),
        }
    }

    /// An item: an idle one if there is one (the last returned), otherwise
    /// a new one from `make`; while `max` items are out, waits until one
    /// comes back or is discarded. Waiters are served first come first
    /// served (as [`Semaphore::down`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// let pool = Rc::new(corio::sync::Pool::new(1, || Ok::<_, std::io::Error>(0u32)));
    /// let mut a = pool.get()?;
    /// *a += 1;
    /// let p = pool.clone();
    /// let waiter = corio::spawn(move || *p.get().unwrap());
    /// corio::cede();
    /// assert_eq!(pool.waiters(), 1); // parked: the one item is out
    /// drop(a);
    /// assert_eq!(waiter.join().unwrap(), 1); // the same item, reused
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// What `make` returned; its place in the pool is free again.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (it takes nothing), or if `make` panics (its place is free
    /// again); panics with the deadlock report if nothing can ever return
    /// an item.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while `max` items are out, and for as
    /// long as `make` does (a connect, say).
    #[track_caller]
    pub fn get(&self) -> Result<Pooled<'_, T>, E> {
        let unit = self.slots.units.guard();
        self.take(unit)
    }

    /// Like [`get`](Pool::get), but waits at most `timeout` for an item to
    /// come back; `None` if none did (`make`'s own time does not count).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = corio::sync::Pool::new(1, || Ok::<_, std::io::Error>(()));
    /// let held = pool.get()?;
    /// assert!(pool.get_timeout(Duration::from_millis(5)).is_none());
    /// drop(held);
    /// assert!(pool.get_timeout(Duration::from_millis(5)).is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// As [`get`](Pool::get).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while `max` items are out, up to
    /// `timeout`, and for as long as `make` does.
    #[track_caller]
    pub fn get_timeout(&self, timeout: Duration) -> Option<Result<Pooled<'_, T>, E>> {
        let unit = self.slots.units.guard_timeout(timeout)?;
        Some(self.take(unit))
    }

    /// An item if one is idle, or if fewer than `max` are out (then made
    /// now: `make` may switch); `None` if all are out.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio::sync::Pool::new(1, || Ok::<_, std::io::Error>('x'));
    /// let a = pool.try_get().unwrap()?;
    /// assert!(pool.try_get().is_none());
    /// drop(a);
    /// assert!(pool.try_get().is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// If `make` panics (its place is free again).
    ///
    /// # Switching
    ///
    /// Never waits for an item; suspends the current coro for as long as
    /// `make` does, if it has to make one.
    pub fn try_get(&self) -> Option<Result<Pooled<'_, T>, E>> {
        let unit = self.slots.units.try_guard()?;
        Some(self.take(unit))
    }

    /// With a unit held: an idle item, or a new one.
    fn take<'a>(&'a self, unit: SemaphoreGuard<'a>) -> Result<Pooled<'a, T>, E> {
        let idle = self.slots.idle.borrow_mut().pop();
        let item = match idle {
            Some(item) => item,
            None => {
                // On an error, a panic or an interrupt in `make`, `unit`
                // is dropped and the place is free again.
                let item = (self.make)()?;
                self.slots.live.set(self.slots.live.get() + 1);
                item
            }
        };
        // From here on the `Pooled` gives the unit back.
        unit.forget();
        Ok(Pooled {
            slots: &self.slots,
            item: Some(item),
        })
    }

    /// The most items that may be out at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio::sync::Pool::new(3, || Ok::<_, std::io::Error>(()));
    /// assert_eq!(pool.max(), 3);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many items exist: out, idle, or being made (never more than
    /// [`max`](Pool::max)).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio::sync::Pool::new(3, || Ok::<_, std::io::Error>(()));
    /// let a = pool.get()?;
    /// let b = pool.get()?;
    /// b.discard();
    /// assert_eq!(pool.live(), 1);
    /// drop(a);
    /// assert_eq!(pool.live(), 1); // idle now
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn live(&self) -> usize {
        self.slots.live.get()
    }

    /// How many items are idle in the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio::sync::Pool::new(3, || Ok::<_, std::io::Error>(()));
    /// drop(pool.get()?);
    /// assert_eq!(pool.idle(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn idle(&self) -> usize {
        self.slots.idle.try_borrow().map_or(0, |v| v.len())
    }

    /// How many more items `get` could hand out now without waiting
    /// (idle ones and ones it may still make).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio::sync::Pool::new(3, || Ok::<_, std::io::Error>(()));
    /// let _a = pool.get()?;
    /// assert_eq!(pool.available(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn available(&self) -> usize {
        usize::try_from(self.slots.units.count()).unwrap_or(0)
    }

    /// How many coros wait in [`get`](Pool::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio::sync::Pool::new(1, || Ok::<_, std::io::Error>(()));
    /// assert_eq!(pool.waiters(), 0);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn waiters(&self) -> usize {
        self.slots.units.waiters()
    }

    /// Drops every idle item (closing idle connections, say); items that
    /// are out are not touched.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = corio::sync::Pool::new(2, || Ok::<_, std::io::Error>(()));
    /// drop(pool.get()?);
    /// pool.clear();
    /// assert_eq!((pool.idle(), pool.live()), (0, 0));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro (unless an item's `Drop` does).
    pub fn clear(&self) {
        let idle = std::mem::take(&mut *self.slots.idle.borrow_mut());
        self.slots.live.set(self.slots.live.get() - idle.len());
        drop(idle);
    }
}

/// An item taken from a [`Pool`]: derefs to it; dropping it returns it to
/// the pool (or, while its coro unwinds, drops it, as
/// [`discard`](Pooled::discard) does).
///
/// # Examples
///
/// ```
/// let pool = corio::sync::Pool::new(1, || Ok::<_, std::io::Error>(vec![1, 2]));
/// let mut v = pool.get()?;
/// v.push(3); // DerefMut
/// assert_eq!(v.len(), 3); // Deref
/// drop(v);
/// assert_eq!(*pool.get()?, [1, 2, 3]); // it came back as it was left
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "the item goes back to the pool as soon as it is dropped"]
#[clippy::has_significant_drop]
pub struct Pooled<'a, T> {
    slots: &'a Slots<T>,
    /// `None` only inside `discard` and `drop`.
    item: Option<T>,
}

impl<T: fmt::Debug> fmt::Debug for Pooled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pooled").field(&self.item).finish()
    }
}

impl<T> Deref for Pooled<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.item.as_ref().expect("a Pooled holds its item")
    }
}

impl<T> DerefMut for Pooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.item.as_mut().expect("a Pooled holds its item")
    }
}

impl<T> Pooled<'_, T> {
    /// Drops the item instead of returning it — a connection found broken
    /// — and frees its place, so that a later `get` makes a new one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let made = Rc::new(Cell::new(0));
    /// let m = made.clone();
    /// let pool = corio::sync::Pool::new(1, move || {
    ///     m.set(m.get() + 1);
    ///     Ok::<_, std::io::Error>(())
    /// });
    /// pool.get()?.discard();
    /// drop(pool.get()?);
    /// assert_eq!(made.get(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro (unless the item's `Drop` does).
    pub fn discard(mut self) {
        let item = self.item.take();
        // The place is freed after the item is gone (even if its drop
        // panics), by `self`'s drop below.
        drop(item);
    }
}

impl<T> Drop for Pooled<'_, T> {
    fn drop(&mut self) {
        /// Gives the unit back last, whatever happens before.
        struct Up<'b>(&'b Semaphore);
        impl Drop for Up<'_> {
            fn drop(&mut self) {
                self.0.up();
            }
        }
        let _up = Up(&self.slots.units);
        match self.item.take() {
            Some(item) if !unwinding_here() => self.slots.idle.borrow_mut().push(item),
            gone => {
                self.slots.live.set(self.slots.live.get() - 1);
                drop(gone);
            }
        }
    }
}

/// Whether the running coro is unwinding (a panic, cancel, throw or
/// timeout of its own), not just running while another coro of the thread
/// is parked mid-unwind (the thread's panic count is shared by its coros).
/// The scheduler's own test, `sched::unwinding_now`.
fn unwinding_here() -> bool {
    std::thread::panicking() && crate::sched::unwinding_now(crate::sched::sched().cur())
}
