//! Core benchmarks: switch, spawn+join, and memory per parked coro, each
//! against a baseline measured in the same run.
//!
//! ```text
//! cargo bench --bench core                  # everything
//! cargo bench --bench core -- cede spawn    # some workloads (cede, spawn,
//!                                           # sync, select, multicore, toolkit,
//!                                           # joinset (also in toolkit), memory)
//! cargo bench --bench core -- memory 1000000
//! ```
//!
//! Timed workloads alternate between the baseline and corio in rounds, so
//! that a noisy neighbour slows both; the table reports the median and the
//! minimum of the rounds, and the ratio of the medians.
//! `CORIO_BENCH_CLOCK=thread` times the rows that run on one thread with
//! that thread's CPU clock instead of the wall clock (see
//! `common::per_op`): the way to A/B the scheduler on a busy machine.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};

mod common;

use common::{ROUNDS, per_op, per_op_wall, stats};

/// Runs `base` and `subject` alternately (see `common::rounds`) and prints
/// the row.
fn paired(name: &str, base_name: &str, base: impl FnMut() -> f64, subject: impl FnMut() -> f64) {
    let r = common::rounds(name, base_name, base, subject);
    println!(
        "{name:<34} {:>9.1} ns (min {:>7.1})   {base_name:<34} {:>7.1} ns (min {:>6.1})   ratio {:>5.2} (min {:.2})",
        r.subject.median, r.subject.min, r.base.median, r.base.min, r.ratio.median, r.ratio.min
    );
}

// ----- switching -------------------------------------------------------------

/// Two raw corosensei coroutines resumed alternately, each suspending `n`
/// times through `suspend`: the floor of a switch.
fn raw_switch(n: u64, suspend: impl Fn(&Yielder<(), ()>) + Copy + 'static) -> f64 {
    let mk = || {
        Coroutine::new(move |y: &Yielder<(), ()>, ()| {
            for _ in 0..n {
                suspend(y);
            }
        })
    };
    let (mut a, mut b) = (mk(), mk());
    per_op(2 * n, || {
        loop {
            let ra = a.resume(());
            let rb = b.resume(());
            if matches!(ra, CoroutineResult::Return(()))
                && matches!(rb, CoroutineResult::Return(()))
            {
                break;
            }
        }
    })
}

/// Two corio coros ceding `n` times each through `cede` (the main coro
/// waits in join).
fn corio_switch(n: u64, cede: impl Fn() + Copy + 'static) -> f64 {
    let player = move || {
        for _ in 0..n {
            cede();
        }
    };
    let (a, b) = (corio::spawn(player), corio::spawn(player));
    per_op(2 * n, || {
        a.join().unwrap();
        b.join().unwrap();
    })
}

/// The main coro and one coro ceding to each other `n` times each (the
/// peer suite's `cede` workload): the main coro's side goes through the
/// scheduler loop, which runs on its stack.
fn corio_switch_main(n: u64) -> f64 {
    let other = corio::spawn(move || {
        for _ in 0..n {
            corio::cede();
        }
    });
    corio::cede();
    let r = per_op(2 * n, || {
        for _ in 0..n {
            corio::cede();
        }
    });
    other.join().unwrap();
    r
}

/// `cede` inlined into the loop, as a plain call to `corio::cede` is.
#[inline(always)]
fn cede_inline() {
    corio::cede();
}

/// `cede` behind a function call, as in most real code: every switch then
/// also pays for mispredicted returns.
#[inline(never)]
fn cede_out_of_line() {
    corio::cede();
}

#[inline(always)]
fn suspend_inline(y: &Yielder<(), ()>) {
    y.suspend(());
}

#[inline(never)]
fn suspend_out_of_line(y: &Yielder<(), ()>) {
    y.suspend(());
}

fn bench_cede() {
    let n = 2_000_000;
    paired(
        "cede: 2 coros ceding",
        "raw corosensei resume+suspend",
        || raw_switch(n, suspend_inline),
        || corio_switch(n, cede_inline),
    );
    paired(
        "cede: main coro and a coro",
        "raw corosensei resume+suspend",
        || raw_switch(n, suspend_inline),
        || corio_switch_main(n),
    );
    paired(
        "cede via a call (typical code)",
        "raw corosensei, suspend via a call",
        || raw_switch(n, suspend_out_of_line),
        || corio_switch(n, cede_out_of_line),
    );
}

// ----- spawn + join ----------------------------------------------------------

