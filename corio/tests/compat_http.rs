//! Serving hyper services on corio (`compat::Http`, `compat::serve`):
//! keep-alive, pipelining, blocking handlers, limits, timeouts, graceful
//! shutdown, and hyper's client over `compat::Io` against it.
#![cfg(feature = "compat")]

mod util;

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use corio::compat::{Executor, Http, Io};
use corio::net::{TcpListener, TcpStream};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::rt::Executor as _;
use hyper::service::service_fn;
use hyper::{Request, Response};

const LIMIT: Duration = Duration::from_secs(60);

type Rsp = Response<Full<Bytes>>;

thread_local! {
    /// Handlers inside `corio::sleep` now, and at most so far.
    static SLEEPING: util::Peak = util::Peak::new();
}

/// `/` says hello; `/sleep/MS` blocks in `corio::sleep`; `/panic` panics;
/// `/tokio` awaits tokio's timer (no runtime); `/echo` echoes the body;
/// `/count` counts it (or says `cut`); `/late/MS` reads it, then awaits a
/// timer; `/await/MS` awaits a timer without reading it.
async fn app(req: Request<Incoming>) -> Result<Rsp, Infallible> {
    let path = req.uri().path().to_owned();
    let body = if let Some(ms) = path.strip_prefix("/sleep/") {
        let ms: u64 = ms.parse().unwrap();
        let _asleep = SLEEPING.with(|p| p.enter());
        corio::sleep(Duration::from_millis(ms)); // blocking, no .await
        format!("slept {ms} ms")
    } else if path == "/panic" {
        panic!("handler panicked on purpose");
    } else if path == "/tokio" {
        tokio::time::sleep(Duration::from_millis(1)).await;
        "unreachable".into()
    } else if path == "/echo" {
        let b = req.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8_lossy(&b).into_owned()
    } else if path == "/count" {
        match req.into_body().collect().await {
            Ok(b) => format!("{} bytes", b.to_bytes().len()),
            Err(_) => "cut".into(),
        }
    } else if let Some(ms) = path.strip_prefix("/late/") {
        // Reads the body, then waits without blocking: hyper polls the
        // connection meanwhile.
        let b = req.into_body().collect().await.unwrap().to_bytes();
        corio::compat::Sleep::new(Duration::from_millis(ms.parse().unwrap())).await;
        format!("{} bytes, late", b.len())
    } else if let Some(ms) = path.strip_prefix("/await/") {
        // Does not read the body; waits without blocking.
        corio::compat::Sleep::new(Duration::from_millis(ms.parse().unwrap())).await;
        "awaited".into()
    } else {
        "Hello, world!".into()
    };
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Starts `http` serving `app` on a fresh port in a coro of this thread.
fn start(http: &Http) -> (SocketAddr, corio::JoinHandle<std::io::Result<()>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let http = http.clone();
    (addr, corio::spawn(move || http.serve(l, service_fn(app))))
}

/// Sends `raw` on a new connection and reads until the server closes it.
fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", "test")
        .body(Empty::new())
        .unwrap()
}

#[test]
fn hyper_client_over_io_keeps_one_connection_alive_for_many_requests() {
    util::within(LIMIT, "client", || {
        let http = Http::new();
        let (addr, server) = start(&http);
        let stream = TcpStream::connect(addr).unwrap();
        let bodies = corio::block_on(async {
            let (mut send, conn) = hyper::client::conn::http1::handshake(Io::new(stream))
                .await
                .unwrap();
            Executor.execute(async move {
                let _ = conn.await;
            });
            let mut bodies = Vec::new();
            for path in ["/", "/sleep/5", "/"] {
                let rsp = send.send_request(get(path)).await.unwrap();
                assert_eq!(rsp.status(), 200);
                bodies.push(rsp.into_body().collect().await.unwrap().to_bytes());
            }
            let post = Request::post("/echo")
                .header("host", "test")
                .body(Full::new(Bytes::from(vec![b'x'; 300_000])))
                .unwrap();
            let (mut send2, conn2) =
                hyper::client::conn::http1::handshake(Io::new(TcpStream::connect(addr).unwrap()))
                    .await
                    .unwrap();
            Executor.execute(conn2);
            let rsp = send2.send_request(post).await.unwrap();
            let echoed = rsp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(echoed.len(), 300_000);
            bodies
        });
        assert_eq!(bodies, ["Hello, world!", "slept 5 ms", "Hello, world!"]);
        // One connection carried the three GETs.
        assert!(http.connections() <= 2);
        server.cancel();
        http.shutdown();
    });
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    util::within(LIMIT, "pipelining", || {
        let http = Http::new();
        let (addr, server) = start(&http);
        let out = exchange(
            addr,
            b"GET /sleep/20 HTTP/1.1\r\nhost: a\r\n\r\n\
              GET / HTTP/1.1\r\nhost: a\r\n\r\n\
              GET /sleep/1 HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
        );
        let a = out.find("slept 20 ms").expect(&out);
        let b = out.find("Hello, world!").expect(&out);
        let c = out.find("slept 1 ms").expect(&out);
        assert!(a < b && b < c, "{out}");
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3);
        server.cancel();
    });
}

