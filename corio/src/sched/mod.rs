//! The per-thread scheduler.
//!
//! Every OS thread gets one, created on first use. The thread's own stack is
//! the *main coro*; every other coro is a corosensei coroutine with a stack
//! from the pool.
//!
//! # How switching works
//!
//! The scheduler loop ([`Scheduler::run_loop`]) runs on the main coro's
//! stack, inside whatever blocking call the main coro made. A coro gives up
//! the CPU by suspending its coroutine, which returns into the loop; the
//! loop picks the next coro and resumes it. When the loop picks the main
//! coro it simply returns, and the main coro's blocking call returns with
//! it. So a switch between two coros costs one corosensei suspend plus one
//! resume, and no coro ever runs on another thread.
//!
//! The loop picks, in order: the *hint* (a coro that must run next, set by
//! `cancel` and `schedule_to`), else the head of the highest non-empty
//! ready level. When nothing is ready the thread is deadlocked: the loop
//! panics, on the main coro's stack, with a `deadlock detected` report.
//! A coro that cedes is queued by the loop as it comes back from it
//! (the main coro's cede queues it before it enters the loop); when no
//! hint is set, no look at timers is due and its level is the highest
//! ready one, queuing it and taking the head are one rotation of that
//! level (`Scheduler::requeue_pick`).
//!
//! # Interrupts
//!
//! `cancel` and `throw` set a flag on their target and wake it; the
//! target's blocking call notices the flag when it is switched back in and
//! unwinds with a private payload (cancel) or the thrown payload. Every
//! `Drop` on the way runs in the target's own context. The coro's entry
//! function catches the unwind, records the outcome, runs the `on_destroy`
//! callbacks and wakes the joiners, and its coroutine returns; the loop
//! then recycles the stack.
//!
//! # Teardown
//!
//! When a plain thread exits, a thread-local destructor abandons every coro
//! that ran and is still parked (never resumed: thread-locals its frames
//! borrow may already be destroyed), drops the closures of coros that never
//! ran, runs the main coro's `on_destroy` callbacks, closes the cross-thread
//! queue and frees the scheduler. [`Scheduler::shutdown_coros`] is the
//! explicit shutdown that cancels them instead (`corio::thread::spawn`).
//!
//! # Files
//!
//! - `switch.rs`: parking, ceding, the loop, idling, raising interrupts.
//! - `end.rs`: how a coro ends — `complete`, `join`, `cancel`, `throw`.
//! - `teardown.rs`: thread exit, shutdown, abandoning a coro.
//! - `bind.rs`: frames bound to their coro (no generator may carry them).
//! - `inner.rs`: the control block and its state protocol.
//! - `queue.rs`, `list.rs`, `wait.rs`, `timer.rs`, `reactor.rs`: the ready
//!   queue, the list of live coros, wait lists, timers, the poll set.

pub(crate) mod bind;
mod end;
pub(crate) mod hooks;
pub(crate) mod inner;
pub(crate) mod list;
mod panic_note;
pub(crate) mod ps;
pub(crate) mod queue;
pub(crate) mod reactor;
#[cfg(feature = "tracing")]
pub(crate) mod spans;
mod starter;
mod switch;
mod teardown;
pub(crate) mod timer;
pub(crate) mod value;
pub(crate) mod wait;
mod watch;

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::io;
use std::num::NonZeroU64;
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use corosensei::{Coroutine, Yielder};

use crate::stack::{self, SigBuf, Stack};
use end::entry;
pub(crate) use end::{prepare_unwind, report_panic, unwind};
use inner::{
    Context, CoroId, CoroInner, CoroRef, Ctx, Deferred, HOOKS, MAIN, QUEUED, SUSPENDED, State,
};
use queue::ReadyQueue;
use teardown::Teardown;

/// Payload of the unwind that `cancel` starts in its victim.
pub(crate) struct CancelUnwind;

/// Payload of the unwind that ends a timed-out closure ([`timeout`](crate::timeout)):
/// the id of the timeout that fired.
pub(crate) struct TimeoutUnwind(pub(crate) u64);

/// Payload of the unwind that `terminate` starts; the value waits in the
/// coro's extra state (it need not be `Send`).
pub(crate) struct TerminateUnwind;

