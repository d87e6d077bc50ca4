//! A keep-alive HTTP/1.1 server that answers every request with
//! "Hello, world!": one coro per connection, requests parsed with
//! `httparse` from a plain read loop (pipelined requests included).
//!
//! ```text
//! cargo run --release --example http_hello               # 127.0.0.1:8080
//! cargo run --release --example http_hello 127.0.0.1:9000
//! cargo run --release --example http_hello -- --threads 2  # 2 schedulers, SO_REUSEPORT
//! curl http://127.0.0.1:8080/
//! ```
//!
//! The network benchmark (`peers/`, `netbench http`) drives it with `wrk`.

use std::io::{Read, Write};

use corio::net::TcpStream;

/// The answer to every request (no `Date` header, like the benchmark's
/// peers).
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";

/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;

fn main() {
    let mut addr = String::from("127.0.0.1:8080");
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--threads" {
            threads = match args.next().map(|n| n.parse()) {
                Some(Ok(n)) if n >= 1 => n,
                _ => {
                    eprintln!("http_hello: --threads takes a number of threads, at least 1");
                    std::process::exit(2);
                }
            };
        } else {
            addr = a;
        }
    }
    if threads > 1 {
        // One scheduler per thread, each with its own listener on the port.
        println!("http_hello listening on http://{addr}/ with {threads} threads");
        if let Err(e) = corio::net::serve_threads(addr.as_str(), threads, || serve) {
            eprintln!("http_hello: cannot serve on {addr}: {e}");
            std::process::exit(1);
        }
        return;
    }
    let listener = corio::net::TcpListener::bind(addr.as_str()).unwrap_or_else(|e| {
        eprintln!("http_hello: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    println!("http_hello listening on http://{addr}/");
    if let Err(e) = corio::net::serve_on(listener, serve) {
        eprintln!("http_hello: {e}");
        std::process::exit(1);
    }
}

/// Serves one connection until the client closes it, asks to, or sends
/// something that is not HTTP.
fn serve(mut conn: TcpStream) {
    let _ = conn.set_nodelay(true);
    let mut buf = vec![0u8; 4096];
    let mut len = 0; // bytes of `buf` read and not yet consumed
    let mut out = Vec::with_capacity(RESPONSE.len() * 4);
    loop {
        if len == buf.len() {
            if buf.len() >= MAX_HEAD {
                return;
            }
            buf.resize(buf.len() * 2, 0);
        }
        match conn.read(&mut buf[len..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => len += n,
        }
        // Answer every complete request in the buffer.
        let mut used = 0;
        let mut close = false;
        while used < len && !close {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[used..len]) {
                Ok(httparse::Status::Complete(head)) => {
                    let body = content_length(req.headers);
                    let Some(body) = body else { return }; // chunked or bad: give up
                    if len - used < head + body {
                        break; // the body is not all here yet
                    }
                    close = wants_close(&req);
                    used += head + body;
                    out.extend_from_slice(RESPONSE);
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => return,
            }
        }
        buf.copy_within(used..len, 0);
        len -= used;
        if !out.is_empty() {
            if conn.write_all(&out).is_err() {
                return;
            }
            out.clear();
        }
        if close {
            return;
        }
    }
}

/// The body length of a request: 0 without `Content-Length`; `None` for a
/// chunked or unreadable one (not supported here).
fn content_length(headers: &[httparse::Header<'_>]) -> Option<usize> {
    let mut n = 0;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            n = std::str::from_utf8(h.value).ok()?.trim().parse().ok()?;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        }
    }
    Some(n)
}

/// Whether the client wants the connection closed after this answer.
fn wants_close(req: &httparse::Request<'_, '_>) -> bool {
    let conn = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("connection"))
        .map(|h| h.value.to_ascii_lowercase());
    match req.version {
        Some(0) => conn.as_deref() != Some(b"keep-alive"),
        _ => conn.as_deref() == Some(b"close"),
    }
}
