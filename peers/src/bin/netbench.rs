//! netbench: corio's network benchmarks against their peers, in one run.
//!
//! `cargo run --release -p corio-peers --bin netbench -- [echo] [http] [sleep]
//! [--secs S] [--runs R] [--warmup S] [--only name,name] [--no-build]`
//!
//! For each run and each implementation in turn (interleaved, so drift on
//! the machine hits every implementation alike) it starts the server pinned
//! to CPU 0, waits until it accepts, warms it up, reads the server's CPU
//! time (the first field of `/proc/PID/task/*/schedstat`, summed over its
//! threads), runs the load generator pinned to CPU 1 for `--secs`, reads
//! the CPU time again and stops the server. Server CPU per request is the
//! CPU delta over the requests the load generator completed; servers are
//! ranked by it, with req/s beside it. The report (markdown, on stdout) has
//! a table per workload and the machine and commands; progress goes to
//! stderr. See peers/README.md.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SERVER_CPU: usize = 0;
const CLIENT_CPU: usize = 1;
const ECHO_CONNS: usize = 50;
const ECHO_SIZE: usize = 64;
const WRK_CONNS: usize = 64;

/// wrk's connections for the http workload: [`WRK_CONNS`] unless
/// `--http-conns` says otherwise (set once, before any run).
static HTTP_CONNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(WRK_CONNS);

fn http_conns() -> usize {
    HTTP_CONNS.load(std::sync::atomic::Ordering::Relaxed)
}
/// The `sleep` workload: wrk's connections and the path (a handler that
/// blocks 10 ms per request).
const SLEEP_CONNS: usize = 256;
const SLEEP_PATH: &str = "/sleep/10";
const READY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workload {
    Echo,
    Http,
    /// axum's `GET /sleep/10`: a handler that blocks for 10 ms.
    Sleep,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Echo => "echo",
            Workload::Http => "http",
            Workload::Sleep => "sleep",
        }
    }

    /// Loaded with wrk (an HTTP workload).
    fn wrk(self) -> bool {
        matches!(self, Workload::Http | Workload::Sleep)
    }

    /// What the ratio column divides by.
    fn baseline_label(self) -> &'static str {
        match self {
            Workload::Echo | Workload::Http => "raw epoll",
            Workload::Sleep => "tokio + spawn_blocking",
        }
    }
}

