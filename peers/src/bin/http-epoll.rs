//! Raw epoll HTTP/1.1 keep-alive "hello" server against `libc` (+
//! `httparse`): the baseline of the HTTP benchmark.
//!
//! `http-epoll 127.0.0.1:PORT` — one thread, one epoll instance, the same
//! structure as `echo-epoll` (edge-triggered connections registered once
//! for `EPOLLIN|EPOLLOUT|EPOLLRDHUP`, short read = drained). Each
//! connection keeps an input buffer: everything read is parsed with
//! `httparse` for as many complete requests as it holds (pipelining), a
//! request split across reads waits for the rest, request bodies given by
//! `Content-Length` are skipped, and every request is answered with
//! [`corio_peers::HTTP_RESPONSE`]. All the answers to one read go out in one
//! `write`; a partial write keeps the rest and stops reading until
//! `EPOLLOUT`. `Connection: close` (or HTTP/1.0 without keep-alive) closes
//! after the answer; a malformed request, a chunked body or a head over 64
//! KiB closes the connection.

use std::io;
use std::os::fd::RawFd;

use corio_peers::HTTP_RESPONSE;
use corio_peers::sys::{self, Epoll};

const LISTENER: u64 = u64::MAX;
const READ_CHUNK: usize = 4096;
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 32;

#[derive(Default)]
struct Conn {
    open: bool,
    /// Bytes read and not yet consumed: `inbuf[..inlen]`.
    inbuf: Vec<u8>,
    inlen: usize,
    /// Body bytes of the current request still to skip.
    body_left: usize,
    /// Answers not yet written: `out[outpos..]`.
    out: Vec<u8>,
    outpos: usize,
    /// Close once `out` is written.
    close_after: bool,
}

fn main() {
    let addr = corio_peers::server_addr();
    let listener = sys::listen(addr, 1024).unwrap_or_else(|e| {
        eprintln!("http-epoll: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    let ep = Epoll::new().expect("epoll_create1");
    ep.add(listener, libc::EPOLLIN as u32, LISTENER)
        .expect("epoll_ctl(ADD, listener)");

    let mut conns: Vec<Conn> = Vec::new();
    let mut events = sys::events::<256>();
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
            if conn.open && !serve(fd, conn) {
                sys::close(fd);
                conn.open = false;
                // Keep the buffers' capacity for the next connection on
                // this descriptor number.
                conn.inlen = 0;
                conn.body_left = 0;
                conn.out.clear();
                conn.outpos = 0;
                conn.close_after = false;
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
                    eprintln!("http-epoll: epoll_ctl(ADD): {e}");
                    sys::close(fd);
                    continue;
                }
                let i = fd as usize;
                if conns.len() <= i {
                    conns.resize_with(i + 1, Conn::default);
                }
                let c = &mut conns[i];
                c.open = true;
                if c.inbuf.len() < READ_CHUNK {
                    c.inbuf.resize(READ_CHUNK, 0);
                }
            }
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) => return,
                Some(libc::EINTR | libc::ECONNABORTED | libc::EPROTO) => continue,
                _ => {
                    eprintln!("http-epoll: accept4: {e}");
                    return;
                }
            },
        }
    }
}

/// Handles one readiness report; false when the connection must close.
#[inline]
fn serve(fd: RawFd, c: &mut Conn) -> bool {
    if c.outpos < c.out.len() {
        match flush(fd, c) {
            Ok(true) => {}
            Ok(false) => return true, // still blocked: wait for EPOLLOUT
            Err(_) => return false,
        }
    }
    if c.close_after {
        return false;
    }
    loop {
        if c.inlen == c.inbuf.len() {
            if c.inbuf.len() >= MAX_HEAD {
                return false;
            }
            let grown = c.inbuf.len() * 2;
            c.inbuf.resize(grown, 0);
        }
        let room = c.inbuf.len() - c.inlen;
        let n = match sys::read(fd, &mut c.inbuf[c.inlen..]) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) => return true,
                Some(libc::EINTR) => continue,
                _ => return false,
            },
        };
        c.inlen += n;
        if !parse_requests(c) {
            return false;
        }
        if c.outpos < c.out.len() {
            match flush(fd, c) {
                Ok(true) => {}
                Ok(false) => return true,
                Err(_) => return false,
            }
        }
        if c.close_after {
            return false;
        }
        if n < room {
            return true; // short read: drained
        }
    }
}

