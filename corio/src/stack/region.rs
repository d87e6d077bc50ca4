//! Stack regions: big mappings carved into equal slots, each slot a guard
//! page followed by a usable stack.
//!
//! ```text
//!  chunk.start                                             chunk end
//!  | guard | usable stack ... | guard | usable stack ... | ... |
//!  ^ slot 0 limit             ^ slot 0 base (top, stacks grow down)
//! ```
//!
//! Chunks are mapped once and never unmapped: a slot that is not in use has
//! its pages given back with `MADV_DONTNEED` (1,024 slots per system call
//! where the kernel allows it), but its address space stays reserved. That makes every stack address valid for the life of the
//! process, which is what lets the fault handler look a faulting address up
//! without locks, and lets a stack outlive the pool that handed it out.
//!
//! # Invariants
//! - A chunk in [`REGISTRY`] is leaked (`&'static`), fully initialised
//!   before it is published, and never changes shape.
//! - A slot is in exactly one place: carved-not-yet (beyond `next` of its
//!   class), a class's `fresh` list (guard installed, never used), a global
//!   free list (`free` or `kept`), a thread's warm pool, or owned by one
//!   [`Stack`](super::Stack).
//! - Every slot that has left the carved-not-yet state has its guard page:
//!   guards are installed for a whole batch before any slot of it is
//!   handed out, and never removed (guard markers survive `MADV_DONTNEED`).
//!
//! # Carving in batches
//!
//! With `MADV_GUARD_INSTALL` a class carves up to [`CARVE_BATCH`] slots at a
//! time and installs all their guards with one `process_madvise` call
//! (about 0.45 µs per slot instead of 0.9 µs for one `madvise` each); the
//! slots wait in `fresh` until spawns take them. With `mprotect` guards,
//! where every guard costs two of the process's limited mappings, slots are
//! carved one at a time as before.
//! - The top word of every slot (just below its base) names what runs on
//!   it (0 when free); only the fault reporter reads it. Stacks handed to
//!   corosensei start below that word (see [`Slot::stack_top`]).

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

use crate::sys::{self, GuardKind};

mod prepare;

/// Target size of one chunk mapping. Big enough that a million default
/// stacks need a few hundred mappings, small enough that a process with a
/// handful of coros reserves (not commits) only this much.
const CHUNK_TARGET: usize = 1 << 30;

/// How many chunks the fault reporter can know about. At ≥ 1 GiB a chunk that
/// is 16 TiB of stacks; chunks beyond it still work, their overflows are
/// reported by the default handler instead (a plain SIGSEGV).
const REGISTRY_CAP: usize = 16384;

/// Owner value of a slot that runs a [`Generator`](crate::Generator).
pub(crate) const OWNER_GENERATOR: usize = 1;

static REGISTRY: [AtomicPtr<Chunk>; REGISTRY_CAP] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; REGISTRY_CAP];
static REGISTRY_LEN: AtomicUsize = AtomicUsize::new(0);

/// One mapping of equal stack slots.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// First byte of the mapping (the guard page of slot 0).
    start: usize,
    /// Bytes per slot: guard plus usable stack.
    slot: usize,
    /// Bytes of guard at the low end of each slot.
    guard: usize,
    /// Number of slots in the mapping.
    count: usize,
}

/// Bytes reserved at the top of every slot for the owner word (keeps the
/// stack top 16-byte aligned).
pub(crate) const TOP_RESERVED: usize = 16;

/// A slot of a chunk: the identity of one stack, named by its base.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    chunk: &'static Chunk,
    base: usize,
}

/// A slot and one bit about it, in the two words of a slot: the bit is
/// kept in the low bit of the slot's base, which is page aligned.
#[derive(Debug)]
pub(crate) struct Marked {
    chunk: &'static Chunk,
    word: usize,
}

impl Marked {
    pub(crate) fn new(slot: Slot, bit: bool) -> Marked {
        Marked {
            chunk: slot.chunk,
            word: slot.base | bit as usize,
        }
    }

    pub(crate) fn slot(&self) -> Slot {
        Slot {
            chunk: self.chunk,
            base: self.word & !1,
        }
    }

    pub(crate) fn bit(&self) -> bool {
        self.word & 1 != 0
    }
}

impl Slot {
    fn new(chunk: &'static Chunk, index: usize) -> Slot {
        Slot {
            chunk,
            base: chunk.start + (index + 1) * chunk.slot,
        }
    }

