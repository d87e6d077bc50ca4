//! suite: corio against its peers on the same workloads, in one command.
//!
//! `cargo run --release -p corio-peers --bin suite -- [--quick] [--runs N] [--only w1,w2] [--io] [--write]`
//!
//! Every (workload, implementation) pair runs `--runs` times (default 5;
//! `--quick`: 1, shorter network windows, and no million-task memory run)
//! in a fresh process: the `work` binary for corio, tokio (current-thread
//! and multi-thread), may and std threads; `peers/go/work.go` for Go
//! goroutines and `peers/perl/work.pl` for Perl's Coro itself, when their
//! toolchains are installed — the runner installs them from Debian when it
//! can (`apt-get install golang-go libcoro-perl libev-perl
//! libanyevent-perl libio-aio-perl libanyevent-aio-perl`) and marks them "not installed"
//! otherwise. The network workloads start each implementation's server
//! pinned to CPU 0 (`taskset -c 0`) and load it from CPU 1 with
//! `echo-client` (TCP echo) or `wrk` (HTTP hello; installed from Debian
//! when missing). The file workload reads files the runner makes in
//! `target/suite-files/`.
//!
//! It prints a table of medians with min/max, each peer's ratio to corio
//! and which is better, and with `--write` puts the table and one SVG chart
//! per workload into BENCHMARKS.md (between `<!-- suite:begin -->` and
//! `<!-- suite:end -->`, inserted after the introduction when absent) and
//! `bench/charts/`. `--io` also runs netbench (raw epoll, hyper on corio
//! and on tokio, may_minihttp; axum with a handler that blocks 10 ms, on
//! corio and on tokio with `spawn_blocking`) and fsbench (corio::fs
//! back-ends, big files) and puts their reports, as they print them, into
//! the same section.
//!
//! Adding an implementation: a name in `IMPLS`, a `match` arm in
//! `command` that makes its command line, and the workloads in its
//! program (`RESULT <value> <unit>` on stdout; `NA <why>` when it does not
//! run a workload).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a single run may take.
const RUN_LIMIT: Duration = Duration::from_secs(180);
/// The CPU the network servers run on, and the one their load runs on.
const SERVER_CPU: &str = "0";
const CLIENT_CPU: &str = "1";
/// Echo load: connections, bytes per message (as netbench).
const ECHO_CONNS: &str = "50";
const ECHO_SIZE: &str = "64";
/// HTTP load: wrk's connections (as netbench).
const WRK_CONNS: &str = "64";
/// Files of the `fileread` workload, and their size (work.rs's FILE_SIZE).
const FILES: u64 = 10_000;
const FILE_SIZE: usize = 4096;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// `work <impl> <arg> [n]` prints the result.
    Task,
    /// A server (`work <impl> <arg> ADDR`) under `echo-client`.
    Echo,
    /// A server under `wrk`.
    Http,
}

