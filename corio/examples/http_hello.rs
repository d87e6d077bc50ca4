//! A keep-alive HTTP/1.1 server that answers every request with
//! "Hello, world!": one coro per connection, requests parsed with
//! `httparse` from a plain read loop (pipelined requests included).
//!
//! ```text
//! cargo run --release --example http_hello               # 127.0.0.1:8080
//! cargo run --release --example http_hello 127.0.0.1:9000
//! cargo run --release --example http_hello -- --threads 2  # 2 schedulers, SO_REUSEPORT (no connection limit)
//! cargo run --release --example http_hello -- --timeout 30 # seconds; default 10
//! cargo run --release --example http_hello -- --max-connections 1000   # default 16384
//! cargo run --release --example http_hello -- --debug /tmp/hello.sock  # corio's debug shell
//! curl http://127.0.0.1:8080/
//! ```
//!
//! What it does with clients that do not play along:
//! - a request head over 64 KiB, or with more than 32 headers: `431`;
//! - a body over 1 MiB: `413` (smaller bodies are read and ignored);
//! - a `Content-Length` that is not a number, or two that differ: `400`;
//! - a `Transfer-Encoding` (chunked bodies are not supported): `501`;
//! - bytes that are not HTTP/1.x: `400`;
//! - a request that has not arrived whole within the timeout (`408`), a
//!   connection idle that long, or one that takes no answer for that long,
//!   is closed.
//!
//! Every error answer says `Connection: close`, and the connection closes
//! after it. Lengths from the network are checked before any arithmetic.
//! `SIGINT` or `SIGTERM` stops it: no new connections, a second for the
//! open ones to finish.
//!
//! The network benchmark (`peers/`, `netbench http`) drives it with `wrk`.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use corio::net::{Server, TcpStream};
use corio::signal::{SIGINT, SIGTERM, Signals};

/// The answer to every request (no `Date` header, like the benchmark's
/// peers).
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";

/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 32;
/// Largest request body accepted; it is read and thrown away.
const MAX_BODY: u64 = 1024 * 1024;
/// Most connections open at once, when `--max-connections` is not given:
/// connection n + 1 waits in the kernel's queue until one ends.
const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// The timeout when `--timeout` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// After an error answer, how long (and how much) the client's unread
/// request is drained before closing, so that the close does not reset the
/// connection before the client has read the answer.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 256 * 1024;

fn main() {
    let mut addr = String::from("127.0.0.1:8080");
    let mut threads = 1usize;
    let mut timeout = DEFAULT_TIMEOUT;
    let mut max_connections = DEFAULT_MAX_CONNECTIONS;
    let mut debug = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => {
                threads = match args.next().map(|n| n.parse()) {
                    Some(Ok(n)) if n >= 1 => n,
                    _ => usage("--threads takes a number of threads, at least 1"),
                }
            }
            "--timeout" => {
                timeout = match args.next().map(|n| n.parse::<f64>()) {
                    Some(Ok(s)) if s > 0.0 && s <= 86_400.0 => Duration::from_secs_f64(s),
                    _ => usage("--timeout takes seconds, more than 0 and at most 86400"),
                }
            }
            "--max-connections" => {
                max_connections = match args.next().map(|n| n.parse()) {
                    Some(Ok(n)) if n >= 1 => n,
                    _ => usage("--max-connections takes a number, at least 1"),
                }
            }
            "--debug" => match args.next() {
                Some(path) => debug = Some(path),
                None => usage("--debug takes the path of a unix socket"),
            },
            _ if a.starts_with('-') => usage(&format!("unknown option {a}")),
            _ => addr = a,
        }
    }
    let serve = move |conn| serve(conn, timeout);
    if threads > 1 {
        if max_connections != DEFAULT_MAX_CONNECTIONS || debug.is_some() {
            usage("--max-connections and --debug work with one thread only");
        }
        // One scheduler per thread, each with its own listener on the port.
        println!("http_hello listening on http://{addr}/ with {threads} threads");
        if let Err(e) = corio::net::serve_threads(addr.as_str(), threads, move || serve) {
            eprintln!("http_hello: cannot serve on {addr}: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = serve_until_stopped(&addr, max_connections, debug.as_deref(), serve) {
        eprintln!("http_hello: {e}");
        std::process::exit(1);
    }
}

/// Serves on one thread until `SIGINT` or `SIGTERM`, then lets the open
/// connections finish for a second.
fn serve_until_stopped(
    addr: &str,
    max_connections: usize,
    debug: Option<&str>,
    serve: impl Fn(TcpStream) + 'static,
) -> io::Result<()> {
    let signals = Signals::new(&[SIGINT, SIGTERM])?;
    let server = Server::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?
        .max_connections(max_connections)
        .start(serve)?;
    // The inspector, when asked for: `ps` lists the connections.
    let _shell = match debug {
        Some(path) => Some(corio::debug::serve_unix(path)?),
        None => None,
    };
    println!("http_hello listening on http://{}/", server.local_addr()?);
    io::stdout().flush()?;
    signals.wait();
    server.drain(Duration::from_secs(1));
    Ok(())
}

fn usage(msg: &str) -> ! {
    eprintln!("http_hello: {msg}");
    eprintln!(
        "usage: http_hello [ADDR] [--threads N] [--timeout SECS] [--max-connections N] [--debug SOCKET]"
    );
    std::process::exit(2);
}

/// Why a connection gets an error answer and is closed.
#[derive(Clone, Copy, Debug)]
enum Reject {
    BadRequest,
    Timeout,
    TooLarge,
    HeadTooLarge,
    NotImplemented,
}

impl Reject {
    fn answer(self) -> &'static [u8] {
        match self {
            Reject::BadRequest => {
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 12\r\nConnection: close\r\n\r\nbad request\n"
            }
            Reject::Timeout => {
                b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 16\r\nConnection: close\r\n\r\nrequest timeout\n"
            }
            Reject::TooLarge => {
                b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 18\r\nConnection: close\r\n\r\ncontent too large\n"
            }
            Reject::HeadTooLarge => {
                b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 23\r\nConnection: close\r\n\r\nrequest head too large\n"
            }
            Reject::NotImplemented => {
                b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 35\r\nConnection: close\r\n\r\ntransfer encodings are not handled\n"
            }
        }
    }
}

