//! Coro stacks: how they are mapped, guarded, pooled and given back.
//!
//! Every coro (and every [`Generator`](crate::Generator)) runs on a stack of
//! its own with a guard page below it. Stacks are carved from big mappings
//! (1 GiB each) so that a million of them cost a few hundred mappings; the
//! guard pages are installed with `madvise(MADV_GUARD_INSTALL)` on Linux ≥
//! 6.13, which does not split the mapping, and with `mprotect` on older
//! kernels (then each guard costs two of the process's `vm.max_map_count`
//! mappings, about 32,000 stacks at the default limit). Setting the
//! environment variable `CORIO_STACK_GUARD=mprotect` forces the fallback.
//! `madvise` guards are installed 1,024 slots at a time with one
//! `process_madvise` call on the calling process where the kernel accepts
//! it, and free stacks are given back the same way;
//! `CORIO_STACK_BATCH=off` makes it one `madvise` per slot. On a machine
//! with two CPUs or more, a thread that spawns thousands of coros at once
//! (more than 2,048 on new stacks) gets help from a preparer thread (named
//! `corio-stacks`) that carves and guards slots ahead of it and faults
//! their top pages in, so that the page zeroing happens on the other CPU;
//! it holds at most 4,096 prepared stacks per size (16 MiB of top pages).
//! `CORIO_STACK_PREPARE=off` turns it off.
//!
//! A coro spawned when no free stack is warm (none in the thread's cache
//! or pool) only reserves one and writes nothing to it; when it first
//! runs, it takes a warm stack if another coro has ended meanwhile, else
//! one the preparer readied, and gives the reserve back untouched. So
//! short coros spawned by the thousand before any of them runs share a few
//! stacks, where each would otherwise cost a fresh page. The reserve is
//! taken at the spawn, so a spawn fails where it always did (out of
//! address space or mappings), never later.
//!
//! A stack is only address space until it is touched: a coro that parks
//! after a shallow call chain costs one resident page (4 KiB), and the
//! default size ([`DEFAULT_STACK_SIZE`], 256 KiB) is a limit, not a cost.
//! Overflowing it hits the guard page, and the process aborts with a report
//! naming the coro, never corrupting memory.
//!
//! # The pool
//!
//! A finished coro's stack goes back to a per-thread pool and the next
//! spawn reuses it (last in, first out, so its top pages are still
//! resident): spawning never makes a system call while the pool has a
//! stack. The pool shrinks by itself: stacks that stayed unused for a whole
//! decay period (a second) have their pages given back (`MADV_DONTNEED`),
//! beyond 64 kept warm per stack size; the pool looks every 1024 releases,
//! and whenever the thread has nothing to run. So after a burst of load,
//! the memory of the stacks it needed goes back to the system within about
//! two seconds of the thread going idle (a scheduler's own cache of up to
//! 256 recently freed stacks in front of the pool stays). Every stack of a
//! thread that exits is given back too — except the main thread's, whose
//! thread-locals end inside `exit`, where unmapping does it faster; its
//! stacks stay pooled for other threads. A stack seen parked deeper than
//! 64 KiB has the pages below that depth given back when its coro ends.
//! [`trim`] gives back everything now.
//!
//! # Examples
//!
//! ```
//! let big = corio::Builder::new()
//!     .stack_size(8 << 20)
//!     .spawn(|| {
//!         fn depth(n: u64) -> u64 {
//!             let pad = std::hint::black_box([0u8; 512]);
//!             if n == 0 { pad[0] as u64 } else { 1 + depth(n - 1) }
//!         }
//!         depth(2_000)
//!     })
//!     .unwrap();
//! assert_eq!(big.join().unwrap(), 2_000);
//! corio::stack::trim();
//! ```

mod region;

use std::cell::{OnceCell, RefCell};
use std::io;
use std::time::{Duration, Instant};

pub(crate) use region::{OWNER_GENERATOR, SigBuf, TOP_RESERVED, describe_overflow};
use std::sync::OnceLock;

