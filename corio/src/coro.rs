//! Coros and their handles: [`spawn`], [`Builder`], [`Coro`], [`JoinHandle`],
//! and the calls that give up the CPU.

use std::any::{Any, type_name};
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::io;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use crate::sched::inner::{CANCELLED, CoroRef, Outcome, QUEUED, SUSPENDED, State};
use crate::sched::{self, SpawnOpts, TerminateUnwind, level_of, sched};

pub use crate::sched::inner::CoroId;

/// Highest priority: such a coro runs before all others.
pub const PRIO_MAX: i32 = 3;
/// High priority.
pub const PRIO_HIGH: i32 = 1;
/// The priority of every new coro and of the main coro.
pub const PRIO_NORMAL: i32 = 0;
/// Low priority.
pub const PRIO_LOW: i32 = -1;
/// Idle priority: runs only when nothing more important is ready.
pub const PRIO_IDLE: i32 = -3;
/// Lowest priority.
pub const PRIO_MIN: i32 = -4;

/// Why [`JoinHandle::join`] did not return the coro's value.
pub enum JoinError {
    /// The coro was cancelled ([`Coro::cancel`], [`killall`], thread exit).
    Cancelled,
    /// The coro panicked (or a [`Coro::throw`] payload was not caught); this
    /// is the panic payload.
    Panicked(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    /// Whether the coro was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(corio::schedule);
    /// corio::cede();
    /// h.cancel();
    /// assert!(h.join().unwrap_err().is_cancelled());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// Whether the coro panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = corio::spawn(|| -> u8 { panic!("no") }).join().unwrap_err();
    /// assert!(e.is_panic() && !e.is_cancelled());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// The panic payload, to resume the panic with
    /// [`std::panic::resume_unwind`].
    ///
    /// # Panics
    /// Panics if the coro was cancelled rather than panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = corio::spawn(|| std::panic::panic_any(7u8)).join().unwrap_err();
    /// assert_eq!(e.into_panic().downcast_ref::<u8>(), Some(&7));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self {
            JoinError::Panicked(p) => p,
            JoinError::Cancelled => panic!("JoinError::into_panic on a cancelled coro"),
        }
    }

    /// The panic message, if the payload is a string.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = corio::spawn(|| panic!("broken pipe dream")).join().unwrap_err();
    /// assert_eq!(e.panic_message(), Some("broken pipe dream"));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            JoinError::Panicked(p) => p
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(String::as_str)),
            JoinError::Cancelled => None,
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("Cancelled"),
            JoinError::Panicked(_) => match self.panic_message() {
                Some(m) => f.debug_tuple("Panicked").field(&m).finish(),
                None => f.write_str("Panicked(..)"),
            },
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("coro was cancelled"),
            JoinError::Panicked(_) => match self.panic_message() {
                Some(m) => write!(f, "coro panicked: {m}"),
                None => f.write_str("coro panicked"),
            },
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    fn from(e: JoinError) -> io::Error {
        io::Error::other(e.to_string())
    }
}

/// A handle to a coro: cheap to clone, tied to the coro's thread (`!Send`).
///
/// It names the coro for the scheduler's operations (ready, suspend,
/// cancel, throw, priorities) and for inspection (state, counters,
/// description). It does not keep a finished coro's stack alive.
///
/// # Examples
///
/// ```
/// let worker = corio::spawn(|| corio::schedule());
/// let coro = worker.coro();
/// corio::cede(); // the worker runs and blocks in schedule()
/// assert!(!coro.is_ready() && !coro.is_done());
/// assert!(coro.ready()); // wake it
/// worker.join().unwrap();
/// assert!(coro.is_done());
/// ```
///
/// Coros never leave their thread, so neither do their handles:
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// send(corio::current());
/// ```
#[derive(Clone)]
pub struct Coro(pub(crate) CoroRef);

// A coro's scheduling state stays consistent when a panic unwinds through
// code holding a handle: every scheduler operation completes or has not
// started, so observing the handle after `catch_unwind` is sound and
// meaningful.
impl std::panic::UnwindSafe for Coro {}
impl std::panic::RefUnwindSafe for Coro {}
impl<T> std::panic::UnwindSafe for JoinHandle<T> {}
impl<T> std::panic::RefUnwindSafe for JoinHandle<T> {}

impl PartialEq for Coro {
    fn eq(&self, other: &Coro) -> bool {
        self.0.ptr_eq(&other.0)
    }
}

impl Eq for Coro {}

impl Hash for Coro {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.id.hash(h);
    }
}

impl fmt::Debug for Coro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Coro");
        d.field("id", &self.0.id);
        if let Some(desc) = self.0.desc() {
            d.field("desc", &desc);
        }
        d.field("state", &self.state_name()).finish()
    }
}