/// Creating, running and finishing a raw corosensei coroutine on a reused
/// stack: the floor of a spawn.
fn raw_spawn(n: u64) -> f64 {
    let mut stack = Some(DefaultStack::new(256 * 1024).unwrap());
    per_op(n, || {
        for i in 0..n {
            let mut co =
                Coroutine::with_stack(stack.take().unwrap(), move |_: &Yielder<(), ()>, ()| {
                    black_box(i);
                });
            assert!(matches!(co.resume(()), CoroutineResult::Return(())));
            stack = Some(co.into_stack());
        }
    })
}

fn corio_spawn(n: u64) -> f64 {
    per_op(n, || {
        for i in 0..n {
            corio::spawn(move || black_box(i)).join().unwrap();
        }
    })
}

/// spawn+join of a coro whose stack was given back to the OS: the first
/// touch of its top page faults.
fn corio_spawn_cold(n: u64) -> f64 {
    let mut total = Duration::ZERO;
    for i in 0..n {
        corio::stack::trim();
        let t = Instant::now();
        corio::spawn(move || black_box(i)).join().unwrap();
        total += t.elapsed();
    }
    total.as_nanos() as f64 / n as f64
}

/// First touch of a page in a fresh anonymous mapping: what a cold stack
/// costs at least.
fn page_touch(n: u64) -> f64 {
    let page = 4096;
    let len = n as usize * page;
    // SAFETY: a fresh private anonymous mapping, unmapped below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    } as *mut u8;
    assert!(p as isize != -1);
    let r = per_op(n, || {
        for i in 0..n as usize {
            // SAFETY: inside the mapping.
            unsafe { p.add(i * page).write_volatile(1) };
        }
    });
    // SAFETY: our mapping.
    unsafe { libc::munmap(p.cast(), len) };
    r
}

/// Spawning many coros that stay alive: every one needs a stack slot that
/// was never used (guard page installed, first touch faults). Each round
/// uses a stack size never used before, so no pooled stack can serve it.
fn corio_spawn_fresh(n: u64, round: usize) -> f64 {
    let size = 128 * 1024 + round * 4096;
    let t = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            corio::Builder::new()
                .stack_size(size)
                .spawn(corio::schedule)
                .unwrap()
        })
        .collect();
    let spawn = t.elapsed();
    // Let them all park once (that is when the top page is touched).
    let t2 = Instant::now();
    corio::cede();
    let park = t2.elapsed();
    corio::killall();
    drop(handles);
    (spawn + park).as_nanos() as f64 / n as f64
}

fn bench_spawn() {
    let n = 200_000;
    paired(
        "spawn+join, warm pool",
        "raw corosensei on a reused stack",
        || raw_spawn(n),
        || corio_spawn(n),
    );
    paired(
        "spawn+join, stack given back (cold)",
        "first touch of a fresh page",
        || page_touch(2_000),
        || corio_spawn_cold(2_000),
    );
    let fresh = stats((0..3).map(|r| corio_spawn_fresh(20_000, r)).collect());
    println!(
        "{:<34} {:>9.1} ns (min {:>7.1})   (never-used slot: guard install + first touch)",
        "spawn+park, fresh stacks", fresh.median, fresh.min
    );
}

// ----- synchronisation -------------------------------------------------------

/// Round trips through two `bounded(1)` channels between two coros.
fn channel_ping_pong(n: u64) -> f64 {
    use corio::sync::Channel;
    let (c1, c2) = (Channel::bounded(1), Channel::bounded(1));
    let (a1, a2) = (c1.clone(), c2.clone());
    let ping = corio::spawn(move || {
        for i in 0..n {
            a1.put(i).unwrap();
            black_box(a2.get());
        }
    });
    let pong = corio::spawn(move || {
        for _ in 0..n {
            let v = c1.get().unwrap();
            c2.put(v).unwrap();
        }
    });
    per_op(n, || {
        ping.join().unwrap();
        pong.join().unwrap();
    })
}

/// 100 coros taking `Semaphore::new(1)` in turn, ceding once while they
/// hold it: time per acquisition.
fn semaphore_contention(per_coro: u64) -> f64 {
    use std::rc::Rc;
    let sem = Rc::new(corio::sync::Semaphore::new(1));
    let hs: Vec<_> = (0..100)
        .map(|_| {
            let sem = sem.clone();
            corio::spawn(move || {
                for _ in 0..per_coro {
                    let _g = sem.guard();
                    corio::cede();
                }
            })
        })
        .collect();
    per_op(100 * per_coro, || {
        for h in hs {
            h.join().unwrap();
        }
    })
}