/// Lowest priority (`PRIO_MIN`); level 0 of the ready queue.
pub(crate) const PRIO_MIN: i32 = -4;
/// Highest priority (`PRIO_MAX`); level 7.
pub(crate) const PRIO_MAX: i32 = 3;

/// The ready-queue level of a priority, clamped like Perl Coro does.
#[inline]
pub(crate) fn level_of(prio: i32) -> u8 {
    (prio.clamp(PRIO_MIN, PRIO_MAX) - PRIO_MIN) as u8
}

/// The priority of a ready-queue level.
#[inline]
pub(crate) fn prio_of(level: u8) -> i32 {
    level as i32 + PRIO_MIN
}

/// Ids are handed to threads in blocks, so a spawn needs no atomic.
const ID_BLOCK: u64 = 256;
static NEXT_ID_BLOCK: AtomicU64 = AtomicU64::new(1);

/// Sentinel for "this thread's scheduler was torn down".
const DEAD: usize = 1;

/// Control blocks kept for reuse per thread (232 bytes each): enough for a
/// burst of short coros, spawned and then joined, to cost no `malloc`
/// and no `free` for its control blocks (those were a fifth of such a
/// coro's cost at a cap of 1,024).
const FREE_CAP: usize = 16 * 1024;

/// Control blocks an idle scheduler keeps (see [`Scheduler::trim_free`]).
const FREE_KEEP_IDLE: usize = 1024;

/// The loop looks at timers and the reactor, without blocking, at least
/// once every this many switches.
const POLL_EVERY: u32 = 64;

/// How many switches a park for a descriptor, a timer, a future or a file
/// counts as toward [`POLL_EVERY`] (see [`count_syscall_park`]).
const SYSCALL_PARK: u32 = 4;

/// How long an idle scheduler spins for a result from another thread
/// before it sleeps (see `Scheduler::spin_waiters`).
const SPIN_BEFORE_SLEEP: Duration = Duration::from_micros(50);

thread_local! {
    static SCHED: Cell<*const Scheduler> = const { Cell::new(ptr::null()) };
    static TEARDOWN: Teardown = const { Teardown };
}

/// The scheduler of the current thread, created on first use.
///
/// # Panics
/// Panics when called from a thread-local destructor that runs after this
/// thread's scheduler was torn down.
#[inline]
pub(crate) fn sched() -> &'static Scheduler {
    let p = SCHED.with(Cell::get);
    if p as usize > DEAD {
        // SAFETY: the scheduler is leaked when created and only freed by the
        // thread-local destructor, which then stores DEAD; so a pointer
        // above DEAD is alive for the rest of the thread's life.
        unsafe { &*p }
    } else {
        init_slow(p as usize)
    }
}

/// The start of every call that may block: the scheduler and the running
/// coro, after raising any interrupt that waits for the running coro's
/// next blocking call.
#[inline]
pub(crate) fn enter_blocking() -> (&'static Scheduler, &'static CoroInner) {
    let s = sched();
    let me = s.cur();
    if me.interrupted() {
        s.raise(me);
    }
    (s, me)
}

/// For a call that may block but often completes at once, without a
/// switch (a file call on cached data): counts toward the loop's periodic
/// look at timers and the reactor as a switch does, and when that is due,
/// cedes. A coro making nothing but such calls then still lets the other
/// coros run, and the answers they wait for (a helper's, a worker's) be
/// taken in; without it, it kept the thread to itself.
#[track_caller]
#[inline]
pub(crate) fn count_quick_call(s: &Scheduler) {
    let tick = s.tick.get();
    if s.in_loop() {
        // The loop's own work (a hook of it) must not switch.
        return;
    }
    if tick > 0 {
        s.tick.set(tick - 1);
    } else {
        // The cede's pick (or, alone, `cede_alone`) finds the count at 0:
        // it looks around and starts it again.
        s.cede(std::panic::Location::caller());
    }
}

