//! `corio::net::Server` and `ServerHandle`: a connection cap that makes
//! the next connection wait, an idle timeout that closes silent
//! connections, `shutdown` that closes the listener, and `drain` that
//! waits for open connections and cancels the stragglers.

mod util;

use std::cell::Cell;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::net::{Server, ServerHandle, TcpStream};

/// Answers every line with `you said <line>` until the client closes or
/// a read fails.
fn answer_lines(conn: TcpStream) {
    let mut r = BufReader::new(&conn);
    let mut line = String::new();
    while r.read_line(&mut line).unwrap_or(0) > 0 {
        if (&conn)
            .write_all(format!("you said {line}").as_bytes())
            .is_err()
        {
            return;
        }
        line.clear();
    }
}

fn ask(c: &TcpStream, line: &str) -> String {
    let mut w = c;
    w.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    // One byte at a time: no read-ahead lost between calls.
    let mut b = [0];
    while (&*c).read(&mut b).unwrap() == 1 {
        reply.push(b[0] as char);
        if b[0] == b'\n' {
            break;
        }
    }
    reply
}

/// Waits (generously) until `f` holds.
fn until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "still not true after 30 s: {what}"
        );
        corio::sleep(Duration::from_millis(1));
    }
}

fn connect(h: &ServerHandle) -> TcpStream {
    TcpStream::connect(h.local_addr().unwrap()).unwrap()
}

#[test]
fn it_serves_and_counts_open_connections() {
    let h = Server::bind("127.0.0.1:0")
        .unwrap()
        .start(answer_lines)
        .unwrap();
    assert_eq!(h.connections(), 0);
    let a = connect(&h);
    let b = connect(&h);
    assert_eq!(ask(&a, "one"), "you said one\n");
    assert_eq!(ask(&b, "two"), "you said two\n");
    assert_eq!(h.connections(), 2);
    drop(a);
    until("one connection left", || h.connections() == 1);
    drop(b);
    until("no connection left", || h.connections() == 0);
    h.shutdown();
}

#[test]
fn connection_n_plus_one_waits_until_one_ends() {
    const MAX: usize = 3;
    let peak = Rc::new(Cell::new(0));
    let h = {
        let peak = peak.clone();
        let open = Rc::new(Cell::new(0));
        Server::bind("127.0.0.1:0")
            .unwrap()
            .max_connections(MAX)
            .start(move |conn| {
                open.set(open.get() + 1);
                peak.set(peak.get().max(open.get()));
                let _ = (&conn).write_all(b"welcome\n");
                let _ = (&conn).read(&mut [0; 16]); // until the client closes
                open.set(open.get() - 1);
            })
            .unwrap()
    };
    let greeted = |c: &TcpStream, wait: Duration| {
        c.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0; 8];
        match (&*c).read_exact(&mut buf) {
            Ok(()) => {
                assert_eq!(&buf, b"welcome\n");
                true
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => false,
            Err(e) => panic!("{e}"),
        }
    };
    let mut clients: Vec<TcpStream> = (0..MAX).map(|_| connect(&h)).collect();
    for c in &clients {
        assert!(greeted(c, Duration::from_secs(30)));
    }
    // The next one connects (the kernel queues it) but is not accepted.
    let extra = connect(&h);
    assert!(!greeted(&extra, Duration::from_millis(200)));
    assert_eq!(h.connections(), MAX);
    // One ends: now it is served.
    drop(clients.remove(0));
    assert!(greeted(&extra, Duration::from_secs(30)));
    assert_eq!(peak.get(), MAX);
    assert_eq!(h.connections(), MAX);
    drop(clients);
    drop(extra);
    until("all closed", || h.connections() == 0);
    assert_eq!(peak.get(), MAX);
    h.shutdown();
}