impl Coro {
    fn state_name(&self) -> &'static str {
        match self.0.state() {
            State::New => "new",
            State::Done => "done",
            State::Abandoned => "abandoned",
            State::Live if sched().is_running(&self.0) => "running",
            State::Live if self.0.has(SUSPENDED) => "suspended",
            State::Live if self.0.has(QUEUED) => "ready",
            State::Live => "blocked",
        }
    }

    /// The coro's id.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio::current().id(), corio::current().id());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn id(&self) -> CoroId {
        self.0.id
    }

    /// The description shown by `ps`, or an empty string. The main coro's is
    /// `[main]`.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::Builder::new().name("worker").spawn(|| ()).unwrap();
    /// assert_eq!(h.coro().desc(), "worker");
    /// h.coro().set_desc("renamed");
    /// assert_eq!(h.coro().name().as_deref(), Some("renamed"));
    /// # h.join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn desc(&self) -> String {
        self.0.desc().unwrap_or_default()
    }

    /// The description, if one was set ([`Builder::name`], [`set_desc`]).
    ///
    /// [`set_desc`]: Coro::set_desc
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio::spawn(|| ()).coro().name(), None);
    /// assert_eq!(corio::current().name().as_deref(), Some("[main]"));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn name(&self) -> Option<String> {
        self.0.desc()
    }

    /// Sets the description shown by `ps` (Perl's `$coro->{desc}`).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| corio::current().set_desc("busy"));
    /// h.coro().set_desc("queued");
    /// assert_eq!(h.coro().desc(), "queued");
    /// let c = h.coro();
    /// h.join().unwrap();
    /// assert_eq!(c.desc(), "busy");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_desc(&self, desc: impl Into<String>) {
        let desc = desc.into();
        self.0.extra_mut(|e| e.desc = Some(desc));
    }

    /// The priority, `PRIO_MIN..=PRIO_MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::Builder::new().prio(corio::PRIO_LOW).spawn(|| ()).unwrap();
    /// assert_eq!(h.coro().prio(), corio::PRIO_LOW);
    /// assert_eq!(corio::current().prio(), corio::PRIO_NORMAL);
    /// # h.join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn prio(&self) -> i32 {
        sched::prio(&self.0)
    }

    /// Sets the priority (clamped to `PRIO_MIN..=PRIO_MAX`) and returns the
    /// old one. A queued coro moves to the back of its new priority's queue;
    /// for the running coro it takes effect at its next [`cede`].
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| ());
    /// assert_eq!(h.coro().set_prio(corio::PRIO_HIGH), corio::PRIO_NORMAL);
    /// assert_eq!(h.coro().set_prio(100), corio::PRIO_HIGH);
    /// assert_eq!(h.coro().prio(), corio::PRIO_MAX);
    /// # h.join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn set_prio(&self, prio: i32) -> i32 {
        sched().set_prio(&self.0, prio)
    }

    /// Lowers the priority by `change` (`set_prio(prio() - change)`, like
    /// Unix `nice`); returns the old priority.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| ());
    /// assert_eq!(h.coro().nice(2), corio::PRIO_NORMAL);
    /// assert_eq!(h.coro().prio(), -2);
    /// # h.join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn nice(&self, change: i32) -> i32 {
        let prio = self.prio().saturating_sub(change);
        self.set_prio(prio)
    }

    /// Puts the coro at the back of its priority's ready queue. Returns
    /// `false` if it already was ready (or is done). Never switches: the
    /// coro runs when the current one gives up the CPU.
    ///
    /// Waking a coro that waits for something else is harmless: every
    /// blocking call re-checks its condition and waits again.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    ///
    /// # Examples
    ///
    /// ```
    /// let sleeper = corio::spawn(|| { corio::schedule(); "woke" });
    /// corio::cede(); // it runs and sleeps in schedule()
    /// assert!(sleeper.coro().ready());
    /// assert!(!sleeper.coro().ready()); // already queued
    /// assert_eq!(sleeper.join().unwrap(), "woke");
    /// ```
    pub fn ready(&self) -> bool {
        sched().ready(&self.0)
    }

    /// Whether the coro is queued to run (or holds an activation while
    /// suspended).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(corio::schedule);
    /// assert!(h.coro().is_ready()); // queued by spawn
    /// corio::cede();
    /// assert!(!h.coro().is_ready()); // blocked in schedule()
    /// # h.cancel();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_ready(&self) -> bool {
        self.0.is_ready()
    }

    /// Whether this is the running coro.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corio::current().is_running());
    /// let h = corio::spawn(|| corio::current().is_running());
    /// assert!(!h.coro().is_running());
    /// assert!(h.join().unwrap());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_running(&self) -> bool {
        sched().is_running(&self.0)
    }

    /// Whether [`suspend`](Coro::suspend) is in effect.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| ());
    /// h.coro().suspend();
    /// assert!(h.coro().is_suspended());
    /// h.coro().resume();
    /// assert!(!h.coro().is_suspended());
    /// # h.join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_suspended(&self) -> bool {
        self.0.has(SUSPENDED)
    }

    /// Whether the coro never ran yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| ());
    /// assert!(h.coro().is_new());
    /// corio::cede();
    /// assert!(!h.coro().is_new());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_new(&self) -> bool {
        self.0.state() == State::New
    }

    /// Whether the coro has finished (returned, panicked or was cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| ());
    /// let c = h.coro();
    /// assert!(!c.is_done());
    /// h.join().unwrap();
    /// assert!(c.is_done());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_done(&self) -> bool {
        self.0.is_over()
    }

    /// Whether the coro was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(corio::schedule);
    /// corio::cede();
    /// h.cancel();
    /// assert!(h.coro().is_cancelled());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_cancelled(&self) -> bool {
        self.0.has(CANCELLED)
    }

    /// Stops the scheduler from ever picking this coro until
    /// [`resume`](Coro::resume). An activation (a `ready`) that arrives
    /// meanwhile is kept, not lost; a running coro that suspends itself
    /// keeps running until it blocks or cedes.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| "ran");
    /// h.coro().suspend();
    /// corio::cede();
    /// assert!(h.coro().is_new()); // never picked while suspended
    /// h.coro().resume();
    /// assert_eq!(h.join().unwrap(), "ran");
    /// ```
    pub fn suspend(&self) {
        sched().suspend(&self.0);
    }

    /// Undoes [`suspend`](Coro::suspend), queuing the coro again if it was
    /// readied meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| ());
    /// h.coro().suspend();
    /// h.coro().resume();
    /// assert!(h.coro().is_ready()); // its activation was kept
    /// # h.join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn resume(&self) {
        sched().resume(&self.0);
    }

    /// Ends the coro now: its stack unwinds at the point where it waits, so
    /// every `Drop` runs (guards release locks, files close), in the coro's
    /// own context. Then its [`on_destroy`](Coro::on_destroy) callbacks run,
    /// last registered first, then its joiners wake; `cancel` returns after
    /// all that. A coro that never ran is simply dropped. Cancelling the
    /// running coro unwinds it at once. A coro that is itself in the middle
    /// of a `cancel` finishes that one first.
    ///
    /// A cancelled coro stays cancelled: if it catches the unwind, every
    /// later blocking call unwinds again, and `join` reports `Cancelled`
    /// whatever it returns. The main coro is the exception, since it is the
    /// thread itself: cancelling it makes its current or next blocking call
    /// unwind once (like [`throw`](Coro::throw)), and `cancel` does not wait.
    ///
    /// A victim blocked in a C library (a `std::net` call or
    /// `std::thread::sleep` under the `hook` feature) cannot unwind there:
    /// its hooked calls fail with `ECANCELED` until it reaches a corio call
    /// or [`checkpoint`](crate::checkpoint), where it unwinds — and
    /// `cancel` waits until then (see
    /// [Cancels and timeouts](crate::hook#cancels-and-timeouts)).
    ///
    /// Cancelling unwinds, so it needs `panic = "unwind"` (the default).
    /// In a program built with `panic = "abort"`, the victim prints one
    /// line naming itself, the call and the reason, and the process aborts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// struct Flag(Rc<Cell<bool>>);
    /// impl Drop for Flag {
    ///     fn drop(&mut self) { self.0.set(true); }
    /// }
    ///
    /// let dropped = Rc::new(Cell::new(false));
    /// let d = dropped.clone();
    /// let h = corio::spawn(move || {
    ///     let _flag = Flag(d);
    ///     corio::schedule(); // waits forever
    /// });
    /// corio::cede();
    /// h.cancel();
    /// assert!(dropped.get());
    /// assert!(h.join().unwrap_err().is_cancelled());
    /// ```
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the victim unwinds (unless the victim
    /// never ran or is done).
    #[track_caller]
    pub fn cancel(&self) {
        sched().cancel(&self.0, Location::caller());
    }

    /// Makes the coro's current (or next) blocking call panic with
    /// `payload`, and readies it. The coro can catch it like any panic; if
    /// it does not, [`JoinHandle::join`] returns `Panicked(payload)`.
    /// Throwing at the running coro fires at its next blocking call
    /// ([`cede`] included). A later throw replaces an earlier one that did
    /// not fire yet. A coro that is unwinding a panic (blocked in a `Drop`)
    /// gets the throw at its first blocking call after the unwind, if it
    /// catches the panic; raising it in the `Drop` would abort the process.
    ///
    /// Like [`cancel`](Coro::cancel), it unwinds: with `panic = "abort"`
    /// the target prints one line naming itself, the call and the payload,
    /// and the process aborts.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| corio::schedule());
    /// corio::cede();
    /// h.coro().throw("stop");
    /// let err = h.join().unwrap_err();
    /// assert_eq!(err.panic_message(), Some("stop"));
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn throw<P: Any + Send>(&self, payload: P) {
        sched().throw(&self.0, Box::new(payload));
    }

    /// Withdraws a [`throw`](Coro::throw) that did not fire yet (Perl's
    /// `throw(undef)`); returns whether one was pending.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| { corio::cede(); "unharmed" });
    /// corio::cede();
    /// h.coro().throw("never mind");
    /// assert!(h.coro().clear_throw());
    /// assert_eq!(h.join().unwrap(), "unharmed");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn clear_throw(&self) -> bool {
        sched().clear_throw(&self.0)
    }

    /// Registers `f` to run when the coro ends, after its stack unwound and
    /// before its joiners wake; callbacks run last registered first. For a
    /// coro that already ended, `f` runs now. The main coro's callbacks run
    /// when its thread exits. A panic in `f` is reported and ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    ///
    /// let order = Rc::new(RefCell::new(Vec::new()));
    /// let h = corio::spawn(|| ());
    /// for i in 0..3 {
    ///     let o = order.clone();
    ///     h.coro().on_destroy(move || o.borrow_mut().push(i));
    /// }
    /// h.join().unwrap();
    /// assert_eq!(*order.borrow(), [2, 1, 0]);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro (`f` must not either).
    pub fn on_destroy(&self, f: impl FnOnce() + 'static) {
        if self.0.is_done() {
            f();
        } else {
            self.0.extra_mut(|e| e.on_destroy.push(Box::new(f)));
        }
    }

    /// How many times the coro was switched in.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| { corio::cede(); corio::cede(); });
    /// let c = h.coro();
    /// corio::cede(); // switched in once, cedes back to us
    /// corio::cede(); // twice
    /// h.join().unwrap(); // three times, and it ends
    /// assert_eq!(c.switches(), 3);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn switches(&self) -> u64 {
        self.0.switches.get()
    }

    /// Usable size of the coro's stack in bytes (0 for the main coro, whose
    /// stack is the thread's).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::Builder::new().stack_size(1 << 20).spawn(|| ()).unwrap();
    /// assert_eq!(h.coro().stack_size(), 1 << 20);
    /// assert_eq!(corio::spawn(|| ()).coro().stack_size(), corio::stack::DEFAULT_STACK_SIZE);
    /// # h.join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn stack_size(&self) -> usize {
        if self.0.is_main() {
            0
        } else {
            self.0.stack_size()
        }
    }

    /// Deepest stack use seen when the coro was switched out, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(corio::schedule);
    /// corio::cede();
    /// let used = h.coro().stack_used();
    /// assert!(used > 0 && used < h.coro().stack_size());
    /// # h.cancel();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn stack_used(&self) -> usize {
        self.0.stack_used()
    }

    /// Where the coro last blocked or ceded (the caller of the blocking
    /// call), if it ever did.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| corio::schedule());
    /// corio::cede();
    /// let at = h.coro().location().unwrap();
    /// assert_eq!(at.line(), line!() - 3);
    /// # h.cancel();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.0.where_.get()
    }

    /// Real and CPU time spent running this coro while
    /// [`debug::enable_times`](crate::debug::enable_times) was on.
    ///
    /// # Examples
    ///
    /// ```
    /// corio::debug::enable_times(true);
    /// let h = corio::spawn(|| (0..10_000u64).map(std::hint::black_box).sum::<u64>());
    /// let c = h.coro();
    /// h.join().unwrap();
    /// let (real, cpu) = c.times();
    /// assert!(real > std::time::Duration::ZERO && cpu <= real + std::time::Duration::from_millis(10));
    /// corio::debug::enable_times(false);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn times(&self) -> (Duration, Duration) {
        self.0
            .with_extra(|e| e.map_or((Duration::ZERO, Duration::ZERO), |e| (e.real, e.cpu)))
    }

    /// A backtrace of the coro where it waits, taken on its own stack (the
    /// running coro's is just `Backtrace::force_capture()`). Frames below
    /// the coro's entry belong to the scheduler that switched to it. A coro
    /// that never ran or has ended has no stack: its backtrace is
    /// `Backtrace::disabled()`.
    ///
    /// # Examples
    ///
    /// ```
    /// #[inline(never)]
    /// fn waits_in_here() {
    ///     corio::schedule();
    /// }
    /// let h = corio::spawn(waits_in_here);
    /// corio::cede();
    /// let bt = h.coro().backtrace().to_string();
    /// assert!(bt.contains("waits_in_here"), "{bt}");
    /// # h.cancel();
    /// ```
    ///
    /// # Switching
    ///
    /// Switches to the coro and straight back (the coro does not run any
    /// of its own code, and keeps waiting where it was).
    pub fn backtrace(&self) -> std::backtrace::Backtrace {
        sched().backtrace(&self.0)
    }

    /// Switches to this coro right away, ignoring priorities; the current
    /// coro is not re-queued (like [`schedule`]). Perl's `schedule_to`.
    ///
    /// # Switching
    ///
    /// Suspends the current coro until something readies it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    ///
    /// let order = Rc::new(RefCell::new(Vec::new()));
    /// let o = order.clone();
    /// let first = corio::spawn(move || o.borrow_mut().push("queued first"));
    /// let (o, me) = (order.clone(), corio::current());
    /// let second = corio::spawn(move || {
    ///     o.borrow_mut().push("switched to");
    ///     me.ready(); // nobody else would wake the main coro
    /// });
    /// second.coro().schedule_to();
    /// assert_eq!(*order.borrow(), ["switched to", "queued first"]);
    /// # first.join().unwrap();
    /// ```
    #[track_caller]
    pub fn schedule_to(&self) {
        sched().switch_to(&self.0, false, Location::caller());
    }

    /// Queues the current coro, then switches to this one right away,
    /// ignoring priorities. Perl's `cede_to`.
    ///
    /// # Switching
    ///
    /// Suspends the current coro; it is ready to run again at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    ///
    /// let order = Rc::new(RefCell::new(Vec::new()));
    /// let o = order.clone();
    /// let a = corio::spawn(move || o.borrow_mut().push("a"));
    /// let o = order.clone();
    /// let b = corio::spawn(move || o.borrow_mut().push("b"));
    /// b.coro().cede_to(); // b first, then the queue: a, then us
    /// assert_eq!(*order.borrow(), ["b", "a"]);
    /// # a.join().unwrap();
    /// # b.join().unwrap();
    /// ```
    #[track_caller]
    pub fn cede_to(&self) {
        sched().switch_to(&self.0, true, Location::caller());
    }
}

