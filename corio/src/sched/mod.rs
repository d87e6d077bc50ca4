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
//! When the thread exits, a thread-local destructor cancels every coro that
//! is still alive (their `Drop`s run), runs the main coro's `on_destroy`
//! callbacks and frees the scheduler. A coro whose cleanup blocks forever is
//! reported and leaked, never resumed; its stack stays mapped.

pub(crate) mod inner;
pub(crate) mod list;
pub(crate) mod queue;
pub(crate) mod reactor;
pub(crate) mod timer;
pub(crate) mod value;
pub(crate) mod wait;
mod watch;

use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell};
use std::io;
use std::num::NonZeroU64;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::pin;
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use corosensei::{Coroutine, Yielder};

use crate::JoinError;
use crate::stack::{self, SigBuf, Stack};
use inner::{
    ATTN, CANCELLED, CoroId, CoroInner, CoroRef, HOOKS, MAIN, Outcome, QUEUED, SUSPENDED, State,
    THROWN, TIMEDOUT, What,
};
use queue::ReadyQueue;
use value::Value;
use wait::WaitNode;

/// Payload of the unwind that `cancel` starts in its victim.
pub(crate) struct CancelUnwind;

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

/// Control blocks kept for reuse per thread.
const FREE_CAP: usize = 1024;

/// The loop looks at timers and the reactor, without blocking, at least
/// once every this many switches.
const POLL_EVERY: u32 = 64;

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
    let altstack = crate::sys::AltStack::ensure();
    let s: &'static Scheduler = Box::leak(Box::new(Scheduler::new(altstack)));
    s.ready.init();
    s.all.init();
    SCHED.with(|c| c.set(s));
    // Register the destructor that tears the scheduler down at thread exit.
    TEARDOWN.with(|_| ());
    if let Some(t) = watch::from_env()
        && let Err(e) = s.start_monitor(Some(t), true)
    {
        eprintln!("corio: CORIO_MONITOR: cannot start the monitor: {e}");
    }
    s
}

/// Clears a flag when dropped.
struct ClearOnDrop<'a>(&'a Cell<bool>);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Zero-sized thread-local whose destructor tears the scheduler down.
struct Teardown;

impl Drop for Teardown {
    fn drop(&mut self) {
        let p = SCHED.with(Cell::get);
        if p as usize <= DEAD {
            return;
        }
        // SAFETY: see `sched`.
        let s = unsafe { &*p };
        let clean = s.teardown();
        SCHED.with(|c| c.set(DEAD as *const Scheduler));
        if clean {
            // SAFETY: the pointer came from `Box::leak` in `init_slow`, the
            // slot now holds DEAD so nobody can reach it any more, and no
            // coro that could still refer to it will ever run again.
            drop(unsafe { Box::from_raw(p as *mut Scheduler) });
        }
    }
}

/// Options of a spawn (see [`Builder`](crate::Builder)).
pub(crate) struct SpawnOpts {
    pub(crate) name: Option<String>,
    pub(crate) level: u8,
    pub(crate) stack_size: Option<usize>,
    pub(crate) suspended: bool,
}

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
    /// Set while the loop itself runs (not a coro it resumed): code called
    /// from there (an idle sleep, a `Drop` of a finished coro's value) must
    /// not park. Read by the `hook` feature's entry points.
    looping: Cell<bool>,
    /// Set when the loop found nothing to run during teardown.
    stalled: Cell<bool>,
    /// Per-coro time accounting (`debug::enable_times`).
    times: Cell<bool>,
    /// The blocked-scheduler monitor, when on (`debug::monitor`).
    pub(crate) watch: RefCell<Option<Arc<watch::Watch>>>,
    watching: Cell<bool>,
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
    /// Kept alive for the thread's life: the fault handler runs on it.
    _altstack: Option<crate::sys::AltStack>,
}