#[test]
fn idle_timeout_closes_a_silent_connection_and_spares_a_talking_one() {
    let timed_out = Rc::new(Cell::new(0));
    let h = {
        let timed_out = timed_out.clone();
        Server::bind("127.0.0.1:0")
            .unwrap()
            .idle_timeout(Duration::from_secs(1))
            .start(move |conn| {
                let mut r = BufReader::new(&conn);
                let mut line = String::new();
                loop {
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(0) => return,
                        Ok(_) => {
                            let _ = (&conn).write_all(line.as_bytes());
                        }
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::TimedOut);
                            timed_out.set(timed_out.get() + 1);
                            return;
                        }
                    }
                }
            })
            .unwrap()
    };
    let silent = connect(&h);
    let talker = connect(&h);
    let start = Instant::now();
    // The talker speaks every 40 ms for 1.2 s: longer than the idle
    // timeout in all, never silent for long.
    for i in 0..30 {
        assert_eq!(ask(&talker, &format!("{i}")), format!("{i}\n"));
        corio::sleep(Duration::from_millis(40));
    }
    // The silent one was closed by the server: end of stream.
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!((&silent).read(&mut [0; 8]).unwrap(), 0);
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert_eq!(timed_out.get(), 1);
    assert_eq!(h.connections(), 1);
    drop(talker);
    until("talker gone", || h.connections() == 0);
    h.shutdown();
}

#[test]
fn shutdown_closes_the_listener_keeps_open_connections_and_is_idempotent() {
    let h = Server::bind("127.0.0.1:0")
        .unwrap()
        .start(answer_lines)
        .unwrap();
    let addr = h.local_addr().unwrap();
    let open = connect(&h);
    assert_eq!(ask(&open, "before"), "you said before\n");
    assert!(!h.is_shut_down());
    h.shutdown();
    assert!(h.is_shut_down());
    let e = TcpStream::connect(addr).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    h.shutdown();
    h.clone().shutdown();
    // The open connection is still served.
    assert_eq!(ask(&open, "after"), "you said after\n");
    assert_eq!(h.connections(), 1);
    drop(open);
    until("closed", || h.connections() == 0);
    // The address is free again.
    drop(corio::net::TcpListener::bind(addr).unwrap());
}

