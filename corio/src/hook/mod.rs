//! Ordinary blocking code in coros: the `hook` feature.
//!
//! corio's own sockets ([`net`](crate::net)) park only the calling coro,
//! and so does every library that takes its stream from the caller
//! (rustls, tungstenite, serde_json). A library that opens its own socket
//! — `std::net` itself, `ureq`, the `redis` and `mysql` clients, C
//! libraries — or calls `std::thread::sleep` would block the whole thread,
//! and every other coro on it. With the `hook` feature, corio defines the
//! C library's blocking entry points itself, in the final executable, so
//! that such a call made in a coro parks only that coro:
//!
//! ```toml
//! corio = { version = "0.1", features = ["hook"] }
//! ```
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::{Duration, Instant};
//!
//! if !corio::hook::active() {
//!     return; // built without the feature: the calls below would block
//! }
//! // A plain std listener and plain std streams, nothing from corio.
//! let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = corio::spawn(move || {
//!     for _ in 0..10 {
//!         let (mut conn, _) = listener.accept().unwrap(); // parks
//!         corio::spawn(move || {
//!             let mut b = [0u8; 1];
//!             conn.read_exact(&mut b).unwrap();
//!             std::thread::sleep(Duration::from_millis(300)); // parks
//!             conn.write_all(&b).unwrap();
//!         });
//!     }
//! });
//! let start = Instant::now();
//! let clients: Vec<_> = (0..10u8)
//!     .map(|i| corio::spawn(move || {
//!         let mut s = std::net::TcpStream::connect(addr).unwrap(); // parks
//!         s.write_all(&[i]).unwrap();
//!         let mut b = [0u8; 1];
//!         s.read_exact(&mut b).unwrap(); // parks
//!         b[0]
//!     }))
//!     .collect();
//! for (i, c) in clients.into_iter().enumerate() {
//!     assert_eq!(c.join().unwrap(), i as u8);
//! }
//! // Ten 300 ms answers at once, on one thread: not one after another
//! // (that would take 3 s).
//! assert!(start.elapsed() < Duration::from_secs(2));
//! server.join().unwrap();
//! ```
//!
//! [`active`] says whether this build has the hooks on.
//!
//! # What is hooked
//!
//! | calls | on a thread with a scheduler, in a coro |
//! |---|---|
//! | `read`, `readv`, `recv`, `recvfrom`, `recvmsg` | park until readable; return on the first data (`MSG_WAITALL`: the whole buffer, for `recv`/`recvfrom` on a stream socket; one datagram on a datagram socket) |
//! | `write`, `send`, `sendto` | park until writable; on a stream socket or pipe, every byte is written before they return (as the kernel does) |
//! | `writev`, `sendmsg`, `sendfile`, `sendfile64`, `splice` | park until writable (readable); return after the first progress |
//! | `connect` | parks until connected, then reports `SO_ERROR` |
//! | `accept`, `accept4` | park until a connection comes |
//! | `poll`, `ppoll`, `select`, `pselect` | park until a descriptor has an event or the timeout passes (a zero timeout passes through) |
//! | `epoll_wait`, `epoll_pwait` | on an epoll descriptor other than the reactor's: park until it has events (see below) |
//! | `nanosleep`, `clock_nanosleep`, `usleep`, `sleep` | sleep on a corio timer (std's `thread::sleep` is `clock_nanosleep`); a zero sleep cedes |
//! | `getaddrinfo` | runs on a resolver thread (16 at most) while the coro waits |
//! | `__read_chk`, `__recv_chk`, `__recvfrom_chk`, `__poll_chk` | what C built with `_FORTIFY_SOURCE` calls instead: checked, then as above |
//! | `socket`, `socketpair`, `accept*`, `pipe`, `pipe2`, `epoll_create*`, `dup`, `dup2`, `dup3`, `fcntl` (`F_GETFL`, `F_SETFL`, `F_DUPFD*`), `ioctl` (`FIONBIO`), `setsockopt` (`SO_RCVTIMEO`, `SO_SNDTIMEO`), `close`, `close_range` | bookkeeping only, on every thread: they never park |
//!
//! How: each descriptor that a hooked call made has a record in a
//! lock-free process-wide table (its kind, the caller's view of
//! `O_NONBLOCK`, its timeouts). The first time a coro would block on one,
//! the descriptor is *adopted*: made non-blocking underneath, registered
//! once (edge-triggered) with the thread's reactor — the same registration
//! corio's own sockets use. From then on a call that gets `EAGAIN` parks
//! the coro until the reactor reports the descriptor ready, then tries
//! again; the caller still sees a blocking descriptor (`F_GETFL` hides
//! the flag).
//!
//! # What passes straight through
//!
//! Everything else behaves exactly as before, at the cost of one table
//! lookup:
//!
//! - calls on threads without a corio scheduler (a hook never creates
//!   one), in a forked child, and from the scheduler loop itself;
//! - regular files, directories and anything epoll refuses (use
//!   [`fs`](crate::fs) for files), descriptors this process did not make
//!   through a hooked call (inherited ones, `stdin`/`stdout`/`stderr`);
//! - descriptors the caller made non-blocking (`SOCK_NONBLOCK`,
//!   `O_NONBLOCK`, `FIONBIO`, and `MSG_DONTWAIT` per call): they still get
//!   `EAGAIN`, so mio, tokio, socket2 and corio's own sockets are not
//!   affected.
//!
//! A descriptor adopted in a coro and then used on a thread without a
//! scheduler still blocks there as the caller expects: the hook waits in
//! `poll` for it, honouring its timeouts.
//!
//! # Semantics kept
//!
//! - `SO_RCVTIMEO`/`SO_SNDTIMEO` (std's `set_read_timeout`,
//!   `set_write_timeout`) are honoured: `EAGAIN` (`WouldBlock`) after that
//!   long, or a short count if some bytes moved; `connect` gives
//!   `EINPROGRESS`.
//! - `errno` is set last, after any park; a successful call leaves it
//!   alone.
//! - A hooked call never returns `EINTR`: a parked coro is not in a system
//!   call, so signals do not interrupt it (use [`timeout`](crate::timeout)
//!   rather than `alarm`). Pass-through calls keep the kernel's `EINTR`.
//! - The main coro parks like any other, and the deadlock detector still
//!   works: a coro parked in a hook waits for a descriptor or a timer, as
//!   one parked in corio's own calls does.
//! - Cancels, throws and timeouts cannot unwind through C: see
//!   [Cancels and timeouts](#cancels-and-timeouts).
//! - `close` of a descriptor that a coro of the same thread waits on wakes
//!   that coro with `EBADF`; a number reused meanwhile is not confused
//!   with the old descriptor.
//!
//! # Cancels and timeouts
//!
//! [`Coro::cancel`](crate::Coro::cancel) (and so [`select!`](crate::select!)
//! losers and a [`scope`](crate::scope) cancelling its coros),
//! [`Coro::throw`](crate::Coro::throw) and [`timeout`](crate::timeout)
//! interrupt a coro by *unwinding* it from the blocking call it waits in.
//! A hooked call cannot be that call: it is entered from C (std's and the
//! crates' `extern "C"` declarations of `recv`, `nanosleep`, ...), and an
//! unwind through a C frame is undefined behaviour (or, through an
//! `extern "C"` Rust function, an abort). So a hooked call that an
//! interrupt reaches returns at once with an error — `ECANCELED`, or
//! `ETIMEDOUT` for a `timeout` — and a hooked sleep ends early (with
//! success); the interrupt stays pending, every later hooked call of that
//! coro fails the same way, and the unwind happens at the coro's next
//! corio call ([`sleep`](crate::sleep), a channel, a corio socket,
//! [`cede`](crate::cede), ...) or at [`checkpoint`](crate::checkpoint).
//!
//! What that means in practice:
//!
//! - Code that returns on errors (`?`) ends promptly: its caller gets
//!   back to corio code and unwinds there.
//! - [`timeout`](crate::timeout) is honest: whenever the deadline passed
//!   before the closure returned, it returns `Err(Timeout)` — also when the
//!   closure returned normally with the library's own error (a `ureq`
//!   `Timeout`, an `io::ErrorKind::TimedOut`) or after a shortened sleep.
//! - Code that carries on after errors — a loop of requests that logs each
//!   failure and goes on — runs to its end after a cancel, each call
//!   failing at once, and whoever waits for the coro (a `select!`, a
//!   `scope`, [`JoinHandle::join`](crate::JoinHandle::join)) waits for
//!   that. Call [`checkpoint`](crate::checkpoint) once per round (it
//!   unwinds when an interrupt is pending) or test
//!   [`interrupted`](crate::interrupted):
//!
//! ```
//! # fn fetch(_url: &str) -> std::io::Result<()> { corio::sleep(std::time::Duration::from_millis(1)); Ok(()) }
//! let urls: Vec<String> = (0..50).map(|i| format!("http://127.0.0.1:1/{i}")).collect();
//! let loser = corio::spawn(move || {
//!     for url in &urls {
//!         corio::checkpoint(); // a pending cancel ends the loop here
//!         if let Err(e) = fetch(url) {
//!             eprintln!("{url}: {e}"); // and go on
//!         }
//!     }
//! });
//! corio::cede();
//! loser.cancel();
//! assert!(loser.join().unwrap_err().is_cancelled());
//! ```
//!
//! Threads without a scheduler, and code outside any coro, are not
//! affected: nothing is cancelled there.
//!
//! # One process, one C library: keep `hook` to the binaries that want it
//!
//! The hooks are symbols (`recv`, `connect`, `poll`, `nanosleep`, ...)
//! that the linker puts in front of the C library's: a binary linked with
//! corio built with `hook` has them for every thread and every library in
//! the process, whether or not its code asked for them. (Outside coros
//! they pass straight through, so such a binary still works; it only pays
//! a table look-up per call.)
//!
//! Cargo unifies features: when one package of a workspace asks for
//! `corio/hook`, `cargo build --workspace` (or any build that selects that
//! package beside others) builds corio *once*, with `hook`, for every
//! binary it builds — sibling binaries that never asked for the feature
//! get the hooks too (`nm -D` shows `recv`, `connect`, `poll`,
//! `clock_nanosleep` defined). To keep the hooks to one binary:
//!
//! - build it alone: `cargo build -p the-hooked-binary` builds only what
//!   that package needs (and the other binaries alone, without it);
//! - or keep the binary that wants `hook` in a package outside the
//!   workspace of the others (its own `[workspace]`), so no build unifies
//!   them;
//! - and check at start-up where it matters:
//!   [`hook::active()`](active) says whether this process has them.
//!
//! # What is not hooked, and why
//!
//! - Calls glibc makes internally (its resolver's sockets and `poll`,
//!   `fclose`, `system`, `posix_spawn`'s child) use internal aliases no
//!   interposer sees. `getaddrinfo` is therefore moved off the thread;
//!   `getnameinfo`, `gethostbyname*` and `res_*` still block it.
//! - Raw system calls (`syscall(2)`, the `rustix` crate's linux-raw
//!   backend, Go-style static code), io_uring, and `vfork` children.
//! - `waitpid`, `flock`, `fcntl` locks, futexes and pthread locks: they
//!   wait for other threads or processes, not for a descriptor.
//! - `recvmmsg`/`sendmmsg`, `msgrcv`, `mq_*`.
//! - Code that is not in the executable: a C library loaded with `dlopen`
//!   binds to the hooks only because the executable exports them (Rust
//!   executables do, see below); corio inside a `cdylib` hooks nothing
//!   for the program that loads it. Statically linked glibc
//!   (`+crt-static`) cannot be hooked and is refused at compile time.
//! - Writes on standard streams (fd 0–2) and on descriptors inherited from
//!   the parent are never adopted: other processes share their `O_NONBLOCK`
//!   flag.
//!
//! How the hooks get there: `corio` defines each name with
//! `#[no_mangle]`. rustc links every exported symbol of the rlib into the
//! executable, and because each name pre-empts a symbol of a shared
//! library (glibc), the linker also exports it in the executable's
//! dynamic symbol table, so shared libraries bind to it too. The C
//! library's own definitions are looked up once, with
//! `dlsym(RTLD_NEXT, ..)`, from a constructor that runs before `main`.
//!
//! # Client libraries
//!
//! Run unmodified, each call parking only its coro, in corio's tests:
//! `std::net` (1,000 clients on one thread) and `std::thread::sleep`
//! (10,000 coros) in `tests/hook_std.rs`; `ureq`'s default agent (128
//! requests at once, and 50 requests of 200 ms, 8 at a time, in ~1.7 s) in
//! `tests/proof_http.rs`; the `redis` crate's
//! synchronous client and the `mysql` crate, 500 coros on one thread each
//! against a real `redis-server` and MariaDB that the tests start
//! (`tests/hook_redis.rs`, `tests/hook_mysql.rs`).
//!
//! The `postgres` crate's synchronous `Client` drives a private tokio
//! runtime: with the `epoll_wait` hook its queries park only their coro
//! (the other coros of the thread keep running; `tests/hook_postgres.rs`),
//! but tokio refuses to enter a second runtime on a thread that is inside
//! one, and a parked query is inside one. So **one** coro per thread at a
//! time may be in a `postgres` call; a second one panics in tokio ("Cannot
//! start a runtime from within a runtime"). Run concurrent `postgres` clients on separate
//! threads ([`thread::spawn`](crate::thread::spawn)), or use
//! `tokio-postgres` through [`block_on`](crate::block_on). While such a
//! query is parked, other tokio code on that thread sees its runtime as
//! the current one. A cancel, throw or `timeout` of a coro waiting in
//! `epoll_wait` takes effect only when the client's call returns (tokio
//! takes any error from `epoll_wait` for a bug and panics, and then
//! panics again in its clients' `Drop`s, which aborts): the hook keeps
//! waiting, and the unwind happens at the coro's next corio call.
//!
//! Connection pools (`mysql::Pool`, `r2d2`) wait for a free connection
//! on a mutex and condition variable, which blocks the thread (futexes are
//! not hooked): share connections through
//! [`corio::sync::Pool`](crate::sync::Pool) instead, whose `get` parks
//! only the coro (`tests/pool.rs`: 500 coros sharing 10 `redis`
//! connections against a real `redis-server`), or give every coro its own
//! connection.
//!
//! Per-thread state of C libraries is shared by all coros of the thread:
//! a library that keeps a connection or a buffer in a thread-local and
//! blocks while using it must not be used from two coros of one thread at
//! once.
//!
//! Signal handlers: one that calls a hooked function on a descriptor a
//! coro adopted, or sleeps, while the thread has a scheduler, would park
//! the interrupted coro from inside the handler. Handlers should only
//! write to non-blocking descriptors (the self-pipe trick), as usual.
//!
//! # Without the feature
//!
//! A library with a pluggable transport can be given one that waits with
//! [`io::readable`](crate::io::readable)/[`io::writable`](crate::io::writable).
//! For `ureq` (3.x) it is this connector; everything above the transport
//! — requests, responses, bodies, pooling — is ureq's, unmodified:
//!
//! ```
//! use std::io::{self, Read, Write};
//! use std::os::fd::AsFd;
//! use ureq::unversioned::transport::{
//!     Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
//! };
//!
//! /// Connects ureq through corio: the coro waits, not the thread.
//! #[derive(Debug, Default)]
//! struct CorioConnector;
//!
//! /// A std stream in non-blocking mode (ureq wants `Send + Sync`, which
//! /// corio's own sockets are not) whose waits are corio's.
//! #[derive(Debug)]
//! struct CorioTransport {
//!     stream: std::net::TcpStream,
//!     buffers: LazyBuffers,
//! }
//!
//! /// Runs `wait` under ureq's timeout for this step, if it has one.
//! fn within(t: NextTimeout, wait: impl FnOnce() -> io::Result<()>) -> Result<(), ureq::Error> {
//!     match t.not_zero() {
//!         Some(d) => match corio::timeout(*d, wait) {
//!             Ok(r) => Ok(r?),
//!             Err(_) => Err(ureq::Error::Timeout(t.reason)),
//!         },
//!         None => Ok(wait()?),
//!     }
//! }
//!
//! impl Connector<()> for CorioConnector {
//!     type Out = CorioTransport;
//!
//!     fn connect(
//!         &self,
//!         details: &ConnectionDetails,
//!         _chained: Option<()>,
//!     ) -> Result<Option<CorioTransport>, ureq::Error> {
//!         let addrs: Vec<_> = details.addrs.iter().copied().collect();
//!         // corio's connect parks this coro, not the thread.
//!         let stream = corio::net::TcpStream::connect(&addrs[..])?.into_std()?;
//!         stream.set_nonblocking(true)?;
//!         stream.set_nodelay(true)?;
//!         let c = &details.config;
//!         let buffers = LazyBuffers::new(c.input_buffer_size(), c.output_buffer_size());
//!         Ok(Some(CorioTransport { stream, buffers }))
//!     }
//! }
//!
//! impl Transport for CorioTransport {
//!     fn buffers(&mut self) -> &mut dyn Buffers {
//!         &mut self.buffers
//!     }
//!
//!     fn transmit_output(&mut self, amount: usize, t: NextTimeout) -> Result<(), ureq::Error> {
//!         let mut out = &self.buffers.output()[..amount];
//!         while !out.is_empty() {
//!             match self.stream.write(out) {
//!                 Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
//!                 Ok(n) => out = &out[n..],
//!                 Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
//!                     within(t, || corio::io::writable(self.stream.as_fd()))?
//!                 }
//!                 Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
//!                 Err(e) => return Err(e.into()),
//!             }
//!         }
//!         Ok(())
//!     }
//!
//!     fn await_input(&mut self, t: NextTimeout) -> Result<bool, ureq::Error> {
//!         loop {
//!             match self.stream.read(self.buffers.input_append_buf()) {
//!                 Ok(n) => {
//!                     self.buffers.input_appended(n);
//!                     return Ok(n > 0);
//!                 }
//!                 Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
//!                     within(t, || corio::io::readable(self.stream.as_fd()))?
//!                 }
//!                 Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
//!                 Err(e) => return Err(e.into()),
//!             }
//!         }
//!     }
//!
//!     fn is_open(&mut self) -> bool {
//!         // Open if nothing is waiting to be read (no close, no garbage).
//!         let mut probe = [0u8; 1];
//!         matches!(self.stream.peek(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
//!     }
//! }
//!
//! let agent = ureq::Agent::with_parts(
//!     ureq::Agent::config_builder().build(),
//!     CorioConnector,
//!     ureq::unversioned::resolver::DefaultResolver::default(),
//! );
//! # // A server whose every answer takes 300 ms.
//! # let listener = corio::net::TcpListener::bind("127.0.0.1:0")?;
//! # let addr = listener.local_addr()?;
//! # let server = corio::spawn(move || {
//! #     corio::net::serve_on(listener, |conn| {
//! #         let mut buf = Vec::new();
//! #         let mut chunk = [0u8; 1024];
//! #         while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
//! #             match (&conn).read(&mut chunk) {
//! #                 Ok(0) | Err(_) => return,
//! #                 Ok(n) => buf.extend_from_slice(&chunk[..n]),
//! #             }
//! #         }
//! #         corio::sleep(std::time::Duration::from_millis(300));
//! #         let _ = (&conn).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
//! #     })
//! # });
//! // Eight requests to a server that takes 300 ms for each answer.
//! let start = std::time::Instant::now();
//! let requests: Vec<_> = (0..8)
//!     .map(|i| {
//!         let agent = agent.clone();
//!         corio::spawn(move || {
//!             agent.get(format!("http://{addr}/{i}")).call().unwrap().body_mut().read_to_string().unwrap()
//!         })
//!     })
//!     .collect();
//! for r in requests {
//!     assert_eq!(r.join().unwrap(), "ok");
//! }
//! assert!(start.elapsed() < std::time::Duration::from_secs(2)); // at once, not in 2.4 s
//! # server.coro().cancel();
//! # Ok::<(), std::io::Error>(())
//! ```