impl Scheduler {
    fn new(altstack: Option<crate::sys::AltStack>) -> Self {
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
            looping: Cell::new(false),
            stalled: Cell::new(false),
            times: Cell::new(false),
            watch: RefCell::new(None),
            watching: Cell::new(false),
            stamp: Cell::new((Instant::now(), Duration::ZERO)),
            free: RefCell::new(Vec::new()),
            stacks: stack::Cache::default(),
            timers: timer::Timers::new(),
            reactor: OnceCell::new(),
            tick: Cell::new(POLL_EVERY),
            io_waiters: Cell::new(0),
            spin_waiters: Cell::new(0),
            flush: Cell::new(None),
            _altstack: altstack,
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
        if c.has(QUEUED) || c.is_done() {
            return false;
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
        if c.is_done() {
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
    pub(crate) fn spawn<F, T>(&self, f: F, opts: SpawnOpts) -> io::Result<CoroRef>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let stack = match opts.stack_size {
            Some(n) => Stack::acquire(stack::usable_size(n)?)?,
            None => match self.stacks.take() {
                Some(stack) => stack,
                None => Stack::acquire(stack::DEFAULT_STACK_SIZE)?,
            },
        };
        let (base, low, id) = (stack.base(), stack.usable_low(), self.next_id());
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
        stack.set_owner(c.as_ptr() as usize);
        let ctx = Coroutine::with_stack(stack, move |y: &Yielder<(), ()>, ()| entry(y, f));
        c.set_context(ctx);
        c.has_handle.set(true);
        self.link_all(c.clone());
        if !opts.suspended {
            self.ready(&c);
        }
        Ok(c)
    }

    // ----- switching -------------------------------------------------------

    /// Gives up the CPU without re-queuing `c` (the running coro); returns
    /// when `c` is switched back in. Does not look at interrupts.
    #[inline(always)]
    fn switch_away(&self, c: &CoroInner) {
        if c.has(HOOKS) {
            crate::hooks::run_leave(c);
        }
        self.raw_switch_away(c);
        if c.has(ATTN) {
            self.serve(c);
        }
        if c.has(HOOKS) {
            crate::hooks::run_enter(c);
        }
    }

    /// Gives up the CPU, no hooks, no requests: the bare switch.
    #[inline(always)]
    fn raw_switch_away(&self, c: &CoroInner) {
        if c.is_main() {
            self.run_loop();
        } else {
            c.note_sp(crate::sys::stack_pointer());
            let y = c.yielder.get();
            // SAFETY: `yielder` was set when the coro first ran and stays
            // valid until its coroutine returns; we are running on it.
            unsafe { (*y).suspend(()) };
        }
    }

    /// Serves what other coros asked of `c` (just switched in): a
    /// backtrace taken on its own stack. Each request hands the CPU back to
    /// its requester and `c` goes on waiting exactly as before.
    #[cold]
    #[inline(never)]
    fn serve(&self, c: &CoroInner) {
        while c.has(ATTN) {
            c.clear(ATTN);
            let Some(requester) = c.extra_if(|e| e.bt_requester.take()).flatten() else {
                continue;
            };
            let bt = std::backtrace::Backtrace::force_capture();
            // SAFETY: a requester waits, parked, until its result is in and
            // it was switched back to; `backtrace` clears the request if it
            // stops waiting, so a requester found here is alive.
            unsafe { (*requester).extra_mut(|e| e.bt_result = Some(bt)) };
            self.hint.set(requester);
            self.raw_switch_away(c);
        }
    }

    /// `Coro::backtrace`: captured on `v`'s own stack.
    pub(crate) fn backtrace(&self, v: &CoroInner) -> std::backtrace::Backtrace {
        let me = self.cur();
        if ptr::eq(me, v) {
            return std::backtrace::Backtrace::force_capture();
        }
        if v.state() != State::Live {
            return std::backtrace::Backtrace::disabled();
        }
        let me_ptr: *const CoroInner = me;
        v.extra_mut(|e| e.bt_requester = Some(me_ptr));
        v.set(ATTN);
        self.hint.set(v);
        // If anything unwinds us before the answer came, withdraw the
        // request so `v` never writes to a coro that stopped waiting.
        struct Withdraw<'a>(&'a CoroInner, *const CoroInner);
        impl Drop for Withdraw<'_> {
            fn drop(&mut self) {
                let me = self.1;
                self.0.extra_if(|e| {
                    if e.bt_requester == Some(me) {
                        e.bt_requester = None;
                    }
                });
            }
        }
        let _withdraw = Withdraw(v, me_ptr);
        loop {
            self.raw_switch_away(me);
            if let Some(bt) = me.extra_if(|e| e.bt_result.take()).flatten() {
                return bt;
            }
            if !v.has(ATTN) {
                // Woken for another reason after `v` was done with us (or
                // `v` ended): nothing more will come.
                return std::backtrace::Backtrace::disabled();
            }
        }
    }

    /// The loop (see the module docs). Runs on the main coro's stack and
    /// returns when the main coro is picked.
    fn run_loop(&self) {
        let main: *const CoroInner = self.main.as_ptr();
        if self.times.get() {
            self.charge(&self.main);
        }
        if self.watching.get() {
            self.watch_returned(&self.main);
        }
        note_switch_out(&self.main);
        self.looping.set(true);
        // Also cleared when the loop unwinds (the deadlock report, a
        // panicking `Drop`): the main coro runs again after that.
        let _looping = ClearOnDrop(&self.looping);
        loop {
            let tick = self.tick.get();
            if tick == 0 {
                self.tick.set(POLL_EVERY);
                self.look_around();
            } else {
                self.tick.set(tick - 1);
            }
            let mut next = self.hint.get();
            if next.is_null() {
                next = self.ready.pop();
                if next.is_null() {
                    next = self.idle();
                } else {
                    // SAFETY: popped coros are alive (queue invariant).
                    unsafe { (*next).clear(QUEUED) };
                }
            } else {
                self.hint.set(ptr::null());
                // SAFETY: hints are live coros (set by `cancel`,
                // `schedule_to`, `complete`, `backtrace`, which hold them
                // alive).
                let h = unsafe { &*next };
                // A coro switched to only to serve a request keeps its
                // place in the ready queue.
                if !h.has(ATTN) {
                    self.dequeue(h);
                }
            }
            // SAFETY: `next` is alive (see above).
            let c = unsafe { &*next };
            self.current.set(next);
            c.switches.set(c.switches.get() + 1);
            if self.watching.get() {
                self.watch_resumed(c);
            }
            c.panic_in.set(std::thread::panicking());
            if next == main {
                return;
            }
            self.looping.set(false);
            // SAFETY: we are the loop, on the main stack; `c` is a live,
            // non-main coro that is not running.
            let finished = unsafe { c.resume() };
            self.looping.set(true);
            note_switch_out(c);
            if self.times.get() {
                self.charge(c);
            }
            if self.watching.get() {
                self.watch_returned(c);
            }
            if finished {
                self.reap(next);
            }
        }
    }

