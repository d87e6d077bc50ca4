//! Where a hook decides whether it may park the calling coro, and how it
//! does: the thread's registrations, the waits, adoption of descriptors,
//! and the blocking loop every transfer runs.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use libc::c_int;

use super::real;
use super::table::{self, ADOPTED, NONBLOCK, NOPOLL, REGISTERED, Rec, SOCKET, STREAM};
use crate::io::reg::IoWaiting;
use crate::sched::inner::{CoroInner, What};
pub(super) use crate::sched::reactor::{IoState, READ, WRITE};
use crate::sched::timer::Action;
use crate::sched::wait::WaitNode;
use crate::sched::{Scheduler, try_sched};

/// Set in a child after `fork`: it shares the parent's epoll instances
/// and descriptors' records, so every hook passes straight through there.
pub(super) static FORKED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while a hook updates this thread's state: a hook called from
    /// inside (a signal handler, a `Drop`) passes straight through.
    static BUSY: Cell<bool> = const { Cell::new(false) };
    /// This thread's registrations of tracked descriptors, by number.
    static LOCAL: RefCell<Vec<Option<Local>>> = const { RefCell::new(Vec::new()) };
}

/// A tracked descriptor registered with this thread's reactor.
struct Local {
    /// The record's generation when it was registered.
    generation: u32,
    tok: mio::Token,
    state: Rc<IoState>,
}

/// The errno of the calling thread.
#[inline]
pub(super) fn errno() -> c_int {
    // SAFETY: glibc's per-thread errno location is always valid.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
#[inline]
pub(super) fn set_errno(e: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = e };
}

/// Sets errno to `e` and returns -1.
#[inline]
pub(super) fn fail(e: c_int) -> isize {
    set_errno(e);
    -1
}

/// A context where the calling coro may park.
#[derive(Clone, Copy)]
pub(super) struct Ctx {
    pub(super) s: &'static Scheduler,
    pub(super) me: &'static CoroInner,
}

/// The context to park in, if the caller may park: the thread has a live
/// scheduler (a hook never makes one), the call does not come from the
/// scheduler loop or from inside another hook, and this is not a forked
/// child. Costs two thread-local reads.
#[inline]
pub(super) fn ctx() -> Option<Ctx> {
    if FORKED.load(Ordering::Relaxed) || BUSY.with(Cell::get) {
        return None;
    }
    let s = try_sched()?;
    if s.in_loop() {
        return None;
    }
    Some(Ctx { s, me: s.cur() })
}

/// Marks this thread busy in a hook until dropped.
struct Busy;

impl Busy {
    fn enter() -> Busy {
        BUSY.with(|b| b.set(true));
        Busy
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.with(|b| b.set(false));
    }
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// A direction waited for is (believed) ready.
    Ready,
    /// The deadline passed.
    TimedOut,
    /// The coro has an interrupt pending (cancel, throw, `timeout`).
    Interrupted,
}

impl Ctx {
    /// The errno a call interrupted by the coro's pending interrupt
    /// returns: `ETIMEDOUT` for a `corio::timeout`, else `ECANCELED`.
    pub(super) fn interrupt_errno(&self) -> c_int {
        if self.s.timed_out(self.me) {
            libc::ETIMEDOUT
        } else {
            libc::ECANCELED
        }
    }

    /// Whether the coro has an interrupt pending.
    #[inline]
    pub(super) fn interrupted(&self) -> bool {
        self.s.would_raise(self.me)
    }

