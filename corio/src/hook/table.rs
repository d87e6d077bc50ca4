//! What the hooks know about each descriptor: one record per descriptor
//! number, in a process-wide table.
//!
//! The table is made of chunks of [`CHUNK`] records, mapped (zeroed) on
//! first need and never freed or moved, behind atomic pointers: a lookup
//! takes no lock, allocates nothing and is safe in a signal handler, a
//! forked child, before `main` and during thread exit. Descriptors beyond
//! the table (over four million) simply have no record, and every call on
//! them passes straight through.
//!
//! # A record's protocol
//! - The hooks that create a descriptor (`socket`, `accept`, `pipe`, `dup`,
//!   `epoll_create`, ...) write its record whole: [`TRACKED`], its kind,
//!   and the caller's view of blocking ([`NONBLOCK`]). Only these
//!   descriptors are ever *adopted* (made non-blocking underneath).
//! - `close` (and `dup2` onto it) clears the record before the descriptor
//!   goes, so a number reused by another thread gets a fresh one.
//! - `gen` changes whenever the record is rewritten or cleared: a coro
//!   that parked on the old descriptor notices when it wakes.
//! - Flags change with atomic read-modify-writes; racing updates of one
//!   descriptor from two threads are as racy as the calls themselves.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// The descriptor was made by a hooked call of this process.
pub(super) const TRACKED: u32 = 1;
/// The caller's view: non-blocking (`SOCK_NONBLOCK`, `O_NONBLOCK`,
/// `FIONBIO`). Calls pass straight through and `EAGAIN` comes back.
pub(super) const NONBLOCK: u32 = 2;
/// We set `O_NONBLOCK` on the open file description (the caller did not).
pub(super) const ADOPTED: u32 = 4;
/// epoll refused it: never parks (it behaves like a regular file).
pub(super) const NOPOLL: u32 = 8;
/// A byte stream: a stream socket or a pipe. A blocking write queues
/// every byte before it returns.
pub(super) const STREAM: u32 = 16;
/// Registered with some thread's reactor at some point: `close` looks for
/// this thread's registration.
pub(super) const REGISTERED: u32 = 32;
/// A socket (timeouts apply).
pub(super) const SOCKET: u32 = 64;
/// A pipe.
pub(super) const PIPE: u32 = 128;

/// Records per chunk.
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
/// Chunks: descriptors below `CHUNKS * CHUNK` (4,194,304) have records.
const CHUNKS: usize = 1024;

/// One descriptor's record (see the module docs).
#[derive(Debug)]
pub(super) struct Rec {
    flags: AtomicU32,
    generation: AtomicU32,
    /// `SO_RCVTIMEO` in nanoseconds, 0 for none.
    rcv: AtomicU64,
    /// `SO_SNDTIMEO` in nanoseconds, 0 for none.
    snd: AtomicU64,
}

static TABLE: [AtomicPtr<Rec>; CHUNKS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS];

impl Rec {
    #[inline]
    pub(super) fn flags(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }

    #[inline]
    pub(super) fn generation(&self) -> u32 {
        self.generation.load(Ordering::Acquire)
    }

    pub(super) fn set(&self, bits: u32) {
        self.flags.fetch_or(bits, Ordering::AcqRel);
    }

    pub(super) fn unset(&self, bits: u32) {
        self.flags.fetch_and(!bits, Ordering::AcqRel);
    }

    /// The timeout for reading (`read`) or writing, in nanoseconds (0:
    /// none).
    pub(super) fn timeout_ns(&self, read: bool) -> u64 {
        if read { &self.rcv } else { &self.snd }.load(Ordering::Relaxed)
    }

    pub(super) fn set_timeout_ns(&self, read: bool, ns: u64) {
        if read { &self.rcv } else { &self.snd }.store(ns, Ordering::Relaxed);
    }

    /// Writes a new record for a descriptor just made.
    pub(super) fn init(&self, flags: u32) {
        self.rcv.store(0, Ordering::Relaxed);
        self.snd.store(0, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.flags.store(flags | TRACKED, Ordering::Release);
    }

    /// A copy of `from` (a `dup`): the same kind, view, timeouts and
    /// adoption (`O_NONBLOCK` belongs to the shared open file description).
    pub(super) fn copy_from(&self, from: &Rec) {
        self.rcv
            .store(from.rcv.load(Ordering::Relaxed), Ordering::Relaxed);
        self.snd
            .store(from.snd.load(Ordering::Relaxed), Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.flags
            .store(from.flags() & !REGISTERED, Ordering::Release);
    }

    /// Forgets the descriptor (it is being closed).
    pub(super) fn clear(&self) {
        self.flags.store(0, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// The record of `fd` if its chunk exists (it may be untracked).
#[inline]
pub(super) fn get(fd: libc::c_int) -> Option<&'static Rec> {
    let fd = usize::try_from(fd).ok()?;
    let chunk = TABLE.get(fd >> CHUNK_BITS)?.load(Ordering::Acquire);
    if chunk.is_null() {
        return None;
    }
    // SAFETY: a published chunk is a mapping of CHUNK records that is
    // never unmapped, and the index is below CHUNK.
    Some(unsafe { &*chunk.add(fd & (CHUNK - 1)) })
}

/// The record of `fd` if it is tracked.
#[inline]
pub(super) fn tracked(fd: libc::c_int) -> Option<&'static Rec> {
    get(fd).filter(|r| r.flags() & TRACKED != 0)
}

/// The record of `fd`, mapping its chunk if needed; `None` beyond the
/// table or when the mapping fails (then the descriptor goes untracked).
pub(super) fn get_or_map(fd: libc::c_int) -> Option<&'static Rec> {
    if let Some(r) = get(fd) {
        return Some(r);
    }
    let index = usize::try_from(fd).ok()? >> CHUNK_BITS;
    let slot = TABLE.get(index)?;
    let bytes = CHUNK * std::mem::size_of::<Rec>();
    // SAFETY: an anonymous private mapping; zeroed memory is a valid
    // array of `Rec` (atomics of zero). mmap is async-signal-safe.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    if let Err(_theirs) = slot.compare_exchange(
        std::ptr::null_mut(),
        p.cast(),
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        // Another thread published the chunk first.
        // SAFETY: `p` is our own mapping of `bytes`, never published.
        unsafe { libc::munmap(p, bytes) };
    }
    get(fd)
}

/// Clears the records of `first..=last` (`close_range`).
pub(super) fn clear_range(first: u32, last: u32) {
    let last = last.min((CHUNKS * CHUNK - 1) as u32);
    let mut fd = first;
    while fd <= last {
        let chunk = TABLE[(fd as usize) >> CHUNK_BITS].load(Ordering::Acquire);
        if chunk.is_null() {
            // Skip the whole missing chunk.
            fd = ((fd >> CHUNK_BITS) + 1) << CHUNK_BITS;
            continue;
        }
        if let Some(r) = get(fd as libc::c_int)
            && r.flags() != 0
        {
            r.clear();
        }
        fd += 1;
    }
}
