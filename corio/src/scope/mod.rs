//! Scoped coros ([`scope`], [`Scope`], [`ScopedJoinHandle`]) and Go's
//! `select` ([`select!`](crate::select!)), which is built on the same
//! promise.
//!
//! # The promise, and how it is kept
//!
//! A scoped coro may borrow from the stack of the coro that called
//! [`scope`] (its *owner*), so the owner's frame must not go away — by
//! returning or by unwinding — while any of its scoped coros could still
//! run. Everything here serves that one invariant:
//!
//! - The scope keeps a strong handle to every coro it spawned
//!   ([`Children`]), so it can always see whether one still lives, and it
//!   relies on nobody dropping anything: `mem::forget` of a
//!   [`ScopedJoinHandle`] changes nothing (corosensei issue #27).
//! - The normal end waits for every child with interruptible joins. If the
//!   body panics, or the owner is interrupted in the body or in that wait
//!   (cancel, throw, `timeout`, the deadlock report), `scope` catches the
//!   unwind, cancels every child still alive and waits until each has
//!   ended ([`Children::close`]), and only then resumes the unwinding. It
//!   waits under a [`Mask`]: interrupts aimed at the owner meanwhile are
//!   held back, as for any coro inside `cancel`; one that is raised all
//!   the same (at the end of a `cancel`) is caught, reported if it is a
//!   throw, and dropped, and the waiting goes on. The children are
//!   cancelled while the owner is not unwinding, so each child's own
//!   unwinding is tracked as usual.
//! - The one thing that cannot be waited out is the deadlock report: when
//!   the owner is the main coro and a child's cleanup blocks with nothing
//!   left that could ever wake it, the scheduler panics in the owner's
//!   wait. The child can neither finish nor be cancelled, and letting the
//!   frame go with the child merely parked would let a later wake-up (from
//!   code that catches the report) run it on freed memory. So the child is
//!   *abandoned* ([`Scheduler::abandon`]): it becomes never runnable — no
//!   wake-up, cancel or throw can queue it again — and its stack is leaked
//!   with its frames, which are never unwound. Then the frame may go. See
//!   [`scope`]'s `# Soundness`.
//!
//! [`Scheduler::abandon`]: crate::sched::Scheduler::abandon
//! - Values the coros returned that nobody joined may borrow from the
//!   scope too: they are dropped while the scope still works, and coros
//!   their `Drop` spawns are waited for as well.
//! - Generators: a scope's frame holds pointers to coros of this thread
//!   and lends its stack to them, so it must not be carried away by a
//!   [`Generator`](crate::Generator) yield. The frame binds itself to the
//!   running coro for its whole life ([`bind_frame`]).
//!
//! Children are ordinary coros of the scheduler: they are queued, run,
//! cancelled and joined by the same code as any other.

mod select;

#[doc(hidden)]
pub use select::__private;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe, Location};
use std::ptr;
use std::rc::Rc;

use crate::sched::bind::Bind;
use crate::sched::inner::{CoroInner, CoroRef};
use crate::sched::{CancelUnwind, SpawnOpts, TerminateUnwind, level_of, report_panic, sched};
use crate::{Coro, JoinError, PRIO_NORMAL};