    /// Parks the coro without unwinding. A panic of a switch hook is caught
    /// and thrown at the coro again, for its next blocking corio call.
    fn park(&self, loc: &'static Location<'static>, what: What) {
        let s = self.s;
        if !matches!(what, What::Nothing) {
            // A wait for a descriptor or a sleep, after system calls.
            crate::sched::count_syscall_park(s);
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| s.park_quiet(loc, what))) {
            s.throw(self.me, payload);
        }
    }

    /// Gives the CPU to the other ready coros once (a zero sleep).
    pub(super) fn cede(&self, loc: &'static Location<'static>) {
        if self.interrupted() {
            return;
        }
        self.s.ready(self.me);
        self.park(loc, What::Nothing);
    }

    /// Sleeps until `deadline` (`None`: until interrupted) or until the
    /// coro has an interrupt pending.
    pub(super) fn sleep_until(&self, deadline: Option<Instant>, loc: &'static Location<'static>) {
        let timer = deadline.map(|d| self.s.timers.arm(d, Action::Ready(self.me)));
        loop {
            if self.interrupted() {
                return;
            }
            if timer.as_ref().is_some_and(|t| t.fired()) {
                return;
            }
            self.park(loc, What::Sleep);
        }
    }

    /// Parks until one of `waits` (a state and the directions wanted) is
    /// ready, `deadline` passes, or an interrupt is pending. The caller
    /// cleared the directions after the kernel said they would block.
    pub(super) fn wait_any(
        &self,
        waits: &[(&IoState, u8)],
        deadline: Option<Instant>,
        what: What,
        loc: &'static Location<'static>,
    ) -> Wait {
        let ready = || {
            waits.iter().any(|(st, dir)| {
                (dir & READ != 0 && st.is_ready(READ)) || (dir & WRITE != 0 && st.is_ready(WRITE))
            })
        };
        // A registration released under us (the descriptor was closed):
        // its waiters were woken, and the caller finds out why.
        let released = || waits.iter().any(|(st, _)| st.released());
        if ready() {
            return Wait::Ready;
        }
        if self.interrupted() {
            return Wait::Interrupted;
        }
        // One node per list the coro waits in (a node is in one list).
        let mut lists = Vec::new();
        for (st, dir) in waits {
            if dir & READ != 0 {
                lists.push(&st.readers);
            }
            if dir & WRITE != 0 {
                lists.push(&st.writers);
            }
        }
        let nodes: Pin<Box<[WaitNode]>> =
            Box::into_pin(lists.iter().map(|_| WaitNode::new(self.me)).collect());
        let timer = deadline.map(|d| self.s.timers.arm(d, Action::Ready(self.me)));
        let _counted = IoWaiting::enter(self.s);
        loop {
            for (list, node) in lists.iter().zip(nodes.iter()) {
                // SAFETY: the boxed slice is pinned and never moved; each
                // node stays where it is until the box is dropped.
                list.push_back(unsafe { Pin::new_unchecked(node) });
            }
            self.park(loc, what);
            for (list, node) in lists.iter().zip(nodes.iter()) {
                list.remove(node);
            }
            if ready() || released() {
                return Wait::Ready;
            }
            if self.interrupted() {
                return Wait::Interrupted;
            }
            if timer.as_ref().is_some_and(|t| t.fired()) {
                return Wait::TimedOut;
            }
        }
    }

    /// [`wait_any`](Self::wait_any) for one direction of one state, without
    /// allocating.
    pub(super) fn wait_one(
        &self,
        st: &IoState,
        dir: u8,
        deadline: Option<Instant>,
        what: What,
        loc: &'static Location<'static>,
    ) -> Wait {
        self.wait_one_as(st, dir, deadline, what, loc, true)
    }

    /// [`wait_one`](Self::wait_one); with `interruptible` false, a pending
    /// interrupt does not end the wait (for callers to whom any error is
    /// fatal: it is delivered at the coro's next corio call instead).
    pub(super) fn wait_one_as(
        &self,
        st: &IoState,
        dir: u8,
        deadline: Option<Instant>,
        what: What,
        loc: &'static Location<'static>,
        interruptible: bool,
    ) -> Wait {
        if st.is_ready(dir) {
            return Wait::Ready;
        }
        if interruptible && self.interrupted() {
            return Wait::Interrupted;
        }
        let list = st.waiters(dir);
        let node = pin!(WaitNode::new(self.me));
        let timer = deadline.map(|d| self.s.timers.arm(d, Action::Ready(self.me)));
        let _counted = IoWaiting::enter(self.s);
        loop {
            list.push_back(node.as_ref());
            self.park(loc, what);
            list.remove(&node);
            if st.is_ready(dir) || st.released() {
                return Wait::Ready;
            }
            if interruptible && self.interrupted() {
                return Wait::Interrupted;
            }
            if timer.as_ref().is_some_and(|t| t.fired()) {
                return Wait::TimedOut;
            }
        }
    }
}