/// The same 100 coros ceding once per round, without the semaphore.
fn hundred_cede(per_coro: u64) -> f64 {
    let hs: Vec<_> = (0..100)
        .map(|_| {
            corio::spawn(move || {
                for _ in 0..per_coro {
                    corio::cede();
                }
            })
        })
        .collect();
    per_op(100 * per_coro, || {
        for h in hs {
            h.join().unwrap();
        }
    })
}

/// One producer coro and one consumer coro through an unbounded channel;
/// the producer yields every 1024 items. Nanoseconds per item.
fn channel_throughput(n: u64) -> f64 {
    let ch = corio::sync::Channel::new();
    let tx = ch.clone();
    let producer = corio::spawn(move || {
        for i in 0..n {
            tx.put(i).unwrap();
            if i % 1024 == 1023 {
                corio::cede();
            }
        }
        tx.shutdown();
    });
    let consumer = corio::spawn(move || {
        let mut sum = 0u64;
        for v in &ch {
            sum = sum.wrapping_add(v);
        }
        sum
    });
    per_op(n, || {
        producer.join().unwrap();
        black_box(consumer.join().unwrap());
    })
}

/// The floor of a queue: push and pop through a `VecDeque` in batches of
/// 1024, in one function.
fn vecdeque_throughput(n: u64) -> f64 {
    let mut q = std::collections::VecDeque::new();
    per_op(n, || {
        let mut sum = 0u64;
        let mut i = 0;
        while i < n {
            let end = (i + 1024).min(n);
            for v in i..end {
                q.push_back(black_box(v));
            }
            while let Some(v) = q.pop_front() {
                sum = sum.wrapping_add(v);
            }
            i = end;
        }
        black_box(sum);
    })
}

fn bench_sync() {
    paired(
        "channel ping-pong, per round trip",
        "2 raw corosensei switch pairs",
        || 2.0 * raw_switch(500_000, suspend_inline),
        || channel_ping_pong(500_000),
    );
    paired(
        "semaphore, 100 coros, per acquisition",
        "100 coros ceding, per cede",
        || hundred_cede(5_000),
        || semaphore_contention(5_000),
    );
    paired(
        "unbounded channel, per item",
        "VecDeque push+pop, per item",
        || vecdeque_throughput(5_000_000),
        || channel_throughput(5_000_000),
    );
}

// ----- select! -------------------------------------------------------------------

/// `select!` over two channels that both hold an item: the first branch
/// wins at once; the item goes back in. Per select (with its put back).
fn select_ready(n: u64) -> f64 {
    use corio::sync::Channel;
    let (a, b) = (Channel::bounded(1), Channel::bounded(1));
    a.put(0u64).unwrap();
    b.put(0u64).unwrap();
    per_op(n, || {
        for i in 0..n {
            corio::select! {
                v = a.get() => a.put(black_box(v.unwrap() + i)).unwrap(),
                v = b.get() => b.put(black_box(v.unwrap() + i)).unwrap(),
            }
        }
    })
}

/// A coro that parks and is cancelled: what a branch that loses after it
/// parked costs at least (its stack unwinds).
fn spawn_park_cancel(n: u64) -> f64 {
    per_op(n, || {
        for _ in 0..n {
            let h = corio::spawn(corio::schedule);
            corio::cede();
            h.cancel();
            black_box(h.join().is_err());
        }
    })
}

/// `select!` whose first branch parks and second wins at once: two
/// branches started, the first cancelled.
fn select_second(n: u64) -> f64 {
    use corio::sync::Channel;
    let (a, b) = (Channel::<u64>::bounded(1), Channel::bounded(1));
    b.put(0u64).unwrap();
    per_op(n, || {
        for i in 0..n {
            corio::select! {
                v = a.get() => a.put(black_box(v.unwrap() + i)).unwrap(),
                v = b.get() => b.put(black_box(v.unwrap() + i)).unwrap(),
            }
        }
    })
}

fn bench_select() {
    paired(
        "select!, 2 ready channels",
        "spawn+join, warm pool",
        || corio_spawn(200_000),
        || select_ready(200_000),
    );
    paired(
        "select!, 1st parks, 2nd ready",
        "spawn, park, cancel a coro",
        || spawn_park_cancel(20_000),
        || select_second(20_000),
    );
}

// ----- other cores -------------------------------------------------------------

/// `multicore::run` of an empty closure, one after another from one coro.
fn multicore_round_trip(n: u64) -> f64 {
    per_op_wall(n, || {
        for i in 0..n {
            black_box(corio::multicore::run(move || black_box(i)));
        }
    })
}