/// Owns the right to [`join`](JoinHandle::join) a coro. Dropping it
/// detaches the coro (it keeps running), like `std::thread`.
///
/// It is also a [`Future`], so async code can await a coro.
///
/// It stays on the coro's thread:
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// send(corio::spawn(|| 1));
/// ```
#[must_use = "dropping a JoinHandle detaches the coro; call join() to wait for it"]
pub struct JoinHandle<T> {
    inner: CoroRef,
    _result: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("coro", &Coro(self.inner.clone()))
            .finish()
    }
}

impl<T: 'static> JoinHandle<T> {
    /// Blocks the current coro (not the thread) until the coro ends, and
    /// returns its value, or why there is none. It returns after the coro's
    /// `Drop`s and `on_destroy` callbacks ran.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| 6 * 7);
    /// assert_eq!(h.join().unwrap(), 42);
    ///
    /// let p = corio::spawn(|| -> u32 { panic!("boom") });
    /// assert_eq!(p.join().unwrap_err().panic_message(), Some("boom"));
    /// ```
    ///
    /// # Panics
    /// Panics if a coro joins itself, and with the deadlock report if
    /// nothing can ever end the coro. A [`Coro::throw`] or
    /// [`Coro::cancel`] aimed at the joining coro interrupts the wait.
    ///
    /// # Switching
    ///
    /// Suspends the current coro until the target ends (not at all if it
    /// already did).
    #[track_caller]
    pub fn join(self) -> Result<T, JoinError> {
        sched().join_wait(&self.inner, Location::caller());
        convert(self.inner.outcome.take())
    }
}

