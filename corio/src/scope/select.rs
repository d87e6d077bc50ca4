//! The engine of [`select!`](crate::select!): each branch's call runs in a
//! coro of its own, started at once and in order; the first call to return
//! wins, and the others are cancelled before they can run again.
//!
//! # Protocol
//!
//! The caller makes a [`State`] on its stack: the branches, a [`Race`] and
//! a strong handle to each branch's coro. For each branch in order, while
//! no branch has won, it spawns the branch's coro and runs it at once on
//! top of itself ([`Scheduler::run_now`](crate::sched::Scheduler)): the
//! call either returns right there (that branch wins, and the later ones
//! are never started) or parks, and then the caller goes on with the next
//! branch, nothing else having run in between. So a select whose first
//! branch is ready costs one spawn and two switches.
//!
//! A branch wins by [claiming](Race::claim) the race: when its call
//! returns (or panics), or when a getter takes the item of its parked
//! `put`. Claiming marks every other branch's coro cancelled and readies
//! it, without switching: none of them can complete its call after that,
//! since a marked coro unwinds as soon as it is switched in. The caller,
//! parked meanwhile in joins on its branches, wakes when one ends; once
//! there is a winner it cancels what is left and waits for each (their
//! `Drop`s run), then hands the winner's value to its arm. If the caller
//! is interrupted, it claims the race itself (so no branch can win any
//! more), stops every branch as a scope does, and unwinds.

use std::any::Any;
use std::cell::{Cell, OnceCell};
use std::panic::{self, AssertUnwindSafe, Location};

use super::{Mask, bind_frame, forget_payload, stop};
use crate::sched::inner::{CoroInner, CoroRef};
use crate::sched::{CancelUnwind, SpawnOpts, TerminateUnwind, sched};
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
pub trait Arm {
    /// Makes the call in the running coro, branch `k` of `state`.
    #[doc(hidden)]
    fn run(&self, state: &State<'_>, k: usize);
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

/// What the caller of a `select!` shares with its branches' coros.
pub struct State<'a> {
    arms: &'a [&'a dyn Arm],
    race: Race<'a>,
    /// The panic of the winning branch, if its call panicked.
    panic: Cell<Option<Box<dyn Any + Send>>>,
}

impl std::fmt::Debug for State<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("branches", &self.arms.len())
            .field("winner", &self.race.winner())
            .finish_non_exhaustive()
    }
}

/// The `'static` closure of a branch's coro: the state's address and the
/// branch's index.
///
/// # Invariant
/// `state` points to the live `State` of the `select` that spawned the
/// coro: `select` does not return or unwind before every branch's coro
/// ended.
struct Launch {
    state: *const (),
    k: usize,
}