/// A descriptor's registration for one wait.
pub(super) enum Reg {
    /// A tracked descriptor's registration, kept until it is closed.
    Kept(Rc<IoState>),
    /// An untracked descriptor (or one registered by somebody else, through
    /// a duplicate): removed again when dropped.
    Temp(TempReg),
}

impl Reg {
    pub(super) fn state(&self) -> &IoState {
        match self {
            Reg::Kept(st) => st,
            Reg::Temp(t) => &t.state,
        }
    }
}

/// A registration for the length of one wait.
pub(super) struct TempReg {
    s: &'static Scheduler,
    /// The descriptor registered: the caller's, or a duplicate of it.
    fd: c_int,
    dup: bool,
    tok: mio::Token,
    state: Rc<IoState>,
}

impl Drop for TempReg {
    fn drop(&mut self) {
        let _busy = Busy::enter();
        if let Some(r) = self.s.reactor_if_made() {
            r.deregister(self.fd, self.tok);
        }
        if self.dup {
            let saved = errno();
            // SAFETY: our own duplicate, closed once.
            unsafe { real::close(self.fd) };
            set_errno(saved);
        }
    }
}

/// Both directions, for every registration.
fn both() -> mio::Interest {
    mio::Interest::READABLE | mio::Interest::WRITABLE
}

/// Registers `fd` for one wait; when somebody else holds its registration
/// on this reactor (`EEXIST`), a duplicate of it stands in.
fn temp(c: &Ctx, fd: c_int) -> Option<TempReg> {
    let r = c.s.reactor().ok()?;
    match r.register(fd, both()) {
        Ok((tok, state)) => Some(TempReg {
            s: c.s,
            fd,
            dup: false,
            tok,
            state,
        }),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            // SAFETY: F_DUPFD_CLOEXEC on a descriptor the caller passed.
            let d = unsafe { real::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
            if d < 0 {
                return None;
            }
            match r.register(d, both()) {
                Ok((tok, state)) => Some(TempReg {
                    s: c.s,
                    fd: d,
                    dup: true,
                    tok,
                    state,
                }),
                Err(_) => {
                    // SAFETY: our own duplicate.
                    unsafe { real::close(d) };
                    None
                }
            }
        }
        Err(_) => None,
    }
}

/// The registration of `fd` on this thread (made now if needed), or
/// `None` when it cannot be waited for here. `rec` is its record if
/// tracked; `generation` the record's generation the caller saw.
pub(super) fn registration(c: &Ctx, fd: c_int, rec: Option<&Rec>, generation: u32) -> Option<Reg> {
    let saved = errno();
    let _busy = Busy::enter();
    let reg = registration_inner(c, fd, rec, generation);
    set_errno(saved);
    reg
}

fn registration_inner(c: &Ctx, fd: c_int, rec: Option<&Rec>, generation: u32) -> Option<Reg> {
    let Some(rec) = rec else {
        return temp(c, fd).map(Reg::Temp);
    };
    let index = usize::try_from(fd).ok()?;
    // A registration from before the descriptor was closed and its number
    // reused: the kernel dropped it from the poll set; free its slot.
    let stale = LOCAL
        .try_with(|l| {
            let mut l = l.try_borrow_mut().ok()?;
            match l.get(index) {
                Some(Some(have)) if have.generation == generation => Some(Ok(have.state.clone())),
                Some(Some(_)) => Some(Err(l[index].take())),
                _ => Some(Err(None)),
            }
        })
        .ok()??;
    let old = match stale {
        Ok(state) => return Some(Reg::Kept(state)),
        Err(old) => old,
    };
    let r = c.s.reactor().ok()?;
    if let Some(old) = old {
        r.forget(old.tok);
    }
    match r.register(fd, both()) {
        Ok((tok, state)) => {
            let kept = LOCAL.try_with(|l| {
                let mut l = l.try_borrow_mut().ok()?;
                if l.len() <= index {
                    l.resize_with(index + 1, || None);
                }
                l[index] = Some(Local {
                    generation,
                    tok,
                    state: state.clone(),
                });
                Some(())
            });
            if !matches!(kept, Ok(Some(()))) {
                r.deregister(fd, tok);
                return None;
            }
            rec.set(REGISTERED);
            Some(Reg::Kept(state))
        }
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            rec.set(NOPOLL);
            None
        }
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => temp(c, fd).map(Reg::Temp),
        Err(_) => None,
    }
}

