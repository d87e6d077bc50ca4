//! Switching: giving up the CPU (park, cede, switch_to), the scheduler
//! loop that picks the next coro, idling on timers and the reactor, and
//! raising interrupts in a coro that is switched back in. See the module
//! docs of `sched` for how a switch works.

use std::any::Any;
use std::io;
use std::panic::{self, Location};
use std::ptr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[cfg(feature = "tracing")]
use super::X_SPANS;
use super::inner::{
    ATTN, CANCELLED, CoroInner, HOOKS, MAIN, QUEUED, SUSPENDED, State, THROWN, TIMEDOUT, What,
};
use super::{
    CancelUnwind, Ctx, POLL_EVERY, SPIN_BEFORE_SLEEP, Scheduler, X_TIMES, X_WATCH, note_switch_out,
    prepare_unwind, reactor, release_owned, timer, unwinding_now, watch,
};

/// Clears a flag when dropped.
/// Marks the loop's own work (see [`Scheduler::in_loop`]) until dropped,
/// also when it unwinds (the deadlock report): then restores the mark it
/// found.
struct Looping<'a>(&'a std::cell::Cell<bool>, bool);

impl<'a> Looping<'a> {
    fn enter(flag: &'a std::cell::Cell<bool>) -> Self {
        Looping(flag, flag.replace(true))
    }
}

impl Drop for Looping<'_> {
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}

impl Scheduler {
    /// Gives up the CPU without re-queuing `c` (the running coro); returns
    /// when `c` is switched back in. Does not look at interrupts.
    #[inline(always)]
    pub(super) fn switch_away(&self, c: &CoroInner) {
        if c.has(HOOKS) {
            super::hooks::run_leave(c);
        }
        self.raw_switch_away(c);
        if c.has(ATTN) {
            self.serve(c);
        }
        if c.has(HOOKS) {
            super::hooks::run_enter(c);
        }
    }

