//! The auto traits of corio's public types, pinned (issue 12).
//!
//! Coros never leave their thread; that is what makes `Rc`, `RefCell` and
//! `thread_local!` sound in them. So nothing that names a coro, parks one or
//! is registered with a thread's reactor may reach another thread: each of
//! the types below is neither `Send` nor `Sync`, and each `compile_fail`
//! block here fails to compile for that reason alone (the types that *are*
//! `Send`/`Sync` — `sync::mpmc::Channel`, `RouseCallback`, `fs::File`,
//! `thread::JoinHandle`, `CoroId`, … — are checked in `tests/send_sync.rs`).
//!
//! To move a socket to another thread, take its descriptor out
//! (`into_raw_fd`, or `std::net::TcpStream::from(...)`) and wrap it again
//! there; to talk between threads use
//! [`sync::mpmc::Channel`](crate::sync::mpmc::Channel).

//!
//! `Coro` is not `Send` (a handle to a coro of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::Coro>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::Coro>();
//! ```
//!
//! `JoinHandle<u8>` is not `Send` (a handle to a coro of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::JoinHandle<u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::JoinHandle<u8>>();
//! ```
//!
//! `Generator<u8>` is not `Send` (its stack may hold anything, `Rc`s included):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::Generator<u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::Generator<u8>>();
//! ```
//!
//! `Yielder<u8>` is not `Send` (it belongs to its generator's stack):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::Yielder<u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::Yielder<u8>>();
//! ```
//!
//! `HookGuard` is not `Send` (its hook belongs to its coro):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::HookGuard>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::HookGuard>();
//! ```
//!
//! `Rouse<u8>` is not `Send` (the waiting end parks a coro of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::Rouse<u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::Rouse<u8>>();
//! ```
//!
//! `Semaphore` is not `Send` (its waiters are coros of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::Semaphore>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::Semaphore>();
//! ```
//!
//! `SemaphoreGuard<'static>` is not `Send` (it releases into a semaphore of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::SemaphoreGuard<'static>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::SemaphoreGuard<'static>>();
//! ```
//!
//! `Signal` is not `Send` (its waiters are coros of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::Signal>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::Signal>();
//! ```
//!
//! `Mutex<u8>` is not `Send` (its waiters are coros of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::Mutex<u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::Mutex<u8>>();
//! ```
//!
//! `MutexGuard<'static, u8>` is not `Send` (it unlocks a mutex of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::MutexGuard<'static, u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::MutexGuard<'static, u8>>();
//! ```
//!
//! `RwLock<u8>` is not `Send` (its waiters are coros of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::RwLock<u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::RwLock<u8>>();
//! ```
//!
//! `RwLockReadGuard<'static, u8>` is not `Send` (it unlocks a lock of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::RwLockReadGuard<'static, u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::RwLockReadGuard<'static, u8>>();
//! ```
//!
//! `RwLockWriteGuard<'static, u8>` is not `Send` (it unlocks a lock of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::RwLockWriteGuard<'static, u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::RwLockWriteGuard<'static, u8>>();
//! ```
//!
//! `SemaphoreSet<u8>` is not `Send` (its waiters are coros of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::SemaphoreSet<u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::SemaphoreSet<u8>>();
//! ```
//!
//! `Channel<u8>` is not `Send` (its waiters are coros of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::Channel<u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::Channel<u8>>();
//! ```
//!
//! `TcpListener` is not `Send` (it is registered with this thread's reactor):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::net::TcpListener>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::net::TcpListener>();
//! ```
//!
//! `TcpStream` is not `Send` (it is registered with this thread's reactor):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::net::TcpStream>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::net::TcpStream>();
//! ```
//!
//! `UdpSocket` is not `Send` (it is registered with this thread's reactor):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::net::UdpSocket>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::net::UdpSocket>();
//! ```
//!
//! `UnixListener` is not `Send` (it is registered with this thread's reactor):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::net::UnixListener>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::net::UnixListener>();
//! ```
//!
//! `UnixStream` is not `Send` (it is registered with this thread's reactor):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::net::UnixStream>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::net::UnixStream>();
//! ```
//!
//! `Handle` is not `Send` (it is registered with this thread's reactor):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::io::Handle>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::io::Handle>();
//! ```
//!
//! `Signals` is not `Send` (it is registered with this thread's reactor):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::signal::Signals>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::signal::Signals>();
//! ```
//!
//! `Child` is not `Send` (its exit watch is registered with this thread's reactor):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::process::Child>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::process::Child>();
//! ```
//!
//! `ChildStdin` is not `Send` (it is registered with this thread's reactor):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::process::ChildStdin>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::process::ChildStdin>();
//! ```
//!
//! `ChildStdout` is not `Send` (it is registered with this thread's reactor):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::process::ChildStdout>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::process::ChildStdout>();
//! ```
//!
//! `ChildStderr` is not `Send` (it is registered with this thread's reactor):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::process::ChildStderr>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::process::ChildStderr>();
//! ```
//!
//! `Server` is not `Send` (its listener is registered with this thread's reactor):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::net::Server>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::net::Server>();
//! ```
//!
//! `ServerHandle` is not `Send` (it names the coros of this thread's server):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::net::ServerHandle>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::net::ServerHandle>();
//! ```
//!
//! `Sender<u8>` is not `Send` (its channel parks coros of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::Sender<u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::Sender<u8>>();
//! ```
//!
//! `Receiver<u8>` is not `Send` (its channel parks coros of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::Receiver<u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::Receiver<u8>>();
//! ```
//!
//! `Scope` is not `Send` (its coros are coros of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::Scope<'static, 'static>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::Scope<'static, 'static>>();
//! ```
//!
//! `ScopedJoinHandle<u8>` is not `Send` (a handle to a coro of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::ScopedJoinHandle<'static, u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::ScopedJoinHandle<'static, u8>>();
//! ```
//!
//! `JoinSet<u8>` is not `Send` (its coros are coros of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::JoinSet<u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::JoinSet<u8>>();
//! ```
//!
//! `Pool<u8>` is not `Send` (its waiters are coros of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::Pool<u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::Pool<u8>>();
//! ```
//!
//! `Pooled<u8>` is not `Send` (it returns its item into a pool of this thread):
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corio::sync::Pooled<'static, u8>>();
//! ```
//!
//! nor `Sync`:
//!
//! ```compile_fail
//! fn is_sync<T: Sync>() {}
//! is_sync::<corio::sync::Pooled<'static, u8>>();
//! ```