#[derive(Clone, Copy)]
enum Source {
    /// A binary of this crate, `target/release/NAME`.
    Peer(&'static str),
    /// An example of corio, `target/release/examples/NAME`.
    CorioExample(&'static str),
    /// An example of corio that needs the `hook` feature (built with it).
    CorioHookExample(&'static str),
}

struct Impl {
    /// Full name, as in the tables and `--only`.
    name: &'static str,
    /// Short name (`--only` also takes it): epoll, corio, tokio, may.
    short: &'static str,
    workload: Workload,
    source: Source,
    port: u16,
    baseline: bool,
    /// What the reader should know about this one.
    note: &'static str,
}

const IMPLS: &[Impl] = &[
    Impl {
        name: "echo-epoll",
        short: "epoll",
        workload: Workload::Echo,
        source: Source::Peer("echo-epoll"),
        port: 7101,
        baseline: true,
        note: "raw epoll against libc (edge-triggered, one read + one write per request)",
    },
    Impl {
        name: "echo-corio",
        short: "corio",
        workload: Workload::Echo,
        source: Source::CorioExample("echo"),
        port: 7102,
        baseline: false,
        note: "corio, examples/echo.rs",
    },
    Impl {
        name: "echo-corio-hook",
        short: "corio-hook",
        workload: Workload::Echo,
        source: Source::CorioHookExample("echo_std"),
        port: 7105,
        baseline: false,
        note: "std::net in coros with corio's `hook` feature, examples/echo_std.rs",
    },
    Impl {
        name: "echo-tokio",
        short: "tokio",
        workload: Workload::Echo,
        source: Source::Peer("echo-tokio"),
        port: 7103,
        baseline: false,
        note: "tokio current_thread, task per connection",
    },
    Impl {
        name: "echo-may",
        short: "may",
        workload: Workload::Echo,
        source: Source::Peer("echo-may"),
        port: 7104,
        baseline: false,
        note: "may, one worker, coroutine per connection",
    },
    Impl {
        name: "http-epoll",
        short: "epoll",
        workload: Workload::Http,
        source: Source::Peer("http-epoll"),
        port: 7201,
        baseline: true,
        note: "raw epoll against libc + httparse",
    },
    Impl {
        name: "http-corio",
        short: "corio",
        workload: Workload::Http,
        source: Source::CorioExample("http_hello"),
        port: 7202,
        baseline: false,
        note: "corio, examples/http_hello.rs",
    },
    Impl {
        name: "http-corio-hyper",
        short: "corio-hyper",
        workload: Workload::Http,
        source: Source::Peer("http-corio-hyper"),
        port: 7205,
        baseline: false,
        note: "hyper 1 on corio (compat::Http with the same hyper build and settings as http-tokio-hyper: no header read timeout, since the tokio peer has no timer)",
    },
    Impl {
        name: "http-tokio-hyper",
        short: "tokio",
        workload: Workload::Http,
        source: Source::Peer("http-tokio-hyper"),
        port: 7203,
        baseline: false,
        note: "tokio current_thread + hyper 1 (http1, keep-alive, no Date, title-case headers)",
    },
    Impl {
        name: "http-may-minihttp",
        short: "may",
        workload: Workload::Http,
        source: Source::Peer("http-may-minihttp"),
        port: 7204,
        baseline: false,
        note: "may_minihttp, one worker; always adds `Server: M` and `Date` (126-byte answer, not 78)",
    },
    Impl {
        name: "sleep-corio-axum",
        short: "corio",
        workload: Workload::Sleep,
        source: Source::CorioExample("axum_app"),
        port: 7301,
        baseline: false,
        note: "corio, examples/axum_app.rs: the handler calls `corio::sleep(10 ms)` (a plain blocking call: its connection's coro parks), one scheduler thread, `compat::serve` (hyper's 30 s header read timeout on corio's timer)",
    },
    Impl {
        name: "sleep-tokio-axum",
        short: "tokio",
        workload: Workload::Sleep,
        source: Source::Peer("http-tokio-axum"),
        port: 7302,
        baseline: true,
        note: "axum on tokio current_thread, the handler awaits `spawn_blocking(|| std::thread::sleep(10 ms))` (tokio's blocking pool, up to 512 threads); same hyper settings (30 s header read timeout on `TokioTimer`)",
    },
];

struct Opts {
    workloads: Vec<Workload>,
    secs: u64,
    runs: usize,
    warmup: u64,
    only: Option<Vec<String>>,
    build: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!("netbench: {msg}");
    eprintln!(
        "usage: netbench [echo] [http] [sleep] [--secs S (5)] [--runs R (5)] [--warmup S (1)] \
         [--only name,name] [--http-conns C (64)] [--no-build]"
    );
    eprintln!(
        "names: {} (or the short names epoll, corio, tokio, may)",
        IMPLS.iter().map(|i| i.name).collect::<Vec<_>>().join(", ")
    );
    std::process::exit(2);
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        workloads: Vec::new(),
        secs: 5,
        runs: 5,
        warmup: 1,
        only: None,
        build: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match a.as_str() {
            "echo" if !o.workloads.contains(&Workload::Echo) => o.workloads.push(Workload::Echo),
            "http" if !o.workloads.contains(&Workload::Http) => o.workloads.push(Workload::Http),
            "sleep" if !o.workloads.contains(&Workload::Sleep) => o.workloads.push(Workload::Sleep),
            "echo" | "http" | "sleep" => {}
            "--secs" => {
                o.secs = value("--secs")
                    .parse()
                    .unwrap_or_else(|_| usage("--secs takes whole seconds (wrk does)"))
            }
            "--runs" => {
                o.runs = value("--runs")
                    .parse()
                    .unwrap_or_else(|_| usage("bad --runs"))
            }
            "--warmup" => {
                o.warmup = value("--warmup")
                    .parse()
                    .unwrap_or_else(|_| usage("--warmup takes whole seconds"))
            }
            "--only" => {
                let list: Vec<String> = value("--only")
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                for n in &list {
                    if !IMPLS.iter().any(|i| matches_name(i, n)) {
                        usage(&format!("unknown implementation {n:?}"));
                    }
                }
                o.only = Some(list);
            }
            "--http-conns" => {
                let n: usize = value("--http-conns")
                    .parse()
                    .ok()
                    .filter(|&n| (1..=10_000).contains(&n))
                    .unwrap_or_else(|| usage("--http-conns takes 1 to 10000 connections"));
                HTTP_CONNS.store(n, std::sync::atomic::Ordering::Relaxed);
            }
            "--no-build" => o.build = false,
            "-h" | "--help" => usage("help"),
            _ => usage(&format!("unexpected argument {a:?}")),
        }
    }
    if o.workloads.is_empty() {
        o.workloads = vec![Workload::Echo, Workload::Http, Workload::Sleep];
    }
    if o.secs == 0 || o.runs == 0 {
        usage("--secs and --runs must be at least 1");
    }
    o
}

fn matches_name(i: &Impl, n: &str) -> bool {
    let prefix = format!("{}-", i.workload.name());
    n == i.name || n == i.short || Some(n) == i.name.strip_prefix(&prefix)
}

/// One measured window of one implementation.
#[derive(Clone)]
struct Sample {
    cpu_ns: u64,
    requests: u64,
    rps: f64,
    errors: u64,
    client_cpu_pct: f64,
    latency: Option<(String, String)>,
}

impl Sample {
    fn us_per_req(&self) -> f64 {
        self.cpu_ns as f64 / 1e3 / self.requests as f64
    }

    /// wrk's median and 99th percentile latency, in milliseconds.
    fn latency_ms(&self) -> Option<(f64, f64)> {
        let (a, b) = self.latency.as_ref()?;
        Some((wrk_ms(a)?, wrk_ms(b)?))
    }
}

/// A latency as wrk prints it (`378.00us`, `2.24ms`, `1.20s`), in
/// milliseconds.
fn wrk_ms(s: &str) -> Option<f64> {
    let (num, scale) = if let Some(v) = s.strip_suffix("us") {
        (v, 1e-3)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e3)
    } else {
        return None;
    };
    Some(num.parse::<f64>().ok()? * scale)
}

/// Where the binaries live and how to run cargo.
struct Env {
    root: PathBuf,
    target: PathBuf,
    cargo: String,
    logs: PathBuf,
}

fn main() {
    let opts = parse_opts();
    let env = find_env();
    let _ = fs::create_dir_all(&env.logs);

    let ncpu = nproc();
    if ncpu <= CLIENT_CPU {
        eprintln!(
            "netbench: this machine has {ncpu} CPU(s); the server wants CPU {SERVER_CPU} and the \
             load generator CPU {CLIENT_CPU} — results will mean little"
        );
    }

    // Which implementations take part.
    let mut chosen: Vec<&Impl> = IMPLS
        .iter()
        .filter(|i| opts.workloads.contains(&i.workload))
        .filter(|i| match &opts.only {
            None => true,
            Some(list) => i.baseline || list.iter().any(|n| matches_name(i, n)),
        })
        .collect();
    if let Some(list) = &opts.only
        && !list.iter().any(|n| n == "epoll" || n.ends_with("-epoll"))
    {
        eprintln!("netbench: the baselines run too (the ratio column is to them)");
    }

    let mut skipped: Vec<(String, String)> = Vec::new();

    // Build.
    if opts.build {
        let peers = vec!["build", "--release", "-p", "corio-peers", "--bins"];
        if let Err(e) = cargo(&env, &peers) {
            eprintln!("netbench: building the peers failed: {e}");
            std::process::exit(1);
        }
        let mut failed: Vec<&str> = Vec::new();
        for i in &chosen {
            let built = match i.source {
                Source::CorioExample(ex) => Some(cargo(
                    &env,
                    &[
                        "build",
                        "--release",
                        "-p",
                        "corio",
                        "--features",
                        "compat",
                        "--example",
                        ex,
                    ],
                )),
                Source::CorioHookExample(ex) => Some(cargo(
                    &env,
                    &[
                        "build",
                        "--release",
                        "-p",
                        "corio",
                        "--features",
                        "hook",
                        "--example",
                        ex,
                    ],
                )),
                Source::Peer(_) => None,
            };
            if let Some(Err(e)) = built {
                let ex = match i.source {
                    Source::CorioExample(ex) | Source::CorioHookExample(ex) => ex,
                    Source::Peer(p) => p,
                };
                let why = format!("corio's example `{ex}` did not build ({e})");
                eprintln!("netbench: skipping {}: {why}", i.name);
                skipped.push((i.name.to_string(), why));
                failed.push(i.name);
            }
        }
        // Never measure a stale binary left by an earlier build.
        chosen.retain(|i| !failed.contains(&i.name));
    }
    chosen.retain(|i| {
        let path = binary(&env, i);
        if path.is_file() {
            true
        } else {
            let why = format!(
                "{} not found (not built, or does not exist yet)",
                rel(&env, &path)
            );
            eprintln!("netbench: skipping {}: {why}", i.name);
            skipped.push((i.name.to_string(), why));
            false
        }
    });

    // wrk for the HTTP workload.
    let mut wrk_version = None;
    if chosen.iter().any(|i| i.workload.wrk()) {
        match ensure_wrk() {
            Ok(v) => wrk_version = Some(v),
            Err(e) => {
                eprintln!("netbench: {e}; skipping the http and sleep workloads");
                chosen.retain(|i| {
                    if i.workload.wrk() {
                        skipped.push((i.name.to_string(), e.clone()));
                    }
                    !i.workload.wrk()
                });
            }
        }
    }

    // One response per HTTP server, to show how far each is from the
    // reference bytes.
    let mut responses: Vec<(String, String)> = Vec::new();

    // samples[run][index in chosen]
    let mut samples: Vec<Vec<Option<Sample>>> = vec![vec![None; chosen.len()]; opts.runs];
    let mut failures: Vec<(String, usize, String)> = Vec::new();
    for (run, row) in samples.iter_mut().enumerate() {
        for (slot, i) in row.iter_mut().zip(&chosen) {
            let check = i.workload.wrk() && !responses.iter().any(|(n, _)| n == i.name);
            match measure(&env, i, &opts, check) {
                Ok((s, resp)) => {
                    let latency = match &s.latency {
                        Some((a, b)) => format!("  p50 {a} p99 {b}"),
                        None => String::new(),
                    };
                    eprintln!(
                        "run {}/{} {:<18} {:>7.3} µs/req  {:>9.0} req/s  {} requests  errors {}  client CPU {:.0}%{latency}",
                        run + 1,
                        opts.runs,
                        i.name,
                        s.us_per_req(),
                        s.rps,
                        s.requests,
                        s.errors,
                        s.client_cpu_pct
                    );
                    if let Some(r) = resp {
                        responses.push((i.name.to_string(), r));
                    }
                    *slot = Some(s);
                }
                Err(e) => {
                    eprintln!("run {}/{} {:<18} FAILED: {e}", run + 1, opts.runs, i.name);
                    failures.push((i.name.to_string(), run + 1, e));
                }
            }
        }
    }

    let report = report(
        &env,
        &opts,
        &chosen,
        &samples,
        &skipped,
        &failures,
        &responses,
        wrk_version.as_deref(),
    );
    print!("{report}");
}

/// Measures one implementation once: start, warm up, measure, stop.
/// With `check_http`, also fetches one response and describes it.
fn measure(
    env: &Env,
    i: &Impl,
    opts: &Opts,
    check_http: bool,
) -> Result<(Sample, Option<String>), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], i.port));
    if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        return Err(format!(
            "something already listens on {addr}; stop it first"
        ));
    }
    let log = env.logs.join(format!("{}.log", i.name));
    let out = File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(binary(env, i));
    cmd.arg(addr.to_string())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    pin(&mut cmd, SERVER_CPU);
    let mut server = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary(env, i).display()))?;
    let result = measure_running(env, i, opts, check_http, &mut server, addr);
    let exited_early = matches!(server.try_wait(), Ok(Some(_)));
    stop(server);
    match result {
        Ok(r) if !exited_early => Ok(r),
        Ok(_) => Err(format!(
            "the server exited during the run; see {}",
            log_tail(&log)
        )),
        Err(e) if exited_early => Err(format!("{e}; {}", log_tail(&log))),
        Err(e) => Err(e),
    }
}

