//! Linux backend of the platform layer (see `sys/mod.rs` for the contract).

use std::io;
use std::ptr;
use std::sync::OnceLock;
use std::time::Duration;

use super::GuardKind;

mod batch;
pub(crate) use batch::BATCH_MAX;
use batch::advise;
mod epoll;
pub(crate) use epoll::epoll_wait;

/// `madvise` advice that installs guard markers (Linux ≥ 6.13); not yet in
/// the `libc` crate.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Page size of this machine, read once.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 && (n as usize).is_power_of_two() {
            n as usize
        } else {
            4096
        }
    })
}

/// Reserves `len` bytes of private, read-write, lazily committed memory that
/// is never backed by transparent huge pages (one touched page of a stack
/// must cost one page, not two megabytes).
pub(crate) fn map_reserve(len: usize) -> io::Result<usize> {
    // SAFETY: an anonymous mapping at an address the kernel picks touches no
    // existing memory.
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the range was just mapped by us. Failure only means huge pages
    // are not configured, which is what we want anyway.
    unsafe { libc::madvise(addr, len, libc::MADV_NOHUGEPAGE) };
    Ok(addr as usize)
}

/// Makes `[addr, addr + len)` fault on any access.
///
/// # Safety
/// The range must be page aligned, lie inside a mapping made by
/// [`map_reserve`], and hold nothing anybody will read again.
pub(crate) unsafe fn guard_install(addr: usize, len: usize, kind: GuardKind) -> io::Result<()> {
    // SAFETY: the caller guarantees the range is ours and unused.
    let rc = unsafe {
        match kind {
            GuardKind::Madvise => libc::madvise(addr as *mut _, len, MADV_GUARD_INSTALL),
            GuardKind::Mprotect => libc::mprotect(addr as *mut _, len, libc::PROT_NONE),
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes every `(addr, len)` range fault on any access: with
/// `MADV_GUARD_INSTALL` 1,024 ranges per system call where the kernel takes
/// them batched (see `batch`), otherwise one call per range.
///
/// # Safety
/// As for [`guard_install`], for every range.
pub(crate) unsafe fn guard_install_all(
    ranges: &[(usize, usize)],
    kind: GuardKind,
) -> io::Result<()> {
    match kind {
        // SAFETY: the caller guarantees the ranges are ours and unused.
        GuardKind::Madvise => unsafe { advise(ranges, MADV_GUARD_INSTALL) },
        GuardKind::Mprotect => {
            for &(addr, len) in ranges {
                // SAFETY: as above.
                unsafe { guard_install(addr, len, kind)? };
            }
            Ok(())
        }
    }
}

/// Whether `madvise(MADV_GUARD_INSTALL)` works on this kernel: probed once on
/// a throw-away mapping.
pub(crate) fn madvise_guards_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let page = page_size();
        let Ok(addr) = map_reserve(2 * page) else {
            return false;
        };
        // SAFETY: the probe mapping is ours and holds nothing.
        let ok = unsafe { guard_install(addr, page, GuardKind::Madvise) }.is_ok();
        // SAFETY: unmapping the probe mapping we own.
        unsafe { libc::munmap(addr as *mut _, 2 * page) };
        ok
    })
}

/// Gives the pages of `[addr, addr + len)` back to the kernel; the range
/// stays mapped and reads as zero afterwards.
///
/// # Safety
/// The range must be page aligned, inside a mapping made by [`map_reserve`],
/// and hold nothing anybody will read again.
pub(crate) unsafe fn release(addr: usize, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: the caller guarantees the range is ours and dead. Failure leaves
    // the pages resident, which costs memory but nothing else.
    unsafe { libc::madvise(addr as *mut _, len, libc::MADV_DONTNEED) };
}

