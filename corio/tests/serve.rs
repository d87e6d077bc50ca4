//! `corio::net::serve`: one coro per connection, and a server that bad
//! peers and bad handlers cannot take down.

mod util;

use std::cell::Cell;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::rc::Rc;
use std::time::Duration;

use corio::net::{TcpListener, TcpStream};

/// Starts `handler` serving on a fresh port in a coro of its own; cancel
/// the returned coro to stop it.
fn start(
    handler: impl Fn(TcpStream) + 'static,
) -> (corio::JoinHandle<std::io::Result<()>>, std::net::SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = corio::spawn(move || corio::net::serve_on(l, handler));
    (h, addr)
}

/// A line-echo handler.
fn echo_lines(conn: TcpStream) {
    let mut r = BufReader::new(&conn);
    let mut line = String::new();
    while r.read_line(&mut line).unwrap_or(0) > 0 {
        if (&conn).write_all(line.as_bytes()).is_err() {
            return;
        }
        line.clear();
    }
}

fn ask(addr: std::net::SocketAddr, line: &str) -> String {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (&s).write_all(line.as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(&s).read_line(&mut reply).unwrap();
    reply
}

#[test]
fn serve_binds_and_answers_each_connection_in_its_own_coro() {
    let (server, addr) = start(echo_lines);
    for i in 0..5 {
        assert_eq!(ask(addr, &format!("hi {i}\n")), format!("hi {i}\n"));
    }
    server.coro().cancel();
    assert!(matches!(server.join(), Err(corio::JoinError::Cancelled)));
}

#[test]
fn serve_reports_a_bind_error() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    // Port taken, without SO_REUSEPORT on the holder: bind fails at once.
    let e = corio::net::serve(addr, drop).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
}