impl<T> JoinHandle<T> {
    /// A handle to the coro.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::Builder::new().name("worker").spawn(|| ()).unwrap();
    /// assert_eq!(h.coro().desc(), "worker");
    /// # h.join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn coro(&self) -> Coro {
        Coro(self.inner.clone())
    }

    /// Cancels the coro; see [`Coro::cancel`] (also for what a cancel
    /// means to code blocked in a C library under the `hook` feature).
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the victim unwinds.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| loop { corio::cede() });
    /// corio::cede();
    /// h.cancel();
    /// assert!(h.is_finished());
    /// ```
    #[track_caller]
    pub fn cancel(&self) {
        sched().cancel(&self.inner, Location::caller());
    }

    /// Whether the coro has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::spawn(|| 1);
    /// assert!(!h.is_finished());
    /// corio::cede();
    /// assert!(h.is_finished());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_finished(&self) -> bool {
        self.inner.is_over()
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.inner.has_handle.set(false);
        // The value of a finished coro nobody joined is dropped here, in the
        // dropper's context.
        drop(self.inner.outcome.take());
    }
}

impl<T: 'static> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        if self.inner.is_over() {
            Poll::Ready(convert(self.inner.outcome.take()))
        } else {
            let waker = cx.waker().clone();
            // The waker it replaces is dropped out here: its drop is user
            // code, which must not run inside `extra_mut`.
            let old = self.inner.extra_mut(|e| e.waker.replace(waker));
            drop(old);
            Poll::Pending
        }
    }
}