    /// Gives up the CPU, no hooks, no requests: the bare switch.
    #[inline(always)]
    fn raw_switch_away(&self, c: &CoroInner) {
        if c.is_main() {
            self.run_loop(c, false);
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
    ///
    /// Inlined into the main coro's blocking paths: one call level less
    /// (its register saves and restores) is 4–9 % of a switch between the
    /// main coro and another, in every code layout tried (BENCHMARKS.md,
    /// "Switch and code layout").
    ///
    /// `main` is the main coro. `std::thread::panicking()` is read once per
    /// coro resumed and serves both its switch-in and the switch-out that
    /// follows: it changes only across a switch (a coro that suspends
    /// mid-unwind leaves the thread's count raised) or while an unwind is
    /// in progress, and the loop's own work between the two either
    /// returns normally, leaving the count as it found it, or unwinds out
    /// of the loop. Likewise the [`extras`](Scheduler::extras) word read
    /// at a switch-out serves the switch-in that follows when nothing but
    /// [`requeue_pick`](Self::requeue_pick) ran in between: its bits for
    /// the times and the monitor change only when this thread asks, and
    /// the `tracing` bit, which other threads turn on but never off, only
    /// matters for a coro that saved spans at its own switch-out, when the
    /// bit was already on (so on before this read too).
    ///
    /// With `requeue`, the main coro cedes: it is queued behind the coros
    /// ready at its level, and when those are the highest ready, queuing it
    /// and picking the next coro are one step ([`requeue_pick`](Self::requeue_pick)).
    #[inline(always)]
    fn run_loop(&self, main: &CoroInner, requeue: bool) {
        // Queued before anything looks at it (its spans, below).
        let mut picked = None;
        if requeue {
            picked = self.requeue_pick(main);
            if picked.is_none() {
                main.set(QUEUED);
                self.ready.push_back(main);
            }
        }
        let mut panicking = std::thread::panicking();
        // `switched_out(main)`, but the main coro's spans are taken off as
        // the main coro's (it may get its task span here).
        note_switch_out(main, panicking);
        let mut x = self.extras();
        if x != 0 {
            self.switched_out_extras(main, x, true);
        }
        loop {
            let next = match picked {
                Some(n) => n,
                None => {
                    let n = self.pick();
                    x = self.extras();
                    n
                }
            };
            self.switching_in_p(next, panicking, x);
            if ptr::eq(next, main) {
                return;
            }
            let c = next;
            // SAFETY: we are the loop, on the main stack; `c` is a live,
            // non-main coro that is not running.
            let finished = unsafe { c.resume() };
            // `c` ceded (see `cede`): queued before anything looks at it.
            picked = None;
            if c.ceded.get() {
                c.ceded.set(false);
                picked = self.requeue_pick(c);
                if picked.is_none() {
                    c.set(QUEUED);
                    self.ready.push_back(c);
                }
            }
            panicking = std::thread::panicking();
            x = self.extras();
            self.switched_out_p(c, panicking, x);
            if finished {
                // SAFETY: `c` just finished, once.
                unsafe { self.reap(c) };
            }
        }
    }

    /// The loop's choice of the next coro to run: the hint, else the head
    /// of the ready queue, else whatever [`idle`](Self::idle) waits for;
    /// with the periodic look at timers and the reactor first.
    #[inline(always)]
    fn pick(&self) -> &CoroInner {
        let tick = self.tick.get();
        if tick == 0 {
            self.tick.set(POLL_EVERY);
            self.look_around();
        } else {
            self.tick.set(tick - 1);
        }
        let next = self.hint.get();
        if next.is_null() {
            return match self.ready.pop() {
                Some(c) => {
                    c.clear(QUEUED);
                    c
                }
                // SAFETY: `idle` returns a live coro.
                None => unsafe { &*self.idle() },
            };
        }
        self.hint.set(ptr::null());
        // SAFETY: hints are live coros (set by `cancel`, `schedule_to`,
        // `complete`, `backtrace`, which hold them alive).
        let h = unsafe { &*next };
        // A coro switched to only to serve a request keeps its place in
        // the ready queue.
        if !h.has(ATTN) {
            self.dequeue(h);
        }
        h
    }

    /// Queues `c` (which just gave up the CPU by ceding, not queued) and
    /// picks the next coro, in one step, when that is what queuing it and
    /// [`pick`](Self::pick) would do without looking further: no look at
    /// timers and the reactor is due, there is no hint, and `c`'s level is
    /// the highest with a ready coro. Otherwise changes nothing and
    /// returns `None`.
    #[inline(always)]
    fn requeue_pick(&self, c: &CoroInner) -> Option<&CoroInner> {
        let tick = self.tick.get();
        if tick == 0 || !self.hint.get().is_null() {
            return None;
        }
        let next = self.ready.rotate(c)?;
        self.tick.set(tick - 1);
        c.set(QUEUED);
        next.clear(QUEUED);
        Some(next)
    }

    /// The bookkeeping for `c`, which just stopped running (it parked,
    /// ceded or ended): whether it unwinds, its time, the monitor.
    #[inline(always)]
    fn switched_out(&self, c: &CoroInner) {
        self.switched_out_p(c, std::thread::panicking(), self.extras());
    }

    /// [`switched_out`](Self::switched_out), given
    /// `std::thread::panicking()` and the [`extras`](Scheduler::extras)
    /// word.
    #[inline(always)]
    fn switched_out_p(&self, c: &CoroInner, panicking: bool, x: u8) {
        note_switch_out(c, panicking);
        if x != 0 {
            self.switched_out_extras(c, x, false);
        }
    }

    /// What [`switched_out`](Self::switched_out) does for the bits of
    /// `x` (`main`: `c` is the main coro).
    #[cold]
    #[inline(never)]
    fn switched_out_extras(&self, c: &CoroInner, x: u8, main: bool) {
        #[cfg(feature = "tracing")]
        if x & X_SPANS != 0 {
            if main {
                super::spans::switch_out_main(c);
            } else {
                super::spans::switch_out(c);
            }
        }
        #[cfg(not(feature = "tracing"))]
        let _ = main;
        if x & X_TIMES != 0 {
            self.charge(c);
        }
        if x & X_WATCH != 0 {
            self.watch_returned(c);
        }
    }

    /// Makes `c` the current coro, which is about to run: its switch count,
    /// the monitor, and whether the thread panics as it comes in.
    #[inline(always)]
    fn switching_in(&self, c: &CoroInner) {
        self.switching_in_p(c, std::thread::panicking(), self.extras());
    }

    /// [`switching_in`](Self::switching_in), given
    /// `std::thread::panicking()` and the [`extras`](Scheduler::extras)
    /// word.
    #[inline(always)]
    fn switching_in_p(&self, c: &CoroInner, panicking: bool, x: u8) {
        self.current.set(c);
        c.switches.set(c.switches.get() + 1);
        c.panic_in.set(panicking);
        if x != 0 {
            self.switching_in_extras(c, x);
        }
    }

    /// What [`switching_in`](Self::switching_in) does for the bits of `x`.
    #[cold]
    #[inline(never)]
    fn switching_in_extras(&self, c: &CoroInner, x: u8) {
        if x & X_WATCH != 0 {
            self.watch_resumed(c);
        }
        #[cfg(feature = "tracing")]
        if x & X_SPANS != 0 {
            super::spans::switch_in(c);
        }
    }

    /// The [`extras`](Scheduler::extras) word.
    #[inline(always)]
    pub(super) fn extras(&self) -> u8 {
        self.extras.load(Ordering::Relaxed)
    }

    /// Turns `bit` of the [`extras`](Scheduler::extras) word on or off;
    /// returns whether it was on.
    fn set_extra(&self, bit: u8, on: bool) -> bool {
        let old = if on {
            self.extras.fetch_or(bit, Ordering::Relaxed)
        } else {
            self.extras.fetch_and(!bit, Ordering::Relaxed)
        };
        old & bit != 0
    }

    /// Nothing is ready: fire due timers, run what other threads queued,
    /// and sleep until one of them can ready a coro. Returns the coro to
    /// run. When nothing could ever ready one, panics with the deadlock
    /// report (or, during teardown, gives up and returns the main coro).
    #[cold]
    fn idle(&self) -> *const CoroInner {
        let main = self.main.as_ptr();
        let looping = Looping::enter(&self.looping);
        loop {
            if let Some(flush) = self.flush.take() {
                flush(self);
            }
            self.fire_timers();
            if let Some(r) = self.reactor.get() {
                r.drain(self);
            }
            if let Some(next) = self.ready.pop() {
                next.clear(QUEUED);
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
            let now = Instant::now();
            let mut timeout = deadline.map(|d| d.saturating_duration_since(now));
            // Free stacks left unused give their memory back after a while
            // even when no coro ends any more to trigger it: wake for that.
            if let Some(decay) = crate::stack::idle_decay(now) {
                timeout = Some(timeout.map_or(decay, |t| t.min(decay)));
            }
            self.trim_free();
            if self.spin_waiters.get() > 0
                && let Some(r) = self.reactor.get()
                && r.spin_for_wake(timeout.map_or(SPIN_BEFORE_SLEEP, |t| t.min(SPIN_BEFORE_SLEEP)))
            {
                continue;
            }
            if timeout.is_some() && !self.slack_set.replace(true) {
                crate::sys::tighten_timer_slack();
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
            super::ps::listing(self, super::ps::PsMode::Normal, None)
        );
        self.current.set(main);
        #[cfg(feature = "tracing")]
        super::spans::switch_in(&self.main);
        drop(looping);
        // The main coro's blocking call unwinds from here: what it waited
        // on may be gone by the time anybody looks again (`ps` reads it).
        self.main.what.set(What::Nothing);
        if self.main.has(HOOKS) {
            super::hooks::run_enter(&self.main);
        }
        panic!("{report}");
    }

    /// The periodic look at timers and the reactor, without blocking (so
    /// that coros that only cede never starve them).
    ///
    /// Descriptors go first: their coros queue ahead of the timers' that
    /// fall due in this look. A coro readied by a descriptor has had its
    /// peer waiting since the event, and what it does next is usually
    /// short (read a request, start its next wait), so running those first
    /// delays the timers' coros by little and the peers by less (with
    /// timers first, an axum handler sleeping 10 ms under 256 connections
    /// answered 0.08 ms later at the median).
    #[cold]
    #[inline(never)]
    fn look_around(&self) {
        let _looping = Looping::enter(&self.looping);
        if let Some(flush) = self.flush.take() {
            flush(self);
        }
        if let Some(r) = self.reactor.get() {
            r.poll(self, Some(Duration::ZERO));
            r.drain(self);
        }
        if self.timers.live() > 0 {
            self.fire_timers();
        }
    }

    /// Fires every due timer.
    pub(crate) fn fire_timers(&self) {
        if self.timers.live() == 0 {
            return;
        }
        self.timers.expire(Instant::now(), |action| match action {
            timer::Action::Ready(c) => {
                // SAFETY: an armed timer's coro is alive (see the
                // invariants in `timer.rs`): the timer guard lives in a
                // frame of that coro — one no generator can carry away,
                // since `sleep`'s runs no user code and `timeout`'s holds a
                // bind — and disarms on drop; an abandoned coro's control
                // block is never freed.
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
        let r = reactor::Reactor::new(self.main.id.as_u64())?;
        Ok(self.reactor.get_or_init(|| r))
    }

    /// Frees what a finished coro still holds: its stack, and the strong
    /// count its all-list link owned. No user code runs here.
    ///
    /// # Safety
    /// `p` is a coro whose `resume` just returned finished: `complete`
    /// unlinked it from the all-list and left its strong count to the
    /// caller, and nothing has reaped it yet.
    #[inline(always)]
    unsafe fn reap(&self, p: *const CoroInner) {
        // SAFETY: `p` is alive: its all-list count was handed to us by
        // `complete` and is released below.
        let c = unsafe { &*p };
        if let Ctx::Ready(ctx) = c.take_context() {
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
        if on && !self.times_enabled() {
            self.stamp
                .set((Instant::now(), crate::sys::thread_cpu_time()));
        }
        self.set_extra(X_TIMES, on)
    }

    pub(crate) fn times_enabled(&self) -> bool {
        self.extras() & X_TIMES != 0
    }

    /// Turns the blocked-scheduler monitor on (with a threshold) or off.
    /// Its warnings go to the `log` facade, or to stderr when no logger
    /// is installed.
    pub(crate) fn set_monitor(&self, threshold: Option<Duration>) -> io::Result<()> {
        if let Some(old) = self.watch.borrow_mut().take() {
            old.stop();
        }
        self.set_extra(X_WATCH, false);
        if let Some(t) = threshold {
            let w = watch::Watch::start(t)?;
            *self.watch.borrow_mut() = Some(w);
            self.set_extra(X_WATCH, true);
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
        if c.has(HOOKS | CANCELLED | THROWN | TIMEDOUT | ATTN)
            && let Some(payload) = self.after_switch_in(c)
        {
            panic::resume_unwind(payload)
        }
    }

    /// Whether the scheduler loop's own work is running (not a coro's):
    /// code called from there must not park. The loop makes system calls
    /// (`epoll_wait`, `io_uring_enter`, a sleep until the next timer) only
    /// in `idle` and `look_around`, which set the mark; the switches in
    /// between pay nothing for it.
    #[inline]
    pub(crate) fn in_loop(&self) -> bool {
        self.looping.get()
    }

    /// Whether the next blocking call of `c` (the running coro) would
    /// unwind: the test [`raise`](Self::raise) makes, without raising.
    pub(crate) fn would_raise(&self, c: &CoroInner) -> bool {
        c.interrupted() && !c.cancelling.get() && !unwinding_now(c)
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
        // Whoever resumed `c` (the loop, or `run_now`) queues it as soon
        // as it is switched out: the loop then queues it and picks the
        // next coro in one step.
        c.ceded.set(true);
        c.note_sp(crate::sys::stack_pointer());
        let y = c.yielder.get();
        // SAFETY: `c` is a running non-main coro (MAIN is clear), so its
        // yielder was set at its first switch-in and is valid until its
        // coroutine returns; we are running on that coroutine.
        unsafe { (*y).suspend(()) };
        if c.has(HOOKS | CANCELLED | THROWN | TIMEDOUT | ATTN) {
            // A tail call, as before `park_on` raised in its own frame:
            // `cede` is the switch benchmarks' path, and they are sensitive
            // to its shape (an unwind from here walks one frame more).
            self.after_switch_in_raise(c);
        }
    }

    /// A `cede` that found nobody to give the CPU to. It still counts
    /// toward the periodic look at timers and the reactor, so that a coro
    /// spinning on `cede` while the others wait for a timer or a socket
    /// lets them wake.
    #[cold]
    #[inline(never)]
    fn cede_alone(&self, c: &CoroInner, loc: &'static Location<'static>) {
        if self.extras() & X_WATCH != 0 {
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
            self.requeue_away(c, loc);
        }
    }

    /// `cede` for everything the inlined path does not handle.
    #[cold]
    #[inline(never)]
    fn cede_slow(&self, c: &CoroInner, loc: &'static Location<'static>) {
        if c.flags() == MAIN {
            return self.cede_main(c, loc);
        }
        if c.interrupted() {
            self.raise(c);
        }
        if !self.ready.has_at_least(c.level()) {
            return self.cede_alone(c, loc);
        }
        self.requeue_away(c, loc);
    }

    /// `cede` for the main coro when it has no other flag (no hooks, no
    /// interrupt, not queued or suspended, no request to serve): the
    /// benchmarks' and many programs' main loop. The same steps as the
    /// general path, with the flags tested once before the switch and once
    /// after it.
    #[inline(always)]
    fn cede_main(&self, c: &CoroInner, loc: &'static Location<'static>) {
        if !self.ready.has_at_least(c.level()) {
            return self.cede_alone(c, loc);
        }
        c.where_.set(Some(loc));
        // `ready(c)`: `c` is running, so neither done nor abandoned, and
        // its flags say it is neither queued nor suspended.
        #[cfg(feature = "tracing")]
        if c.spans.any() {
            super::spans::readied(c);
        }
        self.run_loop(c, true);
        if c.has(HOOKS | CANCELLED | THROWN | TIMEDOUT | ATTN) {
            self.after_switch_in_raise(c);
        }
    }

    /// Readies `c` (the running coro, at `loc`) and gives up the CPU;
    /// raises a pending interrupt when it is back.
    #[inline(always)]
    fn requeue_away(&self, c: &CoroInner, loc: &'static Location<'static>) {
        c.where_.set(Some(loc));
        self.ready(c);
        self.switch_away(c);
        if c.interrupted() {
            self.raise(c);
        }
    }

    /// What a coro switched back in must do besides returning: enter hooks,
    /// pending interrupts. Returns the interrupt to unwind with, which the
    /// caller raises in its own frame (see [`raise`](Self::raise)).
    #[cold]
    #[inline(never)]
    fn after_switch_in(&self, c: &CoroInner) -> Option<Box<dyn Any + Send>> {
        if c.has(ATTN) {
            self.serve(c);
        }
        if c.has(HOOKS) {
            super::hooks::run_enter(c);
        }
        if c.interrupted() {
            return self.pending_unwind(c);
        }
        None
    }

    /// [`after_switch_in`](Self::after_switch_in), raising in its own
    /// frame.
    #[cold]
    #[inline(never)]
    fn after_switch_in_raise(&self, c: &CoroInner) {
        if let Some(payload) = self.after_switch_in(c) {
            panic::resume_unwind(payload)
        }
    }

    /// `corio::cede_notself`.
    pub(crate) fn cede_notself(&self, loc: &'static Location<'static>) {
        let c = self.cur();
        if c.interrupted() {
            self.raise(c);
        }
        let Some(next) = self.ready.pop() else {
            return;
        };
        next.clear(QUEUED);
        self.hint.set(next);
        self.requeue_away(c, loc);
    }

    /// Parks the running coro and runs `target` next, whatever the queue
    /// says; with `requeue`, the running coro is queued first (`cede_to`).
    pub(crate) fn switch_to(&self, target: &CoroInner, requeue: bool, loc: &'static Location) {
        let c = self.cur();
        if c.interrupted() {
            self.raise(c);
        }
        if ptr::eq(c, target) || target.is_over() {
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

    /// Runs `c` — a coro that never ran, or one parked in a blocking call,
    /// and not queued — at once and on top of the running coro, until it
    /// next gives up the CPU (parks, cedes, ends); then the running coro
    /// goes on, with no trip through the loop or the ready queue. Returns
    /// whether `c` ended. `select!` runs its branches this way: a branch
    /// that returns at once costs one switch in and one out, and the
    /// branches are tried in order with nothing else running in between.
    ///
    /// `c` is an ordinary coro afterwards: when it parked, whoever wakes
    /// it queues it, and the loop resumes it as usual. A parked `c` resumes
    /// in its blocking call, which re-checks its condition as after any
    /// wake-up. For the running coro this counts as a blocking call: its
    /// hooks run, and an interrupt that `c` aimed at it (a cancel, a throw)
    /// is raised on return.
    pub(crate) fn run_now(&self, c: &CoroInner) -> bool {
        let me = self.cur();
        debug_assert!(!c.is_done() && !c.has(QUEUED) && !c.is_main() && !ptr::eq(me, c));
        if me.has(HOOKS) {
            super::hooks::run_leave(me);
        }
        self.switched_out(me);
        self.switching_in(c);
        // SAFETY: `c` is a live coro that is not running and not queued (so
        // the loop cannot resume it while we do, and nobody else holds its
        // context); we switch to it from the running coro's stack, and
        // corosensei returns here when it suspends or ends.
        let finished = unsafe { c.resume() };
        if c.ceded.get() {
            // `c` ceded (see `cede`): it is queued as it is switched out.
            c.ceded.set(false);
            c.set(QUEUED);
            self.ready.push_back(c);
        }
        self.switched_out(c);
        self.switching_in(me);
        // `c` may have asked for us to run next (a cancel or throw aimed at
        // us, `schedule_to`): we do.
        if ptr::eq(self.hint.get(), me) {
            self.hint.set(ptr::null());
            if !me.has(ATTN) {
                self.dequeue(me);
            }
        }
        if finished {
            // SAFETY: `c` just finished, once.
            unsafe { self.reap(c) };
        }
        if me.has(ATTN) {
            // `c` asked us for a backtrace: serving it hands the CPU to `c`,
            // and we are not waiting for anything, so queue us to come back.
            self.ready(me);
            self.serve(me);
        }
        if me.has(HOOKS) {
            super::hooks::run_enter(me);
        }
        if me.interrupted() {
            self.raise(me);
        }
        finished
    }

    /// Raises the pending interrupt of `c` (the running coro) by unwinding.
    ///
    /// The unwind starts in the caller's own frame: the unwinder walks every
    /// frame between here and the coro's root twice (search, then cleanup),
    /// and that walk is most of what a cancel costs, so the decision is made
    /// out of line and only the `resume_unwind` call is inlined.
    #[inline(always)]
    pub(crate) fn raise(&self, c: &CoroInner) {
        if let Some(payload) = self.pending_unwind(c) {
            panic::resume_unwind(payload)
        }
    }

    /// What [`raise`](Self::raise) unwinds with, if anything: the pending
    /// interrupt of `c` (the running coro), taken, with `c` marked as
    /// unwinding (see [`prepare_unwind`]).
    #[cold]
    #[inline(never)]
    pub(crate) fn pending_unwind(&self, c: &CoroInner) -> Option<Box<dyn Any + Send>> {
        if c.cancelling.get() {
            // It finishes the cancel it is in first (Coro's t/20).
            return None;
        }
        if unwinding_now(c) {
            // Blocking from a `Drop` while this coro unwinds: raising now
            // would be a panic in a destructor during cleanup, which aborts
            // the process. The interrupt stays pending: a cancel is already
            // being carried out, a throw or timeout fires at the first
            // blocking call after the unwind (if something catches it).
            return None;
        }
        if c.has(CANCELLED) {
            return Some(prepare_unwind(c, Box::new(CancelUnwind), None));
        }
        if c.has(THROWN) {
            c.clear(THROWN);
            if let Some(payload) = c.extra_mut(|e| e.throw.take()) {
                return Some(prepare_unwind(c, payload, None));
            }
        }
        if c.has(TIMEDOUT) {
            c.clear(TIMEDOUT);
            if let Some(id) = c.extra_mut(|e| e.timed_out.take()) {
                let payload = Box::new(super::TimeoutUnwind(id));
                return Some(prepare_unwind(c, payload, None));
            }
        }
        None
    }
}