/// Gives the pages of every `(addr, len)` range back to the kernel, 1,024
/// ranges per system call where the kernel takes them batched (see
/// `batch`). The ranges stay mapped and read as zero afterwards.
///
/// # Safety
/// As for [`release`], for every range.
pub(crate) unsafe fn release_all(ranges: &[(usize, usize)]) {
    // SAFETY: the caller guarantees the ranges are ours and dead. Failure
    // leaves pages resident, which costs memory but nothing else.
    let _ = unsafe { advise(ranges, libc::MADV_DONTNEED) };
}

/// Whether guard pages are installed batched (1,024 per system call).
pub(crate) fn guards_batched() -> bool {
    batch::batched(MADV_GUARD_INSTALL)
}

/// A new non-blocking eventfd (close-on-exec), at 0.
pub(crate) fn eventfd() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: eventfd has no memory-safety preconditions.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by eventfd and is owned by nobody.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Sets an eventfd of [`eventfd`]'s back to 0 (nothing to read is fine).
pub(crate) fn eventfd_drain(fd: &std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    let mut counter = [0u8; 8];
    // SAFETY: reads at most 8 bytes into `counter`; the eventfd is
    // non-blocking.
    unsafe { libc::read(fd.as_raw_fd(), counter.as_mut_ptr().cast(), counter.len()) };
}

/// Whether the calling thread is the process's main thread (whose
/// thread-local destructors run inside `exit`).
pub(crate) fn is_main_thread() -> bool {
    // SAFETY: getpid and gettid have no preconditions.
    unsafe { libc::getpid() == libc::gettid() }
}

/// The kernel's timer slack for a thread that did not ask for another:
/// a timed wait ends up to this long after its deadline, so that wake-ups
/// can be merged.
const DEFAULT_TIMER_SLACK_NS: libc::c_ulong = 50_000;

/// The timer slack a scheduler thread waits with (see
/// [`tighten_timer_slack`]).
const TIMER_SLACK_NS: libc::c_ulong = 10_000;

/// Lowers the calling thread's timer slack from the kernel's default to
/// [`TIMER_SLACK_NS`], so that a timed `epoll_pwait2` ends within 10 µs of
/// the next timer instead of within 50. A thread whose slack is not the
/// default (its program chose one) keeps it.
///
/// The scheduler merges its own timers already; the kernel's extra 50 µs
/// made every coro woken by a timer answer later, and under load, with
/// timers falling due together, each of them queued behind the others.
pub(crate) fn tighten_timer_slack() {
    // SAFETY: PR_GET_TIMERSLACK takes no pointer; it returns the slack.
    let now = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK) };
    if libc::c_ulong::try_from(now) == Ok(DEFAULT_TIMER_SLACK_NS) {
        // SAFETY: PR_SET_TIMERSLACK takes a value, no pointer; it changes
        // the calling thread only. Refused, the slack stays as it was.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, TIMER_SLACK_NS) };
    }
}

/// CPU time consumed by the calling thread.
pub(crate) fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The handlers that were installed for `SIGSEGV` and `SIGBUS` before ours,
/// so that faults that are not ours reach them unchanged.
struct Previous {
    segv: libc::sigaction,
    bus: libc::sigaction,
}

// SAFETY: `libc::sigaction` is plain data (integers, a signal mask and
// function addresses); it is written once, before our handler is
// installed, and only read afterwards.
unsafe impl Sync for Previous {}
// SAFETY: as above.
unsafe impl Send for Previous {}

static PREVIOUS: OnceLock<Previous> = OnceLock::new();

/// Installs the stack-overflow reporter for `SIGSEGV` and `SIGBUS` (once per
/// process). It must be in place before the first coro stack is handed out.
pub(crate) fn install_overflow_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Record the handlers in place *before* ours goes in: a fault that
        // is not ours, arriving the moment ours is installed, must find
        // them (it would otherwise fault again forever).
        // SAFETY: an all-zero sigaction is a valid "nothing" value that the
        // kernel overwrites; a null new action only queries.
        let mut prev: Previous = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe {
            libc::sigaction(libc::SIGSEGV, ptr::null(), &mut prev.segv);
            libc::sigaction(libc::SIGBUS, ptr::null(), &mut prev.bus);
        }
        if PREVIOUS.set(prev).is_err() {
            return;
        }
        // SAFETY: a zeroed sigaction with our handler, SA_SIGINFO so that we
        // get the fault address, SA_ONSTACK so that it runs on the alternate
        // signal stack once the coro stack is exhausted.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fault as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGSEGV, &action, ptr::null_mut());
            libc::sigaction(libc::SIGBUS, &action, ptr::null_mut());
        }
    });
}