/// Runs `f` with a [`Scope`] whose coros may borrow from the caller's
/// stack, and returns only when every one of them has ended — the coro
/// version of [`std::thread::scope`].
///
/// The coros spawned with [`Scope::spawn`] run on this thread, like any
/// other coro: they start when the current coro gives up the CPU. They
/// need not be `Send` or `'static`; they may borrow anything that outlives
/// the scope. After `f` returns, `scope` waits for those still running,
/// then returns `f`'s value.
///
/// # Endings
///
/// - A coro that panics is cancelled no further than itself, but a panic
///   ends the scope's business: the scope's other coros are cancelled
///   (their `Drop`s run) right away. If nobody [joined](ScopedJoinHandle::join)
///   the coro that panicked, `scope` re-raises its panic (the first one,
///   when several panicked) once all have ended.
/// - If `f` panics, or the calling coro is cancelled, thrown at or timed
///   out (while in `f`, or while `scope` waits), every coro of the scope
///   that still runs is cancelled and awaited before the unwinding leaves
///   `scope`. (One blocked in a C library under the `hook` feature ends at
///   its next corio call or [`checkpoint`](crate::checkpoint): see
///   [Cancels and timeouts](crate::hook#cancels-and-timeouts).)
/// - A coro of the scope that is cancelled by somebody else just ends;
///   its `join` gives [`JoinError::Cancelled`].
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
///
/// let words = vec!["one", "two", "three"];
/// let total = Cell::new(0); // no Rc, no 'static: the coros borrow it
/// let lens = corio::scope(|s| {
///     let handles: Vec<_> = words
///         .iter()
///         .map(|w| {
///             let total = &total;
///             s.spawn(move || {
///                 corio::cede(); // they interleave, as coros do
///                 total.set(total.get() + w.len());
///                 w.len()
///             })
///         })
///         .collect();
///     handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
/// });
/// assert_eq!(lens, [3, 3, 5]);
/// assert_eq!(total.get(), 11);
/// ```
///
/// Coros that nobody joins are waited for, and may write into the
/// caller's variables:
///
/// ```
/// let mut a = Vec::new();
/// let mut b = Vec::new();
/// corio::scope(|s| {
///     s.spawn(|| a.push(1));
///     s.spawn(|| b.push(2));
/// });
/// assert_eq!((a, b), (vec![1], vec![2]));
/// ```
///
/// # Panics
///
/// Re-raises the panic of a coro of the scope that nobody joined (with its
/// own payload), and passes on a panic of `f` and the unwinding of a
/// cancel, throw or timeout of the calling coro — in each case only after
/// every coro of the scope ended. Panics when a coro cannot be spawned
/// (no memory for its stack).
///
/// # Switching
///
/// Suspends the current coro whenever `f` does, and while it waits for the
/// scope's coros at the end.
///
/// # Soundness
///
/// `scope` never returns or unwinds while a coro of the scope could still
/// run, whatever the calling coro or the coros do: it keeps its own
/// handles to them, so `mem::forget` of a [`ScopedJoinHandle`] (or of
/// anything else) cannot break the promise, and a cancel, throw or timeout
/// that reaches the calling coro while it waits is absorbed until every
/// coro ended. A coro of the scope that ignores its cancel (a cleanup that
/// blocks) is simply waited for: `scope` does not return, and nothing runs
/// on freed memory.
///
/// One case cannot be waited out: the calling coro is the main coro, the
/// thread deadlocks, and a coro of the scope is blocked in its cleanup
/// with nothing left that could ever wake it. The deadlock report unwinds
/// the main coro's frame, and a program that catches it could wake that
/// coro, which borrows from the frame. So `scope` *abandons* such a coro
/// first (and says so on stderr): it is made never runnable, as the
/// scheduler does with coros whose cleanup blocks at a thread's shutdown —
/// no wake-up, cancel or throw can queue it again — and its stack is
/// leaked with its frames, which are never unwound. Its `Drop`s do not
/// finish (a lock it holds stays held), which is the price of cleanup code
/// that blocks for ever in a deadlocked thread; nothing runs on freed
/// memory. (The other choice, aborting the process, would make the
/// deadlock report impossible to catch.) The same happens when the waits
/// for such a coro keep being cut short with no end, as when the thread
/// shuts down.
///
/// A [`Generator`](crate::Generator) cannot carry a live scope away: its
/// frame is bound to the coro that runs it, and a yield while a scope is
/// open inside the generator panics at the yield (the scope's coros are
/// then cancelled and awaited as the panic unwinds).
///
/// The lifetimes are those of [`std::thread::scope`]:
///
/// ```compile_fail
/// // A coro may not outlive its scope: the handle cannot leave it...
/// let h = corio::scope(|s| s.spawn(|| 1));
/// ```
///
/// ```compile_fail
/// // ...not even through a variable of the caller.
/// let mut out = None;
/// corio::scope(|s| {
///     out = Some(s.spawn(|| ()));
/// });
/// ```
///
/// ```compile_fail
/// // Nor may the scope itself.
/// let mut leak = None;
/// corio::scope(|s| leak = Some(s));
/// ```
///
/// ```compile_fail
/// // A coro may only borrow what outlives the scope, not the body's locals.
/// corio::scope(|s| {
///     let local = String::from("dropped at the end of the body");
///     s.spawn(|| println!("{local}"));
/// });
/// ```
///
/// ```compile_fail
/// // Two coros may not both borrow the same variable mutably.
/// let mut n = 0;
/// corio::scope(|s| {
///     s.spawn(|| n += 1);
///     s.spawn(|| n += 1);
/// });
/// ```
///
/// ```compile_fail
/// // Scopes and their handles stay on their thread.
/// fn send<T: Send>(_: T) {}
/// corio::scope(|s| send(s));
/// ```
///
/// `Send` is not needed, `'scope` is all that is asked:
///
/// ```
/// use std::rc::Rc;
///
/// let shared = Rc::new(5); // !Send
/// let r = corio::scope(|s| s.spawn(|| *shared + 1).join().unwrap());
/// assert_eq!(r, 6);
/// ```
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        children: Children::new(Location::caller()),
        _scope: PhantomData,
        _env: PhantomData,
    };
    // Held until every child ended, also when the body unwinds.
    let _bound = bind_frame();
    let run = panic::catch_unwind(AssertUnwindSafe(|| {
        let value = f(&scope);
        scope.children.wait_all();
        value
    }));
    match run {
        Ok(value) => {
            if let Some(p) = scope.children.take_unjoined_panic() {
                drop(value);
                panic::resume_unwind(p);
            }
            value
        }
        Err(p) => {
            // The body panicked, or the owner was interrupted (in the body
            // or in the final wait): no child may outlive this frame.
            scope.children.close();
            panic::resume_unwind(p)
        }
    }
}

