//! Helpers shared by the behavioural tests.
#![allow(dead_code)]

pub mod servers;

use std::cell::RefCell;
use std::process::{Command, Output};
use std::rc::Rc;

/// An ordered record of what happened, shared between coros.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn new() -> Log {
        Log::default()
    }

    pub fn push(&self, s: impl Into<String>) {
        self.0.borrow_mut().push(s.into());
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }

    pub fn get(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// Pushes `what` to the log when dropped, noting which coro dropped it.
pub struct DropLog {
    pub log: Log,
    pub what: String,
}

impl Drop for DropLog {
    fn drop(&mut self) {
        self.log
            .push(format!("drop {} in {}", self.what, corio::current().id()));
    }
}

/// Perl's `ok N` sequence: `ok(n)` records n and the test checks they came
/// in order.
#[derive(Clone, Default)]
pub struct Oks(Rc<RefCell<Vec<u32>>>);

impl Oks {
    pub fn new() -> Oks {
        Oks::default()
    }

    pub fn ok(&self, n: u32) {
        self.0.borrow_mut().push(n);
    }

    pub fn get(&self) -> Vec<u32> {
        self.0.borrow().clone()
    }
}

/// The value of the environment variable that tells a test it runs as a
/// child process, if it does.
pub fn child_role() -> Option<String> {
    std::env::var("CORIO_TEST_CHILD").ok()
}

/// The emulator the tests run under, if any: `CORIO_TEST_RUNNER` (for
/// example `qemu-aarch64 -L /usr/aarch64-linux-gnu`, as `.ci/run` sets it
/// for the aarch64 build). A child process is started through it too.
pub fn emulator() -> Option<Vec<String>> {
    let r = std::env::var("CORIO_TEST_RUNNER").ok()?;
    let words: Vec<String> = r.split_whitespace().map(String::from).collect();
    (!words.is_empty()).then_some(words)
}

/// Says (on stderr) that this test is not judged under an emulator, and
/// why, if the tests run under one; returns whether they do. A test calls
/// it first and returns when it gives `true`.
pub fn not_under_emulation(why: &str) -> bool {
    match emulator() {
        Some(e) => {
            eprintln!("not judged under {}: {why}", e[0]);
            true
        }
        None => false,
    }
}

/// A command that runs the program `exe` of this build (a test binary, an
/// example): through the emulator when the tests run under one.
pub fn command(exe: impl AsRef<std::ffi::OsStr>) -> Command {
    match emulator() {
        Some(e) => {
            let mut c = Command::new(&e[0]);
            c.args(&e[1..]).arg(exe);
            c
        }
        None => Command::new(exe),
    }
}

/// Runs the test `test` of the current test binary again in a child
/// process with `CORIO_TEST_CHILD=role` and the extra environment.
pub fn run_child(test: &str, role: &str, env: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = command(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("CORIO_TEST_CHILD", role)
        .env("RUST_BACKTRACE", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    output_within(&mut cmd, CHILD_LIMIT)
}

/// How long a child process of a test may run: far beyond what any needs,
/// short enough that a hang fails the test instead of stalling CI.
pub const CHILD_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Like `Command::output`, but kills the child and panics (with what it
/// printed so far) when it runs longer than `limit`.
pub fn output_within(cmd: &mut Command, limit: std::time::Duration) -> Output {
    use std::process::Stdio;
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child process");
    wait_within(child, limit)
}

/// Like `Child::wait_with_output` (stdout and stderr must be piped), but
/// kills the child and panics when it runs longer than `limit`.
pub fn wait_within(mut child: std::process::Child, limit: std::time::Duration) -> Output {
    use std::io::Read;
    fn drain(r: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            v
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for child process") {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let out = out.join().unwrap_or_default();
            let err = err.join().unwrap_or_default();
            panic!(
                "child process still running after {limit:?}; killed it.\n\
                 stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// The path of an example binary. `cargo test` builds the examples; when
/// a single test file was built, this builds the example first.
pub fn example(name: &str) -> std::path::PathBuf {
    let p = example_path(name);
    let release = p
        .parent()
        .and_then(|d| d.parent())
        .is_some_and(|d| d.ends_with("release"));
    if !p.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo to build an example");
        assert!(status.success(), "building example {name} failed");
        assert!(
            p.exists(),
            "example {name} is not at {} (a cross build: build the examples for that target first)",
            p.display()
        );
    }
    p
}

/// Where cargo puts the example `name` for this test build.
#[allow(dead_code)]
pub fn example_path(name: &str) -> std::path::PathBuf {
    let mut p = std::env::current_exe().expect("test binary path");
    p.pop(); // deps
    p.pop(); // debug or release
    p.push("examples");
    p.push(name);
    p
}

/// A field of `/proc/self/status` in KiB (`VmRSS:`, `VmPTE:`, ...).
pub fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// How many mappings the process has.
pub fn maps_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

/// The word after `key` in a child's output (which shares lines with the
/// test harness's own).
pub fn word_after<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.split_once(key)?.1.split_whitespace().next()
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<non-string payload>".into())
}

/// Counts what is open at once and remembers the peak: proof that
/// connections overlapped rather than ran one after another.
#[derive(Clone, Default)]
pub struct Peak(Rc<(std::cell::Cell<usize>, std::cell::Cell<usize>)>);

impl Peak {
    pub fn new() -> Peak {
        Peak::default()
    }

    /// One more open until the guard drops.
    pub fn enter(&self) -> PeakGuard {
        let now = self.0.0.get() + 1;
        self.0.0.set(now);
        self.0.1.set(self.0.1.get().max(now));
        PeakGuard(self.clone())
    }

    pub fn peak(&self) -> usize {
        self.0.1.get()
    }

    pub fn now(&self) -> usize {
        self.0.0.get()
    }
}

pub struct PeakGuard(Peak);

impl Drop for PeakGuard {
    fn drop(&mut self) {
        let p = &self.0.0;
        p.0.set(p.0.get() - 1);
    }
}

/// An n-party barrier for coros: `wait` returns once n coros called it.
#[derive(Clone)]
pub struct Gate(Rc<(std::cell::Cell<usize>, corio::sync::Signal)>);

impl Gate {
    pub fn new(n: usize) -> Gate {
        Gate(Rc::new((
            std::cell::Cell::new(n),
            corio::sync::Signal::new(),
        )))
    }

    pub fn wait(&self) {
        let left = self.0.0.get() - 1;
        self.0.0.set(left);
        if left == 0 {
            self.0.1.broadcast();
        } else {
            self.0.1.wait();
        }
    }
}

/// Runs `f` under `corio::timeout(limit)` and returns its value. When the
/// time is up, panics saying what did not finish, with the ps listing of
/// this thread's coros: where each one was still waiting.
pub fn within<T>(limit: std::time::Duration, what: &str, f: impl FnOnce() -> T) -> T {
    match corio::timeout(limit, f) {
        Ok(v) => v,
        Err(_) => panic!(
            "{what} did not finish within {limit:?}; the coros:\n{}",
            corio::debug::ps()
        ),
    }
}

/// Blocks the OS thread for `d`, whatever the `hook` feature would do
/// with `std::thread::sleep` (it would park only the coro): a raw system
/// call, which no hook sees. For tests of what happens when a coro keeps
/// its thread.
pub fn block_thread(d: std::time::Duration) {
    let ts = libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    };
    // SAFETY: a valid timespec; no remainder wanted.
    unsafe {
        libc::syscall(
            libc::SYS_nanosleep,
            &ts,
            std::ptr::null_mut::<libc::timespec>(),
        )
    };
}
