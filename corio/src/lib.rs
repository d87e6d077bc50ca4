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
//! the panic is printed by the panic hook as usual. [`Coro::cancel`] unwinds
//! the victim's stack where it waits, running every `Drop` in the victim's
//! own context; then its [`Coro::on_destroy`] callbacks run (last
//! registered first), then its joiners wake; `cancel` returns after all
//! that. [`Coro::throw`] makes the target's current or next blocking call
//! panic with a payload of your choice. [`terminate`] ends the current coro
//! from any depth with a value.
//!
//! When every coro of a thread is blocked and nothing could ever wake one,
//! the blocked call of the main coro panics with `deadlock detected` and a
//! [`debug::ps`] listing that shows where each coro waits. When a thread
//! exits, its remaining coros are cancelled (their `Drop`s run).
//!
//! `cancel`, `throw` and `terminate` work by unwinding, like panics: they
//! need the default `panic = "unwind"`. Built with `panic = "abort"`, a
//! panicking or cancelled coro aborts the process.
//!
//! # Waiting for each other, and for time
//!
//! The [`sync`] module has Coro's primitives: [`sync::Semaphore`],
//! [`sync::Signal`], [`sync::Mutex`], [`sync::RwLock`],
//! [`sync::SemaphoreSet`] and [`sync::Channel`]. They block the current
//! coro, never the thread; waiters are served first come first served; a
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
//! # Seeing what the coros do
//!
//! [`debug::ps`] lists every coro of the thread with its state, stack use,
//! switches, CPU time, what it waits on (which semaphore, channel, lock and
//! its holder, descriptor, timer or coro) and where (`file:line`); below
//! the rows, coros waiting on each other in a cycle, and coros nothing can
//! wake any more. The deadlock report is that listing. [`Coro::backtrace`]
//! takes a backtrace on a parked coro's own stack; [`debug::trace`] logs a
//! coro's switches; [`debug::monitor`] warns when a coro keeps the CPU too
//! long without switching.
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

mod coro;
pub mod debug;
pub mod fs;
mod future;
mod generator;
pub mod hook;
mod hooks;
pub mod io;
mod local;
pub mod multicore;
pub mod net;
mod rouse;
mod sched;
pub mod stack;
pub mod sync;
mod sys;
pub mod thread;
pub mod time;

pub use coro::{
    Builder, Coro, CoroId, JoinError, JoinHandle, PRIO_HIGH, PRIO_IDLE, PRIO_LOW, PRIO_MAX,
    PRIO_MIN, PRIO_NORMAL, cede, cede_notself, current, killall, nready, schedule, spawn,
    terminate, unblock,
};
pub use future::block_on;
pub use generator::{Generator, GeneratorState, Yielder};
pub use hooks::{HookGuard, on_enter, on_leave};
pub use local::CoroLocal;
pub use rouse::{Rouse, RouseCallback, rouse};
pub use time::{Elapsed, sleep, sleep_until, timeout};