fn convert<T: 'static>(outcome: Option<Outcome>) -> Result<T, JoinError> {
    match outcome {
        Some(Outcome::Returned(v)) => v.take::<T>().map_err(|_| {
            JoinError::Panicked(Box::new("corio: internal error: result of the wrong type"))
        }),
        Some(Outcome::Terminated(b)) => {
            let (value, name) = *b;
            value.downcast::<T>().map(|b| *b).map_err(|_| {
                JoinError::Panicked(Box::new(format!(
                    "corio::terminate() was given a value of type `{name}`, \
                     but this coro returns `{}`",
                    type_name::<T>()
                )))
            })
        }
        Some(Outcome::Failed(e)) => Err(e),
        None => Err(JoinError::Panicked(Box::new(
            "corio: the result of this coro was already taken (JoinHandle polled after completion)",
        ))),
    }
}

/// Configures a coro before spawning it: description, priority, stack size.
///
/// # Examples
///
/// ```
/// let h = corio::Builder::new()
///     .name("indexer")
///     .prio(corio::PRIO_LOW)
///     .stack_size(1 << 20)
///     .spawn(|| corio::current().desc())
///     .unwrap();
/// assert_eq!(h.join().unwrap(), "indexer");
///
/// let err = corio::Builder::new().stack_size(0).spawn(|| ()).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a Builder does nothing until spawn() is called"]
pub struct Builder {
    name: Option<String>,
    prio: i32,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with the defaults: no description, [`PRIO_NORMAL`], a
    /// [`DEFAULT_STACK_SIZE`](crate::stack::DEFAULT_STACK_SIZE) stack.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::Builder::new().spawn(|| 2 + 2).unwrap();
    /// assert_eq!(h.join().unwrap(), 4);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Sets the description shown by `ps` (see [`Coro::desc`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::Builder::new().name("poller").spawn(|| ()).unwrap();
    /// assert!(corio::debug::ps().contains("poller"));
    /// # h.join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Sets the priority (clamped to `PRIO_MIN..=PRIO_MAX`) before the coro
    /// is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// // Queued behind nothing: a higher priority runs before the coro spawned first.
    /// let low = corio::spawn(|| ());
    /// let high = corio::Builder::new().prio(corio::PRIO_HIGH).spawn(|| ()).unwrap();
    /// corio::cede(); // runs `high` only: `low` has our priority and comes after us
    /// assert!(high.is_finished());
    /// # low.join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn prio(mut self, prio: i32) -> Builder {
        self.prio = prio;
        self
    }

    /// Sets the usable stack size in bytes (rounded up to whole pages, at
    /// least [`MIN_STACK_SIZE`](crate::stack::MIN_STACK_SIZE)). Only touched
    /// pages cost memory.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::Builder::new().stack_size(4 << 20).spawn(|| ()).unwrap();
    /// assert_eq!(h.coro().stack_size(), 4 << 20);
    /// # h.join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Spawns the coro at the back of its priority's ready queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::Builder::new().name("adder").spawn(|| 1 + 1)?;
    /// assert_eq!(h.join().unwrap(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` for a stack size of 0 or beyond
    /// [`MAX_STACK_SIZE`](crate::stack::MAX_STACK_SIZE); `OutOfMemory` (or
    /// the mapping's own error) when the stack cannot be mapped or guarded.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[cfg_attr(feature = "tracing", track_caller)]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        self.spawn_inner(f, false)
    }

    /// Spawns the coro without queuing it: it runs only after
    /// [`Coro::ready`] (Perl's `new Coro`).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = corio::Builder::new().spawn_suspended(|| 1).unwrap();
    /// corio::cede();
    /// assert!(h.coro().is_new());
    /// h.coro().ready();
    /// assert_eq!(h.join().unwrap(), 1);
    /// ```
    ///
    /// # Errors
    /// As for [`spawn`](Builder::spawn).
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[cfg_attr(feature = "tracing", track_caller)]
    pub fn spawn_suspended<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        self.spawn_inner(f, true)
    }

    #[cfg_attr(feature = "tracing", track_caller)]
    fn spawn_inner<F, T>(self, f: F, suspended: bool) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let opts = SpawnOpts {
            name: self.name,
            level: level_of(self.prio),
            stack_size: self.stack_size,
            suspended,
        };
        let inner = sched().spawn(f, opts)?;
        Ok(JoinHandle {
            inner,
            _result: PhantomData,
        })
    }
}