#[test]
fn a_thousand_blocking_handlers_sleep_at_once_on_one_thread() {
    util::within(LIMIT, "1000 sleepers", || {
        let mut http = Http::new();
        // All of them from one network (loopback): lift its share.
        http.max_connections_per_network(usize::MAX);
        let (addr, server) = start(&http);
        let start = Instant::now();
        let clients: Vec<_> = (0..1000)
            .map(|_| {
                corio::spawn(move || {
                    exchange(
                        addr,
                        b"GET /sleep/100 HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
                    )
                })
            })
            .collect();
        for c in clients {
            let out = c.join().unwrap();
            assert!(out.ends_with("slept 100 ms"), "{out}");
        }
        let took = start.elapsed();
        let peak = SLEEPING.with(|p| p.peak());
        println!("1,000 requests of /sleep/100 took {took:?}; at most {peak} asleep at once");
        // Serially that would be 100 s; at once, about 100 ms plus setting
        // up 1,000 connections (a debug build on a busy machine: seconds).
        assert!(took >= Duration::from_millis(100));
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert!(peak >= 100, "only {peak} handlers slept at once");
        server.cancel();
    });
}

#[test]
fn malformed_requests_get_400_and_long_heads_431() {
    util::within(LIMIT, "limits", || {
        let mut http = Http::new();
        http.builder().max_buf_size(8192);
        let (addr, server) = start(&http);
        let out = exchange(addr, b"GET / HTTP/1.1\r\nbad header line\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 400 Bad Request"), "{out}");
        let big = format!(
            "GET / HTTP/1.1\r\nhost: a\r\nx-big: {}\r\n\r\n",
            "y".repeat(20_000)
        );
        let out = exchange(addr, big.as_bytes());
        assert!(
            out.starts_with("HTTP/1.1 431 Request Header Fields Too Large"),
            "{out}"
        );
        // The server is still fine.
        let out = exchange(addr, b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n");
        assert!(out.ends_with("Hello, world!"), "{out}");
        server.cancel();
    });
}

#[test]
fn a_slow_head_or_an_idle_connection_is_closed_after_the_header_read_timeout() {
    util::within(LIMIT, "header timeout", || {
        let mut http = Http::new();
        http.builder()
            .header_read_timeout(Duration::from_millis(100));
        let (addr, server) = start(&http);
        // Half a head, then nothing.
        let start = Instant::now();
        let _ = exchange(addr, b"GET / HTTP/1.1\r\nhost:");
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        // A keep-alive connection idle after its answer.
        let start = Instant::now();
        let out = exchange(addr, b"GET / HTTP/1.1\r\nhost: a\r\n\r\n");
        assert!(out.ends_with("Hello, world!"), "{out}");
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_eq!(http.connections(), 0);
        server.cancel();
    });
}

