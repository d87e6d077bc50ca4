//! hyper's runtime hooks on coros: [`Executor`] (a coro per future) and
//! [`Timer`] (corio's timer heap).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// hyper's executor on coros: each future gets a coro of its own, which
/// runs it with [`block_on`](crate::block_on). The future need not be
/// `Send`; blocking corio calls inside it park its coro.
///
/// hyper's HTTP/1 server needs no executor; its client connections, HTTP/2
/// and upgrades do (`hyper::client::conn::http1::Builder` leaves spawning
/// the connection to you: `Executor.execute(conn)`).
///
/// A panic in the future ends its coro only (and is reported on stderr,
/// like any unjoined coro's panic).
///
/// # Examples
///
/// ```
/// use hyper::rt::Executor as _;
/// use std::rc::Rc;
/// use std::cell::Cell;
///
/// let done = Rc::new(Cell::new(false));
/// let d = done.clone();
/// corio::compat::Executor.execute(async move {
///     corio::sleep(std::time::Duration::from_millis(1)); // parks this coro
///     d.set(true);
/// });
/// assert!(!done.get()); // queued, not run yet
/// corio::sleep(std::time::Duration::from_millis(20));
/// assert!(done.get());
/// ```
///
/// # Switching
///
/// `execute` never suspends the current coro: the new coro runs when the
/// current one gives up the CPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct Executor;

impl<F> hyper::rt::Executor<F> for Executor
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        // Detached, as hyper expects of an executor. A coro's closure is
        // moved onto its new stack, which takes at most 1 KiB (corosensei's
        // limit): a bigger future (a hyper connection is) goes in a box.
        if std::mem::size_of::<F>() > 512 {
            let fut = Box::pin(fut);
            drop(crate::spawn(move || {
                crate::block_on(fut);
            }));
        } else {
            drop(crate::spawn(move || {
                crate::block_on(fut);
            }));
        }
    }
}

/// hyper's timer on corio's timers: what `header_read_timeout` and the
/// client's pool and keep-alive timers sleep on.
///
/// Its sleeps ([`Sleep`]) are armed in corio's timer heap by the
/// `block_on` polling them, without a waker round trip.
///
/// # Examples
///
/// ```
/// use hyper::rt::Timer as _;
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// corio::block_on(corio::compat::Timer.sleep(Duration::from_millis(10)));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
///
/// # Switching
///
/// Making a sleep never suspends; awaiting one suspends the coro running
/// the `block_on` until its deadline.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timer;

impl hyper::rt::Timer for Timer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Sleep::new(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Sleep::until(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<Sleep>() {
            Some(s) => s.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A future that is ready at a point in time, on corio's timers: what
/// [`Timer`] hands hyper, and usable on its own (to race a deadline
/// against other futures; plain coro code just calls
/// [`corio::sleep`](crate::sleep)).
///
/// Polled by a [`block_on`](crate::block_on) of the current coro, it arms
/// that coro's wake-up in the timer heap directly. Polled with any other
/// waker, a helper coro sleeps until the deadline and wakes it; so poll it
/// only where corio's scheduler runs.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use corio::compat::Sleep;
///
/// let start = Instant::now();
/// corio::block_on(Sleep::new(Duration::from_millis(10)));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
///
/// # Switching
///
/// Polling never suspends.
#[derive(Debug)]
pub struct Sleep {
    /// `None`: never (a duration beyond the clock's range).
    deadline: Option<Instant>,
    /// The waker of a foreign poll, shared with the helper coro that
    /// sleeps until `deadline` to wake it.
    foreign: Option<Arc<Mutex<Option<Waker>>>>,
}

impl Sleep {
    /// A sleep of `duration` from now.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::compat::Sleep::new(std::time::Duration::from_secs(5));
    /// assert!(s.deadline().unwrap() > std::time::Instant::now());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn new(duration: Duration) -> Sleep {
        Sleep {
            deadline: Instant::now().checked_add(duration),
            foreign: None,
        }
    }

    /// A sleep until `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// let now = std::time::Instant::now();
    /// assert_eq!(corio::compat::Sleep::until(now).deadline(), Some(now));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn until(deadline: Instant) -> Sleep {
        Sleep {
            deadline: Some(deadline),
            foreign: None,
        }
    }

    /// When it is ready (`None`: never).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = corio::compat::Sleep::new(std::time::Duration::MAX);
    /// assert_eq!(s.deadline(), None);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Moves the deadline (hyper's `Timer::reset`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut s = corio::compat::Sleep::new(Duration::from_secs(3600));
    /// let soon = Instant::now() + Duration::from_millis(5);
    /// std::pin::Pin::new(&mut s).reset(soon);
    /// corio::block_on(s);
    /// assert!(Instant::now() >= soon);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        if this.deadline != Some(deadline) {
            this.deadline = Some(deadline);
            // A helper sleeping until the old deadline wakes nobody.
            this.foreign = None;
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(deadline) = this.deadline else {
            return Poll::Pending;
        };
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        if let Some(frame) = crate::future::frame_of(cx) {
            frame.wake_at(deadline);
            return Poll::Pending;
        }
        match &this.foreign {
            Some(f) => {
                let mut w = f.lock().unwrap_or_else(|e| e.into_inner());
                if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *w = Some(cx.waker().clone());
                }
            }
            None => {
                let f = Arc::new(Mutex::new(Some(cx.waker().clone())));
                let weak: Weak<Mutex<Option<Waker>>> = Arc::downgrade(&f);
                this.foreign = Some(f);
                // Detached: it ends at the deadline, waking nobody if the
                // sleep was dropped or reset meanwhile.
                drop(crate::spawn(move || {
                    crate::sleep_until(deadline);
                    if let Some(f) = weak.upgrade() {
                        let w = f.lock().unwrap_or_else(|e| e.into_inner()).take();
                        if let Some(w) = w {
                            w.wake();
                        }
                    }
                }));
            }
        }
        Poll::Pending
    }
}

impl hyper::rt::Sleep for Sleep {}