/// For a park that follows system calls (a wait for a descriptor, a
/// timer, a future, a file): counts [`SYSCALL_PARK`] switches toward the
/// loop's periodic look at timers and the reactor instead of one, so that
/// coros doing I/O have the loop look every 16 of their switches rather
/// than every 64.
///
/// Their switches are microseconds apart, not nanoseconds: 64 of them kept
/// a peer's next request waiting in its socket for half a millisecond
/// while due timers and earlier wake-ups ran (an axum handler sleeping
/// 10 ms under 256 connections answered 0.2 ms later at the median than
/// with 16). Coros that only cede or pass values keep the long period: a
/// look costs an `epoll_wait` once a reactor exists.
#[inline]
pub(crate) fn count_syscall_park(s: &Scheduler) {
    s.tick.set(s.tick.get().saturating_sub(SYSCALL_PARK - 1));
}

/// The scheduler of the current thread if it has a live one (never creates
/// one): for destructors, which may run after the scheduler is gone.
pub(crate) fn try_sched() -> Option<&'static Scheduler> {
    let p = SCHED.with(Cell::get);
    // SAFETY: see `sched`.
    (p as usize > DEAD).then(|| unsafe { &*p })
}

/// Whether this thread's scheduler was already torn down (we are in a
/// thread-local destructor that runs after it): calls that would need it
/// must do their work without it.
pub(crate) fn sched_torn_down() -> bool {
    SCHED
        .try_with(Cell::get)
        .map_or(true, |p| p as usize == DEAD)
}

#[cold]
fn init_slow(p: usize) -> &'static Scheduler {
    if p == DEAD {
        panic!(
            "corio: this thread's scheduler has already been torn down \
             (corio was used from a thread-local destructor that ran after it)"
        );
    }
    // Before the teardown is registered, so that it outlives the coros.
    stack::ensure_altstack();
    let s: &'static Scheduler = Box::leak(Box::new(Scheduler::new()));
    s.ready.init();
    s.all.init();
    #[cfg(feature = "tracing")]
    spans::scheduler_made(&s.extras, X_SPANS);
    SCHED.with(|c| c.set(s));
    // Register the destructor that tears the scheduler down at thread exit.
    TEARDOWN.with(|_| ());
    panic_note::install();
    stack::set_owner(stack::Owner {
        flush_cache: flush_stack_cache,
        cache_len: stack_cache_len,
        describe: describe_for_signal,
    });
    if let Some(t) = watch::from_env()
        && let Err(e) = s.set_monitor(Some(t))
    {
        eprintln!("corio: CORIO_MONITOR: cannot start the monitor: {e}");
    }
    s
}

/// Options of a spawn (see [`Builder`](crate::Builder)).
pub(crate) struct SpawnOpts {
    pub(crate) name: Option<String>,
    pub(crate) level: u8,
    pub(crate) stack_size: Option<usize>,
    pub(crate) suspended: bool,
}

/// [`Scheduler::extras`]: per-coro time accounting is on.
const X_TIMES: u8 = 1 << 0;
/// [`Scheduler::extras`]: the blocked-scheduler monitor is on.
const X_WATCH: u8 = 1 << 1;
/// [`Scheduler::extras`] (feature `tracing`): a `tracing` subscriber was
/// registered, so spans may be entered in coros (`spans::gate`).
#[cfg(feature = "tracing")]
const X_SPANS: u8 = 1 << 2;

