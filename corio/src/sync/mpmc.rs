//! Channels between threads: [`Channel`] is `Send + Sync` (for `T: Send`),
//! and its blocking calls park the calling **coro**, never its thread, on
//! whichever thread it runs. The other coros of both threads keep running.
//!
//! Use it to connect schedulers on different threads (see
//! [`corio::thread`](crate::thread)), or a plain thread and a coro. Within
//! one thread, prefer [`sync::Channel`](crate::sync::Channel): it needs no
//! lock and no atomic operation.
//!
//! Semantics follow [`sync::Channel`](crate::sync::Channel): FIFO items,
//! first-come-first-served getters and putters, `bounded(0)` as a
//! rendezvous, `shutdown` waking every waiter, a waiter that is cancelled,
//! thrown at or timed out leaving the queue and passing on a wake-up it had
//! received.
//!
//! # Cost
//!
//! Every call takes one `std::sync::Mutex`. A call that must wait
//! allocates its waiter (an `Arc`). Waking a coro on another thread costs
//! a queue push and a write to that scheduler's wake-up descriptor, plus,
//! if that thread was asleep in `epoll_wait`, the kernel's wake-up of a
//! thread (tens of microseconds on a VM); an idle scheduler whose coros
//! wait on such a channel spins for 50 µs before it sleeps, so a busy
//! exchange rarely pays that.

use std::collections::VecDeque;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::channel::{Closed, TryPutError};
use super::deadline;
use crate::sched::inner::{CoroInner, What};
use crate::sched::reactor::{Remote, RemoteWake};
use crate::sched::timer::Action;
use crate::sched::{Scheduler, enter_blocking as enter};

/// A FIFO channel usable from every thread; a cheap handle, clone it to
/// share (also across threads).
///
/// - [`Channel::new`] is unbounded: [`put`](Channel::put) never waits.
/// - [`Channel::bounded(n)`](Channel::bounded) buffers `n` items; `put`
///   waits while it is full.
/// - `Channel::bounded(0)` is a rendezvous: `put` returns only after a
///   getter took the item.
///
/// [`get`](Channel::get) waits while the channel is empty, and returns
/// `None` once it is [shut down](Channel::shutdown) and drained.
///
/// # Examples
///
/// A coro on another thread squares numbers for this one.
///
/// ```
/// use corio::sync::mpmc::Channel;
///
/// let (jobs, results) = (Channel::new(), Channel::new());
/// let (j, r) = (jobs.clone(), results.clone());
/// let worker = corio::thread::spawn(move || {
///     for n in &j {
///         r.put(n * n).unwrap();
///     }
/// });
/// for n in [1u64, 2, 5, 10, 77] {
///     jobs.put(n).unwrap();
///     println!("{n} ** 2 = {}", results.get().unwrap());
/// }
/// jobs.shutdown();
/// worker.join().unwrap();
/// ```
pub struct Channel<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// How many items the buffer may hold; `usize::MAX` when unbounded.
    cap: usize,
}

struct State<T> {
    buf: VecDeque<T>,
    closed: bool,
    getters: VecDeque<Arc<Parker>>,
    putters: VecDeque<PutEntry<T>>,
}

/// A putter waiting with its item.
struct PutEntry<T> {
    parker: Arc<Parker>,
    item: T,
}

/// A coro waiting on the channel, wakeable from any thread.
struct Parker {
    /// The waiting coro while it is parked in this channel, else null.
    /// Only its home thread reads or writes it (atomic so that `Parker`
    /// is `Sync`).
    coro: AtomicPtr<CoroInner>,
    /// Set, under the channel's lock, by whoever took this waiter out of
    /// its queue: a getter was given its turn, a putter's item was taken.
    /// Invariant (under the lock): queued ⇔ not `taken`.
    taken: AtomicBool,
    remote: Arc<Remote>,
}

impl RemoteWake for Parker {
    fn wake_home(&self, s: &Scheduler) {
        let c = self.coro.load(Ordering::Relaxed);
        if !c.is_null() {
            // SAFETY: a non-null `coro` is parked in a wait of this module
            // on this (home) thread; the wait clears it before it returns
            // or unwinds (see `Waiting::drop`).
            s.ready(unsafe { &*c });
        }
    }
}

impl Parker {
    /// Readies the waiting coro on its home thread (now, if that is this
    /// thread). Call it after the channel's lock is released.
    fn notify(self: Arc<Self>) {
        let remote = self.remote.clone();
        remote.wake(self);
    }
}

/// Wake-ups decided under the lock, sent after it is released.
#[derive(Default)]
struct Wakes(Vec<Arc<Parker>>);