    /// Nothing is ready: fire due timers, run what other threads queued,
    /// and sleep until one of them can ready a coro. Returns the coro to
    /// run. When nothing could ever ready one, panics with the deadlock
    /// report (or, during teardown, gives up and returns the main coro).
    #[cold]
    fn idle(&self) -> *const CoroInner {
        let main = self.main.as_ptr();
        loop {
            if let Some(flush) = self.flush.take() {
                flush(self);
            }
            self.fire_timers();
            if let Some(r) = self.reactor.get() {
                r.drain(self);
            }
            let next = self.ready.pop();
            if !next.is_null() {
                // SAFETY: popped coros are alive.
                unsafe { (*next).clear(QUEUED) };
                return next;
            }
            let deadline = self.timers.next_deadline();
            // Something may still wake a coro: a timer, another thread, a
            // descriptor somebody waits on. (During teardown only timers
            // count: the coros left are being cancelled.)
            let remote = self.reactor.get().is_some_and(|r| r.keeps_alive());
            let io = self.io_waiters.get() > 0;
            if deadline.is_none() && (self.tearing_down.get() || !(remote || io)) {
                break;
            }
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if self.spin_waiters.get() > 0
                && let Some(r) = self.reactor.get()
                && r.spin_for_wake(timeout.map_or(SPIN_BEFORE_SLEEP, |t| t.min(SPIN_BEFORE_SLEEP)))
            {
                continue;
            }
            match (self.reactor.get(), timeout) {
                (Some(r), timeout) => r.poll(self, timeout),
                // No reactor, so no other thread can wake us: sleep until
                // the next timer, exactly.
                (None, Some(t)) => std::thread::sleep(t),
                (None, None) => unreachable!("checked above"),
            }
        }
        if self.tearing_down.get() {
            self.stalled.set(true);
            return main;
        }
        let report = format!(
            "corio: deadlock detected: every coro of this thread is blocked, \
             none is ready, and nothing could ever wake one.\n{}",
            crate::debug::listing(self, crate::debug::PsMode::Normal, None)
        );
        self.current.set(main);
        if self.main.has(HOOKS) {
            crate::hooks::run_enter(&self.main);
        }
        panic!("{report}");
    }

    /// The periodic look at timers and the reactor, without blocking (so
    /// that coros that only cede never starve them).
    #[cold]
    #[inline(never)]
    fn look_around(&self) {
        if let Some(flush) = self.flush.take() {
            flush(self);
        }
        if self.timers.live() > 0 {
            self.fire_timers();
        }
        if let Some(r) = self.reactor.get() {
            r.poll(self, Some(Duration::ZERO));
            r.drain(self);
        }
    }

    /// Fires every due timer.
    pub(crate) fn fire_timers(&self) {
        if self.timers.live() == 0 {
            return;
        }
        self.timers.expire(Instant::now(), |action| match action {
            timer::Action::Ready(c) => {
                // SAFETY: an armed timer's coro is alive: the timer guard
                // lives in the frame where that coro waits, and disarms on
                // drop.
                self.ready(unsafe { &*c });
            }
            timer::Action::Interrupt(c, id) => {
                // SAFETY: as above.
                self.interrupt_timeout(unsafe { &*c }, id);
            }
        });
    }

    /// This thread's reactor, if it was made.
    pub(crate) fn reactor_if_made(&self) -> Option<&reactor::Reactor> {
        self.reactor.get()
    }

    /// This thread's reactor, made on first use.
    ///
    /// # Errors
    /// When the poll set or its waker cannot be made (out of file
    /// descriptors).
    pub(crate) fn reactor(&self) -> io::Result<&reactor::Reactor> {
        if let Some(r) = self.reactor.get() {
            return Ok(r);
        }
        let r = reactor::Reactor::new(self as *const Scheduler as usize)?;
        Ok(self.reactor.get_or_init(|| r))
    }

    /// Frees what a finished coro still holds: its stack, and the strong
    /// count its all-list link owned. No user code runs here.
    fn reap(&self, p: *const CoroInner) {
        // SAFETY: `p` is alive: its all-list count was handed to us by
        // `complete` and is released below.
        let c = unsafe { &*p };
        if let Some(ctx) = c.take_context() {
            self.stacks.put(ctx.into_stack(), c.stack_used());
        }
        // SAFETY: `complete` unlinked `c` from the all-list and left us its
        // strong count; `reap` runs once per coro.
        unsafe { release_owned(p) };
    }

