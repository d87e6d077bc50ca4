//! What a burst of short coros costs the allocator: the second burst of
//! the same size reuses the first one's control blocks and closure blocks,
//! and a thread that goes idle frees what it kept beyond a small reserve.
//!
//! One test per process (the counting allocator is global), run on the
//! main thread, which is a coro.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to `System` unchanged; the counters are
// only read by the test.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: the caller's guarantees, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Spawns `n` short coros into a `JoinSet` (none runs before the loop
/// ends), joins them all, and returns how many allocations that made.
fn burst(n: u64) -> usize {
    let before = ALLOCS.load(Relaxed);
    let mut set = corio::JoinSet::new();
    for i in 0..n {
        set.spawn(move || black_box(i) * 2);
    }
    let mut sum = 0;
    while let Some(r) = set.join_next() {
        sum += r.unwrap();
    }
    assert_eq!(sum, n * (n - 1));
    ALLOCS.load(Relaxed) - before
}

#[test]
fn a_second_burst_reuses_the_first_ones_blocks_and_an_idle_thread_frees_them() {
    const N: u64 = 5_000;
    let first = burst(N);
    assert!(
        first >= N as usize,
        "the first burst of {N} allocates its control blocks ({first} allocations)"
    );
    // The set's own queues may grow again; the coros allocate nothing.
    let second = burst(N);
    assert!(
        second < 64,
        "a second burst of {N} coros made {second} allocations; the first made {first}"
    );

    // Nothing else is ready: the scheduler idles during the sleep, and
    // frees the control blocks it kept beyond 1,024 (over 200 bytes each).
    let kept = LIVE.load(Relaxed);
    corio::sleep(Duration::from_millis(20));
    let freed = kept - LIVE.load(Relaxed);
    let least = (N as isize - 1024) * 200;
    assert!(
        freed >= least,
        "an idle thread freed {freed} bytes after a burst of {N}; expected at least {least}"
    );

    // What it kept still serves a burst of 1,000 without allocating.
    let small = burst(1_000);
    assert!(
        small < 64,
        "a burst of 1,000 after the trim made {small} allocations"
    );
}