impl Wakes {
    fn send(self) {
        for p in self.0 {
            p.notify();
        }
    }
}

impl<T> State<T> {
    /// Gives the longest waiting getter its turn.
    fn wake_getter(&mut self, wakes: &mut Wakes) {
        if let Some(g) = self.getters.pop_front() {
            g.taken.store(true, Ordering::Relaxed);
            wakes.0.push(g);
        }
    }

    /// Takes the next item: from the buffer (then a place is free, so the
    /// longest putter's item moves in), or straight from the longest
    /// putter of a rendezvous channel.
    fn take_item(&mut self, wakes: &mut Wakes) -> Option<T> {
        if let Some(v) = self.buf.pop_front() {
            if let Some(p) = self.putters.pop_front() {
                self.buf.push_back(p.item);
                p.parker.taken.store(true, Ordering::Relaxed);
                wakes.0.push(p.parker);
            }
            return Some(v);
        }
        let p = self.putters.pop_front()?;
        p.parker.taken.store(true, Ordering::Relaxed);
        wakes.0.push(p.parker);
        Some(p.item)
    }
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            shared: self.shared.clone(),
        }
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("mpmc::Channel")
            .field("len", &st.buf.len())
            .field("capacity", &self.capacity())
            .field("getters", &st.getters.len())
            .field("putters", &st.putters.len())
            .field("shutdown", &st.closed)
            .finish()
    }
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// While a coro waits: keeps the scheduler from calling it a deadlock
/// (another thread may still wake it), lets an idle scheduler spin briefly,
/// and clears the parker's coro however the wait is left.
struct Waiting<'a> {
    s: &'a Scheduler,
    parker: &'a Parker,
}

impl<'a> Waiting<'a> {
    fn new(s: &'a Scheduler, parker: &'a Parker) -> Self {
        parker.remote.retain();
        s.spin_waiters.set(s.spin_waiters.get() + 1);
        Waiting { s, parker }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.parker
            .coro
            .store(std::ptr::null_mut(), Ordering::Relaxed);
        self.s.spin_waiters.set(self.s.spin_waiters.get() - 1);
        self.parker.remote.release();
    }
}

fn new_parker(s: &Scheduler, me: &CoroInner, what: &str) -> Arc<Parker> {
    let remote = match s.reactor() {
        Ok(r) => r.remote.clone(),
        Err(e) => {
            panic!("corio::sync::mpmc::Channel::{what}: cannot set up this thread's reactor: {e}")
        }
    };
    Arc::new(Parker {
        coro: AtomicPtr::new(me as *const CoroInner as *mut CoroInner),
        taken: AtomicBool::new(false),
        remote,
    })
}

impl<T> Channel<T> {
    /// An unbounded channel.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::mpmc::Channel::new();
    /// ch.put(1).unwrap();
    /// assert_eq!(ch.get(), Some(1));
    /// ```
    pub fn new() -> Self {
        Self::with_cap(usize::MAX)
    }

    /// A channel that buffers at most `n` items; `bounded(0)` is a
    /// rendezvous.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::mpmc::Channel::bounded(1);
    /// ch.put('a').unwrap();
    /// assert!(ch.try_put('b').is_err());
    /// ```
    pub fn bounded(n: usize) -> Self {
        Self::with_cap(n)
    }