/// Binds the frame of a scope (or a `select!`) to the running coro, so that
/// a [`Generator`](crate::Generator) yield cannot carry it away while it
/// lends its stack to coros of this thread.
///
/// The guard lives as long as the frame, dropped after every child ended.
#[inline(always)]
pub(crate) fn bind_frame() -> Bind<'static> {
    Bind::new(sched().cur())
}

/// A scope for coros that borrow from the stack of the coro that opened it
/// (see [`scope`]).
///
/// `'scope` is the life of the scope itself: its coros may borrow anything
/// that outlives it. `'env` is the life of what the coros borrow from
/// outside the scope.
///
/// # Examples
///
/// ```
/// let mut log = Vec::new();
/// corio::scope(|s| {
///     s.spawn(|| log.push("ran"));
/// });
/// assert_eq!(log, ["ran"]);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    children: Children,
    /// Invariant in `'scope`, as `std::thread::Scope`: a coro must not be
    /// able to shrink it.
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("coros", &self.children.live())
            .finish_non_exhaustive()
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a coro of this scope running `f`, which may borrow anything
    /// that outlives the scope. Like [`spawn`](crate::spawn), it is queued
    /// and runs when the current coro gives up the CPU; it may spawn more
    /// coros of the same scope.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::sync::Channel;
    ///
    /// let ch = Channel::new();
    /// let sum = corio::scope(|s| {
    ///     let getter = s.spawn(|| ch.iter().take(3).sum::<u32>());
    ///     for n in [1, 2, 3] {
    ///         ch.put(n).unwrap();
    ///     }
    ///     getter.join().unwrap()
    /// });
    /// assert_eq!(sum, 6);
    /// ```
    ///
    /// # Panics
    ///
    /// Panics when the coro cannot be made (no memory for its stack).
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + 'scope,
        T: 'scope,
    {
        let packet = Rc::new(Packet {
            f: Cell::new(Some(f)),
            result: Cell::new(None),
            seq: Cell::new(0),
            scope: &self.children,
        });
        let launch = Launch {
            arg: Rc::as_ptr(&packet).cast(),
            run: run::<F, T>,
        };
        let opts = SpawnOpts {
            name: None,
            level: level_of(PRIO_NORMAL),
            stack_size: None,
            suspended: false,
        };
        let coro = match sched().spawn(move || launch.go(), opts) {
            Ok(c) => c,
            Err(e) => panic!("corio::Scope::spawn: {e}"),
        };
        // The outcome the scheduler keeps is `()`; the value is in the packet.
        coro.has_handle.set(false);
        // SAFETY: the packet borrows from the scope only (`F, T: 'scope`).
        unsafe { self.children.push(coro.clone(), packet.clone()) };
        ScopedJoinHandle {
            coro,
            packet,
            _scope: PhantomData,
        }
    }
}

