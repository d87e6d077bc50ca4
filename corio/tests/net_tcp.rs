//! TCP sockets: blocking-style calls that park coros, timeouts, cancels,
//! and the reactor's bookkeeping.

mod util;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::net::{TcpListener, TcpStream};
use util::Log;

const MS: Duration = Duration::from_millis(1);

fn listener() -> (TcpListener, std::net::SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

#[test]
fn a_read_parks_only_its_coro_while_others_run() {
    let (l, addr) = listener();
    let log = Log::new();
    let lg = log.clone();
    let reader = corio::spawn(move || {
        let (mut conn, _) = l.accept().unwrap();
        let mut buf = [0; 5];
        conn.read_exact(&mut buf).unwrap();
        lg.push(format!("read {}", String::from_utf8_lossy(&buf)));
    });
    let mut client = TcpStream::connect(addr).unwrap();
    // The reader is parked in read_exact; other coros keep running.
    let lg = log.clone();
    let busy = corio::spawn(move || {
        for i in 0..3 {
            lg.push(format!("tick {i}"));
            corio::cede();
        }
    });
    busy.join().unwrap();
    client.write_all(b"hello").unwrap();
    reader.join().unwrap();
    assert_eq!(log.get(), ["tick 0", "tick 1", "tick 2", "read hello"]);
}

#[test]
fn many_coros_talk_over_many_connections_on_one_thread() {
    let (l, addr) = listener();
    let n = 200;
    let server = corio::spawn(move || {
        let mut hs = Vec::new();
        for _ in 0..n {
            let (conn, _) = l.accept().unwrap();
            hs.push(corio::spawn(move || {
                let mut line = String::new();
                BufReader::new(&conn).read_line(&mut line).unwrap();
                (&conn).write_all(line.to_uppercase().as_bytes()).unwrap();
            }));
        }
        for h in hs {
            h.join().unwrap();
        }
    });
    let clients: Vec<_> = (0..n)
        .map(|i| {
            corio::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(format!("client {i}\n").as_bytes()).unwrap();
                let mut reply = String::new();
                BufReader::new(&s).read_line(&mut reply).unwrap();
                assert_eq!(reply, format!("CLIENT {i}\n"));
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
}

#[test]
fn big_transfers_survive_full_socket_buffers_in_both_directions() {
    // 8 MiB each way, written before reading: both sides fill their send
    // buffers and must park in write until the other side reads.
    let (l, addr) = listener();
    let size = 8 << 20;
    let data: Rc<Vec<u8>> = Rc::new((0..size).map(|i| (i * 7 % 251) as u8).collect());
    let d = data.clone();
    let server = corio::spawn(move || {
        let (conn, _) = l.accept().unwrap();
        let conn = Rc::new(conn);
        let c = conn.clone();
        let d2 = d.clone();
        let writer = corio::spawn(move || (&*c).write_all(&d2).unwrap());
        let mut got = Vec::new();
        (&*conn).take(size as u64).read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        got == *d
    });
    let s = Rc::new(TcpStream::connect(addr).unwrap());
    let c = s.clone();
    let d2 = data.clone();
    let writer = corio::spawn(move || (&*c).write_all(&d2).unwrap());
    let mut got = Vec::new();
    (&*s).take(size as u64).read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert!(got == *data, "client received different bytes");
    assert!(server.join().unwrap(), "server received different bytes");
}

#[test]
fn read_timeout_gives_timed_out_and_the_stream_stays_usable() {
    let (l, addr) = listener();
    let mut s = TcpStream::connect(addr).unwrap();
    let (mut conn, _) = l.accept().unwrap();
    s.set_read_timeout(Some(20 * MS)).unwrap();
    let t0 = Instant::now();
    let e = s.read(&mut [0; 4]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert!(t0.elapsed() >= 20 * MS);
    conn.write_all(b"late").unwrap();
    let mut buf = [0; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late");
    assert!(s.set_read_timeout(Some(Duration::ZERO)).is_err());
}

#[test]
fn write_timeout_fires_when_the_peer_never_reads() {
    let (l, addr) = listener();
    let mut s = TcpStream::connect(addr).unwrap();
    let (_conn, _) = l.accept().unwrap(); // never reads
    s.set_write_timeout(Some(50 * MS)).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut sent = 0usize;
    let e = loop {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) => break e,
        }
    };
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    // Some went out before the buffers filled up; not an unbounded amount.
    assert!(sent > 0 && sent < 1 << 30, "{sent}");
}

#[test]
fn corio_timeout_interrupts_a_read_and_unwinds_through_it() {
    let (l, addr) = listener();
    let s = TcpStream::connect(addr).unwrap();
    let (_conn, _) = l.accept().unwrap();
    let log = Log::new();
    let lg = log.clone();
    let r = corio::timeout(10 * MS, || {
        let _d = util::DropLog {
            log: lg.clone(),
            what: "guard".into(),
        };
        (&s).read(&mut [0; 1])
    });
    assert!(r.is_err(), "the read should have been interrupted");
    assert_eq!(log.get().len(), 1, "the guard was dropped on the way out");
    // The stream still works afterwards.
    s.set_nonblocking(true).unwrap();
    assert_eq!(
        (&s).read(&mut [0; 1]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

#[test]
fn cancelling_a_coro_parked_in_read_closes_its_stream() {
    let (l, addr) = listener();
    let reader = corio::spawn(move || {
        let (mut conn, _) = l.accept().unwrap();
        let _ = conn.read(&mut [0; 1]);
        unreachable!("cancelled while reading");
    });
    let mut s = TcpStream::connect(addr).unwrap();
    corio::cede(); // the reader accepts and parks in read
    corio::cede();
    reader.coro().cancel();
    assert!(matches!(reader.join(), Err(corio::JoinError::Cancelled)));
    // The accepted stream was dropped in the reader: we see end of file.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(s.read(&mut [0; 1]).unwrap(), 0);
}

#[test]
fn throw_reaches_a_coro_parked_in_accept() {
    let (l, _addr) = listener();
    let h = corio::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l.accept()));
        *r.unwrap_err().downcast::<&str>().unwrap()
    });
    corio::cede();
    h.coro().throw("stop accepting");
    assert_eq!(h.join().unwrap(), "stop accepting");
}

#[test]
fn shutdown_write_gives_the_peer_end_of_file_and_keeps_reading() {
    let (l, addr) = listener();
    let mut s = TcpStream::connect(addr).unwrap();
    let (mut conn, _) = l.accept().unwrap();
    s.write_all(b"last words").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "last words");
    conn.write_all(b"reply").unwrap();
    drop(conn);
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "reply");
}

