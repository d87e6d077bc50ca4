//! Platform layer: everything that talks to the operating system about
//! memory, signals, clocks and waiting lives here, behind one small interface.
//!
//! Each backend must provide:
//!
//! - `page_size() -> usize`
//! - `map_reserve(len) -> io::Result<usize>`: a private, read-write,
//!   lazily committed mapping that is never backed by huge pages.
//! - `guard_install(addr, len, GuardKind) -> io::Result<()>`: make a range
//!   inaccessible so that touching it faults.
//! - `guard_install_all(ranges, GuardKind)`: the same for many ranges, in
//!   as few system calls as the kernel allows; `guards_batched()` says
//!   whether that is fewer than one per range, and `BATCH_MAX` how many
//!   ranges a batch takes.
//! - `release(addr, len)`: drop the pages of a range (they read as zero
//!   afterwards) without giving up the address space; `release_all(ranges)`
//!   for many ranges, batched like `guard_install_all`.
//! - `is_main_thread()`: whether the caller is the process's main thread.
//! - `install_overflow_handler()`: a `SIGSEGV`/`SIGBUS` handler that reports
//!   a hit on a coro stack's guard page and aborts, and chains to whatever
//!   handler was there before for every other fault.
//! - `AltStack::ensure()`: make sure the calling thread has an alternate
//!   signal stack, so the handler can run after the stack overflowed.
//! - `stack_pointer() -> usize`: an address inside the current frame.
//! - `thread_cpu_time() -> Duration`.
//! - `epoll_wait(epfd, events, timeout)`: wait on an epoll set for at most
//!   `timeout`, with sub-millisecond resolution where the kernel allows.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
compile_error!(
    "corio supports Linux only for now: its stacks rely on mmap/madvise guard pages and its signal handling on Linux semantics"
);

/// How guard pages are made inaccessible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GuardKind {
    /// `madvise(MADV_GUARD_INSTALL)` (Linux ≥ 6.13): the guard lives in the
    /// page tables, the mapping is not split, so a million stacks in one
    /// mapping cost one VMA.
    Madvise,
    /// `mprotect(PROT_NONE)`: works everywhere, but splits the mapping, so
    /// every guard costs two entries of `vm.max_map_count`.
    Mprotect,
}

/// Whether this process runs under valgrind, which preloads its
/// `vgpreload_*.so` into the programs it runs. Its memcheck cannot see the
/// kernel fill buffers through io_uring (it would report every byte read as
/// uninitialised), nor knows `process_madvise` (so `fs` and the stacks'
/// batched guards take their plain paths there).
pub(crate) fn under_valgrind() -> bool {
    std::env::var_os("LD_PRELOAD").is_some_and(|v| {
        std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str())
            .windows(9)
            .any(|w| w == b"vgpreload")
    })
}

/// Returns the current stack pointer (an address in the caller's frame).
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let sp: usize;
        // SAFETY: reads a register; touches no memory and no flags.
        unsafe {
            std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(target_arch = "aarch64")]
    {
        let sp: usize;
        // SAFETY: reads a register; touches no memory and no flags.
        unsafe {
            std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let marker = 0u8;
        std::hint::black_box(&marker) as *const u8 as usize
    }
}
