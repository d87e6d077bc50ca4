//! corio is Perl's [Coro] for Rust: cheap **stackful** cooperative threads
//! ("coros") with a priority scheduler.
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//!
//! // Coros share data without locks: only one runs at a time, and it only
//! // gives up the CPU where it says so.
//! let log = Rc::new(RefCell::new(Vec::new()));
//!
//! let l = log.clone();
//! let pong = corio::spawn(move || {
//!     for i in 0..3 {
//!         l.borrow_mut().push(format!("pong {i}"));
//!         corio::cede();
//!     }
//! });
//! for i in 0..3 {
//!     log.borrow_mut().push(format!("ping {i}"));
//!     corio::cede(); // let the other coro run
//! }
//! pong.join().unwrap();
//! assert_eq!(log.borrow()[..4], ["ping 0", "pong 0", "ping 1", "pong 1"]);
//! ```
//!
//! # Why stackful
//!
//! A coro has a real stack, so it can give up the CPU anywhere, deep inside
//! ordinary code: a recursive solver, a parser, any `std::io::Read` user.
//! Nothing is coloured `async`. Coros never move between OS threads, so
//! `Rc`, `RefCell` and `thread_local!` stay sound in them.
//!
//! # Threads of control
//!
//! Every OS thread gets a scheduler on first use; the thread's own stack is
//! its *main coro*, which can [`cede`], block and be readied like any other
//! (no `run()` wrapper needed). [`spawn`] (Perl's `async`) queues a new coro
//! without running it. [`cede`] passes the CPU to the next ready coro of the
//! same or higher priority; [`schedule`] sleeps until somebody calls
//! [`Coro::ready`]. [`JoinHandle::join`] blocks the current coro (not the
//! thread) until another one ends.
//!
//! Eight priorities, [`PRIO_MIN`] (-4) to [`PRIO_MAX`] (3), are strict: the
//! scheduler always runs the highest-priority ready coro, first come first
//! served within a priority, and `cede` never yields to a lower priority
//! (use [`cede_notself`] for that).
//!
//! # Endings
//!
//! A panic ends only its own coro: `join` gets [`JoinError::Panicked`], and
//! the panic is printed by the panic hook as usual, after a line that
//! names the coro (`corio: the panic below is in coro 7 (conn
//! 127.0.0.1:50312)`): Rust's own message names only the OS thread, which
//! all its coros share. [`Coro::cancel`] unwinds
//! the victim's stack where it waits, running every `Drop` in the victim's
//! own context; then its [`Coro::on_destroy`] callbacks run (last
//! registered first), then its joiners wake; `cancel` returns after all
//! that. [`Coro::throw`] makes the target's current or next blocking call
//! panic with a payload of your choice. [`terminate`] ends the current coro
//! from any depth with a value. A throw or cancel that unwinds a thread's
//! main coro is reported through the panic hook, like a panic: if nothing
//! catches it, `main` ends as with an uncaught panic (exit code 101).
//!
//! When every coro of a thread is blocked and nothing could ever wake one,
//! the blocked call of the main coro panics with `deadlock detected` and a
//! [`debug::ps`] listing that shows where each coro waits. A
//! [`thread::spawn`] thread ends when its coros have; when a plain thread
//! (or `main`) returns with coros still parked, they are abandoned, not
//! unwound (see [Soundness](#soundness)): call [`killall`] first to have
//! their `Drop`s run.
//!
//! `cancel`, `throw`, `terminate` and an expiring `timeout` work by
//! unwinding, like panics: they need the default `panic = "unwind"`. Built
//! with `panic = "abort"`, each prints one line naming the coro, the call
//! and the reason, and the process aborts.
//!
//! # Waiting for each other, and for time
//!
//! The [`sync`] module has Coro's primitives: [`sync::Semaphore`],
//! [`sync::Signal`], [`sync::Mutex`], [`sync::RwLock`],
//! [`sync::SemaphoreSet`] and [`sync::Channel`], and [`sync::Pool`] for
//! connections that coros share. They block the current coro, never the
//! thread; waiters are served first come first served; a
//! cancelled waiter leaves the queue and passes on any wake-up it had
//! received. [`rouse`] turns a callback API into a blocking call, and its
//! callback may be called from any OS thread.
//!
//! [`sleep`], [`sleep_until`] and [`timeout`] need no event loop: the
//! scheduler keeps a timer heap and sleeps the thread when nothing is
//! ready. [`timeout`] interrupts whatever blocking call the closure is in
//! when time runs out.
//!
//! ```
//! use corio::sync::Channel;
//! use std::time::Duration;
//!
//! let jobs = Channel::bounded(4);
//! let rx = jobs.clone();
//! let worker = corio::spawn(move || rx.iter().map(|n: u64| n * n).sum::<u64>());
//! for n in 1..=10 {
//!     jobs.put(n).unwrap(); // waits while 4 are queued
//! }
//! jobs.shutdown();
//! assert_eq!(worker.join().unwrap(), 385);
//!
//! // Nothing will ever come: give up after 5 ms.
//! let never = Channel::<()>::new();
//! assert!(corio::timeout(Duration::from_millis(5), || never.get()).is_err());
//! ```
//!
//! # Scoped coros, and Go's select
//!
//! [`scope`] is [`std::thread::scope`] for coros: the coros it spawns may
//! borrow from the caller's stack (no `Rc`, no `'static`, no `Send`), and
//! it returns only when every one of them ended — cancelling the rest
//! first if the caller is cancelled or a coro panics. [`select!`] races
//! blocking calls of any kind, each in a coro of its own: the first to
//! return wins, the others are cancelled before they can complete (a
//! losing `get` takes nothing, a losing `put` gives nothing), and the
//! winner's arm runs in the caller; `timeout(d) =>` and `default =>` arms
//! are Go's `time.After` and `default`. [`JoinSet`] holds a changing set
//! of coros and joins them in the order they end.
//!
//! ```
//! use corio::sync::Channel;
//! use std::time::Duration;
//!
//! let (results, quit) = (Channel::new(), Channel::<()>::new());
//! let mut seen = Vec::new();
//! corio::scope(|s| {
//!     s.spawn(|| {
//!         for n in 1..=3 {
//!             results.put(n * 10).unwrap();
//!         }
//!     });
//!     loop {
//!         corio::select! {
//!             v = results.get() => seen.push(v.unwrap()),
//!             _ = quit.get() => break,
//!             timeout(Duration::from_millis(20)) => break,
//!         }
//!     }
//! });
//! assert_eq!(seen, [10, 20, 30]);
//! ```
//!
//! # The network, and any descriptor
//!
//! [`net`] has std's sockets again — [`net::TcpListener`],
//! [`net::TcpStream`], [`net::UdpSocket`], [`net::UnixListener`],
//! [`net::UnixStream`] — with std's method names, but a call that would
//! block parks only the calling coro. So any library written against
//! `std::io::Read`/`Write` serves thousands of connections on one thread
//! as written. Each scheduler has one `mio` reactor, polled (with the
//! nearest timer as its timeout) only when no coro is ready.
//! [`net::serve`] is a TCP server in one line, a coro per connection;
//! [`net::Server`] adds a connection cap, an idle timeout and a graceful
//! shutdown ([`net::ServerHandle::drain`]);
//! [`io::Handle`] does the same for any pollable descriptor (a pipe, a
//! tty, a child's output), and [`io::stdin`]/[`io::stdout`] for the
//! standard streams.
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use corio::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = corio::spawn(move || {
//!     corio::net::serve_on(listener, |conn| {
//!         let mut line = String::new();
//!         BufReader::new(&conn).read_line(&mut line).unwrap();
//!         (&conn).write_all(line.to_uppercase().as_bytes()).unwrap();
//!     })
//! });
//! let conn = TcpStream::connect(addr)?;
//! (&conn).write_all(b"hello\n")?;
//! let mut reply = String::new();
//! BufReader::new(&conn).read_line(&mut reply)?;
//! assert_eq!(reply, "HELLO\n");
//! server.coro().cancel();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Signals and child processes
//!
//! [`signal::Signals`] waits for the operating system's signals
//! (`SIGTERM`, `SIGINT`, `SIGHUP`, …) parking only the coro, and
//! [`signal::ctrl_c`] for one `SIGINT`. Not to be confused with
//! [`sync::Signal`], Perl's `Coro::Signal`: a condition variable between
//! coros. [`process::Command`] is `std::process::Command` whose
//! [`wait`](process::Child::wait), [`output`](process::Command::output)
//! and pipes park only the coro (through a pidfd where the kernel has
//! one).
//!
//! # Code that opens its own sockets
//!
//! With the `hook` feature (off by default), [`hook`] takes over the C
//! library's blocking socket, pipe, poll and sleep functions, so that
//! `std::net`, `std::thread::sleep`, `ureq`, the `redis` and `mysql`
//! clients — any code that blocks on its own descriptors — park only the
//! calling coro on a thread with a scheduler. Everywhere else they pass
//! straight through. [`hook::active`] says whether they are on.
//!
//! # Files
//!
//! [`fs`] has `std::fs`'s functions and [`fs::File`]; a call that waits
//! for the disk parks only its coro — through io_uring where the kernel
//! allows it, through worker threads otherwise.
//!
//! # Other cores, and async Rust
//!
//! Coros never leave their thread, but every thread can host a scheduler:
//! [`thread::spawn`] starts one whose closure is its main coro, and whose
//! `join` parks only the joining coro. [`sync::mpmc::Channel`] is the
//! `Send` channel between them: its `put`/`get` park coros, not threads,
//! on both sides. [`net::serve_threads`] serves one port from N threads
//! through `SO_REUSEPORT`. [`multicore::run`] sends a closure to a worker
//! pool and parks only the caller (Coro::Multicore). [`block_on`] waits
//! for any `Future` inside a coro, and a [`JoinHandle`] is a `Future`.
//!
//! With the `compat` feature (off by default), `compat` runs the async
//! ecosystem — hyper's server and client, axum, tokio-util's codecs — on
//! corio's reactor and timers, with no tokio runtime, and serves hyper
//! services a coro per connection; their async handlers may call blocking
//! corio functions.
//!
//! # What may switch
//!
//! Only one coro of a thread runs at a time, and it gives up the CPU only
//! inside the calls below; between two of them, no other coro of the
//! thread runs. Every public function says the same in its `# Switching`
//! section. A `RefCell` borrow, a `&mut` into shared state or a
//! half-finished invariant that is still held when one of these calls
//! returns may have been seen by other coros meanwhile (the usual symptom:
//! `already borrowed` panics in another coro, named in the message).
//!
//! | Where | Calls that may suspend the current coro |
//! |---|---|
//! | scheduling | [`cede`], [`cede_notself`], [`schedule`], [`JoinHandle::join`], [`Coro::cancel`] and [`JoinHandle::cancel`] (while the victim unwinds), [`killall`], [`terminate`] (never returns), [`block_on`], [`Rouse::wait`], [`thread::JoinHandle::join`], [`JoinSet::join_next`], [`JoinSet::cancel_all`] and the drop of a [`JoinSet`] |
//! | time | [`sleep`], [`sleep_until`], [`timeout`] (whatever its closure calls) |
//! | [`sync`] | `down`, `down_timeout`, `wait`, `guard` of [`sync::Semaphore`] and [`sync::SemaphoreSet`]; [`sync::Signal::wait`]/`wait_timeout`; [`sync::Mutex::lock`]; [`sync::RwLock::read`]/`write`; `put`, `get`, `get_timeout` and iteration of [`sync::Channel`], [`sync::Sender`], [`sync::Receiver`] and [`sync::mpmc::Channel`]; [`sync::Pool::get`], `get_timeout` (and `try_get`, while its `make` runs) |
//! | [`net`] | `connect`, `accept`, `incoming`, every read, write, `send`, `recv`, `peek`, `readable`, `writable` of the sockets; `bind` and `connect` given a host name (it is resolved on a worker), [`net::lookup_host`]; [`net::serve`] and friends (for as long as they serve); [`net::ServerHandle::shutdown`] and [`net::ServerHandle::drain`] |
//! | [`io`] | reads, writes, `readable` and `writable` of [`io::Handle`]; [`io::readable`], [`io::writable`] |
//! | [`fs`] | every function and every [`fs::File`] method that touches the file |
//! | [`process`] | [`process::Child::wait`], `wait_with_output`, [`process::Command::output`] and `status`; reads and writes of the child's pipes |
//! | [`signal`] | [`signal::Signals::wait`], `wait_timeout`, iteration, [`signal::ctrl_c`] |
//! | other cores | [`multicore::run`] |
//!
//! Never switching: [`spawn`] and [`Builder::spawn`] (the new coro waits
//! in the ready queue), [`Coro::ready`], [`Coro::throw`], everything
//! named `try_*`, `send`/`broadcast`/`up`/`shutdown` of the primitives,
//! [`Generator::resume`] (the generator runs on its own stack but in the
//! current coro; a blocking call inside it parks the current coro), and
//! everything that only reads or sets state. A [`Generator`]'s `yield_`
//! switches back to whoever resumed it, not to another coro.
//!
//! # Seeing what the coros do
//!
//! [`debug::ps`] lists every coro of the thread with its state, stack use,
//! switches, CPU time, what it waits on (which semaphore, channel, lock and
//! its holder, descriptor, timer or coro) and where (`file:line`); below
//! the rows, coros waiting on each other in a cycle, and coros nothing can
//! wake any more. The deadlock report is that listing. [`Coro::backtrace`]
//! takes a backtrace on a parked coro's own stack; [`debug::trace`] logs a
//! coro's switches; [`debug::monitor`] warns when a coro keeps the CPU too
//! long without switching. The debug shell ([`debug::serve_unix`],
//! [`debug::serve_tcp`]) serves all that to `socat` or `corio-debug`; on
//! TCP only on loopback, unless asked by name
//! ([`debug::serve_tcp_insecure`]).
//!
//! corio's own warnings — the monitor's, an accept loop out of descriptors
//! — go through the `log` facade when the program installed a logger, and
//! to stderr otherwise, at most one line of a kind every five seconds.
//!
//! # Tracing
//!
//! With the `tracing` feature (off by default),
//! [`tracing`](https://docs.rs/tracing) spans follow coros: a span entered
//! in a coro is current only while that coro runs, with any subscriber
//! (`tracing-subscriber`'s `fmt`, a `Registry` with layers,
//! OpenTelemetry). At every switch the outgoing coro's entered spans are
//! exited and kept with it, and the incoming coro's entered again, so
//! `#[instrument]`ed functions keep their span across every blocking call,
//! and events of other coros and of the scheduler land in their own spans.
//! Generators keep their own spans the same way; a `select!` branch runs
//! in its caller's span; [`multicore::run`] runs its closure in the
//! caller's span. Two coros, each logging inside its own `request` span
//! while the main coro logs outside any:
//!
//! ```
//! # #[cfg(feature = "tracing")] {
//! use std::io::Write;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use tracing::{info, info_span};
//!
//! // Keep what `fmt` writes, to show it below.
//! #[derive(Clone, Default)]
//! struct Out(Arc<Mutex<Vec<u8>>>);
//! impl Write for Out {
//!     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
//!         self.0.lock().unwrap().write(b)
//!     }
//!     fn flush(&mut self) -> std::io::Result<()> {
//!         Ok(())
//!     }
//! }
//! let out = Out::default();
//! let w = out.clone();
//! let subscriber = tracing_subscriber::fmt()
//!     .with_writer(move || w.clone())
//!     .without_time()
//!     .with_target(false)
//!     .finish();
//!
//! tracing::subscriber::with_default(subscriber, || {
//!     let requests: Vec<_> = (0..2)
//!         .map(|id| {
//!             corio::spawn(move || {
//!                 let _span = info_span!("request", id).entered();
//!                 info!("start");
//!                 corio::sleep(Duration::from_millis(1)); // parks this coro
//!                 info!("end");
//!             })
//!         })
//!         .collect();
//!     corio::cede();
//!     info!("main: outside any request");
//!     for r in requests {
//!         r.join().unwrap();
//!     }
//! });
//! let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
//! assert_eq!(
//!     text,
//!     " INFO request{id=0}: start
//!  INFO request{id=1}: start
//!  INFO main: outside any request
//!  INFO request{id=0}: end
//!  INFO request{id=1}: end
//! "
//! );
//! # }
//! ```
//!
//! Every coro is also instrumented the way tokio instruments its tasks: a
//! `runtime.spawn` span (target `tokio::task`, level TRACE, fields `kind`,
//! `task.name` — the coro's name —, `task.id`, `loc.file`, `loc.line`,
//! `loc.col` — where it was spawned), entered while the coro runs and
//! closed when it ends, and `tokio::task::waker` events when it parks and
//! is readied. So the unmodified `console-subscriber` crate, and the
//! `tokio-console` program reading it, show corio's coros with their
//! names, spawn locations, busy and idle times and switch counts (the
//! *Polls* column), and the primitives (a [`sync::Semaphore`], a
//! [`sync::Mutex`], ...), sleeps and sockets that coros wait on as
//! resources, with their waits. `console-subscriber` refuses to start unless the
//! program is built with `RUSTFLAGS="--cfg console_without_tokio_unstable"`
//! (or `tokio_unstable`); the README shows how to watch the `chat` example.
//!
//! Without the feature nothing of this is compiled. With it, until a
//! subscriber is registered in the process a switch pays nothing more;
//! after that, with no span entered, it tests one atomic and a pointer. Limits: a
//! subscriber that does not track the current span (its `current_span`
//! says "unknown") cannot be asked what a coro entered, so only the task
//! span follows the coro; set the subscriber globally, or per thread before
//! its coros run (a scoped default set inside a coro is seen by every coro
//! of the thread while it lasts); never park a coro inside subscriber code
//! (a `fmt` writer that blocks on a corio socket).
//!
//! # Generators and coro-local state
//!
//! [`Generator`] is a stackful generator that needs no scheduler: yield from
//! any depth of recursion, receive a value back. [`coro_local!`] is the
//! `thread_local!` of coros. [`on_enter`] and [`on_leave`] run hooks when the
//! current coro is switched in and out.
//!
//! # Stacks
//!
//! Each coro has its own stack ([`stack::DEFAULT_STACK_SIZE`], 256 KiB of
//! address space) with a guard page below it; a parked coro that did not go
//! deep costs one resident page. Stacks come from big shared mappings and
//! are reused through a per-thread pool, so spawning makes no system call
//! once the pool is warm. A stack overflow aborts the process with a report
//! naming the coro; it never corrupts memory. See the [`stack`] module.
//!
//! # Platform
//!
//! Linux only (x86-64 and aarch64): corio uses epoll through `mio`,
//! `madvise` guard pages, pidfds, io_uring and `/proc`.
//!
//! # Features
//!
//! `io-uring` and `debug-shell` are on by default; turn them off with
//! `default-features = false` when a program does not want them.
//! `compat`, `hook` and `tracing` are off by default.
//!
//! - **`io-uring`**: [`fs`] waits for the disk through io_uring where the
//!   kernel allows it (Linux ≥ 5.6, not disabled by
//!   `kernel.io_uring_disabled` or seccomp), and on worker threads
//!   otherwise. Without the feature, always on worker threads, and the
//!   `io-uring` crate is not built.
//! - **`debug-shell`**: `debug::serve_unix` and `debug::serve_tcp`, the
//!   interactive shell (`ps`, `bt`, `kill`, ... over a socket) that the
//!   `corio-debug` client talks to. Without it, [`debug::ps`],
//!   `Coro::backtrace`, [`debug::trace`] and [`debug::monitor`] are still
//!   there; only the socket server is gone.
//! - **`compat`** (off by default): `corio::compat` — corio sockets as tokio,
//!   futures and hyper I/O (`compat::Io`), hyper's executor and timer on
//!   coros, and `compat::serve` for hyper and axum services whose
//!   handlers may call blocking corio functions. Pulls in `hyper` and
//!   `tokio`'s I/O traits (no tokio runtime).
//! - **`hook`** (off by default): [`hook`] — corio defines the C
//!   library's blocking socket, pipe, poll and sleep calls, so plain
//!   blocking code (`std::net`, `std::thread::sleep`, `ureq`, `redis`,
//!   `mysql`) parks only its coro. It changes the C library for the whole
//!   process, and Cargo's feature unification can turn it on in sibling
//!   binaries of a workspace: see the [`hook`] docs, also for what a
//!   cancel or timeout means to hooked code.
//! - **`tracing`** (off by default): spans follow coros, and tokio-console
//!   sees them: see [Tracing](#tracing).
//!
//! ```toml
//! [dependencies]
//! corio = { version = "0.1", default-features = false } # none of them
//! corio = { version = "0.1", features = ["compat", "hook", "tracing"] } # all five
//! ```
//!
//! # Soundness
//!
//! No sequence of safe calls is undefined behaviour — through generators,
//! `mem::forget`, thread exit, panics in `Drop`, cancels and timeouts at any
//! point. The unsafe code (context switches, intrusive wait lists, raw
//! pointers to control blocks in queues and timers) rests on these rules,
//! each kept by construction, not by convention:
//!
//! 1. **Coros never leave their thread.** Everything that names a coro,
//!    parks one or is registered with a thread's reactor is neither `Send`
//!    nor `Sync` (pinned by `compile_fail` tests); other threads reach a
//!    scheduler only through its cross-thread queue, which is closed when
//!    the scheduler goes. So `Rc`, `RefCell` and `thread_local!` are sound
//!    in coros.
//! 2. **A pointer to a coro lives no longer than the call that made it.**
//!    A coro's control block is reference counted; the raw pointers to it
//!    in the ready queue, wait lists, timers and reactor exist only while
//!    it is parked inside the blocking call that put them there, and that
//!    call removes them on every way out — return, panic, cancel, throw,
//!    timeout.
//! 3. **A frame bound to its coro stays in its coro.** [`CoroLocal::with`]
//!    hands out a reference into the coro's locals and [`timeout`] arms a
//!    timer naming the coro. Such frames hold a bind, and a [`Generator`]
//!    cannot yield while one taken inside it is active
//!    ([`Yielder::yield_`] panics): otherwise the generator could carry the
//!    frame to another coro, or past its coro's end, and resume or drop it
//!    there. Outside those calls, a generator may yield anywhere and be
//!    resumed by any coro of its thread; only the coro running it may
//!    yield it (a scoped coro that borrowed its `&Yielder` cannot).
//! 4. **No user code runs in the scheduler loop, nor as a finished coro.**
//!    Everything a coro leaves behind as it ends — coro-locals, hooks,
//!    `on_destroy` callbacks, a thrown payload, a waker — is dropped or run
//!    while it is still the live, running coro, round after round until
//!    nothing is left; a panic there is reported, not propagated.
//! 5. **A stack is reused only after its coroutine returned, and never
//!    unmapped.** Overflow hits a guard page and aborts with a report,
//!    on any thread (each gets an alternate signal stack for the reporter).
//! 6. **A coro that could read freed memory is never resumed.** At a
//!    plain thread's exit, thread-local values of user code may already be
//!    gone (thread-local destructors run in reverse order of registration),
//!    and a parked coro may borrow one in a frame; so every coro that ran
//!    is *abandoned*: never resumed, its stack and control block leaked,
//!    its joiners told it was cancelled. Coros that never ran only hold
//!    `'static` closures, which are dropped. Call [`killall`] before a
//!    thread returns, or use [`thread::spawn`] (which cancels what its
//!    closure leaves while every thread-local is alive), to have their
//!    `Drop`s run. A coro whose cleanup blocks forever is abandoned the
//!    same way.
//! 7. **A scope outlives its coros.** [`scope`] and [`select!`] lend their
//!    caller's stack to coros; they return or unwind only after every one
//!    of those coros ended (for `select!`: after every call it started
//!    finished), whatever happens to the caller meanwhile — they keep
//!    their own handles, so nothing depends on a handle's `Drop`. In the
//!    one case that cannot be waited out — the main coro's deadlock report
//!    would unwind the frame while a coro of it is blocked in cleanup that
//!    nothing can ever wake — that coro is abandoned first, as in rule 6.
//!
//! What this means in practice:
//! - `mem::forget` of a guard keeps its lock or unit taken (as with std);
//!   of a [`JoinHandle`] detaches the coro; of a [`Generator`] leaks its
//!   stack. No corio type relies on its `Drop` running for memory safety.
//! - A panic ends its coro; a panic in a `Drop` during a cancel's unwind is
//!   reported; a `throw` or an expired `timeout` aimed at a coro that is
//!   unwinding (blocked in a `Drop`) waits until the unwind is over, rather
//!   than panicking inside the destructor (which would abort).
//! - corio's functions are not async-signal-safe: do not call them from a
//!   signal handler; wait for the signal with [`signal::Signals`] instead.
//!
//! # Names from Perl's Coro
//!
//! | Perl Coro | corio |
//! |---|---|
//! | `async { … }` | [`spawn`], [`Builder::spawn`] |
//! | `new Coro \&sub` | [`Builder::spawn_suspended`] |
//! | `cede`, `Coro::cede_notself`, `schedule` | [`cede`], [`cede_notself`], [`schedule`] |
//! | `$Coro::current` | [`current`] |
//! | `$coro->ready`, `->cancel`, `->throw`, `->join`, `->on_destroy` | [`Coro::ready`], [`Coro::cancel`], [`Coro::throw`], [`JoinHandle::join`], [`Coro::on_destroy`] |
//! | `->prio`, `->nice`, `->desc` | [`Coro::prio`]/[`Coro::set_prio`], [`Coro::nice`], [`Coro::desc`]/[`Coro::set_desc`] |
//! | `terminate`, `killall`, `Coro::nready` | [`terminate`], [`killall`], [`nready`] |
//! | `Coro::on_enter`, `Coro::on_leave` | [`on_enter`], [`on_leave`] (return guards) |
//! | `unblock_sub` | [`unblock`] |
//! | `Coro::State` | [`Generator`] |
//! | `Coro::Specific` | [`coro_local!`] |
//! | `Coro::Debug::ps`, `trace` | [`debug::ps`], [`debug::trace`] |
//! | `Coro::Multicore` | [`multicore::run`], [`thread::spawn`], [`sync::mpmc`] |
//! | `Coro::AIO` | [`fs`] |
//! | `Coro::AnyEvent`'s condvars | [`block_on`] |
//! | `Coro::Semaphore`, `Coro::Signal`, `Coro::RWLock`, `Coro::SemaphoreSet`, `Coro::Channel` | [`sync::Semaphore`] (and [`sync::Mutex`]), [`sync::Signal`], [`sync::RwLock`], [`sync::SemaphoreSet`], [`sync::Channel`] |
//! | `rouse_cb`, `rouse_wait` | [`rouse`] ([`RouseCallback`], [`Rouse::wait`]) |
//! | `Coro::AnyEvent::sleep`, `Coro::Timer::timeout` | [`sleep`], [`timeout`] |
//! | `Coro::Socket`, `Coro::Handle` | [`net`]'s sockets, [`io::Handle`] |
//! | `Coro::AnyEvent::readable`/`writable` | [`io::readable`], [`io::writable`] |
//!
//! Deliberate differences: a panic ends its coro, not the process;
//! `killall` spares the main coro; a waiter that is cancelled leaves its
//! wait queue; a suspended coro never loses an activation.
//!
//! [Coro]: https://metacpan.org/pod/Coro

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[cfg(doctest)]
mod auto_traits;
#[cfg(feature = "compat")]
pub mod compat;
mod coro;
pub mod debug;
pub mod fs;
mod future;
mod generator;
pub mod hook;
pub mod io;
mod joinset;
mod local;
pub mod multicore;
pub mod net;
pub mod process;
mod rouse;
mod sched;
mod scope;
pub mod signal;
#[cfg(feature = "tracing")]
mod spans;
pub mod stack;
pub mod sync;
mod sys;
pub mod thread;
pub mod time;
mod warn;

pub use coro::{
    Builder, Coro, CoroId, JoinError, JoinHandle, PRIO_HIGH, PRIO_IDLE, PRIO_LOW, PRIO_MAX,
    PRIO_MIN, PRIO_NORMAL, cede, cede_notself, checkpoint, current, interrupted, killall, nready,
    schedule, spawn, terminate, unblock,
};
pub use future::block_on;
pub use generator::{Generator, GeneratorState, Yielder};
pub use joinset::JoinSet;
pub use local::CoroLocal;
pub use rouse::{Rouse, RouseCallback, rouse};
pub use sched::hooks::{HookGuard, on_enter, on_leave};
#[doc(hidden)]
pub use scope::__private;
pub use scope::{Scope, ScopedJoinHandle, scope};
pub use time::{Elapsed, Timeout, sleep, sleep_until, timeout};
