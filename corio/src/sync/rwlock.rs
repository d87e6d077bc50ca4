//! `RwLock<T>`: many readers or one writer, fair.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::pin::pin;

use super::enter;
use crate::sched::inner::{Holder, What};
use crate::sched::sched;
use crate::sched::wait::{WaitList, WaitNode};

const READ: u8 = 1;
const WRITE: u8 = 2;

/// A reader-writer lock around a value (Perl's `Coro::RWLock`): any number
/// of coros may read at once, or one may write.
///
/// It is fair, unlike Perl's: a waiting writer stops new readers, and
/// waiters are served in order — when the lock frees, the longest waiter
/// gets it, and if that is a reader, so does every reader queued behind it
/// up to the next writer. The lock is handed over: a waiter owns it before
/// it even runs.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use corio::sync::RwLock;
///
/// let config = Rc::new(RwLock::new(String::from("v1")));
/// let c = config.clone();
/// let reader = corio::spawn(move || {
///     let a = c.read();
///     let b = c.read(); // readers share the lock
///     format!("{} {}", *a, *b)
/// });
/// assert_eq!(reader.join().unwrap(), "v1 v1");
/// *config.write() = String::from("v2");
/// assert_eq!(*config.read(), "v2");
/// ```
pub struct RwLock<T: ?Sized> {
    readers: Cell<usize>,
    writer: Cell<bool>,
    /// The coro holding the write lock (for `ps`'s waits-for graph).
    holder: Holder,
    waiters: WaitList,
    /// Feature `tracing`: its tokio-console resource, once waited on.
    #[cfg(feature = "tracing")]
    res: crate::spans::Resource,
    value: UnsafeCell<T>,
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(g) => d.field("value", &&*g),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.field("readers", &self.readers.get())
            .field("writer", &self.writer.get())
            .finish()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::sync::RwLock::new(1);
    /// assert_eq!(*l.read(), 1);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            readers: Cell::new(0),
            writer: Cell::new(false),
            holder: Cell::new(None),
            waiters: WaitList::new(),
            #[cfg(feature = "tracing")]
            res: crate::spans::Resource::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, taken out of the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio::sync::RwLock::new(3).into_inner(), 3);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for reading, waiting while a writer holds the lock or waits
    /// for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::sync::RwLock::new(vec![1, 2]);
    /// assert_eq!(l.read().len(), 2);
    /// ```
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (the lock it may have been handed goes on); panics with the
    /// deadlock report if the lock can never come.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while it cannot read.
    #[track_caller]
    #[inline(always)]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        let (s, me) = enter();
        if self.try_read_now() {
            return RwLockReadGuard { lock: self };
        }
        self.wait(s, me, READ, Location::caller());
        RwLockReadGuard { lock: self }
    }

    /// Locks for writing, waiting while anybody holds the lock or waits
    /// for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::sync::RwLock::new(0);
    /// *l.write() += 5;
    /// assert_eq!(*l.read(), 5);
    /// ```
    ///
    /// # Panics
    /// As [`read`](RwLock::read).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while it cannot write.
    #[track_caller]
    #[inline(always)]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        let (s, me) = enter();
        if self.try_write_now() {
            return RwLockWriteGuard { lock: self };
        }
        self.wait(s, me, WRITE, Location::caller());
        RwLockWriteGuard { lock: self }
    }

    /// Locks for reading if that needs no wait (no writer holds or waits
    /// for the lock).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::sync::RwLock::new(());
    /// let r = l.try_read();
    /// assert!(r.is_some() && l.try_read().is_some());
    /// assert!(l.try_write().is_none());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.try_read_now().then(|| RwLockReadGuard { lock: self })
    }

    /// Locks for writing if the lock is free and nobody waits for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::sync::RwLock::new(());
    /// let w = l.try_write();
    /// assert!(w.is_some());
    /// assert!(l.try_read().is_none());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.try_write_now()
            .then(|| RwLockWriteGuard { lock: self })
    }

    /// The value, through a unique borrow of the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut l = corio::sync::RwLock::new(1);
    /// *l.get_mut() += 1;
    /// assert_eq!(*l.read(), 2);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn try_read_now(&self) -> bool {
        if !self.writer.get() && self.waiters.is_empty() {
            self.readers.set(self.readers.get() + 1);
            true
        } else {
            false
        }
    }

    fn try_write_now(&self) -> bool {
        if !self.writer.get() && self.readers.get() == 0 && self.waiters.is_empty() {
            self.writer.set(true);
            self.holder.set(Some(sched().cur().id));
            true
        } else {
            false
        }
    }

    /// Feature `tracing`: who holds the lock, as tokio-console shows a
    /// tokio `RwLock`.
    #[cfg(feature = "tracing")]
    fn trace_state(&self) {
        tracing::trace!(
            target: "runtime::resource::state_update",
            write_locked = self.writer.get(),
            current_readers = self.readers.get() as u64,
            current_readers.op = "override",
        );
    }

    /// Queues as a reader or writer until the lock is handed over.
    #[inline(always)]
    fn wait(
        &self,
        s: &crate::sched::Scheduler,
        me: &crate::sched::inner::CoroInner,
        kind: u8,
        loc: &'static Location<'static>,
    ) {
        let node = pin!(WaitNode::with_tag(me, kind));
        let handed = Handed {
            lock: self,
            node: &node,
        };
        // As tokio reports its `RwLock`: who holds it, and the wait as
        // `RwLock::read` or `RwLock::write`.
        #[cfg(feature = "tracing")]
        let op = {
            let source = if kind == WRITE {
                "RwLock::write"
            } else {
                "RwLock::read"
            };
            self.res
                .wait(&crate::spans::RWLOCK, source, "poll_acquire", loc, || {
                    self.trace_state();
                })
        };
        loop {
            self.waiters.push_back(node.as_ref());
            let at = &self.holder as *const Holder as usize;
            s.park_on(
                loc,
                if kind == WRITE {
                    What::RwWrite(at)
                } else {
                    What::RwRead(at)
                },
            );
            if node.is_woken() {
                std::mem::forget(handed);
                #[cfg(feature = "tracing")]
                if let Some(op) = op {
                    op.ready(|| self.trace_state());
                }
                return;
            }
        }
    }

    /// The lock may have freed up: hand it to the front of the queue — one
    /// writer, or every reader up to the next writer.
    fn grant(&self) {
        let s = sched();
        while let Some(front) = self.waiters.front() {
            let free_for = if self.writer.get() {
                0
            } else if self.readers.get() == 0 {
                READ | WRITE
            } else {
                READ
            };
            let kind = front.tag.get();
            if kind & free_for == 0 {
                return;
            }
            let Some(node) = self.waiters.pop_front_node() else {
                return;
            };
            if kind == WRITE {
                self.writer.set(true);
                self.holder.set(Some(node.coro().id));
            } else {
                self.readers.set(self.readers.get() + 1);
            }
            s.ready(node.coro());
            if kind == WRITE {
                return;
            }
        }
    }

    fn release_read(&self) {
        self.readers.set(self.readers.get() - 1);
        if self.readers.get() == 0 {
            self.grant();
        }
    }

    fn release_write(&self) {
        self.writer.set(false);
        self.holder.set(None);
        self.grant();
    }
}

/// Gives back a lock handed to a waiter that unwinds before it ran.
struct Handed<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    node: &'a WaitNode,
}

impl<T: ?Sized> Drop for Handed<'_, T> {
    fn drop(&mut self) {
        if self.node.is_woken() {
            if self.node.tag.get() == WRITE {
                self.lock.release_write();
            } else {
                self.lock.release_read();
            }
        }
    }
}

/// Shared access to the value of an [`RwLock`]; unlocks when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[clippy::has_significant_drop]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

/// Exclusive access to the value of an [`RwLock`]; unlocks when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[clippy::has_significant_drop]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard proves no writer holds the lock; readers
        // only get shared references.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a write guard proves it holds the lock alone.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this borrow unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release_read();
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release_write();
    }
}