    /// Lowest address of the slot, guard included.
    #[inline]
    pub(crate) fn limit(self) -> usize {
        self.base - self.chunk.slot
    }

    /// Lowest usable address (just above the guard).
    #[inline]
    pub(crate) fn usable_low(self) -> usize {
        self.limit() + self.chunk.guard
    }

    /// Highest address of the slot.
    #[inline]
    pub(crate) fn base(self) -> usize {
        self.base
    }

    /// Where the stack starts growing down: below the owner word.
    #[inline]
    pub(crate) fn stack_top(self) -> usize {
        self.base - TOP_RESERVED
    }

    /// Bytes between the guard and the top of the slot.
    #[inline]
    pub(crate) fn size(self) -> usize {
        self.chunk.slot - self.chunk.guard
    }

    /// Records what runs on this slot, for the overflow report: 0 (free),
    /// [`OWNER_GENERATOR`], or the address of a coro's control block.
    #[inline]
    pub(crate) fn set_owner(self, owner: usize) {
        // SAFETY: the owner word is the top word of the slot, read-write
        // memory that no stack frame uses (stacks start below it).
        unsafe { ((self.base - 8) as *mut usize).write(owner) };
    }

    /// Gives back the pages of the usable range below `base - keep`.
    pub(crate) fn release_below(self, keep: usize) {
        let low = self.usable_low();
        let high = self.base().saturating_sub(keep).max(low);
        // SAFETY: `[low, high)` is page aligned (slot, guard and `keep` are
        // multiples of the page size), inside our chunk, and the caller
        // guarantees the stack is dead or that these pages are below its
        // current frames.
        unsafe { sys::release(low, high - low) };
    }
}

