//! The stack preparer: a helper thread that carves slots a few batches ahead
//! of threads that spawn many coros, and faults their top pages in (by
//! writing their owner word), so that a coro finds its stack ready (guard
//! installed, top page resident) and the page zeroing happens on another
//! CPU.
//!
//! # The promise
//!
//! The preparer never touches a slot that anybody else can see. Under the
//! global lock it reserves a batch (it advances the class's carving index,
//! so no other thread can carve those slots and none can take them); it
//! installs their guards and touches their top pages without the lock;
//! then, under the lock again, it puts them in `prepared`, from where
//! starting coros and eager spawns take them. Chunks are leaked and never
//! unmapped, so the addresses it works on stay mapped whatever other
//! threads do (exit, forget their handles, panic) and whatever happens to
//! the thread pools. The thread holds nothing but `'static` data, is
//! detached, and ends with the process; nothing in its loop panics (a
//! poisoned lock is used as is, as everywhere in this module). A process
//! forked while a batch is in transit loses those slots' address space in
//! the child, nothing else.
//!
//! # Who takes the prepared slots
//!
//! A default-size spawn with no warm stack at hand only *reserves* a slot
//! (see `Reserve`): a cold one from `fresh` first, since nothing is written
//! to it before the coro starts. When the coro starts, it trades a cold
//! reserve for a prepared slot if one is waiting, and gives the reserve
//! back untouched. So however fast a thread spawns, the preparer's pages go
//! to the coros that start next, in the order they start. The cost: a
//! traded reserve keeps its page-table share (about 520 bytes a slot) until
//! a later spawn reserves it again.
//!
//! # When it works, and how far ahead
//!
//! With `madvise` guards that the kernel takes batched through
//! `process_madvise`, on a machine with more than one CPU, and not under
//! valgrind; `CORIO_STACK_PREPARE=off` turns it off. It starts only once a
//! burst is under way, after [`BURST`] slots of one size were handed out
//! from the shared lists, so a program that never spawns thousands of
//! coros at once never has the thread; it is woken whenever a slot is
//! taken while it is wanted. It keeps a class's `prepared` list filled up
//! to as many slots as the class has ever handed out, at most
//! [`AHEAD_MAX`] (four batches: 16 MiB of top pages), so a program never
//! has more prepared-but-unused stacks than it has used. Prepared slots
//! keep their top page until a coro uses them, or until a decay step of a
//! thread's pool finds that no slot was taken since its previous step
//! (after a burst: about two decay periods, like the pooled stacks). With
//! one CPU a fault moved to the helper saves nothing, so the thread carves
//! and faults alone, as it also does whenever the preparer is behind (work
//! sharing).
//!
//! It pays when the second CPU has time, and measured on a 2-vCPU machine
//! it did not lose when the other CPU was busy (`BENCHMARKS.md`, "Fresh
//! stacks").

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Condvar, Once};

use super::{CARVE_BATCH, Class, GLOBAL, GuardKind, guard_kind, push_fresh, ready, reserve};
use crate::sys;

/// Slots of one size handed out from `fresh` before the preparer helps.
pub(super) const BURST: usize = 2 * CARVE_BATCH;

/// The most slots the preparer keeps ready per class: four batches (their
/// top pages are 16 MiB of memory that nobody uses until a burst goes on).
/// Four did better than one on a million parked coros: 2.1–2.4 s against
/// 2.4–3.4 s for the whole process, three rounds.
pub(super) const AHEAD_MAX: usize = 4 * CARVE_BATCH;

const UNKNOWN: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

/// Whether the preparer is used in this process (decided once, then `OFF`
/// for good if it fails).
static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Wakes the preparer; waited on with [`GLOBAL`].
static WORK: Condvar = Condvar::new();

/// Whether the preparer waits on [`WORK`]. Read and written only with the
/// global lock held, so a wake-up is never lost; it spares the spawning
/// thread a `futex` call per spawn while the preparer is busy anyway.
static WAITING: AtomicBool = AtomicBool::new(false);

static START: Once = Once::new();

fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            let on = std::env::var("CORIO_STACK_PREPARE").as_deref() != Ok("off")
                && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
                && guard_kind() == GuardKind::Madvise
                && sys::guards_batched();
            STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
            on
        }
    }
}

/// Whether `class` wants the preparer's help now.
pub(super) fn wanted(class: &Class) -> bool {
    class.taken >= BURST
        && class.prepared.len() + class.in_transit < class.taken.min(AHEAD_MAX)
        && enabled()
}

/// Wakes the preparer, starting it the first time. Called with the global
/// lock held.
pub(super) fn wake() {
    START.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("corio-stacks".into())
            .stack_size(64 * 1024)
            .spawn(run);
        if spawned.is_err() {
            STATE.store(OFF, Ordering::Relaxed);
        }
    });
    if WAITING.swap(false, Ordering::Relaxed) {
        WORK.notify_one();
    }
}

/// Whether the preparer was ever started in this process: until then no
/// slot is prepared, and a starting coro need not look (nor take the lock).
pub(super) fn started() -> bool {
    START.is_completed()
}

/// The preparer's loop (see the module docs).
fn run() {
    let mut classes = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if STATE.load(Ordering::Relaxed) == OFF {
            return;
        }
        let job = classes
            .iter_mut()
            .find(|c| wanted(c))
            .map(|c| (c.size, reserve(c, CARVE_BATCH)));
        let (size, (chunk, first, end)) = match job {
            None => {
                WAITING.store(true, Ordering::Relaxed);
                classes = WORK.wait(classes).unwrap_or_else(|e| e.into_inner());
                WAITING.store(false, Ordering::Relaxed);
                continue;
            }
            Some((_, Err(_))) => {
                // Out of address space: the spawning threads will say so.
                STATE.store(OFF, Ordering::Relaxed);
                return;
            }
            Some((size, Ok(batch))) => (size, batch),
        };
        let n = end - first;
        if let Some(c) = classes.iter_mut().find(|c| c.size == size) {
            c.in_transit += n;
        }
        drop(classes);
        let ok = ready(chunk, first, end, GuardKind::Madvise, true).is_ok();
        classes = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = classes.iter_mut().find(|c| c.size == size) {
            c.in_transit -= n;
            if ok {
                push_fresh(c, chunk, first, end, true);
            }
        }
        if !ok {
            // The slots reserved stay unused (their address space only).
            STATE.store(OFF, Ordering::Relaxed);
            return;
        }
    }
}
