//! Hooked code under `timeout`, `cancel` and `select!` (issue 21): what a
//! user of plain blocking code — `std::thread::sleep`, `std::net`, `ureq`
//! — gets when the deadline passes or the coro is cancelled. No unwind
//! can cross the C library, so hooked calls fail at once and the unwind
//! happens at the next corio call or `corio::checkpoint()`; `timeout`
//! reports `Err(Timeout)` whenever its deadline came first.
#![cfg(feature = "hook")]

mod util;

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

const MS: Duration = Duration::from_millis(1);

/// A loopback listener whose connections are accepted and then left
/// unanswered until the listener's coro is cancelled.
fn silent_server() -> (std::net::SocketAddr, corio::JoinHandle<()>) {
    let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = corio::spawn(move || {
        let mut kept = Vec::new();
        while let Ok((s, _)) = l.accept() {
            kept.push(s); // never answered
        }
    });
    (addr, h)
}

#[test]
fn timeout_around_a_hooked_sleep_is_err_and_ends_at_the_deadline() {
    let start = Instant::now();
    let r = corio::timeout(100 * MS, || std::thread::sleep(Duration::from_secs(2)));
    let took = start.elapsed();
    assert_eq!(r, Err(corio::Timeout::new()), "the sleep was cut short");
    assert!(
        took < Duration::from_secs(1),
        "ended at the deadline: {took:?}"
    );
    // Nothing stays pending: the next sleep is whole.
    let start = Instant::now();
    std::thread::sleep(30 * MS);
    assert!(start.elapsed() >= 30 * MS);
}

#[test]
fn timeout_around_a_std_read_is_err_and_the_stream_stays_usable() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let go = Rc::new(corio::sync::Signal::new());
    let g = go.clone();
    let server = corio::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        g.wait();
        s.write_all(b"late").unwrap();
    });
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    let mut buf = [0u8; 4];
    let r = corio::timeout(50 * MS, || c.read(&mut buf));
    // Not `Ok(Err(TimedOut))`: the deadline came first.
    assert!(matches!(r, Err(corio::Timeout { .. })), "{r:?}");
    go.send();
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late");
    server.join().unwrap();
}

#[test]
fn timeout_around_a_ureq_request_is_err_not_the_library_error() {
    let (addr, server) = silent_server();
    let agent = ureq::Agent::new_with_defaults();
    let url = format!("http://{addr}/never");
    let start = Instant::now();
    let r = corio::timeout(100 * MS, || agent.get(&url).call().map(|_| ()));
    assert!(matches!(r, Err(corio::Timeout { .. })), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
    server.cancel();
}

/// A loop of hooked requests that logs each failure and goes on, as a
/// user's URL checker would; `check` says whether it calls `checkpoint`.
fn fetch_loop(addr: std::net::SocketAddr, rounds: &Cell<u32>, errors: &Cell<u32>, check: bool) {
    for _ in 0..50 {
        if check {
            corio::checkpoint();
        }
        rounds.set(rounds.get() + 1);
        let r = std::net::TcpStream::connect(addr).and_then(|mut s| {
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut b = [0u8; 16];
            s.read(&mut b)
        });
        if r.is_err() {
            errors.set(errors.get() + 1);
        }
    }
}

#[test]
fn a_cancelled_loop_of_hooked_calls_ends_at_its_checkpoint() {
    let (addr, server) = silent_server();
    let rounds = Rc::new(Cell::new(0));
    let errors = Rc::new(Cell::new(0));
    let (r, e) = (rounds.clone(), errors.clone());
    let worker = corio::spawn(move || fetch_loop(addr, &r, &e, true));
    corio::sleep(20 * MS); // it is parked in its first read
    assert_eq!(rounds.get(), 1);
    let start = Instant::now();
    worker.cancel();
    assert!(worker.join().unwrap_err().is_cancelled());
    // The read failed (ECANCELED), the checkpoint of round 2 unwound.
    assert_eq!((rounds.get(), errors.get()), (1, 1));
    assert!(start.elapsed() < Duration::from_secs(1));
    server.cancel();
}

#[test]
fn without_a_checkpoint_the_loop_runs_to_its_end_with_every_call_failing() {
    // What the docs warn of: each hooked call fails at once after the
    // cancel, and the loop, which never calls corio, runs out its rounds.
    let (addr, server) = silent_server();
    let rounds = Rc::new(Cell::new(0));
    let errors = Rc::new(Cell::new(0));
    let (r, e) = (rounds.clone(), errors.clone());
    let worker = corio::spawn(move || {
        fetch_loop(addr, &r, &e, false);
        assert!(corio::interrupted(), "the cancel is still pending");
        corio::checkpoint(); // unwinds here
        unreachable!("checkpoint returned with a cancel pending");
    });
    corio::sleep(20 * MS);
    worker.cancel();
    assert!(worker.join().unwrap_err().is_cancelled());
    assert_eq!((rounds.get(), errors.get()), (50, 50));
    server.cancel();
}

#[test]
fn a_select_loser_in_hooked_code_stops_at_its_checkpoint() {
    let (addr, server) = silent_server();
    let rounds = Cell::new(0);
    let errors = Cell::new(0);
    let start = Instant::now();
    let won = corio::select! {
        _ = fetch_loop(addr, &rounds, &errors, true) => "loop",
        _ = corio::sleep(30 * MS) => "timer",
    };
    assert_eq!(won, "timer");
    assert_eq!(rounds.get(), 1, "the loser stopped at its next round");
    assert!(start.elapsed() < Duration::from_secs(1));
    server.cancel();
}

#[test]
fn interrupted_and_checkpoint_outside_any_interrupt() {
    assert!(!corio::interrupted());
    corio::checkpoint(); // nothing pending: returns
    // On a plain thread with no scheduler at all.
    std::thread::spawn(|| {
        assert!(!corio::interrupted());
        corio::checkpoint();
    })
    .join()
    .unwrap();
    // A throw pending is reported, and raised by the checkpoint.
    let h = corio::spawn(|| {
        std::thread::sleep(Duration::from_secs(5)); // cut short by the throw
        assert!(corio::interrupted());
        let p = std::panic::catch_unwind(corio::checkpoint).unwrap_err();
        *p.downcast::<&str>().unwrap()
    });
    corio::sleep(10 * MS);
    h.coro().throw("thrown");
    assert_eq!(h.join().unwrap(), "thrown");
}
