//! Attacks on `http_hello`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::target::{Level, Target, figures, raise_nofile, reset, serial};

const HELLO: &str =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";

/// An ordinary client: one request, the whole answer, in how long.
#[track_caller]
fn hello(addr: SocketAddr) -> Duration {
    let t = Instant::now();
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = String::new();
    c.read_to_string(&mut got).expect("the answer");
    assert_eq!(got, HELLO);
    t.elapsed()
}

/// Sends `req` and reads until the server closes; the answer.
fn exchange(addr: SocketAddr, req: &[u8]) -> String {
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The server may answer and close before all of a big request is in.
    let _ = c.write_all(req);
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

/// The server, with its baseline taken after one ordinary request.
fn start(args: &[&str], nofile: Option<u64>) -> (Target, Level) {
    let t = Target::start("http_hello", args, nofile);
    hello(t.addr);
    let base = t.level();
    (t, base)
}

#[test]
fn http_ten_thousand_idle_connections() {
    let _one = serial();
    // Clients here, connections there: each side needs that many
    // descriptors.
    let have = raise_nofile();
    let n = 10_000.min(have.saturating_sub(200) as usize);
    if n < 10_000 {
        println!("only {n} connections: this process may open {have} descriptors");
    }
    let (mut t, base) = start(&["--timeout", "120"], Some(n as u64 + 1000));
    let rss0 = t.rss_kib();
    let mut peaks = Vec::new();
    // Twice: the second wave reuses what the first left behind.
    for wave in 1..=2 {
        let start = Instant::now();
        let conns: Vec<TcpStream> = (0..n)
            .map(|i| TcpStream::connect(t.addr).unwrap_or_else(|e| panic!("connection {i}: {e}")))
            .collect();
        let connected = start.elapsed();
        while t.fds() < base.fds + n && start.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let accepted = start.elapsed();
        let peak = t.level();
        assert!(peak.fds >= base.fds + n, "not all accepted: {peak:?}");
        assert_eq!(peak.coros, base.coros + n, "a coro per connection");
        let rss = t.rss_kib();
        peaks.push(rss);
        // Served at once while they idle.
        let mut worst = Duration::ZERO;
        for _ in 0..20 {
            worst = worst.max(hello(t.addr));
        }
        assert!(worst < Duration::from_secs(5), "{worst:?}");
        drop(conns);
        let settled = t.settle(base, Duration::from_secs(60));
        // The coros' stacks go back to the system within seconds of the
        // load (the heap keeps what it had for the next wave).
        let idle = Instant::now();
        let mut rss_after = t.rss_kib();
        while rss_after > rss0 + (rss - rss0) / 2 && idle.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(200));
            rss_after = t.rss_kib();
        }
        figures(
            "http 10k idle",
            format_args!(
                "wave {wave}: {n} connections made in {connected:?}, all accepted after {accepted:?}; \
                 fds {} -> {} -> {0}; coros {} -> {} -> {2}; RSS {rss0} KiB -> {rss} KiB ({} KiB a \
                 connection) -> {rss_after} KiB {:?} after closing; slowest of 20 requests meanwhile \
                 {worst:?}; descriptors and coros back to baseline {settled:?} after closing",
                base.fds,
                peak.fds,
                base.coros,
                peak.coros,
                (rss - rss0) / n as u64,
                idle.elapsed(),
            ),
        );
        assert!(
            rss < rss0 + n as u64 * 64,
            "more than 64 KiB a connection: {rss} KiB"
        );
        assert!(
            rss_after <= rss0 + (rss - rss0) / 2,
            "memory stayed at {rss_after} KiB (from {rss0} KiB, {rss} KiB at the peak)"
        );
    }
    assert!(
        peaks[1] <= peaks[0] + peaks[0] / 10,
        "the second wave took more memory: {peaks:?} KiB"
    );
    hello(t.addr);
}

