//! Attacks on the `compat` servers: `hyper_hello` and `axum_app` (hyper on
//! corio through `compat::serve`).
#![cfg(feature = "compat")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::target::{Target, figures, raise_nofile, serial};

/// How much more memory than at its baseline a server may keep after an
/// attack (what the heap and the coros' stacks keep for the next burst).
const RSS_SLACK_KIB: u64 = 64 * 1024;

/// An ordinary client of either server: `GET /` answered `Hello, world!`;
/// how long it took.
#[track_caller]
fn hello(addr: SocketAddr) -> Duration {
    let t = Instant::now();
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = String::new();
    c.read_to_string(&mut got).expect("the answer");
    assert!(got.starts_with("HTTP/1.1 200 OK"), "{got:?}");
    assert!(got.ends_with("Hello, world!"), "{got:?}");
    t.elapsed()
}

/// The server's descriptors and RSS at rest, after one ordinary request
/// (whose connection is given time to close).
fn baseline(t: &Target) -> (usize, u64) {
    hello(t.addr);
    let start = Instant::now();
    let mut fds = t.fds();
    while start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(50));
        let now = t.fds();
        if now == fds {
            break;
        }
        fds = now;
    }
    (fds, t.rss_kib())
}

/// Waits (up to `limit`) until the server's descriptors are back at
/// `fds` or below; how long that took.
#[track_caller]
fn settle_fds(t: &mut Target, fds: usize, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        t.assert_alive();
        let now = t.fds();
        if now <= fds {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{}: {now} descriptors {limit:?} after the attack (baseline {fds})",
            t.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn compat_unfinished_heads_hold_at_most_the_head_limit() {
    let _one = serial();
    const N: usize = 1000;
    let have = raise_nofile();
    assert!(
        have > N as u64 + 200,
        "this process may open only {have} descriptors"
    );
    let mut t = Target::start("hyper_hello", &[], Some(N as u64 + 500));
    let (fds0, rss0) = baseline(&t);
    // Each sends 12 KiB of one header (under the 16 KiB head limit) and
    // never ends it: hyper's read buffer grows to hold it.
    let header = [b"GET / HTTP/1.1\r\nX-Pad: ".as_slice(), &[b'a'; 12 * 1024]].concat();
    // From four networks (127.0.2-5.x): one network holds at most 512.
    let conns: Vec<TcpStream> = (0..N)
        .map(|i| {
            let from = std::net::Ipv4Addr::new(127, 0, 2 + (i / 250) as u8, 1 + (i % 250) as u8);
            let mut c = connect_from(from, t.addr);
            c.write_all(&header).unwrap();
            c
        })
        .collect();
    let start = Instant::now();
    while t.fds() < fds0 + N && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let rss = t.rss_kib();
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        worst = worst.max(hello(t.addr));
    }
    let per = rss.saturating_sub(rss0) / N as u64;
    drop(conns);
    let settled = settle_fds(&mut t, fds0, Duration::from_secs(10));
    figures(
        "compat unfinished heads",
        format_args!(
            "{N} connections with 12 KiB of an unfinished head: RSS {rss0} -> {rss} KiB \
             ({per} KiB a connection; hyper's default buffer took ~400); slowest of 10 \
             ordinary requests meanwhile {worst:?}; fds back to {fds0} {settled:?} after"
        ),
    );
    assert!(per < 64, "{per} KiB a connection");
    let after = t.rss_kib();
    assert!(
        after < rss0 + RSS_SLACK_KIB,
        "RSS {rss0} -> {after} KiB after"
    );
    assert!(worst < Duration::from_secs(2), "{worst:?}");
    let after = t.rss_kib();
    assert!(
        after < rss0 + RSS_SLACK_KIB,
        "RSS {rss0} -> {after} KiB after"
    );
    hello(t.addr);
}

#[test]
fn compat_handlers_of_clients_that_went_are_unwound() {
    let _one = serial();
    const N: usize = 500;
    let mut t = Target::start("axum_app", &[], None);
    let (fds0, rss0) = baseline(&t);
    let conns: Vec<TcpStream> = (0..N)
        .map(|_| {
            let mut c = TcpStream::connect(t.addr).unwrap();
            c.write_all(b"GET /sleep/60000 HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            c
        })
        .collect();
    let start = Instant::now();
    while t.fds() < fds0 + N && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let peak = (t.fds(), t.rss_kib());
    assert!(peak.0 >= fds0 + N, "not all accepted: {peak:?}");
    let worst = hello(t.addr);
    // The clients go; their handlers sleep for a minute unless unwound.
    drop(conns);
    let settled = settle_fds(&mut t, fds0, Duration::from_secs(5));
    figures(
        "compat clients gone",
        format_args!(
            "{N} handlers in a 60 s sleep, clients gone: descriptors {fds0} -> {} -> {fds0} \
             {settled:?} after (the sleeps unwound); RSS {rss0} -> {} -> {} KiB; an ordinary \
             request meanwhile {worst:?}",
            peak.0,
            peak.1,
            t.rss_kib()
        ),
    );
    let after = t.rss_kib();
    assert!(
        after < rss0 + RSS_SLACK_KIB,
        "RSS {rss0} -> {after} KiB after"
    );
    hello(t.addr);
}

/// A connection to `addr` from the loopback address `from`.
fn connect_from(from: std::net::Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&std::net::SocketAddrV4::new(from, 0).into())
        .unwrap();
    s.connect(&addr.into()).unwrap();
    s.into()
}
