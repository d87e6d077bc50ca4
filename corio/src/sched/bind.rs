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
//! a bind was taken since, inside the generator. It remembers that coro too:
//! a scoped coro (or a `select!` branch) may borrow the generator's
//! `&Yielder` from its frame, and a yield from there — another coro, on
//! another stack — is refused as well.

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

/// Where a generator was resumed: the running coro and its bind count.
///
/// A `&Yielder` borrowed from a generator's frame can reach another coro of
/// the thread through a [`scope`](crate::scope) (or a `select!` branch),
/// and that coro must not yield the generator: the switch would run from
/// the wrong stack. So a yield checks the coro as well as the count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mark {
    /// The running coro's address; 0 for the main coro (also before the
    /// thread has a scheduler: its stack is the main coro's).
    coro: usize,
    binds: u32,
}

/// The [`Mark`] of the running coro.
#[inline]
pub(crate) fn here() -> Mark {
    match try_sched() {
        Some(s) => {
            let c = s.cur();
            let coro = if c.is_main() {
                0
            } else {
                c as *const CoroInner as usize
            };
            Mark {
                coro,
                binds: c.binds.get(),
            }
        }
        None => Mark { coro: 0, binds: 0 },
    }
}

/// Why a generator resumed at `base` may not yield here, if it may not.
#[inline]
pub(crate) fn yield_refused(base: Mark) -> Option<Refusal> {
    let now = here();
    if now.coro != base.coro {
        Some(Refusal::OtherCoro)
    } else if now.binds > base.binds {
        Some(Refusal::Bound)
    } else {
        None
    }
}

/// See [`yield_refused`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Refusal {
    /// Inside a frame bound to the coro running the generator.
    Bound,
    /// From another coro than the one running the generator.
    OtherCoro,
}
