//! Coro's synchronisation primitives: they block the current coro (never
//! the thread), wake waiters first come first served, and tolerate
//! spurious `ready()`s (every wait re-checks its condition).
//!
//! | Perl Coro | corio |
//! |---|---|
//! | `Coro::Semaphore` | [`Semaphore`] (and [`Mutex`], a lock around a value) |
//! | `Coro::Signal` | [`Signal`] (a condition variable; Unix signals are [`corio::signal`](crate::signal)) |
//! | `Coro::RWLock` | [`RwLock`] |
//! | `Coro::SemaphoreSet` | [`SemaphoreSet`] |
//! | `Coro::Channel` | [`Channel`] |
//! | `rouse_cb`, `rouse_wait` | [`rouse`](crate::rouse) |
//!
//! [`Pool`] is not from Perl's Coro: a pool of reusable items (database
//! connections) whose `get` parks the coro while all are out, built on a
//! [`Semaphore`].
//!
//! [`bounded`] and [`unbounded`] split a channel into a [`Sender`] and a
//! [`Receiver`] that close it when the other side is gone, as Go's and
//! Rust's channels do; a [`Channel`] itself closes only when
//! [`shutdown`](Channel::shutdown) is called.
//!
//! Unlike Perl's Coro, a waiter that is cancelled, thrown out of its wait
//! or times out leaves the wait list, and a wake-up it had already received
//! goes to the next waiter instead of being lost.
//!
//! These types belong to one thread, like the coros that use them (they
//! are neither `Send` nor `Sync`); share them between coros with `Rc`, a
//! reference, or a `static` in a `thread_local!`. Between threads, use
//! [`mpmc::Channel`]: `Send + Sync`, and its blocking calls park coros (not
//! threads) on both sides.
//!
//! # Cost
//!
//! A call that need not wait makes no switch and no allocation: a few flag
//! tests and a counter or buffer operation. A call that waits links a node
//! on its own stack into the wait list, so waiting allocates nothing
//! either. The blocking calls are inlined into their callers on purpose:
//! the switch then happens in the caller's frame, and no function return
//! crosses it (every such return is mispredicted by the CPU, which costs
//! more than the switch). See BENCHMARKS.md for measured costs.

mod channel;
mod halves;
pub mod mpmc;
mod mutex;
mod pool;
pub(crate) mod race;
mod rwlock;
mod semaphore;
mod semaphore_set;
mod signal;

pub use channel::{Channel, Closed, IntoIter, Iter, TryPutError};
pub use halves::{Receiver, ReceiverIntoIter, ReceiverIter, Sender, bounded, unbounded};
pub use mutex::{Mutex, MutexGuard};
pub use pool::{Pool, Pooled};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphoreGuard};
pub use semaphore_set::{SemaphoreSet, SemaphoreSetGuard};
pub use signal::Signal;

use std::time::{Duration, Instant};

use crate::sched::enter_blocking as enter;

/// The deadline `d` from now (`None` if it is beyond the clock's range:
/// then it never comes).
fn deadline(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}
