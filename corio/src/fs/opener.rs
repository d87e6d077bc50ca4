//! Opens on a helper thread, for the worker-thread back-end while many file
//! operations of a thread are under way: what the io_uring back-end's
//! polled ring does (see `uring.rs`), done by a thread of corio's own.
//!
//! Small cached files cost mostly kernel time (path walk, page-cache copy,
//! close), which std's threads spread over every CPU and one corio thread
//! did in turn. While [`BUSY`] or more coros are ready or waiting on opens,
//! an open is handed to this thread's helper, which tries it without
//! waiting (`direct::open`: cached path, `O_NONBLOCK`) and hands the
//! descriptor back; the calling thread meanwhile reads and closes other
//! files. An open that would wait comes back as `None`, and the caller
//! takes the usual way (a worker of the blocking pool). So the helper never
//! blocks, and it holds no memory of the caller's: it owns the path it
//! opens, and the descriptor it returns.
//!
//! The helper spins for [`SPIN`] after its last open before it sleeps on a
//! condition variable; a submit wakes it only then. It does not spin on the
//! CPU its calling thread last submitted from: there it would take that
//! thread's time while another CPU may be idle (the kernel, which placed it
//! there on a wake-up while the other CPU was busy, does not move a task
//! that keeps running soon). It sleeps instead, and the next wake-up places
//! it on an idle CPU if there is one. It reports through an
//! eventfd registered with the thread's reactor, written only when its
//! queue of results was empty, so a busy scheduler picks up many results
//! per event. Not made on one CPU, or with `CORIO_FS_SQPOLL=off`.

use std::cell::OnceCell;
use std::collections::VecDeque;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::slots::Slots;
use crate::sched::{Scheduler, sched, try_sched};

/// Coros ready or waiting on opens from which opens go to the helper.
const BUSY: usize = 8;
/// How long the helper waits for more work, spinning, before it sleeps.
const SPIN: Duration = Duration::from_millis(1);

/// The helper's answer for a slot: a descriptor, or `None` (open it the
/// waiting way).
type Answer = ((u32, u32), Option<OwnedFd>);

/// An open for the helper: the slot it answers, and what to open.
struct Job {
    slot: (u32, u32),
    path: CString,
    flags: i32,
}

/// What the calling thread and its helper share.
struct Shared {
    jobs: Mutex<VecDeque<Job>>,
    /// Jobs handed over so far: what the spinning helper watches, so that
    /// it does not take the lock the caller needs.
    queued: AtomicUsize,
    /// Signalled when a job comes while the helper sleeps.
    wake: Condvar,
    /// The helper waits on `wake` (read and written under `jobs`' lock).
    sleeping: AtomicBool,
    /// Results, by slot: a descriptor, or `None` (open it the waiting way).
    done: Mutex<Vec<Answer>>,
    /// Written when `done` stops being empty.
    event: OwnedFd,
    /// The calling thread is gone: the helper ends.
    stop: AtomicBool,
    /// The CPU the calling thread last handed a job over from.
    caller_cpu: AtomicI32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A thread's side of its helper.
pub(crate) struct Opener {
    shared: Arc<Shared>,
    /// Opens handed over and not yet answered (or answered, not yet taken).
    slots: Slots<(), Option<OwnedFd>>,
    token: mio::Token,
}

/// The thread's hold on its helper: when the thread ends, the helper ends
/// too, even if a coro the thread abandoned (its frames leaked) still holds
/// the opener.
struct Held(Rc<Opener>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.stop();
    }
}

thread_local! {
    /// This thread's helper: `None` inside when it is not wanted or could
    /// not be made.
    static OPENER: OnceCell<Option<Held>> = const { OnceCell::new() };
}

/// The thread's helper, if it was made.
fn made() -> Option<Rc<Opener>> {
    OPENER
        .try_with(|o| o.get().and_then(|h| h.as_ref().map(|h| h.0.clone())))
        .ok()
        .flatten()
}

/// The helper to hand an open to now, if the thread is busy enough to
/// want one (see the module docs).
pub(crate) fn for_open() -> Option<Rc<Opener>> {
    let s = try_sched()?;
    let made = made();
    let waiting = made.as_ref().map_or(0, |o| o.slots.pending() as usize);
    if s.nready() + waiting < BUSY {
        return None;
    }
    made.or_else(|| {
        OPENER
            .try_with(|o| {
                o.get_or_init(|| {
                    super::offload_wanted()
                        .then(|| Opener::new().ok().map(|o| Held(Rc::new(o))))
                        .flatten()
                })
                .as_ref()
                .map(|h| h.0.clone())
            })
            .ok()
            .flatten()
    })
}

