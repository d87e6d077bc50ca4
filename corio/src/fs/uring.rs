//! The io_uring back-end: one ring per scheduler thread, made on first
//! use. Its completions are signalled on an eventfd registered with the
//! thread's reactor; the reactor's hook reaps them and readies the coros
//! that wait for them.
//!
//! Memory the kernel reads or writes (buffers, path strings) is owned by
//! the operation's slot, never by the waiting coro's stack: a coro that is
//! cancelled while its operation is in flight leaves the slot behind, and
//! the slot is freed only when the kernel reports the operation complete.
//! Reads and writes come here only when they must wait: cached data is
//! moved straight to or from the caller's buffer before (`direct.rs`),
//! which is why the copy through the slot's buffer costs little.
//!
//! A second ring, made when first needed, has a kernel thread that polls
//! its submission queue (`IORING_SETUP_SQPOLL`) and so does the
//! operations' work on another CPU. Opens go there while [`BUSY`] or more
//! operations of the thread are in flight: the path walk, the largest part
//! of opening and reading a small cached file, then runs beside the
//! thread's own direct reads instead of in turn with them. With fewer in
//! flight, opens stay on the first ring, where a cached open completes
//! during the submit itself and no thread spins. The polling thread sleeps
//! after [`SQ_IDLE_MS`] without submissions. Not made on one CPU, under
//! valgrind, or with `CORIO_FS_SQPOLL=off`.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;

use io_uring::{IoUring, squeue};

use super::slots::Slots;
use crate::sched::{Scheduler, sched, try_sched};

mod ops;

pub(crate) use ops::{CURSOR, fsync, mkdir, open, read, read_into, rename, unlink, write};

/// Entries in the submission queue.
const ENTRIES: u32 = 256;
/// Operations of a thread in flight from which its opens go to the polled
/// ring (see the module docs).
const BUSY: u32 = 8;
/// Milliseconds the polled ring's kernel thread waits for submissions
/// (spinning) before it sleeps.
const SQ_IDLE_MS: u32 = 1;
/// Entries in the completion queue: room for many operations in flight
/// (more are kept by the kernel and fetched on the next reap).
const CQ_ENTRIES: u32 = 4096;

/// What an operation's slot keeps alive until the kernel is done with it.
#[derive(Default)]
struct Keep {
    pub(crate) buf: Vec<u8>,
    pub(crate) path: Option<CString>,
    pub(crate) path2: Option<CString>,
    /// The descriptor the operation works on: open until completion.
    #[allow(dead_code, reason = "held, not read: keeps the descriptor open")]
    pub(crate) fd: Option<Arc<OwnedFd>>,
    /// The operation's result is a new descriptor (an open): if nobody
    /// waits for it any more, it is closed on completion.
    pub(crate) opens: bool,
}

pub(crate) struct Ring {
    ring: RefCell<IoUring>,
    /// A kernel thread polls the submission queue (see the module docs):
    /// what is queued is the kernel's as soon as it is written.
    polled: bool,
    /// Signalled by the kernel on every completion.
    event: OwnedFd,
    token: mio::Token,
    /// The operations in flight, each owning what the kernel may use.
    ops: Slots<Keep, i32>,
    /// Buffers of finished operations, kept for the next ones.
    spares: RefCell<Vec<Vec<u8>>>,
    /// Operations in the submission queue that the kernel has not taken
    /// yet, oldest first: `(slot, generation)`.
    unsubmitted: RefCell<VecDeque<(u32, u32)>>,
}

/// Most buffers kept for reuse, and the largest one kept.
const SPARES: usize = 16;
const SPARE_MAX: usize = 4 << 20;

thread_local! {
    /// This thread's ring: `None` inside when it could not be made.
    static RING: OnceCell<Option<Rc<Ring>>> = const { OnceCell::new() };
    /// This thread's polled ring (see the module docs): `None` inside when
    /// it could not be made or is not wanted.
    static POLLED: OnceCell<Option<Rc<Ring>>> = const { OnceCell::new() };
    static WARNED: Cell<bool> = const { Cell::new(false) };
}

/// This thread's ring, made on first use; `None` if the kernel refuses
/// io_uring (too old, disabled by `kernel.io_uring_disabled`, seccomp).
pub(crate) fn ring() -> Option<Rc<Ring>> {
    RING.try_with(|r| {
        r.get_or_init(|| match Ring::new(false) {
            Ok(r) => Some(Rc::new(r)),
            Err(e) => {
                if !WARNED.replace(true) {
                    log::info!("corio::fs: io_uring unavailable ({e}); using worker threads");
                }
                None
            }
        })
        .clone()
    })
    .ok()
    .flatten()
}

/// The thread's ring in `cell`, if it was made.
fn made(cell: &'static std::thread::LocalKey<OnceCell<Option<Rc<Ring>>>>) -> Option<Rc<Ring>> {
    cell.try_with(|r| r.get().cloned().flatten()).ok().flatten()
}

