//! Proof that unmodified blocking crates run on coros: the `ureq` HTTP
//! client (the Coro::LWP of this library), 128 requests at once on one
//! scheduler thread, against a plain HTTP/1.1 server written on
//! `corio::net` with `httparse`. Each client makes a GET and then a POST
//! with a 50 KB body; the POST reuses a connection from ureq's pool.
//!
//! ureq opens its own sockets, so it gets a corio transport through its
//! pluggable connector API (`ureq::unversioned::transport`, 3.x): a std
//! `TcpStream` in non-blocking mode whose reads and writes wait with
//! `corio::io::readable`/`writable` — parking only the calling coro.
//! ureq's transports must be `Send + Sync`, which corio's own sockets are
//! not (they belong to their thread's reactor); a std stream plus
//! corio's readiness calls is. Everything above the transport — request
//! writing, response parsing, bodies, pooling — is ureq's, unmodified.
//! (Host names would go through ureq's own resolver, which blocks the
//! thread for a DNS lookup; these tests use an IP address.)

mod util;

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::Duration;

use corio::net::{TcpListener, TcpStream};
use ureq::Agent;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};
use util::{Gate, Peak};

const CLIENTS: usize = 128;

/// Connects ureq through corio.
#[derive(Debug, Default)]
struct CorioConnector;

struct CorioTransport {
    stream: std::net::TcpStream,
    buffers: LazyBuffers,
}

impl fmt::Debug for CorioTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorioTransport")
            .field("peer", &self.stream.peer_addr().ok())
            .finish()
    }
}

/// Runs `wait` under ureq's timeout for this step, if it has one.
fn step_within(
    timeout: NextTimeout,
    wait: impl FnOnce() -> io::Result<()>,
) -> Result<(), ureq::Error> {
    match timeout.not_zero() {
        Some(d) => match corio::timeout(*d, wait) {
            Ok(r) => Ok(r?),
            Err(_) => Err(ureq::Error::Timeout(timeout.reason)),
        },
        None => Ok(wait()?),
    }
}

impl Connector<()> for CorioConnector {
    type Out = CorioTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<CorioTransport>, ureq::Error> {
        let addrs: Vec<SocketAddr> = details.addrs.iter().copied().collect();
        // corio's connect parks this coro, not the thread.
        let stream = TcpStream::connect(&addrs[..])?.into_std()?;
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let config = &details.config;
        let buffers = LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
        Ok(Some(CorioTransport { stream, buffers }))
    }
}

impl Transport for CorioTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let mut out = &self.buffers.output()[..amount];
        while !out.is_empty() {
            match self.stream.write(out) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => out = &out[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    step_within(timeout, || corio::io::writable(self.stream.as_fd()))?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        loop {
            let input = self.buffers.input_append_buf();
            match self.stream.read(input) {
                Ok(n) => {
                    self.buffers.input_appended(n);
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    step_within(timeout, || corio::io::readable(self.stream.as_fd()))?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn is_open(&mut self) -> bool {
        // Open if nothing is waiting to be read (no close, no garbage).
        let mut probe = [0u8; 1];
        matches!(self.stream.peek(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

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
    Agent::with_parts(
        Agent::config_builder()
            // Room in the pool for every connection, so each client's
            // second request reuses a connection instead of opening one.
            .max_idle_connections(CLIENTS)
            .max_idle_connections_per_host(CLIENTS)
            .build(),
        CorioConnector,
        DefaultResolver::default(),
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
