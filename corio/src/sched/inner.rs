//! The control block of a coro.
//!
//! # State protocol
//!
//! `state` is one of:
//! - `New`: created, never switched to. Its closure sits on its stack.
//! - `Live`: it ran. It is *running* exactly when it is the scheduler's
//!   `current` (no state is stored per switch); otherwise it is parked:
//!   blocked, ready (queued), or suspended.
//! - `Done`: finished (returned, panicked, cancelled); its stack is gone.
//!
//! `flags` qualify it:
//! - `QUEUED`: linked in the ready queue (a running coro may be queued:
//!   `current().ready()` followed by `schedule()` is what `cede` does; a
//!   plain coro's `cede` sets `ceded` instead, and whoever resumed it
//!   queues it as soon as it is switched out, before anything else looks
//!   at it).
//! - `SUSPENDED`: `suspend()` was called; it is never picked, and an
//!   activation that arrives meanwhile is kept in `pending`.
//! - `TIMEDOUT`: the deadline of an enclosing `timeout` passed; the id of
//!   the outermost one that did waits in `extra.timed_out`.
//! - `CANCELLED`: `cancel` was called (sticky; every later blocking call
//!   unwinds again unless the coro is already unwinding).
//! - `THROWN`: a `throw` payload waits in `extra.throw`.
//! - `ATTN`: another coro asked it for something that must run on its own
//!   stack (a backtrace); it serves the request when switched in, then
//!   hands the CPU back and goes on waiting as before.
//! - `HOOKS`: it has `on_enter`/`on_leave` hooks to run at switches.
//! - `MAIN`: it is the thread's main coro (it has no corosensei context).
//!
//! `has_handle` says a [`JoinHandle`](crate::JoinHandle) exists; otherwise
//! the outcome is dropped as soon as it is known, in the coro's own context.
//! `cancelling` says it is parked inside `cancel`, waiting for its victim
//! to finish; its own interrupts wait until that is over.
//!
//! Only the scheduler of the owning thread touches any of this; `Coro` and
//! `JoinHandle` are `!Send`.

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::mem::ManuallyDrop;
use std::num::NonZeroU64;
use std::panic::Location;
use std::ptr;
use std::rc::Rc;
use std::task::Waker;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::list::Links;
use super::starter::Starter;
use super::value::Value;
use super::wait::WaitList;
use crate::stack::{Reserve, Stack};

/// The corosensei coroutine of a coro: no values cross the switch; the
/// scheduler and the control block carry everything.
pub(crate) type Context = Coroutine<(), (), (), Stack>;

/// What a coro runs on.
pub(crate) enum Ctx {
    /// Its coroutine.
    Ready(Context),
    /// No coroutine yet (`Some`: see [`Deferred`]), or none at all: the
    /// main coro, and any coro once done. (Two variants, so that the whole
    /// takes no more room than `Option<Context>`, and telling `Ready` apart
    /// is one comparison.)
    Without(Option<Deferred>),
}

/// A coro that has not started, with a stack reserved that nothing was
/// written to yet (a cold one, or one the preparer readied): its first
/// switch-in takes a warm stack instead if one is free by then, gives the
/// reserve back untouched, and makes the coroutine. Saves the page fault
/// and the zeroing of a fresh page for every coro started after another
/// one ended, as when many short coros are spawned before any of them
/// runs.
pub(crate) struct Deferred {
    pub(crate) reserve: Reserve,
    pub(crate) starter: Starter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    New,
    Live,
    Done,
    /// Will never run again, and was not unwound (see
    /// `Scheduler::abandon`).
    Abandoned,
}

// All flags live in one byte that is always read and written whole: mixing
// byte-wide stores with wider loads of the same word stalls store
// forwarding on every switch.
pub(crate) const QUEUED: u8 = 1 << 0;
pub(crate) const SUSPENDED: u8 = 1 << 1;
pub(crate) const TIMEDOUT: u8 = 1 << 2;
pub(crate) const CANCELLED: u8 = 1 << 3;
pub(crate) const THROWN: u8 = 1 << 4;
pub(crate) const ATTN: u8 = 1 << 5;
pub(crate) const HOOKS: u8 = 1 << 6;
pub(crate) const MAIN: u8 = 1 << 7;