/// Creates a coro running `f` and puts it at the back of the ready queue
/// (Perl's `async`). It does not run until the current coro gives up the
/// CPU ([`cede`], a blocking call, or the end of the current coro).
///
/// # Examples
///
/// ```
/// let h = corio::spawn(|| "hello from a coro");
/// assert!(h.coro().is_new());
/// assert_eq!(h.join().unwrap(), "hello from a coro");
/// ```
///
/// # Panics
/// Panics with the error's message if no stack can be mapped (see
/// [`Builder::spawn`] for the fallible form).
///
/// # Switching
///
/// Never suspends the current coro.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    let opts = SpawnOpts {
        name: None,
        level: level_of(PRIO_NORMAL),
        stack_size: None,
        suspended: false,
    };
    match sched().spawn(f, opts) {
        Ok(inner) => JoinHandle {
            inner,
            _result: PhantomData,
        },
        Err(e) => panic!("corio::spawn: {e}"),
    }
}

/// A handle to the running coro (the main coro outside any other).
///
/// # Examples
///
/// ```
/// let main = corio::current();
/// assert_eq!(main.desc(), "[main]");
/// let h = corio::spawn(move || corio::current() != main);
/// assert!(h.join().unwrap());
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn current() -> Coro {
    Coro(sched().cur_ref())
}