/// Owns the right to wait for a coro of a [`scope`] and take its value.
///
/// Dropping it does not detach the coro: the scope waits for it anyway,
/// and re-raises its panic if it panicked. Forgetting it
/// (`mem::forget`) is harmless for the same reason.
///
/// # Examples
///
/// ```
/// let r = corio::scope(|s| {
///     let h = s.spawn(|| 6 * 7);
///     assert!(!h.is_finished()); // spawned, not run yet
///     h.join()
/// });
/// assert_eq!(r.unwrap(), 42);
/// ```
pub struct ScopedJoinHandle<'scope, T> {
    coro: CoroRef,
    packet: Rc<dyn Outcome<T> + 'scope>,
    _scope: PhantomData<&'scope ()>,
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("coro", &Coro(self.coro.clone()))
            .finish()
    }
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the coro to end and returns its value, or why it has
    /// none: [`JoinError::Panicked`] with its panic payload (the scope then
    /// does not re-raise it), or [`JoinError::Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// let e = corio::scope(|s| s.spawn(|| -> u8 { panic!("caught") }).join());
    /// assert_eq!(e.unwrap_err().panic_message(), Some("caught"));
    /// ```
    ///
    /// # Panics
    ///
    /// Unwinds (with the thrown payload, or to end the coro) if the calling
    /// coro is thrown at or cancelled while it waits; panics if a coro
    /// joins itself.
    ///
    /// # Switching
    ///
    /// Suspends the current coro until the coro ended (not at all if it
    /// already had).
    #[track_caller]
    pub fn join(self) -> Result<T, JoinError> {
        sched().join_wait(&self.coro, Location::caller());
        // A coro cancelled before it ran has no outcome in its packet.
        self.packet.take().unwrap_or(Err(JoinError::Cancelled))
    }

    /// A handle to the coro, to cancel it, change its priority, ….
    ///
    /// # Examples
    ///
    /// ```
    /// corio::scope(|s| {
    ///     let h = s.spawn(corio::schedule); // would wait for ever
    ///     corio::cede();
    ///     h.coro().cancel();
    ///     assert!(h.join().unwrap_err().is_cancelled());
    /// });
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn coro(&self) -> Coro {
        Coro(self.coro.clone())
    }

    /// Cancels the coro (see [`Coro::cancel`]); returns after its `Drop`s
    /// ran.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// let dropped = Cell::new(false);
    /// corio::scope(|s| {
    ///     struct Flag<'a>(&'a Cell<bool>);
    ///     impl Drop for Flag<'_> {
    ///         fn drop(&mut self) {
    ///             self.0.set(true);
    ///         }
    ///     }
    ///     let h = s.spawn(|| {
    ///         let _f = Flag(&dropped);
    ///         corio::schedule();
    ///     });
    ///     corio::cede();
    ///     h.cancel();
    ///     assert!(dropped.get());
    /// });
    /// ```
    ///
    /// # Switching
    ///
    /// Suspends the current coro while the victim unwinds.
    #[track_caller]
    pub fn cancel(&self) {
        sched().cancel(&self.coro, Location::caller());
    }

    /// Whether the coro has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// corio::scope(|s| {
    ///     let h = s.spawn(|| ());
    ///     assert!(!h.is_finished());
    ///     corio::cede();
    ///     assert!(h.is_finished());
    /// });
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn is_finished(&self) -> bool {
        self.coro.is_over()
    }
}

// ----- the packet: a coro's closure, then its outcome ------------------------

/// What a scoped coro and its handle share: the closure until the coro
/// starts, then the outcome until somebody takes it.
struct Packet<'scope, F, T> {
    f: Cell<Option<F>>,
    result: Cell<Option<Result<T, JoinError>>>,
    /// When the coro panicked: its rank among the scope's panics (from 1).
    seq: Cell<u64>,
    scope: &'scope Children,
}

/// The handle's view of a packet.
trait Outcome<T> {
    fn take(&self) -> Option<Result<T, JoinError>>;
}

impl<F, T> Outcome<T> for Packet<'_, F, T> {
    fn take(&self) -> Option<Result<T, JoinError>> {
        self.result.take()
    }
}

/// The scope's view of a packet.
trait Slot {
    /// The rank of the panic it holds, if it holds one nobody took.
    fn unjoined_panic(&self) -> Option<u64>;
    /// Takes that panic's payload.
    fn take_panic(&self) -> Option<Box<dyn Any + Send>>;
}