/// How a coro ended, kept for `join`.
pub(crate) enum Outcome {
    /// The closure returned this value.
    Returned(Value),
    /// `terminate(value)`: the value and its type name.
    Terminated(Box<(Box<dyn Any>, &'static str)>),
    /// Cancelled or panicked.
    Failed(crate::JoinError),
}

/// Rarely used per-coro state, allocated on first use.
#[derive(Default)]
pub(crate) struct Extra {
    pub(crate) desc: Option<String>,
    pub(crate) on_destroy: Vec<Box<dyn FnOnce()>>,
    pub(crate) locals: Vec<Option<Box<dyn Any>>>,
    pub(crate) hooks: Vec<super::hooks::Hook>,
    pub(crate) throw: Option<Box<dyn Any + Send>>,
    pub(crate) terminate: Option<(Box<dyn Any>, &'static str)>,
    pub(crate) waker: Option<Waker>,
    /// The coro waiting in `backtrace` for this one's backtrace.
    pub(crate) bt_requester: Option<*const CoroInner>,
    /// A backtrace this coro asked another one for.
    pub(crate) bt_result: Option<std::backtrace::Backtrace>,
    /// The id of the outermost `timeout` whose deadline passed and that did
    /// not unwind yet.
    pub(crate) timed_out: Option<u64>,
    /// `debug::trace`: log every switch in and out.
    pub(crate) traced: bool,
    pub(crate) cpu: std::time::Duration,
    pub(crate) real: std::time::Duration,
}

/// Unique identity of a coro, process-wide.
///
/// Its `Display` form is the number in the ID column of
/// [`debug::ps`](crate::debug::ps).
///
/// # Examples
///
/// ```
/// let a = corio::spawn(|| corio::current().id());
/// let b = corio::spawn(|| corio::current().id());
/// let (ida, idb) = (a.coro().id(), b.coro().id());
/// assert_ne!(ida, idb);
/// assert_eq!(a.join().unwrap(), ida);
/// assert_eq!(format!("{}", idb), idb.as_u64().to_string());
/// # b.join().unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CoroId(pub(crate) NonZeroU64);

impl CoroId {
    /// The number.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = corio::current().id();
    /// assert_eq!(id.as_u64().to_string(), id.to_string());
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl std::fmt::Display for CoroId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

/// Parses the number shown in ps's ID column (what the debug shell's
/// `bt`, `cancel`, ... accept). Whether a coro with that id is alive is
/// another question: see [`debug::find`](crate::debug::find).
///
/// # Examples
///
/// ```
/// let id = corio::current().id();
/// assert_eq!(id.to_string().parse::<corio::CoroId>().unwrap(), id);
/// assert!("0".parse::<corio::CoroId>().is_err());
/// assert!("x1".parse::<corio::CoroId>().is_err());
/// ```
impl std::str::FromStr for CoroId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<CoroId, Self::Err> {
        s.trim().parse::<NonZeroU64>().map(CoroId)
    }
}

/// What a blocked coro waits on, for `ps`'s WHAT column and the waits-for
/// graph. Set just before a coro parks and cleared as soon as it is
/// switched back in (normally or to unwind), so a value other than
/// `Nothing` means "parked right now inside the call that set it" — and
/// the object it names is borrowed by that call, hence alive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum What {
    #[default]
    Nothing,
    /// `schedule()` or `Coro::suspend`: only a `ready()` wakes it.
    Schedule,
    Sleep,
    Join(CoroId),
    /// Waiting for a coro it cancelled to finish unwinding.
    Cancel(CoroId),
    Semaphore(usize),
    Signal(usize),
    ChanGet(usize),
    ChanPut(usize),
    /// The address of the lock's holder cell (see [`Holder`]).
    Mutex(usize),
    RwRead(usize),
    RwWrite(usize),
    MpmcGet(usize),
    MpmcPut(usize),
    Fd(i32, u8),
    Rouse,
    Future,
    /// A file operation in flight (io_uring or the worker pool).
    #[cfg_attr(not(feature = "io-uring"), allow(dead_code))]
    File,
    /// An idle `select!` helper, parked until a select hands it a call: it
    /// is not waiting for anything a user made, so `ps` and
    /// `thread::spawn`'s wait for the thread's coros pass over it.
    Idle,
}

/// Which coro holds a lock: kept by `Mutex` and by `RwLock`'s writer side
/// so that `ps` can draw an edge from a waiter to the holder.
pub(crate) type Holder = Cell<Option<CoroId>>;

/// The control block (see the module docs for the protocol).
pub(crate) struct CoroInner {
    /// Links in the ready queue (see `queue.rs`).
    pub(crate) q: Links,
    /// Links in the scheduler's list of live coros, in creation order.
    pub(crate) a: Links,
    pub(crate) id: CoroId,
    /// The coroutine (see [`Ctx`]).
    ctx: UnsafeCell<Ctx>,
    /// The yielder of `ctx`, valid from its first switch-in until done.
    pub(crate) yielder: Cell<*const Yielder<(), ()>>,
    /// Where it last blocked or ceded.
    pub(crate) where_: Cell<Option<&'static Location<'static>>>,
    /// What it is parked on (see [`What`]).
    pub(crate) what: Cell<What>,
    /// Times it was switched in.
    pub(crate) switches: Cell<u64>,
    /// Top and bottom of its stack (both 0 for the main coro), and the
    /// lowest stack pointer seen at a switch-out.
    pub(crate) stack_base: Cell<usize>,
    pub(crate) stack_limit: Cell<usize>,
    pub(crate) low_sp: Cell<usize>,
    /// Coros blocked in `join` on this one.
    pub(crate) joiners: WaitList,
    pub(crate) outcome: Cell<Option<Outcome>>,
    extra: Cell<Option<Box<Extra>>>,
    pub(crate) has_handle: Cell<bool>,
    pub(crate) cancelling: Cell<bool>,
    /// Frames of this coro that are bound to it (see `bind.rs`).
    pub(crate) binds: Cell<u32>,
    /// Whether the thread was unwinding a panic when this coro was last
    /// switched in, and whether this coro itself was unwinding when it was
    /// last switched out. The thread's panic count is shared by all its
    /// coros (a coro suspended mid-unwind leaves it raised for the others),
    /// so "is *this* coro unwinding" is tracked here, at the switches.
    pub(crate) panic_in: Cell<bool>,
    pub(crate) unwinding: Cell<bool>,
    /// An activation kept while suspended.
    pub(crate) pending: Cell<bool>,
    /// It just gave up the CPU in `cede` and is not queued yet: whoever
    /// resumed it (the scheduler loop, or `run_now`) queues it as soon as
    /// it is switched out, and clears this. Never set otherwise.
    pub(crate) ceded: Cell<bool>,
    state: Cell<State>,
    flags: Cell<u8>,
    level: Cell<u8>,
    /// Feature `tracing`: its spans while switched out, its task span.
    #[cfg(feature = "tracing")]
    pub(crate) spans: super::spans::CoroSpans,
}

impl CoroInner {
    pub(crate) fn new(id: CoroId, level: u8, stack_base: usize, stack_limit: usize) -> Self {
        CoroInner {
            q: Links::new(),
            a: Links::new(),
            id,
            ctx: UnsafeCell::new(Ctx::Without(None)),
            yielder: Cell::new(ptr::null()),
            where_: Cell::new(None),
            switches: Cell::new(0),
            stack_base: Cell::new(stack_base),
            stack_limit: Cell::new(stack_limit),
            low_sp: Cell::new(stack_base),
            joiners: WaitList::new(),
            outcome: Cell::new(None),
            extra: Cell::new(None),
            has_handle: Cell::new(false),
            what: Cell::new(What::Nothing),
            cancelling: Cell::new(false),
            binds: Cell::new(0),
            panic_in: Cell::new(false),
            unwinding: Cell::new(false),
            pending: Cell::new(false),
            ceded: Cell::new(false),
            state: Cell::new(State::New),
            flags: Cell::new(0),
            level: Cell::new(level),
            #[cfg(feature = "tracing")]
            spans: super::spans::CoroSpans::default(),
        }
    }

    /// Makes a recycled control block new again. Everything that could hold
    /// a user value was emptied when the coro ended.
    pub(crate) fn reinit(&mut self, id: CoroId, level: u8, stack_base: usize, stack_limit: usize) {
        debug_assert!(self.joiners.is_empty());
        self.id = id;
        self.ctx = UnsafeCell::new(Ctx::Without(None));
        self.yielder.set(ptr::null());
        self.where_.set(None);
        self.switches.set(0);
        self.set_stack(stack_base, stack_limit);
        self.outcome.set(None);
        self.extra.set(None);
        self.has_handle.set(false);
        self.cancelling.set(false);
        self.binds.set(0);
        self.pending.set(false);
        self.ceded.set(false);
        self.state.set(State::New);
        self.flags.set(0);
        self.level.set(level);
        #[cfg(feature = "tracing")]
        self.spans.reset();
    }

    /// The coro whose ready-queue links these are.
    #[inline]
    pub(crate) fn from_q(l: *const Links) -> *const CoroInner {
        l.wrapping_byte_sub(std::mem::offset_of!(CoroInner, q))
            .cast()
    }

    /// The coro whose live-list links these are.
    #[inline]
    pub(crate) fn from_a(l: *const Links) -> *const CoroInner {
        l.wrapping_byte_sub(std::mem::offset_of!(CoroInner, a))
            .cast()
    }

    /// Size of its stack as requested (page rounded); the top 16 bytes of
    /// it hold the owner word read by the overflow reporter.
    pub(crate) fn stack_size(&self) -> usize {
        self.stack_base.get() + crate::stack::TOP_RESERVED - self.stack_limit.get()
    }

    /// Records the top and bottom of its stack, not used yet.
    pub(crate) fn set_stack(&self, stack_base: usize, stack_limit: usize) {
        self.stack_base.set(stack_base);
        self.stack_limit.set(stack_limit);
        self.low_sp.set(stack_base);
    }

    #[inline]
    pub(crate) fn state(&self) -> State {
        self.state.get()
    }

    #[inline]
    pub(crate) fn set_state(&self, s: State) {
        self.state.set(s);
    }

    /// All the flags at once.
    #[inline]
    pub(crate) fn flags(&self) -> u8 {
        self.flags.get()
    }

    #[inline]
    pub(crate) fn has(&self, f: u8) -> bool {
        self.flags.get() & f != 0
    }

    #[inline]
    pub(crate) fn set(&self, f: u8) {
        self.flags.set(self.flags.get() | f);
    }

    #[inline]
    pub(crate) fn clear(&self, f: u8) {
        self.flags.set(self.flags.get() & !f);
    }

    #[inline]
    pub(crate) fn level(&self) -> u8 {
        self.level.get()
    }

    #[inline]
    pub(crate) fn set_level(&self, l: u8) {
        self.level.set(l);
    }

    #[inline]
    pub(crate) fn is_main(&self) -> bool {
        self.has(MAIN)
    }

    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.state.get() == State::Done
    }

    /// Whether it can never run again: done, or abandoned.
    #[inline]
    pub(crate) fn is_over(&self) -> bool {
        matches!(self.state.get(), State::Done | State::Abandoned)
    }

    /// Whether a cancel, throw or timeout waits to be raised.
    #[inline]
    pub(crate) fn interrupted(&self) -> bool {
        self.has(CANCELLED | THROWN | TIMEDOUT)
    }

    /// Whether it is queued, or holds an activation while suspended.
    #[inline]
    pub(crate) fn is_ready(&self) -> bool {
        (self.has(QUEUED) || self.pending.get()) && !self.is_done()
    }

    /// Records the current stack depth at a switch-out.
    #[inline]
    pub(crate) fn note_sp(&self, sp: usize) {
        // A coro that blocks inside a generator it drives is on the
        // generator's stack: that says nothing about its own depth.
        if sp < self.low_sp.get() && sp >= self.stack_limit.get() {
            self.low_sp.set(sp);
        }
    }

    /// Deepest stack use seen at a switch-out, in bytes.
    pub(crate) fn stack_used(&self) -> usize {
        self.stack_base.get().saturating_sub(self.low_sp.get())
    }

    /// Installs the coroutine of a freshly spawned coro.
    pub(crate) fn set_context(&self, ctx: Context) {
        self.set_ctx(Ctx::Ready(ctx));
    }

    /// Defers the coroutine of a freshly spawned coro to its first
    /// switch-in (see [`Deferred`]).
    pub(crate) fn set_deferred(&self, reserve: Reserve, starter: Starter) {
        self.set_ctx(Ctx::Without(Some(Deferred { reserve, starter })));
    }

    /// Installs `ctx` where there is nothing (a new or recycled control
    /// block, or one `start` just emptied): the old value is not dropped,
    /// which spares a call per spawn and start; were there something, it
    /// would leak, never be freed twice.
    fn set_ctx(&self, ctx: Ctx) {
        // SAFETY: only the owning thread's scheduler touches `ctx`, never
        // while a reference from `resume` or `take_context` is alive.
        let old = unsafe { std::mem::replace(&mut *self.ctx.get(), ctx) };
        debug_assert!(matches!(old, Ctx::Without(None)));
        std::mem::forget(old);
    }

    /// Removes what it runs on (to drop an unstarted coro, or to recycle
    /// the stack of a finished one).
    pub(crate) fn take_context(&self) -> Ctx {
        // SAFETY: as in `set_ctx`; the coroutine is not running (callers
        // are the scheduler loop after it returned, or `cancel` on a coro
        // that never started).
        unsafe { std::mem::replace(&mut *self.ctx.get(), Ctx::Without(None)) }
    }

    /// Switches into the coroutine; returns `true` when it finished. A
    /// deferred coro gets its coroutine first (see [`Deferred`]); a coro
    /// with neither (one that never started and is being cancelled) is not
    /// switched to.
    ///
    /// # Safety
    /// The coro must be live, not main, and suspended: not running, and not
    /// on the chain of coroutines the thread is executing right now (the
    /// loop resumes coros from the main coro's stack; `run_now` resumes a
    /// parked or new `select!` helper on top of the running coro). Nothing
    /// else may hold a reference into `ctx` meanwhile.
    #[inline(always)]
    pub(crate) unsafe fn resume(&self) -> bool {
        // SAFETY: the caller guarantees nobody else holds `ctx` and the
        // coroutine is suspended, so this is the only reference to it.
        match unsafe { &mut *self.ctx.get() } {
            Ctx::Ready(ctx) => matches!(ctx.resume(()), CoroutineResult::Return(())),
            // SAFETY: as above.
            _ => unsafe { self.start() },
        }
    }

    /// Makes the coroutine of a deferred coro, on a warm stack if the
    /// thread has a free one (the reserve goes back untouched) and on its
    /// reserve if not, and switches into it; `false` if it has none.
    ///
    /// # Safety
    /// As for [`resume`](Self::resume).
    #[cold]
    #[inline(never)]
    unsafe fn start(&self) -> bool {
        let Ctx::Without(Some(Deferred { reserve, starter })) = self.take_context() else {
            return false;
        };
        let stack = match super::take_cached_stack() {
            Some(warm) => {
                reserve.give_back();
                warm
            }
            None => reserve.into_stack(),
        };
        self.set_stack(stack.base(), stack.usable_low());
        stack.set_owner(self as *const CoroInner as usize);
        self.set_context(starter.start(stack));
        // Not through `resume`, which would then be recursive, and so not
        // inlined into the scheduler's switch any more.
        // SAFETY: as in `resume`, whose guarantees the caller gives.
        let Ctx::Ready(ctx) = (unsafe { &mut *self.ctx.get() }) else {
            unreachable!("the coroutine was just installed")
        };
        matches!(ctx.resume(()), CoroutineResult::Return(()))
    }

    /// Runs `f` on the extra state, allocating it on first use. `f` must
    /// not reach the extra state of the same coro again (it would see an
    /// empty one); it runs no user code in corio.
    pub(crate) fn extra_mut<R>(&self, f: impl FnOnce(&mut Extra) -> R) -> R {
        let mut extra = self.extra.take().unwrap_or_default();
        let r = f(&mut extra);
        self.extra.set(Some(extra));
        r
    }

    /// Whether the extra state was allocated.
    #[inline]
    pub(crate) fn has_extra(&self) -> bool {
        // SAFETY: reading the option's discriminant through the cell's
        // pointer; no reference into the cell is alive (the accessors below
        // never hand one out across calls).
        unsafe { (*self.extra.as_ptr()).is_some() }
    }

    /// Runs `f` on the extra state if it exists (without allocating it).
    pub(crate) fn extra_if<R>(&self, f: impl FnOnce(&mut Extra) -> R) -> Option<R> {
        let mut extra = self.extra.take()?;
        let r = f(&mut extra);
        self.extra.set(Some(extra));
        Some(r)
    }

    /// Runs `f` on the extra state if it exists.
    pub(crate) fn with_extra<R>(&self, f: impl FnOnce(Option<&Extra>) -> R) -> R {
        let extra = self.extra.take();
        let r = f(extra.as_deref());
        self.extra.set(extra);
        r
    }

    /// The description, if any.
    pub(crate) fn desc(&self) -> Option<String> {
        self.with_extra(|e| e.and_then(|e| e.desc.clone()))
    }

    /// Reads the description without touching the cell, for the signal
    /// handler.
    ///
    /// # Safety
    /// Nobody may be inside `extra_mut`/`extra_if`/`with_extra` of this
    /// coro, and the returned string must not outlive the extra state.
    pub(crate) unsafe fn desc_unguarded(&self) -> Option<&str> {
        // SAFETY: `Cell<Option<Box<Extra>>>` has the layout of
        // `Option<Box<Extra>>`; the caller guarantees nobody has it taken
        // out or is writing it.
        let extra = unsafe { &*(self.extra.as_ptr() as *const Option<Box<Extra>>) };
        extra.as_ref()?.desc.as_deref()
    }

    /// Takes the extra state out (at the end of the coro's life).
    pub(crate) fn take_extra(&self) -> Option<Box<Extra>> {
        self.extra.take()
    }
}

/// A strong handle to a control block. Like `Rc<CoroInner>`, but dropping
/// the last handle gives the block back to the scheduler's free list (so a
/// spawn usually allocates nothing) instead of freeing it.
pub(crate) struct CoroRef(ManuallyDrop<Rc<CoroInner>>);

impl CoroRef {
    pub(crate) fn from_rc(rc: Rc<CoroInner>) -> Self {
        CoroRef(ManuallyDrop::new(rc))
    }