/// Free slots of one stack size, shared by all threads.
#[derive(Debug, Default)]
struct Class {
    size: usize,
    /// Free slots whose pages were given back (cold).
    free: Vec<Slot>,
    /// Free slots whose pages may still be resident: the pool of a main
    /// thread that ended (the process is exiting, where giving a million
    /// stacks back one by one would only delay the exit). Taken first.
    kept: Vec<Slot>,
    /// Slots carved with their guard in place and never used, the next to
    /// hand out last.
    fresh: Vec<Slot>,
    /// Slots the preparer readied: guard in place, top page resident.
    /// Handed out to whoever writes to a stack at once; a reserve for a
    /// coro that has not started takes a cold slot first, and the coro
    /// trades it for one of these when it starts (see `take_prepared`).
    prepared: Vec<Slot>,
    /// The chunk being carved and the index of its next never-used slot.
    carving: Option<(&'static Chunk, usize)>,
    /// Slots ever handed out from `fresh`: how far ahead the preparer may
    /// work for this class (see `prepare`).
    taken: usize,
    /// Slots the preparer has reserved and not yet put in `fresh`.
    in_transit: usize,
    /// `taken` at the last decay look (see [`decay_fresh`]).
    taken_seen: usize,
}

/// Slots carved at once when guards are `madvise` guards: one
/// `process_madvise` call's worth.
pub(crate) const CARVE_BATCH: usize = sys::BATCH_MAX;

fn class_of(classes: &mut Vec<Class>, size: usize) -> &mut Class {
    match classes.iter().position(|c| c.size == size) {
        Some(i) => &mut classes[i],
        None => {
            classes.push(Class {
                size,
                ..Class::default()
            });
            let last = classes.len() - 1;
            &mut classes[last]
        }
    }
}

static GLOBAL: Mutex<Vec<Class>> = Mutex::new(Vec::new());

const GUARD_UNKNOWN: u8 = 0;
const GUARD_MADVISE: u8 = 1;
const GUARD_MPROTECT: u8 = 2;
static GUARD_MODE: AtomicU8 = AtomicU8::new(GUARD_UNKNOWN);

/// How guard pages are installed in this process. Decided once: the
/// `CORIO_STACK_GUARD` environment variable may force `mprotect` (to test the
/// fallback) or `madvise`; otherwise `madvise` when the kernel supports it.
pub(crate) fn guard_kind() -> GuardKind {
    match GUARD_MODE.load(Ordering::Relaxed) {
        GUARD_MADVISE => GuardKind::Madvise,
        GUARD_MPROTECT => GuardKind::Mprotect,
        _ => {
            let forced = std::env::var("CORIO_STACK_GUARD").ok();
            let kind = match forced.as_deref() {
                Some("mprotect") => GuardKind::Mprotect,
                Some("madvise") => GuardKind::Madvise,
                _ if sys::madvise_guards_supported() => GuardKind::Madvise,
                _ => GuardKind::Mprotect,
            };
            let code = match kind {
                GuardKind::Madvise => GUARD_MADVISE,
                GuardKind::Mprotect => GUARD_MPROTECT,
            };
            GUARD_MODE.store(code, Ordering::Relaxed);
            kind
        }
    }
}

/// Takes a free slot of `size` usable bytes from the shared free lists, or
/// carves a new one (`size` is already validated and page rounded), and
/// says whether the preparer readied it. A `reserve` is not written to
/// before its coro starts: it takes a cold slot before a prepared one, and
/// the other way round otherwise.
pub(crate) fn acquire_global(size: usize, reserve: bool) -> io::Result<(Slot, bool)> {
    let mut classes = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    let class = class_of(&mut classes, size);
    if let Some(slot) = class.kept.pop() {
        return Ok((slot, false));
    }
    if let Some(slot) = class.free.pop() {
        return Ok((slot, false));
    }
    let taken = match class.prepared.pop() {
        Some(slot) if !reserve || class.fresh.is_empty() => (slot, true),
        other => {
            class.prepared.extend(other);
            if class.fresh.is_empty() {
                carve(class)?;
            }
            let slot = class.fresh.pop();
            (
                slot.expect("a successful carve leaves at least one fresh slot"),
                false,
            )
        }
    };
    class.taken += 1;
    if prepare::wanted(class) {
        prepare::wake();
    }
    Ok(taken)
}

/// A slot the preparer readied, if one is waiting: for a coro starting on
/// the reserve it took at its spawn, which it gives back.
pub(crate) fn take_prepared(size: usize) -> Option<Slot> {
    if !prepare::started() {
        return None;
    }
    let mut classes = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    let class = classes.iter_mut().find(|c| c.size == size)?;
    let slot = class.prepared.pop()?;
    if prepare::wanted(class) {
        prepare::wake();
    }
    Some(slot)
}

/// Takes back a slot handed out by [`acquire_global`] as a reserve and not
/// written to since: it is as good as a newly carved (or `prepared`) one,
/// guard in place, and the next one handed out.
pub(crate) fn return_untouched(slot: Slot, prepared: bool) {
    let mut classes = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    let class = class_of(&mut classes, slot.size());
    if prepared {
        class.prepared.push(slot);
    } else {
        class.fresh.push(slot);
    }
}

/// [`return_untouched`] for cold slots of one size, all at once.
pub(crate) fn return_untouched_all(slots: impl IntoIterator<Item = Slot>) {
    let mut slots = slots.into_iter().peekable();
    let Some(first) = slots.peek() else {
        return;
    };
    let size = first.size();
    let mut classes = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    class_of(&mut classes, size).fresh.extend(slots);
}

/// Returns slots to the shared free lists, giving their pages back first:
/// one `MADV_DONTNEED` per 1,024 slots where the kernel takes them batched.
pub(crate) fn release_global(slots: impl IntoIterator<Item = Slot>) {
    let slots: Vec<Slot> = slots.into_iter().collect();
    if slots.is_empty() {
        return;
    }
    let ranges: Vec<(usize, usize)> = slots
        .iter()
        .map(|s| {
            // Before the pages go: writing it afterwards would fault a
            // zeroed page back in.
            s.set_owner(0);
            (s.usable_low(), s.base() - s.usable_low())
        })
        .collect();
    // SAFETY: each range is the page-aligned usable part of a slot inside its
    // chunk, and the slots are free: nothing runs on them any more.
    unsafe { sys::release_all(&ranges) };
    let mut classes = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    for slot in slots {
        class_of(&mut classes, slot.size()).free.push(slot);
    }
}

/// A decay step for prepared stacks: gives back the top pages of the slots
/// in `prepared`, which become `fresh` again, when no slot was taken since
/// the previous step (a pool's decay step, at most one per decay period
/// and stack size).
pub(crate) fn decay_fresh() {
    let mut classes = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    let page = sys::page_size();
    let mut ranges = Vec::new();
    for c in classes.iter_mut() {
        if c.taken == c.taken_seen && !c.prepared.is_empty() {
            ranges.extend(c.prepared.iter().map(|s| (s.base() - page, page)));
            let prepared = std::mem::take(&mut c.prepared);
            c.fresh.extend(prepared);
        }
        c.taken_seen = c.taken;
    }
    // SAFETY: each range is the top page of a slot in `fresh` that nobody
    // uses (its guard is below, far from the top), and the lock is still
    // held, so none of them can be handed out meanwhile.
    unsafe { sys::release_all(&ranges) };
}

/// Returns free slots of one size to the shared lists without giving their
/// pages back (see [`Class::kept`]): for the pool of a main thread that
/// ended. Their owner words are 0 already (a stack's is cleared when it is
/// freed), so this reads and writes none of their pages: a main thread that
/// ran a million coros ends without a million cache misses.
pub(crate) fn keep_global(slots: impl IntoIterator<Item = Slot>) {
    let mut slots = slots.into_iter().peekable();
    let Some(first) = slots.peek() else {
        return;
    };
    let size = first.size();
    let mut classes = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    class_of(&mut classes, size)
        .kept
        .extend(slots.inspect(|s| debug_assert_eq!(s.size(), size)));
}

/// Carves the next slots of `class` into its `fresh` list — a batch of
/// [`CARVE_BATCH`] (or what is left of the chunk) with `madvise` guards, one
/// slot with `mprotect` guards — mapping a new chunk when needed, and
/// installs their guard pages before any of them is handed out.
fn carve(class: &mut Class) -> io::Result<()> {
    let kind = guard_kind();
    let batch = match kind {
        GuardKind::Madvise => CARVE_BATCH,
        GuardKind::Mprotect => 1,
    };
    let saved = class.carving;
    let (chunk, next, end) = reserve(class, batch)?;
    if let Err(e) = ready(chunk, next, end, kind, false) {
        // Not handed out: a later carve installs these guards again (both
        // mechanisms are idempotent).
        class.carving = saved;
        return Err(guard_error(e));
    }
    push_fresh(class, chunk, next, end, false);
    Ok(())
}

/// Takes the next `batch` never-carved slots of `class` (fewer at the end of
/// a chunk), mapping a new chunk when needed: `(chunk, first, end)`.
fn reserve(class: &mut Class, batch: usize) -> io::Result<(&'static Chunk, usize, usize)> {
    let (chunk, next) = match class.carving {
        Some((chunk, next)) if next < chunk.count => (chunk, next),
        _ => (map_chunk(class.size)?, 0),
    };
    let end = chunk.count.min(next + batch);
    class.carving = Some((chunk, end));
    Ok((chunk, next, end))
}

/// Installs the guards of slots `first..end` of `chunk` and, when
/// `populate`, makes the top page of each resident.
fn ready(
    chunk: &'static Chunk,
    first: usize,
    end: usize,
    kind: GuardKind,
    populate: bool,
) -> io::Result<()> {
    let guards: Vec<(usize, usize)> = (first..end)
        .map(|i| (Slot::new(chunk, i).limit(), chunk.guard))
        .collect();
    // SAFETY: each guard range is the low, page-aligned end of a slot that was
    // reserved by the caller and never handed out: nothing is in it.
    unsafe { sys::guard_install_all(&guards, kind)? };
    if populate {
        // A write faults the top page in through the per-VMA fault path;
        // `MADV_POPULATE_WRITE` would do the same under the process's
        // mmap lock for a whole batch, stalling the spawning thread's
        // `brk`/`mmap` (its allocator) for milliseconds at a time. The
        // word written is the owner word, 0 (free), which it already is.
        for i in first..end {
            Slot::new(chunk, i).set_owner(0);
        }
    }
    Ok(())
}

/// Puts slots `first..end` of `chunk`, guards installed, in `fresh` (or
/// `prepared`) so that they are handed out in address order.
fn push_fresh(class: &mut Class, chunk: &'static Chunk, first: usize, end: usize, prepared: bool) {
    for i in (first..end).rev() {
        let slot = Slot::new(chunk, i);
        // Tell valgrind that this range is a stack, so that switching onto
        // it is not mistaken for a wild stack-pointer change. The
        // registration lives as long as the slot, i.e. forever.
        std::mem::forget(corosensei::stack::valgrind::ValgrindStackRegistration::new(
            (slot.limit() + chunk.guard) as *mut u8,
            slot.size(),
        ));
        if prepared {
            class.prepared.push(slot);
        } else {
            class.fresh.push(slot);
        }
    }
}

fn guard_error(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ENOMEM) && guard_kind() == GuardKind::Mprotect {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "cannot install a stack guard page: the process ran out of memory mappings \
                 (vm.max_map_count); each mprotect guard costs two of them, a kernel with \
                 MADV_GUARD_INSTALL (Linux >= 6.13) needs none: {e}"
            ),
        )
    } else {
        io::Error::new(e.kind(), format!("cannot install a stack guard page: {e}"))
    }
}

