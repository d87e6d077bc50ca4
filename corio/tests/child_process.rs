//! `corio::process`: child processes whose waits and pipes park only the
//! coro. (`process.rs` is about coros, Perl's "processes".)
//!
//! Every test runs with pidfds (where the kernel has them) and, in a child
//! test process with `CORIO_NO_PIDFD=1`, with the `SIGCHLD` fallback.

mod util;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::process::{Command, Stdio};

/// The exit watch the children of this process use: a pidfd where the
/// kernel has `pidfd_open` (valgrind, for one, does not pass it through)
/// unless `CORIO_NO_PIDFD` forbids it.
fn expected_watch() -> &'static str {
    if std::env::var_os("CORIO_NO_PIDFD").is_some() {
        return "SIGCHLD";
    }
    // SAFETY: pidfd_open of our own pid touches no memory; the descriptor
    // it may return is closed at once.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    if fd < 0 {
        return "SIGCHLD";
    }
    // SAFETY: `fd` was just opened and is ours.
    unsafe { libc::close(fd as i32) };
    "pidfd"
}

fn wait_parks_only_the_coro() {
    let mut child = Command::new("sleep").arg("0.3").spawn().unwrap();
    assert!(format!("{child:?}").contains(expected_watch()), "{child:?}");
    let done = Rc::new(Cell::new(false));
    let ticks_while_waiting = Rc::new(Cell::new(0));
    let (d, t) = (done.clone(), ticks_while_waiting.clone());
    let ticker = corio::spawn(move || {
        while !d.get() {
            t.set(t.get() + 1);
            corio::sleep(Duration::from_millis(5));
        }
    });
    let waiter = {
        let done = done.clone();
        corio::spawn(move || {
            let st = child.wait().unwrap();
            done.set(true);
            st
        })
    };
    assert!(waiter.join().unwrap().success());
    ticker.join().unwrap();
    // 300 ms of waiting, a tick every 5 ms: far more than 3 unless the
    // wait blocked the thread.
    assert!(
        ticks_while_waiting.get() >= 3,
        "only {} ticks while the child ran",
        ticks_while_waiting.get()
    );
}

fn output_reads_both_pipes_at_once() {
    // stderr first, and more than a pipe holds on each: reading stdout to
    // its end before stderr would stall both sides.
    const N: usize = 300_000;
    let script = format!(
        "head -c {N} /dev/zero | tr '\\0' e >&2; head -c {N} /dev/zero | tr '\\0' o; echo -n tail >&2"
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), N);
    assert!(out.stdout.iter().all(|&b| b == b'o'));
    assert_eq!(out.stderr.len(), N + 4);
    assert!(out.stderr[..N].iter().all(|&b| b == b'e'));
    assert_eq!(&out.stderr[N..], b"tail");
}

fn output_runs_alongside_other_coros() {
    let other = corio::spawn(|| {
        let mut n = 0;
        for _ in 0..5 {
            corio::sleep(Duration::from_millis(5));
            n += 1;
        }
        n
    });
    let out = Command::new("sh")
        .args(["-c", "sleep 0.5; echo late"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"late\n");
    // The other coro finished its 25 ms of sleeps while the child ran.
    assert!(other.is_finished());
    assert_eq!(other.join().unwrap(), 5);
}

fn kill_ends_a_child() {
    let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
    assert!(child.try_wait().unwrap().is_none());
    child.kill().unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    assert!(!st.success());
    // Waiting again gives the same status; killing a reaped child is no
    // error (std's rule).
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    child.kill().unwrap();
}

fn send_signal_stops_a_child_gracefully() {
    // A shell that turns SIGTERM into an exit code shows the signal arrived
    // (and was not SIGKILL): it runs its trap, then exits 42.
    let mut child = Command::new("sh")
        .args([
            "-c",
            "trap 'exit 42' TERM; echo ready; while :; do sleep 0.01; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    child.send_signal(libc::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(42));

    // Without a handler, the status names the signal.
    let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
    child.send_signal(libc::SIGTERM).unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGTERM));
    assert_eq!(st.signal(), Some(15));

    // Reaped: an error, whatever owns that pid now.
    let e = child.send_signal(libc::SIGTERM).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
    let e = child.send_signal(0).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
}

fn send_signal_after_try_wait_reaped_is_an_error() {
    let mut child = Command::new("true").spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "true never exited"
        );
        corio::sleep(Duration::from_millis(1));
    }
    assert!(child.send_signal(libc::SIGTERM).is_err());
}

fn send_signal_to_an_exited_unreaped_child_is_harmless() {
    let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
    let start = Instant::now();
    // A zombie: exited, not reaped; its pid is still ours.
    while std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
        .is_ok_and(|s| !s.contains(") Z "))
    {
        assert!(start.elapsed() < Duration::from_secs(10), "sh never exited");
        corio::sleep(Duration::from_millis(1));
    }
    child.send_signal(libc::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(3));
}

fn send_signal_rejects_a_number_that_is_no_signal() {
    let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
    for bad in [-1, 999, libc::SIGRTMAX() + 1] {
        let e = child.send_signal(bad).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "signal {bad}: {e}");
    }
    // Signal 0 only checks that the child is there.
    child.send_signal(0).unwrap();
    assert!(child.try_wait().unwrap().is_none());
    child.send_signal(libc::SIGKILL).unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}