    /// Gives up this handle as a raw pointer (see [`from_raw`](Self::from_raw)).
    pub(crate) fn into_raw(self) -> *const CoroInner {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the Rc is moved out once.
        Rc::into_raw(unsafe { ManuallyDrop::take(&mut this.0) })
    }

    /// Takes back a handle given up by [`into_raw`](Self::into_raw).
    ///
    /// # Safety
    /// `p` must come from `into_raw`, and be taken back once.
    pub(crate) unsafe fn from_raw(p: *const CoroInner) -> Self {
        // SAFETY: guaranteed by the caller.
        CoroRef(ManuallyDrop::new(unsafe { Rc::from_raw(p) }))
    }

    /// A new handle to a live control block.
    ///
    /// # Safety
    /// `p` must point to a live control block made by `Rc` (every one is).
    pub(crate) unsafe fn clone_raw(p: *const CoroInner) -> Self {
        // SAFETY: guaranteed by the caller.
        unsafe {
            Rc::increment_strong_count(p);
            Self::from_raw(p)
        }
    }

    pub(crate) fn as_ptr(&self) -> *const CoroInner {
        Rc::as_ptr(&self.0)
    }

    /// Strong handles to the coro, this one included.
    pub(crate) fn strong_count(&self) -> usize {
        Rc::strong_count(&self.0)
    }

