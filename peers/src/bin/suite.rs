//! suite: corio against its peers on the same workloads, in one command.
//!
//! `cargo run --release -p corio-peers --bin suite -- [--quick] [--runs N] [--only w1,w2] [--io] [--write]`
//!
//! Every (workload, implementation) pair runs `--runs` times (default 5;
//! `--quick`: 1, and no million-task memory run) in a fresh process: the
//! `work` binary for corio, tokio (current-thread and multi-thread), may
//! and std threads; `peers/go/work.go` for Go goroutines and
//! `peers/perl/work.pl` for Perl's Coro itself, when their toolchains are
//! installed — the runner installs them from Debian when it can (`apt-get
//! install golang-go libcoro-perl libev-perl libanyevent-perl`) and marks
//! them "not installed" otherwise. It prints a table of medians with
//! min/max and each peer's ratio to corio (lower is better everywhere), and
//! with `--write` puts the table and one SVG chart per workload into
//! BENCHMARKS.md (between `<!-- suite:begin -->` and `<!-- suite:end -->`)
//! and `bench/charts/`. `--io` adds the I/O workloads — TCP echo and HTTP
//! hello (netbench, with `wrk`) and file reads (fsbench) — whose reports go
//! into the same section as their runners print them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a single run may take.
const RUN_LIMIT: Duration = Duration::from_secs(180);

struct Workload {
    name: &'static str,
    arg: &'static str,
    n: Option<u64>,
    what: &'static str,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "cede",
        arg: "cede",
        n: None,
        what: "switch between two tasks (ns)",
    },
    Workload {
        name: "spawn",
        arg: "spawn",
        n: None,
        what: "spawn + join an empty task, warm (ns)",
    },
    Workload {
        name: "spawn-cold",
        arg: "spawn-cold",
        n: None,
        what: "spawn + join, first batch in a fresh process (ns)",
    },
    Workload {
        name: "pingpong",
        arg: "pingpong",
        n: None,
        what: "round trip through two capacity-1 channels (ns)",
    },
    Workload {
        name: "semaphore",
        arg: "semaphore",
        n: None,
        what: "100 tasks on a 1-permit semaphore, per acquisition (ns)",
    },
    Workload {
        name: "timers",
        arg: "timers",
        n: Some(100_000),
        what: "100,000 tasks sleeping 10 ms, until all done (ms)",
    },
    Workload {
        name: "memory-100k",
        arg: "memory",
        n: Some(100_000),
        what: "resident memory per parked task, 100,000 tasks (bytes)",
    },
    Workload {
        name: "memory-1m",
        arg: "memory",
        n: Some(1_000_000),
        what: "resident memory per parked task, 1,000,000 tasks (bytes)",
    },
];

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
    if check() || (apt_install(&["libcoro-perl", "libev-perl", "libanyevent-perl"]) && check()) {
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
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
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
        if line.starts_with("NA") {
            return Outcome::Na("not run at this count".into());
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
    let width = 640.0;
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
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{} — {}{}</text>"#,
        w.name,
        w.what,
        if log { ", log scale" } else { "" }
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

fn main() {
    let o = parse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if let Err(e) = std::env::set_current_dir(&root) {
        usage(&format!("cannot enter the workspace root: {e}"));
    }
    eprintln!("suite: building the Rust programs");
    if !works(Command::new("cargo").args([
        "build",
        "--release",
        "-p",
        "corio-peers",
        "--bin",
        "work",
    ])) {
        usage("cargo build -p corio-peers --bin work failed");
    }
    let go = go_peer();
    let perl = perl_peer();
    let mut results: BTreeMap<(usize, usize), Row> = BTreeMap::new();
    let workloads: Vec<(usize, &Workload)> = WORKLOADS
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            o.only
                .as_ref()
                .is_none_or(|l| l.iter().any(|n| n == w.name))
        })
        .filter(|(_, w)| !(o.quick && w.name == "memory-1m"))
        .collect();
    for run in 0..o.runs {
        for &(wi, w) in &workloads {
            for (ii, imp) in IMPLS.iter().enumerate() {
                let mut cmd = match *imp {
                    "go" => match &go {
                        Ok(bin) => Command::new(bin),
                        Err(e) => {
                            results.entry((wi, ii)).or_insert(Row {
                                values: vec![],
                                unit: String::new(),
                                na: Some(e.clone()),
                            });
                            continue;
                        }
                    },
                    "perl-coro" => match &perl {
                        Ok(()) => {
                            let mut c = Command::new("perl");
                            c.arg("peers/perl/work.pl");
                            c
                        }
                        Err(e) => {
                            results.entry((wi, ii)).or_insert(Row {
                                values: vec![],
                                unit: String::new(),
                                na: Some(e.clone()),
                            });
                            continue;
                        }
                    },
                    _ => {
                        let mut c = Command::new("target/release/work");
                        c.arg(imp);
                        c
                    }
                };
                cmd.arg(w.arg);
                if let Some(n) = w.n {
                    cmd.arg(n.to_string());
                }
                let row = results.entry((wi, ii)).or_insert(Row {
                    values: vec![],
                    unit: String::new(),
                    na: None,
                });
                if row.na.is_some() {
                    continue;
                }
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
                match run_once(&mut cmd) {
                    Outcome::Value(v, u) => {
                        row.values.push(v);
                        row.unit = u;
                    }
                    Outcome::Na(why) => row.na = Some(why),
                }
            }
            eprintln!("suite: run {} of {}: {} done", run + 1, o.runs, w.name);
        }
    }

    // The table.
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| workload | implementation | median | min | max | ÷ corio |"
    );
    let _ = writeln!(table, "|---|---|---|---|---|---|");
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
                let _ = writeln!(table, "| {} | {imp} | {why} | | | |", w.name);
                continue;
            }
            let m = median(&r.values);
            let min = r.values.iter().copied().fold(f64::MAX, f64::min);
            let max = r.values.iter().copied().fold(f64::MIN, f64::max);
            let ratio = corio.map_or("—".into(), |c| format!("{:.2}", m / c));
            let name = if *imp == "corio" {
                format!("**{imp}**")
            } else {
                imp.to_string()
            };
            let _ = writeln!(
                table,
                "| {} | {name} | {} {} | {} | {} | {ratio} |",
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

    // The I/O workloads have runners of their own; their reports go in
    // as they are.
    let mut io_reports = String::new();
    if o.io {
        let runs = o.runs.to_string();
        let secs = if o.quick { "2" } else { "5" };
        for (title, bin, args) in [
            (
                "TCP echo and HTTP hello (netbench: corio, raw epoll, tokio, may)",
                "netbench",
                vec!["echo", "http", "--runs", runs.as_str(), "--secs", secs],
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
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            })
            .unwrap_or_default();
        let _ = writeln!(section, "<!-- suite:begin -->");
        let _ = writeln!(section, "## The peer suite\n");
        let _ = writeln!(
            section,
            "Written by `cargo run --release -p corio-peers --bin suite -- --runs {} --write` \
             on {cpus} vCPUs ({model}). Every cell is the median of {} runs, each in a fresh \
             process; min and max beside it; the last column is the implementation's median \
             divided by corio's (**lower is better for every workload**: above 1, corio wins). \
             tokio-ct is tokio's current-thread runtime, tokio-mt its multi-thread one (as many \
             workers as CPUs), may runs one worker, Go runs with GOMAXPROCS=1, std uses OS \
             threads (a tenth of the iterations; not run for 100,000 sleepers or parked tasks). \
             The programs: `peers/src/bin/work.rs`, `peers/go/work.go`, `peers/perl/work.pl`.\n",
            o.runs, o.runs
        );
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
