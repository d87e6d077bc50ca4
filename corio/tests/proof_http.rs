//! Proof that the `ureq` HTTP client (the Coro::LWP of this library) runs
//! unmodified on coros, with its default agent — its own connector, its
//! own `std::net` sockets — under the `hook` feature: 128 requests at once
//! on one scheduler thread, against a plain HTTP/1.1 server written on
//! `corio::net` with `httparse`. Each client makes a GET and then a POST
//! with a 50 KB body; the POST reuses a connection from ureq's pool.
//!
//! Without the feature, ureq gets a corio transport through its pluggable
//! connector API; that connector is in `corio::hook`'s docs (and tested
//! there as a doctest in every build).
#![cfg(feature = "hook")]

mod util;

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use corio::net::{TcpListener, TcpStream};
use ureq::Agent;
use util::{Gate, Peak};

const CLIENTS: usize = 128;

/// What the bytes received so far on a connection call for.
enum Next {
    /// Send a reply with this body, then drop this many bytes (the
    /// request) from the front of the buffer.
    Reply(String, usize),
    /// Read more: the request's head or body is not all here yet.
    Read,
    /// Not HTTP, or a bad `Content-Length`: answer 400 and hang up.
    Bad,
}

/// Parses the request at the front of `buf`. One with a body
/// (`Content-Length`) is answered with its path, the body's length and the
/// sum of its bytes; one without, with its path.
fn next(buf: &[u8]) -> Next {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let head = match req.parse(buf) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Next::Read,
        Err(_) => return Next::Bad,
    };
    let path = req.path.unwrap_or("?");
    let length = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"));
    let Some(length) = length else {
        return Next::Reply(format!("you asked for {path}"), head);
    };
    let n = std::str::from_utf8(length.value)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    let Some(n) = n else { return Next::Bad };
    let Some(body) = buf.get(head..head.saturating_add(n)) else {
        return Next::Read;
    };
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    Next::Reply(format!("you sent {n} bytes to {path}, sum {sum}"), head + n)
}

/// Serves one HTTP/1.1 connection, keeping it alive until the client
/// closes it.
fn http_conn(conn: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match next(&buf) {
            Next::Reply(body, used) => {
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
                    body.len()
                );
                if (&conn).write_all(reply.as_bytes()).is_err() {
                    return;
                }
                buf.drain(..used);
            }
            Next::Read => match (&conn).read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
            Next::Bad => {
                let _ = (&conn).write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
                return;
            }
        }
    }
}

fn agent() -> Agent {
    Agent::new_with_config(
        Agent::config_builder()
            // Room in the pool for every connection, so each client's
            // second request reuses a connection instead of opening one.
            .max_idle_connections(CLIENTS)
            .max_idle_connections_per_host(CLIENTS)
            .build(),
    )
}

/// The body client `i` posts: long enough to take several reads.
fn payload(i: usize) -> Vec<u8> {
    (0..50_000 + i).map(|k| (k % 253) as u8).collect()
}

#[test]
fn ureq_makes_128_concurrent_requests_from_coros() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Peak::new();
    let accepted = std::rc::Rc::new(std::cell::Cell::new(0));
    // No server coro answers before all 128 connections are open: each
    // client is then parked inside ureq's `call`, waiting for its answer.
    let gate = Gate::new(CLIENTS);
    let (server_open, server_gate) = (open.clone(), gate.clone());
    let server_accepted = accepted.clone();
    let server = corio::spawn(move || {
        corio::net::serve_on(listener, move |conn: TcpStream| {
            server_accepted.set(server_accepted.get() + 1);
            let _open = server_open.enter();
            server_gate.wait();
            http_conn(conn);
        })
    });

    let agent = agent();
    let bodies = util::within(Duration::from_secs(60), "the requests", || {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let agent = agent.clone();
                corio::spawn(move || {
                    let mut answer = agent.get(format!("http://{addr}/item/{i}")).call().unwrap();
                    let got = answer.body_mut().read_to_string().unwrap();
                    // A second request, with a body, on a pooled connection.
                    let mut answer = agent
                        .post(format!("http://{addr}/sum/{i}"))
                        .send(&payload(i)[..])
                        .unwrap();
                    let sent = answer.body_mut().read_to_string().unwrap();
                    (got, sent)
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });

    for (i, (got, sent)) in bodies.iter().enumerate() {
        assert_eq!(got, &format!("you asked for /item/{i}"));
        let p = payload(i);
        let sum: u64 = p.iter().map(|&b| u64::from(b)).sum();
        assert_eq!(
            sent,
            &format!("you sent {} bytes to /sum/{i}, sum {sum}", p.len())
        );
    }
    assert!(open.peak() >= CLIENTS, "peak {}", open.peak());
    // Every second request went over a kept-alive connection.
    assert_eq!(accepted.get(), CLIENTS, "connections opened");
    server.coro().cancel();
}

#[test]
fn ureq_reports_a_refused_connection_as_an_error() {
    // A port nobody listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = util::within(Duration::from_secs(30), "the refused request", || {
        agent().get(format!("http://{addr}/")).call().unwrap_err()
    });
    assert!(
        matches!(&err, ureq::Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused),
        "{err}"
    );
}

#[test]
fn ureq_default_agent_fifty_slow_requests_eight_at_a_time() {
    // Every answer takes 200 ms.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = corio::spawn(move || {
        corio::net::serve_on(listener, |conn: TcpStream| {
            corio::sleep(Duration::from_millis(200));
            http_conn(conn);
        })
    });
    let agent = ureq::agent();
    let limit = std::rc::Rc::new(corio::sync::Semaphore::new(8));
    let open = Peak::new();
    let start = Instant::now();
    let requests: Vec<_> = (0..50)
        .map(|i| {
            let (agent, limit, open) = (agent.clone(), limit.clone(), open.clone());
            corio::spawn(move || {
                let _slot = limit.guard();
                let _open = open.enter();
                // A new connection each time: the server sleeps per
                // connection, before it reads the request.
                agent
                    .get(format!("http://{addr}/n/{i}"))
                    .header("Connection", "close")
                    .call()
                    .unwrap()
                    .body_mut()
                    .read_to_string()
                    .unwrap()
            })
        })
        .collect();
    for (i, r) in requests.into_iter().enumerate() {
        assert_eq!(r.join().unwrap(), format!("you asked for /n/{i}"));
    }
    let took = start.elapsed();
    println!("50 ureq requests at 200 ms each, 8 at a time: {took:?}");
    assert_eq!(open.peak(), 8);
    // 7 rounds of 200 ms; one at a time it would be 10 s.
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    server.coro().cancel();
}
