//! timerbench: many sleepers at once, corio against tokio's current-thread
//! runtime in the same run.
//!
//! `cargo run --release -p corio-peers --bin timerbench -- [--n N] [--ms MS] [--procs P] [--reps R]`
//!
//! The workload (from corio's issue on the event loop): spawn N coros
//! (tasks) that each sleep MS milliseconds, and join them all; the figure
//! is the wall time from the first spawn to the last join. Each
//! implementation runs in fresh processes pinned to CPU 0, P processes
//! each, alternating corio and tokio; a process does the workload R+1
//! times: the first is *cold* (no stack or task memory yet), the rest
//! *warm* (corio's stack pool holds the stacks of the previous round).
//! Reported: the median of the cold runs and of the warm runs, and the
//! corio/tokio ratio of each.

use std::process::Command;
use std::time::{Duration, Instant};

fn corio_round(n: usize, d: Duration) -> f64 {
    let t = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| corio::spawn(move || corio::sleep(d)))
        .collect();
    for h in handles {
        h.join().expect("sleeper");
    }
    t.elapsed().as_secs_f64() * 1e3
}

fn tokio_round(rt: &tokio::runtime::Runtime, n: usize, d: Duration) -> f64 {
    rt.block_on(async move {
        let t = Instant::now();
        let handles: Vec<_> = (0..n)
            .map(|_| tokio::spawn(async move { tokio::time::sleep(d).await }))
            .collect();
        for h in handles {
            h.await.expect("sleeper");
        }
        t.elapsed().as_secs_f64() * 1e3
    })
}

fn pin_to_cpu0() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes
    // inside it; sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// In a child process: R+1 rounds, one wall time in ms per line.
fn child(which: &str, n: usize, d: Duration, reps: usize) {
    pin_to_cpu0();
    match which {
        "corio" => {
            for _ in 0..=reps {
                println!("{:.2}", corio_round(n, d));
            }
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("tokio runtime");
            for _ in 0..=reps {
                println!("{:.2}", tokio_round(&rt, n, d));
            }
        }
        other => panic!("unknown implementation {other}"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = opt("--n", 100_000);
    let ms = opt("--ms", 10) as u64;
    let procs = opt("--procs", 5).max(1);
    let reps = opt("--reps", 5).max(1);
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let which = args.get(i + 1).map(String::as_str).unwrap_or("");
        child(which, n, Duration::from_millis(ms), reps);
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut cold = [Vec::new(), Vec::new()];
    let mut warm = [Vec::new(), Vec::new()];
    let names = ["corio", "tokio"];
    for p in 0..procs {
        for (k, name) in names.iter().enumerate() {
            let out = Command::new(&exe)
                .args(["--child", name])
                .args(["--n", &n.to_string(), "--ms", &ms.to_string()])
                .args(["--reps", &reps.to_string()])
                .output()
                .expect("run a child");
            assert!(out.status.success(), "{name} failed: {out:?}");
            let times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            eprintln!("process {p} {name}: {times:.1?} ms");
            cold[k].push(times[0]);
            warm[k].extend_from_slice(&times[1..]);
        }
    }
    let (cc, ct) = (median(cold[0].clone()), median(cold[1].clone()));
    let (wc, wt) = (median(warm[0].clone()), median(warm[1].clone()));
    println!(
        "{n} sleepers of {ms} ms each, spawned and joined; wall ms, medians ({procs} processes x {reps} warm rounds)"
    );
    println!("| | corio | tokio current_thread | corio/tokio |");
    println!("|---|---:|---:|---:|");
    println!("| warm | {wc:.1} | {wt:.1} | {:.2} |", wc / wt);
    println!(
        "| cold (first round in a process) | {cc:.1} | {ct:.1} | {:.2} |",
        cc / ct
    );
}