impl<F, T> Slot for Packet<'_, F, T> {
    fn unjoined_panic(&self) -> Option<u64> {
        let r = self.result.take();
        let seq = matches!(r, Some(Err(JoinError::Panicked(_)))).then(|| self.seq.get());
        self.result.set(r);
        seq
    }

    fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        match self.result.take() {
            Some(Err(JoinError::Panicked(p))) => Some(p),
            other => {
                self.result.set(other);
                None
            }
        }
    }
}

/// The `'static` closure the scheduler runs: the packet's address and the
/// monomorphized function that knows its type.
///
/// # Invariant
/// `arg` points to a live `Packet<F, T>` of the types `run` was made for:
/// the scope's [`Children`] keeps the packet until the coro ended, and the
/// coro ends only after this `Launch` was consumed or dropped.
struct Launch {
    arg: *const (),
    run: unsafe fn(*const (), bool),
}

impl Launch {
    fn go(self) {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: see the type's invariant.
        unsafe { (this.run)(this.arg, true) }
    }
}

impl Drop for Launch {
    /// The coro was cancelled before it ran: drop its closure, here (in
    /// the canceller's context, or the coro's own if it was cancelled
    /// between being switched in and starting).
    fn drop(&mut self) {
        // SAFETY: see the type's invariant.
        unsafe { (self.run)(self.arg, false) }
    }
}

/// Runs (`go`) or drops the closure of the packet at `arg`, keeping the
/// outcome in the packet.
///
/// # Safety
/// `arg` must point to a live `Packet<F, T>` (see [`Launch`]).
unsafe fn run<F, T>(arg: *const (), go: bool)
where
    F: FnOnce() -> T,
{
    // SAFETY: guaranteed by the caller.
    let packet = unsafe { &*arg.cast::<Packet<'_, F, T>>() };
    let f = packet.f.take();
    let Some(f) = f.filter(|_| go) else {
        return;
    };
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => packet.result.set(Some(Ok(v))),
        Err(p) if p.is::<CancelUnwind>() => packet.result.set(Some(Err(JoinError::Cancelled))),
        Err(p) => {
            let p: Box<dyn Any + Send> = if p.is::<TerminateUnwind>() {
                Box::new(
                    "corio::terminate() ended a scoped coro: its value cannot be \
                     passed through a ScopedJoinHandle",
                )
            } else {
                p
            };
            packet.seq.set(packet.scope.next_seq());
            packet.result.set(Some(Err(JoinError::Panicked(p))));
            packet.scope.cancel_others(sched().cur());
        }
    }
}

// ----- the children, and the guard that outlives them ------------------------

/// Above this many children, `spawn` drops the entries of ended coros
/// whose outcome the scope no longer needs.
const COMPACT_MIN: usize = 64;

/// The coros of a scope: a strong handle to each, and what the scope must
/// learn from it at the end.
pub(crate) struct Children {
    /// # Invariant
    /// A slot's real type may borrow from the scope (`'scope`): its
    /// lifetime is erased so that `Scope` has no drop glue that mentions
    /// `'scope`. So no slot that may still hold such a value (a result
    /// nobody joined) is left when the scope's frame ends: [`wait_all`]
    /// and [`close`](Children::close) drop them while the scope still works; what is
    /// left holds nothing but `'static` panic payloads.
    ///
    /// [`wait_all`]: Children::wait_all
    list: RefCell<Vec<Child>>,
    /// Bumped whenever `list` is compacted, so walkers start over.
    generation: Cell<u64>,
    compact_at: Cell<usize>,
    panics: Cell<u64>,
    loc: &'static Location<'static>,
}

struct Child {
    coro: CoroRef,
    slot: Rc<dyn Slot>,
}

/// A walk over [`Children`] that survives compaction.
struct Cursor {
    at: usize,
    generation: u64,
}

impl Children {
    fn new(loc: &'static Location<'static>) -> Self {
        Children {
            list: RefCell::new(Vec::new()),
            generation: Cell::new(0),
            compact_at: Cell::new(COMPACT_MIN),
            panics: Cell::new(0),
            loc,
        }
    }

