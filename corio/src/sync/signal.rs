//! `Signal`: Perl's `Coro::Signal`, a binary semaphore / condition variable.
//! (Unix signals such as `SIGTERM` are [`corio::signal`](crate::signal).)

use std::cell::Cell;
use std::fmt;
use std::panic::Location;
use std::pin::pin;
use std::time::Duration;

use super::{deadline, enter};
use crate::sched::sched;
use crate::sched::timer::Action;
use crate::sched::wait::{WaitList, WaitNode, Waiter};

/// A signal (Perl's `Coro::Signal`): coros [`wait`](Signal::wait) for it,
/// [`send`](Signal::send) wakes one of them, [`broadcast`](Signal::broadcast)
/// wakes them all.
///
/// A `send` with nobody waiting is remembered — once: any number of such
/// sends make the next `wait` return at once, and only that one. A
/// `broadcast` with nobody waiting is lost, and it also forgets a
/// remembered send. Waking a waiter spuriously (`Coro::ready`) does not
/// end its wait: only a send or a broadcast does.
///
/// **Which `Signal` is which.** This one is between coros of one thread:
/// nothing outside the program sends it. For the operating system's
/// signals — `SIGTERM`, `SIGINT` (Ctrl-C), `SIGHUP` — use
/// [`corio::signal::Signals`](crate::signal::Signals).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use corio::sync::Signal;
///
/// let ready = Rc::new(Signal::new());
/// let r = ready.clone();
/// let worker = corio::spawn(move || {
///     r.wait();
///     "got the signal"
/// });
/// corio::cede(); // the worker waits
/// ready.send();
/// assert_eq!(worker.join().unwrap(), "got the signal");
/// ```
pub struct Signal {
    sent: Cell<bool>,
    waiters: WaitList,
    /// Feature `tracing`: its tokio-console resource, once waited on.
    #[cfg(feature = "tracing")]
    res: crate::spans::Resource,
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("sent", &self.sent.get())
            .field("waiters", &self.waiters.coros())
            .finish()
    }
}

impl Default for Signal {
    fn default() -> Self {
        Signal::new()
    }
}

/// What a waiter found when it woke.
enum Woke {
    Signalled,
    TimedOut,
}

