//! The engine of [`select!`](crate::select!): each branch's call runs in a
//! coro of its own, started at once and in order; the first call to return
//! wins, and the others are cancelled before they can run again.
//!
//! # Protocol
//!
//! The caller makes a [`State`] on its stack: the branches, a [`Race`], a
//! strong handle to the coro that runs each branch, and which branches'
//! calls have finished. For each branch in order, while no branch has won,
//! it hands the branch's call (a [`Job`]) to a coro and runs that coro at
//! once on top of itself ([`Scheduler::run_now`]): the call either
//! returns right there — that branch wins, and the later ones never start
//! — or parks, and the caller goes on with the next branch, nothing else
//! having run in between.
//!
//! A branch wins by [claiming](Race::claim) the race: when its call
//! returns (or panics), or when a getter takes the item of its parked
//! `put`. Claiming marks every other branch's coro cancelled and readies
//! it, without switching: none of them can complete its call after that,
//! since a marked coro unwinds as soon as it is switched in. The caller
//! parks until there is a winner, then cancels the losers and waits until
//! every call has finished (the losers' `Drop`s ran), and hands the
//! winner's value to its arm. If the caller is interrupted, it claims the
//! race itself (so no branch can win any more) and stops every branch
//! whose call is still running, as a scope does, before unwinding on.
//!
//! # Helpers
//!
//! The coros that run the calls are *helpers*, kept per thread: a helper
//! whose call returned goes back to an idle list (at most [`MAX_IDLE`]) and
//! parks, and the next branch reuses it, so a select whose first branch is
//! ready costs two switches and no spawn. Reuse must be invisible: a helper
//! goes back only if nothing of its call is left on it — no pending
//! interrupt, no extra state (coro-locals, hooks, `on_destroy`, a
//! description), no handle that anybody kept ([`reusable`]). Otherwise it
//! ends, as a coro of its own would have. A call being cancelled always
//! ends its helper (the cancel is sticky).
//!
//! The invariant that makes it sound: `select` returns or unwinds only
//! after every job it handed out has finished (`State::done`), and a job
//! touches the caller's stack only while it runs.
//!
//! [`Scheduler::run_now`]: crate::sched::Scheduler::run_now

use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell};
use std::panic::{self, AssertUnwindSafe, Location};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{Mask, bind_frame, forget_payload, stop};
use crate::sched::inner::{ATTN, CoroInner, CoroRef, HOOKS, QUEUED, SUSPENDED, What};
use crate::sched::timer::Action;
use crate::sched::{CancelUnwind, SpawnOpts, TerminateUnwind, prio_of, sched};
use crate::sync::race::{self, Race};

/// One branch of a `select!`: the call to make, then what it returned.
pub struct Branch<F, T> {
    f: Cell<Option<F>>,
    out: Cell<Option<T>>,
}

impl<F, T> Branch<F, T>
where
    F: FnOnce() -> T,
{
    /// A branch that will call `f`.
    #[inline(always)]
    pub fn new(f: F) -> Self {
        Branch {
            f: Cell::new(Some(f)),
            out: Cell::new(None),
        }
    }

    /// The value of the call, if this branch won.
    #[inline(always)]
    pub fn take(&self) -> Option<T> {
        self.out.take()
    }
}

impl<F, T> std::fmt::Debug for Branch<F, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Branch").finish_non_exhaustive()
    }
}