    /// Charges the time since the last stamp to `c`.
    fn charge(&self, c: &CoroInner) {
        let (real0, cpu0) = self.stamp.get();
        let real = Instant::now();
        let cpu = crate::sys::thread_cpu_time();
        self.stamp.set((real, cpu));
        c.extra_mut(|e| {
            e.real += real.duration_since(real0);
            e.cpu += cpu.saturating_sub(cpu0);
        });
    }

    /// Turns per-coro time accounting on or off; returns the old setting.
    pub(crate) fn enable_times(&self, on: bool) -> bool {
        if on && !self.times.get() {
            self.stamp
                .set((Instant::now(), crate::sys::thread_cpu_time()));
        }
        self.times.replace(on)
    }

    pub(crate) fn times_enabled(&self) -> bool {
        self.times.get()
    }

    /// Turns the blocked-scheduler monitor on (with a threshold) or off.
    pub(crate) fn set_monitor(&self, threshold: Option<Duration>) -> io::Result<()> {
        self.start_monitor(threshold, false)
    }

    /// [`set_monitor`](Self::set_monitor); with `stderr`, warnings go to
    /// stderr when no logger is installed (`CORIO_MONITOR`).
    fn start_monitor(&self, threshold: Option<Duration>, stderr: bool) -> io::Result<()> {
        if let Some(old) = self.watch.borrow_mut().take() {
            old.stop();
        }
        self.watching.set(false);
        if let Some(t) = threshold {
            let w = watch::Watch::start(t, stderr)?;
            *self.watch.borrow_mut() = Some(w);
            self.watching.set(true);
        }
        Ok(())
    }

    #[cold]
    fn watch_resumed(&self, c: &CoroInner) {
        if let Some(w) = &*self.watch.borrow() {
            w.resumed(c);
        }
    }

    #[cold]
    fn watch_returned(&self, c: &CoroInner) {
        if let Some(w) = &*self.watch.borrow() {
            w.returned(c);
        }
    }

    /// Blocks the running coro until something readies it, then raises any
    /// pending interrupt. `loc` is shown by `ps` as where it waits.
    ///
    /// Inlined, like [`cede`](Self::cede), so that blocking calls switch in
    /// their caller's frame; a plain coro pays one flag test on each side.
    #[inline(always)]
    pub(crate) fn park(&self, loc: &'static Location<'static>) {
        self.park_on(loc, What::Nothing);
    }

    /// [`park`](Self::park), telling `ps` what the coro waits on.
    #[inline(always)]
    pub(crate) fn park_on(&self, loc: &'static Location<'static>, what: What) {
        let c = self.cur();
        c.where_.set(Some(loc));
        c.what.set(what);
        if c.has(MAIN | HOOKS) {
            return self.park_slow(c);
        }
        c.note_sp(crate::sys::stack_pointer());
        let y = c.yielder.get();
        // SAFETY: `c` is a running non-main coro (MAIN is clear), so its
        // yielder was set at its first switch-in and is valid until its
        // coroutine returns; we are running on that coroutine.
        unsafe { (*y).suspend(()) };
        c.what.set(What::Nothing);
        if c.has(HOOKS | CANCELLED | THROWN | TIMEDOUT | ATTN) {
            self.after_switch_in(c);
        }
    }

    /// [`park`](Self::park) for the main coro and coros with hooks.
    #[cold]
    #[inline(never)]
    fn park_slow(&self, c: &CoroInner) {
        self.switch_away(c);
        c.what.set(What::Nothing);
        if c.interrupted() {
            self.raise(c);
        }
    }

    /// Whether the scheduler loop itself is running (not a coro): code
    /// called from there must not park.
    #[inline]
    #[cfg_attr(not(feature = "hook"), allow(dead_code))]
    pub(crate) fn in_loop(&self) -> bool {
        self.looping.get()
    }

    /// Whether the next blocking call of `c` (the running coro) would
    /// unwind: the test [`raise`](Self::raise) makes, without raising.
    #[cfg_attr(not(feature = "hook"), allow(dead_code))]
    pub(crate) fn would_raise(&self, c: &CoroInner) -> bool {
        if !c.interrupted() || c.cancelling.get() {
            return false;
        }
        if c.has(CANCELLED) {
            return !unwinding_now(c);
        }
        c.has(THROWN | TIMEDOUT)
    }

    /// Whether the pending interrupt of `c` is a `timeout` (rather than a
    /// cancel or a throw).
    #[cfg_attr(not(feature = "hook"), allow(dead_code))]
    pub(crate) fn timed_out(&self, c: &CoroInner) -> bool {
        c.has(TIMEDOUT) && !c.has(CANCELLED | THROWN)
    }

    /// [`park_on`](Self::park_on) for callers that must not unwind (the
    /// `hook` feature's C entry points): a pending interrupt is left
    /// pending for the coro's next blocking call, and the caller learns of
    /// it from [`would_raise`](Self::would_raise). Switch hooks still run
    /// and may panic.
    #[cfg_attr(not(feature = "hook"), allow(dead_code))]
    pub(crate) fn park_quiet(&self, loc: &'static Location<'static>, what: What) {
        let c = self.cur();
        c.where_.set(Some(loc));
        c.what.set(what);
        self.switch_away(c);
        c.what.set(What::Nothing);
    }

