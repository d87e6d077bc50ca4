//! Frames bound to their coro.
//!
//! Some corio calls keep pointers to "the current coro", to its coro-local
//! table or to this thread's scheduler in their own stack frame while they
//! run user code: [`CoroLocal::with`](crate::CoroLocal::with) hands out a
//! reference into the coro's locals, [`timeout`](crate::timeout) arms a
//! timer that names the coro, `scope` waits for coros that borrow from its
//! caller. Their SAFETY arguments assume the frame runs in one coro from
//! start to end.
//!
//! A frame on a coro's own stack cannot move. A frame on a
//! [`Generator`](crate::Generator)'s stack can: the generator may yield while
//! the frame is active, be handed to another coro (or outlive the coro and
//! the scheduler) and be resumed or dropped there. So these calls hold a
//! [`Bind`] for as long as they run user code, and a generator refuses to
//! yield while a bind taken inside it is active: `Yielder::yield_` panics
//! (the unwind runs the bound frames' cleanup in their own coro, as any
//! panic does).
//!
//! The count lives in the coro's control block: a generator remembers the
//! count of the coro that resumed it, and a yield finds a larger one only if
//! a bind was taken since, inside the generator.

use super::inner::CoroInner;
use super::try_sched;

/// Marks the current frame as bound to the running coro until dropped.
pub(crate) struct Bind<'a>(&'a CoroInner);

impl<'a> Bind<'a> {
    /// Binds the current frame to `c`, the running coro.
    #[inline]
    pub(crate) fn new(c: &'a CoroInner) -> Self {
        c.binds.set(c.binds.get() + 1);
        Bind(c)
    }
}

impl Drop for Bind<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.binds.set(self.0.binds.get() - 1);
    }
}

/// The bind count of the running coro (0 when the thread has no scheduler:
/// then no bind can be active).
#[inline]
pub(crate) fn binds() -> u32 {
    try_sched().map_or(0, |s| s.cur().binds.get())
}
