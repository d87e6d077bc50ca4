//! How coros end: the outcome of a coro's closure, `complete` (what runs
//! as a coro ends, in its own context), `join`, `cancel`, `throw`, the
//! interrupts of `timeout`, and the unwind every interrupt is.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::pin;
use std::ptr;

use corosensei::Yielder;

use super::inner::{
    CANCELLED, CoroInner, CoroRef, HOOKS, Outcome, SUSPENDED, State, THROWN, TIMEDOUT, What,
};
use super::value::Value;
use super::wait::{self, WaitNode};
use super::{
    CancelUnwind, Ctx, Deferred, Scheduler, TerminateUnwind, release_owned, sched, unwinding_now,
};
use crate::JoinError;

impl Scheduler {
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
    pub(super) fn complete(&self, c: &CoroInner, outcome: Outcome) {
        let outcome =
            if c.has(CANCELLED) && !matches!(outcome, Outcome::Failed(JoinError::Cancelled)) {
                drop_reporting(c, "its return value", outcome);
                Outcome::Failed(JoinError::Cancelled)
            } else {
                outcome
            };
        // Most coros never allocate their extra state; those that did have
        // locals, callbacks and wakers to deal with, out of line. Every user
        // value the coro leaves behind is dropped (and every callback run)
        // here, while it is still the live, running coro: no user code runs
        // once it is done, nor in the scheduler loop.
        let has_extra = c.has_extra();
        if has_extra {
            self.drop_leftovers(c);
        }
        if c.has_handle.get() {
            c.outcome.set(Some(outcome));
        } else {
            drop_reporting(c, "its return value", outcome);
        }
        if has_extra || c.has_extra() {
            self.finish_extra(c);
        }
        // Only a cancelled coro can have a canceller waiting (`cancel` and
        // `cancel_unstarted` set CANCELLED, which is never cleared).
        let canceller = if c.has(CANCELLED) {
            self.take_canceller(c)
        } else {
            None
        };
        self.dequeue(c);
        c.clear(SUSPENDED | HOOKS);
        c.pending.set(false);
        c.set_state(State::Done);
        while let Some(j) = c.joiners.pop_back() {
            if let wait::Waiter::Coro(j) = j {
                self.ready(j);
            }
        }
        if let Some(k) = canceller {
            self.hint.set(k);
        }
        self.unlink_all(c);
    }

    /// Drops the coro-local values, hooks and leftover payloads of the
    /// ending coro `c` (the running one), reporting panics.
    #[cold]
    #[inline(never)]
    fn drop_leftovers(&self, c: &CoroInner) -> bool {
        let dead = c.extra_if(|e| {
            (
                std::mem::take(&mut e.locals),
                std::mem::take(&mut e.hooks),
                (e.throw.take(), e.terminate.take()),
            )
        });
        let Some((locals, hooks, leftovers)) = dead else {
            return false;
        };
        let any = !locals.is_empty()
            || !hooks.is_empty()
            || leftovers.0.is_some()
            || leftovers.1.is_some();
        drop_reporting(c, "a coro-local value", locals);
        drop_reporting(c, "a hook", hooks);
        drop_reporting(c, "a thrown payload", leftovers);
        any
    }