#[test]
fn a_handler_that_panics_closes_its_connection_and_the_server_goes_on() {
    let (server, addr) = start(|conn| {
        let mut line = String::new();
        BufReader::new(&conn).read_line(&mut line).unwrap();
        if line.starts_with("boom") {
            panic!("handler exploded on purpose");
        }
        (&conn).write_all(line.as_bytes()).unwrap();
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"boom\n").unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap(); // end of file: the stream was closed
    assert!(rest.is_empty());
    assert_eq!(ask(addr, "still there?\n"), "still there?\n");
    server.coro().cancel();
}

#[test]
fn a_peer_that_connects_and_never_sends_holds_nobody_up() {
    let (server, addr) = start(echo_lines);
    let silent: Vec<_> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for i in 0..5 {
        assert_eq!(ask(addr, &format!("q{i}\n")), format!("q{i}\n"));
    }
    drop(silent);
    server.coro().cancel();
}

#[test]
fn a_peer_that_resets_mid_read_affects_only_its_own_coro() {
    let outcome: Rc<Cell<Option<ErrorKind>>> = Rc::default();
    let o = outcome.clone();
    let first = Cell::new(true);
    let (server, addr) = start(move |mut conn| {
        if !first.replace(false) {
            return echo_lines(conn);
        }
        let mut buf = [0; 100];
        // Wants 100 bytes; the peer sends 10 and resets.
        match conn.read_exact(&mut buf) {
            Ok(()) => o.set(Some(ErrorKind::Other)),
            Err(e) => o.set(Some(e.kind())),
        }
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&[1; 10]).unwrap();
    s.set_linger(Some(Duration::ZERO)).unwrap(); // close = RST
    drop(s);
    while outcome.get().is_none() {
        corio::sleep(Duration::from_millis(1));
    }
    let kind = outcome.get().unwrap();
    assert!(
        matches!(kind, ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof),
        "{kind:?}"
    );
    assert_eq!(ask(addr, "after reset\n"), "after reset\n");
    server.coro().cancel();
}

#[test]
fn a_peer_that_resets_mid_write_affects_only_its_own_coro() {
    let outcome: Rc<Cell<Option<ErrorKind>>> = Rc::default();
    let o = outcome.clone();
    let (server, addr) = start(move |mut conn| {
        let mut first = [0; 5];
        if conn.read_exact(&mut first).is_err() {
            return;
        }
        if &first == b"flood" {
            // Writes until the peer's reset stops it.
            let chunk = vec![7u8; 64 * 1024];
            loop {
                if let Err(e) = conn.write_all(&chunk) {
                    o.set(Some(e.kind()));
                    return;
                }
            }
        }
        conn.write_all(&first).unwrap();
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"flood").unwrap();
    let mut some = vec![0; 100_000];
    s.read_exact(&mut some).unwrap();
    s.set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
    while outcome.get().is_none() {
        corio::sleep(Duration::from_millis(1));
    }
    let kind = outcome.get().unwrap();
    assert!(
        matches!(kind, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
        "{kind:?}"
    );
    let mut t = TcpStream::connect(addr).unwrap();
    t.write_all(b"hello").unwrap();
    let mut back = [0; 5];
    t.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"hello");
    server.coro().cancel();
}

#[test]
fn garbage_from_a_peer_is_its_own_problem() {
    // The handler treats non-UTF-8 input as an error and hangs up.
    let (server, addr) = start(echo_lines);
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&[0xff, 0xfe, 0xfd, b'\n']).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert_eq!(ask(addr, "fine\n"), "fine\n");
    server.coro().cancel();
}

/// Connections held open at once by the big test.
const MANY: usize = 10_000;

/// Raises this process's descriptor limit as far as allowed; returns it.
fn raise_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid out-pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    r.rlim_cur = r.rlim_max;
    // SAFETY: `r` is a valid rlimit; lowering nothing.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) };
    r.rlim_cur
}

#[test]
fn ten_thousand_concurrent_connections_on_one_thread() {
    if util::child_role().as_deref() == Some("clients") {
        return many_clients();
    }
    let limit = raise_nofile();
    assert!(
        limit as usize >= MANY + 200,
        "this test needs RLIMIT_NOFILE >= {} (the hard limit is {limit})",
        MANY + 200
    );
    let live = Rc::new(Cell::new(0usize));
    let peak = Rc::new(Cell::new(0usize));
    let served = Rc::new(Cell::new(0usize));
    let (l2, p2, s2) = (live.clone(), peak.clone(), served.clone());
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = corio::spawn(move || {
        corio::net::serve_on(l, move |conn| {
            l2.set(l2.get() + 1);
            p2.set(p2.get().max(l2.get()));
            echo_lines(conn);
            l2.set(l2.get() - 1);
            s2.set(s2.get() + 1);
        })
    });
    // The clients run in a child process (each process may hold only so
    // many descriptors); the scheduler thread here serves them all.
    let child = corio::spawn(move || {
        // The child blocks this thread in `output`: run it on another.
        let (cb, rouse) = corio::rouse();
        std::thread::spawn(move || {
            cb.call(util::run_child(
                "ten_thousand_concurrent_connections_on_one_thread",
                "clients",
                &[("CORIO_TEST_ADDR", &addr.to_string())],
            ))
        });
        rouse.wait().unwrap()
    });
    let out = child.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "clients failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    while served.get() < MANY {
        corio::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        peak.get(),
        MANY,
        "all connections should have been open at once"
    );
    assert_eq!(live.get(), 0);
    server.coro().cancel();
}

/// The child's part: open MANY connections, get an answer on each while
/// all are open, then close them all.
fn many_clients() {
    raise_nofile();
    let addr: std::net::SocketAddr = std::env::var("CORIO_TEST_ADDR").unwrap().parse().unwrap();
    let answered = Rc::new(Cell::new(0usize));
    let all_in = Rc::new(corio::sync::Signal::new());
    let hs: Vec<_> = (0..MANY)
        .map(|i| {
            let (a, all) = (answered.clone(), all_in.clone());
            corio::Builder::new()
                .stack_size(32 * 1024)
                .spawn(move || {
                    let s = TcpStream::connect(addr).expect("connect");
                    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                    (&s).write_all(format!("c{i}\n").as_bytes()).unwrap();
                    let mut line = String::new();
                    BufReader::new(&s).read_line(&mut line).unwrap();
                    assert_eq!(line, format!("c{i}\n"));
                    a.set(a.get() + 1);
                    if a.get() == MANY {
                        all.broadcast();
                    } else {
                        all.wait(); // keep the connection open until all answered
                    }
                })
                .unwrap()
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    println!("answered {}", answered.get());
}