/// One thread's scheduler (see the module docs).
pub(crate) struct Scheduler {
    /// The running coro.
    current: Cell<*const CoroInner>,
    /// The main coro (owned).
    main: CoroRef,
    ready: ReadyQueue,
    /// A coro that must run next, before the ready queue.
    hint: Cell<*const CoroInner>,
    /// Live coros other than main, oldest first. Each link owns one strong
    /// count (`Rc::into_raw`), handed to the loop when the coro finishes.
    all: list::List,
    live: Cell<usize>,
    /// Next id of this thread's block, and the end of the block.
    next_id: Cell<u64>,
    id_end: Cell<u64>,
    /// Set while the thread-local destructor cancels what is left.
    tearing_down: Cell<bool>,
    /// Set once the thread's timer slack was looked at (see
    /// `sys::tighten_timer_slack`), before its first timed wait.
    slack_set: Cell<bool>,
    /// Set while the loop itself runs (not a coro it resumed): code called
    /// from there (an idle sleep, a `Drop` of a finished coro's value) must
    /// not park. Read by the `hook` feature's entry points.
    looping: Cell<bool>,
    /// Set when the loop found nothing to run during teardown.
    stalled: Cell<bool>,
    /// What a switch must do besides switching, one bit each
    /// ([`X_TIMES`], [`X_WATCH`], [`X_SPANS`]): tested once at each
    /// switch-out and once at each switch-in, zero for a bare switch.
    /// Atomic only because `X_SPANS` is turned on from other threads; the
    /// switch reads it with a plain (relaxed) load.
    extras: AtomicU8,
    /// The blocked-scheduler monitor, when on (`debug::monitor`).
    pub(crate) watch: RefCell<Option<Arc<watch::Watch>>>,
    stamp: Cell<(Instant, Duration)>,
    /// Control blocks of ended coros, for reuse by `spawn`.
    free: RefCell<Vec<Rc<CoroInner>>>,
    /// Free default-size stacks, for reuse by `spawn`.
    stacks: stack::Cache,
    /// Coros waiting for a point in time.
    pub(crate) timers: timer::Timers,
    /// The poll set, made on first need.
    reactor: OnceCell<reactor::Reactor>,
    /// Switches left until the loop looks at timers and the reactor.
    tick: Cell<u32>,
    /// Coros parked until a descriptor is ready.
    pub(crate) io_waiters: Cell<usize>,
    /// Coros of this thread waiting for a result another thread computes
    /// right now (`multicore::run`): while any does, an idle scheduler
    /// spins briefly before it sleeps, since such results often come back
    /// within microseconds and waking a sleeping thread costs tens.
    pub(crate) spin_waiters: Cell<usize>,
    /// Work queued for the kernel in a batch (the io_uring submission
    /// queue): run before the loop looks for something to do, so that
    /// coros that each queue one operation share one system call.
    pub(crate) flush: Cell<Option<fn(&Scheduler)>>,
    /// Cancels in progress: each victim (key) and the coro parked in
    /// `cancel` waiting for it to end. Kept here rather than in the
    /// victim's extra state so that a cancel allocates nothing per coro
    /// (cancelling a million coros would otherwise allocate a million
    /// extra states, each faulting in fresh heap).
    cancels: RefCell<HashMap<*const CoroInner, *const CoroInner, BuildHasherDefault<AddrHasher>>>,
}

/// Hashes an address for [`Scheduler::cancels`]: a multiplication by the
/// 64-bit golden ratio, folded so that the low bits (which pick the
/// bucket) depend on all of the address. The keys are addresses of live
/// control blocks, distinct and chosen by the allocator, not by a peer:
/// SipHash's defence against chosen keys buys nothing here, and it cost
/// 0.7 % of cancelling a million coros.
#[derive(Default)]
struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b) ^ self.0.rotate_left(8));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 32);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

impl Scheduler {
    fn new() -> Self {
        let block = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
        let main = CoroRef::from_rc(Rc::new(CoroInner::new(id_from(block), level_of(0), 0, 0)));
        main.set(MAIN);
        main.set_state(State::Live);
        main.switches.set(1);
        main.extra_mut(|e| e.desc = Some("[main]".to_string()));
        Scheduler {
            current: Cell::new(main.as_ptr()),
            main,
            ready: ReadyQueue::new(),
            hint: Cell::new(ptr::null()),
            all: list::List::new(),
            live: Cell::new(0),
            next_id: Cell::new(block + 1),
            id_end: Cell::new(block + ID_BLOCK),
            tearing_down: Cell::new(false),
            slack_set: Cell::new(false),
            looping: Cell::new(false),
            stalled: Cell::new(false),
            extras: AtomicU8::new(0),
            watch: RefCell::new(None),
            stamp: Cell::new((Instant::now(), Duration::ZERO)),
            free: RefCell::new(Vec::new()),
            stacks: stack::Cache::default(),
            timers: timer::Timers::new(),
            reactor: OnceCell::new(),
            tick: Cell::new(POLL_EVERY),
            io_waiters: Cell::new(0),
            spin_waiters: Cell::new(0),
            flush: Cell::new(None),
            cancels: RefCell::new(HashMap::default()),
        }
    }

