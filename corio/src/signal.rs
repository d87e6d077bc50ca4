//! Unix signals — `SIGTERM`, `SIGINT`, `SIGHUP`, … — as a blocking call
//! that parks only the current coro.
//!
//! **Which `Signal` is which.** This module is about the operating
//! system's signals, the ones `kill(1)` sends. [`sync::Signal`] is
//! something else: Perl's `Coro::Signal`, a condition variable that one
//! coro `send`s to wake another.
//!
//! [`Signals::new`] starts listening for some signals; [`Signals::wait`]
//! parks the coro until one of them arrives and says which. [`ctrl_c`]
//! waits for one `SIGINT`.
//!
//! ```
//! use corio::signal::{SIGTERM, SIGUSR1, Signals};
//!
//! let signals = Signals::new(&[SIGTERM, SIGUSR1])?;
//! // Somebody sends us SIGUSR1 (here: we do).
//! // SAFETY: raise has no preconditions.
//! unsafe { libc::raise(SIGUSR1) };
//! assert_eq!(signals.wait(), SIGUSR1);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A server stops on `SIGTERM` like this (see the `kv` example):
//!
//! ```no_run
//! # let server: corio::net::ServerHandle = unimplemented!();
//! use std::time::Duration;
//! use corio::signal::{SIGINT, SIGTERM, Signals};
//!
//! Signals::new(&[SIGTERM, SIGINT])?.wait();
//! server.shutdown(); // no new connections
//! server.drain(Duration::from_secs(5)); // let the open ones finish
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # How it works
//!
//! Underneath is the `signal-hook` crate: its handler, which does nothing
//! but what is safe in a signal handler, records the signal and writes a
//! byte to a socket pair that the thread's reactor watches. So signals
//! are delivered to the thread where the [`Signals`] was made, whichever
//! thread the kernel interrupted, and a coro waiting for one is waiting
//! for I/O: the deadlock check never reports a program that waits only
//! for a signal.
//!
//! Once a signal has had a [`Signals`] listening for it, its default
//! action (ending the process, for `SIGTERM` and `SIGINT`) no longer
//! happens, even after every `Signals` is dropped: the handler stays
//! installed and ignores the signal. This is `signal-hook`'s rule, and
//! tokio's.
//!
//! [`sync::Signal`]: crate::sync::Signal

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;

use crate::io::reg::{READ, Registration};

/// The signal numbers (`libc`'s constants, through `signal-hook`).
pub use signal_hook::consts::signal::*;

/// A set of signals this coro's thread listens for, with the deliveries
/// that have not been waited for yet.
///
/// Several `Signals` may exist, for the same signals or others, on one
/// thread or several: each gets every delivery of its signals that
/// happens after it was made. Deliveries of one signal that come before
/// anybody waits are merged into one (the kernel does the same with a
/// pending signal).
///
/// `&Signals` is an endless [`Iterator`]: `for sig in &signals` handles
/// them one after another. `Signals` belongs to the thread that made it
/// (it is not `Send`: the compiler names its `Rc<Behaviour>` field).
///
/// Not to be confused with [`sync::Signal`](crate::sync::Signal), a
/// condition variable between coros; see the [module docs](self).
///
/// # Examples
///
/// ```
/// use corio::signal::{SIGHUP, SIGUSR2, Signals};
///
/// let a = Signals::new(&[SIGUSR2, SIGHUP])?;
/// let b = Signals::new(&[SIGUSR2])?;
/// // SAFETY: raise has no preconditions.
/// unsafe { libc::raise(SIGUSR2) };
/// // Each of them gets it.
/// assert_eq!(a.wait(), SIGUSR2);
/// assert_eq!(b.wait(), SIGUSR2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Signals {
    /// Declared before `delivery`: deregistered before the socket closes.
    reg: Registration,
    /// The handler's record of which signals came, and the read end of its
    /// socket pair (non-blocking).
    delivery: RefCell<SignalDelivery<UnixStream, SignalOnly>>,
    /// Signals taken from `delivery` but not yet returned (one look may
    /// find several).
    ready: RefCell<VecDeque<i32>>,
    signals: Vec<i32>,
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("signals", &self.signals)
            .field("fd", &self.reg_fd())
            .finish()
    }
}

