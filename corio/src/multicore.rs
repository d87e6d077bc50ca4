//! A pool of worker threads for work that would block or hog the
//! scheduler thread (name resolution, and later file I/O and CPU work):
//! the calling coro parks, the other coros of its thread keep running, and
//! the result comes back through [`rouse`](crate::rouse).
//!
//! The pool grows on demand up to its bound, and a worker that found
//! nothing to do for [`IDLE_EXIT`] exits.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// A worker that waited this long for a job exits.
const IDLE_EXIT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    state: Mutex<State>,
    work: Condvar,
    max: usize,
}

struct State {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(State {
            jobs: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        work: Condvar::new(),
        max: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(4),
    })
}

impl Pool {
    fn submit(&'static self, job: Job) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.jobs.push_back(job);
        if st.idle > 0 {
            self.work.notify_one();
            return;
        }
        if st.threads < self.max {
            st.threads += 1;
            drop(st);
            let spawned = std::thread::Builder::new()
                .name("corio-worker".into())
                .spawn(move || self.work_loop());
            if let Err(e) = spawned {
                log::error!("corio: cannot start a worker thread: {e}");
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
        loop {
            if let Some(job) = st.jobs.pop_front() {
                drop(st);
                job();
                st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            st.idle += 1;
            let (guard, timeout) = self
                .work
                .wait_timeout(st, IDLE_EXIT)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            if timeout.timed_out() && st.jobs.is_empty() {
                st.threads -= 1;
                return;
            }
        }
    }
}

/// Runs `f` on a worker thread while the current coro waits; returns its
/// value, or resumes its panic in the caller.
///
/// # Panics
/// With `f`'s own panic payload; unwinds if the coro is cancelled, thrown
/// at or timed out while it waits (the result is dropped when it arrives).
#[track_caller]
pub(crate) fn run<T, F>(f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (cb, rouse) = crate::rouse::<std::thread::Result<T>>();
    pool().submit(Box::new(move || {
        cb.call(panic::catch_unwind(AssertUnwindSafe(f)));
    }));
    match rouse.wait() {
        Some(Ok(v)) => v,
        Some(Err(payload)) => panic::resume_unwind(payload),
        // The job is dropped uncalled only if its worker died, which
        // `catch_unwind` prevents.
        None => panic!("corio: a worker thread dropped its job"),
    }
}
