//! Echo load generator: `echo-client 127.0.0.1:PORT [--conns N]
//! [--size BYTES] [--secs S]`.
//!
//! Opens N connections (default 50); each sends `--size` bytes (default 64)
//! and waits for the same bytes back before sending again (ping-pong), for
//! `--secs` seconds (default 5). One thread and one edge-triggered epoll
//! instance against `libc`, so that it spends its one core on the kernel's
//! work, not its own: a round trip costs one `write`, one `read` (the same
//! short-read-means-drained rule as the servers) and a share of
//! `epoll_wait`. The echoed bytes are checked.
//!
//! At the end it prints one machine-readable line on stdout:
//!
//! `echo-client requests=R errors=E elapsed_ns=T rps=X conns=N size=B cpu_ns=C`
//!
//! `requests` counts the round trips completed between the first send and
//! the deadline, `elapsed_ns` is that window, `cpu_ns` the client's own CPU
//! time over its whole life. Exit status 1 when no connection could be
//! made or none completed a round trip.

use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use corio_peers::sys::{self, Epoll};

const BUF: usize = 4096;

struct Args {
    addr: SocketAddrV4,
    conns: usize,
    size: usize,
    secs: f64,
}

fn usage(msg: &str) -> ! {
    eprintln!("echo-client: {msg}");
    eprintln!("usage: echo-client 127.0.0.1:PORT [--conns N] [--size BYTES] [--secs S]");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    let mut conns = 50usize;
    let mut size = 64usize;
    let mut secs = 5.0f64;
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match a.as_str() {
            "--conns" => {
                conns = value("--conns")
                    .parse()
                    .unwrap_or_else(|_| usage("bad --conns"))
            }
            "--size" => {
                size = value("--size")
                    .parse()
                    .unwrap_or_else(|_| usage("bad --size"))
            }
            "--secs" => {
                secs = value("--secs")
                    .parse()
                    .unwrap_or_else(|_| usage("bad --secs"))
            }
            "-h" | "--help" => usage("help"),
            _ if addr.is_none() => match a.parse::<SocketAddr>() {
                Ok(SocketAddr::V4(v4)) if v4.ip().is_loopback() => addr = Some(v4),
                _ => usage(&format!("{a:?} is not a 127.x.x.x:PORT address")),
            },
            _ => usage(&format!("unexpected argument {a:?}")),
        }
    }
    let Some(addr) = addr else {
        usage("no address")
    };
    if conns == 0 || size == 0 || !(secs > 0.0 && secs.is_finite()) {
        usage("--conns, --size and --secs must be positive");
    }
    Args {
        addr,
        conns,
        size,
        secs,
    }
}

struct Conn {
    fd: RawFd,
    open: bool,
    /// Bytes of the current message written so far.
    wpos: usize,
    /// Bytes of the current echo received so far.
    rpos: usize,
}

fn main() {
    let args = parse_args();
    let payload: Vec<u8> = (0..args.size).map(|i| b'a' + (i % 26) as u8).collect();
    let ep = Epoll::new().expect("epoll_create1");

    let mut errors = 0u64;
    let mut conns = Vec::with_capacity(args.conns);
    for _ in 0..args.conns {
        match sys::connect(args.addr, Duration::from_secs(5)) {
            Ok(fd) => {
                let ok = sys::set_nonblocking(fd).and_then(|()| {
                    let _ = sys::set_nodelay(fd);
                    let events =
                        (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
                    ep.add(fd, events, conns.len() as u64)
                });
                match ok {
                    Ok(()) => conns.push(Conn {
                        fd,
                        open: true,
                        wpos: 0,
                        rpos: 0,
                    }),
                    Err(e) => {
                        eprintln!("echo-client: setting up a connection: {e}");
                        sys::close(fd);
                        errors += 1;
                    }
                }
            }
            Err(e) => {
                eprintln!("echo-client: connect {}: {e}", args.addr);
                errors += 1;
            }
        }
    }
    if conns.is_empty() {
        eprintln!("echo-client: no connection to {}", args.addr);
        println!(
            "echo-client requests=0 errors={errors} elapsed_ns=0 rps=0 conns=0 size={}",
            args.size
        );
        std::process::exit(1);
    }

    let mut live = conns.len();
    let mut requests = 0u64;
    let mut buf = [0u8; BUF];
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.secs);
    for c in conns.iter_mut() {
        if !send(c, &payload) {
            close(c, &mut live, &mut errors);
        }
    }
    let mut events = sys::events::<256>();
    let mut now = Instant::now();
    while now < deadline && live > 0 {
        let left = deadline - now;
        let timeout = left.as_millis().clamp(1, 1000) as i32;
        let n = ep.wait(&mut events, timeout).expect("epoll_wait");
        now = Instant::now();
        let running = now < deadline;
        for ev in &events[..n] {
            let id = ev.u64 as usize;
            let c = &mut conns[id];
            if !c.open {
                continue;
            }
            match serve(c, &payload, &mut buf, &mut requests, running) {
                Ok(()) => {}
                Err(what) => {
                    if running {
                        eprintln!("echo-client: connection {id}: {what}");
                    }
                    close(c, &mut live, &mut errors);
                }
            }
        }
    }
    let elapsed = start.elapsed().min(deadline - start);
    for c in conns.iter_mut().filter(|c| c.open) {
        sys::close(c.fd);
    }
    let ns = elapsed.as_nanos().max(1);
    let rps = requests as f64 * 1e9 / ns as f64;
    println!(
        "echo-client requests={requests} errors={errors} elapsed_ns={ns} rps={rps:.0} conns={} size={} cpu_ns={}",
        conns.len(),
        args.size,
        self_cpu_ns()
    );
    if requests == 0 {
        std::process::exit(1);
    }
}

fn close(c: &mut Conn, live: &mut usize, errors: &mut u64) {
    // close(2) also takes the descriptor out of the epoll set.
    sys::close(c.fd);
    c.open = false;
    *live -= 1;
    *errors += 1;
}

/// Writes the rest of the current message; false on a socket error.
#[inline]
fn send(c: &mut Conn, payload: &[u8]) -> bool {
    while c.wpos < payload.len() {
        match sys::write(c.fd, &payload[c.wpos..]) {
            Ok(n) => c.wpos += n,
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) => return true, // EPOLLOUT will follow
                Some(libc::EINTR) => continue,
                _ => return false,
            },
        }
    }
    true
}

/// Handles one readiness report for `c`.
#[inline]
fn serve(
    c: &mut Conn,
    payload: &[u8],
    buf: &mut [u8; BUF],
    requests: &mut u64,
    running: bool,
) -> Result<(), &'static str> {
    if c.wpos < payload.len() && !send(c, payload) {
        return Err("write failed");
    }
    loop {
        let n = match sys::read(c.fd, buf) {
            Ok(0) => return Err("server closed the connection"),
            Ok(n) => n,
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(()),
                Some(libc::EINTR) => continue,
                _ => return Err("read failed"),
            },
        };
        let end = c.rpos + n;
        if end > c.wpos || buf[..n] != payload[c.rpos..end] {
            return Err("echo differs from what was sent");
        }
        c.rpos = end;
        if c.rpos == payload.len() {
            *requests += running as u64;
            c.rpos = 0;
            c.wpos = 0;
            if running && !send(c, payload) {
                return Err("write failed");
            }
        }
        if n < BUF {
            return Ok(()); // short read: drained
        }
    }
}

fn self_cpu_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec for clock_gettime(2) to fill.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return 0;
    }
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}