/// What the scheduler, the layer above, lends this one: its per-thread cache
/// of free stacks (which [`trim`] empties and [`pooled`] counts) and the
/// naming of a stack's owner in the overflow message. Passed down once by
/// the first scheduler ([`set_owner`]), so that stacks never call up into
/// the scheduler.
#[derive(Clone, Copy)]
pub(crate) struct Owner {
    /// Empties the current thread's scheduler cache into the pool.
    pub(crate) flush_cache: fn(),
    /// Number of stacks in the current thread's scheduler cache.
    pub(crate) cache_len: fn() -> usize,
    /// Writes the name of the coro whose control block is at `owner` (the
    /// word at the top of its stack).
    ///
    /// # Safety
    ///
    /// `owner` is the control block of a coro running on the calling
    /// thread's faulting stack (see `describe_overflow`).
    pub(crate) describe: unsafe fn(owner: usize, out: &mut SigBuf<'_>),
}

static OWNER: OnceLock<Owner> = OnceLock::new();

/// Registers the scheduler's side of the stacks; the first call wins (every
/// scheduler passes the same functions).
pub(crate) fn set_owner(owner: Owner) {
    let _ = OWNER.get_or_init(|| owner);
}

/// The registered owner, if a scheduler has started in this process.
/// Lock-free once set, so the overflow handler may call it.
pub(crate) fn owner() -> Option<&'static Owner> {
    OWNER.get()
}
use region::{Slot, release_global};

/// Usable bytes of a coro stack when [`Builder::stack_size`] is not given:
/// 256 KiB. Only touched pages cost memory.
///
/// [`Builder::stack_size`]: crate::Builder::stack_size
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Smallest usable stack; smaller requests are rounded up to it. Printing a
/// panic with a backtrace takes about 32 KiB in a debug build.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// Largest stack that can be asked for (16 TiB): more than that cannot be
/// mapped on any machine this crate runs on.
pub const MAX_STACK_SIZE: usize = 1 << 44;

/// Depth below which a stack's pages are given back after deep use.
const TRIM_KEEP: usize = 64 * 1024;

/// Untouched reserves a thread keeps per stack size (address space and
/// a share of a page table each, 4 GiB of addresses for the default size).
const UNTOUCHED_CAP: usize = 16 * 1024;

/// Stacks every thread keeps warm through decay.
const WARM_FLOOR: usize = 64;

/// Releases between two looks at the clock for decay.
const DECAY_EVERY: u32 = 1024;

/// Minimum time between two decay steps.
const DECAY_PERIOD: Duration = Duration::from_secs(1);

/// Validates a requested stack size and rounds it to whole pages.
pub(crate) fn usable_size(requested: usize) -> io::Result<usize> {
    if requested == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "stack size must be greater than zero",
        ));
    }
    if requested > MAX_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a stack of {requested} bytes exceeds the address space (the limit is {MAX_STACK_SIZE} bytes)"
            ),
        ));
    }
    Ok(requested
        .max(MIN_STACK_SIZE)
        .next_multiple_of(crate::sys::page_size()))
}

/// A stack owned by one coro or generator. Dropping it returns it to the
/// pool of the current thread.
#[derive(Debug)]
pub(crate) struct Stack {
    slot: Slot,
}

impl Stack {
    /// Takes a stack of at least `size` usable bytes (already validated by
    /// [`usable_size`]) from the pool, or maps a new one.
    pub(crate) fn acquire(size: usize) -> io::Result<Stack> {
        // The overflow reporter runs on the thread's alternate signal
        // stack: a thread that only ever runs generators needs one too.
        ensure_altstack();
        if let Some(stack) = Self::take_warm(size) {
            return Ok(stack);
        }
        let (slot, _) = region::acquire_global(size, false)?;
        Ok(Stack { slot })
    }

    /// A stack from this thread's pool (`Ok(Ok)`: recently used, its top
    /// pages are likely resident), or else a [`Reserve`] (`Ok(Err)`) for a
    /// coro that is not started yet.
    pub(crate) fn acquire_or_reserve(size: usize) -> io::Result<Result<Stack, Reserve>> {
        ensure_altstack();
        if let Some(stack) = Self::take_warm(size) {
            return Ok(Ok(stack));
        }
        let untouched = POOL
            .try_with(|pool| pool.try_borrow_mut().ok()?.take_untouched(size))
            .ok()
            .flatten();
        let (slot, prepared) = match untouched {
            Some(slot) => (slot, false),
            None => region::acquire_global(size, true)?,
        };
        Ok(Err(Reserve(region::Marked::new(slot, prepared))))
    }

    /// A stack of `size` usable bytes from this thread's pool (recently
    /// used, so its top pages are likely resident), if it has one.
    pub(crate) fn take_warm(size: usize) -> Option<Stack> {
        POOL.try_with(|pool| pool.borrow_mut().take(size))
            .ok()
            .flatten()
            .map(|slot| Stack { slot })
    }

    /// Top of the stack (it grows down from here).
    pub(crate) fn base(&self) -> usize {
        self.slot.stack_top()
    }