impl Launch {
    fn go(self) {
        // SAFETY: see the type's invariant.
        let state = unsafe { &*self.state.cast::<State<'_>>() };
        state.arms[self.k].run(state, self.k);
    }
}

/// Runs a `select!` over `arms` (see the macro); returns the index of the
/// branch that won, or `None` when `default` is set and no branch returned
/// at once.
///
/// # Panics
/// Re-raises the panic of a branch's call that panicked first; panics if
/// every branch's coro was cancelled (by somebody else) before one
/// returned, or if a coro cannot be made. Unwinds with the interrupt of
/// the calling coro after stopping every branch.
#[track_caller]
pub fn select<const N: usize>(arms: [&dyn Arm; N], default: bool) -> Option<usize> {
    let loc = Location::caller();
    let s = sched();
    let me = s.cur();
    if me.interrupted() {
        s.raise(me);
    }
    let coros: [OnceCell<CoroRef>; N] = std::array::from_fn(|_| OnceCell::new());
    let state = State {
        arms: &arms,
        race: Race::new(&coros),
        panic: Cell::new(None),
    };
    // Held until every branch's coro ended, also when the caller unwinds.
    let _bound = bind_frame();
    let run = panic::catch_unwind(AssertUnwindSafe(|| run(&state, &coros, me, default, loc)));
    match run {
        Ok(()) => {}
        Err(p) => {
            // Nobody may win any more, then nobody may outlive this frame.
            state.race.claim(N);
            let _mask = Mask::new();
            for c in coros.iter().filter_map(OnceCell::get) {
                stop(c, loc);
            }
            panic::resume_unwind(p);
        }
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
fn run<const N: usize>(
    state: &State<'_>,
    coros: &[OnceCell<CoroRef>; N],
    me: &CoroInner,
    default: bool,
    loc: &'static Location<'static>,
) {
    let s = sched();
    for (k, slot) in coros.iter().enumerate() {
        if state.race.winner().is_some() {
            break;
        }
        let launch = Launch {
            state: (state as *const State<'_>).cast(),
            k,
        };
        let opts = SpawnOpts {
            name: None,
            level: me.level(),
            stack_size: None,
            suspended: true,
        };
        let c = match s.spawn(move || launch.go(), opts) {
            Ok(c) => c,
            Err(e) => panic!("corio::select!: cannot start a branch: {e}"),
        };
        c.has_handle.set(false);
        let c = slot.get_or_init(|| c);
        s.run_now(c);
    }
    if default {
        // Nothing returned at once: the default arm wins.
        state.race.claim(N);
    }
    // Wait for a winner: each branch's coro ends only when one won, or
    // when somebody else cancels it.
    while state.race.winner().is_none() {
        match coros
            .iter()
            .filter_map(OnceCell::get)
            .find(|c| !c.is_done())
        {
            Some(c) => s.join_wait(c, loc),
            None => break,
        }
    }
    // The losers are marked: cancel them for good (a suspended one too)
    // and wait until each has unwound.
    for c in coros.iter().filter_map(OnceCell::get) {
        while !c.is_done() {
            s.cancel(c, loc);
            if !c.is_done() {
                // Busy with a cancel of its own: it unwinds after that.
                s.join_wait(c, loc);
            }
        }
    }
}

/// Waits for the first of several blocking calls to return — Go's
/// `select`, for any blocking call: a channel `get` or `put`, a semaphore,
/// a lock, a socket read, a `sleep`, a `join`, a function of your own that
/// blocks inside.
///
/// ```text
/// corio::select! {
///     pattern = call => arm,
///     ...
///     default => arm,        // optional, last
/// }
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
/// - **Nothing is lost**: a cancelled `get` takes no item, a cancelled
///   `down` takes no unit, a cancelled `lock` holds no lock. A `put` on a
///   full (or rendezvous) [`sync::Channel`](crate::sync::Channel) gives
///   its item only if its branch wins: a getter that would take it from a
///   branch whose select was already decided passes it by, and a getter
///   that takes it decides that select. This holds for the branch's first
///   blocking call: make each branch one call, as in Go (a branch that
///   takes an item and then blocks again loses that item if it loses).
/// - **Timeouts**: a branch `_ = corio::sleep(d) => ...` is Go's
///   `case <-time.After(d)`.
/// - **`default`**: runs when no branch returned at once (without
///   blocking); every branch is then cancelled, and took nothing.
/// - **Panics**: a call that panics wins, and the `select!` re-raises its
///   panic after the others were cancelled. If the calling coro is
///   cancelled, thrown at or timed out while it waits, every branch is
///   cancelled and awaited before that unwinding goes on.
/// - A branch's coro that somebody else cancels just drops out; if every
///   branch drops out so, `select!` panics.
///
/// Patterns are irrefutable (a refutable one is a compile error: match in
/// the arm instead).
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
///     _ = corio::sleep(Duration::from_millis(5)) => None,
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
/// the caller. The caller stays suspended until a branch won and the
/// others unwound; with a `default` arm, it never waits for a branch.
#[macro_export]
macro_rules! select {
    (@parse [$($acc:tt)*] , $($rest:tt)*) => {
        $crate::select!(@parse [$($acc)*] $($rest)*)
    };
    (@parse [$($acc:tt)*] default => $arm:block $(,)?) => {
        $crate::select!(@emit [$($acc)*] [$arm])
    };
    (@parse [$($acc:tt)*] default => $arm:expr $(,)?) => {
        $crate::select!(@emit [$($acc)*] [$arm])
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
    (@emit [$( ($slot:ident $branch:ident $pat:tt $call:tt $arm:tt) )*] [$($default:tt)?]) => {{
        // Each branch's value lands in its slot; the branches (and what
        // their calls borrow) are gone before the arm runs.
        $( let $slot; )*
        {
            $( let $branch = $crate::__private::Branch::new(|| $call); )*
            let _ = $crate::__private::select(
                [$( &$branch as &dyn $crate::__private::Arm ),*],
                $crate::select!(@has_default $($default)?),
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
    (@has_default) => { false };
    (@has_default $default:tt) => { true };
    (@default) => { ::core::unreachable!("corio::select!: no branch won") };
    (@default $default:tt) => { $default };
    ($($input:tt)+) => {
        $crate::select!(@parse [] $($input)+)
    };
}

/// What `select!` expands to uses these; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use super::{Arm, Branch, State, select};
}