fn measure_running(
    env: &Env,
    i: &Impl,
    opts: &Opts,
    check_http: bool,
    server: &mut Child,
    addr: SocketAddr,
) -> Result<(Sample, Option<String>), String> {
    // Ready when it accepts.
    let t = Instant::now();
    loop {
        if let Ok(Some(st)) = server.try_wait() {
            return Err(format!("the server exited at start ({st})"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            break;
        }
        if t.elapsed() > READY_TIMEOUT {
            return Err(format!(
                "the server did not accept on {addr} within {READY_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let response = if check_http {
        Some(describe_response(addr, i.workload))
    } else {
        None
    };
    if opts.warmup > 0 {
        load(env, i, addr, opts.warmup).map_err(|e| format!("warm-up: {e}"))?;
    }
    let pid = server.id() as i32;
    let cpu0 = server_cpu_ns(pid).ok_or("cannot read the server's schedstat")?;
    let clock0 = process_clock_ns(pid);
    let mut s = load(env, i, addr, opts.secs)?;
    let cpu1 = server_cpu_ns(pid).ok_or("cannot read the server's schedstat (did it die?)")?;
    let clock1 = process_clock_ns(pid);
    s.cpu_ns = cpu1.saturating_sub(cpu0);
    if let (Some(a), Some(b)) = (clock0, clock1) {
        // schedstat misses threads that exited inside the window; the
        // process CPU clock does not. Say so if they disagree.
        let clock = b.saturating_sub(a) as f64;
        if (clock - s.cpu_ns as f64).abs() > 0.01 * clock.max(1.0) {
            eprintln!(
                "netbench: {}: schedstat says {:.3} s of CPU, the process clock {:.3} s",
                i.name,
                s.cpu_ns as f64 / 1e9,
                clock / 1e9
            );
        }
    }
    if s.requests == 0 {
        return Err("no request completed".into());
    }
    Ok((s, response))
}

/// Runs the workload's load generator against `addr` for `secs`, pinned
/// to the client CPU. `cpu_ns` of the result is left 0.
fn load(env: &Env, i: &Impl, addr: SocketAddr, secs: u64) -> Result<Sample, String> {
    let mut cmd = load_command(env, i.workload, addr, secs);
    pin(&mut cmd, CLIENT_CPU);
    let tag = format!("{}-client", i.name);
    let out_path = env.logs.join(format!("{tag}.out"));
    let err_path = env.logs.join(format!("{tag}.err"));
    let out = File::create(&out_path).map_err(|e| e.to_string())?;
    let err = File::create(&err_path).map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the load generator: {e}"))?;
    let started = Instant::now();
    let (status, cpu, timed_out) = wait_timeout(child, Duration::from_secs(secs + 30))?;
    let wall = started.elapsed();
    let stdout = fs::read_to_string(&out_path).unwrap_or_default();
    if timed_out {
        return Err(format!(
            "the load generator did not finish in {} s; killed",
            secs + 30
        ));
    }
    let client_cpu_pct = 100.0 * cpu.as_secs_f64() / wall.as_secs_f64();
    let mut s = match i.workload {
        Workload::Echo => parse_echo(&stdout),
        Workload::Http | Workload::Sleep => parse_wrk(&stdout),
    }
    .ok_or_else(|| {
        format!(
            "cannot read the load generator's result (exit status {status}); its output: {} {}",
            stdout.trim(),
            log_tail(&err_path)
        )
    })?;
    s.client_cpu_pct = client_cpu_pct;
    Ok(s)
}

fn load_command(env: &Env, w: Workload, addr: SocketAddr, secs: u64) -> Command {
    match w {
        Workload::Echo => {
            let mut c = Command::new(env.target.join("release").join("echo-client"));
            c.arg(addr.to_string())
                .args(["--conns", &ECHO_CONNS.to_string()])
                .args(["--size", &ECHO_SIZE.to_string()])
                .args(["--secs", &secs.to_string()]);
            c
        }
        Workload::Http | Workload::Sleep => {
            let (conns, path) = wrk_load(w);
            let mut c = Command::new("wrk");
            c.args([
                "-t1".to_string(),
                format!("-c{conns}"),
                format!("-d{secs}s"),
                "--latency".to_string(),
                format!("http://{addr}{path}"),
            ]);
            c
        }
    }
}

fn load_command_text(w: Workload, port: u16, secs: u64) -> String {
    match w {
        Workload::Echo => format!(
            "taskset -c {CLIENT_CPU} target/release/echo-client 127.0.0.1:{port} --conns {ECHO_CONNS} --size {ECHO_SIZE} --secs {secs}"
        ),
        Workload::Http | Workload::Sleep => {
            let (conns, path) = wrk_load(w);
            format!(
                "taskset -c {CLIENT_CPU} wrk -t1 -c{conns} -d{secs}s --latency http://127.0.0.1:{port}{path}"
            )
        }
    }
}

/// wrk's connections and path for an HTTP workload.
fn wrk_load(w: Workload) -> (usize, &'static str) {
    match w {
        Workload::Sleep => (SLEEP_CONNS, SLEEP_PATH),
        _ => (http_conns(), "/"),
    }
}

fn parse_echo(out: &str) -> Option<Sample> {
    let line = out.lines().find(|l| l.starts_with("echo-client "))?;
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .map(str::to_string)
    };
    Some(Sample {
        cpu_ns: 0,
        requests: field("requests")?.parse().ok()?,
        rps: field("rps")?.parse().ok()?,
        errors: field("errors")?.parse().ok()?,
        client_cpu_pct: 0.0,
        latency: None,
    })
}

fn parse_wrk(out: &str) -> Option<Sample> {
    let mut requests = None;
    let mut rps = None;
    let mut errors = 0u64;
    let (mut p50, mut p99) = (None, None);
    for line in out.lines() {
        let t = line.trim();
        let words: Vec<&str> = t.split_whitespace().collect();
        if words.len() >= 3 && words[1] == "requests" && words[2] == "in" {
            requests = words[0].parse::<u64>().ok();
        } else if let Some(v) = t.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if let Some(v) = t.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            errors += v
                .split(',')
                .filter_map(|p| p.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if words.len() == 2 && words[0] == "50%" {
            p50 = Some(words[1].to_string());
        } else if words.len() == 2 && words[0] == "99%" {
            p99 = Some(words[1].to_string());
        }
    }
    Some(Sample {
        cpu_ns: 0,
        requests: requests?,
        rps: rps?,
        errors,
        client_cpu_pct: 0.0,
        latency: p50.zip(p99),
    })
}

/// Sends the workload's GET and describes the answer: against the
/// reference bytes for `http`, as it is (head and body) for `sleep`.
fn describe_response(addr: SocketAddr, w: Workload) -> String {
    let (_, path) = wrk_load(w);
    let fetch = || -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())?;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if Instant::now() > deadline || got.len() > 1 << 20 {
                return Err(std::io::Error::other("no complete answer within 5 s"));
            }
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(got);
            }
            got.extend_from_slice(&buf[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut rsp = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(head)) = rsp.parse(&got) {
                let body = rsp
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| {
                        std::str::from_utf8(h.value)
                            .ok()?
                            .trim()
                            .parse::<usize>()
                            .ok()
                    })
                    .unwrap_or(0);
                if got.len() >= head + body {
                    got.truncate(head + body);
                    return Ok(got);
                }
            }
        }
    };
    match fetch() {
        Ok(r) if w == Workload::Sleep => {
            let text = String::from_utf8_lossy(&r);
            format!("{} bytes: `{}`", r.len(), text.replace("\r\n", " | "))
        }
        Ok(r) if r == corio_peers::HTTP_RESPONSE => {
            format!("{} bytes, exactly the reference answer", r.len())
        }
        Ok(r) => {
            let text = String::from_utf8_lossy(&r);
            let head = text
                .split("\r\n\r\n")
                .next()
                .unwrap_or("")
                .replace("\r\n", " | ");
            format!(
                "{} bytes (reference: {}): `{head}`",
                r.len(),
                corio_peers::HTTP_RESPONSE.len()
            )
        }
        Err(e) => format!("could not fetch one response: {e}"),
    }
}

/// Sets the child's CPU affinity to `cpu` between fork and exec.
fn pin(cmd: &mut Command, cpu: usize) {
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit inside `set`; `cpu` is far below
    // CPU_SETSIZE (1024).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: the closure runs in the forked child before exec; it only
    // makes the sched_setaffinity system call (async-signal-safe), on a
    // copy of `set` that lives in the closure, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Waits for `child` for at most `timeout` (then SIGKILLs it), reaps it
/// and returns its status, its CPU time (user + system) and whether it
/// was killed. No polling: a watchdog thread sleeps on a channel.
fn wait_timeout(child: Child, timeout: Duration) -> Result<(String, Duration, bool), String> {
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if rx.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
            // SAFETY: kill(2) on our own child, which cannot have been
            // reaped yet (the main thread waits with WNOWAIT until this
            // thread is joined), so the pid is still ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            true
        } else {
            false
        }
    });
    loop {
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid(2) on our child with WNOWAIT leaves it a zombie,
        // so the pid stays valid for the watchdog.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            let _ = tx.send(());
            let _ = watchdog.join();
            return Err(format!("waitid: {e}"));
        }
    }
    let _ = tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4(2) reaps our exited child and fills `status` and `ru`.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    // `child` is dropped without std reaping it again: that is fine, Child
    // does nothing on drop.
    drop(child);
    if r != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cpu = tv(ru.ru_utime) + tv(ru.ru_stime);
    let text = if libc::WIFEXITED(status) {
        format!("exit {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status}")
    };
    Ok((text, cpu, timed_out))
}