#[test]
fn a_clone_reads_while_the_original_writes() {
    let (l, addr) = listener();
    let s = TcpStream::connect(addr).unwrap();
    let (conn, _) = l.accept().unwrap();
    let echo = corio::spawn(move || {
        let mut buf = [0; 64];
        loop {
            match (&conn).read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => (&conn).write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let mut reader = s.try_clone().unwrap();
    let r = corio::spawn(move || {
        let mut got = vec![0; 6];
        reader.read_exact(&mut got).unwrap();
        got
    });
    (&s).write_all(b"abc").unwrap();
    corio::cede();
    (&s).write_all(b"def").unwrap();
    assert_eq!(r.join().unwrap(), b"abcdef");
    s.shutdown(Shutdown::Both).unwrap();
    echo.join().unwrap();
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    let (l, addr) = listener();
    drop(l);
    let e = TcpStream::connect(addr).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn names_are_resolved_without_blocking_other_coros() {
    let (l, addr) = listener();
    let ticks = Rc::new(std::cell::Cell::new(0));
    let t = ticks.clone();
    let ticker = corio::spawn(move || {
        for _ in 0..5 {
            t.set(t.get() + 1);
            corio::cede();
        }
    });
    let s = TcpStream::connect(("localhost", addr.port()))
        .or_else(|_| TcpStream::connect(format!("127.0.0.1:{}", addr.port())))
        .unwrap();
    let (conn, _) = l.accept().unwrap();
    assert_eq!(conn.peer_addr().unwrap(), s.local_addr().unwrap());
    ticker.join().unwrap();
    assert_eq!(ticks.get(), 5);
    let e = TcpStream::connect("no-such-host.invalid:80").unwrap_err();
    assert_ne!(e.kind(), ErrorKind::TimedOut);
}

#[test]
fn nonblocking_mode_returns_would_block_instead_of_parking() {
    let (l, addr) = listener();
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    let mut s = TcpStream::connect(addr).unwrap();
    let conn = loop {
        match l.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == ErrorKind::WouldBlock => corio::cede(),
            Err(e) => panic!("{e}"),
        }
    };
    conn.set_nonblocking(true).unwrap();
    assert_eq!(
        (&conn).read(&mut [0; 1]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    s.write_all(b"x").unwrap();
    conn.readable().unwrap();
    assert_eq!((&conn).read(&mut [0; 1]).unwrap(), 1);
}

#[test]
fn socket_options_round_trip() {
    let (l, addr) = listener();
    let s = TcpStream::connect(addr).unwrap();
    let _c = l.accept().unwrap();
    s.set_nodelay(true).unwrap();
    assert!(s.nodelay().unwrap());
    s.set_ttl(42).unwrap();
    assert_eq!(s.ttl().unwrap(), 42);
    s.set_linger(Some(Duration::from_secs(1))).unwrap();
    assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(1)));
    s.set_keepalive(Some(Duration::from_secs(30))).unwrap();
    assert!(s.keepalive().unwrap());
    s.set_keepalive(None).unwrap();
    assert!(!s.keepalive().unwrap());
    assert!(s.take_error().unwrap().is_none());
}

#[test]
fn into_std_and_back_keeps_the_connection() {
    let (l, addr) = listener();
    let s = TcpStream::connect(addr).unwrap();
    let (conn, _) = l.accept().unwrap();
    let mut std = s.into_std().unwrap();
    // Blocking std stream: runs on a thread of its own.
    let t = std::thread::spawn(move || {
        std.write_all(b"from a thread").unwrap();
        std
    });
    let mut conn = conn;
    let mut buf = [0; 13];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"from a thread");
    let std = t.join().unwrap();
    let mut back = TcpStream::from_std(std).unwrap();
    conn.write_all(b"!").unwrap();
    let mut one = [0; 1];
    back.read_exact(&mut one).unwrap();
    assert_eq!(&one, b"!");
}

#[test]
fn a_blocked_reader_is_not_a_deadlock_and_a_timeout_ends_its_wait() {
    // Every coro is blocked, but one waits on a socket: the scheduler
    // waits for events instead of reporting a deadlock.
    let (l, addr) = listener();
    let _s = TcpStream::connect(addr).unwrap();
    let (conn, _) = l.accept().unwrap();
    conn.set_read_timeout(Some(30 * MS)).unwrap();
    let sem = Rc::new(corio::sync::Semaphore::new(0));
    let s2 = sem.clone();
    let waiter = corio::spawn(move || s2.down());
    let e = (&conn).read(&mut [0; 1]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    sem.up();
    waiter.join().unwrap();
}

#[test]
fn the_deadlock_report_names_a_coro_waiting_for_a_dropped_stream_peer() {
    // A coro that waits on a semaphore while the only other coro reads a
    // socket: when the socket's peer closes, the reader ends; then the
    // semaphore waiter is deadlocked and the report says so.
    let (l, addr) = listener();
    let s = TcpStream::connect(addr).unwrap();
    let (conn, _) = l.accept().unwrap();
    let reader = corio::spawn(move || {
        let mut buf = Vec::new();
        (&conn).read_to_end(&mut buf).unwrap();
    });
    corio::cede();
    drop(s);
    reader.join().unwrap();
    let sem = corio::sync::Semaphore::new(0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.down()));
    let msg = util::panic_message(r.unwrap_err());
    assert!(msg.contains("deadlock detected"), "{msg}");
}

/// The peer sent its last bytes and closed before this side read: the
/// reactor reports data and hang-up in one event, and the short read of
/// the data must leave the end of stream readable.
#[test]
fn data_followed_by_close_is_read_to_the_end_after_the_reactor_saw_both() {
    let (l, addr) = listener();
    let mut c = TcpStream::connect(addr).unwrap();
    let (s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"last words").unwrap();
    drop(c);
    corio::time::sleep(Duration::from_millis(5));
    let mut got = Vec::new();
    (&s).read_to_end(&mut got).unwrap();
    assert_eq!(got, b"last words");
}