    /// Whether `c` is the running coro.
    #[inline]
    pub(crate) fn is_running(&self, c: &CoroInner) -> bool {
        ptr::eq(self.current.get(), c)
    }

    /// The running coro.
    #[inline]
    pub(crate) fn cur(&self) -> &CoroInner {
        // SAFETY: `current` always points to a live coro: the main coro, or
        // a coro the loop switched to (alive while it runs).
        unsafe { &*self.current.get() }
    }

    /// A strong handle to the running coro.
    pub(crate) fn cur_ref(&self) -> CoroRef {
        // SAFETY: `current` is live (see `cur`) and every control block is
        // made by `Rc`.
        unsafe { CoroRef::clone_raw(self.current.get()) }
    }

    /// Before the thread sleeps: frees the control blocks kept beyond
    /// [`FREE_KEEP_IDLE`], so that a burst's blocks do not stay with a
    /// thread that has gone quiet. Out of line: it is called from the
    /// scheduler loop, whose switch path must not move for it.
    #[cold]
    #[inline(never)]
    pub(crate) fn trim_free(&self) {
        if let Ok(mut free) = self.free.try_borrow_mut()
            && free.len() > FREE_KEEP_IDLE
        {
            free.truncate(FREE_KEEP_IDLE);
            free.shrink_to(FREE_KEEP_IDLE);
        }
    }

    /// Number of queued coros.
    #[inline]
    pub(crate) fn nready(&self) -> usize {
        self.ready.len()
    }

    fn next_id(&self) -> CoroId {
        let mut id = self.next_id.get();
        if id == self.id_end.get() {
            id = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
            self.id_end.set(id + ID_BLOCK);
        }
        self.next_id.set(id + 1);
        id_from(id)
    }

    // ----- the ready queue -------------------------------------------------

    /// Makes `c` ready: appends it to its level (or keeps the activation if
    /// it is suspended). Returns `false` if it already was ready or is done.
    #[inline]
    pub(crate) fn ready(&self, c: &CoroInner) -> bool {
        if c.has(QUEUED) || c.is_over() {
            return false;
        }
        #[cfg(feature = "tracing")]
        if c.spans.any() {
            spans::readied(c);
        }
        if c.has(SUSPENDED) {
            return !c.pending.replace(true);
        }
        c.set(QUEUED);
        self.ready.push_back(c);
        true
    }

    /// Takes `c` out of the ready queue if it is there.
    #[inline]
    fn dequeue(&self, c: &CoroInner) {
        if c.has(QUEUED) {
            self.ready.remove(c);
            c.clear(QUEUED);
        }
    }

    /// Changes the priority of `c`, moving it to the tail of its new level
    /// if it is queued. Returns the old priority.
    pub(crate) fn set_prio(&self, c: &CoroInner, prio: i32) -> i32 {
        let old = prio_of(c.level());
        let level = level_of(prio);
        if c.has(QUEUED) {
            self.ready.remove(c);
            c.set_level(level);
            self.ready.push_back(c);
        } else {
            c.set_level(level);
        }
        old
    }

    /// Stops `c` from being picked until [`resume`](Self::resume).
    pub(crate) fn suspend(&self, c: &CoroInner) {
        if c.is_over() {
            return;
        }
        c.set(SUSPENDED);
        if c.has(QUEUED) {
            self.dequeue(c);
            c.pending.set(true);
        }
    }

    /// Undoes [`suspend`](Self::suspend), re-queuing a kept activation.
    pub(crate) fn resume(&self, c: &CoroInner) {
        if !c.has(SUSPENDED) {
            return;
        }
        c.clear(SUSPENDED);
        if c.pending.replace(false) {
            self.ready(c);
        }
    }

    // ----- the list of live coros ------------------------------------------

    fn link_all(&self, c: CoroRef) {
        let p = c.into_raw();
        // SAFETY: `p` was just made from a live handle; the list now owns
        // that count.
        self.all.push_back(unsafe { &(*p).a });
        self.live.set(self.live.get() + 1);
    }

    /// Unlinks `c` from the all-list. The strong count the list owned is
    /// now owed by the caller (see [`release_owned`]).
    fn unlink_all(&self, c: &CoroInner) {
        self.all.remove(&c.a);
        self.live.set(self.live.get() - 1);
    }

