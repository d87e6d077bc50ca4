//! [`Stats`]: an app's counters.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of an app, readable from any thread (tests and monitoring).
///
/// # Examples
///
/// ```
/// let app = corio_web::App::new(|_s| {});
/// let stats = app.stats();
/// assert_eq!(stats.sessions(), 0);
/// assert_eq!(stats.started(), 0);
/// ```
#[derive(Default)]
pub struct Stats {
    pub(crate) sessions: AtomicU64,
    pub(crate) started: AtomicU64,
    pub(crate) finished: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) evicted: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) answers: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) stale: AtomicU64,
}

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        impl Stats {
            $(
                $(#[$doc])*
                ///
                /// # Examples
                ///
                /// ```
                /// let app = corio_web::App::new(|_s| {});
                #[doc = concat!("assert_eq!(app.stats().", stringify!($name), "(), 0);")]
                /// ```
                ///
                /// # Switching
                ///
                /// Never suspends.
                pub fn $name(&self) -> u64 {
                    self.$name.load(Ordering::Relaxed)
                }
            )*
        }
    };
}

counters!(
    /// Sessions alive now (their coro runs or waits for an answer).
    sessions,
    /// Sessions started so far.
    started,
    /// Sessions whose dialogue returned.
    finished,
    /// Sessions cancelled after their idle or absolute timeout, or at shutdown.
    expired,
    /// Sessions cancelled to make room for a new one (the table was full).
    evicted,
    /// Sessions whose dialogue panicked.
    failed,
    /// New sessions refused with 503 (the table was full of sessions that
    /// had all answered, or the client's address had its share of them).
    refused,
    /// Answers delivered to dialogues.
    answers,
    /// Double submits answered by replaying (303 to the current page).
    replayed,
    /// Stale requests refused (409).
    stale,
);

impl Stats {
    pub(crate) fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stats")
            .field("sessions", &self.sessions())
            .field("started", &self.started())
            .field("finished", &self.finished())
            .field("expired", &self.expired())
            .field("evicted", &self.evicted())
            .field("failed", &self.failed())
            .field("refused", &self.refused())
            .field("answers", &self.answers())
            .field("replayed", &self.replayed())
            .field("stale", &self.stale())
            .finish()
    }
}
