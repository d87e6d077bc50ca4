//! Raw epoll TCP echo server against `libc`: the baseline of the echo
//! benchmark.
//!
//! `echo-epoll 127.0.0.1:PORT` — one thread, one epoll instance shared by
//! every connection, written the way a careful C programmer would:
//!
//! - the listener is level-triggered; each readiness accepts with
//!   `accept4(SOCK_NONBLOCK|SOCK_CLOEXEC)` until `EAGAIN`;
//! - each connection is registered once, edge-triggered, for
//!   `EPOLLIN|EPOLLOUT|EPOLLRDHUP`, so no `epoll_ctl` is ever needed after
//!   accept;
//! - on readiness it reads up to 4 KiB into one shared buffer and writes
//!   back what it read. A read shorter than the buffer means the socket is
//!   drained (epoll(7): stream sockets), so a ping-pong request costs one
//!   `read` and one `write`, with `epoll_wait` amortised over the
//!   connections that are ready together;
//! - a partial write keeps the rest in a per-connection buffer and stops
//!   reading that connection until `EPOLLOUT` lets the rest go (back
//!   pressure);
//! - EOF or an error closes the connection.

use std::io;
use std::os::fd::RawFd;

use corio_peers::sys::{self, Epoll};

const LISTENER: u64 = u64::MAX;
const BUF: usize = 4096;

/// Per-connection state: only the bytes a partial write left behind.
#[derive(Default)]
struct Conn {
    open: bool,
    pending: Vec<u8>,
    pos: usize,
}

fn main() {
    let addr = corio_peers::server_addr();
    let listener = sys::listen(addr, 1024).unwrap_or_else(|e| {
        eprintln!("echo-epoll: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    let ep = Epoll::new().expect("epoll_create1");
    ep.add(listener, libc::EPOLLIN as u32, LISTENER)
        .expect("epoll_ctl(ADD, listener)");

    let mut conns: Vec<Conn> = Vec::new();
    let mut events = sys::events::<256>();
    let mut buf = [0u8; BUF];
    loop {
        let n = ep.wait(&mut events, -1).expect("epoll_wait");
        for ev in &events[..n] {
            let token = ev.u64;
            if token == LISTENER {
                accept_all(&ep, listener, &mut conns);
                continue;
            }
            let fd = token as RawFd;
            let conn = &mut conns[fd as usize];
            if conn.open && !serve(fd, conn, &mut buf) {
                sys::close(fd);
                conn.open = false;
                conn.pending = Vec::new();
                conn.pos = 0;
            }
        }
    }
}

fn accept_all(ep: &Epoll, listener: RawFd, conns: &mut Vec<Conn>) {
    loop {
        match sys::accept(listener) {
            Ok(fd) => {
                let _ = sys::set_nodelay(fd);
                let events =
                    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
                if let Err(e) = ep.add(fd, events, fd as u64) {
                    eprintln!("echo-epoll: epoll_ctl(ADD): {e}");
                    sys::close(fd);
                    continue;
                }
                let i = fd as usize;
                if conns.len() <= i {
                    conns.resize_with(i + 1, Conn::default);
                }
                conns[i].open = true;
            }
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) => return,
                Some(libc::EINTR | libc::ECONNABORTED | libc::EPROTO) => continue,
                // EMFILE and the like: leave the rest in the backlog (level
                // triggering will report the listener again).
                _ => {
                    eprintln!("echo-epoll: accept4: {e}");
                    return;
                }
            },
        }
    }
}

/// Handles one readiness report; false when the connection must close.
#[inline]
fn serve(fd: RawFd, conn: &mut Conn, buf: &mut [u8; BUF]) -> bool {
    // First let out what an earlier partial write left behind.
    if !conn.pending.is_empty() {
        match write_some(fd, &conn.pending[conn.pos..]) {
            Ok(n) => {
                conn.pos += n;
                if conn.pos < conn.pending.len() {
                    return true; // still blocked: wait for EPOLLOUT
                }
                conn.pending.clear();
                conn.pos = 0;
            }
            Err(_) => return false,
        }
    }
    loop {
        let n = match sys::read(fd, buf) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) => return true,
                Some(libc::EINTR) => continue,
                _ => return false,
            },
        };
        match write_some(fd, &buf[..n]) {
            Ok(w) if w == n => {}
            Ok(w) => {
                // Partial write: keep the rest and stop reading until
                // EPOLLOUT (edge-triggered, so it will be reported).
                conn.pending.extend_from_slice(&buf[w..n]);
                conn.pos = 0;
                return true;
            }
            Err(_) => return false,
        }
        if n < BUF {
            // Short read on a stream socket: drained. With edge triggering
            // the next byte to arrive raises a new edge.
            return true;
        }
    }
}

/// Writes as much of `data` as the socket takes now; `EAGAIN` counts as 0.
#[inline]
fn write_some(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < data.len() {
        match sys::write(fd, &data[done..]) {
            Ok(n) => done += n,
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) => break,
                Some(libc::EINTR) => continue,
                _ => return Err(e),
            },
        }
    }
    Ok(done)
}
