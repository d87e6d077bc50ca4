//! The reactor: where a scheduler waits when no coro is ready, how file
//! descriptors wake the coros that wait for them, and how other OS threads
//! wake it.
//!
//! It is made on first need (a socket is registered or a cross-thread
//! waker is created); a thread whose coros only ever wait for each other
//! and for timers never opens one, and sleeps with `thread::sleep` until
//! its next timer instead.
//!
//! # Sources
//!
//! A registered file descriptor gets an [`IoState`]: its readiness (one
//! bit per direction) and one wait list per direction. Registration is
//! edge-triggered, for reading and writing at once, so each descriptor
//! costs one `epoll_ctl` for its whole life. A direction is assumed ready
//! until an operation says `WouldBlock` (or a short read or write shows
//! the kernel buffer drained or full); then the operation clears the bit
//! and its coro waits in the direction's list. An event sets the bits
//! again and wakes every waiter of the direction: each retries, and those
//! that lose the race wait again.
//!
//! Event tokens are slot indices tagged with a generation, so an event
//! that arrives for a slot freed and reused in the meantime is ignored.
//!
//! Other threads never touch a coro: they push a [`RemoteWake`] onto the
//! home scheduler's queue and kick its `mio::Waker`. The home thread drains
//! the queue whenever it looks at the reactor, and each entry readies its
//! coro there. [`Remote::live`] counts the handles that could still do
//! that; while it is non-zero an idle scheduler sleeps instead of reporting
//! a deadlock.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Scheduler;
use super::wait::WaitList;

/// Set by the `hook` feature: makes it give up its own registration of a
/// descriptor (on this thread's reactor) that somebody else registers, and
/// says whether it had one.
pub(crate) static RELEASE_FD: std::sync::OnceLock<fn(RawFd) -> bool> = std::sync::OnceLock::new();

/// The token of the cross-thread waker in the poll set.
const WAKE: mio::Token = mio::Token(usize::MAX);

/// Readiness bit: a read (or accept, or recv) may succeed.
pub(crate) const READ: u8 = 1;
/// Readiness bit: a write (or send, or connect's completion) may succeed.
pub(crate) const WRITE: u8 = 2;

/// Sticky companion of [`READ`]: the kernel reported end of stream,
/// hang-up or an error, which no later edge will report again.
const READ_CLOSED: u8 = 4;
/// Sticky companion of [`WRITE`]: hang-up or an error.
const WRITE_CLOSED: u8 = 8;
/// The registration was given up while coros waited on it (the `hook`
/// feature: its descriptor was closed); they wake and find out.
#[cfg_attr(not(feature = "hook"), allow(dead_code))]
const RELEASED: u8 = 16;

/// The readiness of one registered descriptor, and who waits for it.
#[derive(Debug)]
pub(crate) struct IoState {
    /// [`READ`] and [`WRITE`], and their sticky `_CLOSED` companions.
    ready: Cell<u8>,
    /// Coros waiting for [`READ`].
    pub(crate) readers: WaitList,
    /// Coros waiting for [`WRITE`].
    pub(crate) writers: WaitList,
    /// Called (in the scheduler loop) each time the descriptor is reported
    /// ready: for descriptors that stand for more than one waiter, like an
    /// io_uring's completion eventfd. Must not block or run user code.
    pub(crate) hook: Cell<Option<fn(&Scheduler)>>,
}

impl IoState {
    /// Whether every bit of `dir` is set.
    #[inline]
    pub(crate) fn is_ready(&self, dir: u8) -> bool {
        self.ready.get() & dir == dir
    }

    /// Clears `dir`: the kernel said it would block.
    #[inline]
    pub(crate) fn clear(&self, dir: u8) {
        self.ready.set(self.ready.get() & !(dir | dir << 2));
    }

    /// Clears `dir` after a short read or write drained (or filled) the
    /// kernel buffer, unless the descriptor was reported closed: then the
    /// next call returns end-of-stream or the error at once, and no new
    /// edge would ever come to say so.
    #[inline]
    pub(crate) fn drained(&self, dir: u8) {
        let r = self.ready.get();
        let closed = (r >> 2) & dir;
        self.ready.set(r & !(dir & !closed));
    }

    /// Marks the registration given up (see [`RELEASED`]).
    #[cfg_attr(not(feature = "hook"), allow(dead_code))]
    pub(crate) fn release(&self) {
        self.ready.set(self.ready.get() | RELEASED);
    }