#[test]
fn shutdown_right_after_start_closes_the_listener() {
    // The accept coro has not run yet.
    let h = Server::bind("127.0.0.1:0").unwrap().start(|_| {}).unwrap();
    let addr = h.local_addr().unwrap();
    h.shutdown();
    assert_eq!(
        TcpStream::connect(addr).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
}

/// Sets a flag when dropped: proof that a cancelled handler unwound.
struct Flag(Rc<Cell<usize>>);

impl Drop for Flag {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn drain_lets_connections_finish_within_grace_and_cancels_the_rest() {
    let unwound = Rc::new(Cell::new(0));
    let h = {
        let unwound = unwound.clone();
        Server::bind("127.0.0.1:0")
            .unwrap()
            .start(move |conn| {
                let _flag = Flag(unwound.clone());
                // One question, one answer, then the connection ends.
                let mut line = String::new();
                if BufReader::new(&conn).read_line(&mut line).unwrap_or(0) > 0 {
                    let _ = (&conn).write_all(format!("answer to {line}").as_bytes());
                }
            })
            .unwrap()
    };
    let late = connect(&h);
    let silent: Vec<TcpStream> = (0..2).map(|_| connect(&h)).collect();
    until("three open", || h.connections() == 3);
    // The late client asks only after the drain began, and still gets its
    // answer.
    let asker = corio::spawn(move || {
        corio::sleep(Duration::from_millis(30));
        let mut w = &late;
        w.write_all(b"q\n").unwrap();
        let mut reply = String::new();
        BufReader::new(&late).read_line(&mut reply).unwrap();
        reply
    });
    let start = Instant::now();
    let cancelled = h.drain(Duration::from_secs(1));
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert_eq!(cancelled, 2);
    assert_eq!(h.connections(), 0);
    assert_eq!(asker.join().unwrap(), "answer to q\n");
    // Every handler unwound (the two cancelled ones too).
    assert_eq!(unwound.get(), 3);
    // The cancelled connections were closed: their clients see the end.
    for s in &silent {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        assert_eq!((&*s).read(&mut [0; 8]).unwrap(), 0);
    }
    // And the listener is gone.
    assert!(TcpStream::connect(h.local_addr().unwrap()).is_err());
    // Draining again finds nothing.
    assert_eq!(h.drain(Duration::from_millis(10)), 0);
}

#[test]
fn drain_returns_as_soon_as_the_last_connection_ends() {
    let h = Server::bind("127.0.0.1:0")
        .unwrap()
        .start(answer_lines)
        .unwrap();
    let c = connect(&h);
    assert_eq!(ask(&c, "x"), "you said x\n");
    let closer = corio::spawn(move || {
        corio::sleep(Duration::from_millis(20));
        drop(c);
    });
    let start = Instant::now();
    assert_eq!(h.drain(Duration::from_secs(60)), 0);
    assert!(start.elapsed() < Duration::from_secs(30));
    closer.join().unwrap();
}

#[test]
fn drain_called_by_a_connection_spares_that_connection() {
    let result = Rc::new(Cell::new(None));
    let h: Rc<std::cell::OnceCell<ServerHandle>> = Rc::default();
    let server = {
        let (h, result) = (h.clone(), result.clone());
        Server::bind("127.0.0.1:0")
            .unwrap()
            .start(move |conn| {
                let mut line = String::new();
                let _ = BufReader::new(&conn).read_line(&mut line);
                if line == "stop\n" {
                    let n = h.get().unwrap().drain(Duration::from_millis(50));
                    result.set(Some(n));
                    let _ = (&conn).write_all(b"stopped\n");
                }
            })
            .unwrap()
    };
    h.set(server.clone()).unwrap();
    let idle = connect(&server);
    let admin = connect(&server);
    until("two open", || server.connections() == 2);
    assert_eq!(ask(&admin, "stop"), "stopped\n");
    assert_eq!(result.get(), Some(1));
    idle.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!((&idle).read(&mut [0; 8]).unwrap(), 0);
    until("none open", || server.connections() == 0);
}

#[test]
fn a_panicking_handler_ends_only_its_connection() {
    let h = Server::bind("127.0.0.1:0")
        .unwrap()
        .start(|conn| {
            let mut line = String::new();
            BufReader::new(&conn).read_line(&mut line).unwrap();
            if line == "panic\n" {
                panic!("handler told to panic");
            }
            (&conn).write_all(b"fine\n").unwrap();
        })
        .unwrap();
    let bad = connect(&h);
    (&bad).write_all(b"panic\n").unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    assert_eq!((&bad).read(&mut [0; 8]).unwrap(), 0);
    until("the panicked one is not counted", || h.connections() == 0);
    let good = connect(&h);
    assert_eq!(ask(&good, "hi"), "fine\n");
    h.shutdown();
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn descriptors_return_to_the_baseline() {
    if util::child_role().as_deref() != Some("fds") {
        // Alone in a process: other tests open descriptors meanwhile.
        let out = util::run_child("descriptors_return_to_the_baseline", "fds", &[]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("FDS OK"),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    // Warm up the reactor and the resolver's worker pool.
    let _ = Server::bind("127.0.0.1:0")
        .unwrap()
        .start(|_| {})
        .unwrap()
        .drain(Duration::ZERO);
    let before = open_fds();
    for round in 0..3 {
        let h = Server::bind("127.0.0.1:0")
            .unwrap()
            .max_connections(4)
            .idle_timeout(Duration::from_secs(60))
            .start(answer_lines)
            .unwrap();
        let clients: Vec<TcpStream> = (0..10).map(|_| connect(&h)).collect();
        for (i, c) in clients.iter().enumerate().take(4) {
            assert_eq!(
                ask(c, &format!("{round} {i}")),
                format!("you said {round} {i}\n")
            );
        }
        // Four are served, six wait in the queue; drain cuts the four off.
        assert_eq!(h.drain(Duration::from_millis(20)), 4);
        drop(clients);
        drop(h);
    }
    corio::sleep(Duration::from_millis(10));
    assert_eq!(open_fds(), before);
    println!("FDS OK");
}