    /// Calls `f` for the main coro, then every live coro, oldest first.
    pub(crate) fn for_each_coro(&self, mut f: impl FnMut(&CoroInner)) {
        f(&self.main);
        let mut l = self.all.first();
        while !self.all.is_end(l) {
            // SAFETY: linked coros are alive; `f` cannot unlink (it gets a
            // shared reference and runs no scheduler code).
            let c = unsafe { &*CoroInner::from_a(l) };
            f(c);
            l = c.a.next();
        }
    }

    /// Strong handles to every live coro except main, oldest first.
    pub(crate) fn live_coros(&self) -> Vec<CoroRef> {
        let mut v = Vec::with_capacity(self.live.get());
        self.for_each_coro(|c| {
            if !c.is_main() {
                // SAFETY: every coro is made by `Rc`, and `c` is alive.
                v.push(unsafe { CoroRef::clone_raw(c) });
            }
        });
        v
    }

    // ----- spawning --------------------------------------------------------

    /// Creates a coro running `f` and (unless `opts.suspended`) queues it.
    /// With feature `tracing`, its caller is the coro's spawn location.
    #[cfg_attr(feature = "tracing", track_caller)]
    pub(crate) fn spawn<F, T>(&self, f: F, opts: SpawnOpts) -> io::Result<CoroRef>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        // A default-size stack that is not warm is only reserved: see
        // `Deferred`.
        let stack = match opts.stack_size {
            Some(n) => Ok(Stack::acquire(stack::usable_size(n)?)?),
            None => match self.stacks.take() {
                Some(stack) => Ok(stack),
                None => Stack::acquire_or_reserve(stack::DEFAULT_STACK_SIZE)?,
            },
        };
        let (base, low) = match &stack {
            Ok(stack) => (stack.base(), stack.usable_low()),
            Err(reserve) => reserve.bounds(),
        };
        let id = self.next_id();
        let recycled = self.free.borrow_mut().pop();
        let c = match recycled {
            Some(mut rc) => {
                match Rc::get_mut(&mut rc) {
                    Some(inner) => inner.reinit(id, opts.level, base, low),
                    None => unreachable!("a recycled control block is unique"),
                }
                CoroRef::from_rc(rc)
            }
            None => CoroRef::from_rc(Rc::new(CoroInner::new(id, opts.level, base, low))),
        };
        if let Some(name) = opts.name {
            c.extra_mut(|e| e.desc = Some(name));
        }
        match stack {
            Ok(stack) => {
                stack.set_owner(c.as_ptr() as usize);
                c.set_context(context(stack, f));
            }
            Err(reserve) => defer(&c, reserve, f),
        }
        c.has_handle.set(true);
        self.link_all(c.clone());
        if !opts.suspended {
            self.ready(&c);
        }
        // A task span only once a subscriber was registered (the bit),
        // and then only if one wants TRACE spans.
        #[cfg(feature = "tracing")]
        if self.extras() & X_SPANS != 0 && spans::tasks_wanted() {
            spans::adopt_main(self.cur());
            let loc = std::panic::Location::caller();
            c.with_extra(|e| spans::task_span(&c, e.and_then(|e| e.desc.as_deref()), loc));
        }
        Ok(c)
    }
}

/// The coroutine running `f` on `stack`.
fn context<F, T>(stack: Stack, f: F) -> Context
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    // corosensei copies the closure onto the new stack and refuses more
    // than 1 KiB: a bigger one travels in a box.
    if std::mem::size_of::<F>() <= stack::MAX_INLINE_CLOSURE {
        Coroutine::with_stack(stack, move |y: &Yielder<(), ()>, ()| entry(y, f))
    } else {
        let f = Box::new(f);
        Coroutine::with_stack(stack, move |y: &Yielder<(), ()>, ()| entry(y, *f))
    }
}

/// Defers `c`, which will run `f`, to its first switch-in (see
/// [`Deferred`]); out of line, to keep the spawn from a warm stack short.
#[cold]
#[inline(never)]
fn defer<F, T>(c: &CoroInner, reserve: stack::Reserve, f: F)
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    c.set_deferred(reserve, starter::Starter::new(f));
}