/// SIGTERM, up to 2 s to exit, then SIGKILL; always reaped.
fn stop(mut server: Child) {
    if let Ok(Some(_)) = server.try_wait() {
        return;
    }
    // SAFETY: kill(2) on our own child, not yet reaped (try_wait above
    // found it running), so the pid is still ours.
    unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGTERM) };
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
        if let Ok(Some(_)) = server.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// Sum over the process's threads of the first field of
/// `/proc/PID/task/TID/schedstat` (time on CPU, ns).
fn server_cpu_ns(pid: i32) -> Option<u64> {
    let dir = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut sum = 0u64;
    let mut any = false;
    for t in dir.flatten() {
        if let Ok(s) = fs::read_to_string(t.path().join("schedstat"))
            && let Some(ns) = s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        {
            sum += ns;
            any = true;
        }
    }
    any.then_some(sum)
}

/// The process-wide CPU clock of `pid` (includes threads that exited), ns.
fn process_clock_ns(pid: i32) -> Option<u64> {
    let mut clk: libc::clockid_t = 0;
    // SAFETY: clock_getcpuclockid(3) writes the clock id into `clk`.
    if unsafe { libc::clock_getcpuclockid(pid, &mut clk) } != 0 {
        return None;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec for clock_gettime(2) to fill.
    if unsafe { libc::clock_gettime(clk, &mut ts) } != 0 {
        return None;
    }
    Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

fn binary(env: &Env, i: &Impl) -> PathBuf {
    match i.source {
        Source::Peer(b) => env.target.join("release").join(b),
        Source::CorioExample(e) | Source::CorioHookExample(e) => {
            env.target.join("release").join("examples").join(e)
        }
    }
}

fn rel(env: &Env, p: &Path) -> String {
    p.strip_prefix(&env.root).unwrap_or(p).display().to_string()
}

fn log_tail(p: &Path) -> String {
    let text = fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" / ");
    if tail.is_empty() {
        format!("({} is empty)", p.display())
    } else {
        format!("{} says: {tail}", p.display())
    }
}

fn find_env() -> Env {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().unwrap_or(manifest).to_path_buf();
    let target = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(&root)
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            let s = String::from_utf8(o.stdout).ok()?;
            let start = s.find("\"target_directory\":\"")? + "\"target_directory\":\"".len();
            let end = s[start..].find('"')? + start;
            Some(PathBuf::from(&s[start..end]))
        })
        .unwrap_or_else(|| root.join("target"));
    let logs = target.join("netbench");
    Env {
        root,
        target,
        cargo,
        logs,
    }
}

