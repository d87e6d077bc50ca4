//! `Semaphore`: Perl's `Coro::Semaphore`, a counting semaphore.

use std::fmt;
use std::panic::Location;
use std::pin::pin;
use std::time::Duration;

use super::{deadline, enter};
use crate::sched::timer::Action;
use crate::sched::wait::{WaitList, WaitNode, Waiter};
use crate::sched::{Scheduler, sched};

/// A counting semaphore (Perl's `Coro::Semaphore`): a count of available
/// units, and the coros waiting for one.
///
/// [`down`](Semaphore::down) takes a unit, waiting while there is none;
/// [`up`](Semaphore::up) gives one back and wakes the longest waiter. As in
/// Perl's Coro, a woken waiter takes its unit when it runs: a coro that gets
/// there first may take it, and the waiter then waits again, at the back.
/// The count may be set or adjusted below zero.
///
/// # Examples
///
/// Coro::Intro's first semaphore program:
///
/// ```
/// use std::rc::Rc;
/// use corio::sync::Semaphore;
///
/// let sem = Rc::new(Semaphore::new(0)); // a locked semaphore
/// let s = sem.clone();
/// let _unlocker = corio::spawn(move || {
///     println!("unlocking semaphore");
///     s.up();
/// });
/// println!("trying to lock semaphore");
/// sem.down();
/// println!("we got it!");
/// ```
///
/// A guard releases its unit even when its holder panics or is cancelled:
///
/// ```
/// use std::rc::Rc;
/// use corio::sync::Semaphore;
///
/// let sem = Rc::new(Semaphore::new(1));
/// let s = sem.clone();
/// let holder = corio::spawn(move || {
///     let _g = s.guard();
///     corio::schedule(); // waits forever, holding the unit
/// });
/// corio::cede();
/// assert_eq!(sem.count(), 0);
/// holder.cancel();
/// assert_eq!(sem.count(), 1);
/// ```
pub struct Semaphore {
    count: std::cell::Cell<isize>,
    waiters: WaitList,
    /// Feature `tracing`: its tokio-console resource, once waited on.
    #[cfg(feature = "tracing")]
    res: crate::spans::Resource,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("count", &self.count.get())
            .field("waiters", &self.waiters())
            .finish()
    }
}

impl Default for Semaphore {
    /// A semaphore with one unit, as Perl's `new Coro::Semaphore`.
    fn default() -> Self {
        Semaphore::new(1)
    }
}

