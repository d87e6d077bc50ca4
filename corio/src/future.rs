//! `block_on`: wait for a `Future` inside a coro (AnyEvent's condvars,
//! in async Rust's terms).

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomPinned;
use std::panic::Location;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Instant;

use crate::sched::bind::Bind;
use crate::sched::inner::CoroInner;
use crate::sched::reactor::{IoState, Remote, RemoteWake};
use crate::sched::timer::{Action, Timer};
use crate::sched::wait::WaitNode;
use crate::sched::{Scheduler, sched};
use crate::stack::Stack;

/// What the waker and the waiting coro share.
struct Shared {
    /// Set by `wake`, cleared before each poll.
    woken: AtomicBool,
    /// The coro parked in `block_on`, or null while it polls or runs.
    /// Only the home thread reads or writes it.
    waiter: AtomicPtr<CoroInner>,
    remote: Arc<Remote>,
}

impl RemoteWake for Shared {
    fn wake_home(&self, s: &Scheduler) {
        let w = self.waiter.swap(std::ptr::null_mut(), Ordering::Relaxed);
        if !w.is_null() {
            // SAFETY: a non-null waiter is parked in `block_on` on this
            // (home) thread; it clears the pointer before it leaves.
            s.ready(unsafe { &*w });
        }
    }
}

/// What the `Waker` handed to the future points to. It holds the shared
/// state weakly, so a waker kept after `block_on` returned wakes nobody.
///
/// Its waker has a vtable of its own ([`VTABLE`]), so corio's I/O and
/// timer futures can recognise the waker of the `block_on` they are
/// polled in and wait through its [`Frame`] instead of through the waker
/// (see [`frame_of`]).
struct CoroWaker {
    shared: Weak<Shared>,
    /// The coro running the `block_on` (as an address: only compared).
    #[cfg_attr(not(feature = "compat"), allow(dead_code))]
    coro: usize,
    /// The `block_on`'s frame while it runs, null once it returned.
    ///
    /// # Invariant
    /// Non-null only while the `block_on` call that made this waker is
    /// active on the coro `coro`; written only on that coro's thread.
    frame: AtomicPtr<Frame>,
}

impl CoroWaker {
    fn wake_by_ref(&self) {
        if let Some(shared) = self.shared.upgrade()
            && !shared.woken.swap(true, Ordering::AcqRel)
        {
            let remote = shared.remote.clone();
            remote.wake(shared);
        }
    }
}

/// The vtable of `block_on`'s wakers: a `RawWaker`'s data is a pointer
/// obtained from `Arc::<CoroWaker>::into_raw`, owning one strong count.
static VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

fn raw_waker(w: Arc<CoroWaker>) -> RawWaker {
    RawWaker::new(Arc::into_raw(w).cast(), &VTABLE)
}

unsafe fn waker_clone(p: *const ()) -> RawWaker {
    // SAFETY: `p` came from `Arc::<CoroWaker>::into_raw` and its count is
    // held by the waker being cloned (the vtable's contract).
    unsafe { Arc::increment_strong_count(p.cast::<CoroWaker>()) };
    RawWaker::new(p, &VTABLE)
}

unsafe fn waker_wake(p: *const ()) {
    // SAFETY: as in `waker_clone`; `wake` consumes the waker's count.
    let w = unsafe { Arc::from_raw(p.cast::<CoroWaker>()) };
    w.wake_by_ref();
}

unsafe fn waker_wake_by_ref(p: *const ()) {
    // SAFETY: as in `waker_clone`; the waker is alive during the call.
    unsafe { &*p.cast::<CoroWaker>() }.wake_by_ref();
}

unsafe fn waker_drop(p: *const ()) {
    // SAFETY: as in `waker_clone`; dropping the waker gives its count back.
    drop(unsafe { Arc::from_raw(p.cast::<CoroWaker>()) });
}

/// Counts the waiting coro as wakeable from elsewhere while it waits, and
/// clears the waiter and frame pointers however `block_on` is left
/// (return, panic, cancel).
struct Waiting<'a>(&'a Shared, &'a CoroWaker);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.1.frame.store(std::ptr::null_mut(), Ordering::Relaxed);
        self.0.waiter.store(std::ptr::null_mut(), Ordering::Relaxed);
        self.0.remote.release();
    }
}