struct Workload {
    name: &'static str,
    arg: &'static str,
    n: Option<u64>,
    what: &'static str,
    kind: Kind,
    /// Higher is better (throughput); otherwise lower is.
    higher: bool,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "cede",
        arg: "cede",
        n: None,
        what: "switch between two tasks (ns)",
        kind: Kind::Task,
        higher: false,
    },
    Workload {
        name: "spawn",
        arg: "spawn",
        n: None,
        what: "spawn + join an empty task, warm (ns)",
        kind: Kind::Task,
        higher: false,
    },
    Workload {
        name: "spawn-cold",
        arg: "spawn-cold",
        n: None,
        what: "spawn 10,000 tasks that yield once, join all; fresh process (ns per task)",
        kind: Kind::Task,
        higher: false,
    },
    Workload {
        name: "pingpong",
        arg: "pingpong",
        n: None,
        what: "round trip through two capacity-1 channels (ns)",
        kind: Kind::Task,
        higher: false,
    },
    Workload {
        name: "semaphore",
        arg: "semaphore",
        n: None,
        what: "100 tasks on a 1-permit semaphore, per acquisition (ns)",
        kind: Kind::Task,
        higher: false,
    },
    Workload {
        name: "select",
        arg: "select",
        n: None,
        what: "two-branch select over two ready channels, item put back (ns)",
        kind: Kind::Task,
        higher: false,
    },
    Workload {
        name: "timers",
        arg: "timers",
        n: Some(100_000),
        what: "100,000 tasks sleeping 10 ms, until all done (ms)",
        kind: Kind::Task,
        higher: false,
    },
    Workload {
        name: "memory-100k",
        arg: "memory",
        n: Some(100_000),
        what: "resident memory per parked task, 100,000 tasks (bytes)",
        kind: Kind::Task,
        higher: false,
    },
    Workload {
        name: "memory-1m",
        arg: "memory",
        n: Some(1_000_000),
        what: "resident memory per parked task, 1,000,000 tasks (bytes)",
        kind: Kind::Task,
        higher: false,
    },
    Workload {
        name: "park-1m",
        arg: "park",
        n: Some(1_000_000),
        what: "1,000,000 tasks parked on one channel, woken, joined; whole process, exit included (s)",
        kind: Kind::Task,
        higher: false,
    },
    Workload {
        name: "fileread",
        arg: "fileread",
        n: Some(FILES),
        what: "read 10,000 cached 4 KiB files, 64 at a time (µs per file)",
        kind: Kind::Task,
        higher: false,
    },
    Workload {
        name: "echo",
        arg: "echo-server",
        n: None,
        what: "TCP echo, 50 connections × 64 B ping-pong (round trips/s)",
        kind: Kind::Echo,
        higher: true,
    },
    Workload {
        name: "http",
        arg: "http-server",
        n: None,
        what: "HTTP hello, wrk -t1 -c64 keep-alive (requests/s)",
        kind: Kind::Http,
        higher: true,
    },
];

/// The implementations the `park` workload is written for.
const PARK_IMPLS: &[&str] = &["corio", "tokio-ct", "tokio-mt", "go"];

const IMPLS: &[&str] = &[
    "corio",
    "tokio-ct",
    "tokio-mt",
    "may",
    "std",
    "go",
    "perl-coro",
];

struct Opts {
    runs: usize,
    quick: bool,
    only: Option<Vec<String>>,
    write: bool,
    /// Also run netbench (TCP echo, HTTP hello) and fsbench (file reads).
    io: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!("suite: {msg}");
    eprintln!("usage: suite [--quick] [--runs N] [--only workload,...] [--io] [--write]");
    std::process::exit(2);
}