    /// The rest of ending `c` (the running coro) for coros with extra
    /// state: runs its `on_destroy` callbacks (last registered first) and
    /// wakes the waker of a polled `JoinHandle`, then drops whatever that
    /// user code left behind (a coro-local first touched in a callback, a
    /// hook, a throw at itself, another callback), round after round until
    /// nothing is left.
    #[cold]
    #[inline(never)]
    fn finish_extra(&self, c: &CoroInner) {
        // Each round runs user code that may leave more behind; a program
        // that always does is cut off after this many, and what it left is
        // leaked (never dropped: dropping it later would run its code in the
        // scheduler loop, where no coro is running).
        const ROUNDS: usize = 16;
        for _ in 0..ROUNDS {
            let (on_destroy, waker) = c
                .extra_if(|e| (std::mem::take(&mut e.on_destroy), e.waker.take()))
                .unwrap_or_default();
            let more = !on_destroy.is_empty() || waker.is_some();
            run_on_destroy(c, on_destroy);
            if let Some(w) = waker
                && let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| w.wake()))
            {
                report_panic(c, "the waker of its JoinHandle", &*p);
            }
            if !self.drop_leftovers(c) && !more {
                return;
            }
        }
        eprintln!(
            "corio: coro {} kept leaving values behind as it ended ({ROUNDS} rounds of \
             on_destroy callbacks and drops); leaking the rest",
            c.id
        );
        c.extra_if(|e| {
            std::mem::forget(std::mem::take(&mut e.on_destroy));
            std::mem::forget(std::mem::take(&mut e.locals));
            std::mem::forget(std::mem::take(&mut e.hooks));
            std::mem::forget(e.throw.take());
            std::mem::forget(e.terminate.take());
            std::mem::forget(e.waker.take());
        });
    }

    /// The coro waiting in `cancel` for `v`, if a cancel of `v` is in
    /// progress.
    fn canceller_of(&self, v: &CoroInner) -> Option<*const CoroInner> {
        let v: *const CoroInner = v;
        self.cancels.borrow().get(&v).copied()
    }

    /// Forgets the cancel of `v` in progress (it ended); returns the coro
    /// waiting for it.
    fn take_canceller(&self, v: &CoroInner) -> Option<*const CoroInner> {
        let v: *const CoroInner = v;
        self.cancels.borrow_mut().remove(&v)
    }

    /// Blocks the running coro until `c` is done (`JoinHandle::join`).
    pub(crate) fn join_wait(&self, c: &CoroInner, loc: &'static Location<'static>) {
        let me = self.cur();
        if me.interrupted() {
            self.raise(me);
        }
        if c.is_over() {
            return;
        }
        if ptr::eq(me, c) {
            panic!("corio: a coro cannot join itself (coro {})", c.id);
        }
        let node = pin!(WaitNode::new(me));
        while !c.is_over() {
            c.joiners.push_back(node.as_ref());
            self.park_on(loc, What::Join(c.id));
        }
    }

    /// `Coro::cancel` (see the ordering rules in the crate docs).
    pub(crate) fn cancel(&self, v: &CoroInner, loc: &'static Location<'static>) {
        match v.state() {
            State::Done | State::Abandoned => return,
            State::New => return self.cancel_unstarted(v),
            _ => {}
        }
        let me = self.cur();
        if v.is_main() {
            // The main coro is the thread itself: its current (or next)
            // blocking call unwinds once, like a throw; if nothing catches
            // it, the thread ends. There is nothing to wait for.
            if ptr::eq(me, v) {
                unwind(v, Box::new(CancelUnwind), Some(loc));
            }
            return self.throw(v, Box::new(CancelUnwind));
        }
        warm_unwind_scratch(v);
        v.set(CANCELLED);
        if ptr::eq(me, v) {
            if !unwinding_now(v) {
                unwind(v, Box::new(CancelUnwind), Some(loc));
            }
            return;
        }
        if v.cancelling.get() {
            // `v` is itself inside a cancel: it finishes that first, then
            // unwinds (Coro's t/20).
            return;
        }
        if self.canceller_of(v).is_some() {
            // Somebody else's cancel of `v` is in progress: wait for it.
            return self.join_wait(v, loc);
        }
        self.dequeue(v);
        v.clear(SUSPENDED);
        v.pending.set(false);
        let me_ptr: *const CoroInner = me;
        self.cancels.borrow_mut().insert(v, me_ptr);
        me.cancelling.set(true);
        struct Waiting<'a>(&'a Scheduler, &'a CoroInner, &'a CoroInner);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.1.cancelling.set(false);
                let me: *const CoroInner = self.1;
                let mut cancels = self.0.cancels.borrow_mut();
                let v: *const CoroInner = self.2;
                if cancels.get(&v) == Some(&me) {
                    cancels.remove(&v);
                }
            }
        }
        let waiting = Waiting(self, me, v);
        self.hint.set(v);
        while !v.is_over() && !self.stalled.get() {
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
    pub(super) fn cancel_unstarted(&self, v: &CoroInner) {
        v.set(CANCELLED);
        self.dequeue(v);
        v.set_state(State::Live);
        // Keep `v` alive across user code (the closure's drop), and make any
        // other cancel of it wait for this one.
        let owned = self.handle_of(v);
        let me: *const CoroInner = self.cur();
        self.cancels.borrow_mut().insert(v, me);
        match v.take_context() {
            Ctx::Ready(ctx) => drop_reporting(v, "its closure", ctx),
            Ctx::Without(Some(Deferred { reserve, starter })) => {
                drop_reporting(v, "its closure", starter);
                reserve.give_back();
            }
            Ctx::Without(None) => {}
        }
        self.complete(v, Outcome::Failed(JoinError::Cancelled));
        #[cfg(feature = "tracing")]
        super::spans::ended_unstarted(v);
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
        if v.is_over() {
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
    pub(super) fn interrupt_timeout(&self, c: &CoroInner, id: u64) {
        if c.is_over() {
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
}

/// The body of every coro's coroutine.
pub(super) fn entry<F, T>(y: &Yielder<(), ()>, f: F)
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

/// Runs `on_destroy` callbacks, last registered first; a panic in one is
/// reported and the others still run.
#[cold]
pub(super) fn run_on_destroy(c: &CoroInner, mut callbacks: Vec<Box<dyn FnOnce()>>) {
    while let Some(cb) = callbacks.pop() {
        if let Err(p) = panic::catch_unwind(AssertUnwindSafe(cb)) {
            report_panic(c, "an on_destroy callback", &*p);
        }
    }
}

/// Drops `value`, reporting (not propagating) a panic from its `Drop`.
pub(super) fn drop_reporting<T>(c: &CoroInner, what: &str, value: T) {
    if let Err(p) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        report_panic(c, what, &*p);
    }
}

/// Prints a panic that corio caught and could not hand to anybody.
pub(crate) fn report_panic(c: &CoroInner, what: &str, payload: &(dyn Any + Send)) {
    if payload.is::<CancelUnwind>() {
        eprintln!("corio: coro {} was cancelled in {what}", c.id);
        return;
    }
    if payload.is::<super::TimeoutUnwind>() {
        eprintln!("corio: coro {} timed out in {what}", c.id);
        return;
    }
    let msg = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string payload)");
    eprintln!("corio: coro {} panicked in {what}: {msg}", c.id);
}

/// Unwinds the running coro `c` with `payload` (a cancel, a throw, a
/// timeout, `terminate`): every corio interrupt is an unwind. Built with
/// `panic = "abort"` there is no unwinding: it says so in one line naming
/// the coro, the call and the reason, then aborts the process (instead of
/// the silent abort `resume_unwind` gives). `at` is where the interrupting
/// call was made, when it is the coro's own (`cancel` of itself,
/// `terminate`); otherwise the report names the blocking call it was in.
///
/// Inlined into its few callers (all of them cold): every frame between a
/// coro's blocking call and the `catch_unwind` at its root is walked twice
/// by the unwinder (search, then cleanup), at a cost that dominates a
/// cancel, so this one adds no frame of its own.
#[inline(always)]
pub(crate) fn unwind(
    c: &CoroInner,
    payload: Box<dyn Any + Send>,
    at: Option<&'static Location<'static>>,
) -> ! {
    panic::resume_unwind(prepare_unwind(c, payload, at))
}

/// Stack the unwinder writes below the frame that raises: libgcc's
/// `_Unwind_RaiseException` keeps two register contexts and a frame state
/// there, with the personality routine's and std's frames below them
/// (1.9 KiB measured on x86-64 with libgcc 12).
const UNWIND_SCRATCH: usize = 3 * 1024;

/// Asks the caches for the stack the unwinder of `v`, a coro about to be
/// cancelled, will write: the 3 KiB below its deepest stack pointer, where
/// a coro parked long is usually parked. It has never been that deep, or
/// not since its page was cleared: the unwinder's writes would each wait
/// for memory in turn (about thirty lines), a fifth of a cancel of a coro
/// parked a second earlier. Asked for before the switch, the lines come
/// together. A guess that misses (a coro parked above its deepest point)
/// costs 48 prefetches and nothing else.
#[inline]
fn warm_unwind_scratch(v: &CoroInner) {
    let low = v.low_sp.get();
    crate::sys::prefetch_write(low.saturating_sub(UNWIND_SCRATCH), UNWIND_SCRATCH);
}

/// Everything [`unwind`] does before the unwind itself, for callers that
/// start it in a frame of their own (see `Scheduler::raise`): aborts in a
/// `panic = "abort"` build, reports an unwinding main coro, marks `c` as
/// unwinding. Returns the payload to unwind with.
#[inline(always)]
pub(crate) fn prepare_unwind(
    c: &CoroInner,
    payload: Box<dyn Any + Send>,
    at: Option<&'static Location<'static>>,
) -> Box<dyn Any + Send> {
    if cfg!(panic = "abort") {
        abort_instead(c, payload, at);
    }
    if c.is_main() {
        report_main_unwind(c, &*payload, at);
    }
    // Record that `c` unwinds from here on: the thread may have been
    // panicking already when `c` came in (another coro unwinds, and its
    // `Drop` cancelled `c`), and then the thread's panic flag alone cannot
    // tell that `c` unwinds too (see `unwinding_now`).
    c.unwinding.set(true);
    payload
}

/// [`unwind`] in a build with `panic = "abort"`: says what would have
/// unwound, then aborts.
#[cold]
#[inline(never)]
fn abort_instead(
    c: &CoroInner,
    payload: Box<dyn Any + Send>,
    at: Option<&'static Location<'static>>,
) -> ! {
    let who = match c.desc() {
        Some(d) => format!("coro {} ({d})", c.id),
        None => format!("coro {}", c.id),
    };
    let what = if payload.is::<CancelUnwind>() {
        "was cancelled".to_string()
    } else if payload.is::<TerminateUnwind>() {
        "called corio::terminate()".to_string()
    } else if payload.is::<super::TimeoutUnwind>() {
        "ran out of time in corio::timeout()".to_string()
    } else {
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        match msg {
            Some(m) => format!("was thrown at (Coro::throw: {m:?})"),
            None => "was thrown at (Coro::throw)".to_string(),
        }
    };
    let place = match (at, c.where_.get()) {
        (Some(l), _) => format!(" at {l}"),
        (None, Some(l)) => format!(" in its blocking call at {l}"),
        (None, None) => String::new(),
    };
    eprintln!(
        "corio: {who} {what}{place}: this unwinds its stack, which needs \
         panic = \"unwind\"; the program is built with panic = \"abort\", aborting"
    );
    std::process::abort();
}

/// Reports a throw or cancel that unwinds a thread's main coro the way a
/// panic is reported — through the panic hook — since nothing else will:
/// unwinding out of the thread's main function (for the program's main
/// thread: exit code 101) says nothing of why, and a throw or cancel,
/// unlike a panic, does not call the hook by itself. `at` is where the
/// interrupting call was made, when it is the coro's own. A `terminate` or
/// a `timeout` is not reported: those are not failures.
#[cold]
#[inline(never)]
fn report_main_unwind(
    main: &CoroInner,
    payload: &(dyn Any + Send),
    at: Option<&'static Location<'static>>,
) {
    if payload.is::<TerminateUnwind>() || payload.is::<super::TimeoutUnwind>() {
        return;
    }
    if std::thread::panicking() {
        return; // already unwinding: a second panic would abort
    }
    let at = match (at, main.where_.get()) {
        (Some(l), _) => format!(" (at {}:{})", l.file(), l.line()),
        (None, Some(l)) => format!(" (waiting at {}:{})", l.file(), l.line()),
        (None, None) => String::new(),
    };
    let msg = if payload.is::<CancelUnwind>() {
        format!("the main coro was cancelled{at}")
    } else {
        let text = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a non-string payload");
        format!("the main coro was thrown out{at}: {text}")
    };
    let _ = panic::catch_unwind(|| panic!("{msg}"));
}