#[test]
fn http_slowloris_connections_are_cut_off_and_others_served() {
    let _one = serial();
    const N: usize = 500;
    let (mut t, base) = start(&["--timeout", "1"], None);
    let mut conns: Vec<TcpStream> = (0..N)
        .map(|_| {
            let c = TcpStream::connect(t.addr).unwrap();
            c.set_nonblocking(true).unwrap();
            c
        })
        .collect();
    let start = Instant::now();
    let mut worst = Duration::ZERO;
    let mut cut = vec![false; N];
    // A byte of a never-ending head every 100 ms from each.
    while start.elapsed() < Duration::from_secs(8) && cut.iter().any(|c| !c) {
        for (i, c) in conns.iter_mut().enumerate() {
            if !cut[i] && c.write(b"X").is_err() {
                cut[i] = true;
            }
            let mut b = [0u8; 256];
            match c.read(&mut b) {
                Ok(_) => cut[i] = true, // its 408, or the end
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => cut[i] = true,
            }
        }
        worst = worst.max(hello(t.addr));
        std::thread::sleep(Duration::from_millis(100));
    }
    let all_cut = start.elapsed();
    let left = cut.iter().filter(|c| !**c).count();
    assert_eq!(
        left, 0,
        "{left} slowloris connections still open after {all_cut:?}"
    );
    assert!(worst < Duration::from_secs(5), "{worst:?}");
    drop(conns);
    let settled = t.settle(base, Duration::from_secs(30));
    figures(
        "http slowloris",
        format_args!(
            "{N} connections trickling a byte every 100 ms, --timeout 1: all cut off within {all_cut:?}; \
             slowest ordinary request meanwhile {worst:?}; fds/coros at baseline {base:?} {settled:?} later; RSS {} KiB",
            t.rss_kib()
        ),
    );
    hello(t.addr);
}

#[test]
fn http_resets_leave_nothing_behind() {
    let _one = serial();
    const N: usize = 3000;
    let (mut t, base) = start(&[], None);
    let rss0 = t.rss_kib();
    let start = Instant::now();
    for i in 0..N {
        let mut c = TcpStream::connect(t.addr).unwrap();
        // Nothing, half a request, a whole one, or a pipelined pair.
        let req: &[u8] = match i % 4 {
            0 => b"",
            1 => b"GET / HT",
            2 => b"GET / HTTP/1.1\r\n\r\n",
            _ => b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 9000\r\n\r\nabc",
        };
        let _ = c.write_all(req);
        reset(c);
    }
    let took = start.elapsed();
    let settled = t.settle(base, Duration::from_secs(30));
    let rss = t.rss_kib();
    figures(
        "http resets",
        format_args!(
            "{N} connections reset (SO_LINGER 0) in {took:?}; fds/coros at baseline {base:?} {settled:?} later; \
             RSS {rss0} -> {rss} KiB"
        ),
    );
    assert!(rss < rss0 + 16 * 1024, "RSS {rss0} -> {rss} KiB");
    hello(t.addr);
}