/// A branch as the engine sees it.
///
/// Sealed: [`Branch`] is its only implementation. The engine relies on
/// `run` never unwinding (a branch's call is run under `catch_unwind` and
/// its panic handed to the caller); an implementation of a user's whose
/// `run` panicked would leave `select` waiting for ever.
///
/// ```compile_fail
/// struct Mine;
/// impl corio::__private::Arm for Mine {
///     fn run(&self, _: &corio::__private::State<'_>, _: usize) {
///         panic!("never finishes the branch")
///     }
/// }
/// ```
pub trait Arm: sealed::Sealed {
    /// Makes the call in the running coro, as branch `k` of `state`.
    #[doc(hidden)]
    fn run(&self, state: &State<'_>, k: usize);
}

mod sealed {
    /// Seals [`Arm`](super::Arm): nameable only in this module.
    pub trait Sealed {}
    impl<F: FnOnce() -> T, T> Sealed for super::Branch<F, T> {}
}

impl<F, T> Arm for Branch<F, T>
where
    F: FnOnce() -> T,
{
    fn run(&self, state: &State<'_>, k: usize) {
        let Some(f) = self.f.take() else { return };
        let me = sched().cur();
        race::enter_branch(me, &state.race, k);
        let r = panic::catch_unwind(AssertUnwindSafe(f));
        race::leave_branch(me);
        match r {
            Ok(v) => {
                if state.race.claim(k) {
                    self.out.set(Some(v));
                }
                // Else the call returned although its branch had lost (it
                // caught the cancel): its value goes.
            }
            Err(p) if p.is::<CancelUnwind>() => {}
            Err(p) => {
                let p: Box<dyn Any + Send> = if p.is::<TerminateUnwind>() {
                    Box::new("corio::terminate() ended a select! branch")
                } else {
                    p
                };
                if state.race.claim(k) {
                    state.panic.set(Some(p));
                } else {
                    forget_payload(me, p);
                }
            }
        }
    }
}

/// What the caller of a `select!` shares with the coros of its branches.
pub struct State<'a> {
    arms: &'a [&'a dyn Arm],
    race: Race<'a>,
    /// The coro that runs each branch's call, once it started.
    coros: &'a [OnceCell<CoroRef>],
    /// Whether each branch's call has finished (returned or unwound).
    done: &'a [Cell<bool>],
    /// Calls started and not finished.
    running: Cell<usize>,
    /// The caller, and whether it is parked waiting for calls to finish.
    caller: &'a CoroInner,
    waiting: Cell<bool>,
    /// The panic of the winning branch, if its call panicked.
    panic: Cell<Option<Box<dyn Any + Send>>>,
}

impl std::fmt::Debug for State<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("branches", &self.arms.len())
            .field("winner", &self.race.winner())
            .field("running", &self.running.get())
            .finish_non_exhaustive()
    }
}

impl State<'_> {
    /// Branch `k`'s call finished: from here on its coro touches nothing of
    /// the caller's.
    fn finish(&self, k: usize) {
        self.done[k].set(true);
        self.running.set(self.running.get() - 1);
        if self.waiting.get() {
            sched().ready(self.caller);
        }
    }

    /// Whether branch `k`'s call started and has not finished.
    fn is_running(&self, k: usize) -> bool {
        self.coros[k].get().is_some_and(|c| !c.is_over()) && !self.done[k].get()
    }
}

