//! Threads with coros in them: every OS thread can host its own scheduler,
//! so N threads give N cores their own coros. [`spawn`] mirrors
//! `std::thread::spawn`; what differs:
//!
//! - The closure runs as the new thread's main coro, so it may spawn coros
//!   and block in corio calls like any code on the main thread.
//! - The thread ends when the closure has returned **and every coro it
//!   spawned has finished** (a thread's coros are not abandoned when its
//!   closure returns). If they can never finish, the scheduler's deadlock
//!   report is the thread's panic. If the closure panics, the coros left
//!   are cancelled (their `Drop`s run) before the thread ends — unlike a
//!   plain `std::thread`, where coros still parked at thread exit are
//!   abandoned (see the crate docs' *Soundness* section).
//! - [`JoinHandle::join`] parks only the calling coro: the other coros of
//!   the joining thread keep running while it waits.
//!
//! Coros never move between threads (that is what makes `Rc` and the
//! `!Send` primitives of [`corio::sync`](crate::sync) sound in them).
//! Threads talk through [`sync::mpmc::Channel`](crate::sync::mpmc::Channel),
//! whose blocking calls park coros on both sides, and share a port through
//! [`TcpListener::bind_reuse_port`](crate::net::TcpListener::bind_reuse_port).
//!
//! ```
//! use std::rc::Rc;
//! use std::cell::Cell;
//!
//! let t = corio::thread::spawn(|| {
//!     // A scheduler of its own: `Rc` is fine, the coros stay here.
//!     let count = Rc::new(Cell::new(0));
//!     for _ in 0..10 {
//!         let count = count.clone();
//!         corio::spawn(move || count.set(count.get() + 1));
//!     }
//!     corio::cede();
//!     count.get()
//! });
//! assert_eq!(t.join().unwrap(), 10);
//! ```

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe, Location};

use crate::sched::inner::What;

use crate::sync::mpmc::Channel;

/// Spawns an OS thread whose main coro runs `f`, and returns a handle to
/// join it. Like `std::thread::spawn`, it panics if the thread cannot be
/// created; use [`Builder::spawn`] for the error instead.
///
/// # Examples
///
/// ```
/// let t = corio::thread::spawn(|| {
///     let h = corio::spawn(|| 6 * 7);
///     h.join().unwrap()
/// });
/// assert_eq!(t.join().unwrap(), 42);
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Builder::new().spawn(f) {
        Ok(h) => h,
        Err(e) => panic!("corio::thread::spawn: failed to spawn thread: {e}"),
    }
}

/// Thread options (`std::thread::Builder`'s): name and stack size of the
/// thread's own (main coro's) stack.
#[derive(Debug)]
pub struct Builder {
    inner: std::thread::Builder,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Options with the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = corio::thread::Builder::new().name("net-1".into()).spawn(|| {
    ///     std::thread::current().name().map(str::to_owned)
    /// }).unwrap();
    /// assert_eq!(t.join().unwrap().as_deref(), Some("net-1"));
    /// ```
    pub fn new() -> Builder {
        Builder {
            inner: std::thread::Builder::new(),
        }
    }

    /// Names the thread (shown by debuggers and in panic messages).
    pub fn name(self, name: String) -> Builder {
        Builder {
            inner: self.inner.name(name),
        }
    }

    /// The size of the thread's own stack, on which its main coro runs
    /// (spawned coros get stacks of their own: see
    /// [`corio::Builder::stack_size`](crate::Builder::stack_size)).
    pub fn stack_size(self, bytes: usize) -> Builder {
        Builder {
            inner: self.inner.stack_size(bytes),
        }
    }

    /// Spawns the thread.
    ///
    /// # Errors
    /// The OS's error when the thread cannot be created.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let result = Channel::bounded(1);
        let tx = result.clone();
        let native = self.inner.spawn(move || {
            // However the thread ends, a joiner is not left waiting.
            let _close = ShutdownOnDrop(&tx);
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                let v = f();
                wait_for_coros();
                v
            }));
            if r.is_err() {
                // The closure (or the wait) panicked with coros left: cancel
                // them now, while every thread-local is still alive, so
                // their `Drop`s run (after this, thread exit could only
                // abandon them).
                crate::sched::sched().shutdown_coros();
            }
            // Cannot be full: this is the only put.
            let _ = tx.try_put(r);
        })?;
        Ok(JoinHandle {
            native: Some(native),
            result,
        })
    }
}

/// Blocks the main coro until every other coro of this thread has ended.
#[track_caller]
fn wait_for_coros() {
    let loc = Location::caller();
    let s = crate::sched::sched();
    loop {
        // Idle `select!` helpers wait for work, not to finish: they do not
        // keep the thread alive (thread exit ends them).
        let coros: Vec<_> = s
            .live_coros()
            .into_iter()
            .filter(|c| c.what.get() != What::Idle || c.is_ready())
            .collect();
        if coros.is_empty() {
            return;
        }
        for c in &coros {
            s.join_wait(c, loc);
        }
    }
}

struct ShutdownOnDrop<'a, T>(&'a Channel<T>);

impl<T> Drop for ShutdownOnDrop<'_, T> {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

/// An owned permission to join a corio thread (std's `JoinHandle`, whose
/// `join` parks the calling coro instead of its thread). Dropping it
/// detaches the thread.
pub struct JoinHandle<T> {
    native: Option<std::thread::JoinHandle<()>>,
    result: Channel<std::thread::Result<T>>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("corio::thread::JoinHandle")
            .field("thread", &self.native.as_ref().map(|n| n.thread()))
            .finish_non_exhaustive()
    }
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish — its closure and every coro on it
    /// — and returns the closure's value, or the panic payload if it (or
    /// the wait for its coros) panicked. Only the calling coro waits.
    ///
    /// # Errors
    /// The thread's panic payload, as `std::thread::JoinHandle::join`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = corio::thread::spawn(|| -> u8 { panic!("boom") });
    /// let payload = t.join().unwrap_err();
    /// assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    /// ```
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (the thread goes on, detached).
    ///
    /// # Switching
    ///
    /// Suspends the current coro until the thread has finished.
    #[track_caller]
    pub fn join(mut self) -> std::thread::Result<T> {
        let r = self.result.get();
        // The thread has sent its result and is ending: this wait is short.
        let native = self.native.take().map(|n| n.join());
        match (r, native) {
            (Some(r), _) => r,
            (None, Some(Err(payload))) => Err(payload),
            // The thread ended without a result and without a panic: not
            // possible (the closure's panic is caught and sent).
            (None, _) => Err(Box::new("corio::thread: the thread ended without a result")),
        }
    }

    /// The thread's `std::thread::Thread` (name, id, `unpark`).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = corio::thread::spawn(|| ());
    /// let id = t.thread().id();
    /// assert_ne!(id, std::thread::current().id());
    /// t.join().unwrap();
    /// ```
    pub fn thread(&self) -> &std::thread::Thread {
        match &self.native {
            Some(n) => n.thread(),
            // `native` is taken only by `join`, which consumes the handle.
            None => unreachable!("corio::thread::JoinHandle used after join"),
        }
    }

    /// Whether the thread has finished: its closure and all its coros.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = corio::thread::spawn(|| ());
    /// while !t.is_finished() {
    ///     corio::sleep(std::time::Duration::from_millis(1));
    /// }
    /// t.join().unwrap();
    /// ```
    pub fn is_finished(&self) -> bool {
        self.native.as_ref().is_none_or(|n| n.is_finished())
    }
}
