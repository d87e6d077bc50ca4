//! Attacks on the debug shell (served by `http_hello --debug`).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::target::{Target, figures, serial};

/// A session: greeted, then answering commands.
fn session(t: &Target) -> UnixStream {
    let c = UnixStream::connect(&t.shell).expect("connect to the shell");
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let greeting = prompt(&c);
    assert!(
        greeting.starts_with("corio debug shell for"),
        "{greeting:?}"
    );
    c
}

/// Output up to the next prompt.
fn prompt(c: &UnixStream) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 65536];
    while !got.ends_with(b"> ") {
        match (&*c).read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// An ordinary session works: `ps` lists the main coro.
#[track_caller]
fn shell_ok(t: &Target) -> Duration {
    let start = Instant::now();
    let c = session(t);
    (&c).write_all(b"ps\n").unwrap();
    let ps = prompt(&c);
    assert!(ps.contains("[main]"), "{ps}");
    start.elapsed()
}

#[test]
fn shell_floods_long_lines_and_many_sessions() {
    let _one = serial();
    let mut t = Target::start("http_hello", &[], None);
    shell_ok(&t);
    let base = t.level();
    let rss0 = t.rss_kib();

    // A flood of commands from a client that reads none of the answers:
    // its session waits for it; others go on.
    let flood = session(&t);
    flood.set_nonblocking(true).unwrap();
    let cmds = b"ps\nhelp\nps w\n".repeat(10_000);
    let mut sent = 0;
    let start = Instant::now();
    while sent < cmds.len() && start.elapsed() < Duration::from_secs(3) {
        match (&flood).write(&cmds[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e}"),
        }
    }
    let during_flood = shell_ok(&t);
    let rss_flood = t.rss_kib();

    // Long lines: a line over 4 KiB is refused, whole or in pieces, and
    // the session goes on.
    let c = session(&t);
    (&c).write_all(&vec![b'p'; 1 << 20]).unwrap();
    (&c).write_all(b"\nps\n").unwrap();
    let answer = prompt(&c);
    assert!(answer.contains("line longer than 4096 bytes"), "{answer:?}");
    let mut ps = prompt(&c);
    while !ps.contains("[main]") {
        // More refusals may come first (one per piece of the long line).
        assert!(ps.contains("line longer"), "{ps:?}");
        ps = prompt(&c);
    }
    drop(c);
    // Let that session see its end.
    std::thread::sleep(Duration::from_millis(300));

    // Many connections at once: 64 sessions, the rest turned away.
    let many: Vec<UnixStream> = (0..100)
        .map(|_| {
            let c = UnixStream::connect(&t.shell).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            c
        })
        .collect();
    let mut refused = 0;
    for c in &many {
        let first = prompt(c);
        if first.contains("debug sessions are open already") {
            refused += 1;
        } else {
            assert!(first.starts_with("corio debug shell"), "{first:?}");
        }
    }
    // The flood session (one) and 63 of these fill the 64.
    assert_eq!(refused, 100 - 63, "{refused} refused");
    drop(many);
    drop(flood);
    let settled = t.settle(base, Duration::from_secs(30));
    figures(
        "debug shell",
        format_args!(
            "{} KB of commands sent by a client that reads nothing: another session answered ps in \
             {during_flood:?}; a 1 MB line refused; 100 connections: 63 sessions + the flood's, {refused} \
             turned away; RSS {rss0} -> {rss_flood} KiB; back to baseline {base:?} {settled:?} later",
            sent / 1024
        ),
    );
    t.assert_alive();
    shell_ok(&t);
}