/// Answers every complete request in `c.inbuf[..c.inlen]` and drops the
/// bytes it consumed; false on a request this server will not serve.
#[inline]
fn parse_requests(c: &mut Conn) -> bool {
    let mut start = 0;
    while start < c.inlen {
        if c.body_left > 0 {
            let take = c.body_left.min(c.inlen - start);
            start += take;
            c.body_left -= take;
            continue;
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let len = match req.parse(&c.inbuf[start..c.inlen]) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => break,
            Err(_) => return false,
        };
        // HTTP/1.1 keeps the connection unless told otherwise; 1.0 closes
        // unless told to keep it.
        let mut keep_alive = req.version == Some(1);
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let Some(n) = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|s| s.trim().parse::<usize>().ok())
                else {
                    return false;
                };
                c.body_left = n;
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                return false; // no chunked bodies here
            } else if h.name.eq_ignore_ascii_case("connection") {
                if has_token(h.value, b"close") {
                    keep_alive = false;
                } else if has_token(h.value, b"keep-alive") {
                    keep_alive = true;
                }
            }
        }
        c.out.extend_from_slice(HTTP_RESPONSE);
        start += len;
        if !keep_alive {
            c.close_after = true;
            break;
        }
    }
    if start > 0 {
        c.inbuf.copy_within(start..c.inlen, 0);
        c.inlen -= start;
    }
    true
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Writes what it can of `c.out[c.outpos..]`; true once all is written.
#[inline]
fn flush(fd: RawFd, c: &mut Conn) -> io::Result<bool> {
    while c.outpos < c.out.len() {
        match sys::write(fd, &c.out[c.outpos..]) {
            Ok(n) => c.outpos += n,
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(false),
                Some(libc::EINTR) => continue,
                _ => return Err(e),
            },
        }
    }
    c.out.clear();
    c.outpos = 0;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn_with(input: &[u8]) -> Conn {
        let mut c = Conn {
            open: true,
            ..Conn::default()
        };
        c.inbuf = input.to_vec();
        c.inbuf.resize(input.len().max(READ_CHUNK), 0);
        c.inlen = input.len();
        c
    }

    fn answers(c: &Conn) -> usize {
        assert_eq!(c.out.len() % HTTP_RESPONSE.len(), 0);
        c.out.len() / HTTP_RESPONSE.len()
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    #[test]
    fn pipelined_and_partial() {
        let mut input = GET.repeat(3);
        input.extend_from_slice(b"GET / HTTP/1.1\r\nHo");
        let mut c = conn_with(&input);
        assert!(parse_requests(&mut c));
        assert_eq!(answers(&c), 3);
        assert_eq!(&c.inbuf[..c.inlen], b"GET / HTTP/1.1\r\nHo");
        let rest = b"st: x\r\n\r\n";
        c.inbuf[c.inlen..c.inlen + rest.len()].copy_from_slice(rest);
        c.inlen += rest.len();
        assert!(parse_requests(&mut c));
        assert_eq!(answers(&c), 4);
        assert_eq!(c.inlen, 0);
        assert!(!c.close_after);
    }

    #[test]
    fn bodies_are_skipped_across_reads() {
        let mut c = conn_with(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab");
        assert!(parse_requests(&mut c));
        assert_eq!((answers(&c), c.body_left, c.inlen), (1, 3, 0));
        let more = [b"cde".as_slice(), GET].concat();
        c.inbuf[..more.len()].copy_from_slice(&more);
        c.inlen = more.len();
        assert!(parse_requests(&mut c));
        assert_eq!((answers(&c), c.body_left, c.inlen), (2, 0, 0));
    }

    #[test]
    fn connection_close_and_http10() {
        let mut c = conn_with(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        assert!(parse_requests(&mut c));
        assert_eq!(answers(&c), 1);
        assert!(c.close_after);

        let mut c = conn_with(b"GET / HTTP/1.0\r\n\r\n");
        assert!(parse_requests(&mut c));
        assert!(c.close_after);

        let mut c = conn_with(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(parse_requests(&mut c));
        assert!(!c.close_after);
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        let mut c = conn_with(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(!parse_requests(&mut c));
        let mut c = conn_with(b"\x01\x02 nonsense\r\n\r\n");
        assert!(!parse_requests(&mut c));
    }
}
