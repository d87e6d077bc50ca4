//! [`Race`]: the one-shot decision between the branches of a `select!`,
//! which primitives consult where they would complete a parked branch's
//! call without it running.
//!
//! # Why primitives need to know
//!
//! Most calls complete when their coro runs: a woken `get` takes its item,
//! a woken `down` its unit, when it is switched back in. `select!` makes
//! sure that, once one branch returned, the others are marked cancelled
//! before they can run again, so they take nothing. But a `put` that waits
//! on a full (or rendezvous) [`Channel`](super::Channel) completes when a
//! getter moves its item away, while the putter is still parked. If that
//! putter is a branch of a select that another branch already won, the
//! item must not move; and once it moves, that branch has won and the
//! others must lose. So the getter *claims* the putter's race first, and
//! skips the putter when the claim fails — Go's `selectDone`.
//!
//! # How a branch is recognised
//!
//! A branch's coro records `(coro, race, index)` in a thread-local before
//! it calls the branch's expression; a putter that parks reads it if the
//! coro matches (its first blocking call, made before any switch). A branch
//! whose expression is several calls in a row gets this protection for its
//! first one only (see `select!`'s docs).

use std::cell::{Cell, OnceCell};
use std::ptr;

use crate::sched::inner::{CANCELLED, CoroInner, CoroRef};
use crate::sched::sched;

/// No branch has won yet.
const OPEN: usize = usize::MAX;

/// The decision between the branches of one `select!`, and the coros that
/// run them.
pub(crate) struct Race<'a> {
    winner: Cell<usize>,
    coros: &'a [OnceCell<CoroRef>],
}

impl<'a> Race<'a> {
    pub(crate) fn new(coros: &'a [OnceCell<CoroRef>]) -> Self {
        Race {
            winner: Cell::new(OPEN),
            coros,
        }
    }

    /// The winner, if one was chosen: a branch index, or an index past the
    /// branches for a winner that is not a branch (the `default` arm, the
    /// caller giving up).
    pub(crate) fn winner(&self) -> Option<usize> {
        let w = self.winner.get();
        (w != OPEN).then_some(w)
    }

    /// Makes `k` the winner unless another one was chosen already; returns
    /// whether `k` is the winner. Choosing marks every other branch's coro
    /// cancelled and readies it, so that it unwinds the next time it runs,
    /// before its call can complete — the running coro never switches here.
    pub(crate) fn claim(&self, k: usize) -> bool {
        let w = self.winner.get();
        if w != OPEN {
            return w == k;
        }
        self.winner.set(k);
        let s = sched();
        for (j, c) in self.coros.iter().enumerate() {
            if j == k {
                continue;
            }
            if let Some(c) = c.get()
                && !c.is_over()
                && !s.is_running(c)
            {
                c.set(CANCELLED);
                s.ready(c);
            }
        }
        true
    }
}

/// A branch of a race: what a parked call keeps to claim its race.
#[derive(Clone, Copy)]
pub(crate) struct Claim {
    race: *const Race<'static>,
    k: usize,
}

impl Claim {
    /// Claims the race for this branch (see [`Race::claim`]).
    ///
    /// # Safety
    /// The branch's coro must still be parked in the call that made this
    /// claim: then its `select!` waits for it, and the race is alive.
    pub(crate) unsafe fn claim(self) -> bool {
        // SAFETY: guaranteed by the caller.
        unsafe { (*self.race).claim(self.k) }
    }

    /// Whether both are branches of the same race.
    pub(crate) fn same_race(self, other: Option<Claim>) -> bool {
        other.is_some_and(|o| ptr::eq(o.race, self.race))
    }
}

thread_local! {
    /// The branch whose coro last started its call on this thread.
    static BRANCH: Cell<(*const CoroInner, Option<Claim>)> =
        const { Cell::new((ptr::null(), None)) };
}

/// Records that `me` runs branch `k` of `race` from now on.
pub(crate) fn enter_branch(me: &CoroInner, race: &Race<'_>, k: usize) {
    let race = (race as *const Race<'_>).cast::<Race<'static>>();
    BRANCH.set((me, Some(Claim { race, k })));
}

/// Forgets the record of [`enter_branch`] if it is still `me`'s.
pub(crate) fn leave_branch(me: &CoroInner) {
    if ptr::eq(BRANCH.get().0, me) {
        BRANCH.set((ptr::null(), None));
    }
}

/// The branch the running coro `me` runs, if it runs one, has not
/// switched since it started the branch's call, and was not cancelled (a
/// branch that lost cannot win: a `put` in its cleanup claims nothing).
#[inline]
pub(crate) fn branch_of(me: &CoroInner) -> Option<Claim> {
    let (c, claim) = BRANCH.get();
    if ptr::eq(c, me) && !me.has(CANCELLED) {
        claim
    } else {
        None
    }
}