#[cfg(all(feature = "hook", not(all(target_os = "linux", target_env = "gnu"))))]
compile_error!("corio's `hook` feature needs Linux with glibc");

#[cfg(all(feature = "hook", target_feature = "crt-static"))]
compile_error!(
    "corio's `hook` feature cannot work with a statically linked C library (+crt-static): \
     glibc's own definitions could not be found and nothing would be interposed"
);

#[cfg(feature = "hook")]
mod dns;
#[cfg(feature = "hook")]
mod fd;
#[cfg(feature = "hook")]
mod io;
#[cfg(feature = "hook")]
mod park;
#[cfg(feature = "hook")]
mod poll;
#[cfg(feature = "hook")]
mod real;
#[cfg(feature = "hook")]
mod sleep;
#[cfg(feature = "hook")]
mod table;

/// Whether the hooks are on: corio was built with the `hook` feature, and
/// the C library's names resolve to corio's definitions in this process
/// (checked once, with `dlsym`, for a few of them).
///
/// # Examples
///
/// ```
/// assert_eq!(corio::hook::active(), cfg!(feature = "hook"));
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn active() -> bool {
    #[cfg(feature = "hook")]
    {
        static ACTIVE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *ACTIVE.get_or_init(|| {
            let ours: [(&std::ffi::CStr, usize); 4] = [
                (c"recv", io::recv as *const () as usize),
                (c"connect", io::connect as *const () as usize),
                (c"poll", poll::poll as *const () as usize),
                (
                    c"clock_nanosleep",
                    sleep::clock_nanosleep as *const () as usize,
                ),
            ];
            ours.iter().all(|(name, addr)| {
                // SAFETY: a NUL-terminated name; RTLD_DEFAULT searches the
                // global scope, the executable first.
                let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
                p as usize == *addr
            }) && INITIALIZED.load(std::sync::atomic::Ordering::Acquire)
        })
    }
    #[cfg(not(feature = "hook"))]
    {
        false
    }
}

/// Set by the constructor.
#[cfg(feature = "hook")]
static INITIALIZED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs before `main` (and before any thread of the program exists):
/// resolves the C library's definitions, and marks forked children.
#[cfg(feature = "hook")]
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = init;

#[cfg(feature = "hook")]
extern "C" fn init() {
    real::resolve_all();
    extern "C" fn child() {
        park::FORKED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    // SAFETY: registers a handler that only stores to an atomic.
    unsafe { libc::pthread_atfork(None, None, Some(child)) };
    let _ = crate::sched::reactor::RELEASE_FD.set(park::release);
    INITIALIZED.store(true, std::sync::atomic::Ordering::Release);
}