impl Semaphore {
    /// A semaphore with `count` units (zero and negative counts are fine:
    /// `up` must then be called that many times more before a `down` can
    /// succeed).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio::sync::Semaphore::new(-1);
    /// assert!(!sem.try_down());
    /// sem.up();
    /// sem.up();
    /// assert!(sem.try_down());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub const fn new(count: isize) -> Semaphore {
        Semaphore {
            count: std::cell::Cell::new(count),
            waiters: WaitList::new(),
            #[cfg(feature = "tracing")]
            res: crate::spans::Resource::new(),
        }
    }

    /// The current count (may be negative).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio::sync::Semaphore::new(2);
    /// let _g = sem.guard();
    /// assert_eq!(sem.count(), 1);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn count(&self) -> isize {
        self.count.get()
    }

    /// How many coros wait in [`down`](Semaphore::down) or
    /// [`wait`](Semaphore::wait). A waiter that was woken but has not run
    /// yet is not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// let sem = Rc::new(corio::sync::Semaphore::new(0));
    /// let s = sem.clone();
    /// let h = corio::spawn(move || s.down());
    /// corio::cede();
    /// assert_eq!(sem.waiters(), 1);
    /// sem.up(); // wakes it; it takes the unit when it runs
    /// assert_eq!(sem.waiters(), 0);
    /// h.join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn waiters(&self) -> usize {
        self.waiters.coros()
    }

    /// Takes a unit if one is available.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio::sync::Semaphore::new(1);
    /// assert!(sem.try_down());
    /// assert!(!sem.try_down());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[inline]
    pub fn try_down(&self) -> bool {
        let n = self.count.get();
        if n > 0 {
            self.count.set(n - 1);
            true
        } else {
            false
        }
    }

    /// Takes a unit, waiting for one if none is available. Returns at once,
    /// without switching, when one is.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio::sync::Semaphore::new(1);
    /// sem.down();
    /// assert_eq!(sem.count(), 0);
    /// ```
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (a unit it was woken for goes to the next waiter); panics with
    /// the deadlock report if nothing can ever give a unit back.
    ///
    /// # Switching
    ///
    /// Suspends the current coro while no unit is available.
    #[track_caller]
    #[inline(always)]
    pub fn down(&self) {
        let (s, me) = enter();
        if !self.try_down() {
            self.wait_inner(s, me, true, None, Location::caller());
        }
    }

    /// Like [`down`](Semaphore::down), but gives up after `timeout`;
    /// returns whether it took a unit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = corio::sync::Semaphore::new(0);
    /// assert!(!sem.down_timeout(Duration::from_millis(5)));
    /// sem.up();
    /// assert!(sem.down_timeout(Duration::from_millis(5)));
    /// ```
    ///
    /// # Panics
    /// As [`down`](Semaphore::down).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while no unit is available, up to
    /// `timeout`.
    #[track_caller]
    pub fn down_timeout(&self, timeout: Duration) -> bool {
        let (s, me) = enter();
        self.try_down() || self.wait_inner(s, me, true, deadline(timeout), Location::caller())
    }

    /// Waits until a unit is available without taking it, then passes the
    /// wake-up on, so that every waiting `wait`er and one `down`er proceed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// let sem = Rc::new(corio::sync::Semaphore::new(0));
    /// let s = sem.clone();
    /// let watcher = corio::spawn(move || s.wait());
    /// corio::cede();
    /// sem.up();
    /// watcher.join().unwrap();
    /// assert_eq!(sem.count(), 1); // still there
    /// ```
    ///
    /// # Panics
    /// As [`down`](Semaphore::down).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while no unit is available.
    #[track_caller]
    pub fn wait(&self) {
        let (s, me) = enter();
        if self.count.get() <= 0 {
            self.wait_inner(s, me, false, None, Location::caller());
        }
    }

    /// Registers `f` to run once a unit is available: now, if one is;
    /// otherwise, in its turn among the waiters, from within the `up` or
    /// `adjust` that made one available. `f` does not take the unit (it may
    /// call [`try_down`](Semaphore::try_down)), and must not block. Perl's
    /// `$sem->wait(\&cb)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// let sem = corio::sync::Semaphore::new(0);
    /// let called = Rc::new(Cell::new(false));
    /// let c = called.clone();
    /// sem.wait_callback(move || c.set(true));
    /// assert!(!called.get());
    /// sem.up();
    /// assert!(called.get());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro (`f` must not either).
    pub fn wait_callback(&self, f: impl FnOnce() + 'static) {
        if self.count.get() > 0 {
            f();
        } else {
            self.waiters.push_callback(Box::new(f));
        }
    }

    /// Gives a unit back and wakes the longest waiter (Perl's `up`, which
    /// is `adjust(1)`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio::sync::Semaphore::new(0);
    /// sem.up();
    /// assert_eq!(sem.count(), 1);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[inline]
    pub fn up(&self) {
        self.adjust(1);
    }

    /// Adds `delta` to the count (it may go negative) without blocking;
    /// then, while the count is positive, wakes that many waiters from the
    /// front, calling callback waiters met on the way (those do not use up
    /// the count).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio::sync::Semaphore::new(3);
    /// sem.adjust(-5);
    /// assert_eq!(sem.count(), -2);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[inline]
    pub fn adjust(&self, delta: isize) {
        let n = self.count.get() + delta;
        self.count.set(n);
        if n > 0 && !self.waiters.is_empty() {
            self.wake(n);
        }
    }

    /// Wakes up to `budget` coro waiters from the front.
    #[inline(never)]
    fn wake(&self, mut budget: isize) {
        let s = sched();
        while budget > 0 {
            match self.waiters.pop_front() {
                Some(Waiter::Coro(c)) => {
                    s.ready(c);
                    budget -= 1;
                }
                Some(Waiter::Callback(f)) => f.call(),
                None => break,
            }
        }
    }

    /// Takes a unit and returns a guard that gives it back when dropped —
    /// at the end of the scope, on a panic, or when the holder is
    /// cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio::sync::Semaphore::new(1);
    /// {
    ///     let _g = sem.guard();
    ///     assert_eq!(sem.count(), 0);
    /// }
    /// assert_eq!(sem.count(), 1);
    /// ```
    ///
    /// # Panics
    /// As [`down`](Semaphore::down).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while no unit is available.
    #[track_caller]
    #[inline(always)]
    pub fn guard(&self) -> SemaphoreGuard<'_> {
        let (s, me) = enter();
        if !self.try_down() {
            self.wait_inner(s, me, true, None, Location::caller());
        }
        SemaphoreGuard { sem: self }
    }

    /// A guard, if a unit is available now.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio::sync::Semaphore::new(1);
    /// let g = sem.try_guard();
    /// assert!(g.is_some());
    /// assert!(sem.try_guard().is_none());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_guard(&self) -> Option<SemaphoreGuard<'_>> {
        self.try_down().then(|| SemaphoreGuard { sem: self })
    }

    /// A guard, if a unit becomes available within `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = corio::sync::Semaphore::new(0);
    /// assert!(sem.guard_timeout(Duration::from_millis(1)).is_none());
    /// ```
    ///
    /// # Panics
    /// As [`down`](Semaphore::down).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while no unit is available, up to
    /// `timeout`.
    #[track_caller]
    pub fn guard_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        let (s, me) = enter();
        (self.try_down() || self.wait_inner(s, me, true, deadline(timeout), Location::caller()))
            .then(|| SemaphoreGuard { sem: self })
    }

    /// The waiting part of `down` (`take`) and `wait` (not `take`): returns
    /// whether a unit came before `deadline`.
    #[inline(always)]
    fn wait_inner(
        &self,
        s: &Scheduler,
        me: &crate::sched::inner::CoroInner,
        take: bool,
        deadline: Option<std::time::Instant>,
        loc: &'static Location<'static>,
    ) -> bool {
        let node = pin!(WaitNode::new(me));
        let timer = deadline.map(|d| s.timers.arm(d, Action::Ready(me)));
        // If we unwind after a waker picked us, hand its unit on.
        let pass_on = PassOn {
            sem: self,
            node: &node,
        };
        #[cfg(feature = "tracing")]
        let op = {
            let source = if take {
                "Semaphore::down"
            } else {
                "Semaphore::wait"
            };
            let units = self.count.get() as i64;
            self.res.wait(
                &crate::spans::SEMAPHORE,
                source,
                "poll_acquire",
                loc,
                || permits(units),
            )
        };
        loop {
            self.waiters.push_back(node.as_ref());
            s.park_on(
                loc,
                crate::sched::inner::What::Semaphore(self as *const Self as usize),
            );
            let n = self.count.get();
            if n > 0 {
                std::mem::forget(pass_on);
                #[cfg(feature = "tracing")]
                if let Some(op) = op {
                    op.ready(|| permits((n - isize::from(take)) as i64));
                }
                if take {
                    self.count.set(n - 1);
                } else {
                    // Let the next waiter see the unit too.
                    self.waiters.remove(&node);
                    self.adjust(0);
                }
                return true;
            }
            if timer.as_ref().is_some_and(|t| t.fired()) {
                return false;
            }
            // Woken but beaten to the unit (it goes again to the back), or
            // woken spuriously (it keeps its place): wait again.
        }
    }
}