/// Runs `future` to completion inside the current coro, parking only this
/// coro while the future is pending: the other coros of the thread keep
/// running, and the future's waker — `Send + Sync`, callable from any
/// thread — readies this coro on its home scheduler.
///
/// Use it to call async code (a client library, a tokio-free future, a
/// [`JoinHandle`](crate::JoinHandle)) from straight-line coro code. It
/// polls the future on the coro's own stack; a future that needs a
/// particular runtime's reactor (tokio's sockets and timers) still needs
/// that runtime running somewhere.
///
/// While it waits, the scheduler counts the waker as something that may
/// still wake a coro: rather than reporting a deadlock, an idle scheduler
/// sleeps until the waker is used. (A future that drops its waker without
/// waking it leaves the coro parked forever, as it would leave an async
/// task.)
///
/// # Where the future is polled
///
/// The future itself lives in this call's frame, on the coro's stack. Its
/// `poll` runs on the thread's *poll stack* when that stack is free (and
/// on the coro's own stack otherwise): one stack per thread, the size of a
/// default coro stack, that every coro's `block_on` polls on in turn. A
/// server that polls deep futures (hyper's) in thousands of coros then
/// keeps one call chain's worth of stack hot in the CPU cache, as a
/// future executor does, instead of one per coro. A `poll` that blocks
/// (calls [`sleep`](crate::sleep), a corio socket, ...) parks the coro on
/// the poll stack and keeps it until that `poll` returns; meanwhile the
/// other coros poll on their own stacks. It makes no difference to the
/// future. Polls run on the coro's own stack when the coro's stack is
/// bigger than the poll stack (so a [`Builder::stack_size`] given for a
/// deep future keeps counting), in the main coro (whose stack is the
/// thread's) and inside a [`Generator`](crate::Generator). A thread gets
/// its poll stack at its first such `block_on` (one left by a thread that
/// exited, or a new one) and keeps it until it exits; then its memory is
/// given back.
///
/// [`Builder::stack_size`]: crate::Builder::stack_size
///
/// # Examples
///
/// ```
/// // A future woken from another thread.
/// let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
/// let mut sent = false;
/// let fut = std::future::poll_fn(move |cx| {
///     if sent {
///         return std::task::Poll::Ready(42);
///     }
///     sent = true;
///     tx.send(cx.waker().clone()).unwrap();
///     std::task::Poll::Pending
/// });
/// std::thread::spawn(move || rx.recv().unwrap().wake());
/// assert_eq!(corio::block_on(fut), 42);
///
/// // A coro, awaited as a future.
/// let h = corio::spawn(|| 6 * 7);
/// assert_eq!(corio::block_on(h).unwrap(), 42);
/// ```
///
/// A [`Generator`](crate::Generator) must not yield from inside the
/// future's `poll`: this call's frame names the coro that called it, so
/// [`Yielder::yield_`](crate::Yielder::yield_) panics there (the future is
/// dropped as the panic unwinds).
///
/// # Panics
/// With the future's own panic. Unwinds if the coro is cancelled or thrown
/// at while it waits (the future is dropped). Panics if the thread cannot
/// set up its reactor (out of file descriptors).
///
/// # Switching
///
/// Suspends the current coro while the future is pending.
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    let loc = Location::caller();
    let s = sched();
    let me = s.cur();
    if me.interrupted() {
        s.raise(me);
    }
    // The frame below (its wait nodes, the timer, the waker's frame
    // pointer) names `me` while the future's `poll` — user code — runs:
    // bound to `me` (see `sched/bind.rs`), so a generator cannot yield
    // from inside a poll and carry the frame to another coro. Declared
    // first, released last.
    let _bind = Bind::new(me);
    let remote = match s.reactor() {
        Ok(r) => r.remote.clone(),
        Err(e) => panic!("corio::block_on: cannot set up this thread's reactor: {e}"),
    };
    remote.retain();
    let shared = Arc::new(Shared {
        woken: AtomicBool::new(false),
        waiter: AtomicPtr::new(std::ptr::null_mut()),
        remote,
    });
    let frame = pin!(Frame::new(me));
    let frame = frame.into_ref();
    let cw = Arc::new(CoroWaker {
        shared: Arc::downgrade(&shared),
        coro: me as *const CoroInner as usize,
        frame: AtomicPtr::new(frame.get_ref() as *const Frame as *mut Frame),
    });
    // Declared after `frame`: dropped (and the frame pointer cleared)
    // before the frame goes.
    let _waiting = Waiting(&shared, &cw);
    // SAFETY: `raw_waker` hands the waker one strong count of `cw`, with
    // the vtable that treats its data as such.
    let waker = unsafe { Waker::from_raw(raw_waker(cw.clone())) };
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    // The timer armed for the frame's deadline and its own deadline. It
    // is kept from one park to the next while it is not later than the
    // deadline the future asks for (waking early only costs a poll): a
    // future that renews a distant deadline at each round, as hyper's
    // header read timeout does at each request, then arms the timer heap
    // once per period of that timeout, not once per park.
    let mut armed: Option<(Instant, Timer<'_>)> = None;
    loop {
        shared.woken.store(false, Ordering::Release);
        if let Poll::Ready(v) = poll_on_poll_stack(me, future.as_mut(), &mut cx) {
            return v;
        }
        // Woken during the poll (or since): poll again at once.
        while !shared.woken.load(Ordering::Acquire) && !frame.woken() {
            let s = sched();
            match frame.deadline.get() {
                None => armed = None,
                Some(d) => {
                    if !armed.as_ref().is_some_and(|(at, t)| *at <= d && !t.fired()) {
                        drop(armed.take()); // disarmed before the next is armed
                        armed = Some((d, s.timers.arm(d, Action::Ready(me))));
                    }
                }
            }
            shared
                .waiter
                .store(s.cur() as *const CoroInner as *mut _, Ordering::Relaxed);
            crate::sched::count_syscall_park(s);
            s.park_on(loc, crate::sched::inner::What::Future);
            shared.waiter.store(std::ptr::null_mut(), Ordering::Relaxed);
            if armed.as_ref().is_some_and(|(_, t)| t.fired()) {
                break;
            }
        }
        frame.reset();
    }
}

