//! fsbench: reading files with `corio::fs` (io_uring, and worker
//! threads), against `std::fs` on a pool of threads and `tokio::fs`, in one
//! run, rounds alternating.
//!
//! `cargo run --release -p corio-peers --bin fsbench -- [--files N] [--size BYTES] [--big BYTES] [--conc C] [--rounds R] [--cold]`
//!
//! Workloads:
//! - **small**: read N files of SIZE bytes (default 10,000 × 4 KiB), C at
//!   a time (64 coros, 64 tokio tasks, or a pool of C threads for std).
//! - **big**: read one file of BIG bytes (default 1 GiB) from start to end
//!   in 1 MiB reads.
//!
//! The files are made once in a temporary directory (removed at the end)
//! and are in the page cache unless `--cold` is given, which drops the
//! caches (`/proc/sys/vm/drop_caches`, needs root) before every round.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Opts {
    files: usize,
    size: usize,
    big: u64,
    conc: usize,
    rounds: usize,
    cold: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!("fsbench: {msg}");
    eprintln!(
        "usage: fsbench [--files N] [--size BYTES] [--big BYTES] [--conc C] [--rounds R] [--cold]"
    );
    std::process::exit(2);
}

fn parse() -> Opts {
    let mut o = Opts {
        files: 10_000,
        size: 4096,
        big: 1 << 30,
        conc: 64,
        rounds: 5,
        cold: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--cold" {
            o.cold = true;
            continue;
        }
        let v: u64 = match args.next().map(|v| v.parse()) {
            Some(Ok(n)) if n > 0 => n,
            _ => usage(&format!("{a} takes a positive whole number")),
        };
        match a.as_str() {
            "--files" => o.files = v as usize,
            "--size" => o.size = v as usize,
            "--big" => o.big = v,
            "--conc" => o.conc = v as usize,
            "--rounds" => o.rounds = v as usize,
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    o
}

fn drop_caches() {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    if std::fs::write("/proc/sys/vm/drop_caches", "3").is_err() {
        usage("--cold needs root (cannot write /proc/sys/vm/drop_caches)");
    }
}

fn setup(o: &Opts) -> (PathBuf, Vec<PathBuf>, PathBuf) {
    let dir = std::env::temp_dir().join(format!("corio-fsbench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("small"))
        .unwrap_or_else(|e| usage(&format!("cannot make {}: {e}", dir.display())));
    let data = vec![b'x'; o.size];
    let files: Vec<PathBuf> = (0..o.files)
        .map(|i| {
            let p = dir.join("small").join(format!("f{i:05}"));
            std::fs::write(&p, &data).unwrap_or_else(|e| usage(&format!("{}: {e}", p.display())));
            p
        })
        .collect();
    let big = dir.join("big");
    let f = std::fs::File::create(&big).unwrap_or_else(|e| usage(&format!("{e}")));
    let chunk = vec![b'y'; 1 << 20];
    let mut left = o.big;
    let mut w = std::io::BufWriter::new(f);
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        std::io::Write::write_all(&mut w, &chunk[..n]).unwrap_or_else(|e| usage(&format!("{e}")));
        left -= n as u64;
    }
    drop(w);
    (dir, files, big)
}

// ----- small files ---------------------------------------------------------

fn small_corio(files: &[PathBuf], conc: usize) -> usize {
    let files = std::rc::Rc::new(files.to_vec());
    let next = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let workers: Vec<_> = (0..conc)
        .map(|_| {
            let (files, next) = (files.clone(), next.clone());
            corio::spawn(move || {
                let mut bytes = 0;
                loop {
                    let i = next.get();
                    if i >= files.len() {
                        return bytes;
                    }
                    next.set(i + 1);
                    bytes += corio::fs::read(&files[i]).expect("read").len();
                }
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().expect("worker")).sum()
}

fn small_std(files: &[PathBuf], conc: usize) -> usize {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..conc)
            .map(|_| {
                s.spawn(|| {
                    let mut bytes = 0;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= files.len() {
                            return bytes;
                        }
                        bytes += std::fs::read(&files[i]).expect("read").len();
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).sum()
    })
}

fn small_tokio(rt: &tokio::runtime::Runtime, files: &[PathBuf], conc: usize) -> usize {
    let files = std::sync::Arc::new(files.to_vec());
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    rt.block_on(async move {
        let hs: Vec<_> = (0..conc)
            .map(|_| {
                let (files, next) = (files.clone(), next.clone());
                tokio::spawn(async move {
                    let mut bytes = 0;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= files.len() {
                            return bytes;
                        }
                        bytes += tokio::fs::read(&files[i]).await.expect("read").len();
                    }
                })
            })
            .collect();
        let mut total = 0;
        for h in hs {
            total += h.await.expect("task");
        }
        total
    })
}

// ----- one big file ---------------------------------------------------------

const CHUNK: usize = 1 << 20;

fn big_corio(path: &Path) -> usize {
    let mut f = corio::fs::File::open(path).expect("open");
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            return total;
        }
        total += n;
    }
}

fn big_std(path: &Path) -> usize {
    let mut f = std::fs::File::open(path).expect("open");
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            return total;
        }
        total += n;
    }
}

