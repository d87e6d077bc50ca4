//! The async ecosystem on coros (feature `compat`): tokio-io, futures-io
//! and hyper crates — hyper's server and client, axum, tokio-util's codecs
//! — running on corio's reactor and timers, with no tokio runtime; and
//! async handlers that may call ordinary **blocking** corio functions.
//!
//! Perl's Coro and AnyEvent were "the best of friends": event-based modules
//! ran under Coro, and Coro code called them as if they blocked. This
//! module is that friendship for Rust's async crates.
//!
//! - [`Io`] wraps a corio [`TcpStream`](crate::net::TcpStream) or
//!   [`UnixStream`](crate::net::UnixStream) (or a `&` of either) and
//!   implements `tokio::io::{AsyncRead, AsyncWrite}`,
//!   `futures_io::{AsyncRead, AsyncWrite}` and `hyper::rt::{Read, Write}`.
//! - [`Executor`] is hyper's executor (a coro per future), [`Timer`] hyper's
//!   timer (corio's timer heap), [`Sleep`] its future.
//! - [`Http`] and [`serve`] serve a hyper service — and so an axum
//!   `Router` — on a corio listener: a coro per connection, HTTP/1.1
//!   keep-alive and pipelining, hyper's limits and timeouts, graceful
//!   shutdown. [`Http::handler`] is the per-connection function for
//!   [`net::serve`](crate::net::serve) and `net::Server`.
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Empty, Full};
//! use hyper::{Request, Response, body::Incoming, service::service_fn};
//! use corio::compat::{Executor, Io};
//! use hyper::rt::Executor as _;
//!
//! // A server whose async handler blocks — only its own connection waits.
//! let svc = service_fn(|_: Request<Incoming>| async {
//!     corio::sleep(Duration::from_millis(5)); // a plain blocking call
//!     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("slept"))))
//! });
//! let listener = corio::net::TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = corio::spawn(move || corio::compat::serve(listener, svc));
//!
//! // hyper's client over Io, on the same thread.
//! let stream = corio::net::TcpStream::connect(addr)?;
//! let body = corio::block_on(async {
//!     let (mut send, conn) = hyper::client::conn::http1::handshake(Io::new(stream)).await?;
//!     Executor.execute(conn);
//!     let req = Request::get("/").header("host", "x").body(Empty::<Bytes>::new()).unwrap();
//!     let rsp = send.send_request(req).await?;
//!     Ok::<_, hyper::Error>(rsp.into_body().collect().await?.to_bytes())
//! }).unwrap();
//! assert_eq!(body, "slept");
//! server.cancel();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Where a blocking call parks a coro
//!
//! corio polls a future on the stack of the coro that drives it, so a
//! blocking corio call made inside `poll` (inside an `async fn`, with no
//! `.await`) parks that coro — and only it; the other coros of the thread
//! run meanwhile. Which coro that is:
//!
//! - [`block_on(f)`](crate::block_on): the coro that called it. While the
//!   call blocks, the rest of `f` (other branches of a `join!`, say) waits
//!   with it.
//! - [`Executor`]: each future executed has a coro of its own.
//! - [`Http`] / [`serve`]: each connection has a coro of its own; a handler
//!   that blocks holds up its connection's later pipelined requests, not
//!   other connections.
//!
//! A future polled by anything else (another executor running inside a
//! coro) parks whichever coro runs that executor. Do not poll `Io`,
//! `Sleep` or a served connection on a thread whose scheduler does not
//! run (under `futures::executor::block_on` or a tokio runtime, say):
//! their wake-ups come from corio's scheduler, which would never get the
//! thread back.
//!
//! # tokio-only APIs
//!
//! There is no tokio runtime here. A future that calls into one —
//! `tokio::spawn`, `tokio::time::sleep`/`timeout`/`interval`, `tokio::net`,
//! `tokio::task::spawn_blocking` — panics inside tokio with
//! **"there is no reactor running, must be called from the context of a
//! Tokio 1.x runtime"**. The panic ends the coro that polled it (for a
//! served connection: that connection, closed without an answer; the
//! server goes on), and `join` on it reports it. Use the corio
//! counterparts instead: [`corio::spawn`](crate::spawn) or [`Executor`],
//! [`corio::sleep`](crate::sleep) (blocking) or [`Sleep`] (a future),
//! [`corio::timeout`](crate::timeout), [`net`](crate::net) wrapped in
//! [`Io`], and plain blocking calls where `spawn_blocking` was needed.
//! tokio's runtime-free parts (`tokio::io` traits, `tokio::sync`,
//! tokio-util's codecs) work.
//!
//! # Cost
//!
//! A read or write tries the system call directly; only when it would
//! block does the connection's coro wait, registered in the descriptor's
//! wait list from the `block_on` frame (no waker clone, allocation or
//! atomic per wait: see [`Io`]). hyper's own work is the same as on tokio.

mod io;
mod limits;
mod rt;
mod serve;
mod track;

pub use io::{Io, Stream};
pub use rt::{Executor, Sleep, Timer};
pub use serve::{Http, serve};