    fn with_cap(cap: usize) -> Self {
        Channel {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    buf: VecDeque::new(),
                    closed: false,
                    getters: VecDeque::new(),
                    putters: VecDeque::new(),
                }),
                cap,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // No user code runs under the lock (items are only moved), so a
        // poisoned lock still guards consistent state.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The buffer's size: `None` when unbounded.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::sync::mpmc::Channel;
    /// assert_eq!(Channel::<u8>::bounded(3).capacity(), Some(3));
    /// assert_eq!(Channel::<u8>::new().capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        (self.shared.cap != usize::MAX).then_some(self.shared.cap)
    }

    /// Sends `value`, waiting (this coro only) while the channel is full,
    /// and on a rendezvous channel until a getter took it.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::mpmc::Channel::new();
    /// ch.put(1).unwrap();
    /// ch.shutdown();
    /// assert_eq!(ch.put(2).unwrap_err().0, 2);
    /// ```
    ///
    /// # Errors
    /// [`Closed`] with the value when the channel is shut down (also while
    /// the putter waits).
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (the value is dropped, not sent).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the channel is full, and on a
    /// rendezvous channel until a getter took the value.
    #[track_caller]
    pub fn put(&self, value: T) -> Result<(), Closed<T>> {
        let loc = Location::caller();
        let (s, me) = enter();
        let mut st = self.lock();
        if st.closed {
            return Err(Closed(value));
        }
        let mut wakes = Wakes::default();
        if st.buf.len() < self.shared.cap {
            st.buf.push_back(value);
            st.wake_getter(&mut wakes);
            drop(st);
            wakes.send();
            return Ok(());
        }
        let parker = new_parker(s, me, "put");
        if self.shared.cap == 0 {
            // Offer the item to a waiting getter.
            st.wake_getter(&mut wakes);
        }
        st.putters.push_back(PutEntry {
            parker: parker.clone(),
            item: value,
        });
        drop(st);
        wakes.send();

        let waiting = Waiting::new(s, &parker);
        let left = LeavePut {
            chan: self,
            parker: &parker,
        };
        loop {
            parker
                .coro
                .store(me as *const CoroInner as *mut _, Ordering::Relaxed);
            s.park_on(loc, What::MpmcPut(Arc::as_ptr(&self.shared) as usize));
            let mut st = self.lock();
            if parker.taken.load(Ordering::Relaxed) {
                drop(st);
                std::mem::forget(left);
                drop(waiting);
                return Ok(());
            }
            if st.closed {
                let item = remove_putter(&mut st, &parker);
                drop(st);
                std::mem::forget(left);
                drop(waiting);
                return match item {
                    Some(v) => Err(Closed(v)),
                    None => Ok(()),
                };
            }
            // Spuriously readied: still queued with the item, wait on.
        }
    }

    /// Sends `value` if that needs no wait: the channel has room, or (a
    /// rendezvous) a getter is waiting for an item.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::sync::{mpmc::Channel, TryPutError};
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
        let mut st = self.lock();
        if st.closed {
            return Err(TryPutError::Closed(value));
        }
        // A rendezvous hands the item to a waiting getter through the
        // buffer: the getter takes it from there first.
        let room = if self.shared.cap == 0 {
            st.getters.len() > st.buf.len()
        } else {
            st.buf.len() < self.shared.cap
        };
        if !room {
            return Err(TryPutError::Full(value));
        }
        st.buf.push_back(value);
        let mut wakes = Wakes::default();
        st.wake_getter(&mut wakes);
        drop(st);
        wakes.send();
        Ok(())
    }

    /// Receives the next item, waiting (this coro only) while the channel
    /// is empty; `None` once it is shut down and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::mpmc::Channel::new();
    /// let c = ch.clone();
    /// std::thread::spawn(move || {
    ///     c.put("hi").unwrap();
    ///     c.shutdown();
    /// });
    /// assert_eq!(ch.get(), Some("hi"));
    /// assert_eq!(ch.get(), None);
    /// ```
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (a turn it was given goes to the next getter).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the channel is empty and open.
    #[track_caller]
    pub fn get(&self) -> Option<T> {
        self.get_until(None, Location::caller())
    }

    /// Like [`get`](Channel::get), but gives up after `timeout`: `None` on
    /// timeout or when shut down and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let ch = corio::sync::mpmc::Channel::<u8>::new();
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
        // A timeout beyond the clock's range never comes: wait as `get`.
        self.get_until(deadline(timeout), Location::caller())
    }

    fn get_until(&self, deadline: Option<Instant>, loc: &'static Location<'static>) -> Option<T> {
        let (s, me) = enter();
        let mut st = self.lock();
        let mut wakes = Wakes::default();
        if let Some(v) = st.take_item(&mut wakes) {
            drop(st);
            wakes.send();
            return Some(v);
        }
        if st.closed {
            return None;
        }
        let parker = new_parker(s, me, "get");
        st.getters.push_back(parker.clone());
        drop(st);

        let timer = deadline.map(|d| s.timers.arm(d, Action::Ready(me)));
        let waiting = Waiting::new(s, &parker);
        let left = LeaveGet {
            chan: self,
            parker: &parker,
        };
        loop {
            parker
                .coro
                .store(me as *const CoroInner as *mut _, Ordering::Relaxed);
            s.park_on(loc, What::MpmcGet(Arc::as_ptr(&self.shared) as usize));
            let mut st = self.lock();
            let mut wakes = Wakes::default();
            if let Some(v) = st.take_item(&mut wakes) {
                remove_getter(&mut st, &parker);
                drop(st);
                std::mem::forget(left);
                drop(waiting);
                wakes.send();
                return Some(v);
            }
            if st.closed || timer.as_ref().is_some_and(|t| t.fired()) {
                // `left` removes the waiter (and passes on a turn: there is
                // none to pass, the buffer is empty).
                drop(st);
                return None;
            }
            if parker.taken.load(Ordering::Relaxed) {
                // Given a turn that another getter used first: queue again,
                // at the back as a newcomer would.
                parker.taken.store(false, Ordering::Relaxed);
                st.getters.push_back(parker.clone());
            }
        }
    }

    /// Receives the next item if there is one now.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::mpmc::Channel::new();
    /// assert_eq!(ch.try_get(), None::<u8>);
    /// ch.put(1).unwrap();
    /// assert_eq!(ch.try_get(), Some(1));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_get(&self) -> Option<T> {
        let mut st = self.lock();
        let mut wakes = Wakes::default();
        let v = st.take_item(&mut wakes);
        drop(st);
        wakes.send();
        v
    }

    /// Number of buffered items (not counting those of putters still
    /// waiting on a full or rendezvous channel).
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::mpmc::Channel::new();
    /// ch.put('a').unwrap();
    /// ch.put('b').unwrap();
    /// assert_eq!(ch.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.lock().buf.len()
    }

    /// Whether no item is buffered.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio::sync::mpmc::Channel::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shuts the channel down: `put` fails from now on (putters already
    /// waiting get their value back in [`Closed`]), getters drain what is
    /// buffered and then get `None`. Idempotent.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::mpmc::Channel::new();
    /// ch.put(1).unwrap();
    /// ch.shutdown();
    /// assert_eq!(ch.get(), Some(1));
    /// assert_eq!(ch.get(), None);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn shutdown(&self) {
        let mut st = self.lock();
        st.closed = true;
        let mut wakes = Wakes::default();
        while !st.getters.is_empty() {
            st.wake_getter(&mut wakes);
        }
        // Putters stay queued with their items: each takes its own back.
        wakes.0.extend(st.putters.iter().map(|p| p.parker.clone()));
        drop(st);
        wakes.send();
    }

    /// Whether [`shutdown`](Channel::shutdown) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::mpmc::Channel::<u8>::new();
    /// ch.shutdown();
    /// assert!(ch.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.lock().closed
    }

    /// An iterator of [`get`](Channel::get)s, ending when the channel is
    /// shut down and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// let ch = corio::sync::mpmc::Channel::new();
    /// ch.put(1).unwrap();
    /// ch.put(2).unwrap();
    /// ch.shutdown();
    /// assert_eq!(ch.iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { chan: self }
    }
}

