//! The reactor: where a scheduler waits when no coro is ready, and how
//! other OS threads wake it.
//!
//! It is made on first need (a cross-thread waker is created); a thread
//! whose coros only ever wait for each other and for timers never opens
//! one, and sleeps with `thread::sleep` until its next timer instead.
//!
//! Other threads never touch a coro: they push a [`RemoteWake`] onto the
//! home scheduler's queue and kick its `mio::Waker`. The home thread drains
//! the queue whenever it looks at the reactor, and each entry readies its
//! coro there. [`Remote::live`] counts the handles that could still do
//! that; while it is non-zero an idle scheduler sleeps instead of reporting
//! a deadlock.

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Scheduler;

/// The token of the cross-thread waker in the poll set.
const WAKE: mio::Token = mio::Token(usize::MAX);

/// Something another thread asked the home scheduler to do.
pub(crate) trait RemoteWake: Send + Sync {
    /// Runs on the home thread, in the scheduler loop: must not block and
    /// must not run user code.
    fn wake_home(&self, s: &Scheduler);
}

/// The part of a reactor other threads hold.
pub(crate) struct Remote {
    waker: mio::Waker,
    queue: Mutex<Vec<Arc<dyn RemoteWake>>>,
    pending: AtomicBool,
    /// Live handles that may still wake this scheduler from anywhere.
    live: AtomicUsize,
    /// Address of the home scheduler: tells a call on the home thread from
    /// one on another.
    home: usize,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("live", &self.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// Counts one more handle that may wake the scheduler.
    pub(crate) fn retain(&self) {
        self.live.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one handle fewer.
    pub(crate) fn release(&self) {
        self.live.fetch_sub(1, Ordering::Release);
    }

    /// Whether the caller runs on the home thread of this scheduler (whose
    /// scheduler is alive).
    pub(crate) fn on_home_thread(&self) -> bool {
        super::current_scheduler_addr() == Some(self.home)
    }

    /// Has `target` woken on the home thread: at once if called there,
    /// else through the queue and the poll waker.
    pub(crate) fn wake(&self, target: Arc<dyn RemoteWake>) {
        if self.on_home_thread() {
            target.wake_home(super::sched());
            return;
        }
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(target);
        self.pending.store(true, Ordering::Release);
        // A failure means the home thread is gone: nobody to wake.
        let _ = self.waker.wake();
    }
}

/// One scheduler's poll set.
pub(crate) struct Reactor {
    poll: RefCell<mio::Poll>,
    events: RefCell<mio::Events>,
    pub(crate) remote: Arc<Remote>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl Reactor {
    pub(crate) fn new(home: usize) -> io::Result<Reactor> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE)?;
        Ok(Reactor {
            poll: RefCell::new(poll),
            events: RefCell::new(mio::Events::with_capacity(256)),
            remote: Arc::new(Remote {
                waker,
                queue: Mutex::new(Vec::new()),
                pending: AtomicBool::new(false),
                live: AtomicUsize::new(0),
                home,
            }),
        })
    }

    /// Whether something outside this thread could still wake a coro.
    pub(crate) fn keeps_alive(&self) -> bool {
        self.remote.live.load(Ordering::Acquire) > 0 || self.remote.pending.load(Ordering::Acquire)
    }

    /// Waits for events for at most `timeout` (`None`: until something
    /// happens). Returns at once with `Some(ZERO)`.
    pub(crate) fn poll(&self, timeout: Option<Duration>) {
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // epoll_wait fails only on programming errors (bad fd,
                // bad buffer); do not spin on it.
                log::error!("corio: polling the reactor failed: {e}");
                if let Some(t) = timeout {
                    std::thread::sleep(t);
                }
            }
        }
        // The waker's event needs no handling: the queue is drained below
        // and by the caller.
    }

    /// Runs what other threads queued for us.
    pub(crate) fn drain(&self, s: &Scheduler) {
        if !self.remote.pending.swap(false, Ordering::Acquire) {
            return;
        }
        let batch =
            std::mem::take(&mut *self.remote.queue.lock().unwrap_or_else(|e| e.into_inner()));
        for target in batch {
            target.wake_home(s);
        }
    }
}
