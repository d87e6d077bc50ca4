//! Sockets whose blocking calls park the current coro instead of the
//! thread (Perl's `Coro::Socket`), and [`serve`], a TCP server in one line.
//!
//! The types have the method names of `std::net` and
//! `std::os::unix::net`, implement [`Read`](std::io::Read) and
//! [`Write`](std::io::Write) (also through `&` references, so one coro can
//! read while another writes), and support read and write timeouts (errors
//! of kind `TimedOut`). So any code written against `std::io::Read` and
//! `Write` — `BufReader::lines`, `serde_json::from_reader`, a TLS stream —
//! runs unchanged on them, and one thread serves thousands of connections.
//!
//! Names are resolved on a worker thread ([`ToSocketAddrs`],
//! [`lookup_host`]), so a slow DNS server holds up only the coro that
//! asked.
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use corio::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = corio::spawn(move || {
//!     let (stream, _) = listener.accept().unwrap();
//!     let mut line = String::new();
//!     BufReader::new(&stream).read_line(&mut line).unwrap();
//!     (&stream).write_all(line.to_uppercase().as_bytes()).unwrap();
//! });
//!
//! let mut client = TcpStream::connect(addr).unwrap();
//! client.write_all(b"hello\n").unwrap();
//! let mut reply = String::new();
//! BufReader::new(&client).read_line(&mut reply).unwrap();
//! assert_eq!(reply, "HELLO\n");
//! server.join().unwrap();
//! ```
//!
//! # Threads
//!
//! These types belong to the thread that made them: their descriptor is
//! registered with that thread's reactor, so they are not `Send`. Moving
//! one into `std::thread::spawn`, [`corio::thread::spawn`](crate::thread::spawn)
//! or a `Send` channel does not compile, and the error names a private
//! field rather than the socket:
//!
//! ```text
//! error[E0277]: `Rc<corio::io::reg::Behaviour>` cannot be sent between threads safely
//!   ...
//! note: required because it appears within the type `corio::net::TcpStream`
//! ```
//!
//! (or `Rc<corio::sched::reactor::IoState>`, for the same reason). The
//! `note:` names the type you used: [`TcpStream`], [`TcpListener`],
//! [`UdpSocket`], [`UnixStream`], [`UnixListener`] or [`Server`]. To hand
//! a connection to another thread, turn it into std's type with
//! `into_std`, send that, and take it back with `from_std` on the other
//! side (it registers with that thread's reactor). To serve one port from
//! several threads, use [`serve_threads`].
//!
//! ```compile_fail
//! let s = corio::net::TcpStream::connect("127.0.0.1:9").unwrap();
//! std::thread::spawn(move || drop(s)); // TcpStream is not Send
//! ```
//!
//! ```
//! use corio::net::{TcpListener, TcpStream};
//!
//! let l = TcpListener::bind("127.0.0.1:0")?;
//! let client = TcpStream::connect(l.local_addr()?)?;
//! let (conn, _) = l.accept()?;
//! let std_conn = conn.into_std()?; // Send
//! let other = corio::thread::spawn(move || {
//!     let conn = TcpStream::from_std(std_conn).unwrap(); // this thread's now
//!     std::io::Write::write_all(&mut &conn, b"from another thread").unwrap();
//! });
//! other.join().unwrap();
//! let mut got = String::new();
//! std::io::Read::read_to_string(&mut &client, &mut got)?;
//! assert_eq!(got, "from another thread");
//! # Ok::<(), std::io::Error>(())
//! ```

mod addr;
mod serve;
mod server;
mod tcp;
mod udp;
mod unix;

pub use addr::{ToSocketAddrs, lookup_host};
#[cfg(feature = "compat")]
pub(crate) use serve::Acceptor;
pub use serve::{serve, serve_on, serve_threads};
pub use server::{Server, ServerHandle};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};

pub use std::net::{Shutdown, SocketAddr};

use std::io;

/// Runs `f` on each address in turn and returns the first success, or the
/// last error (std's rule for `connect` and `bind`).
fn each_addr<T>(
    addrs: impl ToSocketAddrs,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addrs.resolve()? {
        match f(&a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