fn big_tokio(rt: &tokio::runtime::Runtime, path: &Path) -> usize {
    use tokio::io::AsyncReadExt;
    rt.block_on(async {
        let mut f = tokio::fs::File::open(path).await.expect("open");
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0;
        loop {
            let n = f.read(&mut buf).await.expect("read");
            if n == 0 {
                return total;
            }
            total += n;
        }
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let o = parse();
    eprintln!(
        "fsbench: making {} files of {} B and one of {} B ...",
        o.files, o.size, o.big
    );
    let (dir, files, big) = setup(&o);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| usage(&format!("tokio: {e}")));
    corio::fs::set_backend(corio::fs::Backend::Auto);
    let uring = corio::fs::backend() == corio::fs::Backend::Uring;

    type Run<'a> = Box<dyn Fn() -> usize + 'a>;
    let impls: Vec<(&str, &str, Run<'_>)> = vec![
        (
            "small",
            "std::fs, thread pool",
            Box::new(|| small_std(&files, o.conc)),
        ),
        (
            "small",
            "corio::fs, io_uring",
            Box::new(|| {
                corio::fs::set_backend(corio::fs::Backend::Auto);
                small_corio(&files, o.conc)
            }),
        ),
        (
            "small",
            "corio::fs, worker threads",
            Box::new(|| {
                corio::fs::set_backend(corio::fs::Backend::Threads);
                small_corio(&files, o.conc)
            }),
        ),
        (
            "small",
            "tokio::fs, current_thread",
            Box::new(|| small_tokio(&rt, &files, o.conc)),
        ),
        ("big", "std::fs, one thread", Box::new(|| big_std(&big))),
        (
            "big",
            "corio::fs, io_uring",
            Box::new(|| {
                corio::fs::set_backend(corio::fs::Backend::Auto);
                big_corio(&big)
            }),
        ),
        (
            "big",
            "corio::fs, worker threads",
            Box::new(|| {
                corio::fs::set_backend(corio::fs::Backend::Threads);
                big_corio(&big)
            }),
        ),
        (
            "big",
            "tokio::fs, current_thread",
            Box::new(|| big_tokio(&rt, &big)),
        ),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); impls.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); impls.len()];
    for r in 0..o.rounds {
        let mut this = vec![0.0; impls.len()];
        for (k, (w, name, run)) in impls.iter().enumerate() {
            if name.contains("io_uring") && !uring {
                continue;
            }
            if o.cold {
                drop_caches();
            }
            let t = Instant::now();
            let bytes = run();
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let want = if *w == "small" {
                o.files * o.size
            } else {
                o.big as usize
            };
            assert_eq!(bytes, want, "{name} read {bytes} bytes, expected {want}");
            this[k] = ms;
            times[k].push(ms);
        }
        // Ratios against std in the same round.
        for k in 0..impls.len() {
            let base = if impls[k].0 == "small" {
                this[0]
            } else {
                this[4]
            };
            if this[k] > 0.0 {
                ratios[k].push(this[k] / base);
            }
        }
        eprintln!("round {r} done");
    }
    corio::fs::set_backend(corio::fs::Backend::Auto);
    println!(
        "fsbench: {} files × {} B ({} at a time), one {} MiB file in 1 MiB reads; {} rounds, page cache {}",
        o.files,
        o.size,
        o.conc,
        o.big >> 20,
        o.rounds,
        if o.cold {
            "dropped before each run"
        } else {
            "warm"
        }
    );
    println!("| workload | implementation | median | ratio to std (median of rounds) |");
    println!("|---|---|---|---|");
    for (k, (w, name, _)) in impls.iter().enumerate() {
        if times[k].is_empty() {
            println!("| {w} | {name} | not available here | |");
            continue;
        }
        println!(
            "| {w} | {name} | {:.1} ms | {:.2} |",
            median(&mut times[k]),
            median(&mut ratios[k])
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