#[test]
fn http_out_of_descriptors_backs_off_and_recovers() {
    let _one = serial();
    const LIMIT: u64 = 128;
    const N: usize = 300;
    let (mut t, base) = start(&["--timeout", "60"], Some(LIMIT));
    for round in 1..=3 {
        let start = Instant::now();
        let mut conns: Vec<TcpStream> = (0..N)
            .map(|_| {
                let mut c = TcpStream::connect(t.addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
                c
            })
            .collect();
        // The table fills; the rest wait in the kernel's queue.
        let mut full = t.fds();
        while (full as u64) < LIMIT - 2 && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
            full = t.fds();
        }
        assert!(full as u64 >= LIMIT - 2, "the table never filled: {full}");
        let cpu0 = t.cpu();
        std::thread::sleep(Duration::from_millis(500));
        let spent = t.cpu() - cpu0;
        assert!(
            spent < Duration::from_millis(250),
            "spun: {spent:?} of CPU in 500 ms"
        );
        // Those served hang up; the queued ones get served in turn.
        let mut answered = 0;
        for c in &mut conns {
            let mut b = [0u8; HELLO.len()];
            c.read_exact(&mut b)
                .expect("an answer, once descriptors are free");
            assert_eq!(&b[..], HELLO.as_bytes());
            answered += 1;
            // Hanging up frees a descriptor for a queued connection.
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        drop(conns);
        let settled = t.settle(base, Duration::from_secs(30));
        figures(
            "http EMFILE",
            format_args!(
                "round {round}: RLIMIT_NOFILE {LIMIT}, {N} clients: table full at {full} fds, {spent:?} CPU in \
                 500 ms at EMFILE, all {answered} answered in {:?}; fds {} before and again {settled:?} after",
                start.elapsed(),
                base.fds,
            ),
        );
        hello(t.addr);
    }
    // The warning went to stderr (no logger is installed), rate-limited.
    let err = t.stderr();
    let warnings = err.matches("accept failed").count();
    assert!((1..=6).contains(&warnings), "{warnings} warnings:\n{err}");
}

#[test]
fn http_lengths_that_overflow_get_413_and_the_server_goes_on() {
    let _one = serial();
    let (mut t, base) = start(&[], None);
    // The request that once wrapped `head + body` to 0 and looped for ever.
    let issue = b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551551\r\n\r\n";
    for len in [
        "18446744073709551551",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999999999999999",
        "1048577",
    ] {
        let req = format!("POST / HTTP/1.1\r\nContent-Length: {len}\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        let got = exchange(t.addr, req.as_bytes());
        assert!(got.starts_with("HTTP/1.1 413 "), "{len}: {got:?}");
        assert!(got.contains("Connection: close"), "{got:?}");
    }
    for bad in ["-1", "+5", "5 5", "0x10", "", "١٢"] {
        let req = format!("POST / HTTP/1.1\r\nContent-Length: {bad}\r\n\r\nhello");
        let got = exchange(t.addr, req.as_bytes());
        assert!(got.starts_with("HTTP/1.1 400 "), "{bad:?}: {got:?}");
    }
    let got = exchange(
        t.addr,
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    );
    assert!(got.starts_with("HTTP/1.1 400 "), "{got:?}");
    // Bodies within the limit are skipped, whole or in pieces.
    let mut req = b"POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'x', 1 << 20));
    req.extend_from_slice(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(exchange(t.addr, &req), HELLO.repeat(2));
    let cpu = t.cpu();
    t.assert_alive();
    assert!(exchange(t.addr, issue).starts_with("HTTP/1.1 413 "));
    let settled = t.settle(base, Duration::from_secs(10));
    let rss = t.rss_kib();
    figures(
        "http overflow lengths",
        format_args!(
            "all answered 413/400; CPU {cpu:?} in all; RSS {rss} KiB; settled in {settled:?}"
        ),
    );
    hello(t.addr);
}

#[test]
fn http_oversized_heads_get_431() {
    let _one = serial();
    let (mut t, base) = start(&[], None);
    let rss0 = t.rss_kib();
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..40 {
        many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let long_header = [
        b"GET / HTTP/1.1\r\nX-Long: ".as_slice(),
        &vec![b'a'; 100_000],
        b"\r\n\r\n",
    ]
    .concat();
    let endless_line = vec![b'G'; 1 << 20];
    for (what, req) in [
        ("40 headers", many),
        ("a 100 KB header", long_header),
        ("a 1 MB line", endless_line),
    ] {
        let got = exchange(t.addr, &req);
        assert!(got.starts_with("HTTP/1.1 431 "), "{what}: {got:?}");
    }
    // Many at once do not add up.
    let conns: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut c = TcpStream::connect(t.addr).unwrap();
            c.write_all(&vec![b'a'; 60_000]).unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let rss = t.rss_kib();
    drop(conns);
    t.settle(base, Duration::from_secs(10));
    figures(
        "http oversized",
        format_args!(
            "431 for 40 headers, a 100 KB header, a 1 MB line; 200 connections with 60 KB heads pending: \
             RSS {rss0} -> {rss} KiB"
        ),
    );
    assert!(rss < rss0 + 64 * 1024, "{rss0} -> {rss} KiB");
    hello(t.addr);
}

#[test]
fn http_binary_garbage_gets_400() {
    let _one = serial();
    let (mut t, base) = start(&[], None);
    // A fixed pseudo-random stream, so a failure can be replayed.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let start = Instant::now();
    let mut answers = [0usize; 2]; // 400s, closes with no answer
    for i in 0..200 {
        let len = 1 + (next() % 65536) as usize;
        let mut junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 {
            junk[0] = 0; // surely no method
        }
        let got = exchange(t.addr, &junk);
        if got.starts_with("HTTP/1.1 400 ") {
            answers[0] += 1;
        } else {
            assert!(got.is_empty() || got.starts_with("HTTP/1.1 4"), "{got:?}");
            answers[1] += 1;
        }
    }
    let even = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"; // a TLS hello
    assert!(exchange(t.addr, even).starts_with("HTTP/1.1 400 "));
    let h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    assert!(exchange(t.addr, h2).starts_with("HTTP/1.1 400 "));
    t.settle(base, Duration::from_secs(10));
    figures(
        "http garbage",
        format_args!(
            "200 random requests up to 64 KB in {:?}: {} answered 400, {} other 4xx or closed; a TLS hello and \
             the HTTP/2 preface: 400; RSS {} KiB",
            start.elapsed(),
            answers[0],
            answers[1],
            t.rss_kib()
        ),
    );
    assert!(answers[0] >= 100, "{answers:?}");
    hello(t.addr);
}

#[test]
fn http_pipelined_floods_neither_starve_others_nor_grow_memory() {
    let _one = serial();
    let (mut t, base) = start(&["--timeout", "2"], None);
    let rss0 = t.rss_kib();
    let addr = t.addr;
    // One client that pipelines requests as fast as it can and never
    // reads an answer, one that pipelines and reads everything.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = |read: bool| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            let r = c.try_clone().unwrap();
            let reader = read.then(|| {
                std::thread::spawn(move || {
                    let mut r = r;
                    let mut b = vec![0u8; 1 << 16];
                    let mut n = 0u64;
                    while let Ok(k @ 1..) = r.read(&mut b) {
                        n += k as u64;
                    }
                    n
                })
            });
            let reqs = b"GET / HTTP/1.1\r\n\r\n".repeat(1000);
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match c.write_all(&reqs) {
                    Ok(()) => sent += 1000,
                    Err(_) => break, // cut off
                }
            }
            let _ = c.shutdown(std::net::Shutdown::Both);
            (sent, reader.map(|r| r.join().unwrap()))
        })
    };
    let silent = flood(false);
    let reading = flood(true);
    std::thread::sleep(Duration::from_millis(300));
    let mut worst = Duration::ZERO;
    let start = Instant::now();
    let mut peak = 0;
    while start.elapsed() < Duration::from_secs(4) {
        worst = worst.max(hello(addr));
        peak = peak.max(t.rss_kib());
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (silent_sent, _) = silent.join().unwrap();
    let (reading_sent, got) = reading.join().unwrap();
    let settled = t.settle(base, Duration::from_secs(30));
    figures(
        "http pipelined floods",
        format_args!(
            "a non-reader sent {silent_sent} requests before being cut off, a reader {reading_sent} \
             ({} MB of answers); slowest ordinary request meanwhile {worst:?}; RSS {rss0} -> peak {peak} KiB; \
             settled {settled:?}",
            got.unwrap_or(0) >> 20
        ),
    );
    assert!(worst < Duration::from_secs(2), "others starved: {worst:?}");
    assert!(peak < rss0 + 64 * 1024, "RSS {rss0} -> {peak} KiB");
    hello(addr);
}