    /// `corio::cede`. The common case (a plain coro, no hooks, no pending
    /// interrupt) is inlined into the caller on purpose: the switch then
    /// happens in the caller's own frame, and no `ret` crosses a switch.
    /// Every `ret` that does (the return from a non-inlined `cede`) is
    /// mispredicted by the CPU's return-stack buffer, which costs more than
    /// the whole switch.
    #[inline(always)]
    pub(crate) fn cede(&self, loc: &'static Location<'static>) {
        let c = self.cur();
        if c.has(MAIN | HOOKS | CANCELLED | THROWN | TIMEDOUT | QUEUED | SUSPENDED) {
            return self.cede_slow(c, loc);
        }
        if !self.ready.has_at_least(c.level()) {
            return self.cede_alone(c, loc);
        }
        c.where_.set(Some(loc));
        c.set(QUEUED);
        self.ready.push_back(c);
        c.note_sp(crate::sys::stack_pointer());
        let y = c.yielder.get();
        // SAFETY: `c` is a running non-main coro (MAIN is clear), so its
        // yielder was set at its first switch-in and is valid until its
        // coroutine returns; we are running on that coroutine.
        unsafe { (*y).suspend(()) };
        if c.has(HOOKS | CANCELLED | THROWN | TIMEDOUT | ATTN) {
            self.after_switch_in(c);
        }
    }

    /// A `cede` that found nobody to give the CPU to. It still counts
    /// toward the periodic look at timers and the reactor, so that a coro
    /// spinning on `cede` while the others wait for a timer or a socket
    /// lets them wake.
    #[cold]
    #[inline(never)]
    fn cede_alone(&self, c: &CoroInner, loc: &'static Location<'static>) {
        if self.watching.get() {
            // Nobody else wanted the CPU: for the monitor, as good as a
            // switch out and back in here.
            c.where_.set(Some(loc));
            self.watch_returned(c);
            self.watch_resumed(c);
        }
        let tick = self.tick.get();
        if tick > 0 {
            self.tick.set(tick - 1);
            return;
        }
        self.tick.set(POLL_EVERY);
        self.look_around();
        if self.ready.has_at_least(c.level()) {
            c.where_.set(Some(loc));
            self.ready(c);
            self.switch_away(c);
            if c.interrupted() {
                self.raise(c);
            }
        }
    }

    /// `cede` for everything the inlined path does not handle.
    #[cold]
    #[inline(never)]
    fn cede_slow(&self, c: &CoroInner, loc: &'static Location<'static>) {
        if c.interrupted() {
            self.raise(c);
        }
        if !self.ready.has_at_least(c.level()) {
            return self.cede_alone(c, loc);
        }
        c.where_.set(Some(loc));
        self.ready(c);
        self.switch_away(c);
        if c.interrupted() {
            self.raise(c);
        }
    }

    /// What a coro switched back in must do besides returning: enter hooks,
    /// pending interrupts.
    #[cold]
    #[inline(never)]
    fn after_switch_in(&self, c: &CoroInner) {
        if c.has(ATTN) {
            self.serve(c);
        }
        if c.has(HOOKS) {
            crate::hooks::run_enter(c);
        }
        if c.interrupted() {
            self.raise(c);
        }
    }

    /// `corio::cede_notself`.
    pub(crate) fn cede_notself(&self, loc: &'static Location<'static>) {
        let c = self.cur();
        if c.interrupted() {
            self.raise(c);
        }
        let next = self.ready.pop();
        if next.is_null() {
            return;
        }
        // SAFETY: popped coros are alive.
        unsafe { (*next).clear(QUEUED) };
        self.hint.set(next);
        c.where_.set(Some(loc));
        self.ready(c);
        self.switch_away(c);
        if c.interrupted() {
            self.raise(c);
        }
    }

    /// Parks the running coro and runs `target` next, whatever the queue
    /// says; with `requeue`, the running coro is queued first (`cede_to`).
    pub(crate) fn switch_to(&self, target: &CoroInner, requeue: bool, loc: &'static Location) {
        let c = self.cur();
        if c.interrupted() {
            self.raise(c);
        }
        if ptr::eq(c, target) || target.is_done() {
            if !requeue {
                self.park(loc);
            }
            return;
        }
        self.hint.set(target);
        c.where_.set(Some(loc));
        if requeue {
            self.ready(c);
        }
        self.switch_away(c);
        if c.interrupted() {
            self.raise(c);
        }
    }

    /// Raises the pending interrupt of `c` (the running coro) by unwinding.
    #[cold]
    pub(crate) fn raise(&self, c: &CoroInner) {
        if c.cancelling.get() {
            // It finishes the cancel it is in first (Coro's t/20).
            return;
        }
        if c.has(CANCELLED) {
            if unwinding_now(c) {
                // Blocking from a `Drop` while this coro unwinds: let it
                // block rather than abort with a double panic.
                return;
            }
            panic::resume_unwind(Box::new(CancelUnwind));
        }
        if c.has(THROWN) {
            c.clear(THROWN);
            if let Some(payload) = c.extra_mut(|e| e.throw.take()) {
                panic::resume_unwind(payload);
            }
        }
        if c.has(TIMEDOUT) {
            c.clear(TIMEDOUT);
            if let Some(id) = c.extra_mut(|e| e.timed_out.take()) {
                panic::resume_unwind(Box::new(crate::time::TimeoutUnwind(id)));
            }
        }
    }