/// The thread's poll stack (see [`block_on`]'s "Where the future is
/// polled").
///
/// A poll stack is only ever a poll stack: when its thread exits it goes,
/// its pages given back, to [`IDLE_POLL_STACKS`] for the next thread, never
/// to the pool of coro stacks. (valgrind's memcheck marks the frames popped
/// on it as inaccessible and would report a coro started there later.)
///
/// # Invariant
/// `idle` holds the stack while no poll runs on it; a poll running on it
/// owns it (through a [`Lease`] in `poll_on_poll_stack`'s frame, on the
/// polling coro's own stack) until that poll returns or unwinds. So at most
/// one call chain uses it at a time. `made` says the thread has one, idle
/// or leased (a lease whose coro is abandoned mid-poll keeps it for ever:
/// the thread then polls in place).
struct PollStack {
    idle: Cell<Option<Stack>>,
    made: Cell<bool>,
}

impl Drop for PollStack {
    fn drop(&mut self) {
        if let Some(stack) = self.idle.take() {
            retire(stack);
        }
    }
}

thread_local! {
    static POLL_STACK: PollStack = const {
        PollStack {
            idle: Cell::new(None),
            made: Cell::new(false),
        }
    };
}

/// Poll stacks of threads that exited, for the next threads to take.
static IDLE_POLL_STACKS: Mutex<Vec<Stack>> = Mutex::new(Vec::new());

/// Puts away a poll stack nothing runs on.
fn retire(stack: Stack) {
    stack.set_owner(0);
    stack.release_pages();
    IDLE_POLL_STACKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(stack);
}

