//! `corio::thread`: OS threads with schedulers of their own, and
//! `net::serve_threads` sharing one port among them.

mod util;

use std::cell::Cell;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::rc::Rc;
use std::time::Duration;

use corio::net::TcpStream;
use corio::sync::mpmc::Channel;

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn the_closure_runs_as_the_main_coro_of_a_new_thread() {
    let here = std::thread::current().id();
    let t = corio::thread::spawn(move || {
        let c = corio::current();
        assert_ne!(std::thread::current().id(), here);
        // Rc and the thread's own sync types work in it.
        let n = Rc::new(Cell::new(0));
        let sem = Rc::new(corio::sync::Semaphore::new(0));
        let (n2, s2) = (n.clone(), sem.clone());
        let h = corio::spawn(move || {
            n2.set(1);
            s2.up();
        });
        sem.down();
        h.join().unwrap();
        (n.get(), c.id() == corio::current().id())
    });
    assert_eq!(t.join().unwrap(), (1, true));
}

#[test]
fn the_thread_waits_for_the_coros_its_closure_left_running() {
    let done = Channel::new();
    let d = done.clone();
    let t = corio::thread::spawn(move || {
        for i in 0..5 {
            let d = d.clone();
            // Detached on purpose: the thread must wait for them anyway.
            let _detached = corio::spawn(move || {
                corio::sleep(Duration::from_millis(10 + i));
                d.put(i).unwrap();
            });
        }
        "closure returned"
    });
    assert_eq!(t.join().unwrap(), "closure returned");
    // Every coro ran to its end before the thread counted as finished.
    let mut got: Vec<u64> = std::iter::from_fn(|| done.try_get()).collect();
    got.sort();
    assert_eq!(got, [0, 1, 2, 3, 4]);
}

#[test]
fn a_panic_is_the_join_error_with_its_payload() {
    let t = corio::thread::spawn(|| -> u8 { std::panic::panic_any(17u32) });
    let payload = t.join().unwrap_err();
    assert_eq!(payload.downcast_ref::<u32>(), Some(&17));
}

#[test]
fn coros_left_blocked_forever_make_the_thread_panic_with_the_deadlock() {
    let t = corio::thread::spawn(|| {
        let sem = Rc::new(corio::sync::Semaphore::new(0));
        let s = sem.clone();
        let _detached = corio::Builder::new()
            .name("stuck")
            .spawn(move || s.down())
            .unwrap();
        "returned"
    });
    let payload = t.join().unwrap_err();
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(msg.contains("deadlock"), "{msg}");
}

#[test]
fn join_parks_only_the_joining_coro() {
    // The thread finishes only after a coro of *this* thread spoke to it.
    let ch = Channel::new();
    let c = ch.clone();
    let t = corio::thread::spawn(move || c.get_timeout(LIMIT));
    let speaker = corio::spawn(move || ch.put("hello").unwrap());
    assert_eq!(t.join().unwrap(), Some("hello"));
    speaker.join().unwrap();
}

#[test]
fn builder_names_the_thread() {
    let t = corio::thread::Builder::new()
        .name("worker-7".into())
        .stack_size(256 * 1024)
        .spawn(|| std::thread::current().name().map(str::to_owned))
        .unwrap();
    assert_eq!(t.thread().name(), Some("worker-7"));
    assert_eq!(t.join().unwrap().as_deref(), Some("worker-7"));
}

/// Asks the server which thread answered, over a fresh connection.
fn which_thread(addr: std::net::SocketAddr) -> String {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    (&c).write_all(b"who\n").unwrap();
    let mut line = String::new();
    BufReader::new(&c).read_line(&mut line).unwrap();
    line.trim().to_owned()
}

#[test]
fn serve_threads_spreads_connections_over_its_threads() {
    // Find a free port, then serve on it from 3 threads.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = corio::spawn(move || {
        corio::net::serve_threads(addr, 3, || {
            // Per-thread state: an Rc, never shared across threads.
            let served = Rc::new(Cell::new(0u32));
            move |conn: TcpStream| {
                served.set(served.get() + 1);
                let mut line = String::new();
                if BufReader::new(&conn).read_line(&mut line).is_ok() {
                    let me = std::thread::current();
                    let name = me.name().unwrap_or("?").to_owned();
                    let _ = (&conn).write_all(format!("{name}\n").as_bytes());
                }
            }
        })
    });
    corio::cede();
    let clients: Vec<_> = (0..60)
        .map(|_| corio::spawn(move || which_thread(addr)))
        .collect();
    let names: Vec<String> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let distinct: HashSet<&str> = names.iter().map(String::as_str).collect();
    // The kernel hashes connections over the 3 listeners: with 60 of them,
    // all landing on one thread has probability 3 * 3^-60.
    assert!(distinct.len() >= 2, "all answered by {distinct:?}");
    assert!(
        distinct
            .iter()
            .all(|n| n.starts_with("corio-serve-") || *n == "main" || n.contains("serve_threads")),
        "{distinct:?}"
    );
    server.cancel();
    // After the calling coro's loop ends, the other threads stop accepting:
    // the port is closed once all listeners are gone.
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        match std::net::TcpStream::connect(addr) {
            Err(_) => break,
            Ok(_) if std::time::Instant::now() > deadline => {
                panic!("still accepting after the server was cancelled")
            }
            Ok(_) => corio::sleep(Duration::from_millis(10)),
        }
    }
}

#[test]
fn serve_threads_reports_a_bad_address_at_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    // Bound without SO_REUSEPORT: nobody else may share the port.
    let err = corio::net::serve_threads(addr, 2, || |_c: TcpStream| {}).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}