/// Drops this thread's registration of `fd` (it is being closed, or
/// somebody else registers it): wakes the coros waiting on it, which
/// notice the change, and removes it from the poll set. Returns whether
/// there was one.
pub(super) fn release(fd: c_int) -> bool {
    let Ok(index) = usize::try_from(fd) else {
        return false;
    };
    let _busy = Busy::enter();
    let taken = LOCAL
        .try_with(|l| {
            l.try_borrow_mut()
                .ok()
                .and_then(|mut l| l.get_mut(index).and_then(Option::take))
        })
        .ok()
        .flatten();
    let Some(local) = taken else {
        return false;
    };
    let saved = errno();
    local.state.release();
    if let Some(s) = try_sched() {
        for list in [&local.state.readers, &local.state.writers] {
            while let Some(node) = list.pop_front_node() {
                s.ready(node.coro());
            }
        }
        if let Some(r) = s.reactor_if_made() {
            r.deregister(fd, local.tok);
        }
    }
    set_errno(saved);
    true
}

/// Makes `fd` non-blocking underneath (once), keeping the caller's view
/// in the record. Fails (and the caller blocks the thread in the kernel
/// instead) for the standard streams and when `fcntl` refuses.
pub(super) fn adopt(fd: c_int, rec: &Rec) -> bool {
    if rec.flags() & ADOPTED != 0 {
        return true;
    }
    if fd <= 2 {
        return false;
    }
    let saved = errno();
    // SAFETY: F_GETFL/F_SETFL on a descriptor the caller passed.
    let ok = unsafe {
        let fl = real::fcntl(fd, libc::F_GETFL, 0);
        fl >= 0
            && (fl & libc::O_NONBLOCK != 0
                || real::fcntl(fd, libc::F_SETFL, (fl | libc::O_NONBLOCK) as usize) >= 0)
    };
    set_errno(saved);
    if ok {
        rec.set(ADOPTED);
    }
    ok
}

/// Whether `fd`'s open file description is non-blocking (it may have been
/// adopted through a duplicate).
fn really_nonblocking(fd: c_int) -> bool {
    let saved = errno();
    // SAFETY: F_GETFL on a descriptor the caller passed.
    let fl = unsafe { real::fcntl(fd, libc::F_GETFL, 0) };
    set_errno(saved);
    fl >= 0 && fl & libc::O_NONBLOCK != 0
}

/// How many bytes a transfer must move before it returns.
#[derive(Clone, Copy)]
pub(super) enum Mode {
    /// Return the first success (a read, a datagram, `accept`).
    Once,
    /// Move this many bytes, unless end of stream, an error or the timeout
    /// comes first.
    All(usize),
    /// This many bytes where the descriptor is a byte stream (a stream
    /// socket, a pipe), one call otherwise: a write, and a `recv` with
    /// `MSG_WAITALL` (which means "the whole message" only on a byte
    /// stream; on a datagram socket each call takes one datagram, and
    /// joining them would lose their boundaries and senders).
    Whole(usize),
}

impl Mode {
    /// This mode for `rec`'s descriptor: `Whole` is `All` on a byte
    /// stream and `Once` otherwise.
    fn on(self, rec: &Rec) -> Mode {
        match self {
            Mode::Whole(len) if rec.flags() & STREAM != 0 => Mode::All(len),
            Mode::Whole(_) => Mode::Once,
            m => m,
        }
    }
}