/// The poll stack, leased to one poll; given back to the thread when
/// dropped (after the poll returned, or while its panic unwinds on the
/// coro's stack).
struct Lease(Option<Stack>);

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(stack) = self.0.take() {
            stack.set_owner(0);
            // After the thread's slot is gone (a coro unwinding at thread
            // exit), the stack is retired here.
            let mut stack = Some(stack);
            let _ = POLL_STACK.try_with(|p| p.idle.set(stack.take()));
            if let Some(stack) = stack {
                retire(stack);
            }
        }
    }
}

/// Polls `fut` on the thread's poll stack when `me` (the running coro) is
/// on its own stack, not bigger than the poll stack, and the poll stack is
/// free; in place otherwise.
#[inline]
fn poll_on_poll_stack<F: Future + ?Sized>(
    me: &CoroInner,
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<F::Output> {
    // On its own stack: not the main coro (its stack bounds are 0), not in
    // a generator, not already on the poll stack.
    let sp = crate::sys::stack_pointer();
    let (base, limit) = (me.stack_base.get(), me.stack_limit.get());
    if sp < limit || sp >= base {
        return fut.poll(cx);
    }
    let Some(stack) = take_poll_stack() else {
        return fut.poll(cx);
    };
    if base - limit > stack.base() - stack.usable_low() {
        drop(Lease(Some(stack)));
        return fut.poll(cx);
    }
    // The overflow report names the coro polling (alive while it polls;
    // `Lease` clears the owner when the poll ends).
    stack.set_owner(me as *const CoroInner as usize);
    let mut lease = Lease(Some(stack));
    let stack = lease.0.as_mut().expect("just leased");
    // `on_stack` runs the poll on `stack` and returns its result here, or
    // catches its panic and resumes it here (on the coro's stack), so
    // `lease` is dropped on the coro's stack in either case, after the
    // poll's frames are gone. A poll that parks the coro parks it with
    // those frames on `stack`, which stays leased meanwhile.
    corosensei::on_stack(stack, move || fut.poll(cx))
}

/// The thread's poll stack, unless it is leased (or cannot be made).
#[inline]
fn take_poll_stack() -> Option<Stack> {
    POLL_STACK
        .try_with(|p| {
            p.idle.take().or_else(|| {
                if p.made.get() {
                    return None;
                }
                let idle = IDLE_POLL_STACKS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .pop();
                let s = match idle {
                    Some(s) => s,
                    None => Stack::acquire(crate::stack::DEFAULT_STACK_SIZE).ok()?,
                };
                p.made.set(true);
                Some(s)
            })
        })
        .ok()
        .flatten()
}

/// A descriptor's state and the direction (`READ` or `WRITE`) waited for.
type Interest = (Rc<IoState>, u8);

/// Number of descriptor directions a `block_on` waits for through its
/// frame in one round; more go through their waker.
const FRAME_SLOTS: usize = 4;

/// What a future polled by `block_on` asked it to wait for, besides its
/// waker: descriptors becoming ready and a deadline. corio's own futures
/// (`compat::Io`, `compat::Timer`'s sleeps) find it through the waker
/// ([`frame_of`]) and register here, so that readiness readies the coro
/// straight from the reactor, and time from the timer heap: no waker is
/// cloned, nothing allocated, no atomic touched.
///
/// Everything registered is dropped at the end of each round (before the
/// future is polled again); the future registers again if it still waits.
///
/// # Invariants
/// - Lives pinned in `block_on`'s frame on the stack of the coro whose
///   nodes these are; its wait nodes follow `sched::wait`'s rules (the
///   coro of a linked node is alive: the node is in its frame).
/// - `slots[i]` is `Some` exactly for `i < used` (the slots in use this
///   round); a used slot's node is linked into that state's list for that direction, or
///   was taken off it by the reactor (then it is woken).
pub(crate) struct Frame {
    nodes: [WaitNode; FRAME_SLOTS],
    slots: [Cell<Option<Interest>>; FRAME_SLOTS],
    /// How many slots are in use: they are `slots[..used]`.
    used: Cell<usize>,
    /// The earliest deadline registered this round.
    deadline: Cell<Option<Instant>>,
    _pinned: PhantomPinned,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("deadline", &self.deadline.get())
            .finish_non_exhaustive()
    }
}

