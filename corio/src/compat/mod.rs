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
//! # State shared by handlers: axum wants `Send + Sync`
//!
//! axum is written for tokio's work-stealing runtime, where a task may
//! move to another thread at any `.await`. So axum asks that a router's
//! state (`Router::with_state`, `Extension`) be `Clone + Send + Sync +
//! 'static`, and that every handler's future be `Send`. Here a
//! connection's coro never leaves its thread, but axum's bounds are in its
//! types all the same: `Rc`, `Cell`, `RefCell` and corio's own
//! [`sync`](crate::sync) types are not `Send`, so they cannot be axum
//! state, nor be held by a handler across an `.await`:
//!
//! ```compile_fail
//! use std::{cell::Cell, rc::Rc};
//! use axum::{Router, extract::State, routing::get};
//!
//! async fn hit(State(hits): State<Rc<Cell<u64>>>) -> String {
//!     hits.set(hits.get() + 1);
//!     hits.get().to_string()
//! }
//! // error: `Rc<Cell<u64>>` cannot be sent/shared between threads safely
//! let app: Router = Router::new().route("/", get(hit)).with_state(Rc::new(Cell::new(0)));
//! ```
//!
//! `Arc<std::sync::Mutex<_>>` compiles, but a std lock is the wrong tool
//! on coros: held by a handler across a blocking corio call (which parks
//! only its coro), it stays locked while the thread's other coros run, and
//! the next of them to lock it blocks the OS thread, with the holder on
//! it — a lock the thread already holds ["will not return"][std-lock].
//! Two ways that fit one thread:
//!
//! [std-lock]: std::sync::Mutex::lock
//!
//! **`thread_local!` state, with axum.** [`serve`] serves every connection
//! of its listener on the thread that called it, so a thread-local is the
//! state all its handlers share — no lock, no `Arc`, and axum's bounds
//! hold (the handler borrows the value only inside `with`, never across
//! an `.await`). State held while a handler blocks goes in a
//! [`sync::Mutex`](crate::sync::Mutex), which parks the coro that waits
//! for it. With several serving threads
//! ([`net::serve_threads`](crate::net::serve_threads)), each thread has
//! its own copy: per-thread state, as shards.
//!
//! ```
//! use std::cell::Cell;
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use tower_service::Service; // Router::call
//!
//! thread_local! {
//!     static HITS: Cell<u64> = const { Cell::new(0) };
//!     // Held across a blocking call: a corio lock, which parks the coro.
//!     static LOG: corio::sync::Mutex<Vec<u64>> = corio::sync::Mutex::new(Vec::new());
//! }
//!
//! async fn hit() -> String {
//!     let n = HITS.with(|h| {
//!         h.set(h.get() + 1);
//!         h.get()
//!     });
//!     LOG.with(|log| {
//!         let mut log = log.lock();
//!         corio::sleep(Duration::from_millis(1)); // blocks this coro only
//!         log.push(n);
//!     });
//!     format!("hit {n}")
//! }
//!
//! let router = Router::new().route("/", get(hit));
//! let service = hyper::service::service_fn(move |req| router.clone().call(req));
//! let listener = corio::net::TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = corio::spawn(move || corio::compat::serve(listener, service));
//!
//! let clients: Vec<_> = (0..3)
//!     .map(|_| {
//!         corio::spawn(move || {
//!             let mut c = corio::net::TcpStream::connect(addr)?;
//!             c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
//!             let mut rsp = String::new();
//!             c.read_to_string(&mut rsp)?;
//!             Ok::<_, std::io::Error>(rsp)
//!         })
//!     })
//!     .collect();
//! let mut bodies: Vec<String> = clients
//!     .into_iter()
//!     .map(|c| c.join().unwrap().map(|r| r.rsplit("\r\n").next().unwrap().to_owned()))
//!     .collect::<Result<_, _>>()?;
//! bodies.sort();
//! assert_eq!(bodies, ["hit 1", "hit 2", "hit 3"]);
//! assert_eq!(LOG.with(|l| l.lock().len()), 3);
//! server.cancel();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! **hyper's `service_fn`, with `Rc`.** hyper's HTTP/1 server, which
//! [`serve`] and [`Http`] drive, asks neither the service nor its futures
//! to be `Send`. A `service_fn` closure may capture `Rc` state, and its
//! `async` block may hold it — with routing by hand (or any router that
//! does not require `Send`):
//!
//! ```
//! use std::cell::RefCell;
//! use std::collections::HashMap;
//! use std::convert::Infallible;
//! use std::io::{Read, Write};
//! use std::rc::Rc;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper::{Request, Response, body::Incoming, service::service_fn};
//!
//! let hits: Rc<RefCell<HashMap<String, u64>>> = Rc::default();
//! let h = hits.clone();
//! let service = service_fn(move |req: Request<Incoming>| {
//!     let hits = h.clone(); // an Rc in the future: not Send, and fine
//!     async move {
//!         let path = req.uri().path().to_owned();
//!         let n = {
//!             let mut hits = hits.borrow_mut(); // never held across a block
//!             let n = hits.entry(path.clone()).or_default();
//!             *n += 1;
//!             *n
//!         };
//!         corio::sleep(std::time::Duration::from_millis(1));
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!("{path} {n}")))))
//!     }
//! });
//! let listener = corio::net::TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = corio::spawn(move || corio::compat::serve(listener, service));
//!
//! for (path, want) in [("/a", "/a 1"), ("/b", "/b 1"), ("/a", "/a 2")] {
//!     let mut c = corio::net::TcpStream::connect(addr)?;
//!     write!(c, "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
//!     let mut rsp = String::new();
//!     c.read_to_string(&mut rsp)?;
//!     assert!(rsp.ends_with(want), "{rsp}");
//! }
//! assert_eq!(hits.borrow()["/a"], 2);
//! server.cancel();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Cost
//!
//! A read or write tries the system call directly; only when it would
//! block does the connection's coro wait, registered in the descriptor's
//! wait list from the `block_on` frame (no waker clone, allocation or
//! atomic per wait: see [`Io`]). hyper's own work is the same as on tokio.

mod framing;
mod io;
mod limits;
mod rt;
mod serve;
mod track;

pub use io::{Io, Stream};
pub use rt::{Executor, Sleep, Timer};
pub use serve::{Http, serve};