    /// Whether [`release`](Self::release) was called.
    #[inline]
    #[cfg_attr(not(feature = "hook"), allow(dead_code))]
    pub(crate) fn released(&self) -> bool {
        self.ready.get() & RELEASED != 0
    }

    /// The wait list of `dir` (one direction).
    #[inline]
    pub(crate) fn waiters(&self, dir: u8) -> &WaitList {
        if dir == READ {
            &self.readers
        } else {
            &self.writers
        }
    }

    /// Sets `dir` and wakes everybody waiting for it.
    fn set_ready(&self, s: &Scheduler, dir: u8) {
        self.ready.set(self.ready.get() | dir);
        if dir & READ != 0 {
            while let Some(node) = self.readers.pop_front_node() {
                s.ready(node.coro());
            }
        }
        if dir & WRITE != 0 {
            while let Some(node) = self.writers.pop_front_node() {
                s.ready(node.coro());
            }
        }
    }
}

/// The readiness bits (with their sticky `_CLOSED` companions) of an
/// epoll event's flags, decoded as mio's `Event` decodes them.
fn directions(flags: u32) -> u8 {
    let f = flags as libc::c_int;
    let has = |bit: libc::c_int| f & bit != 0;
    let error = has(libc::EPOLLERR);
    // Both halves closed, or a FIN received (shutdown of the read side).
    let read_closed = has(libc::EPOLLHUP) || (has(libc::EPOLLIN) && has(libc::EPOLLRDHUP));
    // Both halves closed, or a pipe's read end closed.
    let write_closed = has(libc::EPOLLHUP) || (has(libc::EPOLLOUT) && error) || f == libc::EPOLLERR;
    let mut dir = 0;
    if read_closed || error {
        dir |= READ | READ_CLOSED;
    } else if has(libc::EPOLLIN) || has(libc::EPOLLPRI) {
        dir |= READ;
    }
    if write_closed || error {
        dir |= WRITE | WRITE_CLOSED;
    } else if has(libc::EPOLLOUT) {
        dir |= WRITE;
    }
    dir
}

/// A slot of the source table.
struct Slot {
    /// Bumped when the slot is freed: tokens of the old tenant go stale.
    generation: u32,
    state: Option<Rc<IoState>>,
}

/// The poll token of slot `index` in `generation`.
fn token(index: u32, generation: u32) -> mio::Token {
    mio::Token(((generation as usize) << 32) | index as usize)
}

/// Something another thread asked the home scheduler to do.
pub(crate) trait RemoteWake: Send + Sync {
    /// Runs on the home thread, in the scheduler loop: must not block and
    /// must not run user code.
    fn wake_home(&self, s: &Scheduler);
}

