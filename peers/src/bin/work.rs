//! One workload on one implementation, in this process, for the `suite`
//! runner: `work <impl> <workload> [n]` prints `RESULT <value> <unit>`;
//! `work <impl> echo-server|http-server 127.0.0.1:PORT` serves until killed.
//!
//! Implementations: `corio`, `tokio-ct` (current-thread runtime),
//! `tokio-mt` (multi-thread runtime, as many workers as CPUs), `may`
//! (one worker: the same one-core setting as corio), `std` (OS threads).
//! Workloads, the same work everywhere:
//! - `cede`: two tasks yielding to each other; ns per switch.
//! - `spawn`: spawn an empty task and join it, after one warm-up batch;
//!   ns per spawn+join (warm: the same stack or allocation again and again).
//! - `spawn-cold`: spawn 10,000 tasks that each yield once, so that all are
//!   alive at once, then join them all, in a fresh process; ns per task
//!   (cold: every task needs memory that was never touched).
//! - `pingpong`: two tasks bouncing a number through two capacity-1
//!   channels; ns per round trip.
//! - `semaphore`: 100 tasks taking turns on a 1-permit semaphore, yielding
//!   while they hold it; ns per acquisition.
//! - `select`: a two-branch select over two capacity-1 channels that both
//!   hold an item (Go's `select`, `tokio::select!`, `corio::select!`); the
//!   item taken goes back into its channel; ns per select (with that put),
//!   after one warm-up batch. std has no select: `NA`.
//! - `timers`: n tasks (default 100,000) each sleeping 10 ms; ms until all
//!   are done.
//! - `memory`: n tasks (default 100,000) parked; resident bytes per task.
//! - `park`: n tasks (run it with 1,000,000) parked on one channel, the
//!   channel closed, every task woken and joined; ms from the first spawn to
//!   the last join. Meant to be timed as a whole process from outside (exit
//!   teardown included); it also prints, on stderr, `PARKED rss_kib=R
//!   pte_kib=P` (`VmRSS`, `VmPTE` of the process while all are parked).
//! - `cancel` (corio only): n coros parked, then all cancelled (each unwinds
//!   its stack); ms for the cancels alone.
//! - `cancel-set` (corio only): n coros parked in a `JoinSet`, then
//!   `cancel_all`; ms for the cancels.
//! - `cancel-warm` (corio only): the same for n coros in batches of 1,000,
//!   whose stacks and control blocks stay in the caches; µs per cancel.
//! - `unwind` (corio only, no coros): n times `catch_unwind` around a
//!   function that calls `resume_unwind`, the floor of a cancel; µs each.
//! - `fileread`: read n files of 4 KiB (`$SUITE_FILES/f000000`…, made by the
//!   runner, in the page cache), 64 tasks at a time, once to warm up and
//!   once timed; µs per file.
//! - `echo-server`: a task per connection echoing what it reads.
//! - `http-server`: a task per connection answering every request head
//!   (up to its blank line) with a fixed 13-byte "Hello, world!" response,
//!   keep-alive, pipelined answers in one write.

use std::time::{Duration, Instant};

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
}