    /// Adds a child.
    ///
    /// # Safety
    /// `slot` may borrow from the scope only: whatever it holds must stay
    /// valid until the scope's frame ends (see the invariant of `list`).
    unsafe fn push<'a>(&self, coro: CoroRef, slot: Rc<dyn Slot + 'a>) {
        // SAFETY: only the lifetime bound of the trait object changes; the
        // caller guarantees the slot is emptied in time (`list`).
        let slot: Rc<dyn Slot> = unsafe { std::mem::transmute(slot) };
        let mut list = self.list.borrow_mut();
        let mut gone = Vec::new();
        if list.len() >= self.compact_at.get() {
            // Entries of ended coros whose panic (if any) was taken: the
            // handle, if it still exists, keeps the value.
            let old = std::mem::take(&mut *list);
            (*list, gone) = old
                .into_iter()
                .partition(|c| !c.coro.is_over() || c.slot.unjoined_panic().is_some());
            self.compact_at.set((list.len() * 2).max(COMPACT_MIN));
            self.generation.set(self.generation.get() + 1);
        }
        list.push(Child { coro, slot });
        drop(list);
        // Values nobody will join are dropped here, outside the borrow:
        // their `Drop` is user code, which may spawn.
        drop(gone);
    }

    fn next_seq(&self) -> u64 {
        let n = self.panics.get() + 1;
        self.panics.set(n);
        n
    }

    fn live(&self) -> usize {
        self.list
            .borrow()
            .iter()
            .filter(|c| !c.coro.is_over())
            .count()
    }

    fn cursor(&self) -> Cursor {
        Cursor {
            at: 0,
            generation: self.generation.get(),
        }
    }

    /// The next child at or after the cursor that has not ended (walking
    /// afresh if the list was compacted since the cursor was made).
    fn next_live(&self, cur: &mut Cursor) -> Option<CoroRef> {
        if self.generation.get() != cur.generation {
            *cur = self.cursor();
        }
        let list = self.list.borrow();
        while let Some(c) = list.get(cur.at) {
            if !c.coro.is_over() {
                return Some(c.coro.clone());
            }
            cur.at += 1;
        }
        None
    }

    /// Takes out the entries of ended coros that hold nothing the scope
    /// needs (a panic nobody joined stays), to be dropped by the caller.
    fn drain_ended(&self) -> Vec<Child> {
        let mut list = self.list.borrow_mut();
        let old = std::mem::take(&mut *list);
        let (keep, gone) = old
            .into_iter()
            .partition(|c| !c.coro.is_over() || c.slot.unjoined_panic().is_some());
        *list = keep;
        self.generation.set(self.generation.get() + 1);
        gone
    }

    /// The normal end: waits for every child, then drops the values nobody
    /// joined (whose `Drop` may spawn more: those are waited for too). An
    /// interrupt of the owner unwinds from here (and [`scope`] then
    /// [closes](Children::close) the scope).
    fn wait_all(&self) {
        let s = sched();
        loop {
            let mut cur = self.cursor();
            while let Some(c) = self.next_live(&mut cur) {
                s.join_wait(&c, self.loc);
            }
            let gone = self.drain_ended();
            if gone.is_empty() && self.live() == 0 {
                return;
            }
            drop(gone);
        }
    }

    /// The end of an unwinding scope: cancels every child and waits for
    /// each (see [`stop`]), drops the values nobody joined, and again, until
    /// nothing is left.
    fn close(&self) {
        let _mask = Mask::new();
        loop {
            let mut cur = self.cursor();
            while let Some(v) = self.next_live(&mut cur) {
                stop(&v, self.loc);
            }
            let gone = self.drain_ended();
            if gone.is_empty() && self.live() == 0 {
                return;
            }
            if let Err(p) = panic::catch_unwind(AssertUnwindSafe(move || drop(gone))) {
                forget_payload(sched().cur(), p);
            }
        }
    }

    /// After a panic in child `me`: cancels the others, right away. If
    /// `me` is cancelled or thrown at meanwhile it stops; the owner's
    /// scope's end sees to the rest.
    fn cancel_others(&self, me: &CoroInner) {
        let s = sched();
        let mut cur = self.cursor();
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            while let Some(c) = self.next_live(&mut cur) {
                cur.at += 1;
                if !ptr::eq(&*c, me) {
                    s.cancel(&c, self.loc);
                }
            }
        }));
        if let Err(p) = r {
            forget_payload(me, p);
        }
    }

    /// Takes the payload of the first panic nobody joined.
    fn take_unjoined_panic(&self) -> Option<Box<dyn Any + Send>> {
        if self.panics.get() == 0 {
            return None;
        }
        let list = self.list.borrow();
        let first = list
            .iter()
            .filter_map(|c| Some((c.slot.unjoined_panic()?, c)))
            .min_by_key(|(seq, _)| *seq)?;
        first.1.slot.take_panic()
    }
}

