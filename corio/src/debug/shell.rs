//! The debug shell (Coro::Debug's `new_unix_server`/`new_tcp_server`): a
//! line-oriented shell in coros of the program's own thread, reachable on
//! a unix socket or a loopback TCP port, with `socat readline UNIX:path`
//! or the `corio-debug` client.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::{PsMode, find, ps_with};
use crate::net::{TcpListener, ToSocketAddrs, UnixListener};
use crate::{Coro, CoroId, JoinHandle};

/// Longest command line accepted, in bytes.
const MAX_LINE: usize = 4096;

/// Most sessions open at once: a flood of connections is turned away
/// instead of filling the program's descriptor table.
const MAX_SESSIONS: usize = 64;

/// A command the program added with [`DebugServer::register`].
type Handler = Rc<dyn Fn(&str) -> String>;

struct Shared {
    commands: RefCell<BTreeMap<String, (String, Handler)>>,
    sessions: RefCell<Vec<Coro>>,
}

/// A running debug shell (from [`serve_unix`] or [`serve_tcp`]). Dropping
/// it stops the shell: the listener closes, open sessions end, and the
/// unix socket file is removed (also when dropped while its thread
/// unwinds a panic).
pub struct DebugServer {
    accept: Option<JoinHandle<()>>,
    shared: Rc<Shared>,
    path: Option<PathBuf>,
    addr: Option<std::net::SocketAddr>,
}

impl std::fmt::Debug for DebugServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebugServer")
            .field("path", &self.path)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// The built-in commands and their help lines.
const BUILTINS: &[(&str, &str)] = &[
    ("help", "this list"),
    (
        "ps",
        "ps [w|v]: every coro of the thread (w: wide, v: verbose)",
    ),
    ("bt", "bt <id>: backtrace of a coro"),
    (
        "trace",
        "trace <id>: log every switch into and out of a coro",
    ),
    ("untrace", "untrace <id>: stop tracing a coro"),
    (
        "kill",
        "kill <id> [reason]: throw reason (default \"killed\") into a coro",
    ),
    ("cancel", "cancel <id>: cancel a coro"),
    ("ready", "ready <id>: put a coro in the ready queue"),
    (
        "loglevel",
        "loglevel [0-5]: show or set the log level (0 off .. 5 trace)",
    ),
    ("exit", "end this session"),
];

/// Serves the debug shell on a unix socket at `path`, created with mode
/// 0600 (only this user can connect). A stale socket file left by a dead
/// process is replaced; a live one is an `AddrInUse` error.
///
/// The shell runs in coros of the calling thread: the accept loop, and one
/// coro per session. Its `ps` lists this thread's coros. At most 64
/// sessions are open at once (a connection beyond is told so and closed);
/// a command line is at most 4 KiB (a longer one is answered with an
/// error and ignored).
///
/// # Examples
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// let path = std::env::temp_dir().join(format!("corio-doc-{}.sock", std::process::id()));
/// let shell = corio::debug::serve_unix(&path).unwrap();
/// let conn = corio::net::UnixStream::connect(&path).unwrap();
/// (&conn).write_all(b"exit\n").unwrap();
/// let mut out = String::new();
/// BufReader::new(&conn).read_line(&mut out).unwrap(); // the greeting
/// drop(shell);
/// assert!(!path.exists());
/// ```
///
/// # Errors
/// When the socket cannot be made (bad directory, permissions), or
/// another process serves on `path`.
///
/// # Switching
///
/// Never suspends the current coro.
pub fn serve_unix(path: impl AsRef<Path>) -> io::Result<DebugServer> {
    let path = path.as_ref().to_path_buf();
    let listener = bind_private(&path)?;
    let shared = new_shared();
    let s = shared.clone();
    let name = format!("debug shell {}", path.display());
    let accept = crate::Builder::new().name(name).spawn(move || {
        loop {
            match listener.accept() {
                Ok((conn, _)) => start_session(&s, conn, "unix".into()),
                Err(e) => {
                    crate::warn::warn("corio::debug", format_args!("accept failed: {e}"));
                    crate::sleep(std::time::Duration::from_millis(100));
                }
            }
        }
    })?;
    Ok(DebugServer {
        accept: Some(accept),
        shared,
        path: Some(path),
        addr: None,
    })
}