/// The timeout (ns, 0 for none) a transfer in `dir` on `rec`'s descriptor
/// waits: the socket's `SO_RCVTIMEO`/`SO_SNDTIMEO`; other descriptors have
/// none.
fn timeout_ns(rec: &Rec, dir: u8) -> u64 {
    if rec.flags() & SOCKET != 0 {
        rec.timeout_ns(dir == READ)
    } else {
        0
    }
}

/// The deadline `timeout_ns` from now, if any.
fn deadline_after(ns: u64) -> Option<Instant> {
    if ns == 0 {
        None
    } else {
        Instant::now().checked_add(Duration::from_nanos(ns))
    }
}

/// Runs a transfer on `fd` with the semantics of a blocking call, parking
/// the calling coro where the kernel would block the thread. `op(done)`
/// makes one real call for what is left after `done` bytes and returns
/// its result with errno set. Calls on untracked descriptors and on
/// descriptors the caller made non-blocking pass straight through.
#[inline]
#[track_caller]
pub(super) fn transfer(fd: c_int, dir: u8, mode: Mode, op: impl FnMut(usize) -> isize) -> isize {
    transfer_as(fd, dir, mode, What::Fd(fd, dir), op)
}

/// [`transfer`] telling `ps` `what` the coro waits for.
#[inline]
#[track_caller]
pub(super) fn transfer_as(
    fd: c_int,
    dir: u8,
    mode: Mode,
    what: What,
    mut op: impl FnMut(usize) -> isize,
) -> isize {
    let Some(rec) = table::tracked(fd) else {
        return op(0);
    };
    let f = rec.flags();
    if f & (NONBLOCK | NOPOLL) != 0 {
        return op(0);
    }
    if f & ADOPTED == 0 && ctx().is_none() {
        // Not adopted, and no coro to park here: the kernel blocks the
        // thread, as it would without the hooks.
        let r = op(0);
        if r < 0 && errno() == libc::EAGAIN {
            return unadopted_eagain(fd, rec, dir, mode, &mut op);
        }
        return r;
    }
    transfer_slow(fd, rec, dir, mode, what, Location::caller(), &mut op)
}

/// `EAGAIN` from a blocking call on a descriptor never adopted here: the
/// kernel's own timeout (`SO_RCVTIMEO`), or the open file description was
/// adopted through a duplicate — then wait as the caller expects.
#[cold]
#[inline(never)]
fn unadopted_eagain(
    fd: c_int,
    rec: &Rec,
    dir: u8,
    mode: Mode,
    op: &mut dyn FnMut(usize) -> isize,
) -> isize {
    if !really_nonblocking(fd) {
        return fail(libc::EAGAIN);
    }
    rec.set(ADOPTED);
    let mode = mode.on(rec);
    emulate(fd, dir, mode, deadline_after(timeout_ns(rec, dir)), 0, op)
}

#[cold]
#[inline(never)]
fn transfer_slow(
    fd: c_int,
    rec: &Rec,
    dir: u8,
    mode: Mode,
    what: What,
    loc: &'static Location<'static>,
    op: &mut dyn FnMut(usize) -> isize,
) -> isize {
    let timeout_ns = timeout_ns(rec, dir);
    let Some(c) = ctx() else {
        let mode = mode.on(rec);
        if rec.flags() & ADOPTED == 0 {
            let r = op(0);
            if !(r < 0 && errno() == libc::EAGAIN && really_nonblocking(fd)) {
                return r;
            }
            // Adopted through a duplicate: wait as the caller expects.
            rec.set(ADOPTED);
        }
        return emulate(fd, dir, mode, deadline_after(timeout_ns), 0, op);
    };
    if !adopt(fd, rec) {
        return op(0);
    }
    let mode = mode.on(rec);
    let generation = rec.generation();
    let mut deadline = None;
    let mut first = true;
    let mut done = 0usize;
    loop {
        if let Some(r) = attempt(dir, mode, &mut done, op) {
            return r;
        }
        if first {
            first = false;
            deadline = deadline_after(timeout_ns);
        }
        if rec.generation() != generation {
            return partial(done, libc::EBADF);
        }
        let Some(reg) = registration(&c, fd, Some(rec), generation) else {
            return emulate(fd, dir, mode, deadline, done, op);
        };
        let st = reg.state();
        st.clear(dir);
        match c.wait_one(st, dir, deadline, what, loc) {
            Wait::Ready => {
                if rec.generation() != generation {
                    return partial(done, libc::EBADF);
                }
            }
            Wait::TimedOut => return partial(done, libc::EAGAIN),
            Wait::Interrupted => return partial(done, c.interrupt_errno()),
        }
    }
}