    /// Lowest usable address.
    pub(crate) fn usable_low(&self) -> usize {
        self.slot.usable_low()
    }

    /// Records what runs on this stack, for the overflow report.
    pub(crate) fn set_owner(&self, owner: usize) {
        self.slot.set_owner(owner);
    }

    /// Gives all its pages back to the operating system (the address space
    /// stays reserved; the next use starts on zeroed pages). For a stack
    /// nothing runs on, which owning the `Stack` means unless it was handed
    /// to a coroutine or `on_stack` call that is still active.
    pub(crate) fn release_pages(&self) {
        self.slot.release_below(0);
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        release(self.slot, 0);
    }
}

// SAFETY: `base` is the top of the slot's usable range (16 bytes below the
// slot's end, which holds the owner word) and `limit` the bottom of its guard
// page; both are 16-byte aligned, the usable range is at least
// MIN_STACK_SIZE bytes of read-write memory, and the guard page below it
// faults on access. The slot is owned by this `Stack` alone until it is
// dropped.
unsafe impl corosensei::stack::Stack for Stack {
    #[inline]
    fn base(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.slot.stack_top())
            .expect("a mapped stack is never at address zero")
    }

    #[inline]
    fn limit(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.slot.limit())
            .expect("a mapped stack is never at address zero")
    }
}

/// A stack held for a coro that has not started, that nothing was written
/// to yet (not even its owner word): a cold one, which would cost a page
/// fault and the zeroing of a page at its first touch, or one the preparer
/// thread readied. When the coro starts it may still trade it for a warm
/// one and give it back untouched, where it is the next one handed out.
/// (Two words: whether the preparer readied it is the mark.) Dropped, it
/// goes back untouched.
#[derive(Debug)]
pub(crate) struct Reserve(region::Marked);

impl Reserve {
    /// Bounds of the reserved stack: its top and its lowest usable address.
    pub(crate) fn bounds(&self) -> (usize, usize) {
        let slot = self.0.slot();
        (slot.stack_top(), slot.usable_low())
    }

    /// The stack to start on: a warm one from this thread's pool, else one
    /// the preparer readied when this one is cold, else this one. The one
    /// not used goes back untouched.
    pub(crate) fn into_stack(self) -> Stack {
        let (slot, prepared) = (self.0.slot(), self.0.bit());
        let better = Stack::take_warm(slot.size()).or_else(|| {
            (!prepared)
                .then(|| region::take_prepared(slot.size()))
                .flatten()
                .map(|slot| Stack { slot })
        });
        match better {
            // `self` goes back as it is dropped.
            Some(stack) => stack,
            None => {
                std::mem::forget(self);
                Stack { slot }
            }
        }
    }

    /// Gives the reserved stack back untouched.
    pub(crate) fn give_back(self) {
        drop(self);
    }
}

impl Drop for Reserve {
    fn drop(&mut self) {
        let (slot, prepared) = (self.0.slot(), self.0.bit());
        // A cold one stays with the thread for its next reserve (no lock);
        // a prepared one goes where the other threads can use its page.
        let kept = !prepared
            && POOL
                .try_with(|pool| {
                    pool.try_borrow_mut()
                        .is_ok_and(|mut pool| pool.put_untouched(slot))
                })
                .unwrap_or(false);
        if !kept {
            region::return_untouched(slot, prepared);
        }
    }
}

/// A small LIFO of free default-size stacks kept by a thread's scheduler,
/// in front of the thread's pool: a spawn that finds one here touches no
/// thread-local, no lock and no size class. Their owner words are 0.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    slots: std::cell::UnsafeCell<Vec<Slot>>,
}

/// Stacks a scheduler's [`Cache`] holds before it hands them to the pool
/// (which decays what stays unused).
const CACHE_CAP: usize = 256;

impl Cache {
    /// A free default-size stack, if the cache has one.
    #[inline]
    pub(crate) fn take(&self) -> Option<Stack> {
        // SAFETY: the cache belongs to one thread's scheduler and its
        // methods never call out while the vector is borrowed.
        let slots = unsafe { &mut *self.slots.get() };
        slots.pop().map(|slot| Stack { slot })
    }