/// A branch's call, handed to a helper.
///
/// # Invariant
/// `state` points to the live `State` of the `select` that made the job:
/// `select` does not return or unwind before every job it handed out has
/// finished.
struct Job {
    state: *const (),
    k: usize,
    /// Feature `tracing`: the caller's current span, entered while the
    /// branch's call runs (a branch is part of its caller's work, as a
    /// branch of tokio's `select!` is polled inside its task's span).
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl Job {
    fn run(self) {
        // SAFETY: see the type's invariant; the job has not finished.
        let state = unsafe { &*self.state.cast::<State<'_>>() };
        {
            #[cfg(feature = "tracing")]
            let _entered = self.span.enter();
            state.arms[self.k].run(state, self.k);
        }
        state.finish(self.k);
    }
}

/// How many idle helpers a thread keeps.
pub(crate) const MAX_IDLE: usize = 16;

/// A helper's mailbox: the job it is to run next.
#[derive(Default)]
struct Mailbox {
    job: Cell<Option<Job>>,
    /// Set when the helper is not to be reused: it ends when it next runs.
    quit: Cell<bool>,
}

/// An idle helper.
struct Helper {
    coro: CoroRef,
    mailbox: Rc<Mailbox>,
}

/// This thread's idle helpers, the most recently used last.
struct IdleList(RefCell<Vec<Helper>>);

impl Drop for IdleList {
    /// The thread exits. The list is first touched by a select, after the
    /// thread's scheduler was made, so it goes before the scheduler's
    /// teardown: the helpers are ended properly here (each unwinds its own
    /// idle loop, which holds nothing of anybody's), instead of being
    /// abandoned with their stacks by the teardown.
    fn drop(&mut self) {
        let helpers = std::mem::take(self.0.get_mut());
        let Some(s) = crate::sched::try_sched() else {
            return;
        };
        let loc = Location::caller();
        for h in helpers {
            h.mailbox.quit.set(true);
            if !h.coro.is_over() && !s.is_running(&h.coro) {
                s.cancel(&h.coro, loc);
            }
        }
    }
}

thread_local! {
    static IDLE: IdleList = const { IdleList(RefCell::new(Vec::new())) };
}

/// The body of a helper coro: run the job in the mailbox, go back to the
/// idle list if nothing of it is left on this coro, park; again.
fn helper(mailbox: Rc<Mailbox>) {
    let s = sched();
    let loc = Location::caller();
    loop {
        if mailbox.quit.get() {
            return;
        }
        if let Some(job) = mailbox.job.take() {
            job.run();
            let me = s.cur_ref();
            if !reusable(&me, 3) {
                return;
            }
            // (Not during the thread's teardown, when the list is gone.)
            let kept = IDLE.try_with(|idle| {
                let Ok(mut idle) = idle.0.try_borrow_mut() else {
                    return false;
                };
                if idle.len() >= MAX_IDLE {
                    return false;
                }
                idle.push(Helper {
                    coro: me,
                    mailbox: mailbox.clone(),
                });
                true
            });
            if kept != Ok(true) {
                return;
            }
        }
        // Idle. An interrupt (somebody cancelled or threw at an idle
        // helper) ends it here; a job handed over meanwhile (there is no
        // such moment, but if there were) is then given up, not lost: its
        // select must learn that it will not run.
        let abandon = Abandon(&mailbox);
        s.park_on(loc, What::Idle);
        std::mem::forget(abandon);
    }
}

/// Gives up the job in a mailbox when a helper unwinds before taking it.
struct Abandon<'a>(&'a Mailbox);

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if let Some(job) = self.0.job.take() {
            // SAFETY: see `Job`'s invariant; the job has not finished.
            let state = unsafe { &*job.state.cast::<State<'_>>() };
            state.finish(job.k);
        }
    }
}

/// Whether the helper `c` is as good as new: nothing pending, nothing
/// installed on it, and no handle to it besides the `handles` the engine
/// holds (the scheduler's own, the select's or the idle list's, and
/// `c` itself).
///
/// A helper whose stack grew past [`DEEP`] goes too, so that its pages go
/// back to the stack pool (which releases cold pages) instead of staying
/// resident in an idle coro.
fn reusable(c: &CoroRef, handles: usize) -> bool {
    c.strong_count() == handles
        && !c.interrupted()
        && !c.has(QUEUED | SUSPENDED | ATTN | HOOKS)
        && !c.has_extra()
        && !c.is_over()
        && c.binds.get() == 0
        && c.stack_used() <= DEEP
}

/// See [`reusable`].
const DEEP: usize = 32 * 1024;

