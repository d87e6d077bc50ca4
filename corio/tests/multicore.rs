//! `corio::multicore`: work on worker threads while the coros go on.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The pool is process-wide: tests that change or measure it take turns.
static POOL: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn other_coros_run_while_a_job_blocks_its_worker() {
    let _g = lock();
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let t = ticks.clone();
    let ticker = corio::spawn(move || {
        for _ in 0..10 {
            corio::sleep(Duration::from_millis(2));
            t.set(t.get() + 1);
        }
    });
    let worker = corio::multicore::run(|| {
        std::thread::sleep(Duration::from_millis(60));
        std::thread::current().id()
    });
    assert_ne!(worker, std::thread::current().id());
    assert_eq!(ticks.get(), 10, "the ticker ran to its end meanwhile");
    ticker.join().unwrap();
}

#[test]
fn a_panic_in_the_job_reaches_the_caller_with_its_payload() {
    let _g = lock();
    let r = std::panic::catch_unwind(|| {
        corio::multicore::run(|| -> u32 { std::panic::panic_any(String::from("job failed")) })
    });
    assert_eq!(util::panic_message(r.unwrap_err()), "job failed");
    // The pool still works.
    assert_eq!(corio::multicore::run(|| 7), 7);
}

struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_cancelled_waiter_gets_nothing_and_the_result_is_dropped_on_arrival() {
    let _g = lock();
    let drops = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (d, f) = (drops.clone(), finished.clone());
    let waiter = corio::spawn(move || {
        let v = corio::multicore::run(move || {
            std::thread::sleep(Duration::from_millis(30));
            f.store(1, Ordering::SeqCst);
            Counted(d)
        });
        std::mem::forget(v);
        unreachable!("cancelled before the result came");
    });
    corio::cede(); // the job is submitted and the waiter parked
    waiter.coro().cancel();
    assert!(matches!(waiter.join(), Err(corio::JoinError::Cancelled)));
    // The job runs to its end all the same; its value is dropped then.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while drops.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
        corio::sleep(Duration::from_millis(5));
    }
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn the_pool_never_runs_more_jobs_at_once_than_its_bound() {
    let _g = lock();
    let before = corio::multicore::max_threads();
    corio::multicore::set_max_threads(2);
    assert_eq!(corio::multicore::max_threads(), 2);
    // Let surplus idle workers of earlier tests notice the new bound.
    std::thread::sleep(Duration::from_millis(20));
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..6)
        .map(|i| {
            let (now, peak) = (now.clone(), peak.clone());
            corio::spawn(move || {
                corio::multicore::run(move || {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(15));
                    now.fetch_sub(1, Ordering::SeqCst);
                    i * 10
                })
            })
        })
        .collect();
    let got: Vec<_> = jobs.into_iter().map(|h| h.join().unwrap()).collect();
    corio::multicore::set_max_threads(before);
    assert_eq!(got, [0, 10, 20, 30, 40, 50]);
    assert!(peak.load(Ordering::SeqCst) <= 2, "{peak:?}");
    corio::multicore::set_max_threads(0);
    assert_eq!(
        corio::multicore::max_threads(),
        1,
        "the bound is at least 1"
    );
    corio::multicore::set_max_threads(before);
}

#[test]
fn schedulers_on_several_threads_share_the_pool() {
    let _g = lock();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                let hs: Vec<_> = (0..10u64)
                    .map(|i| corio::spawn(move || corio::multicore::run(move || t * 100 + i)))
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
            })
        })
        .collect();
    let sums: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(sums, [45, 1045, 2045, 3045]);
}

#[test]
fn a_burst_of_jobs_gets_threads_even_when_some_workers_sleep() {
    let _g = lock();
    // Jobs that each wait for all the others: they finish only if every
    // one of them gets a thread of its own. Before, a burst arriving while
    // one worker slept sent every job to that one sleeper's wake-up.
    let n = corio::multicore::max_threads().min(4);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // One worker, asleep (past its spin).
        corio::multicore::run(|| ());
        std::thread::sleep(Duration::from_millis(50));
        let barrier = Arc::new(std::sync::Barrier::new(n));
        let jobs: Vec<_> = (0..n)
            .map(|_| {
                let b = barrier.clone();
                corio::spawn(move || {
                    corio::multicore::run(move || {
                        b.wait();
                    })
                })
            })
            .collect();
        for j in jobs {
            j.join().unwrap();
        }
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("a burst of jobs queued behind one sleeping worker");
}
