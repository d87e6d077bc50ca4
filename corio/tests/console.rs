//! Feature `tracing`: tokio-console sees corio's coros. Builds
//! `tests/console-demo` (corio with `console-subscriber`, a workspace
//! member outside the default ones), runs it as a server on a Unix socket,
//! and reads it back with `console-api`'s gRPC client as `tokio-console`
//! does (the demo's `watch` mode): the coros appear with their names,
//! spawn locations and switch counts (polls); the coros parked on a
//! semaphore, on a mutex, in a long sleep and reading a socket are idle,
//! each with its one waker out; the semaphore, the mutex and the socket
//! are resources, and so is each sleep (a timer, with its duration), each
//! with the parked coro's wait as its async op.
//!
//! `console-subscriber` refuses to start unless it was compiled with
//! `--cfg console_without_tokio_unstable` (or `tokio_unstable`); the demo
//! is built with that flag into a target directory of its own
//! (`<target>/console-demo`), so the workspace's crates are not rebuilt.
#![cfg(feature = "tracing")]

mod util;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn demo() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    // <target>/debug/deps/console-… → <target>/console-demo
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("target dir")
        .join("console-demo");
    let out = util::output_within(
        Command::new(cargo)
            .current_dir(root)
            .args(["build", "--quiet", "-p", "corio-console-demo"])
            .env("CARGO_TARGET_DIR", &target)
            .env(
                "CARGO_ENCODED_RUSTFLAGS",
                "--cfg\x1fconsole_without_tokio_unstable",
            )
            .env_remove("RUSTFLAGS"),
        Duration::from_secs(900),
    );
    assert!(
        out.status.success(),
        "building the console demo failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("debug").join("corio-console-demo")
}

/// The demo's coros that park at once and stay parked.
const PARKED: [&str; 4] = [
    "parked-on-semaphore",
    "parked-on-mutex",
    "sleeper",
    "parked-on-socket",
];

/// Kills the server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn console_subscriber_shows_coros_with_names_locations_polls_idle_state_and_resources() {
    let exe = demo();
    let dir = std::env::temp_dir().join(format!("corio-console-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("console.sock");
    let _ = std::fs::remove_file(&sock);

    let mut server = Server(
        Command::new(&exe)
            .arg("serve")
            .arg(&sock)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the demo server"),
    );
    // `spawned NAME LINE` per coro, `ready`, and (from the parked coros,
    // once they run) `waits NAME LINE`, where each one waits.
    let mut spawned = HashMap::new();
    let (mut ready, mut waits, mut socket_at) = (false, HashMap::new(), 0);
    let stdout = server.0.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("the server's output");
        let mut w = line.split(' ');
        match w.next() {
            Some("ready") => ready = true,
            Some("socket") => socket_at = w.next().unwrap().parse::<u32>().unwrap(),
            Some("waits") => {
                let (name, at) = (w.next().unwrap(), w.next().unwrap());
                waits.insert(name.to_string(), at.parse::<u32>().unwrap());
            }
            _ => {
                let (name, at) = (w.next().unwrap(), w.next().unwrap());
                spawned.insert(name.to_string(), at.parse::<u32>().unwrap());
            }
        }
        if ready && waits.len() == PARKED.len() {
            break;
        }
    }
    assert_eq!(spawned.len(), 6, "{spawned:?}");

    let out = util::output_within(
        Command::new(&exe).arg("watch").arg(&sock),
        Duration::from_secs(60),
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "watch failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The semaphore and the mutex, as resources first waited on where
    // their coros wait, the sleep as a timer resource of its own with its
    // duration (an hour); each with that coro's wait as its async op.
    let demo = "corio/tests/console-demo/src/main.rs";
    let resources = [
        ("parked-on-semaphore", "Semaphore Sync", "permits=0"),
        ("parked-on-mutex", "Mutex Sync", "locked=true"),
        ("sleeper", "Sleep timer", "duration=3600000ms"),
    ];
    for (name, ty, attrs) in resources {
        let resource = format!("resource {ty} {demo} {} [{attrs}]", waits[name]);
        assert!(
            text.lines().any(|l| l == resource),
            "no `{resource}` in:\n{text}"
        );
    }
    // The TCP connection the reader waits on: a resource of kind `Net`,
    // located where it was accepted, whose attribute is its descriptor.
    let socket = format!("resource TcpStream Net {demo} {socket_at} [fd=");
    assert!(
        text.lines()
            .any(|l| l.starts_with(&socket) && l.ends_with(']')),
        "no `{socket}N]` in:\n{text}"
    );
    for op in [
        "op TcpStream::readable on TcpStream by parked-on-socket",
        "op Semaphore::down on Semaphore by parked-on-semaphore",
        "op Mutex::lock on Mutex by parked-on-mutex",
        "op corio::sleep on Sleep by sleeper",
        // The tickers' sleeps, one resource each.
        "op corio::sleep on Sleep by ticker-0",
        // The main coro is a task too, and sleeps.
        "op corio::sleep on Sleep by [main]",
    ] {
        assert!(text.lines().any(|l| l == op), "no `{op}` in:\n{text}");
    }

    // The main coro, a task (tokio's `block_on` kind) with no spawn
    // location, entered once (it spawned, then went to sleep): idle with
    // its timer's waker.
    let main = "task [main]  0 polls=1 state=idle clones=1 drops=0 wakes=0";
    assert!(text.lines().any(|l| l == main), "no `{main}` in:\n{text}");

    // task NAME FILE LINE polls=N state=S clones=N drops=N wakes=N
    let mut tasks = HashMap::new();
    for line in text.lines().filter(|l| l.starts_with("task ")) {
        let w: Vec<&str> = line.split(' ').collect();
        let kv = |k: &str| -> &str {
            w.iter()
                .find_map(|f| f.strip_prefix(k).and_then(|f| f.strip_prefix('=')))
                .unwrap_or_else(|| panic!("no {k} in {line}"))
        };
        let num = |k: &str| kv(k).parse::<u64>().unwrap();
        tasks.insert(
            w[1].to_string(),
            (
                w[2].to_string(),
                w[3].parse::<u32>().unwrap(),
                num("polls"),
                kv("state").to_string(),
                num("clones"),
                num("drops"),
            ),
        );
    }
    for (name, line) in &spawned {
        let (file, at, polls, state, clones, drops) = tasks
            .get(name)
            .unwrap_or_else(|| panic!("coro {name} not in the console's tasks:\n{text}"));
        assert_eq!(file, demo, "{name}");
        assert_eq!(at, line, "{name}'s spawn location");
        if PARKED.contains(&name.as_str()) {
            // Ran once, up to its wait, and waits there: idle, with the one
            // waker the semaphore, mutex or timer holds (so no lost-waker
            // warning).
            assert_eq!(*polls, 1, "{name}");
            assert_eq!(state, "idle", "{name}");
            assert_eq!((*clones, *drops), (1, 0), "{name}");
        } else {
            // The tickers sleep and wake: one poll per switch-in, and each
            // park's waker is woken (a wake counts as a drop) but the last.
            assert!(*polls >= 5, "{name}: {polls} polls");
            assert!(*clones >= polls - 1 && *clones <= *polls, "{name}");
            assert!(
                clones - drops <= 1,
                "{name}: {clones} clones, {drops} drops"
            );
        }
    }
}