/// Hands branch `k`'s call to a helper (an idle one, or a new one) and
/// runs it at once, until the call returns or parks.
fn start(state: &State<'_>, k: usize, level: u8) {
    let s = sched();
    let job = Job {
        state: (state as *const State<'_>).cast(),
        k,
        #[cfg(feature = "tracing")]
        span: tracing::Span::current(),
    };
    let c = loop {
        let idle = IDLE.try_with(|idle| idle.0.try_borrow_mut().ok()?.pop());
        let Some(h) = idle.ok().flatten() else {
            let mailbox = Rc::new(Mailbox::default());
            mailbox.job.set(Some(job));
            let opts = SpawnOpts {
                name: None,
                level,
                stack_size: None,
                suspended: true,
            };
            let c = match s.spawn(move || helper(mailbox), opts) {
                Ok(c) => c,
                Err(e) => panic!("corio::select!: cannot start a branch: {e}"),
            };
            c.has_handle.set(false);
            break c;
        };
        // The idle list's handle, `h.coro`, and the scheduler's.
        if reusable(&h.coro, 2) && !s.is_running(&h.coro) {
            h.mailbox.job.set(Some(job));
            if h.coro.level() != level {
                s.set_prio(&h.coro, prio_of(level));
            }
            break h.coro;
        }
        // Somebody did something to it while it was idle: it goes.
        h.mailbox.quit.set(true);
        s.resume(&h.coro);
        s.ready(&h.coro);
    };
    state.running.set(state.running.get() + 1);
    let c = state.coros[k].get_or_init(|| c);
    s.run_now(c);
}

/// What a `select!` does when no branch wins (its `default` or `timeout`
/// arm).
#[derive(Clone, Copy, Debug)]
pub enum Fallback {
    /// Wait for a branch, however long it takes.
    None,
    /// Give up unless a branch returns at once (`default =>`).
    Default,
    /// Give up unless a branch returns within this time (`timeout(d) =>`).
    After(Duration),
}

/// Runs a `select!` over `arms` (see the macro); returns the index of the
/// branch that won, or `None` when the fallback arm won (no branch returned
/// at once, or in time).
///
/// # Panics
/// Re-raises the panic of a branch's call that panicked first; panics if
/// every branch's coro was cancelled (by somebody else) before one
/// returned, or if a coro cannot be made. Unwinds with the interrupt of
/// the calling coro after stopping every branch.
#[track_caller]
pub fn select<const N: usize>(arms: [&dyn Arm; N], fallback: Fallback) -> Option<usize> {
    let loc = Location::caller();
    let s = sched();
    let me = s.cur();
    if me.interrupted() {
        s.raise(me);
    }
    let deadline = match fallback {
        Fallback::After(d) => Some(Instant::now().checked_add(d)),
        _ => None,
    };
    let coros: [OnceCell<CoroRef>; N] = std::array::from_fn(|_| OnceCell::new());
    let done: [Cell<bool>; N] = std::array::from_fn(|_| Cell::new(false));
    let state = State {
        arms: &arms,
        race: Race::new(&coros),
        coros: &coros,
        done: &done,
        running: Cell::new(0),
        caller: me,
        waiting: Cell::new(false),
        panic: Cell::new(None),
    };
    // Held until every branch's call finished, also when the caller
    // unwinds.
    let _bound = bind_frame();
    let default = matches!(fallback, Fallback::Default);
    let run = panic::catch_unwind(AssertUnwindSafe(|| run(&state, default, deadline, loc)));
    state.waiting.set(false);
    if let Err(p) = run {
        // Nobody may win any more; then no call may outlive this frame.
        state.race.claim(N);
        let _mask = Mask::new();
        for (k, c) in coros.iter().enumerate() {
            if state.is_running(k)
                && let Some(c) = c.get()
            {
                stop(c, loc);
            }
        }
        panic::resume_unwind(p);
    }
    if let Some(p) = state.panic.take() {
        panic::resume_unwind(p);
    }
    match state.race.winner() {
        Some(k) if k < N => Some(k),
        Some(_) => None,
        None => panic!(
            "corio::select!: every branch's coro was cancelled (by another coro) \
             before one returned"
        ),
    }
}

/// The body of [`select`], which unwinds when the caller is interrupted.
/// `deadline` is that of a `timeout` arm: `Some(None)` when it is beyond
/// the clock's range (never).
fn run(
    state: &State<'_>,
    default: bool,
    deadline: Option<Option<Instant>>,
    loc: &'static Location<'static>,
) {
    let s = sched();
    let level = state.caller.level();
    for k in 0..state.arms.len() {
        if state.race.winner().is_some() {
            break;
        }
        start(state, k, level);
    }
    if default {
        // Nothing returned at once: the default arm wins.
        state.race.claim(state.arms.len());
    }
    state.waiting.set(true);
    // Wait for a winner; a branch's call ends only when one won, or when
    // somebody else cancels its coro. A `timeout` arm wins at its deadline.
    let timer = deadline
        .flatten()
        .map(|d| s.timers.arm(d, Action::Ready(state.caller)));
    while state.race.winner().is_none() {
        if timer.as_ref().is_some_and(|t| t.fired()) {
            state.race.claim(state.arms.len());
            break;
        }
        if state.running.get() == 0 && deadline.is_none() {
            break;
        }
        s.park_on(loc, What::Schedule);
    }
    drop(timer);
    // The losers are marked: cancel them for good (a suspended one too)
    // and wait until each call has unwound, and the winner's has returned.
    let winner = state.race.winner();
    for k in 0..state.arms.len() {
        while state.is_running(k) && Some(k) != winner {
            if let Some(c) = state.coros[k].get() {
                s.cancel(c, loc);
            }
            if state.is_running(k) {
                // Busy with a cancel of its own: it unwinds after that.
                s.park_on(loc, What::Schedule);
            }
        }
    }
    while state.running.get() > 0 {
        s.park_on(loc, What::Schedule);
    }
}

/// Waits for the first of several blocking calls to return — Go's
/// `select`, for any blocking call: a channel `get` or `put`, a semaphore,
/// a lock, a socket read, a `sleep`, a `join`, a function of your own that
/// blocks inside.
///
/// ```text
/// corio::select! {
///     pattern = call => arm,          // an expression, then a comma
///     pattern = call => { block }     // or a block (the comma is optional)
///     pattern = { block } => arm,     // a call may be a block too
///     ...
///     default => arm,           // optional, last: if no call returns at once
///     timeout(duration) => arm, // or this: if none returns in time
/// }
/// ```
///
/// A block as a branch's call runs in the branch's coro, so a branch can
/// be several statements (but see *Nothing is lost* below: make its last
/// blocking call the one that decides):
///
/// ```
/// use corio::sync::Channel;
///
/// let (a, b) = (Channel::<u32>::new(), Channel::<u32>::new());
/// b.put(20).unwrap();
/// let got = corio::select! {
///     v = a.get() => v.unwrap(),
///     v = {
///         let extra = 1; // statements of the branch's own
///         b.get().map(|v| v + extra)
///     } => {
///         let v = v.unwrap();
///         v * 2
///     }
/// };
/// assert_eq!(got, 42);
/// ```
///
/// Each `call` runs in a coro of its own (a scoped one: it may borrow from
/// the caller, and need not be `'static`). The branches start in order,
/// each right away: a call that returns without blocking wins on the spot
/// and the later branches never start. Otherwise the first call to return
/// wins. The others are cancelled before they can run again, and the
/// caller waits until they have unwound (their `Drop`s ran); then the
/// winner's `arm` runs in the caller with `pattern` bound to what its call
/// returned. An arm may `break`, `continue`, `return` or use `?` as in the
/// caller's own code; the `select!` is an expression whose value is the
/// arm's.
///
/// - **Order**: when several calls could return at once, the first in
///   order wins (Go picks one at random), so a branch that is always ready
///   keeps the ones after it from ever winning.
/// - **Nothing is lost**: a cancelled `get` takes no item, a cancelled
///   `down` takes no unit, a cancelled `lock` holds no lock. A `put` on a
///   full (or rendezvous) [`sync::Channel`](crate::sync::Channel) gives
///   its item only if its branch wins (the item of a losing `put` is
///   dropped with its call): a getter that would take it from a branch
///   whose select was already decided passes it by, and a getter that
///   takes it decides that select. This holds for the branch's first
///   blocking call: make each branch one call, as in Go (a branch that
///   takes an item and then blocks again loses that item if it loses).
///   It holds for this thread's primitives; a put on a
///   [`sync::mpmc::Channel`](crate::sync::mpmc::Channel) whose item a
///   getter on another thread took has completed, win or lose.
/// - **`timeout(d)`**: Go's `case <-time.After(d)`: runs when no call
///   returned within `d` of the start; every branch is then cancelled, and
///   took nothing. The caller waits with a timer of its own, so a branch
///   that wins in time costs no extra coro. (A branch
///   `_ = corio::sleep(d) => ...` does the same with a coro, which must be
///   cancelled when another branch wins.)
/// - **`default`**: runs when no branch returned at once (without
///   blocking); every branch is then cancelled, and took nothing.
/// - **Panics**: a call that panics wins, and the `select!` re-raises its
///   panic after the others were cancelled. If the calling coro is
///   cancelled, thrown at or timed out while it waits, every branch is
///   cancelled and awaited before that unwinding goes on.
/// - A branch's coro that somebody else cancels just drops out; if every
///   branch drops out so, `select!` panics.
/// - **Hooked code**: a losing branch blocked in a C library (a
///   `std::net` call under the `hook` feature) cannot unwind there; it
///   unwinds at its next corio call or [`checkpoint`](crate::checkpoint),
///   and the `select!` waits until then (see
///   [Cancels and timeouts](crate::hook#cancels-and-timeouts)).
///
/// Patterns are irrefutable (a refutable one is a compile error: match in
/// the arm instead).
///
/// # Cost
///
/// The coros that run the calls are kept per thread and reused when a
/// call leaves nothing on its coro (no coro-local, hook, handle anybody
/// kept, pending cancel): a select whose first branch returns at once
/// costs two switches and no spawn — about what Go's `select` over ready
/// channels costs (see BENCHMARKS.md). Idle ones show in
/// [`debug::ps`](crate::debug::ps), parked in `corio/src/scope/select.rs`.
/// Cancelling a branch that parked unwinds its coro's stack, which costs
/// microseconds: a `default` arm that wins because the branches had to
/// wait, and every branch that loses after it parked, pay that.
///
/// # Examples
///
/// The first branch that is ready wins; the other takes nothing:
///
/// ```
/// use corio::sync::Channel;
///
/// let (a, b) = (Channel::<&str>::new(), Channel::<&str>::new());
/// b.put("from b").unwrap();
/// let got = corio::select! {
///     v = a.get() => format!("a: {}", v.unwrap()),
///     v = b.get() => format!("b: {}", v.unwrap()),
/// };
/// assert_eq!(got, "b: from b");
/// a.put("later").unwrap();
/// assert_eq!(a.try_get(), Some("later")); // the losing get took nothing
/// ```
///
/// A timeout, and a `default`:
///
/// ```
/// use corio::sync::Channel;
/// use std::time::Duration;
///
/// let never = Channel::<u32>::new();
/// let r = corio::select! {
///     v = never.get() => v,
///     timeout(Duration::from_millis(5)) => None,
/// };
/// assert_eq!(r, None);
///
/// let r = corio::select! {
///     v = never.get() => v,
///     default => Some(0),
/// };
/// assert_eq!(r, Some(0));
/// ```
///
/// A put that loses gives nothing:
///
/// ```
/// use corio::sync::Channel;
///
/// let jobs = Channel::bounded(1);
/// jobs.put(1).unwrap(); // now full
/// let quit = Channel::new();
/// quit.put(()).unwrap();
/// let r = corio::select! {
///     _ = jobs.put(2) => "sent",
///     _ = quit.get() => "quit",
/// };
/// assert_eq!(r, "quit");
/// assert_eq!((jobs.try_get(), jobs.try_get()), (Some(1), None));
/// ```
///
/// A loop over two channels, with a producer in a [`scope`](crate::scope)
/// (coros that borrow the channels):
///
/// ```
/// use corio::sync::Channel;
///
/// let (nums, quit) = (Channel::new(), Channel::new());
/// let sum = corio::scope(|s| {
///     s.spawn(|| {
///         for n in 1..=3 {
///             nums.put(n).unwrap();
///         }
///         quit.put(()).unwrap();
///     });
///     let mut sum = 0;
///     loop {
///         corio::select! {
///             n = nums.get() => sum += n.unwrap(),
///             _ = quit.get() => break sum,
///         }
///     }
/// });
/// assert_eq!(sum, 6);
/// ```
///
/// # Panics
///
/// Re-raises the panic of a branch's call (the first to panic, if it did
/// so before another returned); panics if every branch's coro was
/// cancelled by somebody else, or if a coro cannot be made (no memory).
///
/// # Switching
///
/// Always switches: each branch runs in a coro of its own, started from
/// the caller. The caller stays suspended until a branch won (or the
/// `timeout` arm) and the others unwound; with a `default` arm, it never
/// waits for a branch.
#[macro_export]
macro_rules! select {
    (@parse [$($acc:tt)*] , $($rest:tt)*) => {
        $crate::select!(@parse [$($acc)*] $($rest)*)
    };
    (@parse [$($acc:tt)*] default => $arm:block $(,)?) => {
        $crate::select!(@emit [$($acc)*] [($crate::__private::Fallback::Default) $arm])
    };
    (@parse [$($acc:tt)*] default => $arm:expr $(,)?) => {
        $crate::select!(@emit [$($acc)*] [($crate::__private::Fallback::Default) $arm])
    };
    (@parse [$($acc:tt)*] timeout($d:expr) => $arm:block $(,)?) => {
        $crate::select!(@emit [$($acc)*] [($crate::__private::Fallback::After($d)) $arm])
    };
    (@parse [$($acc:tt)*] timeout($d:expr) => $arm:expr $(,)?) => {
        $crate::select!(@emit [$($acc)*] [($crate::__private::Fallback::After($d)) $arm])
    };
    (@parse [$($acc:tt)*] $pat:pat = $call:expr => $arm:block $($rest:tt)*) => {
        $crate::select!(@parse [$($acc)* (__slot __branch $pat $call $arm)] $($rest)*)
    };
    (@parse [$($acc:tt)*] $pat:pat = $call:expr => $arm:expr , $($rest:tt)*) => {
        $crate::select!(@parse [$($acc)* (__slot __branch $pat $call $arm)] $($rest)*)
    };
    (@parse [$($acc:tt)*] $pat:pat = $call:expr => $arm:expr) => {
        $crate::select!(@parse [$($acc)* (__slot __branch $pat $call $arm)])
    };
    (@parse [$($acc:tt)*]) => {
        $crate::select!(@emit [$($acc)*] [])
    };
    (@emit [$( ($slot:ident $branch:ident $pat:tt $call:tt $arm:tt) )*] [$($fallback:tt $default:tt)?]) => {{
        // Each branch's value lands in its slot; the branches (and what
        // their calls borrow) are gone before the arm runs.
        $( let $slot; )*
        {
            $( let $branch = $crate::__private::Branch::new(|| $call); )*
            let _ = $crate::__private::select(
                [$( &$branch as &dyn $crate::__private::Arm ),*],
                $crate::select!(@fallback $($fallback)?),
            );
            $( $slot = $branch.take(); )*
        }
        $(
            if let ::core::option::Option::Some(__value) = $slot {
                match __value {
                    $pat => $arm,
                }
            } else
        )* {
            $crate::select!(@default $($default)?)
        }
    }};
    (@fallback) => { $crate::__private::Fallback::None };
    (@fallback $fallback:tt) => { $fallback };
    (@default) => { ::core::unreachable!("corio::select!: no branch won") };
    (@default $default:tt) => { $default };
    ($($input:tt)+) => {
        $crate::select!(@parse [] $($input)+)
    };
}

/// What `select!` expands to uses these; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use super::{Arm, Branch, Fallback, State, select};
}