impl Signal {
    /// A signal that nobody waits for and that was not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// let sig = corio::sync::Signal::new();
    /// assert!(!sig.awaited() && !sig.is_sent());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub const fn new() -> Signal {
        Signal {
            sent: Cell::new(false),
            waiters: WaitList::new(),
            #[cfg(feature = "tracing")]
            res: crate::spans::Resource::new(),
        }
    }

    /// Waits for a `send` or `broadcast`; returns at once, consuming it, if
    /// a send is remembered.
    ///
    /// # Examples
    ///
    /// ```
    /// let sig = corio::sync::Signal::new();
    /// sig.send(); // nobody waits: remembered
    /// sig.wait(); // returns at once
    /// assert!(!sig.is_sent());
    /// ```
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (a send it had received goes to the next waiter); panics with
    /// the deadlock report if nothing can ever send.
    ///
    /// # Switching
    ///
    /// Suspends the current coro unless a send is remembered.
    #[track_caller]
    #[inline(always)]
    pub fn wait(&self) {
        self.wait_until(None, Location::caller());
    }

    /// Like [`wait`](Signal::wait), but gives up after `timeout`; returns
    /// whether the signal came.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let sig = corio::sync::Signal::new();
    /// assert!(!sig.wait_timeout(Duration::from_millis(2)));
    /// sig.send();
    /// assert!(sig.wait_timeout(Duration::from_millis(2)));
    /// ```
    ///
    /// # Panics
    /// As [`wait`](Signal::wait).
    ///
    /// # Switching
    ///
    /// Suspends the current coro unless a send is remembered, up to
    /// `timeout`.
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        matches!(
            self.wait_until(deadline(timeout), Location::caller()),
            Woke::Signalled
        )
    }

    #[inline(always)]
    fn wait_until(
        &self,
        deadline: Option<std::time::Instant>,
        loc: &'static Location<'static>,
    ) -> Woke {
        let (s, me) = enter();
        if self.sent.replace(false) {
            return Woke::Signalled;
        }
        let node = pin!(WaitNode::new(me));
        let timer = deadline.map(|d| s.timers.arm(d, Action::Ready(me)));
        let pass_on = PassOn {
            sig: self,
            node: &node,
        };
        #[cfg(feature = "tracing")]
        let op = self.res.wait(
            &crate::spans::SIGNAL,
            "Signal::wait",
            "poll_wait",
            loc,
            || (),
        );
        loop {
            self.waiters.push_back(node.as_ref());
            s.park_on(
                loc,
                crate::sched::inner::What::Signal(self as *const Self as usize),
            );
            if node.is_woken() {
                std::mem::forget(pass_on);
                #[cfg(feature = "tracing")]
                if let Some(op) = op {
                    op.ready(|| ());
                }
                return Woke::Signalled;
            }
            if timer.as_ref().is_some_and(|t| t.fired()) {
                return Woke::TimedOut;
            }
            // A spurious wake-up: the node kept its place.
        }
    }

    /// Registers `f` to run at the next send (now, consuming it, if one is
    /// remembered), in its turn among the waiters; `f` must not block.
    /// Perl's `$signal->wait(\&cb)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// let sig = corio::sync::Signal::new();
    /// let hits = Rc::new(Cell::new(0));
    /// let h = hits.clone();
    /// sig.wait_callback(move || h.set(h.get() + 1));
    /// sig.send();
    /// assert_eq!(hits.get(), 1);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro (`f` must not either).
    pub fn wait_callback(&self, f: impl FnOnce() + 'static) {
        if self.sent.replace(false) {
            f();
        } else {
            self.waiters.push_callback(Box::new(f));
        }
    }

    /// Wakes the longest waiter (calling it, if it is a callback); with
    /// nobody waiting, remembers the send for the next `wait`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sig = corio::sync::Signal::new();
    /// sig.send();
    /// sig.send(); // sends without waiters collapse into one
    /// assert!(sig.is_sent());
    /// sig.wait();
    /// assert!(!sig.is_sent());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn send(&self) {
        match self.waiters.pop_front() {
            Some(Waiter::Coro(c)) => {
                sched().ready(c);
            }
            Some(Waiter::Callback(f)) => f.call(),
            None => self.sent.set(true),
        }
    }

    /// Wakes every current waiter and forgets a remembered send; with
    /// nobody waiting, it is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// let sig = corio::sync::Signal::new();
    /// sig.send();
    /// sig.broadcast();
    /// assert!(!sig.is_sent());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn broadcast(&self) {
        self.sent.set(false);
        let s = sched();
        // Only those waiting now: callbacks run after the list is emptied,
        // so one that waits again is not woken by this broadcast.
        let mut callbacks = Vec::new();
        while let Some(w) = self.waiters.pop_front() {
            match w {
                Waiter::Coro(c) => {
                    s.ready(c);
                }
                Waiter::Callback(f) => callbacks.push(f),
            }
        }
        for f in callbacks {
            f.call();
        }
    }

    /// Whether anybody waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// let sig = Rc::new(corio::sync::Signal::new());
    /// let s = sig.clone();
    /// let h = corio::spawn(move || s.wait());
    /// corio::cede();
    /// assert!(sig.awaited());
    /// sig.send();
    /// h.join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn awaited(&self) -> bool {
        !self.waiters.is_empty()
    }

    /// How many coros wait (callbacks not counted).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio::sync::Signal::new().waiters(), 0);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn waiters(&self) -> usize {
        self.waiters.coros()
    }

    /// Whether a send is remembered (Perl's `count` of a signal).
    ///
    /// # Examples
    ///
    /// ```
    /// let sig = corio::sync::Signal::new();
    /// sig.send();
    /// assert!(sig.is_sent());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_sent(&self) -> bool {
        self.sent.get()
    }
}

/// Sends again if a signalled waiter unwinds before it ran.
struct PassOn<'a> {
    sig: &'a Signal,
    node: &'a WaitNode,
}

impl Drop for PassOn<'_> {
    fn drop(&mut self) {
        if self.node.is_woken() {
            self.sig.send();
        }
    }
}
