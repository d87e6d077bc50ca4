//! `Mutex<T>`: a lock around a value, handed to waiters in order.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::pin::pin;

use super::enter;
use crate::sched::inner::{Holder, What};
use crate::sched::sched;
use crate::sched::wait::{WaitList, WaitNode, Waiter};

/// A lock around a value of type `T`: one coro at a time holds it, the
/// others wait in [`lock`](Mutex::lock), first come first served.
///
/// The lock is handed over: when its holder releases it while coros wait,
/// the longest waiter owns it at once, before it even runs, so nobody can
/// take it in between. There is no poisoning: a guard dropped while its
/// coro panics or is cancelled just releases the lock.
///
/// Coros switch only where they block, so most shared state needs no lock
/// at all; a `Mutex` is for state that must stay consistent across a
/// blocking call.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use corio::sync::Mutex;
///
/// let log = Rc::new(Mutex::new(Vec::new()));
/// let workers: Vec<_> = (0..3)
///     .map(|i| {
///         let log = log.clone();
///         corio::spawn(move || {
///             let mut entries = log.lock();
///             entries.push(format!("{i} starts"));
///             corio::cede(); // the others wait: the entries stay together
///             entries.push(format!("{i} ends"));
///         })
///     })
///     .collect();
/// for w in workers {
///     w.join().unwrap();
/// }
/// assert_eq!(log.lock()[..2], ["0 starts", "0 ends"]);
/// ```
pub struct Mutex<T: ?Sized> {
    locked: Cell<bool>,
    /// The coro holding the lock (for `ps`'s waits-for graph).
    holder: Holder,
    waiters: WaitList,
    /// Feature `tracing`: its tokio-console resource, once waited on.
    #[cfg(feature = "tracing")]
    res: crate::spans::Resource,
    value: UnsafeCell<T>,
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("value", &&*g),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.field("waiters", &self.waiters.coros()).finish()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = corio::sync::Mutex::new(5);
    /// assert_eq!(*m.lock(), 5);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            locked: Cell::new(false),
            holder: Cell::new(None),
            waiters: WaitList::new(),
            #[cfg(feature = "tracing")]
            res: crate::spans::Resource::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, taken out of the mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = corio::sync::Mutex::new(String::from("inside"));
    /// assert_eq!(m.into_inner(), "inside");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, waiting while another coro holds it.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = corio::sync::Mutex::new(0);
    /// *m.lock() += 1;
    /// assert_eq!(*m.lock(), 1);
    /// ```
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (if the lock had been handed to it, it goes to the next
    /// waiter); panics with the deadlock report if the holder can never
    /// release it (locking twice in one coro is such a deadlock).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while another one holds the lock.
    #[track_caller]
    #[inline(always)]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        let (s, me) = enter();
        if !self.locked.replace(true) {
            self.holder.set(Some(me.id));
            return MutexGuard { mutex: self };
        }
        let loc = Location::caller();
        let node = pin!(WaitNode::new(me));
        let handed = Handed {
            mutex: self,
            node: &node,
        };
        // As tokio reports its mutex: `locked`, and the wait as `Mutex::lock`.
        #[cfg(feature = "tracing")]
        let op = self.res.wait(
            &crate::spans::MUTEX,
            "Mutex::lock",
            "poll_acquire",
            loc,
            || {
                tracing::trace!(target: "runtime::resource::state_update", locked = true);
            },
        );
        loop {
            self.waiters.push_back(node.as_ref());
            s.park_on(loc, What::Mutex(&self.holder as *const Holder as usize));
            if node.is_woken() {
                // The releasing coro handed the lock over to us.
                std::mem::forget(handed);
                #[cfg(feature = "tracing")]
                if let Some(op) = op {
                    op.ready(|| ());
                }
                return MutexGuard { mutex: self };
            }
        }
    }

    /// Locks the mutex if nobody holds it.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = corio::sync::Mutex::new(());
    /// let g = m.try_lock();
    /// assert!(g.is_some());
    /// assert!(m.try_lock().is_none());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        if self.locked.replace(true) {
            return None;
        }
        self.holder.set(Some(sched().cur().id));
        Some(MutexGuard { mutex: self })
    }

    /// Whether some coro holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = corio::sync::Mutex::new(1);
    /// let g = m.lock();
    /// assert!(m.is_locked());
    /// drop(g);
    /// assert!(!m.is_locked());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_locked(&self) -> bool {
        self.locked.get()
    }

    /// The value, through a unique borrow of the mutex (no locking needed).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = corio::sync::Mutex::new(1);
    /// *m.get_mut() = 2;
    /// assert_eq!(*m.lock(), 2);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Releases the lock: hands it to the longest waiter, if any.
    fn unlock(&self) {
        match self.waiters.pop_front() {
            Some(Waiter::Coro(c)) => {
                self.holder.set(Some(c.id));
                sched().ready(c);
            }
            Some(Waiter::Callback(f)) => {
                // Mutexes take no callbacks; keep the lock consistent anyway.
                self.locked.set(false);
                self.holder.set(None);
                f.call();
            }
            None => {
                self.locked.set(false);
                self.holder.set(None);
            }
        }
    }
}

/// Releases the lock it was handed if its waiter unwinds before it ran.
struct Handed<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    node: &'a WaitNode,
}

impl<T: ?Sized> Drop for Handed<'_, T> {
    fn drop(&mut self) {
        if self.node.is_woken() {
            self.mutex.unlock();
        }
    }
}

/// Access to the value of a locked [`Mutex`]; unlocks when dropped.
#[must_use = "the mutex is unlocked as soon as the guard is dropped"]
#[clippy::has_significant_drop]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held: no other guard exists,
        // and the mutex hands out no other access while it lives.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this borrow unique.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}
