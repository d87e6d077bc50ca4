//! Work on other cores (Perl's Coro::Multicore): [`run`] sends a closure to
//! a worker thread, parks only the calling coro, and gives back the
//! closure's value while the other coros of the thread keep running.
//!
//! Use it for CPU-heavy work and for calls that block the thread with no
//! descriptor to wait on (a C library, `getaddrinfo`, a mutex held by
//! another thread). corio uses it itself for name lookups.
//!
//! The pool is shared by the whole process. It grows on demand up to its
//! bound ([`max_threads`], by default the number of CPUs, at least 4; see
//! [`set_max_threads`]); jobs beyond the bound wait in a FIFO queue; a
//! worker that found nothing to do for 10 seconds exits.
//!
//! ```
//! // Sum a big range on a worker while this thread's coros go on.
//! let ticker = corio::spawn(|| {
//!     for _ in 0..3 {
//!         corio::sleep(std::time::Duration::from_millis(1));
//!     }
//! });
//! let sum = corio::multicore::run(|| (1..=1_000_000u64).sum::<u64>());
//! assert_eq!(sum, 500_000_500_000);
//! ticker.join().unwrap();
//! ```

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// A worker that waited this long for a job exits.
const IDLE_EXIT: Duration = Duration::from_secs(10);

/// How long a worker that ran out of jobs spins for the next one before it
/// sleeps: callers often submit again at once, and waking a sleeping
/// thread costs tens of microseconds.
const SPIN: Duration = Duration::from_micros(50);

/// Most workers of one pool spinning at once.
const MAX_SPINNERS: usize = 1;

pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// A pool of worker threads: [`run`]'s, and corio::fs's blocking pool.
pub(crate) struct Pool {
    /// The name its threads get.
    name: &'static str,
    state: Mutex<State>,
    work: Condvar,
    max: AtomicUsize,
    /// Jobs in the queue, readable without the lock (for spinners).
    queued: AtomicUsize,
}

struct State {
    jobs: VecDeque<Job>,
    threads: usize,
    /// Workers asleep on the condition variable.
    idle: usize,
    /// Wake-ups sent to sleeping workers that none has taken yet: those
    /// workers are already spoken for, so a job finds no idle worker when
    /// `idle == wakeups` and a thread is started for it. (Counting them as
    /// idle would queue a burst of jobs behind a few workers, and jobs that
    /// block — a read of a pipe — behind each other for ever.)
    wakeups: usize,
    /// Workers spinning for the next job: one of them will take it.
    spinning: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        Pool::new(
            "corio-worker",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(4),
        )
    })
}

impl Pool {
    /// An empty pool that grows to `max` threads named `name`.
    pub(crate) fn new(name: &'static str, max: usize) -> Pool {
        Pool {
            name,
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                threads: 0,
                idle: 0,
                wakeups: 0,
                spinning: 0,
            }),
            work: Condvar::new(),
            max: AtomicUsize::new(max.max(1)),
            queued: AtomicUsize::new(0),
        }
    }

    pub(crate) fn submit(&'static self, job: Job) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.jobs.push_back(job);
        self.queued.store(st.jobs.len(), Ordering::Release);
        if st.spinning >= st.jobs.len() {
            // A spinning worker takes it without being woken.
            return;
        }
        if st.idle > st.wakeups {
            st.wakeups += 1;
            self.work.notify_one();
            return;
        }
        if st.threads < self.max.load(Ordering::Relaxed) {
            st.threads += 1;
            drop(st);
            let spawned = std::thread::Builder::new()
                .name(self.name.into())
                .spawn(move || self.work_loop());
            if let Err(e) = spawned {
                crate::warn::error(
                    "corio::multicore",
                    format_args!("cannot start a worker thread: {e}"),
                );
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                st.threads -= 1;
                // With no worker at all the job would wait forever: run it
                // here, blocking this thread, rather than never.
                if st.threads == 0
                    && let Some(job) = st.jobs.pop_back()
                {
                    drop(st);
                    job();
                }
            }
        }
    }

    fn work_loop(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut spun = false;
        loop {
            if let Some(job) = st.jobs.pop_front() {
                self.queued.store(st.jobs.len(), Ordering::Release);
                drop(st);
                job();
                st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                spun = false;
                continue;
            }
            if !spun && st.spinning < MAX_SPINNERS {
                // Spin for the next job before sleeping; submitters see
                // `spinning` and skip the wake-up. One spinner is enough to
                // catch a quick follow-up job; more would only burn the
                // cores the jobs need (a file pool can have hundreds of
                // workers).
                spun = true;
                st.spinning += 1;
                drop(st);
                let start = std::time::Instant::now();
                'spin: loop {
                    for _ in 0..64 {
                        if self.queued.load(Ordering::Acquire) > 0 {
                            break 'spin;
                        }
                        std::hint::spin_loop();
                    }
                    if start.elapsed() >= SPIN {
                        break;
                    }
                }
                st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                st.spinning -= 1;
                continue;
            }
            st.idle += 1;
            let (guard, timeout) = self
                .work
                .wait_timeout(st, IDLE_EXIT)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            // Whether woken or timed out, one sleeper fewer to wake.
            st.wakeups = st.wakeups.saturating_sub(1);
            let surplus = st.threads > self.max.load(Ordering::Relaxed);
            if (timeout.timed_out() || surplus) && st.jobs.is_empty() {
                st.threads -= 1;
                return;
            }
        }
    }
}