#[test]
fn graceful_shutdown_finishes_the_request_in_flight_and_closes_idle_connections() {
    util::within(LIMIT, "shutdown", || {
        let http = Http::new();
        let (addr, server) = start(&http);
        // An idle keep-alive connection (one answered request).
        let mut idle = TcpStream::connect(addr).unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
            .unwrap();
        let mut buf = [0; 4096];
        let n = idle.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("Hello, world!"));
        // A request in flight.
        let busy =
            corio::spawn(move || exchange(addr, b"GET /sleep/100 HTTP/1.1\r\nhost: a\r\n\r\n"));
        while http.connections() < 2 {
            corio::sleep(Duration::from_millis(1));
        }
        corio::sleep(Duration::from_millis(10));
        server.cancel(); // stop accepting
        http.shutdown();
        // The idle one closes at once.
        assert_eq!(idle.read(&mut buf).unwrap(), 0);
        // The busy one gets its answer, then the server closes it (the
        // client asked for keep-alive: `exchange` reads until EOF).
        let out = busy.join().unwrap();
        assert!(out.ends_with("slept 100 ms"), "{out}");
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 1, "{out}");
        assert_eq!(http.connections(), 0);
    });
}

#[test]
fn a_panicking_or_tokio_only_handler_ends_only_its_connection() {
    util::within(LIMIT, "panics", || {
        let http = Http::new();
        let (addr, server) = start(&http);
        let out = exchange(addr, b"GET /panic HTTP/1.1\r\nhost: a\r\n\r\n");
        assert_eq!(out, "", "closed without an answer");
        let out = exchange(addr, b"GET /tokio HTTP/1.1\r\nhost: a\r\n\r\n");
        assert_eq!(out, "", "closed without an answer");
        let out = exchange(addr, b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n");
        assert!(out.ends_with("Hello, world!"), "{out}");
        assert!(!server.is_finished());
        server.cancel();
    });
}

#[test]
fn the_handler_serves_through_net_serve() {
    util::within(LIMIT, "handler", || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let handler = Http::new().handler(service_fn(app));
        let server = corio::spawn(move || corio::net::serve_on(l, handler));
        let out = exchange(addr, b"GET /sleep/1 HTTP/1.1\r\nconnection: close\r\n\r\n");
        assert!(out.ends_with("slept 1 ms"), "{out}");
        server.cancel();
    });
}

#[test]
fn default_head_limit_is_16_kib() {
    util::within(LIMIT, "default head limit", || {
        let (addr, server) = start(&Http::new());
        let head = |n: usize| {
            format!(
                "GET / HTTP/1.1\r\nhost: a\r\nx-big: {}\r\nconnection: close\r\n\r\n",
                "y".repeat(n)
            )
        };
        assert!(exchange(addr, head(12_000).as_bytes()).ends_with("Hello, world!"));
        let out = exchange(addr, head(20_000).as_bytes());
        assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
        server.cancel();
    });
}

#[test]
fn a_body_trickled_past_the_body_timeout_is_cut_and_a_prompt_one_is_not() {
    util::within(LIMIT, "body timeout", || {
        let mut http = Http::new();
        http.body_timeout(Some(Duration::from_millis(300)));
        let (addr, server) = start(&http);
        // On time: echoed.
        let out = exchange(
            addr,
            b"POST /echo HTTP/1.1\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
        );
        assert!(out.ends_with("hello"), "{out}");
        // A slow handler without a body is not cut by it.
        let out = exchange(
            addr,
            b"GET /sleep/600 HTTP/1.1\r\nconnection: close\r\n\r\n",
        );
        assert!(out.ends_with("slept 600 ms"), "{out}");
        // A byte every 20 ms: cut once past the deadline.
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"POST /echo HTTP/1.1\r\ncontent-length: 100000\r\n\r\n")
            .unwrap();
        let start = Instant::now();
        let mut cut = None;
        while start.elapsed() < Duration::from_secs(10) {
            if c.write_all(b"a").is_err() {
                cut = Some(start.elapsed());
                break;
            }
            corio::sleep(Duration::from_millis(20));
        }
        let cut = cut.expect("the trickle was never cut");
        assert!(cut >= Duration::from_millis(300), "cut at {cut:?}");
        assert!(cut < Duration::from_secs(3), "cut only at {cut:?}");
        server.cancel();
    });
}