/// Tries the transfer (`op`, `done` bytes in) until it is over or must
/// wait: `Some(result)` when it moved what `mode` asks, met end of stream
/// or failed with an error other than `EAGAIN` (`done` counts the bytes
/// moved); `None` on `EAGAIN`, to wait for `dir` and try again.
#[inline]
fn attempt(
    dir: u8,
    mode: Mode,
    done: &mut usize,
    op: &mut dyn FnMut(usize) -> isize,
) -> Option<isize> {
    loop {
        let r = op(*done);
        if r >= 0 {
            match mode {
                Mode::Once | Mode::Whole(_) => return Some(r),
                Mode::All(len) => {
                    // A zero-byte read is end of stream.
                    if r == 0 && dir == READ {
                        return Some(*done as isize);
                    }
                    *done = done.saturating_add(r as usize);
                    if *done >= len || r == 0 {
                        return Some(*done as isize);
                    }
                    continue;
                }
            }
        }
        let e = errno();
        if e == libc::EINTR {
            continue;
        }
        if e != libc::EAGAIN {
            return Some(partial(*done, e));
        }
        return None;
    }
}

/// The result of a transfer that stops with error `e` after `done` bytes:
/// a short count if any moved, else -1 with errno `e`.
fn partial(done: usize, e: c_int) -> isize {
    if done > 0 { done as isize } else { fail(e) }
}

/// A blocking transfer on an adopted descriptor where the coro cannot
/// park (no scheduler on this thread, a call from the scheduler loop or a
/// forked child): waits in the kernel with `poll`, honouring the timeout,
/// so the caller sees what a blocking descriptor would give it.
fn emulate(
    fd: c_int,
    dir: u8,
    mode: Mode,
    deadline: Option<Instant>,
    mut done: usize,
    op: &mut dyn FnMut(usize) -> isize,
) -> isize {
    loop {
        if let Some(r) = attempt(dir, mode, &mut done, op) {
            return r;
        }
        if !poll_one(fd, dir, deadline) {
            return partial(done, libc::EAGAIN);
        }
    }
}

/// Blocks the thread in `poll` until `fd` is ready for `dir` (true) or
/// `deadline` passes (false). Signals do not end the wait.
pub(super) fn poll_one(fd: c_int, dir: u8, deadline: Option<Instant>) -> bool {
    let events = if dir == READ {
        libc::POLLIN
    } else {
        libc::POLLOUT
    };
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                // Round up, so the wait does not end just before `d`.
                c_int::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(c_int::MAX)
            }
        };
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { real::poll(&mut p, 1, ms) };
        if n > 0 {
            return true;
        }
        if n < 0 && errno() != libc::EINTR {
            // POLLNVAL and friends come back as events; a failing poll
            // means the call itself will fail: let it.
            return true;
        }
    }
}

/// Waits, parking the coro, until tracked or untracked `fd` is ready for
/// `dir`, `deadline` passes or an interrupt is pending; without a context
/// to park in (or for a descriptor epoll refuses) blocks the thread in
/// `poll` instead.
#[track_caller]
pub(super) fn wait_fd(c: Option<&Ctx>, fd: c_int, dir: u8, deadline: Option<Instant>) -> Wait {
    let loc = Location::caller();
    if let Some(c) = c {
        let rec = table::tracked(fd);
        let generation = rec.map_or(0, Rec::generation);
        if let Some(reg) = registration(c, fd, rec, generation) {
            let st = reg.state();
            st.clear(dir);
            return c.wait_one(st, dir, deadline, What::Fd(fd, dir), loc);
        }
    }
    if poll_one(fd, dir, deadline) {
        Wait::Ready
    } else {
        Wait::TimedOut
    }
}