// Only `compat`'s futures register in a frame so far.
#[cfg_attr(not(feature = "compat"), allow(dead_code))]
impl Frame {
    fn new(me: &CoroInner) -> Frame {
        Frame {
            nodes: std::array::from_fn(|_| WaitNode::new(me)),
            slots: Default::default(),
            used: Cell::new(0),
            deadline: Cell::new(None),
            _pinned: PhantomPinned,
        }
    }

    /// The node of slot `i`, pinned.
    fn node(self: Pin<&Self>, i: usize) -> Pin<&WaitNode> {
        // SAFETY: structural pinning: the nodes are never moved out of a
        // pinned frame (no method hands out `&mut` to them).
        unsafe { self.map_unchecked(|f| &f.nodes[i]) }
    }

    /// Has the coro readied when `state` becomes ready for `dir` (one
    /// direction). Returns `false` when every slot is taken: then the
    /// caller waits through the waker instead.
    pub(crate) fn wait_io(self: Pin<&Self>, state: &Rc<IoState>, dir: u8) -> bool {
        let used = self.used.get();
        for slot in &self.slots[..used] {
            let s = slot.take();
            let same = s
                .as_ref()
                .is_some_and(|(st, d)| Rc::ptr_eq(st, state) && *d == dir);
            slot.set(s);
            if same {
                // Registered already this round (still linked, or woken:
                // then the next round comes anyway).
                return true;
            }
        }
        if used == FRAME_SLOTS {
            return false;
        }
        state.waiters(dir).push_back(self.node(used));
        self.slots[used].set(Some((state.clone(), dir)));
        self.used.set(used + 1);
        true
    }

    /// Has the coro readied at `deadline` (or earlier).
    pub(crate) fn wake_at(&self, deadline: Instant) {
        if self.deadline.get().is_none_or(|d| deadline < d) {
            self.deadline.set(Some(deadline));
        }
    }

    /// Whether a descriptor registered this round became ready.
    fn woken(&self) -> bool {
        self.nodes[..self.used.get()].iter().any(WaitNode::is_woken)
    }

    /// Ends a round: unlinks every node still waiting, forgets the slots
    /// and the deadline.
    fn reset(&self) {
        let used = self.used.replace(0);
        for (slot, node) in self.slots[..used].iter().zip(&self.nodes) {
            if let Some((state, dir)) = slot.take() {
                state.waiters(dir).remove(node);
            }
        }
        self.deadline.set(None);
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        // The nodes unlink themselves when dropped; the slots keep their
        // lists alive until then. Unlink first anyway, while both are
        // certainly alive.
        self.reset();
    }
}

/// The frame of the `block_on` whose waker `cx` carries, if that
/// `block_on` is running on the current coro (so the frame is alive, on
/// this coro's stack, below the caller). `None` for any other waker: a
/// combinator's own, another executor's, a `block_on` of another coro.
#[cfg_attr(not(feature = "compat"), allow(dead_code))]
pub(crate) fn frame_of<'a>(cx: &'a Context<'_>) -> Option<Pin<&'a Frame>> {
    let w = cx.waker();
    if !std::ptr::eq(w.vtable(), &VTABLE) {
        return None;
    }
    // SAFETY: a waker with `VTABLE` was made by `raw_waker` (or cloned
    // from one): its data is a live `CoroWaker` while the waker lives.
    let cw = unsafe { &*w.data().cast::<CoroWaker>() };
    let s = crate::sched::try_sched()?;
    if cw.coro != s.cur() as *const CoroInner as usize {
        return None;
    }
    let f = cw.frame.load(Ordering::Relaxed);
    if f.is_null() {
        return None;
    }
    // SAFETY: the frame pointer is non-null only while its `block_on` is
    // active on coro `cw.coro` (field invariant), and that is the coro
    // running this code: so that `block_on` is below us in this coro's
    // call chain (on its stack, which the chain continues from when the
    // poll runs on the poll stack) and its pinned frame outlives this
    // borrow of `cx`. (The comparison is
    // made on this thread: a live coro's address is not shared with a
    // coro of another thread, and a frame pointer is cleared before its
    // coro ends.)
    Some(unsafe { Pin::new_unchecked(&*f) })
}
