//! `SemaphoreSet<K>`: Perl's `Coro::SemaphoreSet`, a semaphore per key.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::rc::Rc;

use super::Semaphore;

/// One [`Semaphore`] per key, created on demand and dropped again as soon
/// as it is idle (back at the initial count, nobody waiting, no guard out).
/// Use it to serialise work per user, per file, per host.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use corio::sync::SemaphoreSet;
///
/// // At most one request per host at a time.
/// let per_host = Rc::new(SemaphoreSet::new(1));
/// let p = per_host.clone();
/// let a = corio::spawn(move || {
///     let _g = p.guard("example.org");
///     corio::cede(); // holds it across a switch
/// });
/// corio::cede();
/// assert_eq!(per_host.count("example.org"), 0);
/// assert!(per_host.try_down("other.org")); // a different key
/// per_host.up("other.org");
/// a.join().unwrap();
/// assert_eq!(per_host.count("example.org"), 1);
/// assert_eq!(per_host.len(), 0); // every member was idle and dropped
/// ```
pub struct SemaphoreSet<K> {
    initial: isize,
    members: RefCell<HashMap<K, Rc<Semaphore>>>,
}

impl<K: fmt::Debug> fmt::Debug for SemaphoreSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SemaphoreSet");
        d.field("initial", &self.initial);
        match self.members.try_borrow() {
            Ok(m) => d.field("members", &*m),
            Err(_) => d.field("members", &format_args!("<busy>")),
        };
        d.finish()
    }
}

impl<K: Eq + Hash + Clone> Default for SemaphoreSet<K> {
    /// A set whose members start with one unit, as Perl's default.
    fn default() -> Self {
        SemaphoreSet::new(1)
    }
}

