//! `serve`: a TCP server in one line.

use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{TcpListener, TcpStream, ToSocketAddrs};

/// First pause after running out of descriptors (or memory) on accept.
const BACKOFF_MIN: Duration = Duration::from_millis(1);
/// Longest pause.
const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// At most one warning about the same trouble this often.
const WARN_EVERY: Duration = Duration::from_secs(5);

/// Listens on `addr` and runs `handler` in a new coro for every
/// connection; the accept loop runs in the calling coro and returns only
/// on an error that makes the listener useless.
///
/// Each connection's coro is named after its peer (see
/// [`debug::ps`](crate::debug::ps)). A handler that panics ends its own
/// coro (the panic is reported by the panic hook and its stream is
/// closed); the server goes on. When the process runs out of file
/// descriptors (`EMFILE`) or memory, the loop pauses — 1 ms, doubling up
/// to 0.5 s — and tries again, instead of spinning; the connection waits
/// in the kernel's queue meanwhile.
///
/// # Examples
///
/// An echo server:
///
/// ```no_run
/// use std::io::{Read, Write};
///
/// corio::net::serve("127.0.0.1:7070", |mut conn| {
///     let mut buf = [0; 1024];
///     while let Ok(n @ 1..) = conn.read(&mut buf) {
///         if conn.write_all(&buf[..n]).is_err() {
///             break;
///         }
///     }
/// })
/// .unwrap();
/// ```
///
/// # Errors
/// When binding fails; when `accept` fails for a reason that retrying
/// cannot cure (`EBADF`, `EINVAL`, ...).
///
/// # Panics
/// Unwinds if the calling coro is cancelled or thrown at (the listener is
/// closed; connection coros already started go on).
///
/// # Switching
///
/// Suspends the calling coro for as long as it serves.
#[track_caller]
pub fn serve(addr: impl ToSocketAddrs, handler: impl Fn(TcpStream) + 'static) -> io::Result<()> {
    serve_on(TcpListener::bind(addr)?, handler)
}

/// [`serve`] on a listener you made (bound with options of your choice,
/// e.g. [`TcpListener::bind_reuse_port`]).
///
/// # Examples
///
/// A server in a coro of its own, stopped by cancelling that coro:
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use corio::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = corio::spawn(move || {
///     corio::net::serve_on(listener, |conn| {
///         let mut line = String::new();
///         BufReader::new(&conn).read_line(&mut line).unwrap();
///         (&conn).write_all(format!("hello, {line}").as_bytes()).unwrap();
///     })
/// });
/// let mut c = TcpStream::connect(addr).unwrap();
/// c.write_all(b"world\n").unwrap();
/// let mut reply = String::new();
/// BufReader::new(&c).read_line(&mut reply).unwrap();
/// assert_eq!(reply, "hello, world\n");
/// server.coro().cancel();
/// ```
///
/// # Errors
/// As [`serve`].
///
/// # Panics
/// As [`serve`].
///
/// # Switching
///
/// Suspends the calling coro for as long as it serves.
#[track_caller]
pub fn serve_on(listener: TcpListener, handler: impl Fn(TcpStream) + 'static) -> io::Result<()> {
    let handler = Rc::new(handler);
    let mut backoff = BACKOFF_MIN;
    let mut warned: Option<Instant> = None;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = BACKOFF_MIN;
                let h = handler.clone();
                let spawned = crate::Builder::new()
                    .name(format!("conn {peer}"))
                    .spawn(move || h(stream));
                if let Err(e) = spawned {
                    // No stack for it (out of memory or address space): the
                    // stream was dropped with the closure, closing it.
                    warn_once(
                        &mut warned,
                        format_args!("cannot start a coro for {peer}: {e}"),
                    );
                    crate::sleep(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
            Err(e) if retry_at_once(&e) => {}
            Err(e) if out_of_resources(&e) => {
                warn_once(
                    &mut warned,
                    format_args!("accept failed: {e}; pausing {backoff:?} before trying again"),
                );
                crate::sleep(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Errors of one connection that went away while queued, or of a signal.
fn retry_at_once(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EINTR
                | libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    ) || e.kind() == io::ErrorKind::ConnectionReset
}

/// Errors that go away once other connections close.
fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

fn warn_once(last: &mut Option<Instant>, msg: std::fmt::Arguments<'_>) {
    let now = Instant::now();
    if last.is_none_or(|t| now.duration_since(t) >= WARN_EVERY) {
        *last = Some(now);
        log::warn!("corio::net::serve: {msg}");
    }
}