#[test]
fn a_body_that_stops_arriving_is_cut_at_the_body_timeout_and_a_slow_handler_is_not() {
    util::within(LIMIT, "stalled body", || {
        let mut http = Http::new();
        http.body_timeout(Some(Duration::from_millis(300)));
        let (addr, server) = start(&http);
        // Part of a body, then nothing at all: the connection ends at the
        // deadline, the body never whole.
        for stalled in [
            &b"POST /count HTTP/1.1\r\ncontent-length: 10\r\n\r\nabc"[..],
            b"POST /count HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
            b"POST /count HTTP/1.1\r\ncontent-length: 10\r\n\r\n",
        ] {
            let start = Instant::now();
            let out = exchange(addr, stalled);
            let cut = start.elapsed();
            assert!(!out.contains("bytes"), "{out}");
            assert!(cut >= Duration::from_millis(300), "cut at {cut:?}");
            assert!(cut < Duration::from_secs(3), "cut only at {cut:?}: {out}");
        }
        // Slow handlers whose bodies are whole are not cut, whether they
        // read the body first or never.
        let out = exchange(
            addr,
            b"POST /late/900 HTTP/1.1\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
        );
        assert!(out.ends_with("5 bytes, late"), "{out}");
        let out = exchange(
            addr,
            b"POST /await/900 HTTP/1.1\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
        );
        assert!(out.ends_with("awaited"), "{out}");
        // Nor are blocking ones, nor keep-alive requests after a body.
        let out = exchange(
            addr,
            b"POST /sleep/900 HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello\
              POST /late/500 HTTP/1.1\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
              3\r\nabc\r\n0\r\n\r\n",
        );
        assert!(out.contains("slept 900 ms"), "{out}");
        assert!(out.ends_with("3 bytes, late"), "{out}");
        server.cancel();
    });
}

/// A connection to `addr` from the loopback address `from`.
fn connect_from(from: std::net::Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&std::net::SocketAddrV4::new(from, 0).into())
        .unwrap();
    // Loopback: the handshake completes at once, the blocking call does
    // not wait.
    s.connect(&addr.into()).unwrap();
    TcpStream::from_std(s.into()).unwrap()
}

