//! The client against a real shell: a corio thread of this test process
//! serves it, the client runs as a child process.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use corio::sync::mpmc::Channel;

const LIMIT: Duration = Duration::from_secs(60);

/// A shell on its own corio thread with a named coro to look at; stops
/// when dropped.
struct Server {
    path: PathBuf,
    stop: Channel<()>,
    thread: Option<corio::thread::JoinHandle<()>>,
}

impl Server {
    fn start(name: &str) -> Server {
        let path = std::env::temp_dir().join(format!(
            "corio-debug-client-{name}-{}.sock",
            std::process::id()
        ));
        let (stop, ready) = (Channel::<()>::new(), Channel::<()>::new());
        let (s, r, p) = (stop.clone(), ready.clone(), path.clone());
        let thread = corio::thread::spawn(move || {
            let shell = corio::debug::serve_unix(&p).unwrap();
            shell
                .register("hello", "hello: greets", |_| {
                    "hello from the program".into()
                })
                .unwrap();
            let bee = corio::Builder::new()
                .name("worker bee")
                .spawn(|| {
                    loop {
                        corio::sleep(Duration::from_millis(50));
                    }
                })
                .unwrap();
            r.put(()).unwrap();
            let _ = s.get();
            bee.cancel();
            drop(shell);
        });
        ready.get_timeout(LIMIT).expect("the shell did not start");
        Server {
            path,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs the client, killing it if it takes longer than `LIMIT`.
fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_corio-debug"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        while !d.load(std::sync::atomic::Ordering::Relaxed) {
            if start.elapsed() > LIMIT {
                // SAFETY: kill takes a pid and a signal number.
                unsafe { libc_kill(pid as i32, 9) };
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let out = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    out
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn one_command_prints_its_answer() {
    let server = Server::start("one");
    let path = server.path.to_string_lossy().into_owned();
    let out = run(&[&path, "ps", "w"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ps = text(&out.stdout);
    assert!(ps.contains("worker bee"), "{ps}");
    assert!(ps.starts_with("    ID ST"), "{ps}");
    let out = run(&[&path, "hello"], None);
    assert_eq!(text(&out.stdout), "hello from the program\n");
    let out = run(&[&path, "bogus"], None);
    assert!(text(&out.stdout).starts_with("error: unknown command"));
}

#[test]
fn without_a_terminal_it_reads_commands_from_stdin() {
    let server = Server::start("stdin");
    let path = server.path.to_string_lossy().into_owned();
    let out = run(&[&path], Some("help\nps\nexit\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = text(&out.stdout);
    assert!(all.starts_with("corio debug shell for"), "{all}");
    assert!(all.contains("loglevel"), "{all}");
    assert!(all.contains("worker bee"), "{all}");
    assert!(all.ends_with("bye.\n"), "{all}");
    // End of input without exit: it says exit itself.
    let out = run(&[&path], Some("ps\n"));
    assert!(text(&out.stdout).ends_with("bye.\n"));
}

#[test]
fn an_unreachable_shell_is_a_clear_error() {
    let out = run(&["/nonexistent/corio.sock", "ps"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot connect to /nonexistent/corio.sock"));
    let out = run(&[], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("usage"));
}

#[test]
fn in_a_terminal_it_edits_lines() {
    let has_tmux = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_tmux {
        println!("skipped: tmux is not installed");
        return;
    }
    let server = Server::start("tty");
    let session = format!("corio-debug-test-{}", std::process::id());
    let cmd = format!(
        "HOME={} {} {}",
        std::env::temp_dir().display(),
        env!("CARGO_BIN_EXE_corio-debug"),
        server.path.display()
    );
    let ok = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "200",
            "-y",
            "50",
            &cmd,
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let pane = || {
        text(
            &Command::new("tmux")
                .args(["capture-pane", "-p", "-t", &session])
                .output()
                .unwrap()
                .stdout,
        )
    };
    let wait_for = |what: &str| {
        let start = Instant::now();
        loop {
            let p = pane();
            if p.contains(what) {
                return p;
            }
            if start.elapsed() > LIMIT {
                let _ = Command::new("tmux")
                    .args(["kill-session", "-t", &session])
                    .status();
                panic!("{what:?} never showed:\n{p}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("corio>");
    // Type "px", fix it with backspace: line editing works.
    Command::new("tmux")
        .args(["send-keys", "-t", &session, "px", "BSpace", "s", "Enter"])
        .status()
        .unwrap();
    let screen = wait_for("worker bee");
    assert!(screen.contains("corio> ps"), "{screen}");
    Command::new("tmux")
        .args(["send-keys", "-t", &session, "exit", "Enter"])
        .status()
        .unwrap();
    // The client leaves after `bye.`, and its tmux session ends with it.
    let start = Instant::now();
    while Command::new("tmux")
        .args(["has-session", "-t", &session])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        if start.elapsed() > LIMIT {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", &session])
                .status();
            panic!("the client did not exit:\n{}", pane());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