    // ----- ending ----------------------------------------------------------

    /// Turns an unwind payload caught at a coro's root into its outcome.
    fn classify(&self, c: &CoroInner, payload: Box<dyn Any + Send>) -> Outcome {
        if payload.is::<CancelUnwind>() {
            Outcome::Failed(JoinError::Cancelled)
        } else if payload.is::<TerminateUnwind>() {
            match c.extra_mut(|e| e.terminate.take()) {
                Some(value) => Outcome::Terminated(Box::new(value)),
                None => Outcome::Failed(JoinError::Cancelled),
            }
        } else {
            Outcome::Failed(JoinError::Panicked(payload))
        }
    }

    /// Everything that happens when a coro ends, in this order: its
    /// coro-local values are dropped, its outcome is stored, its
    /// `on_destroy` callbacks run (last registered first), it becomes done,
    /// its joiners are readied (last arrived first), and the coro that
    /// cancelled it runs next. Runs in the ending coro's context, or in the
    /// canceller's for a coro that never started.
    fn complete(&self, c: &CoroInner, outcome: Outcome) {
        let outcome =
            if c.has(CANCELLED) && !matches!(outcome, Outcome::Failed(JoinError::Cancelled)) {
                drop_reporting(c, "its return value", outcome);
                Outcome::Failed(JoinError::Cancelled)
            } else {
                outcome
            };
        // Most coros never allocate their extra state; those that did have
        // locals, callbacks and wakers to deal with, out of line.
        let mut extra = if c.has_extra() {
            Some(self.complete_extra(c))
        } else {
            None
        };
        if c.has_handle.get() {
            c.outcome.set(Some(outcome));
        } else {
            drop_reporting(c, "its return value", outcome);
        }
        if let Some(e) = &mut extra {
            run_on_destroy(c, std::mem::take(&mut e.on_destroy));
        }
        self.dequeue(c);
        c.clear(SUSPENDED | HOOKS);
        c.pending.set(false);
        c.set_state(State::Done);
        while let Some(j) = c.joiners.pop_back() {
            if let wait::Waiter::Coro(j) = j {
                self.ready(j);
            }
        }
        if let Some(e) = extra {
            if let Some(w) = e.waker {
                w.wake();
            }
            if let Some(k) = e.canceller {
                self.hint.set(k);
            }
        }
        self.unlink_all(c);
    }

    /// The part of [`complete`](Self::complete) for coros with extra state:
    /// drops their coro-locals, hooks and leftover payloads, and hands back
    /// what `complete` still has to act on.
    #[cold]
    #[inline(never)]
    fn complete_extra(&self, c: &CoroInner) -> Ending {
        let mut ending = Ending::default();
        let dead = c.extra_if(|e| {
            ending.on_destroy = std::mem::take(&mut e.on_destroy);
            ending.waker = e.waker.take();
            ending.canceller = e.canceller.take();
            (
                std::mem::take(&mut e.locals),
                std::mem::take(&mut e.hooks),
                (e.throw.take(), e.terminate.take()),
            )
        });
        if let Some((locals, hooks, leftovers)) = dead {
            drop_reporting(c, "a coro-local value", locals);
            drop_reporting(c, "a hook", hooks);
            drop_reporting(c, "a thrown payload", leftovers);
        }
        ending
    }

    /// Blocks the running coro until `c` is done (`JoinHandle::join`).
    pub(crate) fn join_wait(&self, c: &CoroInner, loc: &'static Location<'static>) {
        let me = self.cur();
        if me.interrupted() {
            self.raise(me);
        }
        if c.is_done() {
            return;
        }
        if ptr::eq(me, c) {
            panic!("corio: a coro cannot join itself (coro {})", c.id);
        }
        let node = pin!(WaitNode::new(me));
        while !c.is_done() {
            c.joiners.push_back(node.as_ref());
            self.park_on(loc, What::Join(c.id));
        }
    }