/// Gives the CPU to the next ready coro of the same or higher priority,
/// queuing the current one behind its equals. Returns at once if there is
/// none: `cede` never runs lower-priority coros (see [`cede_notself`]).
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// let out = Rc::new(RefCell::new(Vec::new()));
/// let o = out.clone();
/// let h = corio::spawn(move || {
///     o.borrow_mut().push("async 1");
///     corio::cede();
///     o.borrow_mut().push("async 2");
/// });
/// out.borrow_mut().push("main 1");
/// corio::cede();
/// out.borrow_mut().push("main 2");
/// corio::cede();
/// assert_eq!(*out.borrow(), ["main 1", "async 1", "main 2", "async 2"]);
/// # h.join().unwrap();
/// ```
///
/// # Panics
/// Panics with the pending payload if a [`Coro::throw`] is aimed at the
/// current coro; unwinds if it was cancelled.
///
/// # Switching
///
/// Suspends the current coro if an equal or higher priority coro is ready.
#[track_caller]
#[inline(always)]
pub fn cede() {
    sched().cede(Location::caller());
}

/// Gives the CPU to the next ready coro whatever its priority, then queues
/// the current one. Returns at once if no other coro is ready.
///
/// # Switching
///
/// Suspends the current coro if any other coro is ready.
///
/// # Examples
///
/// ```
/// let low = corio::Builder::new().prio(corio::PRIO_LOW).spawn(|| "low ran").unwrap();
/// corio::cede(); // does not run a lower priority
/// assert!(!low.is_finished());
/// corio::cede_notself(); // does
/// assert!(low.is_finished());
/// ```
#[track_caller]
pub fn cede_notself() {
    sched().cede_notself(Location::caller());
}

/// Suspends the current coro without queuing it: it runs again only after
/// somebody calls [`Coro::ready`] on it. (`cede` is `current().ready()`
/// followed by `schedule()`.)
///
/// # Examples
///
/// ```
/// let me = corio::current();
/// let waker = corio::spawn(move || { me.ready(); });
/// corio::schedule(); // sleeps until the coro above readies us
/// waker.join().unwrap();
/// ```
///
/// # Panics
/// Panics with the deadlock report when nothing is ready and nothing could
/// ever ready anything; with a thrown payload; unwinds when cancelled.
///
/// # Switching
///
/// Always suspends the current coro (it resumes at once if it was queued).
#[track_caller]
pub fn schedule() {
    let s = sched();
    let c = s.cur();
    if c.interrupted() {
        s.raise(c);
    }
    s.park_on(Location::caller(), crate::sched::inner::What::Schedule);
}

/// Whether the current coro has a cancel, a throw or a [`timeout`]
/// pending: its next blocking corio call (or [`checkpoint`]) will unwind.
///
/// Blocking calls made through the [`hook`](crate::hook) feature — plain
/// `std::net`, `std::thread::sleep`, a blocking client library — cannot
/// unwind through the C library: once a coro is cancelled they fail at
/// once (`ECANCELED`, `ETIMEDOUT`) until the coro reaches a corio call
/// (see [Cancels and timeouts](crate::hook#cancels-and-timeouts)). Plain
/// code that carries on after errors can ask here, or call [`checkpoint`].
///
/// [`timeout`]: crate::timeout
///
/// # Examples
///
/// ```
/// let h = corio::spawn(|| {
///     corio::cede(); // cancelled here, at the first switch
/// });
/// corio::cede(); // it runs up to its `cede`
/// h.cancel();
/// assert!(h.join().unwrap_err().is_cancelled());
/// assert!(!corio::interrupted()); // nothing pending for this coro
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn interrupted() -> bool {
    match sched::try_sched() {
        Some(s) => s.would_raise(s.cur()),
        None => false,
    }
}