/// A stack from this thread's scheduler cache (recently freed, default
/// size), if it has one.
fn take_cached_stack() -> Option<Stack> {
    let p = SCHED.with(Cell::get);
    if p as usize > DEAD {
        // SAFETY: see `sched`.
        unsafe { (*p).stacks.take() }
    } else {
        None
    }
}

/// Releases the strong count that the all-list owned for `p`.
///
/// # Safety
/// `p` must have been unlinked from the all-list, and its count must not
/// have been released yet.
unsafe fn release_owned(p: *const CoroInner) {
    // SAFETY: the caller guarantees the count is ours to release.
    drop(unsafe { CoroRef::from_raw(p) });
}

/// The id of this thread's main coro, if it has a live scheduler: unique
/// in the process, unlike the scheduler's address.
pub(crate) fn current_main_id() -> Option<u64> {
    try_sched().map(|s| s.main.id.as_u64())
}

/// Hands this thread's cached stacks to its pool (for `stack::trim`).
fn flush_stack_cache() {
    let p = SCHED.with(Cell::get);
    if p as usize > DEAD {
        // SAFETY: see `sched`.
        unsafe { (*p).stacks.flush() };
    }
}

/// Number of stacks in this thread's scheduler cache.
fn stack_cache_len() -> usize {
    let p = SCHED.with(Cell::get);
    if p as usize > DEAD {
        // SAFETY: see `sched`.
        unsafe { (*p).stacks.len() }
    } else {
        0
    }
}

/// Takes the control block of an ended coro whose last handle is going
/// away, and keeps it for the next spawn. Blocks that cannot be reused (the
/// main coro's, any after teardown, or beyond the cap) are freed.
pub(crate) fn recycle(rc: Rc<CoroInner>) {
    let p = SCHED.with(Cell::get);
    if p as usize <= DEAD || !rc.is_done() {
        return;
    }
    // SAFETY: see `sched`.
    let s = unsafe { &*p };
    // What is left in the extra state is plain data (descriptions, times):
    // everything holding user values was emptied when the coro ended.
    drop(rc.take_extra());
    if let Ok(mut free) = s.free.try_borrow_mut()
        && free.len() < FREE_CAP
    {
        free.push(rc);
    }
}

fn id_from(n: u64) -> CoroId {
    CoroId(NonZeroU64::new(n).unwrap_or(NonZeroU64::MIN))
}

/// Writes "coro N (desc)" for the fault reporter.
///
/// # Safety
/// `owner` must be the address of a live `CoroInner` of the faulting
/// thread, which is stopped in the signal handler.
unsafe fn describe_for_signal(owner: usize, out: &mut SigBuf<'_>) {
    // SAFETY: guaranteed by the caller.
    let c = unsafe { &*(owner as *const CoroInner) };
    out.str("coro ").num(c.id.as_u64());
    // SAFETY: the faulting thread owns `c` and is stopped in the handler;
    // nothing can be mutating its description mid-write except that same
    // frozen thread, a risk we accept since we abort right after.
    if let Some(desc) = unsafe { c.desc_unguarded() } {
        out.str(" (").str(desc).str(")");
    }
}

/// The `PRIO_*` of a coro.
pub(crate) fn prio(c: &CoroInner) -> i32 {
    prio_of(c.level())
}

/// Records, as `c` is switched out, whether it is unwinding: the thread
/// panics now (`panicking`, which is `std::thread::panicking()`) and did
/// not when `c` came in (it started during this run), or it did then too
/// and `c` was unwinding before. When the thread does not panic at all,
/// nobody is unwinding.
#[inline(always)]
fn note_switch_out(c: &CoroInner, panicking: bool) {
    if panicking {
        if !c.panic_in.get() {
            c.unwinding.set(true);
        }
    } else {
        c.unwinding.set(false);
    }
}

/// Whether the running coro `c` is unwinding a panic of its own (not just
/// running while another coro of the thread is suspended mid-unwind).
pub(crate) fn unwinding_now(c: &CoroInner) -> bool {
    std::thread::panicking() && (!c.panic_in.get() || c.unwinding.get())
}

/// Marker so that `HOOKS` is visible to `hooks.rs`.
pub(crate) const HOOKS_FLAG: u8 = HOOKS;
