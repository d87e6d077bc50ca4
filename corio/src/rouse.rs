//! `rouse`: turn a callback into a blocking call (Perl's `rouse_cb` and
//! `rouse_wait`), from any thread.

use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use crate::sched::inner::CoroInner;
use crate::sched::reactor::{Remote, RemoteWake};
use crate::sched::{Scheduler, sched};

const WAITING: u8 = 0;
const CALLED: u8 = 1;
const DROPPED: u8 = 2;

/// What the callback and the waiting end share.
struct Shared<T> {
    value: Mutex<Option<T>>,
    state: AtomicU8,
    /// The coro waiting in `Rouse::wait`, if any. Only the home thread
    /// reads or writes it (it is atomic so that `Shared` is `Sync`).
    waiter: AtomicPtr<CoroInner>,
    remote: Arc<Remote>,
}

impl<T: Send> RemoteWake for Shared<T> {
    fn wake_home(&self, s: &Scheduler) {
        let w = self.waiter.load(Ordering::Relaxed);
        if !w.is_null() {
            // SAFETY: a non-null waiter is parked in `Rouse::wait`, on this
            // (home) thread, and clears the pointer before it leaves.
            s.ready(unsafe { &*w });
        }
    }
}

/// Creates a one-shot callback and the handle that waits for it: the
/// inversion of control of Coro::Intro. Pass the [`RouseCallback`] to
/// callback-style code (it may be called from any thread, once), and block
/// the current coro in [`Rouse::wait`] until it was called.
///
/// While the callback is alive, the scheduler of this thread counts it as
/// something that may still wake a coro: rather than reporting a deadlock,
/// an idle scheduler sleeps until the callback is called or dropped.
///
/// # Examples
///
/// ```
/// let (cb, rouse) = corio::rouse::<u32>();
/// // Some callback-style API, here a thread:
/// std::thread::spawn(move || cb.call(6 * 7));
/// assert_eq!(rouse.wait(), Some(42));
/// ```
///
/// # Panics
/// Panics if the thread cannot set up its reactor (out of file
/// descriptors): the callback needs it to wake this thread.
///
/// # Switching
///
/// Never suspends the current coro.
pub fn rouse<T: Send + 'static>() -> (RouseCallback<T>, Rouse<T>) {
    let remote = match sched().reactor() {
        Ok(r) => r.remote.clone(),
        Err(e) => panic!("corio::rouse: cannot set up this thread's reactor: {e}"),
    };
    remote.retain();
    let shared = Arc::new(Shared {
        value: Mutex::new(None),
        state: AtomicU8::new(WAITING),
        waiter: AtomicPtr::new(std::ptr::null_mut()),
        remote,
    });
    (
        RouseCallback {
            shared: Some(shared.clone()),
        },
        Rouse {
            shared,
            _not_send: PhantomData,
        },
    )
}

/// The callback end of [`rouse`]: `Send`, callable once from any thread.
/// Dropping it uncalled makes [`Rouse::wait`] return `None`.
pub struct RouseCallback<T: Send + 'static> {
    shared: Option<Arc<Shared<T>>>,
}

impl<T: Send + 'static> fmt::Debug for RouseCallback<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouseCallback").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> RouseCallback<T> {
    /// Hands `value` to the waiting end and wakes the coro waiting there.
    ///
    /// # Examples
    ///
    /// ```
    /// let (cb, rouse) = corio::rouse();
    /// cb.call("done");
    /// assert_eq!(rouse.wait(), Some("done"));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the caller.
    pub fn call(mut self, value: T) {
        if let Some(shared) = self.shared.take() {
            *shared.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
            finish(shared, CALLED);
        }
    }

    /// Turns the callback into a closure, for APIs that want an `FnOnce`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (cb, rouse) = corio::rouse::<u8>();
    /// let f = cb.into_fn();
    /// f(3);
    /// assert_eq!(rouse.wait(), Some(3));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the caller.
    pub fn into_fn(self) -> impl FnOnce(T) + Send + 'static {
        move |v| self.call(v)
    }
}

impl<T: Send + 'static> Drop for RouseCallback<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            finish(shared, DROPPED);
        }
    }
}

fn finish<T: Send + 'static>(shared: Arc<Shared<T>>, state: u8) {
    shared.state.store(state, Ordering::Release);
    let remote = shared.remote.clone();
    remote.wake(shared);
    remote.release();
}

/// The waiting end of [`rouse`]; it stays on the thread that made it.
pub struct Rouse<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    _not_send: PhantomData<*const ()>,
}

impl<T: Send + 'static> fmt::Debug for Rouse<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rouse")
            .field(
                "called",
                &(self.shared.state.load(Ordering::Acquire) != WAITING),
            )
            .finish()
    }
}

impl<T: Send + 'static> Rouse<T> {
    /// Blocks the current coro until the callback was called, and returns
    /// its value; `None` if the callback was dropped uncalled. Returns at
    /// once if that already happened.
    ///
    /// # Examples
    ///
    /// ```
    /// let (cb, rouse) = corio::rouse::<()>();
    /// drop(cb);
    /// assert_eq!(rouse.wait(), None);
    /// ```
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits.
    ///
    /// # Switching
    ///
    /// Suspends the current coro until the callback was called or dropped.
    #[track_caller]
    pub fn wait(self) -> Option<T> {
        let loc = Location::caller();
        let s = sched();
        let me = s.cur();
        if me.interrupted() {
            s.raise(me);
        }
        struct Leave<'a, T>(&'a Shared<T>);
        impl<T> Drop for Leave<'_, T> {
            fn drop(&mut self) {
                self.0.waiter.store(std::ptr::null_mut(), Ordering::Relaxed);
            }
        }
        let leave = Leave(&self.shared);
        while self.shared.state.load(Ordering::Acquire) == WAITING {
            self.shared
                .waiter
                .store(me as *const CoroInner as *mut CoroInner, Ordering::Relaxed);
            s.park_on(loc, crate::sched::inner::What::Rouse);
        }
        drop(leave);
        self.shared
            .value
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// [`wait`](Self::wait) for callers that must not unwind (the `hook`
    /// feature's C entry points): `Err(())` when the coro has an interrupt
    /// pending (cancel, throw, timeout), which stays pending for its next
    /// blocking call; then the value, if it comes, is dropped with `self`.
    #[track_caller]
    #[cfg_attr(not(feature = "hook"), allow(dead_code))]
    pub(crate) fn wait_quiet(&self) -> Result<Option<T>, ()> {
        let loc = Location::caller();
        let s = sched();
        let me = s.cur();
        struct Leave<'a, T>(&'a Shared<T>);
        impl<T> Drop for Leave<'_, T> {
            fn drop(&mut self) {
                self.0.waiter.store(std::ptr::null_mut(), Ordering::Relaxed);
            }
        }
        let _leave = Leave(&self.shared);
        while self.shared.state.load(Ordering::Acquire) == WAITING {
            if s.would_raise(me) {
                return Err(());
            }
            self.shared
                .waiter
                .store(me as *const CoroInner as *mut CoroInner, Ordering::Relaxed);
            s.park_quiet(loc, crate::sched::inner::What::Rouse);
        }
        Ok(self
            .shared
            .value
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take())
    }

    /// Whether the callback was called or dropped (so `wait` would not
    /// block).
    ///
    /// # Examples
    ///
    /// ```
    /// let (cb, rouse) = corio::rouse::<u8>();
    /// assert!(!rouse.is_ready());
    /// cb.call(1);
    /// assert!(rouse.is_ready());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_ready(&self) -> bool {
        self.shared.state.load(Ordering::Acquire) != WAITING
    }
}