impl Signals {
    /// Starts listening for `signals` on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::signal::{SIGKILL, SIGTERM, Signals};
    ///
    /// let term = Signals::new(&[SIGTERM])?;
    /// # drop(term);
    /// // SIGKILL cannot be caught.
    /// assert!(Signals::new(&[SIGKILL]).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` for a signal that cannot or must not be caught
    /// (`SIGKILL`, `SIGSTOP`, `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`) or
    /// that does not exist; the system's error when the socket pair or
    /// the handler cannot be set up.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn new(signals: &[i32]) -> io::Result<Signals> {
        let max = libc::SIGRTMAX();
        for &s in signals {
            if s <= 0 || s > max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{s} is not a signal number"),
                ));
            }
            if signal_hook::consts::FORBIDDEN.contains(&s) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("signal {s} cannot be caught"),
                ));
            }
        }
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let fd = read.as_raw_fd();
        let delivery = SignalDelivery::with_pipe(read, write, SignalOnly, signals)?;
        let reg = Registration::new(fd, mio::Interest::READABLE)?;
        Ok(Signals {
            reg,
            delivery: RefCell::new(delivery),
            ready: RefCell::new(VecDeque::new()),
            signals: signals.to_vec(),
        })
    }

    fn reg_fd(&self) -> Option<i32> {
        self.delivery
            .try_borrow()
            .ok()
            .map(|d| d.get_read().as_raw_fd())
    }

    /// The signals it listens for.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::signal::{SIGHUP, Signals};
    /// assert_eq!(Signals::new(&[SIGHUP])?.signals(), [SIGHUP]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn signals(&self) -> &[i32] {
        &self.signals
    }

    /// Waits for one of its signals and returns its number. A signal that
    /// came since the last call (or since `new`) is returned at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corio::signal::{SIGALRM, Signals};
    ///
    /// let alarm = Signals::new(&[SIGALRM])?;
    /// // Another thread sends it while this coro waits.
    /// let sender = std::thread::spawn(|| {
    ///     std::thread::sleep(Duration::from_millis(20));
    ///     // SAFETY: kill has no preconditions.
    ///     unsafe { libc::kill(libc::getpid(), SIGALRM) };
    /// });
    /// assert_eq!(alarm.wait(), SIGALRM);
    /// sender.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (no delivery is lost: the next wait gets it).
    ///
    /// # Switching
    ///
    /// Suspends the current coro until a signal comes, unless one is
    /// there already.
    #[track_caller]
    pub fn wait(&self) -> i32 {
        self.wait_until(None).expect("no deadline")
    }

    /// Like [`wait`](Signals::wait), but gives up after `timeout` and
    /// returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corio::signal::{SIGVTALRM, Signals};
    ///
    /// let vt = Signals::new(&[SIGVTALRM])?;
    /// assert_eq!(vt.wait_timeout(Duration::from_millis(5)), None);
    /// // SAFETY: raise has no preconditions.
    /// unsafe { libc::raise(SIGVTALRM) };
    /// assert_eq!(vt.wait_timeout(Duration::from_secs(10)), Some(SIGVTALRM));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// As [`wait`](Signals::wait).
    ///
    /// # Switching
    ///
    /// Suspends the current coro until a signal comes or the time is up,
    /// unless a signal is there already.
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> Option<i32> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// A signal that came and has not been waited for, if there is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::signal::{SIGWINCH, Signals};
    ///
    /// let winch = Signals::new(&[SIGWINCH])?;
    /// assert_eq!(winch.try_wait(), None);
    /// // SAFETY: raise has no preconditions.
    /// unsafe { libc::raise(SIGWINCH) };
    /// assert_eq!(winch.try_wait(), Some(SIGWINCH));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_wait(&self) -> Option<i32> {
        if let Some(s) = self.ready.borrow_mut().pop_front() {
            return Some(s);
        }
        // Clear first: a signal that comes after the look below writes a
        // new byte, whose edge the reactor reports on its next poll.
        self.reg.clear(READ);
        let mut ready = self.ready.borrow_mut();
        ready.extend(self.delivery.borrow_mut().pending());
        ready.pop_front()
    }

    #[track_caller]
    fn wait_until(&self, deadline: Option<Instant>) -> Option<i32> {
        crate::sched::enter_blocking();
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            // Only `TimedOut` comes back as an error.
            if self.reg.wait(READ, deadline).is_err() {
                return self.try_wait();
            }
        }
    }
}

impl Iterator for &Signals {
    type Item = i32;

    /// Waits for the next signal: never `None`.
    #[track_caller]
    fn next(&mut self) -> Option<i32> {
        Some(self.wait())
    }
}

/// Waits for one `SIGINT` (Ctrl-C in the terminal).
///
/// It listens from the moment it is called: a `SIGINT` that came before
/// is not seen. After the first call, `SIGINT` no longer ends the process
/// (see the [module docs](self)).
///
/// # Examples
///
/// ```no_run
/// corio::signal::ctrl_c()?;
/// println!("bye");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// As [`Signals::new`].
///
/// # Panics
/// As [`Signals::wait`].
///
/// # Switching
///
/// Suspends the current coro until a `SIGINT` comes.
#[track_caller]
pub fn ctrl_c() -> io::Result<()> {
    Signals::new(&[SIGINT])?.wait();
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn forbidden_and_bogus_signals_are_refused() {
        use super::*;
        for s in [0, -1, 100_000, SIGKILL, SIGSTOP, SIGSEGV] {
            let e = Signals::new(&[s]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{s}");
        }
    }
}