fn cargo(env: &Env, args: &[&str]) -> Result<(), String> {
    eprintln!("netbench: $ cargo {}", args.join(" "));
    let st = Command::new(&env.cargo)
        .args(args)
        .current_dir(&env.root)
        .stdin(Stdio::null())
        .stdout(to_stderr())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed ({st})", args.join(" ")))
    }
}

/// A child's stdout sent to our stderr, so that stdout keeps only the
/// report.
fn to_stderr() -> Stdio {
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

fn in_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

/// Makes sure `wrk` is on PATH, installing Debian's package if not;
/// returns its version line.
fn ensure_wrk() -> Result<String, String> {
    if !in_path("wrk") {
        eprintln!("netbench: wrk is not installed; running `apt-get install -y wrk`");
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "wrk"])
                .stdin(Stdio::null())
                .stdout(to_stderr())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        if !install() {
            eprintln!("netbench: that failed; running `apt-get update` and trying again");
            let _ = Command::new("apt-get")
                .arg("update")
                .stdin(Stdio::null())
                .stdout(to_stderr())
                .status();
            install();
        }
        if !in_path("wrk") {
            return Err("wrk is missing and `apt-get install -y wrk` did not install it".into());
        }
    }
    let out = Command::new("wrk")
        .arg("-v")
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    Ok(text
        .lines()
        .next()
        .map(|l| l.split(" Copyright").next().unwrap_or(l).trim().to_string())
        .unwrap_or_else(|| "wrk (version unknown)".into()))
}