    pub(crate) fn ptr_eq(&self, other: &CoroRef) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Clone for CoroRef {
    fn clone(&self) -> Self {
        CoroRef(ManuallyDrop::new(Rc::clone(&self.0)))
    }
}

impl std::ops::Deref for CoroRef {
    type Target = CoroInner;
    fn deref(&self) -> &CoroInner {
        &self.0
    }
}

impl Drop for CoroRef {
    fn drop(&mut self) {
        // SAFETY: `self.0` is not used after this.
        let rc = unsafe { ManuallyDrop::take(&mut self.0) };
        if Rc::strong_count(&rc) == 1 {
            super::recycle(rc);
        }
    }
}

// The deferred start shares the coroutine's 40 bytes (see `Deferred`): a
// bigger `Ctx` would grow every control block.
const _: () = assert!(size_of::<Ctx>() == size_of::<Context>());

#[cfg(test)]
mod size_tests {
    #[test]
    fn print_sizes() {
        eprintln!(
            "CoroInner = {} bytes",
            std::mem::size_of::<super::CoroInner>()
        );
        eprintln!(
            "Stack = {} bytes",
            std::mem::size_of::<crate::stack::Stack>()
        );
        eprintln!("Context = {} bytes", std::mem::size_of::<super::Context>());
        eprintln!(
            "Option<Outcome> = {} bytes",
            std::mem::size_of::<Option<super::Outcome>>()
        );
        eprintln!("Extra = {} bytes", std::mem::size_of::<super::Extra>());
    }
}