/// What `park` prints while every task is parked.
fn parked_note() {
    eprintln!(
        "PARKED rss_kib={} pte_kib={}",
        status_kib("VmRSS:"),
        status_kib("VmPTE:")
    );
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn report(value: f64, unit: &str) {
    println!("RESULT {value:.3} {unit}");
}

fn per(n: u64, t: Duration) -> f64 {
    t.as_nanos() as f64 / n as f64
}

const SWITCHES: u64 = 1_000_000;
const SPAWNS: u64 = 100_000;
const TRIPS: u64 = 200_000;
const ACQUIRES: u64 = 200_000;
const SEM_TASKS: u64 = 100;
const SELECTS: u64 = 500_000;
const COLD_TASKS: u64 = 10_000;
const FILE_TASKS: usize = 64;
const FILE_SIZE: usize = 4096;

/// The files of the `fileread` workload.
fn file_paths(n: u64) -> Vec<std::path::PathBuf> {
    let dir = std::env::var_os("SUITE_FILES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "target/suite-files".into());
    (0..n).map(|i| dir.join(format!("f{i:06}"))).collect()
}

/// Reports µs per file after checking that every byte was read.
fn file_report(n: u64, bytes: usize, e: Duration) {
    if bytes != n as usize * FILE_SIZE {
        fail(&format!(
            "read {bytes} bytes, expected {}",
            n as usize * FILE_SIZE
        ));
    }
    report(e.as_nanos() as f64 / n as f64 / 1e3, "us");
}

// ----- corio -----------------------------------------------------------------

fn corio(workload: &str, n: u64) {
    use std::rc::Rc;
    match workload {
        "cede" => {
            let other = corio::spawn(|| {
                for _ in 0..SWITCHES / 2 {
                    corio::cede();
                }
            });
            corio::cede();
            let t = Instant::now();
            for _ in 0..SWITCHES / 2 {
                corio::cede();
            }
            let e = t.elapsed();
            other.join().expect("coro");
            report(per(SWITCHES, e), "ns");
        }
        "spawn" => {
            let batch = |k| {
                let t = Instant::now();
                for _ in 0..k {
                    corio::spawn(|| ()).join().expect("coro");
                }
                t.elapsed()
            };
            batch(SPAWNS);
            report(per(SPAWNS, batch(SPAWNS)), "ns");
        }
        "select" => {
            use corio::sync::Channel;
            let (a, b) = (Channel::bounded(1), Channel::bounded(1));
            a.put(0u64).expect("put");
            b.put(0u64).expect("put");
            let batch = |k: u64| {
                let t = Instant::now();
                for i in 0..k {
                    corio::select! {
                        v = a.get() => a.put(v.expect("item") ^ i).expect("put"),
                        v = b.get() => b.put(v.expect("item") ^ i).expect("put"),
                    }
                }
                t.elapsed()
            };
            batch(SELECTS);
            report(per(SELECTS, batch(SELECTS)), "ns");
        }
        "spawn-cold" => {
            let t = Instant::now();
            let hs: Vec<_> = (0..COLD_TASKS).map(|_| corio::spawn(corio::cede)).collect();
            for h in hs {
                h.join().expect("coro");
            }
            report(per(COLD_TASKS, t.elapsed()), "ns");
        }
        "fileread" => {
            let files = Rc::new(file_paths(n));
            let pass = || {
                let next = Rc::new(std::cell::Cell::new(0usize));
                let t = Instant::now();
                let hs: Vec<_> = (0..FILE_TASKS)
                    .map(|_| {
                        let (files, next) = (files.clone(), next.clone());
                        corio::spawn(move || {
                            let mut bytes = 0;
                            while next.get() < files.len() {
                                let i = next.get();
                                next.set(i + 1);
                                bytes += corio::fs::read(&files[i])
                                    .unwrap_or_else(|e| fail(&e.to_string()))
                                    .len();
                            }
                            bytes
                        })
                    })
                    .collect();
                let bytes: usize = hs.into_iter().map(|h| h.join().expect("coro")).sum();
                (bytes, t.elapsed())
            };
            pass();
            let (bytes, e) = pass();
            file_report(n, bytes, e);
        }
        "pingpong" => {
            use corio::sync::Channel;
            let (a, b) = (Channel::bounded(1), Channel::bounded(1));
            let (a2, b2) = (a.clone(), b.clone());
            let echo = corio::spawn(move || {
                while let Some(v) = a2.get() {
                    b2.put(v).expect("put");
                }
            });
            let t = Instant::now();
            for i in 0..TRIPS {
                a.put(i).expect("put");
                b.get().expect("get");
            }
            let e = t.elapsed();
            a.shutdown();
            echo.join().expect("coro");
            report(per(TRIPS, e), "ns");
        }
        "semaphore" => {
            let sem = Rc::new(corio::sync::Semaphore::new(1));
            let t = Instant::now();
            let hs: Vec<_> = (0..SEM_TASKS)
                .map(|_| {
                    let sem = sem.clone();
                    corio::spawn(move || {
                        for _ in 0..ACQUIRES / SEM_TASKS {
                            let _g = sem.guard();
                            corio::cede();
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().expect("coro");
            }
            report(per(ACQUIRES, t.elapsed()), "ns");
        }
        "timers" => {
            let t = Instant::now();
            let hs: Vec<_> = (0..n)
                .map(|_| corio::spawn(|| corio::sleep(Duration::from_millis(10))))
                .collect();
            for h in hs {
                h.join().expect("coro");
            }
            report(t.elapsed().as_secs_f64() * 1e3, "ms");
        }
        "memory" => {
            let before = rss_bytes();
            let hs: Vec<_> = (0..n).map(|_| corio::spawn(corio::schedule)).collect();
            corio::cede();
            let book = (hs.capacity() * std::mem::size_of::<corio::JoinHandle<()>>()) as u64;
            report((rss_bytes() - before - book) as f64 / n as f64, "B");
            corio::killall();
        }
        "park" => {
            let t = Instant::now();
            let ch = corio::sync::Channel::<()>::new();
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let ch = ch.clone();
                    corio::spawn(move || {
                        ch.get();
                    })
                })
                .collect();
            corio::cede(); // every coro runs once and parks in get()
            parked_note();
            ch.shutdown();
            for h in hs {
                h.join().expect("coro");
            }
            report(t.elapsed().as_secs_f64() * 1e3, "ms");
        }
        "cancel-set" => {
            let mut set = corio::JoinSet::new();
            for _ in 0..n {
                set.spawn(corio::schedule);
            }
            corio::cede();
            let t = Instant::now();
            set.cancel_all();
            report(t.elapsed().as_secs_f64() * 1e3, "ms");
        }
        "cancel-warm" => {
            let mut cancels = Duration::ZERO;
            let mut done = 0;
            while done < n {
                let batch = (n - done).min(1000);
                let hs: Vec<_> = (0..batch).map(|_| corio::spawn(corio::schedule)).collect();
                corio::cede();
                let t = Instant::now();
                for h in &hs {
                    h.cancel();
                }
                cancels += t.elapsed();
                done += batch;
            }
            report(per(n, cancels) / 1e3, "us");
        }
        "unwind" => {
            #[inline(never)]
            fn raise() {
                std::panic::resume_unwind(Box::new(()));
            }
            let t = Instant::now();
            for _ in 0..n {
                std::hint::black_box(std::panic::catch_unwind(raise).is_err());
            }
            report(per(n, t.elapsed()) / 1e3, "us");
        }
        "cancel" => {
            let hs: Vec<_> = (0..n).map(|_| corio::spawn(corio::schedule)).collect();
            corio::cede();
            let rss = status_kib("VmRSS:");
            let t = Instant::now();
            for h in &hs {
                h.cancel();
            }
            let e = t.elapsed();
            eprintln!(
                "CANCELLED rss_kib_before={rss} rss_kib_after={}",
                status_kib("VmRSS:")
            );
            report(e.as_secs_f64() * 1e3, "ms");
        }
        other => unknown(other),
    }
}

// ----- tokio -----------------------------------------------------------------

fn tokio_rt(mt: bool) -> tokio::runtime::Runtime {
    let r = if mt {
        tokio::runtime::Builder::new_multi_thread()
            .enable_time()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
    };
    r.unwrap_or_else(|e| fail(&format!("tokio: {e}")))
}

fn tokio(mt: bool, workload: &str, n: u64) {
    let rt = tokio_rt(mt);
    rt.block_on(async move {
        match workload {
            "cede" => {
                let other = tokio::spawn(async {
                    for _ in 0..SWITCHES / 2 {
                        tokio::task::yield_now().await;
                    }
                });
                let t = Instant::now();
                for _ in 0..SWITCHES / 2 {
                    tokio::task::yield_now().await;
                }
                let e = t.elapsed();
                other.await.expect("task");
                report(per(SWITCHES, e), "ns");
            }
            "spawn" => {
                async fn batch(k: u64) -> Duration {
                    let t = Instant::now();
                    for _ in 0..k {
                        tokio::spawn(async {}).await.expect("task");
                    }
                    t.elapsed()
                }
                batch(SPAWNS).await;
                report(per(SPAWNS, batch(SPAWNS).await), "ns");
            }
            "select" => {
                let (atx, mut arx) = tokio::sync::mpsc::channel::<u64>(1);
                let (btx, mut brx) = tokio::sync::mpsc::channel::<u64>(1);
                atx.send(0).await.expect("send");
                btx.send(0).await.expect("send");
                let mut e = Duration::ZERO;
                for _ in 0..2 {
                    let t = Instant::now();
                    for i in 0..SELECTS {
                        tokio::select! {
                            v = arx.recv() => atx.send(v.expect("item") ^ i).await.expect("send"),
                            v = brx.recv() => btx.send(v.expect("item") ^ i).await.expect("send"),
                        }
                    }
                    e = t.elapsed(); // the second batch counts
                }
                report(per(SELECTS, e), "ns");
            }
            "spawn-cold" => {
                let t = Instant::now();
                let hs: Vec<_> = (0..COLD_TASKS)
                    .map(|_| tokio::spawn(tokio::task::yield_now()))
                    .collect();
                for h in hs {
                    h.await.expect("task");
                }
                report(per(COLD_TASKS, t.elapsed()), "ns");
            }
            "fileread" => {
                use std::sync::Arc;
                use std::sync::atomic::{AtomicUsize, Ordering};
                let files = Arc::new(file_paths(n));
                let mut last = (0, Duration::ZERO);
                for _ in 0..2 {
                    let next = Arc::new(AtomicUsize::new(0));
                    let t = Instant::now();
                    let hs: Vec<_> = (0..FILE_TASKS)
                        .map(|_| {
                            let (files, next) = (files.clone(), next.clone());
                            tokio::spawn(async move {
                                let mut bytes = 0;
                                loop {
                                    let i = next.fetch_add(1, Ordering::Relaxed);
                                    if i >= files.len() {
                                        return bytes;
                                    }
                                    bytes += tokio::fs::read(&files[i])
                                        .await
                                        .unwrap_or_else(|e| fail(&e.to_string()))
                                        .len();
                                }
                            })
                        })
                        .collect();
                    let mut bytes = 0;
                    for h in hs {
                        bytes += h.await.expect("task");
                    }
                    last = (bytes, t.elapsed());
                }
                file_report(n, last.0, last.1);
            }
            "pingpong" => {
                let (atx, mut arx) = tokio::sync::mpsc::channel::<u64>(1);
                let (btx, mut brx) = tokio::sync::mpsc::channel::<u64>(1);
                let echo = tokio::spawn(async move {
                    while let Some(v) = arx.recv().await {
                        if btx.send(v).await.is_err() {
                            break;
                        }
                    }
                });
                let t = Instant::now();
                for i in 0..TRIPS {
                    atx.send(i).await.expect("send");
                    brx.recv().await.expect("recv");
                }
                let e = t.elapsed();
                drop(atx);
                echo.await.expect("task");
                report(per(TRIPS, e), "ns");
            }
            "semaphore" => {
                let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
                let t = Instant::now();
                let hs: Vec<_> = (0..SEM_TASKS)
                    .map(|_| {
                        let sem = sem.clone();
                        tokio::spawn(async move {
                            for _ in 0..ACQUIRES / SEM_TASKS {
                                let _p = sem.acquire().await.expect("sem");
                                tokio::task::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.await.expect("task");
                }
                report(per(ACQUIRES, t.elapsed()), "ns");
            }
            "timers" => {
                let t = Instant::now();
                let hs: Vec<_> = (0..n)
                    .map(|_| tokio::spawn(tokio::time::sleep(Duration::from_millis(10))))
                    .collect();
                for h in hs {
                    h.await.expect("task");
                }
                report(t.elapsed().as_secs_f64() * 1e3, "ms");
            }
            "memory" => {
                let before = rss_bytes();
                let notify = std::sync::Arc::new(tokio::sync::Notify::new());
                let hs: Vec<_> = (0..n)
                    .map(|_| {
                        let nt = notify.clone();
                        tokio::spawn(async move { nt.notified().await })
                    })
                    .collect();
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let book =
                    (hs.capacity() * std::mem::size_of::<tokio::task::JoinHandle<()>>()) as u64;
                report((rss_bytes() - before - book) as f64 / n as f64, "B");
                for h in hs {
                    h.abort();
                }
            }
            "park" => {
                let t = Instant::now();
                let (tx, rx) = tokio::sync::watch::channel(());
                let hs: Vec<_> = (0..n)
                    .map(|_| {
                        let mut rx = rx.clone();
                        tokio::spawn(async move {
                            let _ = rx.changed().await;
                        })
                    })
                    .collect();
                tokio::task::yield_now().await; // every task runs once and parks
                parked_note();
                drop(tx);
                for h in hs {
                    h.await.expect("task");
                }
                report(t.elapsed().as_secs_f64() * 1e3, "ms");
            }
            other => unknown(other),
        }
    });
}

// ----- may -------------------------------------------------------------------

fn may(workload: &str, n: u64) {
    may::config().set_workers(1).set_stack_size(0x2000);
    use may::coroutine::yield_now;
    use may::go;
    match workload {
        "cede" => {
            let other = go!(|| {
                for _ in 0..SWITCHES / 2 {
                    yield_now();
                }
            });
            let me = go!(|| {
                let t = Instant::now();
                for _ in 0..SWITCHES / 2 {
                    yield_now();
                }
                t.elapsed()
            });
            let e = me.join().expect("coroutine");
            other.join().expect("coroutine");
            report(per(SWITCHES, e), "ns");
        }
        "spawn" => {
            let e = go!(move || {
                let batch = |k| {
                    let t = Instant::now();
                    for _ in 0..k {
                        go!(|| ()).join().expect("coroutine");
                    }
                    t.elapsed()
                };
                batch(SPAWNS);
                batch(SPAWNS)
            })
            .join()
            .expect("coroutine");
            report(per(SPAWNS, e), "ns");
        }
        "select" => {
            // may's select! runs each branch in a coroutine of its own (a
            // cqueue) and cancels the rest when one has finished; the
            // winner's item goes back in after it.
            let e = go!(|| {
                let (atx, arx) = may::sync::mpsc::channel::<u64>();
                let (btx, brx) = may::sync::mpsc::channel::<u64>();
                atx.send(0).expect("send");
                btx.send(0).expect("send");
                let k = SELECTS / 10;
                let batch = || {
                    let t = Instant::now();
                    for i in 0..k {
                        let (mut va, mut vb) = (None, None);
                        let which = may::select!(
                            v = arx.recv() => va = v.ok(),
                            v = brx.recv() => vb = v.ok()
                        );
                        // A branch that lost may still have taken its item:
                        // put back whatever was taken.
                        if let Some(v) = va {
                            atx.send(v ^ i).expect("send");
                        }
                        if let Some(v) = vb {
                            btx.send(v ^ i).expect("send");
                        }
                        std::hint::black_box(which);
                    }
                    t.elapsed()
                };
                batch();
                per(k, batch())
            })
            .join()
            .expect("coroutine");
            report(e, "ns");
        }
        "spawn-cold" => {
            let e = go!(move || {
                let t = Instant::now();
                let hs: Vec<_> = (0..COLD_TASKS).map(|_| go!(yield_now)).collect();
                for h in hs {
                    h.join().expect("coroutine");
                }
                t.elapsed()
            })
            .join()
            .expect("coroutine");
            report(per(COLD_TASKS, e), "ns");
        }
        "fileread" => {
            // may has no file I/O of its own: blocking std::fs::read in
            // the coroutines, as a may program would.
            let files = std::sync::Arc::new(file_paths(n));
            let (bytes, e) = go!(move || {
                use std::sync::atomic::{AtomicUsize, Ordering};
                let mut last = (0, Duration::ZERO);
                for _ in 0..2 {
                    let next = std::sync::Arc::new(AtomicUsize::new(0));
                    let t = Instant::now();
                    let hs: Vec<_> = (0..FILE_TASKS)
                        .map(|_| {
                            let (files, next) = (files.clone(), next.clone());
                            go!(move || {
                                let mut bytes = 0;
                                loop {
                                    let i = next.fetch_add(1, Ordering::Relaxed);
                                    if i >= files.len() {
                                        return bytes;
                                    }
                                    bytes += std::fs::read(&files[i])
                                        .unwrap_or_else(|e| fail(&e.to_string()))
                                        .len();
                                }
                            })
                        })
                        .collect();
                    let bytes: usize = hs.into_iter().map(|h| h.join().expect("coroutine")).sum();
                    last = (bytes, t.elapsed());
                }
                last
            })
            .join()
            .expect("coroutine");
            file_report(n, bytes, e);
        }
        "pingpong" => {
            let e = go!(|| {
                let (atx, arx) = may::sync::mpsc::channel::<u64>();
                let (btx, brx) = may::sync::mpsc::channel::<u64>();
                let echo = go!(move || {
                    while let Ok(v) = arx.recv() {
                        if btx.send(v).is_err() {
                            break;
                        }
                    }
                });
                let t = Instant::now();
                for i in 0..TRIPS {
                    atx.send(i).expect("send");
                    brx.recv().expect("recv");
                }
                let e = t.elapsed();
                drop(atx);
                echo.join().expect("coroutine");
                e
            })
            .join()
            .expect("coroutine");
            report(per(TRIPS, e), "ns");
        }
        "semaphore" => {
            let sem = std::sync::Arc::new(may::sync::Semphore::new(1));
            let t = Instant::now();
            let hs: Vec<_> = (0..SEM_TASKS)
                .map(|_| {
                    let sem = sem.clone();
                    go!(move || {
                        for _ in 0..ACQUIRES / SEM_TASKS {
                            sem.wait();
                            yield_now();
                            sem.post();
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().expect("coroutine");
            }
            report(per(ACQUIRES, t.elapsed()), "ns");
        }
        "timers" => {
            let t = Instant::now();
            let hs: Vec<_> = (0..n)
                .map(|_| go!(|| may::coroutine::sleep(Duration::from_millis(10))))
                .collect();
            for h in hs {
                h.join().expect("coroutine");
            }
            report(t.elapsed().as_secs_f64() * 1e3, "ms");
        }
        "memory" => {
            let before = rss_bytes();
            let (tx, rx) = may::sync::mpmc::channel::<()>();
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let rx = rx.clone();
                    go!(move || {
                        let _ = rx.recv();
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(200));
            let book =
                (hs.capacity() * std::mem::size_of::<may::coroutine::JoinHandle<()>>()) as u64;
            report((rss_bytes() - before - book) as f64 / n as f64, "B");
            // Tearing 100,000 parked coroutines down is not measured (and
            // may's takes minutes): leave.
            drop((tx, rx, hs));
            std::process::exit(0);
        }
        other => unknown(other),
    }
}

// ----- std threads -----------------------------------------------------------

fn threads(workload: &str, n: u64) {
    match workload {
        "cede" => {
            let k = SWITCHES / 10;
            let other = std::thread::spawn(move || {
                for _ in 0..k / 2 {
                    std::thread::yield_now();
                }
            });
            let t = Instant::now();
            for _ in 0..k / 2 {
                std::thread::yield_now();
            }
            let e = t.elapsed();
            other.join().expect("thread");
            report(per(k, e), "ns");
        }
        "spawn" => {
            let k = SPAWNS / 10;
            let batch = || {
                let t = Instant::now();
                for _ in 0..k {
                    std::thread::spawn(|| ()).join().expect("thread");
                }
                t.elapsed()
            };
            batch();
            report(per(k, batch()), "ns");
        }
        "select" => println!("NA std's channels have no select"),
        "spawn-cold" => {
            let k = COLD_TASKS / 10;
            let t = Instant::now();
            let hs: Vec<_> = (0..k)
                .map(|_| std::thread::spawn(std::thread::yield_now))
                .collect();
            for h in hs {
                h.join().expect("thread");
            }
            report(per(k, t.elapsed()), "ns");
        }
        "fileread" => {
            // A pool of 64 threads: the same concurrency as the tasks.
            use std::sync::atomic::{AtomicUsize, Ordering};
            let files = file_paths(n);
            let mut last = (0, Duration::ZERO);
            for _ in 0..2 {
                let next = AtomicUsize::new(0);
                let t = Instant::now();
                let bytes = std::thread::scope(|s| {
                    let hs: Vec<_> = (0..FILE_TASKS)
                        .map(|_| {
                            s.spawn(|| {
                                let mut bytes = 0;
                                loop {
                                    let i = next.fetch_add(1, Ordering::Relaxed);
                                    if i >= files.len() {
                                        return bytes;
                                    }
                                    bytes += std::fs::read(&files[i])
                                        .unwrap_or_else(|e| fail(&e.to_string()))
                                        .len();
                                }
                            })
                        })
                        .collect();
                    hs.into_iter()
                        .map(|h| h.join().expect("thread"))
                        .sum::<usize>()
                });
                last = (bytes, t.elapsed());
            }
            file_report(n, last.0, last.1);
        }
        "pingpong" => {
            let k = TRIPS / 10;
            let (atx, arx) = std::sync::mpsc::sync_channel::<u64>(1);
            let (btx, brx) = std::sync::mpsc::sync_channel::<u64>(1);
            let echo = std::thread::spawn(move || {
                for v in arx {
                    if btx.send(v).is_err() {
                        break;
                    }
                }
            });
            let t = Instant::now();
            for i in 0..k {
                atx.send(i).expect("send");
                brx.recv().expect("recv");
            }
            let e = t.elapsed();
            drop(atx);
            echo.join().expect("thread");
            report(per(k, e), "ns");
        }
        "semaphore" => {
            let k = ACQUIRES / 10;
            let m = std::sync::Arc::new(std::sync::Mutex::new(()));
            let t = Instant::now();
            let hs: Vec<_> = (0..SEM_TASKS)
                .map(|_| {
                    let m = m.clone();
                    std::thread::spawn(move || {
                        for _ in 0..k / SEM_TASKS {
                            let _g = m.lock().expect("lock");
                            std::thread::yield_now();
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().expect("thread");
            }
            report(per(k, t.elapsed()), "ns");
        }
        "timers" | "memory" => {
            // One OS thread per task, as a std program would do it, when
            // the machine allows that many threads at all.
            if let Some(why) = too_many_threads(n) {
                println!("NA {why}");
                return;
            }
            if workload == "timers" {
                let t = Instant::now();
                let hs: Vec<_> = (0..n)
                    .map(|_| std::thread::spawn(|| std::thread::sleep(Duration::from_millis(10))))
                    .collect();
                for h in hs {
                    h.join().expect("thread");
                }
                report(t.elapsed().as_secs_f64() * 1e3, "ms");
            } else {
                let before = rss_bytes();
                let gate = std::sync::Arc::new(std::sync::Barrier::new(n as usize + 1));
                let hs: Vec<_> = (0..n)
                    .map(|_| {
                        let gate = gate.clone();
                        std::thread::spawn(move || {
                            gate.wait();
                        })
                    })
                    .collect();
                std::thread::sleep(Duration::from_millis(200));
                let book =
                    (hs.capacity() * std::mem::size_of::<std::thread::JoinHandle<()>>()) as u64;
                // Resident memory only: each thread's kernel stack and task
                // (about 20 KiB) are not in the process's RSS.
                report((rss_bytes() - before - book) as f64 / n as f64, "B");
                gate.wait();
                for h in hs {
                    h.join().expect("thread");
                }
            }
        }
        other => unknown(other),
    }
}

/// Why this machine cannot run `n` more threads in one process, if it
/// cannot: the kernel's pid and thread limits, the user's process limit,
/// and the memory mappings (two per thread stack).
fn too_many_threads(n: u64) -> Option<String> {
    let sysctl = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/proc/sys/{}", name.replace('.', "/")))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let mut limits: Vec<(String, u64)> = ["kernel.pid_max", "kernel.threads-max"]
        .iter()
        .filter_map(|k| Some((k.to_string(), sysctl(k)?)))
        .collect();
    if let Some(m) = sysctl("vm.max_map_count") {
        limits.push(("vm.max_map_count / 2".into(), m / 2));
    }
    let mut nproc = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `nproc`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut nproc) } == 0
        && nproc.rlim_cur != libc::RLIM_INFINITY
    {
        limits.push(("ulimit -u".into(), nproc.rlim_cur));
    }
    // Headroom for the threads everything else on the machine runs.
    let (name, limit) = limits.into_iter().min_by_key(|(_, v)| *v)?;
    (n + 1000 > limit).then(|| format!("{n} OS threads exceed this machine's {name} = {limit}"))
}

// ----- servers ---------------------------------------------------------------

use corio_peers::HTTP_RESPONSE;
use std::io::{Read, Write};

/// Connection buffer, and the longest request head accepted.
const CONN_BUF: usize = 4096;

/// Counts the complete request heads (each up to its blank line) at the
/// start of `buf[..*len]` and moves what follows them to the front.
fn take_heads(buf: &mut [u8], len: &mut usize) -> usize {
    let mut start = 0;
    let mut heads = 0;
    while let Some(p) = buf[start..*len].windows(4).position(|w| w == b"\r\n\r\n") {
        start += p + 4;
        heads += 1;
    }
    buf.copy_within(start..*len, 0);
    *len -= start;
    heads
}

/// The answers to `heads` requests, in one buffer for one write.
fn answers(out: &mut Vec<u8>, heads: usize) {
    out.clear();
    for _ in 0..heads {
        out.extend_from_slice(HTTP_RESPONSE);
    }
}

/// One connection of a blocking-style server (corio, may, std threads).
fn serve_blocking<S: Read + Write>(mut s: S, http: bool) {
    let mut buf = vec![0u8; CONN_BUF];
    let mut len = 0;
    let mut out = Vec::new();
    loop {
        if len == buf.len() {
            return; // a head longer than the buffer: not our client
        }
        match s.read(&mut buf[len..]) {
            Ok(0) | Err(_) => return,
            Ok(n) if !http => {
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Ok(n) => {
                len += n;
                let heads = take_heads(&mut buf, &mut len);
                if heads > 0 {
                    answers(&mut out, heads);
                    if s.write_all(&out).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// One connection of the tokio servers: the same work, awaited.
async fn serve_tokio(mut s: tokio::net::TcpStream, http: bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; CONN_BUF];
    let mut len = 0;
    let mut out = Vec::new();
    loop {
        if len == buf.len() {
            return;
        }
        match s.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) if !http => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            Ok(n) => {
                len += n;
                let heads = take_heads(&mut buf, &mut len);
                if heads > 0 {
                    answers(&mut out, heads);
                    if s.write_all(&out).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn server(imp: &str, http: bool, addr: &str) {
    let cannot = |e: std::io::Error| -> ! { fail(&format!("cannot listen on {addr}: {e}")) };
    match imp {
        "corio" => {
            let l = corio::net::TcpListener::bind(addr).unwrap_or_else(|e| cannot(e));
            let served = corio::net::serve_on(l, move |s| {
                let _ = s.set_nodelay(true);
                serve_blocking(s, http);
            });
            if let Err(e) = served {
                fail(&format!("serve: {e}"));
            }
        }
        "tokio-ct" | "tokio-mt" => {
            let rt = if imp == "tokio-mt" {
                tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
            } else {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            };
            let rt = rt.unwrap_or_else(|e| fail(&format!("tokio: {e}")));
            rt.block_on(async {
                let l = tokio::net::TcpListener::bind(addr)
                    .await
                    .unwrap_or_else(|e| cannot(e));
                loop {
                    match l.accept().await {
                        Ok((s, _)) => {
                            let _ = s.set_nodelay(true);
                            tokio::spawn(serve_tokio(s, http));
                        }
                        Err(e) => eprintln!("work: accept: {e}"),
                    }
                }
            });
        }
        "may" => {
            may::config().set_workers(1).set_worker_pin(false);
            let l = may::net::TcpListener::bind(addr).unwrap_or_else(|e| cannot(e));
            let acceptor = may::go!(move || {
                for s in l.incoming() {
                    match s {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            may::go!(move || serve_blocking(s, http));
                        }
                        Err(e) => eprintln!("work: accept: {e}"),
                    }
                }
            });
            let _ = acceptor.join();
        }
        "std" => {
            let l = std::net::TcpListener::bind(addr).unwrap_or_else(|e| cannot(e));
            for s in l.incoming() {
                match s {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        std::thread::spawn(move || serve_blocking(s, http));
                    }
                    Err(e) => eprintln!("work: accept: {e}"),
                }
            }
        }
        other => fail(&format!("unknown implementation {other:?}")),
    }
}

fn unknown(w: &str) -> ! {
    fail(&format!("unknown workload {w:?}"))
}

fn fail(msg: &str) -> ! {
    eprintln!("work: {msg}");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(imp), Some(workload)) = (args.first(), args.get(1)) else {
        fail("usage: work <corio|tokio-ct|tokio-mt|may|std> <workload> [n | 127.0.0.1:PORT]");
    };
    if workload == "echo-server" || workload == "http-server" {
        let Some(addr) = args.get(2) else {
            fail("a server needs an address to listen on, like 127.0.0.1:7400");
        };
        return server(imp, workload == "http-server", addr);
    }
    let n: u64 = match args.get(2).map(|s| s.parse()) {
        None => 100_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => fail("n must be a positive whole number"),
    };
    match imp.as_str() {
        "corio" => corio(workload, n),
        "tokio-ct" => tokio(false, workload, n),
        "tokio-mt" => tokio(true, workload, n),
        "may" => may(workload, n),
        "std" => threads(workload, n),
        other => fail(&format!("unknown implementation {other:?}")),
    }
}