/// Acts on a pending cancel, throw or [`timeout`](crate::timeout) of the
/// current coro now: unwinds exactly as its next blocking corio call
/// would (its `Drop`s run; a cancel ends the coro, a throw raises its
/// payload, a timeout ends the `timeout` call). Returns at once when
/// nothing is pending.
///
/// A cancellation point for code that does not otherwise call corio: a
/// loop of hooked blocking calls (a `ureq` request per item, a `redis`
/// command per key) whose errors it logs and goes on from would run to its
/// end after a cancel, each call failing with `ECANCELED`; a `checkpoint()`
/// per round ends it at the next round. See
/// [Cancels and timeouts](crate::hook#cancels-and-timeouts).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// let rounds = Rc::new(Cell::new(0));
/// let r = rounds.clone();
/// let worker = corio::spawn(move || {
///     loop {
///         corio::checkpoint(); // ends the loop once cancelled
///         r.set(r.get() + 1);
///         // ... plain blocking work whose errors are only logged ...
///         corio::cede();
///     }
/// });
/// corio::cede();
/// worker.cancel();
/// assert!(worker.join().unwrap_err().is_cancelled());
/// assert_eq!(rounds.get(), 1);
/// ```
///
/// # Panics
/// Unwinds with the pending interrupt, as described. Does nothing while
/// the coro already unwinds (from a `Drop`), as blocking calls do then.
///
/// # Switching
///
/// Never suspends the current coro.
#[track_caller]
pub fn checkpoint() {
    if let Some(s) = sched::try_sched() {
        let c = s.cur();
        if c.interrupted() {
            s.raise(c);
        }
    }
}

/// Number of ready coros, not counting the running one.
///
/// # Examples
///
/// ```
/// let before = corio::nready();
/// let h = corio::spawn(|| ());
/// assert_eq!(corio::nready(), before + 1);
/// h.join().unwrap();
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn nready() -> usize {
    sched().nready()
}

/// Ends the current coro from any call depth: every frame unwinds (all
/// `Drop`s run) and [`JoinHandle::join`] returns `Ok(value)`. If `T` is not
/// the coro's return type, `join` reports it as `Panicked` with a message
/// naming both types.
///
/// # Examples
///
/// ```
/// let h = corio::spawn(|| -> u32 {
///     fn deep(n: u32) -> u32 {
///         if n == 0 { corio::terminate(5u32) } else { deep(n - 1) + 1 }
///     }
///     deep(10)
/// });
/// assert_eq!(h.join().unwrap(), 5);
/// ```
///
/// # Panics
/// Panics when called in the main coro (return from it instead: it is the
/// thread itself). It works by unwinding: in a program built with
/// `panic = "abort"` it prints one line naming the coro and the call, and
/// the process aborts.
///
/// # Switching
///
/// Ends the current coro: it never returns.
#[track_caller]
pub fn terminate<T: 'static>(value: T) -> ! {
    let s = sched();
    let c = s.cur();
    if c.is_main() {
        panic!(
            "corio::terminate() called in the main coro; the main coro is the thread itself, return from it instead"
        );
    }
    let old = c.extra_mut(|e| e.terminate.replace((Box::new(value), type_name::<T>())));
    drop(old);
    sched::unwind(c, Box::new(TerminateUnwind), Some(Location::caller()))
}

/// Cancels every coro of this thread except the current one and the main
/// coro (which is the thread itself; Perl's `killall` includes it).
///
/// # Examples
///
/// ```
/// let a = corio::spawn(|| corio::schedule());
/// let b = corio::spawn(|| corio::schedule());
/// corio::cede();
/// corio::killall();
/// assert!(a.join().unwrap_err().is_cancelled());
/// assert!(b.join().unwrap_err().is_cancelled());
/// ```
///
/// # Switching
///
/// Suspends the current coro while each victim unwinds.
#[track_caller]
pub fn killall() {
    sched().killall(Location::caller());
}

/// Wraps `f` in a callback that may be called from anywhere on this thread
/// (an event-loop callback, foreign code, a `Drop`) where blocking is not
/// allowed: each call returns at once, and `f(arg)` runs later in a fresh
/// coro where it may block. Calls run in the order they were made
/// (Perl's `unblock_sub`).
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let s = seen.clone();
/// let cb = corio::unblock(move |n: u32| {
///     corio::cede(); // blocking is fine in here
///     s.borrow_mut().push(n);
/// });
/// cb(1);
/// cb(2);
/// assert!(seen.borrow().is_empty());
/// while corio::nready() > 0 {
///     corio::cede();
/// }
/// assert_eq!(*seen.borrow(), [1, 2]);
/// ```
///
/// # Switching
///
/// The returned callback never suspends its caller.
pub fn unblock<A: 'static>(f: impl Fn(A) + 'static) -> impl Fn(A) + Clone {
    let f = Rc::new(f);
    move |arg: A| {
        let f = Rc::clone(&f);
        if let Err(e) = Builder::new().spawn(move || f(arg)) {
            eprintln!(
                "corio::unblock: could not spawn a coro for a callback, the call is dropped: {e}"
            );
        }
    }
}
