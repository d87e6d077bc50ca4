//! Fixed-count HTTP/1.1 load: `http-count 127.0.0.1:PORT [--conns C]
//! [--requests N] [--path P]`.
//!
//! Opens C connections (default 64), each on a thread of its own, and
//! sends N keep-alive `GET P` requests (default 100, path `/`) on each,
//! one at a time: the next goes out when the whole answer (head, then
//! `Content-Length` bytes of body) is in. For instruction counts, where
//! `wrk`'s timed runs would not do: run a server under
//! `valgrind --tool=callgrind` with two request counts, and the difference
//! divided by the difference in requests is the cost of a request without
//! the start-up (`peers/callgrind-http.sh` does that).
//!
//! Prints `http-count requests=R secs=S` on stdout; exits with status 1
//! (and the reason on stderr) if a connection fails or an answer is not
//! `200`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

struct Args {
    addr: SocketAddr,
    conns: usize,
    requests: u64,
    path: String,
}

fn usage(msg: &str) -> ! {
    eprintln!("http-count: {msg}");
    eprintln!("usage: http-count 127.0.0.1:PORT [--conns C] [--requests N] [--path P]");
    std::process::exit(2);
}

fn parse() -> Args {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .unwrap_or_else(|| usage("missing address"))
        .parse()
        .unwrap_or_else(|e| usage(&format!("bad address: {e}")));
    let mut a = Args {
        addr,
        conns: 64,
        requests: 100,
        path: "/".into(),
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--conns" => a.conns = value.parse().unwrap_or_else(|_| usage("bad --conns")),
            "--requests" => a.requests = value.parse().unwrap_or_else(|_| usage("bad --requests")),
            "--path" if value.starts_with('/') => a.path = value,
            _ => usage(&format!("unexpected {flag} {value}")),
        }
    }
    if a.conns == 0 || a.requests == 0 {
        usage("--conns and --requests must be at least 1");
    }
    a
}

/// Sends `n` requests on one connection, each after the previous answer.
fn run(addr: SocketAddr, path: &str, n: u64) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    // Far beyond what a server under valgrind needs for one answer.
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    for _ in 0..n {
        s.write_all(req.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut rsp = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head) =
                rsp.parse(&buf).map_err(|e| format!("bad answer: {e}"))?
            {
                if rsp.code != Some(200) {
                    return Err(format!("answer {:?}", rsp.code));
                }
                let body = rsp
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                    .unwrap_or(0usize);
                let whole = head
                    .checked_add(body)
                    .ok_or("Content-Length out of range")?;
                if buf.len() >= whole {
                    buf.drain(..whole);
                    break;
                }
            }
            let got = s.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
            if got == 0 {
                return Err("the server closed the connection".into());
            }
            buf.extend_from_slice(&chunk[..got]);
        }
    }
    Ok(())
}

fn main() {
    let a = parse();
    let start = Instant::now();
    let threads: Vec<_> = (0..a.conns)
        .map(|_| {
            let path = a.path.clone();
            let (addr, n) = (a.addr, a.requests);
            std::thread::spawn(move || run(addr, &path, n))
        })
        .collect();
    let mut failed = None;
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(e),
            Err(_) => failed = Some("a connection thread panicked".into()),
        }
    }
    if let Some(e) = failed {
        eprintln!("http-count: {e}");
        std::process::exit(1);
    }
    println!(
        "http-count requests={} secs={:.2}",
        a.conns as u64 * a.requests,
        start.elapsed().as_secs_f64()
    );
}