/// The part of a reactor other threads hold.
pub(crate) struct Remote {
    waker: mio::Waker,
    queue: Mutex<Vec<Arc<dyn RemoteWake>>>,
    pending: AtomicBool,
    /// Live handles that may still wake this scheduler from anywhere.
    live: AtomicUsize,
    /// The id of the home scheduler's main coro (unique in the process, so
    /// never taken by a scheduler made later): tells a call on the home
    /// thread from one on another.
    home: u64,
    /// Set when the home scheduler is gone: wake-ups are dropped instead
    /// of queued. Queued ones hold `Arc`s of this `Remote` (through their
    /// shared state), so a queue that outlived its scheduler would keep
    /// both alive forever.
    closed: AtomicBool,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("live", &self.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// Counts one more handle that may wake the scheduler.
    pub(crate) fn retain(&self) {
        self.live.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one handle fewer.
    pub(crate) fn release(&self) {
        self.live.fetch_sub(1, Ordering::Release);
    }

    /// Whether the caller runs on the home thread of this scheduler (whose
    /// scheduler is alive).
    pub(crate) fn on_home_thread(&self) -> bool {
        super::current_main_id() == Some(self.home)
    }

    /// Has `target` woken on the home thread: at once if called there,
    /// else through the queue and the poll waker.
    pub(crate) fn wake(&self, target: Arc<dyn RemoteWake>) {
        if self.on_home_thread() {
            target.wake_home(super::sched());
            return;
        }
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(Ordering::Acquire) {
            // The home thread is gone: nobody to wake. Drop the target
            // after the lock (its drop may come back here).
            drop(queue);
            drop(target);
            return;
        }
        queue.push(target);
        drop(queue);
        self.pending.store(true, Ordering::Release);
        // A failure means the home thread is gone: nobody to wake.
        let _ = self.waker.wake();
    }
}

/// One scheduler's poll set.
pub(crate) struct Reactor {
    poll: RefCell<mio::Poll>,
    /// The buffer `epoll_wait` fills.
    events: RefCell<Vec<libc::epoll_event>>,
    pub(crate) remote: Arc<Remote>,
    /// Registered descriptors, indexed by the low half of their token.
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl Reactor {
    pub(crate) fn new(home: u64) -> io::Result<Reactor> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE)?;
        Ok(Reactor {
            poll: RefCell::new(poll),
            events: RefCell::new(Vec::with_capacity(1024)),
            remote: Arc::new(Remote {
                waker,
                queue: Mutex::new(Vec::new()),
                pending: AtomicBool::new(false),
                live: AtomicUsize::new(0),
                home,
                closed: AtomicBool::new(false),
            }),
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
        })
    }

    /// Registers `fd` (edge-triggered) for `interest`; it starts out ready
    /// in both directions. The caller must [`deregister`](Self::deregister)
    /// it with the returned token before closing `fd`.
    ///
    /// # Errors
    /// What `epoll_ctl` says: `EPERM` for a descriptor epoll cannot watch
    /// (a regular file, a directory), `EEXIST` if `fd` is registered
    /// already, `ENOMEM`/`ENOSPC` when the kernel is out of room.
    pub(crate) fn register(
        &self,
        fd: RawFd,
        interest: mio::Interest,
    ) -> io::Result<(mio::Token, Rc<IoState>)> {
        match self.try_register(fd, interest) {
            // The `hook` feature may hold `fd` for a blocking call made on
            // it earlier: it lets go, and the new owner registers.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => match RELEASE_FD.get() {
                Some(release) if release(fd) => self.try_register(fd, interest),
                _ => Err(e),
            },
            r => r,
        }
    }