/// Serves one connection until the client closes it, asks to, goes quiet
/// for `timeout`, or sends something this server does not take.
fn serve(mut conn: TcpStream, timeout: Duration) {
    let _ = conn.set_nodelay(true);
    // An idle keep-alive connection, a stalled read and a client that
    // takes no answer all end after `timeout`.
    let _ = conn.set_read_timeout(Some(timeout));
    let _ = conn.set_write_timeout(Some(timeout));
    let mut buf = vec![0u8; 4096];
    let mut len = 0; // bytes of `buf` read and not yet consumed
    let mut skip: u64 = 0; // body bytes still to come and be thrown away
    let mut out = Vec::with_capacity(RESPONSE.len() * 4);
    // When the request now partly read began to arrive: a whole request
    // must arrive within `timeout` (a client trickling a byte at a time
    // would otherwise hold the connection for ever).
    let mut started: Option<Instant> = None;
    loop {
        if len == buf.len() {
            if buf.len() >= MAX_HEAD {
                return reject(conn, out, Reject::HeadTooLarge);
            }
            buf.resize(buf.len() * 2, 0);
        }
        let n = match conn.read(&mut buf[len..]) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::TimedOut && (len > 0 || skip > 0) => {
                return reject(conn, out, Reject::Timeout);
            }
            Err(_) => return,
        };
        // Bytes of a body still being thrown away come first (`len` is 0
        // while there are).
        let mut used = 0;
        if skip > 0 {
            debug_assert_eq!(len, 0);
            let drop = skip.min(n as u64) as usize; // <= n
            skip -= drop as u64;
            used = drop;
        }
        len += n;
        // Answer every complete request in the buffer.
        let mut close = false;
        while used < len && !close && skip == 0 {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[used..len]) {
                Ok(httparse::Status::Complete(head)) => {
                    let body = match content_length(req.headers) {
                        Ok(n) if n <= MAX_BODY => n,
                        Ok(_) => return reject(conn, out, Reject::TooLarge),
                        Err(r) => return reject(conn, out, r),
                    };
                    close = wants_close(&req);
                    out.extend_from_slice(RESPONSE);
                    // `head <= len - used`, so this cannot overflow; the
                    // body may end beyond what has arrived so far.
                    used += head;
                    let here = (len - used) as u64;
                    if body <= here {
                        used += body as usize; // <= len - used
                    } else {
                        skip = body - here;
                        used = len;
                    }
                }
                Ok(httparse::Status::Partial) => break,
                Err(httparse::Error::TooManyHeaders) => {
                    return reject(conn, out, Reject::HeadTooLarge);
                }
                Err(_) => return reject(conn, out, Reject::BadRequest),
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
            if len > 0 || skip > 0 {
                linger(conn); // what it sent after asking to close
            }
            return;
        }
        // A request is under way: it must be whole within `timeout`.
        if len > 0 || skip > 0 {
            let t0 = *started.get_or_insert_with(Instant::now);
            if t0.elapsed() > timeout {
                return reject(conn, out, Reject::Timeout);
            }
        } else {
            started = None;
        }
    }
}

/// Sends what is answered so far and the error answer, then closes: the
/// sending side first, then — after reading what the client still sends,
/// for a little while — the connection.
fn reject(mut conn: TcpStream, mut out: Vec<u8>, why: Reject) {
    out.extend_from_slice(why.answer());
    if conn.write_all(&out).is_err() {
        return;
    }
    linger(conn);
}

/// Closes the sending side, then reads what the client still sends, for a
/// little while, before closing: closing with unread data would reset the
/// connection, and the client might lose the answer.
fn linger(mut conn: TcpStream) {
    let _ = conn.shutdown(Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut drained = 0usize;
    let mut sink = [0u8; 4096];
    while drained < LINGER_BYTES {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match conn.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// The body length of a request: 0 without `Content-Length`. `400` for a
/// length that is not a number or two lengths that differ, `501` for a
/// `Transfer-Encoding`. A number too big for `u64` counts as `u64::MAX`.
fn content_length(headers: &[httparse::Header<'_>]) -> Result<u64, Reject> {
    let mut len: Option<u64> = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = h.value.trim_ascii();
            if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
                return Err(Reject::BadRequest);
            }
            let n = v.iter().fold(0u64, |n, &d| {
                n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
            });
            if len.is_some_and(|l| l != n) {
                return Err(Reject::BadRequest);
            }
            len = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Reject::NotImplemented);
        }
    }
    Ok(len.unwrap_or(0))
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
