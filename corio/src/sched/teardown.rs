//! Thread exit, and shutting coros down on purpose: what happens to the
//! coros still alive when their thread ends (see the crate docs'
//! *Soundness* section, rule 6), and abandoning a coro that must never run
//! again.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe, Location};
use std::ptr;

use super::end::{drop_reporting, report_panic, run_on_destroy};
use super::inner::{CoroInner, Outcome, SUSPENDED, State, What};
use super::{CancelUnwind, DEAD, SCHED, Scheduler, wait};
use crate::JoinError;

/// Zero-sized thread-local whose destructor tears the scheduler down.
pub(super) struct Teardown;

impl Drop for Teardown {
    fn drop(&mut self) {
        let p = SCHED.with(Cell::get);
        if p as usize <= DEAD {
            return;
        }
        // SAFETY: see `sched`.
        let s = unsafe { &*p };
        let clean = s.teardown();
        if let Some(r) = s.reactor.get() {
            r.close();
        }
        SCHED.with(|c| c.set(DEAD as *const Scheduler));
        if clean {
            // Off the list of schedulers that other threads write to before
            // it is freed (a leaked one may stay).
            #[cfg(feature = "tracing")]
            super::spans::scheduler_gone(&s.extras);
            // SAFETY: the pointer came from `Box::leak` in `init_slow`, the
            // slot now holds DEAD so nobody can reach it any more, and no
            // coro that could still refer to it will ever run again.
            drop(unsafe { Box::from_raw(p as *mut Scheduler) });
        }
    }
}

impl Scheduler {
    /// Cancels every live coro except main, in the running coro (main),
    /// their `Drop`s running in their own contexts: the explicit shutdown
    /// of `corio::thread::spawn` and the like, called where every
    /// thread-local of the thread is still alive. A coro whose cleanup
    /// blocks forever is abandoned (never resumed).
    pub(crate) fn shutdown_coros(&self) {
        let loc = Location::caller();
        let was = self.tearing_down.replace(true);
        for _ in 0..16 {
            let victims = self.live_coros();
            if victims.is_empty() {
                break;
            }
            for v in victims {
                if ptr::eq(v.as_ptr(), self.cur()) {
                    continue;
                }
                self.stalled.set(false);
                let r = panic::catch_unwind(AssertUnwindSafe(|| self.cancel(&v, loc)));
                if let Err(p) = r
                    && !p.is::<CancelUnwind>()
                {
                    report_panic(&v, "cancelling it", &*p);
                }
                if v.state() == State::Live && !self.is_running(&v) {
                    eprintln!(
                        "corio: coro {} could not be cancelled (its cleanup blocks forever); \
                         it is abandoned, never resumed",
                        v.id
                    );
                    self.abandon(&v);
                }
            }
        }
        self.stalled.set(false);
        self.tearing_down.set(was);
    }

    /// Makes `v` (parked, not main, not running) never runnable again: it
    /// leaves the ready queue and the list of live coros, and `ready` ignores
    /// it from now on. Its stack and control block are leaked on purpose:
    /// wait lists, timers and other coros may still point into them, and
    /// its frames are never unwound (they might read values that are gone).
    pub(crate) fn abandon(&self, v: &CoroInner) {
        debug_assert!(!v.is_main() && !self.is_running(v));
        if v.state() != State::Live {
            return;
        }
        self.dequeue(v);
        if ptr::eq(self.hint.get(), v) {
            self.hint.set(ptr::null());
        }
        v.clear(SUSPENDED);
        v.pending.set(false);
        if matches!(v.what.get(), What::Fd(..)) {
            // Its `IoWaiting` count is never dropped: take it back here, so
            // that the deadlock check does not wait for it.
            self.io_waiters.set(self.io_waiters.get().saturating_sub(1));
        }
        v.set_state(State::Abandoned);
        // The strong count the list owned is never released (see above).
        self.unlink_all(v);
        // Whoever waits for it learns it was cancelled.
        if v.has_handle.get() {
            v.outcome.set(Some(Outcome::Failed(JoinError::Cancelled)));
        }
        while let Some(j) = v.joiners.pop_back() {
            if let wait::Waiter::Coro(j) = j {
                self.ready(j);
            }
        }
        if let Some(w) = v.extra_if(|e| e.waker.take()).flatten()
            && let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| w.wake()))
        {
            report_panic(v, "the waker of its JoinHandle", &*p);
        }
    }

    /// What the thread-local destructor does when the thread exits: the
    /// main coro's frames are gone, but thread-local values of user code
    /// may already have been destroyed (destructors run in reverse order of
    /// registration, and a `thread_local!` first touched after the
    /// scheduler was made goes before it). A parked coro may hold a
    /// reference into such a value in a frame, so resuming it — even to
    /// unwind — could read freed memory: every coro that ever ran is
    /// abandoned, never resumed. Coros that never ran hold only `'static`
    /// closures, which are dropped. Then the main coro's coro-locals,
    /// hooks and `on_destroy` callbacks go, round after round while user
    /// code leaves more. Returns `false` when the scheduler must be leaked
    /// (a coro other than main was running: the thread left from inside
    /// it).
    fn teardown(&self) -> bool {
        if !ptr::eq(self.cur(), &*self.main) {
            eprintln!(
                "corio: a thread exited while a coro other than main was running; leaking its coros"
            );
            return false;
        }
        let main = &*self.main;
        for _ in 0..16 {
            let victims = self.live_coros();
            let main_extra = main.has_extra();
            if victims.is_empty() && !main_extra {
                break;
            }
            for v in victims {
                match v.state() {
                    State::New => {
                        let r = panic::catch_unwind(AssertUnwindSafe(|| self.cancel_unstarted(&v)));
                        if let Err(p) = r {
                            report_panic(&v, "dropping its closure at thread exit", &*p);
                        }
                    }
                    _ if !self.is_running(&v) => self.abandon(&v),
                    _ => {}
                }
            }
            if main_extra {
                let (locals, hooks, leftovers, on_destroy) = main.extra_mut(|e| {
                    (
                        std::mem::take(&mut e.locals),
                        std::mem::take(&mut e.hooks),
                        (e.throw.take(), e.terminate.take(), e.waker.take()),
                        std::mem::take(&mut e.on_destroy),
                    )
                });
                if locals.is_empty()
                    && hooks.is_empty()
                    && on_destroy.is_empty()
                    && leftovers.0.is_none()
                    && leftovers.1.is_none()
                    && leftovers.2.is_none()
                    && self.live.get() == 0
                {
                    break;
                }
                drop_reporting(main, "a coro-local value", locals);
                drop_reporting(main, "a hook", hooks);
                drop_reporting(main, "a thrown payload", leftovers);
                run_on_destroy(main, on_destroy);
            }
        }
        // Whatever the last round left running is abandoned too.
        for v in self.live_coros() {
            if v.state() != State::New && !self.is_running(&v) {
                self.abandon(&v);
            }
        }
        #[cfg(feature = "tracing")]
        super::spans::main_ended(main);
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