    /// `Coro::cancel` (see the ordering rules in the crate docs).
    pub(crate) fn cancel(&self, v: &CoroInner, loc: &'static Location<'static>) {
        match v.state() {
            State::Done => return,
            State::New => return self.cancel_unstarted(v),
            _ => {}
        }
        let me = self.cur();
        if v.is_main() {
            // The main coro is the thread itself: its current (or next)
            // blocking call unwinds once, like a throw; if nothing catches
            // it, the thread ends. There is nothing to wait for.
            if ptr::eq(me, v) {
                panic::resume_unwind(Box::new(CancelUnwind));
            }
            return self.throw(v, Box::new(CancelUnwind));
        }
        v.set(CANCELLED);
        if ptr::eq(me, v) {
            if !unwinding_now(v) {
                panic::resume_unwind(Box::new(CancelUnwind));
            }
            return;
        }
        if v.cancelling.get() {
            // `v` is itself inside a cancel: it finishes that first, then
            // unwinds (Coro's t/20).
            return;
        }
        if v.with_extra(|e| e.is_some_and(|e| e.canceller.is_some())) {
            // Somebody else's cancel of `v` is in progress: wait for it.
            return self.join_wait(v, loc);
        }
        self.dequeue(v);
        v.clear(SUSPENDED);
        v.pending.set(false);
        v.extra_mut(|e| e.canceller = Some(me));
        me.cancelling.set(true);
        struct Waiting<'a>(&'a CoroInner, &'a CoroInner);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.cancelling.set(false);
                let me: *const CoroInner = self.0;
                self.1.extra_if(|e| {
                    if e.canceller == Some(me) {
                        e.canceller = None;
                    }
                });
            }
        }
        let waiting = Waiting(me, v);
        self.hint.set(v);
        while !v.is_done() && !self.stalled.get() {
            me.where_.set(Some(loc));
            me.what.set(What::Cancel(v.id));
            self.switch_away(me);
            me.what.set(What::Nothing);
        }
        drop(waiting);
        if me.interrupted() {
            self.raise(me);
        }
    }

    /// Cancels a coro that never ran: its closure is dropped here, in the
    /// canceller's context.
    fn cancel_unstarted(&self, v: &CoroInner) {
        v.set(CANCELLED);
        self.dequeue(v);
        v.set_state(State::Live);
        // Keep `v` alive across user code (the closure's drop), and make any
        // other cancel of it wait for this one.
        let owned = self.handle_of(v);
        let me: *const CoroInner = self.cur();
        v.extra_mut(|e| e.canceller = Some(me));
        if let Some(ctx) = v.take_context() {
            drop_reporting(v, "its closure", ctx);
        }
        self.complete(v, Outcome::Failed(JoinError::Cancelled));
        // `complete` unlinked it; release the count the list owned.
        // SAFETY: the all-list owned one count, `complete` unlinked it.
        unsafe { release_owned(owned.as_ptr()) };
        // No switch was involved: drop the hint `complete` set to us.
        if ptr::eq(self.hint.get(), self.cur()) {
            self.hint.set(ptr::null());
        }
    }

    /// A new strong handle to a live coro.
    pub(crate) fn handle_of(&self, c: &CoroInner) -> CoroRef {
        // SAFETY: every coro is made by `Rc` and `c` is alive.
        unsafe { CoroRef::clone_raw(c) }
    }

    /// `Coro::throw`.
    pub(crate) fn throw(&self, v: &CoroInner, payload: Box<dyn Any + Send>) {
        if v.is_done() {
            return;
        }
        v.extra_mut(|e| e.throw = Some(payload));
        v.set(THROWN);
        if !ptr::eq(v, self.cur()) {
            self.ready(v);
        }
    }

    /// A `timeout` deadline passed: interrupt `c`'s current or next
    /// blocking call. Of several timeouts, the outermost (oldest) wins.
    fn interrupt_timeout(&self, c: &CoroInner, id: u64) {
        if c.is_done() {
            return;
        }
        c.extra_mut(|e| e.timed_out = Some(e.timed_out.map_or(id, |old| old.min(id))));
        c.set(TIMEDOUT);
        // Timers fire in the scheduler loop, where no coro is running.
        self.ready(c);
    }

    /// Forgets a pending timeout interrupt of `id` (its `timeout` is
    /// returning anyway).
    pub(crate) fn clear_timeout(&self, c: &CoroInner, id: u64) {
        if !c.has(TIMEDOUT) {
            return;
        }
        let still = c.extra_mut(|e| {
            if e.timed_out == Some(id) {
                e.timed_out = None;
            }
            e.timed_out.is_some()
        });
        if !still {
            c.clear(TIMEDOUT);
        }
    }

    /// Withdraws a pending `throw`; returns whether one was pending.
    pub(crate) fn clear_throw(&self, v: &CoroInner) -> bool {
        if !v.has(THROWN) {
            return false;
        }
        v.clear(THROWN);
        drop(v.extra_mut(|e| e.throw.take()));
        true
    }

    /// Cancels every live coro except the current one and main.
    pub(crate) fn killall(&self, loc: &'static Location<'static>) {
        let me: *const CoroInner = self.cur();
        for v in self.live_coros() {
            if !ptr::eq(v.as_ptr(), me) {
                self.cancel(&v, loc);
            }
        }
    }

    /// Cancels what is left at thread exit. Returns `false` if coros had to
    /// be leaked (then the scheduler itself is leaked too).
    fn teardown(&self) -> bool {
        if !ptr::eq(self.cur(), &*self.main) {
            eprintln!(
                "corio: a thread exited while a coro other than main was running; leaking its coros"
            );
            return false;
        }
        self.tearing_down.set(true);
        let loc = Location::caller();
        for _ in 0..16 {
            let victims = self.live_coros();
            if victims.is_empty() {
                break;
            }
            for v in victims {
                self.stalled.set(false);
                let r = panic::catch_unwind(AssertUnwindSafe(|| self.cancel(&v, loc)));
                if let Err(p) = r
                    && !p.is::<CancelUnwind>()
                {
                    report_panic(&v, "cancelling it at thread exit", &*p);
                }
            }
        }
        let main = &*self.main;
        let (locals, on_destroy) = main.extra_mut(|e| {
            (
                std::mem::take(&mut e.locals),
                std::mem::take(&mut e.on_destroy),
            )
        });
        drop_reporting(main, "a coro-local value", locals);
        for cb in on_destroy.into_iter().rev() {
            if let Err(p) = panic::catch_unwind(AssertUnwindSafe(cb)) {
                report_panic(main, "an on_destroy callback", &*p);
            }
        }
        let left = self.live.get();
        if left > 0 {
            eprintln!(
                "corio: {left} coro(s) could not be cancelled at thread exit \
                 (their cleanup blocked forever); they are leaked, never resumed"
            );
            return false;
        }
        true
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stacks.flush();
        if let Some(w) = self.watch.get_mut().take() {
            w.stop();
        }
        // The main coro's extra state may hold user values (hooks, a thrown
        // payload); drop them while the thread can still report panics.
        if let Some(extra) = self.main.take_extra() {
            drop_reporting(&self.main, "the main coro's state", extra);
        }
    }
}