/// Feature `tracing`: the count, as tokio-console shows a semaphore's.
#[cfg(feature = "tracing")]
fn permits(units: i64) {
    tracing::trace!(
        target: "runtime::resource::state_update",
        permits = units,
        permits.op = "override",
    );
}

/// Passes a received wake-up on if its waiter unwinds instead of using it.
struct PassOn<'a> {
    sem: &'a Semaphore,
    node: &'a WaitNode,
}

impl Drop for PassOn<'_> {
    fn drop(&mut self) {
        if self.node.is_woken() && !self.node.is_linked() {
            self.sem.adjust(0);
        }
    }
}

/// A unit of a [`Semaphore`], given back when dropped.
#[must_use = "the unit is given back as soon as the guard is dropped"]
#[clippy::has_significant_drop]
pub struct SemaphoreGuard<'a> {
    sem: &'a Semaphore,
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard")
            .field("sem", self.sem)
            .finish()
    }
}

impl SemaphoreGuard<'_> {
    /// Disarms the guard: the unit stays taken and is never given back
    /// (Perl's `$guard->cancel`).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corio::sync::Semaphore::new(1);
    /// let g = sem.guard();
    /// g.forget();
    /// assert_eq!(sem.count(), 0); // the unit stays taken
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        self.sem.up();
    }
}
