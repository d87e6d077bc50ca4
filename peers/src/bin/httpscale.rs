//! httpscale: `examples/http_hello` on 1 scheduler thread against N
//! threads sharing the port with `SO_REUSEPORT` (`--threads N`), under the
//! same `wrk` load, in alternating rounds of one run.
//!
//! `cargo run --release -p corio-peers --bin httpscale -- [--threads N] [--rounds R] [--secs S] [--conns C] [--wrk-threads W]`
//!
//! Nothing is pinned: the server's threads and wrk's share every core of
//! the machine, as they would on a small host. Reported per configuration:
//! the median requests/s and the server's CPU time per request (from
//! `/proc/<pid>/stat`), and the median of the round-by-round ratios
//! N threads ÷ 1 thread.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Opts {
    threads: usize,
    rounds: usize,
    secs: u64,
    conns: usize,
    wrk_threads: usize,
}

fn usage(msg: &str) -> ! {
    eprintln!("httpscale: {msg}");
    eprintln!(
        "usage: httpscale [--threads N] [--rounds R] [--secs S] [--conns C] [--wrk-threads W]"
    );
    std::process::exit(2);
}

fn parse() -> Opts {
    let mut o = Opts {
        threads: 2,
        rounds: 5,
        secs: 5,
        conns: 128,
        wrk_threads: 2,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> u64 {
            match args.next().map(|v| v.parse::<u64>()) {
                Some(Ok(n)) if n > 0 => n,
                _ => usage(&format!("{what} takes a positive whole number")),
            }
        };
        match a.as_str() {
            "--threads" => o.threads = num("--threads") as usize,
            "--rounds" => o.rounds = num("--rounds") as usize,
            "--secs" => o.secs = num("--secs"),
            "--conns" => o.conns = num("--conns") as usize,
            "--wrk-threads" => o.wrk_threads = num("--wrk-threads") as usize,
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    o
}

/// The server's user + system CPU time so far.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (u64, u64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_millis((utime + stime) * 1000 / hz))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(threads: usize, port: u16) -> Server {
    let child = Command::new("target/release/examples/http_hello")
        .arg(format!("127.0.0.1:{port}"))
        .args(["--threads", &threads.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| usage(&format!("cannot start http_hello: {e}")));
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            usage("http_hello did not start listening within 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    server
}

/// One wrk run against a fresh server: (requests/s, server CPU µs per request).
fn round(o: &Opts, threads: usize, port: u16) -> Option<(f64, f64)> {
    let server = start(threads, port);
    let before = cpu_time(server.0.id())?;
    let out = Command::new("wrk")
        .arg(format!("-t{}", o.wrk_threads))
        .arg(format!("-c{}", o.conns))
        .arg(format!("-d{}s", o.secs))
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .ok()?;
    let after = cpu_time(server.0.id())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let total: f64 = text
        .lines()
        .find(|l| l.contains("requests in"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let rps: f64 = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let cpu_us = (after - before).as_secs_f64() * 1e6 / total.max(1.0);
    Some((rps, cpu_us))
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
    let built = Command::new("cargo")
        .args([
            "build",
            "--release",
            "-p",
            "corio",
            "--example",
            "http_hello",
        ])
        .status();
    if !matches!(built, Ok(s) if s.success()) {
        usage("cannot build examples/http_hello (run from the workspace root)");
    }
    let (mut one, mut many) = (Vec::new(), Vec::new());
    let (mut cpu_one, mut cpu_many) = (Vec::new(), Vec::new());
    let mut ratios = Vec::new();
    for r in 0..o.rounds {
        let port = 7400 + (r as u16) * 2;
        // Alternate which goes first, so drift hits both alike.
        let order = if r % 2 == 0 {
            [1, o.threads]
        } else {
            [o.threads, 1]
        };
        let mut got = [0.0f64; 2];
        for (k, &t) in order.iter().enumerate() {
            let Some((rps, cpu)) = round(&o, t, port + k as u16) else {
                usage("a wrk run failed (is wrk installed? `apt-get install wrk`)");
            };
            eprintln!("round {r}: {t} thread(s): {rps:.0} req/s, {cpu:.2} µs CPU/request");
            if t == 1 {
                got[0] = rps;
                one.push(rps);
                cpu_one.push(cpu);
            } else {
                got[1] = rps;
                many.push(rps);
                cpu_many.push(cpu);
            }
        }
        ratios.push(got[1] / got[0]);
    }
    let (min, max) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    println!(
        "http_hello, wrk -t{} -c{} -d{}s, {} rounds, nothing pinned ({} CPUs)",
        o.wrk_threads,
        o.conns,
        o.secs,
        o.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| server | req/s (median) | server CPU per request |");
    println!("|---|---|---|");
    println!(
        "| 1 thread | {:.0} | {:.2} µs |",
        median(&mut one),
        median(&mut cpu_one)
    );
    println!(
        "| {} threads, SO_REUSEPORT | {:.0} | {:.2} µs |",
        o.threads,
        median(&mut many),
        median(&mut cpu_many)
    );
    println!(
        "ratio {} threads ÷ 1: median {:.3} (min {min:.3}, max {max:.3})",
        o.threads,
        median(&mut ratios)
    );
}