fn remove_getter<T>(st: &mut State<T>, parker: &Arc<Parker>) {
    if !parker.taken.load(Ordering::Relaxed)
        && let Some(i) = st.getters.iter().position(|g| Arc::ptr_eq(g, parker))
    {
        st.getters.remove(i);
    }
}

fn remove_putter<T>(st: &mut State<T>, parker: &Arc<Parker>) -> Option<T> {
    let i = st
        .putters
        .iter()
        .position(|p| Arc::ptr_eq(&p.parker, parker))?;
    st.putters.remove(i).map(|p| p.item)
}

/// A getter left without an item (unwound, timed out, shut down): leaves
/// the queue, and passes on a turn it was given but did not use.
struct LeaveGet<'a, T> {
    chan: &'a Channel<T>,
    parker: &'a Arc<Parker>,
}

impl<T> Drop for LeaveGet<'_, T> {
    fn drop(&mut self) {
        let mut st = self.chan.lock();
        let mut wakes = Wakes::default();
        if self.parker.taken.load(Ordering::Relaxed) {
            if !st.buf.is_empty() || !st.putters.is_empty() {
                st.wake_getter(&mut wakes);
            }
        } else {
            remove_getter(&mut st, self.parker);
        }
        drop(st);
        wakes.send();
    }
}

/// A putter unwound while waiting: its item, if not taken yet, leaves the
/// queue with it (and is dropped).
struct LeavePut<'a, T> {
    chan: &'a Channel<T>,
    parker: &'a Arc<Parker>,
}

impl<T> Drop for LeavePut<'_, T> {
    fn drop(&mut self) {
        let mut st = self.chan.lock();
        let item = remove_putter(&mut st, self.parker);
        drop(st);
        // User code (the item's Drop) runs outside the lock.
        drop(item);
    }
}

/// Iterator over the items of a borrowed [`Channel`] (see [`Channel::iter`]).
#[derive(Debug)]
pub struct Iter<'a, T> {
    chan: &'a Channel<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.chan.get()
    }
}

/// Iterator over the items of an owned [`Channel`].
#[derive(Debug)]
pub struct IntoIter<T> {
    chan: Channel<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    #[track_caller]
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