/// The ring for an open while the thread has `r`: the polled ring when
/// [`BUSY`] or more operations are in flight and it can be had, unless it
/// has as many in flight as its submission queue holds (its kernel thread
/// takes entries when it gets to them, so a full queue cannot be emptied
/// by a submit as the first ring's can).
fn for_open(r: &Ring) -> Option<Rc<Ring>> {
    let polled = made(&POLLED);
    let in_polled = polled.as_ref().map_or(0, |p| p.ops.pending());
    if r.ops.pending() + in_polled < BUSY || in_polled >= ENTRIES {
        return None;
    }
    polled.or_else(|| {
        POLLED
            .try_with(|p| {
                p.get_or_init(|| {
                    let wanted = super::offload_wanted() && !crate::sys::under_valgrind();
                    // A kernel that refuses it (before 5.11 it needs
                    // privileges) leaves the first ring to do everything.
                    wanted.then(|| Ring::new(true).ok().map(Rc::new)).flatten()
                })
                .clone()
            })
            .ok()
            .flatten()
    })
}

/// Whether this thread could make a ring (makes it if not made yet).
pub(crate) fn available() -> bool {
    ring().is_some()
}

impl Ring {
    fn new(polled: bool) -> io::Result<Ring> {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(CQ_ENTRIES);
        if polled {
            builder.setup_sqpoll(SQ_IDLE_MS);
        }
        let ring = builder.build(ENTRIES)?;
        let event = crate::sys::eventfd()?;
        ring.submitter().register_eventfd(event.as_raw_fd())?;
        let (token, state) = sched()
            .reactor()?
            .register(event.as_raw_fd(), mio::Interest::READABLE)?;
        state
            .hook
            .set(Some(if polled { on_polled_event } else { on_event }));
        Ok(Ring {
            ring: RefCell::new(ring),
            polled,
            event,
            token,
            ops: Slots::new(abandon),
            spares: RefCell::new(Vec::new()),
            unsubmitted: RefCell::new(VecDeque::new()),
        })
    }

    /// An empty buffer with room for `len` bytes (reused if one is kept;
    /// not zeroed: the kernel fills it, and only what it filled is read).
    fn spare(&self, len: usize) -> Vec<u8> {
        let mut spares = self.spares.borrow_mut();
        match spares.iter().position(|b| b.capacity() >= len) {
            Some(i) => spares.swap_remove(i),
            None => Vec::with_capacity(len),
        }
    }

    /// Keeps `buf` for a later [`spare`](Self::spare).
    fn give_back(&self, mut buf: Vec<u8>) {
        let mut spares = self.spares.borrow_mut();
        if spares.len() < SPARES && buf.capacity() <= SPARE_MAX {
            buf.clear();
            spares.push(buf);
        }
    }

    /// Reaps every completion: records results and readies their coros,
    /// frees the slots of abandoned operations.
    fn reap(&self, s: &Scheduler) {
        let mut done = Vec::new();
        {
            let mut ring = self.ring.borrow_mut();
            loop {
                for cqe in ring.completion() {
                    done.push((cqe.user_data(), cqe.result()));
                }
                // Completions the kernel kept aside while the queue was
                // full come back only through an enter.
                if !ring.submission().cq_overflow() {
                    break;
                }
                if ring.submit().is_err() {
                    break;
                }
            }
        }
        for (data, res) in done {
            let key = ((data & 0xffff_ffff) as u32, (data >> 32) as u32);
            self.ops.answer(s, key, res);
        }
    }

    /// Submits `entry` (built with pointers into `keep`, which the slot
    /// owns from now on) and parks the current coro until it completes.
    /// Returns the kernel's result and the kept memory.
    #[track_caller]
    fn submit(
        &self,
        keep: Keep,
        build: impl FnOnce(&mut Keep) -> squeue::Entry,
    ) -> io::Result<(i32, Keep)> {
        let (s, me) = crate::sched::enter_blocking();
        let key = self.ops.alloc(keep, me);
        // The pointers in the entry point into heap memory owned by `keep`
        // (Vec and CString buffers), which does not move when the slot
        // table grows.
        let entry = self.ops.with_keep(key, |keep| {
            build(keep).user_data(u64::from(key.1) << 32 | u64::from(key.0))
        });
        if let Err(e) = self.queue(s, &entry, key) {
            drop(self.ops.release(key.0));
            return Err(e);
        }
        if s.nready() == 0 {
            // Nobody could add to the batch before the loop idles: hand
            // it over now. Cached reads often complete during the submit
            // itself, and then this coro does not park at all.
            self.flush(s);
        } else {
            // Coros that are ready may queue operations too: the loop
            // submits them all with one system call when it looks around.
            s.flush.set(Some(flush_hook));
        }
        Ok(self.ops.wait(s, key))
    }