/// Serves the debug shell on TCP `addr`, which must be a loopback address
/// (`127.0.0.1:port`, `[::1]:port`, `localhost:port`): the shell can
/// cancel coros and throw into them, and asks nobody who they are, so it
/// is not put on the network by accident. [`serve_tcp_insecure`] is the
/// way to do that on purpose.
///
/// # Examples
///
/// ```
/// let shell = corio::debug::serve_tcp("127.0.0.1:0").unwrap();
/// let addr = shell.local_addr().unwrap();
/// assert!(addr.ip().is_loopback());
///
/// let refused = corio::debug::serve_tcp("0.0.0.0:0").unwrap_err();
/// assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
/// ```
///
/// # Errors
/// `PermissionDenied` when `addr` is, or resolves to, an address that is
/// not loopback (`0.0.0.0` and `[::]` included); otherwise when resolving
/// or binding fails.
///
/// # Switching
///
/// Suspends the current coro only while a host name is resolved.
pub fn serve_tcp(addr: impl ToSocketAddrs) -> io::Result<DebugServer> {
    let addrs = addr.resolve()?;
    if let Some(a) = addrs.iter().find(|a| !is_loopback(a.ip())) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "corio::debug::serve_tcp: refusing {a}, which is not a loopback address: \
                 anybody who reaches the shell can cancel and throw into every coro of the \
                 program. Use a loopback address, or serve_tcp_insecure to expose it anyway"
            ),
        ));
    }
    let listener = TcpListener::bind(addrs)?;
    serve_tcp_on(listener)
}

/// Serves the debug shell on TCP `addr`, whatever the address: on
/// `0.0.0.0:port` anybody who can reach the machine gets a shell that
/// cancels, kills and throws into the program's coros, without a password.
/// Only for networks where that is wanted; [`serve_tcp`] refuses anything
/// but loopback. A warning says so on stderr (or through `log`, when a
/// logger is installed) when the address is not loopback.
///
/// # Examples
///
/// ```
/// // On purpose, on every interface:
/// let shell = corio::debug::serve_tcp_insecure("0.0.0.0:0").unwrap();
/// assert!(shell.local_addr().unwrap().ip().is_unspecified());
/// ```
///
/// # Errors
/// When resolving or binding fails.
///
/// # Switching
///
/// Suspends the current coro only while a host name is resolved.
pub fn serve_tcp_insecure(addr: impl ToSocketAddrs) -> io::Result<DebugServer> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    if !is_loopback(local.ip()) {
        crate::warn::warn(
            "corio::debug",
            format_args!(
                "the debug shell listens on {local}, not a loopback address: anybody who \
                 reaches it controls this program's coros"
            ),
        );
    }
    serve_tcp_on(listener)
}