fn nproc() -> usize {
    fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn command_line(prog: &str, args: &[&str]) -> String {
    Command::new(prog)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
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

/// `median (min–max)` with `prec` decimals, or a single value for one.
fn spread(v: &[f64], prec: usize, group: bool) -> String {
    let fmt = |x: f64| {
        if group {
            thousands(x)
        } else {
            format!("{x:.prec$}")
        }
    };
    let mut s = v.to_vec();
    let m = median(&mut s);
    if s.len() == 1 {
        fmt(m)
    } else {
        format!("{} ({}–{})", fmt(m), fmt(s[0]), fmt(s[s.len() - 1]))
    }
}

fn thousands(x: f64) -> String {
    let n = x.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn report(
    env: &Env,
    opts: &Opts,
    chosen: &[&Impl],
    samples: &[Vec<Option<Sample>>],
    skipped: &[(String, String)],
    failures: &[(String, usize, String)],
    responses: &[(String, String)],
    wrk_version: Option<&str>,
) -> String {
    let mut r = String::new();
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let _ = writeln!(r, "\n## Network benchmarks (netbench)\n");
    let _ = writeln!(
        r,
        "Machine: {} CPUs, {}, Linux {}; {}{}. Server pinned to CPU {SERVER_CPU}, load generator to CPU {CLIENT_CPU}. \
         {} run(s) of {} s per implementation, interleaved, each after a {} s warm-up.\n",
        nproc(),
        cpu_model(),
        kernel,
        command_line("rustc", &["-V"]),
        wrk_version.map(|v| format!(", {v}")).unwrap_or_default(),
        opts.runs,
        opts.secs,
        opts.warmup
    );
    let _ = writeln!(
        r,
        "Server CPU is the sum over the server's threads of `/proc/PID/task/*/schedstat` (time on CPU) across the \
         measured window, divided by the requests the load generator completed in it; lower is better. \
         The ratio is taken run by run against the workload's baseline (the raw epoll server; for `sleep`, tokio) \
         in the same run, then the median of the ratios.\n"
    );

    for w in &opts.workloads {
        let rows: Vec<(usize, &&Impl)> = chosen
            .iter()
            .enumerate()
            .filter(|(_, i)| i.workload == *w)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let title = match w {
            Workload::Echo => format!(
                "### TCP echo: {ECHO_CONNS} connections, {ECHO_SIZE}-byte ping-pong, one scheduler thread"
            ),
            Workload::Http => {
                format!(
                    "### HTTP hello: keep-alive, `wrk -t1 -c{}`, one scheduler thread",
                    http_conns()
                )
            }
            Workload::Sleep => format!(
                "### axum, a handler that blocks 10 ms: keep-alive, `wrk -t1 -c{SLEEP_CONNS}` on `GET {SLEEP_PATH}`, one scheduler thread"
            ),
        };
        let _ = writeln!(r, "{title}\n");
        let lat = if w.wrk() {
            " p50 latency, ms, median (min–max) / p99, median |"
        } else {
            ""
        };
        let lat_sep = if w.wrk() { "---|" } else { "" };
        let _ = writeln!(
            r,
            "| implementation | server CPU µs/request, median (min–max) | ÷ {} (median of per-run ratios) | req/s, median (min–max) |{lat} errors | runs |",
            w.baseline_label()
        );
        let _ = writeln!(r, "|---|---:|---:|---:|{lat_sep}---:|---:|");
        let base = rows.iter().find(|(_, i)| i.baseline).map(|(k, _)| *k);
        let mut medians: Vec<(&str, f64, f64)> = Vec::new();
        let mut p50_ratios: Vec<(&str, Vec<f64>)> = Vec::new();
        for (k, i) in &rows {
            let got: Vec<&Sample> = samples.iter().filter_map(|row| row[*k].as_ref()).collect();
            if got.is_empty() {
                let _ = writeln!(
                    r,
                    "| {} | failed | — | — |{} — | 0/{} |",
                    i.name,
                    if w.wrk() { " — |" } else { "" },
                    opts.runs
                );
                continue;
            }
            let cpu: Vec<f64> = got.iter().map(|s| s.us_per_req()).collect();
            let rps: Vec<f64> = got.iter().map(|s| s.rps).collect();
            let ratios: Vec<f64> = match base {
                Some(b) => samples
                    .iter()
                    .filter_map(|row| {
                        Some(row[*k].as_ref()?.us_per_req() / row[b].as_ref()?.us_per_req())
                    })
                    .collect(),
                None => Vec::new(),
            };
            let ratio = if i.baseline {
                "1 (baseline)".to_string()
            } else if ratios.is_empty() {
                "—".to_string()
            } else {
                spread(&ratios, 3, false)
            };
            let errors: u64 = got.iter().map(|s| s.errors).sum();
            let latency = if w.wrk() {
                let lat: Vec<(f64, f64)> = got.iter().filter_map(|s| s.latency_ms()).collect();
                if lat.len() == got.len() {
                    let p50: Vec<f64> = lat.iter().map(|l| l.0).collect();
                    let mut p99: Vec<f64> = lat.iter().map(|l| l.1).collect();
                    format!(" {} / {:.2} |", spread(&p50, 2, false), median(&mut p99))
                } else {
                    " — |".into()
                }
            } else {
                String::new()
            };
            if let (Some(b), false, true) = (base, i.baseline, w.wrk()) {
                let r: Vec<f64> = samples
                    .iter()
                    .filter_map(|row| {
                        Some(row[*k].as_ref()?.latency_ms()?.0 / row[b].as_ref()?.latency_ms()?.0)
                    })
                    .collect();
                if !r.is_empty() {
                    p50_ratios.push((i.name, r));
                }
            }
            let _ = writeln!(
                r,
                "| {} | {} | {} | {} |{latency} {errors} | {}/{} |",
                i.name,
                spread(&cpu, 2, false),
                ratio,
                spread(&rps, 0, true),
                got.len(),
                opts.runs
            );
            let mut rps_m = rps.clone();
            let ratio_m = if ratios.is_empty() {
                f64::NAN
            } else {
                median(&mut ratios.clone())
            };
            medians.push((i.short, ratio_m, median(&mut rps_m)));
        }
        let _ = writeln!(r);
        if let Some(b) = base.filter(|_| !p50_ratios.is_empty()) {
            let name = rows
                .iter()
                .find(|(k, _)| *k == b)
                .map_or("", |(_, i)| i.name);
            for (n, v) in &p50_ratios {
                let _ = writeln!(
                    r,
                    "- p50 latency of `{n}` ÷ `{name}`, per-run ratios: median {}",
                    spread(v, 3, false)
                );
            }
            let _ = writeln!(r);
        }
        // The issue's targets, when corio and the peers it is held to ran.
        let (limit, rival, rival_name) = match w {
            Workload::Echo => (1.03, "tokio", "tokio current_thread"),
            Workload::Http => (1.05, "may", "may_minihttp (one worker)"),
            // Reported, no target (the issue asks for req/s and CPU).
            Workload::Sleep => (f64::NAN, "", ""),
        };
        let find = |s: &str| medians.iter().find(|m| m.0 == s);
        if let Some(c) = find("corio").filter(|_| !limit.is_nan()) {
            let mut t = format!("Targets for corio: CPU/request ÷ raw epoll = {:.3}", c.1);
            let _ = write!(
                t,
                " (≤ {limit}: {})",
                if c.1 <= limit { "met" } else { "NOT met" }
            );
            if let Some(v) = find(rival) {
                let _ = write!(
                    t,
                    "; req/s {} vs {rival_name} {} ({})",
                    thousands(c.2),
                    thousands(v.2),
                    if c.2 >= v.2 { "met" } else { "NOT met" }
                );
            }
            let _ = writeln!(r, "{t}.\n");
        }
        if let (Some(c), Some(h)) = (find("corio"), find("corio-hook")) {
            let x = h.1 / c.1;
            let _ = writeln!(
                r,
                "Target for the `hook` feature: std::net echo with hooks ÷ corio::net echo, CPU/request = {x:.3} (≤ 1.10: {}).\n",
                if x <= 1.10 { "met" } else { "NOT met" }
            );
        }
        for (_, i) in &rows {
            let _ = writeln!(r, "- `{}`: {}", i.name, i.note);
        }
        let _ = writeln!(r);
        if w.wrk()
            && responses
                .iter()
                .any(|(n, _)| rows.iter().any(|(_, i)| i.name == n))
        {
            if *w == Workload::Http {
                let _ = writeln!(
                    r,
                    "Answer to `GET /` (reference: `{}`, {} bytes):\n",
                    String::from_utf8_lossy(corio_peers::HTTP_RESPONSE).replace("\r\n", "\\r\\n"),
                    corio_peers::HTTP_RESPONSE.len()
                );
            } else {
                let _ = writeln!(r, "Answer to `GET {SLEEP_PATH}`:\n");
            }
            for (name, d) in responses {
                if rows.iter().any(|(_, i)| i.name == name) {
                    let _ = writeln!(r, "- `{name}`: {d}");
                }
            }
            let _ = writeln!(r);
        }
    }

    if !skipped.is_empty() || !failures.is_empty() {
        let _ = writeln!(r, "Skipped or failed:\n");
        for (name, why) in skipped {
            let _ = writeln!(r, "- `{name}` skipped: {why}");
        }
        for (name, run, why) in failures {
            let _ = writeln!(r, "- `{name}` failed in run {run}: {why}");
        }
        let _ = writeln!(r);
    }

    let _ = writeln!(
        r,
        "Commands (run from the workspace root; netbench pins with sched_setaffinity, as `taskset` would):\n"
    );
    let _ = writeln!(r, "```sh");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let _ = writeln!(
        r,
        "cargo run --release -p corio-peers --bin netbench --{}{}",
        if args.is_empty() { "" } else { " " },
        args.join(" ")
    );
    let _ = writeln!(r, "# which does:");
    let _ = writeln!(r, "cargo build --release -p corio-peers --bins");
    let _ = writeln!(
        r,
        "cargo build --release -p corio --features compat --example echo"
    );
    let _ = writeln!(
        r,
        "cargo build --release -p corio --features hook --example echo_std"
    );
    let _ = writeln!(
        r,
        "cargo build --release -p corio --features compat --example http_hello"
    );
    if chosen.iter().any(|i| i.workload == Workload::Sleep) {
        let _ = writeln!(
            r,
            "cargo build --release -p corio --features compat --example axum_app"
        );
    }
    for i in chosen {
        let _ = writeln!(
            r,
            "taskset -c {SERVER_CPU} {} 127.0.0.1:{} &   # {}",
            rel(env, &binary(env, i)),
            i.port,
            i.name
        );
        let _ = writeln!(r, "{}", load_command_text(i.workload, i.port, opts.secs));
    }
    let _ = writeln!(r, "```\n");

    let _ = writeln!(r, "<details><summary>Per-run samples</summary>\n");
    let _ = writeln!(
        r,
        "| run | implementation | server CPU µs/request | req/s | requests | errors | load generator CPU |"
    );
    let _ = writeln!(r, "|---:|---|---:|---:|---:|---:|---:|");
    for (run, row) in samples.iter().enumerate() {
        for (i, sample) in chosen.iter().zip(row) {
            match sample {
                Some(s) => {
                    let _ = writeln!(
                        r,
                        "| {} | {} | {:.3} | {} | {} | {} | {:.0}% |",
                        run + 1,
                        i.name,
                        s.us_per_req(),
                        thousands(s.rps),
                        s.requests,
                        s.errors,
                        s.client_cpu_pct
                    );
                }
                None => {
                    let _ = writeln!(r, "| {} | {} | failed | | | | |", run + 1, i.name);
                }
            }
        }
    }
    let _ = writeln!(r, "\n</details>");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 2s test @ http://127.0.0.1:7201/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   506.00us    1.16ms  21.87ms   98.75%
    Req/Sec    94.67k    11.84k  114.62k    60.00%
  Latency Distribution
     50%  378.00us
     75%  494.00us
     90%  600.00us
     99%    2.24ms
  189898 requests in 2.02s, 14.13MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  94104.55
Transfer/sec:      7.00MB
";

    #[test]
    fn parses_wrk() {
        let s = parse_wrk(WRK).expect("parsed");
        assert_eq!(s.requests, 189_898);
        assert!((s.rps - 94_104.55).abs() < 1e-6);
        assert_eq!(s.errors, 7);
        assert_eq!(
            s.latency,
            Some(("378.00us".to_string(), "2.24ms".to_string()))
        );
        assert_eq!(s.latency_ms(), Some((0.378, 2.24)));
        assert!(parse_wrk("unable to connect to 127.0.0.1:7201 Connection refused").is_none());
    }

    #[test]
    fn reads_wrk_latencies_in_milliseconds() {
        assert_eq!(wrk_ms("750.00us"), Some(0.75));
        assert_eq!(wrk_ms("10.14ms"), Some(10.14));
        assert_eq!(wrk_ms("1.50s"), Some(1500.0));
        assert_eq!(wrk_ms("12"), None);
        assert_eq!(wrk_ms("fast ms"), None);
    }

    #[test]
    fn parses_echo_client() {
        let s = parse_echo(
            "echo-client requests=264402 errors=1 elapsed_ns=2000000000 rps=132201 conns=50 size=64 cpu_ns=1971370835\n",
        )
        .expect("parsed");
        assert_eq!((s.requests, s.errors), (264_402, 1));
        assert_eq!(s.rps, 132_201.0);
        assert!(parse_echo("garbage").is_none());
    }

    #[test]
    fn statistics() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(spread(&[9.0, 7.0, 8.0], 2, false), "8.00 (7.00–9.00)");
        assert_eq!(spread(&[5.0], 1, false), "5.0");
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }

    #[test]
    fn names() {
        let by = |n: &str| IMPLS.iter().find(|i| i.name == n).expect("listed");
        assert!(matches_name(by("http-tokio-hyper"), "tokio"));
        assert!(matches_name(by("http-tokio-hyper"), "tokio-hyper"));
        assert!(matches_name(by("http-tokio-hyper"), "http-tokio-hyper"));
        assert!(!matches_name(by("echo-tokio"), "tokio-hyper"));
        assert!(matches_name(by("echo-corio"), "corio"));
        // Distinct ports, one baseline per workload.
        let mut ports: Vec<u16> = IMPLS.iter().map(|i| i.port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), IMPLS.len());
        for w in [Workload::Echo, Workload::Http, Workload::Sleep] {
            let n = IMPLS
                .iter()
                .filter(|i| i.workload == w && i.baseline)
                .count();
            assert_eq!(n, 1);
        }
    }
}
