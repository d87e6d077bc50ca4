//! `block_on`: wait for a `Future` inside a coro (AnyEvent's condvars,
//! in async Rust's terms).

use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};

use crate::sched::inner::CoroInner;
use crate::sched::reactor::{Remote, RemoteWake};
use crate::sched::{Scheduler, sched};

/// What the waker and the waiting coro share.
struct Shared {
    /// Set by `wake`, cleared before each poll.
    woken: AtomicBool,
    /// The coro parked in `block_on`, or null while it polls or runs.
    /// Only the home thread reads or writes it.
    waiter: AtomicPtr<CoroInner>,
    remote: Arc<Remote>,
}

impl RemoteWake for Shared {
    fn wake_home(&self, s: &Scheduler) {
        let w = self.waiter.swap(std::ptr::null_mut(), Ordering::Relaxed);
        if !w.is_null() {
            // SAFETY: a non-null waiter is parked in `block_on` on this
            // (home) thread; it clears the pointer before it leaves.
            s.ready(unsafe { &*w });
        }
    }
}

/// The `Waker` handed to the future: holds the shared state weakly, so a
/// waker kept after `block_on` returned wakes nobody.
struct CoroWaker(Weak<Shared>);

impl Wake for CoroWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(shared) = self.0.upgrade()
            && !shared.woken.swap(true, Ordering::AcqRel)
        {
            let remote = shared.remote.clone();
            remote.wake(shared);
        }
    }
}

/// Counts the waiting coro as wakeable from elsewhere while it waits, and
/// clears the waiter pointer however `block_on` is left (return, panic,
/// cancel).
struct Waiting<'a>(&'a Shared);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiter.store(std::ptr::null_mut(), Ordering::Relaxed);
        self.0.remote.release();
    }
}

/// Runs `future` to completion inside the current coro, parking only this
/// coro while the future is pending: the other coros of the thread keep
/// running, and the future's waker — `Send + Sync`, callable from any
/// thread — readies this coro on its home scheduler.
///
/// Use it to call async code (a client library, a tokio-free future, a
/// [`JoinHandle`](crate::JoinHandle)) from straight-line coro code. It
/// polls the future on the coro's own stack; a future that needs a
/// particular runtime's reactor (tokio's sockets and timers) still needs
/// that runtime running somewhere.
///
/// While it waits, the scheduler counts the waker as something that may
/// still wake a coro: rather than reporting a deadlock, an idle scheduler
/// sleeps until the waker is used. (A future that drops its waker without
/// waking it leaves the coro parked forever, as it would leave an async
/// task.)
///
/// # Examples
///
/// ```
/// // A future woken from another thread.
/// let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
/// let mut sent = false;
/// let fut = std::future::poll_fn(move |cx| {
///     if sent {
///         return std::task::Poll::Ready(42);
///     }
///     sent = true;
///     tx.send(cx.waker().clone()).unwrap();
///     std::task::Poll::Pending
/// });
/// std::thread::spawn(move || rx.recv().unwrap().wake());
/// assert_eq!(corio::block_on(fut), 42);
///
/// // A coro, awaited as a future.
/// let h = corio::spawn(|| 6 * 7);
/// assert_eq!(corio::block_on(h).unwrap(), 42);
/// ```
///
/// # Panics
/// With the future's own panic. Unwinds if the coro is cancelled or thrown
/// at while it waits (the future is dropped). Panics if the thread cannot
/// set up its reactor (out of file descriptors).
///
/// # Switching
///
/// Suspends the current coro while the future is pending.
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    let loc = Location::caller();
    let s = sched();
    let me = s.cur();
    if me.interrupted() {
        s.raise(me);
    }
    let remote = match s.reactor() {
        Ok(r) => r.remote.clone(),
        Err(e) => panic!("corio::block_on: cannot set up this thread's reactor: {e}"),
    };
    remote.retain();
    let shared = Arc::new(Shared {
        woken: AtomicBool::new(false),
        waiter: AtomicPtr::new(std::ptr::null_mut()),
        remote,
    });
    let _waiting = Waiting(&shared);
    let waker = Waker::from(Arc::new(CoroWaker(Arc::downgrade(&shared))));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        shared.woken.store(false, Ordering::Release);
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        // Woken during the poll (or since): poll again at once.
        while !shared.woken.load(Ordering::Acquire) {
            let s = sched();
            shared
                .waiter
                .store(s.cur() as *const CoroInner as *mut _, Ordering::Relaxed);
            s.park_on(loc, crate::sched::inner::What::Future);
            shared.waiter.store(std::ptr::null_mut(), Ordering::Relaxed);
        }
    }
}