impl<K: Eq + Hash + Clone> SemaphoreSet<K> {
    /// A set whose members start with `initial` units.
    ///
    /// # Examples
    ///
    /// ```
    /// let set = corio::sync::SemaphoreSet::<u32>::new(2);
    /// assert_eq!(set.count(7), 2);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn new(initial: isize) -> SemaphoreSet<K> {
        SemaphoreSet {
            initial,
            members: RefCell::new(HashMap::new()),
        }
    }

    fn member(&self, key: &K) -> Option<Rc<Semaphore>> {
        self.members.borrow().get(key).cloned()
    }

    fn member_or_new(&self, key: &K) -> Rc<Semaphore> {
        self.members
            .borrow_mut()
            .entry(key.clone())
            .or_insert_with(|| Rc::new(Semaphore::new(self.initial)))
            .clone()
    }

    /// Drops the member of `key` if it is idle.
    fn collect(&self, key: &K) {
        let mut members = self.members.borrow_mut();
        if let Some(sem) = members.get(key)
            && Rc::strong_count(sem) == 1
            && sem.count() == self.initial
            && sem.waiters() == 0
        {
            members.remove(key);
        }
    }

    /// Takes a unit of `key`'s semaphore, waiting if it has none.
    ///
    /// # Examples
    ///
    /// ```
    /// let set = corio::sync::SemaphoreSet::new(1);
    /// set.down("a");
    /// assert_eq!(set.count("a"), 0);
    /// set.up("a");
    /// ```
    ///
    /// # Panics
    /// As [`Semaphore::down`].
    ///
    /// # Switching
    ///
    /// Suspends the current coro while `key` has no unit.
    #[track_caller]
    pub fn down(&self, key: K) {
        let sem = self.member_or_new(&key);
        let collect = Collect {
            set: self,
            key: &key,
            sem: Some(sem),
        };
        if let Some(sem) = &collect.sem {
            sem.down();
        }
    }

    /// Gives a unit of `key`'s semaphore back (creating the member if it
    /// is absent, which then holds one unit more than the initial count).
    ///
    /// # Examples
    ///
    /// ```
    /// let set = corio::sync::SemaphoreSet::new(0);
    /// set.up(1);
    /// assert_eq!(set.count(1), 1);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn up(&self, key: K) {
        let sem = self.member_or_new(&key);
        sem.up();
        drop(sem);
        self.collect(&key);
    }

    /// Takes a unit of `key`'s semaphore if one is available.
    ///
    /// # Examples
    ///
    /// ```
    /// let set = corio::sync::SemaphoreSet::new(1);
    /// assert!(set.try_down('x'));
    /// assert!(!set.try_down('x'));
    /// set.up('x');
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_down(&self, key: K) -> bool {
        let taken = match self.member(&key) {
            Some(sem) => sem.try_down(),
            None if self.initial > 0 => self.member_or_new(&key).try_down(),
            None => false,
        };
        // A member above its initial count may be back to it.
        self.collect(&key);
        taken
    }

    /// Takes a unit of `key`'s semaphore and returns a guard that gives it
    /// back when dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let set = corio::sync::SemaphoreSet::new(1);
    /// {
    ///     let _g = set.guard("k");
    ///     assert_eq!(set.count("k"), 0);
    /// }
    /// assert_eq!(set.count("k"), 1);
    /// ```
    ///
    /// # Panics
    /// As [`Semaphore::down`].
    ///
    /// # Switching
    ///
    /// Suspends the current coro while `key` has no unit.
    #[track_caller]
    pub fn guard(&self, key: K) -> SemaphoreSetGuard<'_, K> {
        self.down(key.clone());
        SemaphoreSetGuard {
            set: self,
            key: Some(key),
        }
    }

    /// The count of `key`'s semaphore (the initial count if it has none).
    ///
    /// # Examples
    ///
    /// ```
    /// let set = corio::sync::SemaphoreSet::<&str>::new(3);
    /// assert_eq!(set.count("never used"), 3);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn count(&self, key: K) -> isize {
        self.member(&key).map_or(self.initial, |s| s.count())
    }

    /// How many coros wait for `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// let set = corio::sync::SemaphoreSet::<u8>::new(1);
    /// assert_eq!(set.waiters(0), 0);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn waiters(&self, key: K) -> usize {
        self.member(&key).map_or(0, |s| s.waiters())
    }

    /// Waits until `key` has a unit, without taking it (see
    /// [`Semaphore::wait`]). For a key without a member this returns at
    /// once if the initial count is positive, and waits otherwise (Perl
    /// returns at once in both cases).
    ///
    /// # Examples
    ///
    /// ```
    /// let set = corio::sync::SemaphoreSet::new(1);
    /// set.wait("free"); // returns at once
    /// ```
    ///
    /// # Panics
    /// As [`Semaphore::wait`].
    ///
    /// # Switching
    ///
    /// Suspends the current coro while `key` has no unit.
    #[track_caller]
    pub fn wait(&self, key: K) {
        if self.member(&key).is_none() && self.initial > 0 {
            return;
        }
        let sem = self.member_or_new(&key);
        let collect = Collect {
            set: self,
            key: &key,
            sem: Some(sem),
        };
        if let Some(sem) = &collect.sem {
            sem.wait();
        }
    }

    /// Number of keys that have a semaphore now (members are dropped when
    /// idle).
    ///
    /// # Examples
    ///
    /// ```
    /// let set = corio::sync::SemaphoreSet::new(1);
    /// let g = set.guard(1);
    /// assert_eq!(set.len(), 1);
    /// drop(g);
    /// assert_eq!(set.len(), 0);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn len(&self) -> usize {
        self.members.borrow().len()
    }

    /// Whether no key has a semaphore now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio::sync::SemaphoreSet::<u8>::new(1).is_empty());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drops a member's handle, then the member if it became idle — also when
/// its waiter unwinds.
struct Collect<'a, K: Eq + Hash + Clone> {
    set: &'a SemaphoreSet<K>,
    key: &'a K,
    sem: Option<Rc<Semaphore>>,
}

impl<K: Eq + Hash + Clone> Drop for Collect<'_, K> {
    fn drop(&mut self) {
        self.sem = None;
        self.set.collect(self.key);
    }
}

/// A unit of one key of a [`SemaphoreSet`], given back when dropped.
#[must_use = "the unit is given back as soon as the guard is dropped"]
#[clippy::has_significant_drop]
pub struct SemaphoreSetGuard<'a, K: Eq + Hash + Clone> {
    set: &'a SemaphoreSet<K>,
    key: Option<K>,
}

impl<K: Eq + Hash + Clone + fmt::Debug> fmt::Debug for SemaphoreSetGuard<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreSetGuard")
            .field("key", &self.key)
            .finish()
    }
}

impl<K: Eq + Hash + Clone> Drop for SemaphoreSetGuard<'_, K> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.set.up(key);
        }
    }
}