/// Maps a new chunk for stacks of `size` usable bytes, shrinking the request
/// when the address space is tight, and publishes it to the fault reporter.
fn map_chunk(size: usize) -> io::Result<&'static Chunk> {
    let guard = sys::page_size();
    let slot = size + guard;
    let mut count = (CHUNK_TARGET / slot).max(1);
    let start = loop {
        match sys::map_reserve(count * slot) {
            Ok(start) => break start,
            Err(e) if count > 1 && e.raw_os_error() == Some(libc::ENOMEM) => count /= 2,
            Err(e) => {
                return Err(io::Error::new(
                    if e.raw_os_error() == Some(libc::ENOMEM) {
                        io::ErrorKind::OutOfMemory
                    } else {
                        e.kind()
                    },
                    format!("cannot map {slot} bytes for a coro stack: {e}"),
                ));
            }
        }
    };
    sys::install_overflow_handler();
    let chunk: &'static Chunk = Box::leak(Box::new(Chunk {
        start,
        slot,
        guard,
        count,
    }));
    let index = REGISTRY_LEN.fetch_add(1, Ordering::AcqRel);
    if index < REGISTRY_CAP {
        REGISTRY[index].store(chunk as *const Chunk as *mut Chunk, Ordering::Release);
    }
    Ok(chunk)
}