/// The same trip by hand: a boxed closure to a waiting thread over a std
/// channel, its value back over another; the caller blocks its thread.
fn thread_round_trip(n: u64) -> f64 {
    use std::sync::mpsc;
    type Job = Box<dyn FnOnce() -> u64 + Send>;
    let (jtx, jrx) = mpsc::channel::<Job>();
    let (rtx, rrx) = mpsc::channel::<u64>();
    let worker = std::thread::spawn(move || {
        for job in jrx {
            if rtx.send(job()).is_err() {
                break;
            }
        }
    });
    let t = per_op_wall(n, || {
        for i in 0..n {
            jtx.send(Box::new(move || black_box(i))).unwrap();
            black_box(rrx.recv().unwrap());
        }
    });
    drop(jtx);
    worker.join().unwrap();
    t
}

/// A round trip between coros of two threads through two
/// `mpmc::Channel::bounded(1)`.
fn mpmc_round_trip(n: u64) -> f64 {
    use corio::sync::mpmc::Channel;
    let (ping, pong) = (Channel::bounded(1), Channel::bounded(1));
    let (pi, po) = (ping.clone(), pong.clone());
    let echo = corio::thread::spawn(move || {
        while let Some(v) = pi.get() {
            if po.put(v).is_err() {
                break;
            }
        }
    });
    let t = per_op_wall(n, || {
        for i in 0..n {
            ping.put(i).unwrap();
            black_box(pong.get().unwrap());
        }
    });
    ping.shutdown();
    echo.join().unwrap();
    t
}

/// The same between two plain threads through two std
/// `sync_channel(1)`s (each side blocks its thread).
fn std_sync_round_trip(n: u64) -> f64 {
    use std::sync::mpsc::sync_channel;
    let (ptx, prx) = sync_channel::<u64>(1);
    let (qtx, qrx) = sync_channel::<u64>(1);
    let echo = std::thread::spawn(move || {
        for v in prx {
            if qtx.send(v).is_err() {
                break;
            }
        }
    });
    let t = per_op_wall(n, || {
        for i in 0..n {
            ptx.send(i).unwrap();
            black_box(qrx.recv().unwrap());
        }
    });
    drop(ptx);
    echo.join().unwrap();
    t
}

fn bench_multicore() {
    paired(
        "multicore::run, empty closure",
        "closure to a thread and back (std mpsc)",
        || thread_round_trip(20_000),
        || multicore_round_trip(20_000),
    );
    paired(
        "mpmc ping-pong between coros of 2 threads",
        "std sync_channel(1) ping-pong, 2 threads",
        || std_sync_round_trip(20_000),
        || mpmc_round_trip(20_000),
    );
}

// ----- the everyday toolkit --------------------------------------------------

/// `n` children of `true`, spawned and waited for with `std::process`.
fn std_spawn_wait(n: u64) -> f64 {
    per_op(n, || {
        for _ in 0..n {
            let st = Command::new("true").status().unwrap();
            assert!(st.success());
        }
    })
}

/// The same with `corio::process` (pidfd in the reactor).
fn corio_spawn_wait(n: u64) -> f64 {
    per_op(n, || {
        for _ in 0..n {
            let st = corio::process::Command::new("true").status().unwrap();
            assert!(st.success());
        }
    })
}

/// `n` connections, each: connect, one byte each way, close; the server
/// answers in a coro per connection.
fn connections(n: u64, addr: std::net::SocketAddr) -> f64 {
    use std::io::{Read, Write};
    per_op(n, || {
        for _ in 0..n {
            let mut c = corio::net::TcpStream::connect(addr).unwrap();
            c.write_all(b"x").unwrap();
            let mut b = [0];
            c.read_exact(&mut b).unwrap();
        }
    })
}

fn answer_one_byte(mut conn: corio::net::TcpStream) {
    use std::io::{Read, Write};
    let mut b = [0];
    if conn.read_exact(&mut b).is_ok() {
        let _ = conn.write_all(&b);
    }
}

fn bench_toolkit() {
    paired(
        "corio::process spawn+status `true`",
        "std::process spawn+status `true`",
        || std_spawn_wait(50),
        || corio_spawn_wait(50),
    );
    let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let serve_addr = l.local_addr().unwrap();
    let serve = corio::spawn(move || corio::net::serve_on(l, answer_one_byte));
    let server = corio::net::Server::bind("127.0.0.1:0")
        .unwrap()
        .max_connections(1000)
        .idle_timeout(Duration::from_secs(10))
        .start(answer_one_byte)
        .unwrap();
    let server_addr = server.local_addr().unwrap();
    paired(
        "Server (cap, idle timeout): a connection",
        "serve_on: a connection",
        || connections(500, serve_addr),
        || connections(500, server_addr),
    );
    server.drain(Duration::from_secs(1));
    serve.cancel();
}