/// Whether `ip` is a loopback address (an IPv4-mapped one included).
fn is_loopback(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn serve_tcp_on(listener: TcpListener) -> io::Result<DebugServer> {
    let local = listener.local_addr()?;
    let shared = new_shared();
    let s = shared.clone();
    let accept = crate::Builder::new()
        .name(format!("debug shell {local}"))
        .spawn(move || {
            loop {
                match listener.accept() {
                    Ok((conn, peer)) => start_session(&s, conn, peer.to_string()),
                    Err(e) => {
                        crate::warn::warn("corio::debug", format_args!("accept failed: {e}"));
                        crate::sleep(std::time::Duration::from_millis(100));
                    }
                }
            }
        })?;
    Ok(DebugServer {
        accept: Some(accept),
        shared,
        path: None,
        addr: Some(local),
    })
}

fn new_shared() -> Rc<Shared> {
    Rc::new(Shared {
        commands: RefCell::new(BTreeMap::new()),
        sessions: RefCell::new(Vec::new()),
    })
}

/// Binds `path` so that only this user can connect: the socket is made in
/// a fresh 0700 directory beside `path`, made 0600, and renamed into place.
fn bind_private(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => {
            use std::os::unix::fs::FileTypeExt;
            if !m.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            // A non-blocking probe: a live listener whose queue is full
            // says WouldBlock at once, where a blocking connect would wait
            // until it accepts (for ever, if it is hung).
            let live = match mio::net::UnixStream::connect(path) {
                Ok(_) => true,
                Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            };
            if live {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("a debug shell already listens on {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = parent.join(format!(
        ".corio-debug-{}-{}",
        std::process::id(),
        crate::current().id()
    ));
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().mode(0o700).create(&tmp)?;
    let inner = tmp.join("sock");
    let bound = (|| {
        let l = UnixListener::bind(&inner)?;
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&inner, path)?;
        Ok(l)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    bound
}

fn start_session<S>(shared: &Rc<Shared>, mut conn: S, peer: String)
where
    S: Read + Write + 'static,
{
    {
        let mut sessions = shared.sessions.borrow_mut();
        sessions.retain(|c| !c.is_done());
        if sessions.len() >= MAX_SESSIONS {
            drop(sessions);
            // A fresh connection takes a line this short without waiting.
            let _ = conn.write_all(
                format!("error: {MAX_SESSIONS} debug sessions are open already; try later\n")
                    .as_bytes(),
            );
            return;
        }
    }
    let s = shared.clone();
    let spawned = crate::Builder::new()
        .name(format!("debug session {peer}"))
        .spawn(move || session(&s, conn));
    match spawned {
        Ok(h) => shared.sessions.borrow_mut().push(h.coro()),
        Err(e) => crate::warn::warn("corio::debug", format_args!("cannot start a session: {e}")),
    }
}

impl DebugServer {
    /// Adds a command: `name args…` answers `handler(args)` (the rest of
    /// the line after the name, trimmed). `help` lists it with `help`.
    ///
    /// # Examples
    ///
    /// ```
    /// let shell = corio::debug::serve_tcp("127.0.0.1:0").unwrap();
    /// shell.register("echo", "echo <text>: says it back", |args| args.to_string()).unwrap();
    /// assert!(shell.register("ps", "mine", |_| String::new()).is_err());
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` when `name` is a built-in command, empty, or has
    /// white space in it.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        handler: impl Fn(&str) -> String + 'static,
    ) -> io::Result<()> {
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad command name {name:?}"),
            ));
        }
        if BUILTINS.iter().any(|(b, _)| *b == name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name} is a built-in command"),
            ));
        }
        self.shared
            .commands
            .borrow_mut()
            .insert(name.to_string(), (help.to_string(), Rc::new(handler)));
        Ok(())
    }

    /// The TCP address served (from [`serve_tcp`]).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.addr
    }

    /// The socket path served (from [`serve_unix`]).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl Drop for DebugServer {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
        if let Some(a) = self.accept.take() {
            a.cancel();
        }
        let sessions = std::mem::take(&mut *self.shared.sessions.borrow_mut());
        let me = crate::current().id();
        for s in sessions {
            // A session dropping its own server ends when it returns.
            if s.id() != me {
                s.cancel();
            }
        }
    }
}

/// One session: greet, then answer lines until `exit` or the end.
fn session(shared: &Shared, mut conn: impl Read + Write) {
    let program = std::env::args()
        .next()
        .map(|a| {
            Path::new(&a)
                .file_name()
                .map_or(a.clone(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "program".into());
    let greeting = format!(
        "corio debug shell for {program} (pid {}); type help for the commands.\n> ",
        std::process::id()
    );
    if conn.write_all(greeting.as_bytes()).is_err() {
        return;
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 1024];
    let mut skipping = false; // inside a line that was too long
    loop {
        // Answer every complete line in the buffer.
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            if std::mem::take(&mut skipping) {
                continue;
            }
            // A long line can arrive whole in one read: the cap is exact.
            let (reply, done) = if nl > MAX_LINE {
                (too_long(), false)
            } else {
                command(shared, String::from_utf8_lossy(&line).trim())
            };
            let mut out = reply;
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            if !done {
                out.push_str("> ");
            }
            if conn.write_all(out.as_bytes()).is_err() || done {
                return;
            }
        }
        if buf.len() > MAX_LINE {
            buf.clear();
            if !skipping {
                skipping = true;
                let msg = format!("{}\n> ", too_long());
                if conn.write_all(msg.as_bytes()).is_err() {
                    return;
                }
            }
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn too_long() -> String {
    format!("error: line longer than {MAX_LINE} bytes, ignored")
}

fn parse_id(arg: Option<&str>) -> Result<Coro, String> {
    let Some(a) = arg else {
        return Err("error: which coro? give its id (see ps)".into());
    };
    let id: CoroId = a
        .parse()
        .map_err(|_| format!("error: {a:?} is not a coro id"))?;
    find(id).ok_or_else(|| format!("error: no coro {id}"))
}

/// Runs one command line; the answer, and whether the session ends.
fn command(shared: &Shared, line: &str) -> (String, bool) {
    let mut words = line.split_whitespace();
    let Some(cmd) = words.next() else {
        return (String::new(), false);
    };
    let rest = line[cmd.len()..].trim();
    let me = crate::current();
    let answer = match cmd {
        "help" => {
            let mut out = String::from("commands:\n");
            for (name, help) in BUILTINS {
                out.push_str(&format!("  {name:<9} {help}\n"));
            }
            for (name, (help, _)) in shared.commands.borrow().iter() {
                out.push_str(&format!("  {name:<9} {help}\n"));
            }
            out
        }
        "ps" => match words.next() {
            None => ps_with(PsMode::Normal),
            Some("w") => ps_with(PsMode::Wide),
            Some("v") => ps_with(PsMode::Verbose),
            Some(other) => format!("error: ps takes w or v, not {other:?}"),
        },
        "bt" => match parse_id(words.next()) {
            Ok(c) if c.id() == me.id() => format!(
                "(coro {} is this session)\n{}",
                c.id(),
                std::backtrace::Backtrace::force_capture()
            ),
            Ok(c) if c.is_new() => format!(
                "coro {} [{}] has not started yet: no frames to show",
                c.id(),
                c.desc()
            ),
            Ok(c) => format!("coro {} [{}]\n{}", c.id(), c.desc(), c.backtrace()),
            Err(e) => e,
        },
        "trace" | "untrace" => match parse_id(words.next()) {
            Ok(c) => {
                super::trace(&c, cmd == "trace");
                format!("{cmd}d coro {}", c.id())
            }
            Err(e) => e,
        },
        "kill" | "cancel" => match parse_id(words.next()) {
            Ok(c) if c.id() == me.id() => "error: that is this session; use exit".into(),
            Ok(c) if cmd == "kill" => {
                let reason = rest
                    .split_once(char::is_whitespace)
                    .map(|(_, r)| r.trim())
                    .filter(|r| !r.is_empty())
                    .unwrap_or("killed")
                    .to_string();
                let id = c.id();
                c.throw(reason.clone());
                format!("threw {reason:?} into coro {id}")
            }
            Ok(c) => {
                let id = c.id();
                c.cancel();
                format!("cancelled coro {id}")
            }
            Err(e) => e,
        },
        "ready" => match parse_id(words.next()) {
            Ok(c) => {
                let queued = c.ready();
                format!(
                    "coro {} {}",
                    c.id(),
                    if queued {
                        "readied"
                    } else {
                        "was ready already (or done)"
                    }
                )
            }
            Err(e) => e,
        },
        "loglevel" => match words.next() {
            None => format!("log level {}", log::max_level()),
            Some(n) => match n.parse::<u8>() {
                Ok(n @ 0..=5) => {
                    let level = [
                        log::LevelFilter::Off,
                        log::LevelFilter::Error,
                        log::LevelFilter::Warn,
                        log::LevelFilter::Info,
                        log::LevelFilter::Debug,
                        log::LevelFilter::Trace,
                    ][n as usize];
                    log::set_max_level(level);
                    format!("log level {level}")
                }
                _ => format!("error: loglevel takes 0 (off) to 5 (trace), not {n:?}"),
            },
        },
        "exit" | "quit" => return ("bye.".into(), true),
        other => {
            let handler = shared.commands.borrow().get(other).map(|(_, h)| h.clone());
            match handler {
                Some(h) => {
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h(rest))) {
                        Ok(out) => out,
                        // A cancel or terminate of this session goes on.
                        Err(p)
                            if p.is::<crate::sched::CancelUnwind>()
                                || p.is::<crate::sched::TerminateUnwind>() =>
                        {
                            std::panic::resume_unwind(p)
                        }
                        Err(_) => format!("error: command {other} panicked"),
                    }
                }
                None => format!("error: unknown command {other:?}; try help"),
            }
        }
    };
    (answer, false)
}