/// A tiny formatter over a fixed buffer: usable inside a signal handler.
pub(crate) struct SigBuf<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SigBuf<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        SigBuf { buf, len: 0 }
    }

    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        self
    }

    pub(crate) fn num(&mut self, mut n: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        // SAFETY-free: ASCII digits are valid UTF-8.
        match std::str::from_utf8(&digits[i..]) {
            Ok(s) => self.str(s),
            Err(_) => self,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// If `addr` lies in the guard page of a corio stack, writes a report of the
/// overflow into `buf` and returns its length. Async-signal-safe: no locks,
/// no allocation.
pub(crate) fn describe_overflow(addr: usize, buf: &mut [u8]) -> Option<usize> {
    let len = REGISTRY_LEN.load(Ordering::Acquire).min(REGISTRY_CAP);
    for entry in &REGISTRY[..len] {
        let chunk = entry.load(Ordering::Acquire);
        if chunk.is_null() {
            continue;
        }
        // SAFETY: published chunks are leaked and immutable.
        let chunk = unsafe { &*chunk };
        if addr < chunk.start || addr >= chunk.start + chunk.count * chunk.slot {
            continue;
        }
        let index = (addr - chunk.start) / chunk.slot;
        if (addr - chunk.start) % chunk.slot >= chunk.guard {
            return None;
        }
        let top = chunk.start + (index + 1) * chunk.slot;
        // SAFETY: the top page of a carved slot is mapped read-write (it is
        // far above the guard page that faulted); a slot never carved reads
        // as zero.
        let owner = unsafe { ((top - 8) as *const usize).read_volatile() };
        let size = (chunk.slot - chunk.guard) as u64;
        let mut out = SigBuf::new(buf);
        out.str("\ncorio: ");
        if owner == OWNER_GENERATOR {
            out.str("a Generator");
        } else if let Some(o) = super::owner().filter(|_| owner != 0) {
            // SAFETY: a non-zero owner other than OWNER_GENERATOR is the
            // control block of the coro running on this slot (only the
            // scheduler writes one, after registering itself); it is alive
            // while its stack is in use, and the thread that faulted is the
            // one that owns it.
            unsafe { (o.describe)(owner, &mut out) };
        } else {
            out.str("a coro");
        }
        out.str(" overflowed its stack of ")
            .num(size)
            .str(" bytes (guard page hit at 0x");
        let mut hex = [0u8; 16];
        for (i, h) in hex.iter_mut().enumerate() {
            let nibble = (addr >> ((15 - i) * 4)) & 0xf;
            *h = b"0123456789abcdef"[nibble];
        }
        if let Ok(s) = std::str::from_utf8(&hex) {
            out.str(s);
        }
        out.str("); aborting. Give it a bigger stack with Builder::stack_size.\n");
        return Some(out.len());
    }
    None
}