fn a_child_that_exited_before_wait() {
    let mut child = Command::new("sh").args(["-c", "exit 9"]).spawn().unwrap();
    // Let it exit (it becomes a zombie until waited for).
    let start = Instant::now();
    while std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
        .is_ok_and(|s| !s.contains(") Z "))
    {
        assert!(start.elapsed() < Duration::from_secs(30));
        corio::sleep(Duration::from_millis(2));
    }
    assert_eq!(child.wait().unwrap().code(), Some(9));
}

fn try_wait_does_not_block() {
    let mut child = Command::new("sh")
        .args(["-c", "read line; exit 5"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(child.try_wait().unwrap(), None);
        corio::sleep(Duration::from_millis(5));
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    let start = Instant::now();
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(start.elapsed() < Duration::from_secs(30));
        corio::sleep(Duration::from_millis(2));
    };
    assert_eq!(st.code(), Some(5));
    assert_eq!(child.wait().unwrap().code(), Some(5));
}

fn pipes_talk_both_ways() {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    for i in 0..20 {
        (&stdin)
            .write_all(format!("line {i}\n").as_bytes())
            .unwrap();
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, format!("line {i}\n"));
    }
    drop(stdin);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
    assert!(child.wait().unwrap().success());
}

fn a_big_write_to_stdin_parks_while_the_child_reads() {
    const N: usize = 1 << 20;
    let mut child = Command::new("wc")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = corio::spawn(move || stdin.write_all(&vec![b'x'; N]));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), N.to_string());
}

fn status_and_output_defaults_match_std() {
    // `output` gives the child a null stdin: `cat` ends at once.
    let out = Command::new("cat").output().unwrap();
    assert!(out.status.success() && out.stdout.is_empty());
    // A chosen stream is kept: stdout to null captures nothing.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo visible; echo hidden >&2"]);
    cmd.stderr(Stdio::null());
    let out = cmd.output().unwrap();
    assert_eq!(out.stdout, b"visible\n");
    assert!(out.stderr.is_empty());
    // After `output`, `spawn` and `status` inherit the streams not
    // chosen again: no pipes.
    let mut quiet = Command::new("true");
    assert!(quiet.output().unwrap().status.success());
    let mut child = quiet.spawn().unwrap();
    assert!(child.stdin.is_none() && child.stdout.is_none() && child.stderr.is_none());
    assert!(child.wait().unwrap().success());
    assert!(quiet.status().unwrap().success());
    assert_eq!(
        Command::new("sh")
            .args(["-c", "exit 3"])
            .status()
            .unwrap()
            .code(),
        Some(3)
    );
}

fn a_missing_program_is_an_error() {
    let e = Command::new("/nonexistent/corio-test-program")
        .spawn()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(
        Command::new("/nonexistent/x").output().unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
}

fn a_cancelled_waiter_leaves_the_child_alone() {
    let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
    let pid = child.id();
    let waiter = corio::spawn(move || child.wait());
    corio::cede();
    waiter.cancel();
    assert!(waiter.join().unwrap_err().is_cancelled());
    // Still running; reap it ourselves.
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    // SAFETY: kill and waitpid on our own child.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
        libc::waitpid(pid as i32, std::ptr::null_mut(), 0);
    }
}

fn pipe_to_another_child() {
    let mut a = Command::new("echo")
        .arg("through a pipe")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let piped = Stdio::try_from(a.stdout.take().unwrap()).unwrap();
    let out = Command::new("tr")
        .args(["a-z", "A-Z"])
        .stdin(piped)
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"THROUGH A PIPE\n");
    assert!(a.wait().unwrap().success());
}

/// Every behaviour, in the order above.
fn all() {
    wait_parks_only_the_coro();
    output_reads_both_pipes_at_once();
    output_runs_alongside_other_coros();
    kill_ends_a_child();
    send_signal_stops_a_child_gracefully();
    send_signal_after_try_wait_reaped_is_an_error();
    send_signal_to_an_exited_unreaped_child_is_harmless();
    send_signal_rejects_a_number_that_is_no_signal();
    a_child_that_exited_before_wait();
    try_wait_does_not_block();
    pipes_talk_both_ways();
    a_big_write_to_stdin_parks_while_the_child_reads();
    status_and_output_defaults_match_std();
    a_missing_program_is_an_error();
    pipe_to_another_child();
}

#[test]
fn with_pidfds() {
    if util::child_role().is_some() {
        return;
    }
    all();
    a_cancelled_waiter_leaves_the_child_alone();
}

#[test]
fn with_the_sigchld_fallback() {
    if util::child_role().as_deref() == Some("sigchld") {
        all();
        a_cancelled_waiter_leaves_the_child_alone();
        println!("SIGCHLD OK");
        return;
    }
    let out = util::run_child(
        "with_the_sigchld_fallback",
        "sigchld",
        &[("CORIO_NO_PIDFD", "1")],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("SIGCHLD OK"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_coro_waiting_only_for_a_child_is_not_deadlocked() {
    // A thread whose only coro waits for the child.
    let st = corio::thread::spawn(|| {
        Command::new("sleep")
            .arg("0.1")
            .spawn()
            .unwrap()
            .wait()
            .unwrap()
    });
    assert!(st.join().unwrap().success());
}