/// `n` coros spawned, then joined through their handles in spawn order.
fn handles_spawn_join(n: u64) -> f64 {
    per_op(n, || {
        let hs: Vec<_> = (0..n).map(|i| corio::spawn(move || black_box(i))).collect();
        for h in hs {
            black_box(h.join().unwrap());
        }
    })
}

/// The same through a `JoinSet`, joined in the order they end.
fn joinset_spawn_join(n: u64) -> f64 {
    per_op(n, || {
        let mut set = corio::JoinSet::new();
        for i in 0..n {
            set.spawn(move || black_box(i));
        }
        while let Some(r) = set.join_next() {
            black_box(r.unwrap());
        }
    })
}

/// A semaphore unit taken and given back, `n` times.
fn semaphore_guard(n: u64) -> f64 {
    let sem = corio::sync::Semaphore::new(10);
    per_op(n, || {
        for _ in 0..n {
            let g = sem.guard();
            black_box(&g);
        }
    })
}

/// An idle item taken from a `Pool` and returned, `n` times.
fn pool_get(n: u64) -> f64 {
    let pool = corio::sync::Pool::new(10, || Ok::<_, std::io::Error>(0u64));
    per_op(n, || {
        for _ in 0..n {
            let mut c = pool.get().unwrap();
            *c += 1;
            black_box(&c);
        }
    })
}

fn bench_joinset() {
    paired(
        "JoinSet: spawn, join_next",
        "spawn, JoinHandle::join",
        || handles_spawn_join(10_000),
        || joinset_spawn_join(10_000),
    );
    paired(
        "Pool::get of an idle item",
        "Semaphore::guard",
        || semaphore_guard(1_000_000),
        || pool_get(1_000_000),
    );
}

// ----- memory per parked coro ------------------------------------------------

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Child process: park `n` coros and report what they cost.
fn memory_child(n: usize) {
    let rss0 = status_kib("VmRSS:");
    let pte0 = status_kib("VmPTE:");
    let t = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        handles.push(corio::spawn(corio::schedule));
    }
    corio::cede(); // every coro runs once and parks in schedule()
    let spawn = t.elapsed();
    // The handles are the benchmark's own bookkeeping, not the coros' cost.
    let handles_kib =
        (handles.capacity() * std::mem::size_of::<corio::JoinHandle<()>>()) as u64 / 1024;
    let rss = status_kib("VmRSS:") - rss0 - handles_kib;
    let pte = status_kib("VmPTE:") - pte0;
    let maps = std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0);
    let t = Instant::now();
    corio::killall();
    let teardown = t.elapsed();
    println!(
        "MEMORY {n} {:.0} {:.0} {maps} {:.3} {:.3}",
        rss as f64 * 1024.0 / n as f64,
        pte as f64 * 1024.0 / n as f64,
        spawn.as_secs_f64(),
        teardown.as_secs_f64()
    );
    drop(handles);
}

fn bench_memory(counts: &[usize]) {
    let exe = std::env::current_exe().expect("own path");
    let page = 4096.0;
    for &n in counts {
        let out = Command::new(&exe)
            .args(["--child-memory", &n.to_string()])
            .output()
            .expect("run child");
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find(|l| l.starts_with("MEMORY")) else {
            println!(
                "memory {n}: child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        let rss: f64 = f[2].parse().unwrap_or(0.0);
        let pte: f64 = f[3].parse().unwrap_or(0.0);
        println!(
            "{:<34} {:>9.0} B RSS ({:.2} KiB)   baseline: one page {page:.0} B   ratio {:>5.3}   \
             +{pte:.0} B page tables, {} mappings in the process, spawn+park {}s, killall {}s",
            format!("memory per parked coro, {n}"),
            rss,
            rss / 1024.0,
            rss / page,
            f[4],
            f[5],
            f[6]
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("--child-memory") {
        let n = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
        memory_child(n);
        return;
    }
    let all = args.is_empty();
    let want = |w: &str| all || args.iter().any(|a| a == w);
    println!("corio core benchmarks (median of {ROUNDS} rounds, baseline interleaved)");
    if want("cede") {
        bench_cede();
    }
    if want("spawn") {
        bench_spawn();
    }
    if want("sync") {
        bench_sync();
    }
    if want("select") {
        bench_select();
    }
    if want("multicore") {
        bench_multicore();
    }
    if want("toolkit") {
        bench_toolkit();
    }
    if want("toolkit") || want("joinset") {
        bench_joinset();
    }
    if want("memory") {
        let counts: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
        bench_memory(if counts.is_empty() {
            &[100_000, 1_000_000]
        } else {
            &counts
        });
    }
}
