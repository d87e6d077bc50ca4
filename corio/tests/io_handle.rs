//! `corio::io`: handles on pipes and other descriptors, the standard
//! streams, and readiness of raw descriptors.

mod util;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use corio::io::Handle;

fn pipe() -> (Handle, Handle) {
    let (r, w) = std::io::pipe().unwrap();
    (
        Handle::new(OwnedFd::from(r)).unwrap(),
        Handle::new(OwnedFd::from(w)).unwrap(),
    )
}

#[test]
fn a_pipe_reader_parks_while_the_writer_coro_runs() {
    let (r, mut w) = pipe();
    let writer = corio::spawn(move || {
        for i in 0..3 {
            writeln!(w, "line {i}").unwrap();
            corio::cede();
        }
    });
    let lines: Vec<String> = BufReader::new(r).lines().map(Result::unwrap).collect();
    writer.join().unwrap();
    assert_eq!(lines, ["line 0", "line 1", "line 2"]);
}

#[test]
fn a_full_pipe_parks_the_writer_until_the_reader_drains_it() {
    let (mut r, w) = pipe();
    let size = 1 << 20; // much more than a pipe holds
    let writer = corio::spawn(move || (&w).write_all(&vec![5u8; size]).unwrap());
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got.len(), size);
}

#[test]
fn handle_read_timeout_and_into_inner_restores_blocking_mode() {
    let (r, _w) = pipe();
    assert_eq!(r.read_timeout().unwrap(), None);
    r.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    // std's signature, as the sockets have it.
    let t: std::io::Result<Option<Duration>> = r.read_timeout();
    assert_eq!(t.unwrap(), Some(Duration::from_millis(10)));
    assert_eq!(r.write_timeout().unwrap(), None);
    assert_eq!(
        (&r).read(&mut [0; 1]).unwrap_err().kind(),
        ErrorKind::TimedOut
    );
    let fd = r.into_inner().unwrap();
    // SAFETY: F_GETFL on an open descriptor.
    let flags = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&fd), libc::F_GETFL) };
    assert_eq!(flags & libc::O_NONBLOCK, 0);
}

#[test]
fn a_regular_file_is_accepted_and_always_ready() {
    let path = std::env::temp_dir().join(format!("corio-handle-{}", std::process::id()));
    std::fs::write(&path, b"file contents").unwrap();
    let f = std::fs::File::open(&path).unwrap();
    let mut h = Handle::new(OwnedFd::from(f)).unwrap();
    let mut s = String::new();
    h.read_to_string(&mut s).unwrap();
    assert_eq!(s, "file contents");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn readable_and_writable_wait_on_raw_descriptors() {
    let (r, mut w) = std::io::pipe().unwrap();
    corio::io::writable(w.as_fd()).unwrap();
    let log = util::Log::new();
    let l = log.clone();
    let writer = corio::spawn(move || {
        l.push("writing");
        w.write_all(b"!").unwrap();
    });
    corio::io::readable(r.as_fd()).unwrap(); // parks until the writer ran
    log.push("readable");
    writer.join().unwrap();
    assert_eq!(log.get(), ["writing", "readable"]);
}

#[test]
fn stdin_and_stdout_are_read_and_written_without_blocking_the_thread() {
    // A child copies its stdin to its stdout through corio handles while
    // another coro keeps ticking; the pipe's blocking mode is left alone.
    if util::child_role().as_deref() == Some("cat") {
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let t = ticks.clone();
        let ticker = corio::spawn(move || {
            for _ in 0..1000 {
                t.set(t.get() + 1);
                corio::sleep(Duration::from_millis(1));
            }
        });
        let input = BufReader::new(corio::io::stdin().unwrap());
        let mut out = corio::io::stdout().unwrap();
        for line in input.lines() {
            writeln!(out, "cat: {}", line.unwrap()).unwrap();
        }
        // SAFETY: F_GETFL on descriptor 0, which is open.
        let flags = unsafe { libc::fcntl(0, libc::F_GETFL) };
        writeln!(out, "nonblocking: {}", flags & libc::O_NONBLOCK != 0).unwrap();
        writeln!(out, "ticked while waiting: {}", ticks.get() > 0).unwrap();
        ticker.coro().cancel();
        return;
    }
    use std::process::Stdio;
    let exe = std::env::current_exe().unwrap();
    let mut child = util::command(exe)
        .args([
            "stdin_and_stdout_are_read_and_written_without_blocking_the_thread",
            "--exact",
            "--quiet",
            "--test-threads=1",
        ])
        .env("CORIO_TEST_CHILD", "cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The child is waiting by then (an emulated one starts slower).
    let pause = if util::emulator().is_some() { 1000 } else { 50 };
    std::thread::sleep(Duration::from_millis(pause));
    stdin.write_all(b"one\ntwo\n").unwrap();
    drop(stdin);
    let out = util::wait_within(child, util::CHILD_LIMIT);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cat: one\ncat: two\n"), "{text}");
    assert!(text.contains("nonblocking: false"), "{text}");
    assert!(text.contains("ticked while waiting: true"), "{text}");
}

/// The writer wrote and hung up before the reader looked, and the reactor
/// reported both in one event before the first read: the short read that
/// drains the data must not make the reader wait for an edge that never
/// comes — the end of stream is still there to read.
#[test]
fn end_of_stream_reported_with_the_data_is_not_lost_by_a_short_read() {
    let (r, mut w) = pipe();
    r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    w.write_all(b"hi\n").unwrap();
    drop(w);
    // Idle for a moment: the scheduler polls the reactor, which reports
    // the data and the hang-up together.
    corio::time::sleep(Duration::from_millis(5));
    let mut s = String::new();
    (&r).read_to_string(&mut s).unwrap();
    assert_eq!(s, "hi\n");
}

/// The same for a child process's output, read as the crate's docs show.
#[test]
fn a_child_processes_output_is_read_to_its_end() {
    for _ in 0..20 {
        let mut child = std::process::Command::new("echo")
            .arg("hi")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = OwnedFd::from(child.stdout.take().unwrap());
        let out = Handle::new(out).unwrap();
        out.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Let the child finish first half the time.
        let _ = child.wait();
        corio::time::sleep(Duration::from_millis(1));
        let mut s = String::new();
        (&out).read_to_string(&mut s).unwrap();
        assert_eq!(s, "hi\n");
    }
}