/// The fault handler: reports a guard-page hit on a corio stack and aborts;
/// hands every other fault to the previous handler.
extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let mut buf = [0u8; 512];
    if let Some(len) = crate::stack::describe_overflow(addr, &mut buf) {
        // SAFETY: write(2) and abort(3) are async-signal-safe; `buf[..len]`
        // is initialised.
        unsafe {
            libc::write(2, buf.as_ptr().cast(), len);
            libc::abort();
        }
    }
    let Some(prev) = PREVIOUS.get() else {
        // Cannot happen (PREVIOUS is set before the handler goes in), but
        // never loop: fall back to the default action.
        // SAFETY: resetting a signal disposition is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &action, ptr::null_mut());
        }
        return;
    };
    let prev = if sig == libc::SIGBUS {
        &prev.bus
    } else {
        &prev.segv
    };
    let handler = prev.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction
        // runs again and the kernel ends the process the usual way.
        // SAFETY: resetting a signal disposition is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &action, ptr::null_mut());
        }
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: a handler installed with SA_SIGINFO has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: a handler installed without SA_SIGINFO has this signature.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
}

/// An alternate signal stack that this crate installed for the current
/// thread (the fault handler needs one: the faulting stack is full).
#[derive(Debug)]
pub(crate) struct AltStack {
    map: usize,
    len: usize,
}

impl AltStack {
    /// Installs an alternate signal stack unless the thread already has one
    /// (threads made by `std::thread` do). Returns the stack to keep alive
    /// for the thread's lifetime, if one was installed.
    pub(crate) fn ensure() -> Option<AltStack> {
        // SAFETY: querying the current alternate stack with a valid out-pointer.
        let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::sigaltstack(ptr::null(), &mut current) } != 0 {
            return None;
        }
        if current.ss_flags & libc::SS_DISABLE == 0 {
            return None;
        }
        let page = page_size();
        // SAFETY: getauxval has no preconditions; 0 means "unknown".
        let min = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) } as usize;
        let size = (min.max(libc::SIGSTKSZ) + 16 * 1024).next_multiple_of(page);
        let len = size + page;
        let map = map_reserve(len).ok()?;
        // SAFETY: the low page of our fresh mapping becomes a guard page.
        if unsafe { guard_install(map, page, GuardKind::Mprotect) }.is_err() {
            // SAFETY: unmapping our own fresh mapping.
            unsafe { libc::munmap(map as *mut _, len) };
            return None;
        }
        let stack = libc::stack_t {
            ss_sp: (map + page) as *mut _,
            ss_flags: 0,
            ss_size: size,
        };
        // SAFETY: the stack memory stays mapped until `Drop` disables it.
        if unsafe { libc::sigaltstack(&stack, ptr::null_mut()) } != 0 {
            // SAFETY: unmapping our own fresh mapping.
            unsafe { libc::munmap(map as *mut _, len) };
            return None;
        }
        Some(AltStack { map, len })
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let page = page_size();
        let disable = libc::stack_t {
            ss_sp: ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        // SAFETY: only disable the alternate stack if it is still ours, then
        // unmap it; nothing runs on it at this point (we are not in a handler).
        unsafe {
            let mut current: libc::stack_t = std::mem::zeroed();
            libc::sigaltstack(ptr::null(), &mut current);
            if current.ss_sp as usize == self.map + page {
                libc::sigaltstack(&disable, ptr::null_mut());
                libc::munmap(self.map as *mut _, self.len);
            }
        }
    }
}