impl Opener {
    fn new() -> io::Result<Opener> {
        let event = crate::sys::eventfd()?;
        let raw = event.as_raw_fd();
        let shared = Arc::new(Shared {
            jobs: Mutex::new(VecDeque::new()),
            queued: AtomicUsize::new(0),
            wake: Condvar::new(),
            sleeping: AtomicBool::new(false),
            done: Mutex::new(Vec::new()),
            event,
            stop: AtomicBool::new(false),
            caller_cpu: AtomicI32::new(-1),
        });
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("corio-opener".into())
            .spawn(move || helper(&theirs))?;
        let registered = sched()
            .reactor()
            .and_then(|r| r.register(raw, mio::Interest::READABLE));
        let (token, state) = match registered {
            Ok(r) => r,
            Err(e) => {
                stop(&shared);
                return Err(e);
            }
        };
        state.hook.set(Some(on_event));
        Ok(Opener {
            shared,
            // Dropping an abandoned answer closes its descriptor.
            slots: Slots::new(|fd, ()| drop(fd)),
            token,
        })
    }

    /// Opens `path` on the helper, parking the calling coro: `None` if that
    /// would wait (open it the usual way then).
    #[track_caller]
    pub(crate) fn open(&self, path: CString, flags: i32) -> Option<OwnedFd> {
        let (s, me) = crate::sched::enter_blocking();
        if self.shared.stop.load(Ordering::Relaxed) {
            // The thread is ending (see `Held`): nobody would answer.
            return None;
        }
        let slot = self.slots.alloc((), me);
        let here = cpu();
        {
            let mut jobs = lock(&self.shared.jobs);
            jobs.push_back(Job { slot, path, flags });
            self.shared.caller_cpu.store(here, Ordering::Relaxed);
            self.shared.queued.fetch_add(1, Ordering::Release);
            if self.shared.sleeping.load(Ordering::Relaxed) {
                self.shared.wake.notify_one();
            }
        }
        self.slots.wait(s, slot).0
    }

    /// Takes the helper's results: readies their coros, closes the
    /// descriptors of those that left.
    fn reap(&self, s: &Scheduler) {
        crate::sys::eventfd_drain(&self.shared.event);
        let done = std::mem::take(&mut *lock(&self.shared.done));
        for (slot, fd) in done {
            self.slots.answer(s, slot, fd);
        }
    }

    /// Ends the helper thread (after the open it may be doing).
    fn stop(&self) {
        stop(&self.shared);
    }
}

fn stop(shared: &Shared) {
    let _jobs = lock(&shared.jobs);
    shared.stop.store(true, Ordering::Relaxed);
    shared.wake.notify_one();
}

impl Drop for Opener {
    fn drop(&mut self) {
        if let Some(r) = try_sched().and_then(|s| s.reactor_if_made()) {
            r.deregister(self.shared.event.as_raw_fd(), self.token);
        }
        self.stop();
    }
}

/// The reactor's hook for the helper's eventfd.
fn on_event(s: &Scheduler) {
    if let Some(opener) = made() {
        opener.reap(s);
    }
}

/// The CPU the calling thread runs on (-1 if unknown).
fn cpu() -> i32 {
    // SAFETY: sched_getcpu has no preconditions.
    unsafe { libc::sched_getcpu() }
}

/// Whether the helper runs on the CPU its caller last handed a job over
/// from (known CPUs only).
fn on_callers_cpu(shared: &Shared) -> bool {
    let here = cpu();
    here >= 0 && here == shared.caller_cpu.load(Ordering::Relaxed)
}

/// The helper thread: opens what it is given, spinning for more before it
/// sleeps, until its thread's opener is dropped.
fn helper(shared: &Shared) {
    let mut taken = 0;
    loop {
        // Spin (reading a counter, not taking the lock) for a while after
        // the last job, then sleep.
        let spun = Instant::now();
        let mut spins = 0u32;
        while shared.queued.load(Ordering::Acquire) == taken {
            std::hint::spin_loop();
            spins += 1;
            if spins.is_multiple_of(256) && (spun.elapsed() >= SPIN || on_callers_cpu(shared)) {
                break;
            }
        }
        let job = {
            let mut jobs = lock(&shared.jobs);
            if jobs.is_empty() {
                shared.sleeping.store(true, Ordering::Relaxed);
                while jobs.is_empty() && !shared.stop.load(Ordering::Relaxed) {
                    jobs = shared.wake.wait(jobs).unwrap_or_else(|e| e.into_inner());
                }
                shared.sleeping.store(false, Ordering::Relaxed);
            }
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            jobs.pop_front()
        };
        let Some(job) = job else {
            continue;
        };
        taken += 1;
        let fd = super::direct::open(&job.path, job.flags);
        let was_empty = {
            let mut done = lock(&shared.done);
            let was_empty = done.is_empty();
            done.push((job.slot, fd));
            was_empty
        };
        if was_empty {
            let one = 1u64.to_ne_bytes();
            // SAFETY: writes 8 bytes from `one` to our eventfd.
            unsafe { libc::write(shared.event.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        }
    }
}