    /// Puts one entry in the submission queue, without a system call
    /// unless the queue is full.
    fn queue(&self, s: &Scheduler, entry: &squeue::Entry, op: (u32, u32)) -> io::Result<()> {
        for attempt in 0..2 {
            // SAFETY: the entry's pointers stay valid until its completion
            // (see `submit`).
            let pushed = unsafe { self.ring.borrow_mut().submission().push(entry) };
            if pushed.is_ok() {
                self.unsubmitted.borrow_mut().push_back(op);
                return Ok(());
            }
            if attempt == 0 {
                // Full: hand what is queued to the kernel first.
                self.flush(s);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            "the io_uring submission queue stays full",
        ))
    }

    /// Hands every queued entry to the kernel (one `io_uring_enter`) and
    /// reaps what completed meanwhile.
    ///
    /// Transient refusals (`EBUSY` while completions wait to be reaped,
    /// `EAGAIN` when the kernel is short of memory) are retried; if the
    /// ring refuses for good, the queued operations fail with its error:
    /// their memory stays leaked, since the kernel may still take the
    /// entries later.
    fn flush(&self, s: &Scheduler) {
        let mut retries = 0;
        while !self.unsubmitted.borrow().is_empty() {
            let submitted = self.ring.borrow_mut().submit();
            let err = match submitted {
                // The kernel thread takes the entries from the queue on its
                // own (the count says how many it had not taken yet, and
                // may be 0); `submit` woke it if it slept.
                Ok(_) if self.polled => {
                    self.unsubmitted.borrow_mut().clear();
                    continue;
                }
                Ok(n) if n > 0 => {
                    let mut q = self.unsubmitted.borrow_mut();
                    let n = n.min(q.len());
                    q.drain(..n);
                    continue;
                }
                Ok(_) => io::Error::from_raw_os_error(libc::EAGAIN),
                Err(e) => e,
            };
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EBUSY | libc::EAGAIN) if retries < FLUSH_RETRIES => {
                    retries += 1;
                    self.reap(s);
                    if err.raw_os_error() == Some(libc::EAGAIN) {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                }
                _ => {
                    crate::warn::error(
                        "corio::fs",
                        format_args!("io_uring refuses operations: {err}"),
                    );
                    self.fail_unsubmitted(s, &err);
                }
            }
        }
        self.reap(s);
    }

    /// Ends every queued operation with `err` (see [`flush`](Self::flush)).
    fn fail_unsubmitted(&self, s: &Scheduler, err: &io::Error) {
        let errno = err.raw_os_error().unwrap_or(libc::EIO);
        let failed: Vec<_> = self.unsubmitted.borrow_mut().drain(..).collect();
        for key in failed {
            // The kernel may still read the entry and use this memory.
            std::mem::forget(self.ops.fail(s, key, -errno, Keep::default()));
        }
    }
}

/// Disposes of the result of an operation whose waiter left: an open's
/// new descriptor is closed (nobody owns it), the memory freed.
fn abandon(res: i32, keep: Keep) {
    if keep.opens && res >= 0 {
        // SAFETY: the kernel opened `res` for an open whose caller is gone,
        // and the result was not handed to anyone: nobody else owns it.
        drop(unsafe { OwnedFd::from_raw_fd(res) });
    }
    drop(keep);
}

/// The scheduler's flush hook (see `Scheduler::flush`).
fn flush_hook(s: &Scheduler) {
    for ring in [made(&RING), made(&POLLED)].into_iter().flatten() {
        ring.flush(s);
    }
}

/// Times a transient refusal of the kernel is retried before the queued
/// operations fail.
const FLUSH_RETRIES: u32 = 100;

impl Drop for Ring {
    fn drop(&mut self) {
        if let Some(r) = try_sched().and_then(|s| s.reactor_if_made()) {
            r.deregister(self.event.as_raw_fd(), self.token);
        }
        // Operations still in flight: the kernel may write into their
        // memory until it has torn the ring down, after this returns. Leak
        // it rather than free it under the kernel's feet.
        for keep in self.ops.drain_pending() {
            std::mem::forget(keep);
        }
    }
}

/// The reactor's hook for the first ring's eventfd.
fn on_event(s: &Scheduler) {
    drain_and_reap(s, made(&RING));
}

/// The reactor's hook for the polled ring's eventfd.
fn on_polled_event(s: &Scheduler) {
    drain_and_reap(s, made(&POLLED));
}

/// Drains `ring`'s eventfd and reaps it.
fn drain_and_reap(s: &Scheduler, ring: Option<Rc<Ring>>) {
    if let Some(ring) = ring {
        crate::sys::eventfd_drain(&ring.event);
        ring.reap(s);
    }
}