    /// Takes back `stack`, seen `depth` bytes deep: a deep one goes to the
    /// pool, which gives back its pages below [`TRIM_KEEP`].
    #[inline]
    pub(crate) fn put(&self, stack: Stack, depth: usize) {
        let slot = stack.slot;
        std::mem::forget(stack);
        // SAFETY: as in `take`.
        let slots = unsafe { &mut *self.slots.get() };
        if slots.len() < CACHE_CAP && slot.size() == DEFAULT_STACK_SIZE && depth <= TRIM_KEEP {
            slot.set_owner(0);
            slots.push(slot);
        } else {
            release(slot, depth);
        }
    }

    /// Hands every cached stack to the pool; when the thread's pool is
    /// gone (a scheduler that ends after it), gives them back as the pool
    /// would have: all at once, or, on the main thread, which is inside
    /// `exit`, not at all (see `Pool::drop`).
    pub(crate) fn flush(&self) {
        // SAFETY: as in `take`.
        let slots = std::mem::take(unsafe { &mut *self.slots.get() });
        let left = POOL
            .try_with(|pool| match pool.try_borrow_mut() {
                Ok(mut pool) => {
                    for &slot in &slots {
                        pool.put(slot);
                    }
                    false
                }
                Err(_) => true,
            })
            .unwrap_or(true);
        if left {
            if crate::sys::is_main_thread() {
                region::keep_global(slots);
            } else {
                release_global(slots);
            }
        }
    }

    /// Number of cached stacks.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: as in `take`.
        unsafe { (*self.slots.get()).len() }
    }
}

fn release(slot: Slot, depth: usize) {
    slot.set_owner(0);
    if depth > TRIM_KEEP {
        slot.release_below(TRIM_KEEP);
    }
    let kept = POOL
        .try_with(|pool| match pool.try_borrow_mut() {
            Ok(mut pool) => {
                pool.put(slot);
                true
            }
            Err(_) => false,
        })
        .unwrap_or(false);
    if !kept {
        release_global([slot]);
    }
}

/// Free stacks of one size kept by one thread.
#[derive(Debug)]
struct LocalClass {
    size: usize,
    /// Free stacks, most recently used last; their owner words are 0.
    warm: Vec<Slot>,
    /// Reserves given back untouched (see [`Reserve`]): no page of them
    /// is resident, so they do not decay; the next reserves of this
    /// thread take them first, and no lock.
    untouched: Vec<Slot>,
    /// Fewest stacks `warm` held since the last decay step: that many were
    /// not needed during the whole period.
    low_water: usize,
    releases: u32,
    last_decay: Instant,
}

impl LocalClass {
    /// One decay step: the bottom `low_water` stacks were not needed for a
    /// whole period; give back those beyond the floor.
    fn decay(&mut self, now: Instant) {
        self.last_decay = now;
        region::decay_fresh();
        let surplus = self.low_water.saturating_sub(WARM_FLOOR);
        if surplus > 0 {
            release_global(self.warm.drain(..surplus));
        }
        self.low_water = self.warm.len();
    }
}

/// The per-thread pool of free stacks.
#[derive(Debug, Default)]
struct Pool {
    classes: Vec<LocalClass>,
}

impl Pool {
    #[inline]
    fn take(&mut self, size: usize) -> Option<Slot> {
        let class = self.classes.iter_mut().find(|c| c.size == size)?;
        let slot = class.warm.pop()?;
        class.low_water = class.low_water.min(class.warm.len());
        Some(slot)
    }

    fn class_mut(&mut self, size: usize) -> &mut LocalClass {
        match self.classes.iter().position(|c| c.size == size) {
            Some(i) => &mut self.classes[i],
            None => {
                self.classes.push(LocalClass {
                    size,
                    warm: Vec::new(),
                    untouched: Vec::new(),
                    low_water: 0,
                    releases: 0,
                    last_decay: Instant::now(),
                });
                let last = self.classes.len() - 1;
                &mut self.classes[last]
            }
        }
    }

    fn take_untouched(&mut self, size: usize) -> Option<Slot> {
        self.classes
            .iter_mut()
            .find(|c| c.size == size)?
            .untouched
            .pop()
    }

    /// Keeps an untouched reserve, unless the thread holds
    /// [`UNTOUCHED_CAP`] of its size already.
    fn put_untouched(&mut self, slot: Slot) -> bool {
        let class = self.class_mut(slot.size());
        if class.untouched.len() >= UNTOUCHED_CAP {
            return false;
        }
        class.untouched.push(slot);
        true
    }

    #[inline]
    fn put(&mut self, slot: Slot) {
        let class = self.class_mut(slot.size());
        class.warm.push(slot);
        class.releases += 1;
        if class.releases >= DECAY_EVERY {
            class.releases = 0;
            let now = Instant::now();
            if now.duration_since(class.last_decay) >= DECAY_PERIOD {
                class.decay(now);
            }
        }
    }