/// How many interrupts in a row, with no coro ending in between, [`stop`]
/// absorbs before it decides that the coro will never end: each one means
/// a wait that was cut short, and only a thread that is shutting down
/// (whose scheduler no longer waits for anything) produces them without
/// end.
const MAX_ABSORBED: u32 = 10_000;

/// Cancels `v` and waits until it ended, whatever reaches the running coro
/// meanwhile (called under a [`Mask`]): an interrupt is caught, reported if
/// it is a throw, and dropped. When `v` can neither finish nor be cancelled
/// — the deadlock report reaches the waiting main coro, or the waits keep
/// being cut short — `v` is abandoned: never resumed, its stack and what
/// it borrows leaked (see [`scope`]'s `# Soundness`).
pub(crate) fn stop(v: &CoroInner, loc: &'static Location<'static>) {
    let s = sched();
    let me = s.cur();
    let mut absorbed = 0u32;
    while !v.is_over() {
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            // `cancel` clears the mask when its wait is over (and then
            // raises what came meanwhile): set it again for each wait.
            me.cancelling.set(true);
            s.cancel(v, loc);
            if !v.is_over() {
                // `v` is busy with a cancel of its own, or somebody else is
                // cancelling it: it ends when that is over.
                me.cancelling.set(true);
                s.join_wait(v, loc);
            }
        }));
        let Err(p) = r else { continue };
        if is_deadlock_report(&*p) {
            abandon(v, "nothing can ever wake it (the thread is deadlocked)");
            drop(p);
            continue;
        }
        absorbed += 1;
        if absorbed > MAX_ABSORBED {
            abandon(
                v,
                "its waiter was interrupted again and again without it ending",
            );
        }
        forget_payload(me, p);
    }
}

/// Makes `v`, a coro of a scope that can neither finish nor be cancelled,
/// never runnable again, so that the scope can end without it (see
/// [`stop`]).
#[cold]
fn abandon(v: &CoroInner, why: &str) {
    let s = sched();
    if v.is_over() || s.is_running(v) {
        return;
    }
    eprintln!(
        "corio: coro {} of a scope is blocked in its cleanup and {why}; it is abandoned \
         (never resumed, its stack leaked) so that the scope can end",
        v.id
    );
    s.abandon(v);
}

/// Holds back the running coro's interrupts (cancel, throw, timeout) while
/// it waits for coros it cancelled, as the scheduler does for a coro inside
/// `cancel` (Coro's t/20): they are raised at its next blocking call after
/// the guard is gone. A cancel aimed at it meanwhile returns at once.
pub(crate) struct Mask {
    me: &'static CoroInner,
    was: bool,
}

impl Mask {
    pub(crate) fn new() -> Mask {
        let me = sched().cur();
        let was = me.cancelling.replace(true);
        Mask { me, was }
    }
}

impl Drop for Mask {
    fn drop(&mut self) {
        self.me.cancelling.set(self.was);
    }
}

/// Whether a panic payload is the scheduler's deadlock report.
fn is_deadlock_report(p: &(dyn Any + Send)) -> bool {
    p.downcast_ref::<String>()
        .is_some_and(|m| m.starts_with("corio: deadlock detected"))
}

/// Drops a payload that was caught and cannot be handed to anybody,
/// reporting it if it is a user's (a throw), never unwinding.
fn forget_payload(c: &CoroInner, p: Box<dyn Any + Send>) {
    let internal = p.is::<CancelUnwind>() || p.is::<crate::sched::TimeoutUnwind>();
    if !internal {
        report_panic(c, "waiting for the coros of its scope (dropped)", &*p);
    }
    if let Err(p) = panic::catch_unwind(AssertUnwindSafe(move || drop(p))) {
        std::mem::forget(p);
    }
}