#[test]
fn one_network_of_many_addresses_holds_only_its_share_of_connections() {
    util::within(LIMIT, "network cap", || {
        let mut http = Http::new();
        http.max_connections(20).max_connections_per_network(5);
        let (addr, server) = start(&http);
        // 4 idle connections from each of 10 addresses of 127.0.1.0/24.
        let held: Vec<TcpStream> = (1..=10)
            .flat_map(|i| (0..4).map(move |_| i))
            .map(|i| connect_from(std::net::Ipv4Addr::new(127, 0, 1, i), addr))
            .collect();
        corio::sleep(Duration::from_millis(300));
        assert_eq!(http.connections(), 5);
        let refused = held
            .iter()
            .filter(|c| {
                c.set_read_timeout(Some(Duration::from_millis(100)))
                    .unwrap();
                let mut b = [0u8; 12];
                matches!((&**c).read(&mut b), Ok(12) if &b == b"HTTP/1.1 503")
            })
            .count();
        assert_eq!(refused, 35);
        // Someone from elsewhere is served at once.
        let out = exchange(addr, b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n");
        assert!(out.ends_with("Hello, world!"), "{out}");
        drop(held);
        corio::sleep(Duration::from_millis(200));
        assert_eq!(http.connections(), 0);
        // The handler's cap is the same.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let haddr = l.local_addr().unwrap();
        let handler = http.handler(service_fn(app));
        let hserver = corio::spawn(move || corio::net::serve_on(l, handler));
        let more: Vec<TcpStream> = (0..5)
            .map(|_| connect_from(std::net::Ipv4Addr::new(127, 0, 1, 200), haddr))
            .collect();
        corio::sleep(Duration::from_millis(200));
        let over = {
            let mut c = connect_from(std::net::Ipv4Addr::new(127, 0, 1, 201), haddr);
            c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
            let mut out = String::new();
            let _ = c.read_to_string(&mut out);
            out
        };
        assert!(over.starts_with("HTTP/1.1 503 "), "{over}");
        drop(more);
        hserver.cancel();
        server.cancel();
    });
}

#[test]
fn serve_holds_connections_over_the_cap_until_one_closes() {
    util::within(LIMIT, "connection cap", || {
        let mut http = Http::new();
        http.max_connections(2);
        let (addr, server) = start(&http);
        let a = TcpStream::connect(addr).unwrap();
        let b = TcpStream::connect(addr).unwrap();
        let third =
            corio::spawn(move || exchange(addr, b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n"));
        corio::sleep(Duration::from_millis(300));
        assert!(
            !third.is_finished(),
            "served a third connection over the cap"
        );
        assert_eq!(http.connections(), 2);
        drop(a);
        let out = third.join().unwrap();
        assert!(out.ends_with("Hello, world!"), "{out}");
        drop(b);
        server.cancel();
    });
}

#[test]
fn handler_answers_connections_over_the_cap_503() {
    util::within(LIMIT, "handler cap", || {
        let mut http = Http::new();
        http.max_connections(1);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let handler = http.handler(service_fn(app));
        let server = corio::spawn(move || corio::net::serve_on(l, handler));
        let held = TcpStream::connect(addr).unwrap();
        corio::sleep(Duration::from_millis(100));
        let out = exchange(addr, b"GET / HTTP/1.1\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
        assert!(out.contains("retry-after: 1"), "{out}");
        drop(held);
        corio::sleep(Duration::from_millis(100));
        let out = exchange(addr, b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n");
        assert!(out.ends_with("Hello, world!"), "{out}");
        server.cancel();
    });
}

#[test]
fn a_blocking_handler_whose_client_went_is_unwound_and_its_drops_run() {
    util::within(LIMIT, "client gone", || {
        let http = Http::new();
        let (addr, server) = start(&http);
        let before = SLEEPING.with(|p| p.now());
        let mut conns = Vec::new();
        for _ in 0..20 {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"GET /sleep/60000 HTTP/1.1\r\n\r\n").unwrap();
            conns.push(c);
        }
        // A client that stays is left alone.
        let mut stays = TcpStream::connect(addr).unwrap();
        stays
            .write_all(b"GET /sleep/2500 HTTP/1.1\r\nconnection: close\r\n\r\n")
            .unwrap();
        let t = Instant::now();
        while SLEEPING.with(|p| p.now()) < before + 21 && t.elapsed() < Duration::from_secs(5) {
            corio::sleep(Duration::from_millis(10));
        }
        assert_eq!(SLEEPING.with(|p| p.now()), before + 21);
        drop(conns);
        let t = Instant::now();
        while http.connections() > 1 && t.elapsed() < Duration::from_secs(10) {
            corio::sleep(Duration::from_millis(20));
        }
        let took = t.elapsed();
        assert_eq!(http.connections(), 1, "handlers of gone clients still run");
        // Their guards were dropped: only the one that stays still sleeps.
        assert_eq!(SLEEPING.with(|p| p.now()), before + 1);
        assert!(took < Duration::from_secs(3), "took {took:?}");
        let mut out = String::new();
        stays.read_to_string(&mut out).unwrap();
        assert!(out.ends_with("slept 2500 ms"), "{out}");
        server.cancel();
    });
}

#[test]
fn a_client_that_stops_reading_is_cut_after_the_write_timeout() {
    util::within(LIMIT, "write timeout", || {
        let mut http = Http::new();
        http.write_timeout(Some(Duration::from_millis(300)));
        let (addr, server) = start(&http);
        let mut c = TcpStream::connect(addr).unwrap();
        // Pipelined requests, answers never read: the socket buffers fill,
        // hyper's write stalls, the timeout closes the connection.
        let reqs = b"GET / HTTP/1.1\r\n\r\n".repeat(1000);
        let t = Instant::now();
        let mut cut = None;
        while t.elapsed() < Duration::from_secs(20) {
            if c.write_all(&reqs).is_err() {
                cut = Some(t.elapsed());
                break;
            }
            corio::sleep(Duration::from_millis(1));
        }
        let cut = cut.expect("never cut");
        assert!(cut < Duration::from_secs(10), "cut at {cut:?}");
        let t = Instant::now();
        while http.connections() > 0 && t.elapsed() < Duration::from_secs(5) {
            corio::sleep(Duration::from_millis(20));
        }
        assert_eq!(http.connections(), 0);
        server.cancel();
    });
}