/// What a coro with extra state leaves for `complete` to act on.
#[derive(Default)]
struct Ending {
    on_destroy: Vec<Box<dyn FnOnce()>>,
    waker: Option<std::task::Waker>,
    canceller: Option<*const CoroInner>,
}

/// Runs `on_destroy` callbacks, last registered first; a panic in one is
/// reported and the others still run.
#[cold]
fn run_on_destroy(c: &CoroInner, mut callbacks: Vec<Box<dyn FnOnce()>>) {
    while let Some(cb) = callbacks.pop() {
        if let Err(p) = panic::catch_unwind(AssertUnwindSafe(cb)) {
            report_panic(c, "an on_destroy callback", &*p);
        }
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

/// The address of this thread's scheduler, if it has a live one.
pub(crate) fn current_scheduler_addr() -> Option<usize> {
    let p = SCHED.with(Cell::get) as usize;
    (p > DEAD).then_some(p)
}

/// Hands this thread's cached stacks to its pool (for `stack::trim`).
pub(crate) fn flush_stack_cache() {
    let p = SCHED.with(Cell::get);
    if p as usize > DEAD {
        // SAFETY: see `sched`.
        unsafe { (*p).stacks.flush() };
    }
}

/// Number of stacks in this thread's scheduler cache.
pub(crate) fn stack_cache_len() -> usize {
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

/// Drops `value`, reporting (not propagating) a panic from its `Drop`.
fn drop_reporting<T>(c: &CoroInner, what: &str, value: T) {
    if let Err(p) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        report_panic(c, what, &*p);
    }
}

/// Prints a panic that corio caught and could not hand to anybody.
pub(crate) fn report_panic(c: &CoroInner, what: &str, payload: &(dyn Any + Send)) {
    let msg = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string payload)");
    eprintln!("corio: coro {} panicked in {what}: {msg}", c.id);
}

/// The body of every coro's coroutine.
fn entry<F, T>(y: &Yielder<(), ()>, f: F)
where
    F: FnOnce() -> T,
    T: 'static,
{
    let s = sched();
    let c = s.cur();
    c.yielder.set(y);
    c.set_state(State::Live);
    let result = panic::catch_unwind(AssertUnwindSafe(move || {
        if c.interrupted() {
            s.raise(c);
        }
        f()
    }));
    let outcome = match result {
        Ok(v) => Outcome::Returned(Value::new(v)),
        Err(p) => s.classify(c, p),
    };
    // Nothing below may unwind past the coroutine root: `complete` catches
    // every user panic; anything else is a corio bug, better an abort.
    struct Abort;
    impl Drop for Abort {
        fn drop(&mut self) {
            eprintln!("corio: internal error while finishing a coro; aborting");
            std::process::abort();
        }
    }
    let guard = Abort;
    s.complete(c, outcome);
    std::mem::forget(guard);
}

/// Writes "coro N (desc)" for the fault reporter.
///
/// # Safety
/// `owner` must be the address of a live `CoroInner` of the faulting
/// thread, which is stopped in the signal handler.
pub(crate) unsafe fn describe_for_signal(owner: usize, out: &mut SigBuf<'_>) {
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
/// panics now and did not when `c` came in (it started during this run), or
/// it did then too and `c` was unwinding before. When the thread does not
/// panic at all, nobody is unwinding.
#[inline]
fn note_switch_out(c: &CoroInner) {
    if std::thread::panicking() {
        if !c.panic_in.get() {
            c.unwinding.set(true);
        }
    } else {
        c.unwinding.set(false);
    }
}

/// Whether the running coro `c` is unwinding a panic of its own (not just
/// running while another coro of the thread is suspended mid-unwind).
fn unwinding_now(c: &CoroInner) -> bool {
    std::thread::panicking() && (!c.panic_in.get() || c.unwinding.get())
}

/// Marker so that `HOOKS` is visible to `hooks.rs`.
pub(crate) const HOOKS_FLAG: u8 = HOOKS;