fn parse() -> Opts {
    let mut o = Opts {
        runs: 5,
        quick: false,
        only: None,
        write: false,
        io: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => {
                o.quick = true;
                o.runs = 1;
            }
            "--write" => o.write = true,
            "--io" => o.io = true,
            "--runs" => {
                o.runs = match args.next().map(|v| v.parse()) {
                    Some(Ok(n)) if n > 0 => n,
                    _ => usage("--runs takes a positive whole number"),
                }
            }
            "--only" => {
                let list = args.next().unwrap_or_else(|| usage("--only takes a list"));
                let names: Vec<String> = list.split(',').map(str::to_owned).collect();
                for n in &names {
                    if !WORKLOADS.iter().any(|w| w.name == n) {
                        usage(&format!("unknown workload {n:?}"));
                    }
                }
                o.only = Some(names);
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    o
}

fn works(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn apt_install(pkgs: &[&str]) -> bool {
    eprintln!("suite: installing {} from Debian", pkgs.join(" "));
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let mut cmd = if root {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.arg("-n").arg("apt-get");
        c
    };
    cmd.args(["install", "-y", "-qq"])
        .args(pkgs)
        .env("DEBIAN_FRONTEND", "noninteractive");
    works(&mut cmd)
}

/// Makes the Go peer if a Go toolchain is (or can be) installed.
fn go_peer() -> Result<String, String> {
    if !works(Command::new("go").arg("version")) && !apt_install(&["golang-go"]) {
        return Err("not installed (golang-go)".into());
    }
    let out = "target/release/work-go";
    let built = Command::new("go")
        .args(["build", "-o", "../../target/release/work-go", "."])
        .current_dir("peers/go")
        .env("GOFLAGS", "-mod=mod")
        .status();
    match built {
        Ok(s) if s.success() => Ok(out.to_string()),
        _ => Err("go build failed".into()),
    }
}

fn perl_peer() -> Result<(), String> {
    let check = || works(Command::new("perl").args(["-MCoro", "-MCoro::AnyEvent", "-MEV", "-e1"]));
    if check()
        || (apt_install(&[
            "libcoro-perl",
            "libev-perl",
            "libanyevent-perl",
            "libio-aio-perl",
            "libanyevent-aio-perl",
        ]) && check())
    {
        // Coro::AIO (IO::AIO) gives Perl's Coro non-blocking file reads;
        // without it work.pl reads files with blocking reads (and the
        // generated text says so).
        let aio = || works(Command::new("perl").args(["-MCoro::AIO", "-e1"]));
        if !aio() {
            apt_install(&["libio-aio-perl", "libanyevent-aio-perl"]);
        }
        Ok(())
    } else {
        Err("not installed (libcoro-perl)".into())
    }
}

enum Outcome {
    Value(f64, String),
    Na(String),
}

/// One run in a fresh process.
fn run_once(cmd: &mut Command) -> Outcome {
    let mut child = match cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::Na(format!("cannot start: {e}")),
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > RUN_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Outcome::Na(format!("timed out after {} s", RUN_LIMIT.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Outcome::Na(format!("wait: {e}")),
        }
    }
    let out = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => return Outcome::Na(format!("{e}")),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("RESULT ") {
            let mut f = rest.split_whitespace();
            if let (Some(v), Some(u)) = (f.next().and_then(|v| v.parse().ok()), f.next()) {
                return Outcome::Value(v, u.to_string());
            }
        }
        if let Some(why) = line.strip_prefix("NA") {
            let why = why.trim();
            return Outcome::Na(if why.is_empty() {
                "not run".into()
            } else {
                format!("not run: {why}")
            });
        }
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Outcome::Na(format!(
        "failed ({}): {}",
        out.status,
        err.lines().last().unwrap_or("no output")
    ))
}

struct Row {
    values: Vec<f64>,
    unit: String,
    na: Option<String>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn fmt_v(v: f64) -> String {
    if v >= 1000.0 {
        let s = format!("{v:.0}");
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A horizontal bar chart of the medians (corio in its own colour).
fn chart(w: &Workload, rows: &[(&str, f64)], unit: &str) -> String {
    let bar_h = 26.0;
    let left = 110.0;
    let width = 860.0;
    let plot_w = width - left - 120.0;
    let height = 50.0 + bar_h * rows.len() as f64 + 20.0;
    let max = rows
        .iter()
        .map(|r| r.1)
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let log = rows.iter().any(|r| r.1 > 0.0 && max / r.1 > 50.0);
    let scale = |v: f64| {
        if log {
            let lo = rows
                .iter()
                .map(|r| r.1)
                .filter(|v| *v > 0.0)
                .fold(f64::MAX, f64::min)
                / 2.0;
            ((v.max(lo) / lo).ln() / (max / lo).ln()) * plot_w
        } else {
            v / max * plot_w
        }
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = write!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{} — {}; {} is better{}</text>"#,
        w.name,
        w.what,
        if w.higher { "higher" } else { "lower" },
        if log { "; log scale" } else { "" }
    );
    for (i, (name, v)) in rows.iter().enumerate() {
        let y = 40.0 + i as f64 * bar_h;
        let colour = if *name == "corio" {
            "#d9480f"
        } else {
            "#4c6ef5"
        };
        let wbar = scale(*v).max(1.0);
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{name}</text><rect x="{left}" y="{}" width="{wbar:.1}" height="{}" fill="{colour}"/><text x="{}" y="{}">{} {unit}</text>"#,
            left - 8.0,
            y + 17.0,
            y + 4.0,
            bar_h - 8.0,
            left + wbar + 6.0,
            y + 17.0,
            fmt_v(*v)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// What the runs need beyond the `work` binary, or why it is missing.
struct Peers {
    go: Result<String, String>,
    perl: Result<(), String>,
    wrk: Result<(), String>,
    taskset: bool,
    files: Result<PathBuf, String>,
}

/// The program and arguments that run `imp`'s workloads.
fn program(p: &Peers, imp: &str) -> Result<Vec<String>, String> {
    match imp {
        "go" => p.go.clone().map(|bin| vec![bin]),
        "perl-coro" => p
            .perl
            .clone()
            .map(|()| vec!["perl".into(), "peers/perl/work.pl".into()]),
        _ => Ok(vec!["target/release/work".into(), imp.into()]),
    }
}

/// A command for `argv`, pinned to `cpu` when taskset is there.
fn command(p: &Peers, argv: &[String], cpu: Option<&str>) -> Command {
    let mut c = match cpu {
        Some(cpu) if p.taskset => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpu]).args(argv);
            c
        }
        _ => {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
    };
    if let Ok(dir) = &p.files {
        c.env("SUITE_FILES", dir);
    }
    c
}

/// Makes the files of the `fileread` workload (kept between runs).
fn make_files() -> Result<PathBuf, String> {
    let dir = std::env::current_dir()
        .map_err(|e| format!("no working directory: {e}"))?
        .join("target/suite-files");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    for i in 0..FILES {
        let f = dir.join(format!("f{i:06}"));
        if std::fs::metadata(&f).is_ok_and(|m| m.len() == FILE_SIZE as u64) {
            continue;
        }
        let body: Vec<u8> = (0..FILE_SIZE).map(|k| (k as u64 * 31 + i) as u8).collect();
        std::fs::write(&f, body).map_err(|e| format!("cannot write {}: {e}", f.display()))?;
    }
    Ok(dir)
}

/// Makes sure wrk is there, installing Debian's package if not.
fn wrk() -> Result<(), String> {
    let here = || works(Command::new("wrk").arg("-v")) || works(Command::new("which").arg("wrk"));
    if here() || (apt_install(&["wrk"]) && here()) {
        Ok(())
    } else {
        Err("not installed (wrk)".into())
    }
}

/// One network run: the server on SERVER_CPU, its load on CLIENT_CPU.
fn net_once(
    p: &Peers,
    argv: &[String],
    w: &Workload,
    port: u16,
    secs: u64,
    warmup: u64,
) -> Outcome {
    let addr = format!("127.0.0.1:{port}");
    if std::net::TcpListener::bind(&addr).is_err() {
        return Outcome::Na(format!("port {port} is in use"));
    }
    let log = PathBuf::from(format!("target/suite/{}-{}.log", w.name, port));
    let err =
        match std::fs::create_dir_all("target/suite").and_then(|()| std::fs::File::create(&log)) {
            Ok(f) => Stdio::from(f),
            Err(_) => Stdio::null(),
        };
    let mut args = argv.to_vec();
    args.extend([w.arg.to_string(), addr.clone()]);
    let mut server = match command(p, &args, Some(SERVER_CPU))
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Outcome::Na(format!("cannot start: {e}")),
    };
    let Ok(sock) = addr.parse::<std::net::SocketAddr>() else {
        return Outcome::Na(format!("bad address {addr}"));
    };
    let start = Instant::now();
    let ready = loop {
        if let Ok(Some(st)) = server.try_wait() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            break Err(format!(
                "server exited ({st}): {}",
                tail.lines().last().unwrap_or("no output")
            ));
        }
        if std::net::TcpStream::connect_timeout(&sock, Duration::from_millis(200)).is_ok() {
            break Ok(());
        }
        if start.elapsed() > Duration::from_secs(10) {
            break Err("server not listening after 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = match ready {
        Err(e) => Outcome::Na(e),
        Ok(()) => {
            if warmup > 0 {
                let _ = load(p, w.kind, &addr, warmup);
            }
            load(p, w.kind, &addr, secs)
        }
    };
    let _ = server.kill();
    let _ = server.wait();
    out
}

/// Runs the load generator against `addr` for `secs`; requests per second.
fn load(p: &Peers, kind: Kind, addr: &str, secs: u64) -> Outcome {
    let secs = secs.to_string();
    let argv: Vec<String> = if kind == Kind::Echo {
        [
            "target/release/echo-client",
            addr,
            "--conns",
            ECHO_CONNS,
            "--size",
            ECHO_SIZE,
            "--secs",
            &secs,
        ]
        .map(String::from)
        .to_vec()
    } else {
        vec![
            "wrk".into(),
            "-t1".into(),
            format!("-c{WRK_CONNS}"),
            format!("-d{secs}s"),
            format!("http://{addr}/"),
        ]
    };
    let out = match command(p, &argv, Some(CLIENT_CPU)).output() {
        Ok(o) => o,
        Err(e) => return Outcome::Na(format!("cannot run {}: {e}", argv[0])),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx") {
        return Outcome::Na("wrong answers (wrk: non-2xx responses)".into());
    }
    let value = if kind == Kind::Echo {
        text.lines()
            .find(|l| l.starts_with("echo-client "))
            .and_then(|l| l.split_whitespace().find_map(|f| f.strip_prefix("rps=")))
            .and_then(|v| v.parse::<f64>().ok())
    } else {
        text.lines()
            .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    match value {
        Some(v) if v > 0.0 => Outcome::Value(v, "req/s".into()),
        _ => {
            let err = String::from_utf8_lossy(&out.stderr);
            Outcome::Na(format!(
                "load failed: {}",
                err.lines()
                    .chain(text.lines())
                    .last()
                    .unwrap_or("no output")
            ))
        }
    }
}

/// How a peer's median compares with corio's.
fn verdict(w: &Workload, imp: &str, m: f64, corio: f64) -> String {
    if corio <= 0.0 || m <= 0.0 {
        return "—".into();
    }
    let factor = if m > corio { m / corio } else { corio / m };
    if factor < 1.05 {
        return "even (within 5%)".into();
    }
    let peer_better = if w.higher { m > corio } else { m < corio };
    if peer_better {
        format!("**{imp} {factor:.2}× better**")
    } else {
        format!("corio {factor:.2}× better")
    }
}

/// The first line a command prints, if it runs.
fn first_line(prog: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(prog).args(args).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
}

/// The machine and the tools, in one line.
fn machine(p: &Peers) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let info = |file: &str, key: &str| {
        std::fs::read_to_string(file).ok().and_then(|c| {
            c.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
    };
    let model = info("/proc/cpuinfo", "model name").unwrap_or_else(|| "CPU unknown".into());
    let mem = info("/proc/meminfo", "MemTotal")
        .and_then(|v| {
            v.split_whitespace()
                .next()
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map_or("memory unknown".into(), |kb| {
            format!("{} GiB", (kb + (1 << 19)) >> 20)
        });
    let kernel = first_line("uname", &["-r"]).unwrap_or_else(|| "?".into());
    let rustc = first_line("rustc", &["-V"]).unwrap_or_else(|| "rustc ?".into());
    let go = match &p.go {
        Ok(_) => first_line("go", &["version"]).unwrap_or_else(|| "go ?".into()),
        Err(e) => format!("Go {e}"),
    };
    let perl = match &p.perl {
        Ok(()) => first_line(
            "perl",
            &["-MCoro", "-e", "print qq{Perl $^V, Coro $Coro::VERSION}"],
        )
        .unwrap_or_else(|| "Perl Coro ?".into()),
        Err(e) => format!("Perl Coro {e}"),
    };
    let wrk = match &p.wrk {
        Ok(()) => first_line("wrk", &["-v"]).unwrap_or_else(|| "wrk ?".into()),
        Err(e) => format!("wrk {e}"),
    };
    format!("{cpus} vCPUs ({model}), {mem}, Linux {kernel}; {rustc}; {go}; {perl}; {wrk}")
}

fn main() {
    let o = parse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if let Err(e) = std::env::set_current_dir(&root) {
        usage(&format!("cannot enter the workspace root: {e}"));
    }
    let began = Instant::now();
    let workloads: Vec<(usize, &Workload)> = WORKLOADS
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            o.only
                .as_ref()
                .is_none_or(|l| l.iter().any(|n| n == w.name))
        })
        .filter(|(_, w)| !(o.quick && (w.name == "memory-1m" || w.name == "park-1m")))
        .collect();
    let needs = |k: Kind| workloads.iter().any(|(_, w)| w.kind == k);
    eprintln!("suite: building the Rust programs");
    if !works(Command::new("cargo").args([
        "build",
        "--release",
        "-p",
        "corio-peers",
        "--bin",
        "work",
        "--bin",
        "echo-client",
    ])) {
        usage("cargo build --release -p corio-peers --bin work --bin echo-client failed");
    }
    let peers = Peers {
        go: go_peer(),
        perl: perl_peer(),
        wrk: if needs(Kind::Http) {
            wrk()
        } else {
            Err("not needed".into())
        },
        taskset: works(Command::new("taskset").args(["-c", "0", "true"])),
        files: if workloads.iter().any(|(_, w)| w.arg == "fileread") {
            eprintln!("suite: making the files for fileread in target/suite-files");
            make_files()
        } else {
            Err("not needed".into())
        },
    };
    if !peers.taskset && (needs(Kind::Echo) || needs(Kind::Http)) {
        eprintln!("suite: taskset does not work here; servers and load run unpinned");
    }
    let (secs, warmup) = if o.quick { (1, 0) } else { (3, 1) };
    let mut results: BTreeMap<(usize, usize), Row> = BTreeMap::new();
    for run in 0..o.runs {
        for &(wi, w) in &workloads {
            for (ii, imp) in IMPLS.iter().enumerate() {
                let row = results.entry((wi, ii)).or_insert(Row {
                    values: vec![],
                    unit: String::new(),
                    na: None,
                });
                if row.na.is_some() {
                    continue;
                }
                let argv = match program(&peers, imp) {
                    Ok(a) => a,
                    Err(e) => {
                        row.na = Some(e);
                        continue;
                    }
                };
                // may maps every coroutine stack separately, with a guard
                // page: two mappings each. Past vm.max_map_count it fails
                // with ENOMEM after minutes of trying (seen at 100,000), so
                // say so instead of waiting for it.
                if *imp == "may" && w.arg == "memory" {
                    let max: u64 = std::fs::read_to_string("/proc/sys/vm/max_map_count")
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(65_530);
                    if w.n.unwrap_or(0) * 2 > max {
                        row.na = Some(format!(
                            "cannot: 2 mappings per stack exceed vm.max_map_count ({max})"
                        ));
                        continue;
                    }
                }
                let outcome = match w.kind {
                    Kind::Task => {
                        if w.arg == "fileread"
                            && let Err(e) = &peers.files
                        {
                            row.na = Some(e.clone());
                            continue;
                        }
                        if w.arg == "park" && !PARK_IMPLS.contains(imp) {
                            row.na = Some("written for corio, tokio and Go only".into());
                            continue;
                        }
                        let mut args = argv;
                        args.push(w.arg.into());
                        if let Some(n) = w.n {
                            args.push(n.to_string());
                        }
                        let started = Instant::now();
                        let outcome = run_once(&mut command(&peers, &args, None));
                        match outcome {
                            // The whole process, exit teardown included.
                            Outcome::Value(..) if w.arg == "park" => {
                                Outcome::Value(started.elapsed().as_secs_f64(), "s".into())
                            }
                            other => other,
                        }
                    }
                    Kind::Echo | Kind::Http => {
                        if w.kind == Kind::Http
                            && let Err(e) = &peers.wrk
                        {
                            row.na = Some(e.clone());
                            continue;
                        }
                        let base = if w.kind == Kind::Echo { 7400 } else { 7420 };
                        net_once(&peers, &argv, w, base + ii as u16, secs, warmup)
                    }
                };
                match outcome {
                    Outcome::Value(v, u) => {
                        row.values.push(v);
                        row.unit = u;
                    }
                    Outcome::Na(why) => row.na = Some(why),
                }
            }
            eprintln!(
                "suite: run {} of {}: {} done ({} s so far)",
                run + 1,
                o.runs,
                w.name,
                began.elapsed().as_secs()
            );
        }
    }

    // The table.
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| workload | implementation | median | min | max | ÷ corio | verdict |"
    );
    let _ = writeln!(table, "|---|---|---|---|---|---|---|");
    let mut charts = Vec::new();
    for &(wi, w) in &workloads {
        let corio = results
            .get(&(wi, 0))
            .filter(|r| !r.values.is_empty())
            .map(|r| median(&r.values));
        let mut bars = Vec::new();
        let mut unit = String::new();
        for (ii, imp) in IMPLS.iter().enumerate() {
            let Some(r) = results.get(&(wi, ii)) else {
                continue;
            };
            if r.values.is_empty() {
                let why = r.na.clone().unwrap_or_else(|| "no result".into());
                let _ = writeln!(table, "| {} | {imp} | {why} | | | | |", w.name);
                continue;
            }
            let m = median(&r.values);
            let min = r.values.iter().copied().fold(f64::MAX, f64::min);
            let max = r.values.iter().copied().fold(f64::MIN, f64::max);
            let ratio = corio.map_or("—".into(), |c| format!("{:.2}", m / c));
            let (name, verdict) = if *imp == "corio" {
                (format!("**{imp}**"), "—".to_string())
            } else {
                (
                    imp.to_string(),
                    corio.map_or("—".into(), |c| verdict(w, imp, m, c)),
                )
            };
            // A run that failed after others worked is said, not hidden.
            let verdict = match &r.na {
                Some(why) => format!("{verdict} (a later run: {why})"),
                None => verdict,
            };
            let _ = writeln!(
                table,
                "| {} | {name} | {} {} | {} | {} | {ratio} | {verdict} |",
                w.name,
                fmt_v(m),
                r.unit,
                fmt_v(min),
                fmt_v(max)
            );
            bars.push((*imp, m));
            unit = r.unit.clone();
        }
        if !bars.is_empty() {
            charts.push((w.name, chart(w, &bars, &unit)));
        }
    }
    println!("{table}");
    eprintln!("suite: measured in {} s", began.elapsed().as_secs());

    // The I/O workloads have runners of their own; their reports go in
    // as they are.
    let mut io_reports = String::new();
    if o.io {
        let runs = o.runs.to_string();
        let secs = if o.quick { "2" } else { "5" };
        for (title, bin, args) in [
            (
                "TCP echo, HTTP hello and axum with a blocking handler (netbench: corio, raw epoll, tokio, may)",
                "netbench",
                vec![
                    "echo",
                    "http",
                    "sleep",
                    "--runs",
                    runs.as_str(),
                    "--secs",
                    secs,
                ],
            ),
            (
                "File reads (fsbench: corio::fs, std::fs on threads, tokio::fs)",
                "fsbench",
                vec!["--rounds", runs.as_str()],
            ),
        ] {
            eprintln!("suite: running {bin}");
            if !works(Command::new("cargo").args([
                "build",
                "--release",
                "-p",
                "corio-peers",
                "--bin",
                bin,
            ])) {
                let _ = writeln!(io_reports, "### {title}\n\n{bin} could not be built.\n");
                continue;
            }
            let out = Command::new(format!("target/release/{bin}"))
                .args(&args)
                .stderr(Stdio::inherit())
                .output();
            match out {
                Ok(o) if o.status.success() => {
                    let text = String::from_utf8_lossy(&o.stdout);
                    println!("{text}");
                    let _ = writeln!(
                        io_reports,
                        "### {title}\n\n`{bin} {}`:\n\n{text}",
                        args.join(" ")
                    );
                }
                Ok(o) => {
                    let _ = writeln!(io_reports, "### {title}\n\n{bin} failed ({}).\n", o.status);
                }
                Err(e) => {
                    let _ = writeln!(io_reports, "### {title}\n\n{bin} could not run: {e}.\n");
                }
            }
        }
    }

    if o.write {
        let dir = Path::new("bench/charts");
        if let Err(e) = std::fs::create_dir_all(dir) {
            usage(&format!("cannot make {}: {e}", dir.display()));
        }
        let mut section = String::new();
        let _ = writeln!(section, "<!-- suite:begin -->");
        let _ = writeln!(section, "## The peer suite\n");
        let args: Vec<String> = std::env::args().skip(1).collect();
        let _ = writeln!(
            section,
            "Written by `cargo run --release -p corio-peers --bin suite -- {}` in {} s. \
             **Machine:** {}.\n",
            args.join(" "),
            began.elapsed().as_secs(),
            machine(&peers)
        );
        let _ = writeln!(
            section,
            "Every cell is the median of {} runs, each in a fresh process; min and max \
             beside it. \"÷ corio\" is the implementation's median divided by corio's; \
             \"verdict\" says which is better and by how much (**lower is better** for \
             times and bytes, **higher** for requests/s), in bold where the peer wins. \
             tokio-ct is tokio's current-thread runtime, tokio-mt its multi-thread one (as \
             many workers as CPUs it may use: 2 for the in-process workloads, 1 for the \
             servers, which are pinned to one CPU), may runs one worker, Go runs with \
             GOMAXPROCS=1, std uses OS threads (a tenth of the iterations for the loops; one \
             thread per task for sleepers and parked tasks when the machine allows that many \
             threads in a process, otherwise the row says which limit stops it). For file reads, may reads with blocking \
             `std::fs::read` in its coroutines (it has no file I/O of its own), std uses a pool \
             of 64 threads, Perl Coro {}. The network rows run each server pinned to CPU {SERVER_CPU} \
             and its load pinned to CPU {CLIENT_CPU}, {} s measured after {} s of warm-up; the \
             load generator shares the machine, so a server faster than the generator shows \
             the generator's ceiling, not its own.\n",
            o.runs,
            if works(Command::new("perl").args(["-MCoro::AIO", "-e1"])) {
                "reads with Coro::AIO (IO::AIO's thread pool)"
            } else {
                "reads with plain blocking reads (IO::AIO is not installed)"
            },
            secs,
            warmup
        );
        let _ = writeln!(section, "Commands (from the workspace root):\n");
        let _ = writeln!(section, "```sh");
        let _ = writeln!(
            section,
            "target/release/work <impl> <workload> [n]     # corio tokio-ct tokio-mt may std\n\
             target/release/work-go <workload> [n]          # peers/go/work.go, built by the runner\n\
             perl peers/perl/work.pl <workload> [n]\n\
             # fileread: SUITE_FILES=target/suite-files (10,000 files of 4 KiB, made by the runner)\n\
             # echo / http: the server, then its load:\n\
             taskset -c {SERVER_CPU} target/release/work <impl> echo-server 127.0.0.1:PORT &\n\
             taskset -c {CLIENT_CPU} target/release/echo-client 127.0.0.1:PORT --conns {ECHO_CONNS} --size {ECHO_SIZE} --secs {secs}\n\
             taskset -c {SERVER_CPU} target/release/work <impl> http-server 127.0.0.1:PORT &\n\
             taskset -c {CLIENT_CPU} wrk -t1 -c{WRK_CONNS} -d{secs}s http://127.0.0.1:PORT/"
        );
        let _ = writeln!(section, "```\n");
        section.push_str(&table);
        section.push('\n');
        for (name, svg) in &charts {
            let file = dir.join(format!("{name}.svg"));
            if let Err(e) = std::fs::write(&file, svg) {
                usage(&format!("cannot write {}: {e}", file.display()));
            }
            let _ = writeln!(section, "![{name}](bench/charts/{name}.svg)\n");
        }
        section.push_str(&io_reports);
        let _ = writeln!(section, "<!-- suite:end -->");
        let md = std::fs::read_to_string("BENCHMARKS.md").unwrap_or_default();
        let new = match (
            md.find("<!-- suite:begin -->"),
            md.find("<!-- suite:end -->"),
        ) {
            (Some(a), Some(b)) if b > a => {
                let end = b + "<!-- suite:end -->".len();
                let end = md[end..].find('\n').map_or(md.len(), |k| end + k + 1);
                format!("{}{}{}", &md[..a], section, &md[end..])
            }
            _ => match md.find("\n## ") {
                Some(i) => format!("{}\n{}{}", &md[..i + 1], section, &md[i + 1..]),
                None => format!("{md}\n{section}"),
            },
        };
        if let Err(e) = std::fs::write("BENCHMARKS.md", new) {
            usage(&format!("cannot write BENCHMARKS.md: {e}"));
        }
        eprintln!(
            "suite: wrote BENCHMARKS.md and {} charts in bench/charts/",
            charts.len()
        );
    }
}