    /// An idle thread's decay steps (see [`idle_decay`]).
    fn idle_decay(&mut self, now: Instant) -> Option<Duration> {
        let mut next: Option<Duration> = None;
        for class in &mut self.classes {
            if now.duration_since(class.last_decay) >= DECAY_PERIOD {
                class.decay(now);
            }
            if class.warm.len() > WARM_FLOOR {
                let due = DECAY_PERIOD.saturating_sub(now.duration_since(class.last_decay));
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        next
    }

    /// Gives back every stack beyond `keep` per size.
    fn trim(&mut self, keep: usize) {
        for class in &mut self.classes {
            let surplus = class.warm.len().saturating_sub(keep);
            release_global(class.warm.drain(..surplus));
            class.low_water = class.warm.len();
            region::return_untouched_all(class.untouched.drain(..));
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if crate::sys::is_main_thread() {
            // The main thread's thread-locals are destroyed inside `exit`:
            // the process is ending, and the kernel takes the pages back
            // with the mapping faster than `MADV_DONTNEED` could (0.4 µs per
            // stack against 0.7–1.8). Should the process live on (a main
            // thread that called `pthread_exit`), the stacks are still
            // reused, first, by other threads.
            for class in &mut self.classes {
                region::keep_global(class.warm.drain(..));
                region::return_untouched_all(class.untouched.drain(..));
            }
        } else {
            self.trim(0);
        }
    }
}

/// The largest closure a coroutine is started with in place: corosensei
/// copies it onto the new stack and refuses more than 1 KiB (bigger ones
/// go in a box).
pub(crate) const MAX_INLINE_CLOSURE: usize = 512;

/// Makes sure the calling thread has an alternate signal stack, on which
/// the overflow reporter runs (the overflowing stack is full). Threads made
/// by `std::thread` come with one; others get ours, kept until the thread
/// exits.
pub(crate) fn ensure_altstack() {
    let _ = ALTSTACK.try_with(|a| {
        a.get_or_init(crate::sys::AltStack::ensure);
    });
}

thread_local! {
    static ALTSTACK: OnceCell<Option<crate::sys::AltStack>> = const { OnceCell::new() };
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// Called by a scheduler with nothing to run, before it sleeps: takes the
/// decay steps that are due, and says how soon the next one is while the
/// pool holds more than it keeps warm (`None`: nothing more to give back),
/// so that an idle thread still gives its free stacks back.
pub(crate) fn idle_decay(now: Instant) -> Option<Duration> {
    POOL.try_with(|pool| pool.try_borrow_mut().ok()?.idle_decay(now))
        .ok()
        .flatten()
}

/// Gives the memory of every free stack of the current thread back to the
/// operating system now (their address space is kept for reuse by any
/// thread). Stacks in use are not touched.
///
/// # Examples
///
/// ```
/// corio::spawn(|| ()).join().unwrap();
/// corio::stack::trim();
/// assert_eq!(corio::stack::pooled(), 0);
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn trim() {
    if let Some(o) = owner() {
        (o.flush_cache)();
    }
    let _ = POOL.try_with(|pool| {
        if let Ok(mut pool) = pool.try_borrow_mut() {
            pool.trim(0);
        }
    });
}

/// Number of free stacks the current thread's pool holds (all sizes).
///
/// # Examples
///
/// ```
/// corio::stack::trim();
/// corio::spawn(|| ()).join().unwrap();
/// assert_eq!(corio::stack::pooled(), 1);
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn pooled() -> usize {
    let pool = POOL
        .try_with(|pool| {
            pool.try_borrow()
                .map(|p| p.classes.iter().map(|c| c.warm.len()).sum())
                .unwrap_or(0)
        })
        .unwrap_or(0);
    pool + owner().map_or(0, |o| (o.cache_len)())
}

/// Which mechanism guards stacks in this process: `"madvise"`
/// (`MADV_GUARD_INSTALL`, no extra mappings) or `"mprotect"` (the fallback;
/// forced by `CORIO_STACK_GUARD=mprotect`).
///
/// # Examples
///
/// ```
/// assert!(["madvise", "mprotect"].contains(&corio::stack::guard_mechanism()));
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn guard_mechanism() -> &'static str {
    match region::guard_kind() {
        crate::sys::GuardKind::Madvise => "madvise",
        crate::sys::GuardKind::Mprotect => "mprotect",
    }
}