    fn try_register(
        &self,
        fd: RawFd,
        interest: mio::Interest,
    ) -> io::Result<(mio::Token, Rc<IoState>)> {
        let state = Rc::new(IoState {
            ready: Cell::new(READ | WRITE),
            readers: WaitList::new(),
            writers: WaitList::new(),
            hook: Cell::new(None),
        });
        let mut slots = self.slots.borrow_mut();
        let index = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(slots.len()).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::OutOfMemory,
                        "too many registered descriptors",
                    )
                })?;
                slots.push(Slot {
                    generation: 0,
                    state: None,
                });
                i
            }
        };
        let slot = &mut slots[index as usize];
        let tok = token(index, slot.generation);
        if let Err(e) =
            self.poll
                .borrow()
                .registry()
                .register(&mut mio::unix::SourceFd(&fd), tok, interest)
        {
            self.free.borrow_mut().push(index);
            return Err(e);
        }
        slot.state = Some(state.clone());
        Ok((tok, state))
    }

    /// Removes `fd` (registered under `tok`) from the poll set and frees
    /// its slot; events still queued for it are ignored.
    pub(crate) fn deregister(&self, fd: RawFd, tok: mio::Token) {
        // An error means the descriptor is gone already (closed behind our
        // back): the kernel dropped it from the poll set itself.
        let _ = self
            .poll
            .borrow()
            .registry()
            .deregister(&mut mio::unix::SourceFd(&fd));
        self.forget(tok);
    }

    /// Frees the slot of `tok` without touching the poll set: for a
    /// registration whose descriptor was closed already (the kernel
    /// dropped it from the poll set; its number may name another file
    /// now). Events still queued for it are ignored.
    pub(crate) fn forget(&self, tok: mio::Token) {
        let index = tok.0 as u32;
        let mut slots = self.slots.borrow_mut();
        if let Some(slot) = slots.get_mut(index as usize)
            && slot.state.is_some()
            && token(index, slot.generation) == tok
        {
            slot.state = None;
            slot.generation = slot.generation.wrapping_add(1);
            self.free.borrow_mut().push(index);
        }
    }

    /// The poll set's own descriptor.
    #[cfg_attr(not(feature = "hook"), allow(dead_code))]
    pub(crate) fn epoll_fd(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        self.poll.borrow().as_raw_fd()
    }

    /// Whether something outside this thread could still wake a coro.
    pub(crate) fn keeps_alive(&self) -> bool {
        self.remote.live.load(Ordering::Acquire) > 0 || self.remote.pending.load(Ordering::Acquire)
    }

    /// Waits for events for at most `timeout` (`None`: until something
    /// happens; `Some(ZERO)`: not at all), and readies the coros waiting
    /// for the descriptors that became ready.
    ///
    /// The wait has the kernel's timer resolution (`epoll_pwait2`), not
    /// whole milliseconds: a timer due in 0.3 ms is not fired a millisecond
    /// late (see `sys::epoll_wait`).
    pub(crate) fn poll(&self, s: &Scheduler, timeout: Option<Duration>) {
        use std::os::fd::AsRawFd;
        let mut events = self.events.borrow_mut();
        let epfd = self.poll.borrow().as_raw_fd();
        match crate::sys::epoll_wait(epfd, &mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // epoll_wait fails only on programming errors (bad fd,
                // bad buffer); do not spin on it.
                crate::warn::error("corio", format_args!("polling the reactor failed: {e}"));
                if let Some(t) = timeout {
                    std::thread::sleep(t);
                }
            }
        }
        // The waker's event needs no handling: the caller drains the queue.
        let slots = self.slots.borrow();
        for ev in events.iter() {
            let tok = mio::Token(ev.u64 as usize);
            if tok == WAKE {
                continue;
            }
            let index = tok.0 as u32;
            let Some(slot) = slots.get(index as usize) else {
                continue;
            };
            let Some(state) = &slot.state else { continue };
            if token(index, slot.generation) != tok {
                continue;
            }
            let dir = directions(ev.events);
            if dir != 0 {
                state.set_ready(s, dir);
                if let Some(hook) = state.hook.get() {
                    hook(s);
                }
            }
        }
    }

    /// Spins for at most `limit` until another thread queues a wake-up;
    /// whether one came.
    pub(crate) fn spin_for_wake(&self, limit: Duration) -> bool {
        let start = std::time::Instant::now();
        loop {
            for _ in 0..64 {
                if self.remote.pending.load(Ordering::Acquire) {
                    return true;
                }
                std::hint::spin_loop();
            }
            if start.elapsed() >= limit {
                return false;
            }
        }
    }

    /// The home scheduler is going away: later wake-ups are dropped, and
    /// the queued ones are dropped now (breaking their `Arc` cycles).
    pub(crate) fn close(&self) {
        let batch = {
            let mut queue = self.remote.queue.lock().unwrap_or_else(|e| e.into_inner());
            self.remote.closed.store(true, Ordering::Release);
            std::mem::take(&mut *queue)
        };
        self.remote.pending.store(false, Ordering::Release);
        drop(batch);
    }

    /// Runs what other threads queued for us.
    pub(crate) fn drain(&self, s: &Scheduler) {
        if !self.remote.pending.swap(false, Ordering::Acquire) {
            return;
        }
        let batch =
            std::mem::take(&mut *self.remote.queue.lock().unwrap_or_else(|e| e.into_inner()));
        for target in batch {
            target.wake_home(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Event flags decode as mio's `Event` decodes them.
    #[test]
    fn directions_follow_mio() {
        let d = |f: libc::c_int| directions(f as u32);
        assert_eq!(d(libc::EPOLLIN), READ);
        assert_eq!(d(libc::EPOLLPRI), READ);
        assert_eq!(d(libc::EPOLLOUT), WRITE);
        assert_eq!(d(libc::EPOLLIN | libc::EPOLLOUT), READ | WRITE);
        // A FIN: the read side is closed for good, writing still works.
        assert_eq!(
            d(libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLOUT),
            READ | READ_CLOSED | WRITE
        );
        // A hang-up or an error closes both sides.
        let both = READ | READ_CLOSED | WRITE | WRITE_CLOSED;
        assert_eq!(d(libc::EPOLLHUP), both);
        assert_eq!(d(libc::EPOLLERR), both);
        assert_eq!(d(libc::EPOLLIN | libc::EPOLLERR), both);
        // RDHUP without IN says nothing (mio's rule).
        assert_eq!(d(libc::EPOLLRDHUP), 0);
    }
}
