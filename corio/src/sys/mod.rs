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

/// Asks the caches for the `len` bytes from `addr`, to be written soon: a
/// hint that reads nothing into the program, changes nothing it can see,
/// and never faults, whatever the address (a guard page, a page not mapped
/// yet). A no-op on targets without such an instruction.
#[inline(always)]
pub(crate) fn prefetch_write(addr: usize, len: usize) {
    for line in (addr & !63..addr.saturating_add(len)).step_by(64) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `prefetchw` is a hint: it never faults and touches no
        // register or memory the program sees (CPUs without it run it as a
        // no-op).
        unsafe {
            std::arch::asm!("prefetchw [{}]", in(reg) line, options(nostack, preserves_flags, readonly))
        };
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `prfm` is a hint: it never faults and touches no register
        // or memory the program sees.
        unsafe {
            std::arch::asm!("prfm pstl1keep, [{}]", in(reg) line, options(nostack, preserves_flags, readonly))
        };
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let _ = line;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefetch is a hint: on memory that is not there, or that may not
    /// be touched, it does nothing (the SAFETY comments rely on it).
    #[test]
    fn prefetch_write_never_faults() {
        prefetch_write(0, 4096);
        let page = page_size();
        // SAFETY: a fresh anonymous mapping, unmapped below; nothing else
        // uses it.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            prefetch_write(p as usize, 2 * page);
            assert_eq!(libc::munmap(p, 2 * page), 0);
            // Unmapped now.
            prefetch_write(p as usize, 2 * page);
        }
        // Lengths that run past the end of the address space stop there.
        prefetch_write(usize::MAX - 63, 4096);
    }
}