/// Runs `f` on a worker thread while the current coro waits, and returns
/// its value. Only the calling coro parks: the other coros of this thread
/// keep running meanwhile.
///
/// # Panics
/// With `f`'s own panic payload, resumed in the caller. Unwinds if the
/// coro is cancelled, thrown at or timed out while it waits: `f` still
/// runs to its end on the worker (a thread cannot be interrupted), and its
/// result is dropped when it arrives.
///
/// # Examples
///
/// ```
/// let r = std::panic::catch_unwind(|| corio::multicore::run(|| -> u8 { panic!("on a worker") }));
/// let payload = r.unwrap_err();
/// assert_eq!(payload.downcast_ref::<&str>(), Some(&"on a worker"));
/// ```
///
/// # Switching
///
/// Suspends the current coro until the result is back.
#[track_caller]
pub fn run<T, F>(f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    run_in(pool(), f)
}

/// [`run`] on the given pool.
#[track_caller]
pub(crate) fn run_in<T, F>(pool: &'static Pool, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (cb, rouse) = crate::rouse::<std::thread::Result<T>>();
    // Feature `tracing`: `f` is the caller's work, done elsewhere: it runs
    // in the caller's current span and with its default subscriber.
    #[cfg(feature = "tracing")]
    let f = {
        let span = tracing::Span::current();
        let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
        move || tracing::dispatcher::with_default(&dispatch, || span.in_scope(f))
    };
    pool.submit(Box::new(move || {
        cb.call(panic::catch_unwind(AssertUnwindSafe(f)));
    }));
    // While we wait, an idle scheduler spins a little before it sleeps.
    struct Spinning<'a>(&'a crate::sched::Scheduler);
    impl Drop for Spinning<'_> {
        fn drop(&mut self) {
            self.0.spin_waiters.set(self.0.spin_waiters.get() - 1);
        }
    }
    let s = crate::sched::sched();
    s.spin_waiters.set(s.spin_waiters.get() + 1);
    let spinning = Spinning(s);
    let result = rouse.wait();
    drop(spinning);
    match result {
        Some(Ok(v)) => v,
        Some(Err(payload)) => panic::resume_unwind(payload),
        // The job is dropped uncalled only if its worker died, which
        // `catch_unwind` prevents.
        None => panic!("corio: a worker thread dropped its job"),
    }
}

/// The most worker threads the pool runs at once.
///
/// # Examples
///
/// ```
/// assert!(corio::multicore::max_threads() >= 1);
/// ```
pub fn max_threads() -> usize {
    pool().max.load(Ordering::Relaxed)
}

/// Sets the most worker threads the pool runs at once (at least 1). When
/// lowered, surplus workers exit as they become idle; queued jobs wait for
/// a free worker.
///
/// # Examples
///
/// ```
/// let before = corio::multicore::max_threads();
/// corio::multicore::set_max_threads(2);
/// assert_eq!(corio::multicore::max_threads(), 2);
/// corio::multicore::set_max_threads(before);
/// ```
pub fn set_max_threads(n: usize) {
    let p = pool();
    p.max.store(n.max(1), Ordering::Relaxed);
    // Idle workers re-check the bound.
    p.work.notify_all();
}
