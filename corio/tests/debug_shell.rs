//! The debug shell, end to end over real sockets: the shell's coros and
//! the client coros share the test's thread.

mod util;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use corio::net::{TcpStream, UnixStream};

/// A client session: sends lines, reads answers up to the next prompt.
struct Client<S> {
    conn: S,
}

impl<S> Client<S>
where
    for<'a> &'a S: Read + Write,
{
    /// Reads up to and without the next prompt.
    fn answer(&self) -> String {
        let mut out = Vec::new();
        let mut byte = [0u8; 4096];
        while !out.ends_with(b"> ") {
            let n = (&self.conn).read(&mut byte).expect("read");
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&out));
            out.extend_from_slice(&byte[..n]);
        }
        out.truncate(out.len() - 2);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn ask(&self, line: &str) -> String {
        (&self.conn)
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
        self.answer()
    }

    /// Everything until the server closes.
    fn rest(&self) -> String {
        let mut out = String::new();
        let _ = (&self.conn).read_to_string(&mut out);
        out
    }
}

fn sock_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("corio-shell-{name}-{}.sock", std::process::id()))
}

fn unix_client(path: &PathBuf) -> Client<UnixStream> {
    let conn = UnixStream::connect(path).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    Client { conn }
}

#[inline(never)]
fn parked_in_shell_test() {
    corio::schedule();
}

#[test]
fn a_unix_session_runs_every_command() {
    let path = sock_path("all");
    let shell = corio::debug::serve_unix(&path).unwrap();
    shell
        .register("echo", "echo <text>: says it back", |args| {
            format!("echo: {args}")
        })
        .unwrap();
    // Only this user may connect.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let sleeper = corio::Builder::new()
        .name("sleeper")
        .spawn(parked_in_shell_test)
        .unwrap();
    let victim = corio::Builder::new()
        .name("victim")
        .spawn(|| corio::sleep(Duration::from_secs(60)))
        .unwrap();
    let target = corio::Builder::new()
        .name("target")
        .spawn(|| corio::sleep(Duration::from_secs(60)))
        .unwrap();
    corio::cede();

    let c = unix_client(&path);
    let greeting = c.answer();
    assert!(greeting.starts_with("corio debug shell for"), "{greeting}");
    assert!(greeting.contains(&format!("pid {}", std::process::id())));

    let help = c.ask("help");
    for cmd in [
        "help", "ps", "bt", "trace", "untrace", "kill", "cancel", "ready", "loglevel", "exit",
        "echo",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(cmd)),
            "{cmd} missing:\n{help}"
        );
    }
    assert_eq!(c.ask("echo hello there"), "echo: hello there\n");

    let ps = c.ask("ps");
    let row = ps
        .lines()
        .find(|l| l.contains("sleeper"))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(row.contains("schedule"), "{row}");
    assert!(ps.lines().any(|l| l.contains("debug session")), "{ps}");
    assert!(c.ask("ps w").contains("victim"));
    assert!(c.ask("ps v").contains("debug_shell.rs:"));
    assert!(c.ask("ps x").starts_with("error:"));

    let bt = c.ask(&format!("bt {}", sleeper.coro().id()));
    assert!(bt.contains("parked_in_shell_test"), "{bt}");

    assert_eq!(
        c.ask(&format!("trace {}", target.coro().id())),
        format!("traced coro {}\n", target.coro().id())
    );
    assert_eq!(
        c.ask(&format!("untrace {}", target.coro().id())),
        format!("untraced coro {}\n", target.coro().id())
    );

    let level = level_lock();
    let before = log::max_level();
    assert_eq!(c.ask("loglevel 3"), "log level INFO\n");
    assert_eq!(log::max_level(), log::LevelFilter::Info);
    assert!(c.ask("loglevel 9").starts_with("error:"));
    log::set_max_level(before);
    drop(level);

    // Errors, and the session goes on.
    assert!(c.ask("frobnicate").starts_with("error: unknown command"));
    assert!(c.ask("bt").starts_with("error:"));
    assert!(c.ask("bt banana").starts_with("error:"));
    assert_eq!(c.ask("cancel 999999999"), "error: no coro 999999999\n");

    assert_eq!(
        c.ask(&format!("ready {}", sleeper.coro().id())),
        format!("coro {} readied\n", sleeper.coro().id())
    );
    assert!(
        c.ask(&format!("cancel {}", victim.coro().id()))
            .starts_with("cancelled")
    );
    assert!(victim.join().unwrap_err().is_cancelled());
    assert!(
        c.ask(&format!("kill {} why not", target.coro().id()))
            .starts_with("threw")
    );
    let err = target.join().unwrap_err();
    assert_eq!(err.panic_message(), Some("why not"));
    sleeper.join().unwrap();

    (&c.conn).write_all(b"exit\n").unwrap();
    assert_eq!(c.rest(), "bye.\n");
    drop(shell);
    assert!(!path.exists(), "the socket file was not removed");
}

#[test]
fn a_tcp_session_on_loopback() {
    let shell = corio::debug::serve_tcp("127.0.0.1:0").unwrap();
    let addr = shell.local_addr().unwrap();
    let conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let c = Client { conn };
    c.answer();
    assert!(c.ask("ps").contains("[main]"));
    (&c.conn).write_all(b"exit\n").unwrap();
    assert_eq!(c.rest(), "bye.\n");
}

#[test]
fn serve_tcp_refuses_what_is_not_loopback() {
    for addr in ["0.0.0.0:0", "[::]:0", "192.0.2.1:0", "[::ffff:10.0.0.1]:0"] {
        let err = corio::debug::serve_tcp(addr).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{addr}");
        let msg = err.to_string();
        assert!(msg.contains("not a loopback address"), "{msg}");
        assert!(msg.contains("serve_tcp_insecure"), "{msg}");
    }
    // Loopback in all its spellings is fine.
    for addr in ["127.0.0.1:0", "127.5.6.7:0", "localhost:0"] {
        let shell = corio::debug::serve_tcp(addr).unwrap();
        assert!(shell.local_addr().unwrap().ip().is_loopback(), "{addr}");
    }
    if let Ok(shell) = corio::debug::serve_tcp("[::1]:0") {
        assert!(shell.local_addr().unwrap().ip().is_loopback());
    } // (a machine without IPv6 cannot bind it at all)
}

#[test]
fn serve_tcp_insecure_serves_any_address_and_says_so() {
    if util::child_role().as_deref() == Some("insecure") {
        // No logger is installed here: the warning goes to stderr.
        let shell = corio::debug::serve_tcp_insecure("0.0.0.0:0").unwrap();
        let port = shell.local_addr().unwrap().port();
        assert!(shell.local_addr().unwrap().ip().is_unspecified());
        // Reachable (here through loopback).
        let conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let c = Client { conn };
        c.answer();
        assert!(c.ask("ps").contains("[main]"));
        // On loopback it has nothing to warn about.
        let quiet = corio::debug::serve_tcp_insecure("127.0.0.1:0").unwrap();
        drop(quiet);
        println!("INSECURE OK");
        return;
    }
    let out = util::run_child(
        "serve_tcp_insecure_serves_any_address_and_says_so",
        "insecure",
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("INSECURE OK"), "{stdout}\n{stderr}");
    assert_eq!(
        stderr
            .matches("corio::debug: warning: the debug shell listens on 0.0.0.0:")
            .count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

#[test]
fn bad_clients_disturb_nobody() {
    let path = sock_path("bad");
    let _shell = corio::debug::serve_unix(&path).unwrap();
    // Disconnects in the middle of a command.
    {
        let c = unix_client(&path);
        c.answer();
        (&c.conn).write_all(b"ps w").unwrap();
    }
    // A megabyte without a newline, then a command.
    let c = unix_client(&path);
    c.answer();
    let junk = vec![b'x'; 1 << 20];
    let writer = {
        let conn = c.conn.try_clone().unwrap();
        corio::spawn(move || {
            (&conn).write_all(&junk).unwrap();
            (&conn).write_all(b"\nhelp\n").unwrap();
        })
    };
    let first = c.answer();
    assert!(first.starts_with("error: line longer than"), "{first}");
    // The rest of the long line is skipped; the next command is answered.
    let next = c.answer();
    assert!(next.starts_with("commands:"), "{next}");
    writer.join().unwrap();
    // Invalid UTF-8 is an unknown command, not a crash.
    assert!(
        c.ask("\u{fffd}\u{fffd}")
            .starts_with("error: unknown command")
    );
    (&c.conn).write_all(&[0xff, 0xfe, b'\n']).unwrap();
    assert!(c.answer().starts_with("error: unknown command"));
    // Another session is served as usual.
    let d = unix_client(&path);
    d.answer();
    assert!(d.ask("ps").contains("debug session"));
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_refused() {
    let path = sock_path("stale");
    // A socket file nobody listens on any more.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let shell = corio::debug::serve_unix(&path).unwrap();
    let err = corio::debug::serve_unix(&path).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    drop(shell);
    assert!(!path.exists());
    // Not a socket: left alone.
    std::fs::write(&path, b"precious").unwrap();
    let err = corio::debug::serve_unix(&path).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_live_socket_with_a_full_queue_is_refused_without_blocking() {
    use std::os::fd::AsRawFd;
    let path = sock_path("busy");
    // A listener that never accepts, its queue filled: a blocking connect
    // to it would wait until somebody accepts, i.e. for ever.
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut queued = Vec::new();
    loop {
        // SAFETY: socket(2) has no memory preconditions.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
        assert!(fd >= 0);
        // SAFETY: just made, owned by nobody else.
        let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
        for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        // SAFETY: `addr` is a valid sockaddr_un of the given size.
        let r = unsafe {
            libc::connect(
                sock.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )
        };
        if r != 0 {
            assert_eq!(
                std::io::Error::last_os_error().raw_os_error(),
                Some(libc::EAGAIN)
            );
            break;
        }
        queued.push(sock);
        assert!(queued.len() < 100_000, "the queue never filled");
    }
    // On a thread of its own: a blocked thread cannot be timed out from
    // inside.
    let (tx, rx) = std::sync::mpsc::channel();
    let p = path.clone();
    std::thread::spawn(move || {
        let _ = tx.send(corio::debug::serve_unix(&p).map(drop));
    });
    let err = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("serve_unix blocked on a listener with a full queue")
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(path.exists(), "a live listener's socket was removed");
    drop((queued, listener));
    std::fs::remove_file(&path).unwrap();
}

/// Records what `trace` logs (target `corio::trace`), for every thread of
/// this test process; tests look only for their own coro's lines.
struct TraceCapture(std::sync::Mutex<Vec<String>>);

impl log::Log for TraceCapture {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target() == "corio::trace"
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata())
            && let Ok(mut v) = self.0.lock()
        {
            v.push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

/// Held by tests that set or need a log level (tests run in parallel).
static LEVEL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn level_lock() -> std::sync::MutexGuard<'static, ()> {
    LEVEL.lock().unwrap_or_else(|e| e.into_inner())
}

static TRACES: TraceCapture = TraceCapture(std::sync::Mutex::new(Vec::new()));

fn traced_lines(desc: &str) -> Vec<String> {
    TRACES
        .0
        .lock()
        .map(|v| v.iter().filter(|l| l.contains(desc)).cloned().collect())
        .unwrap_or_default()
}

#[test]
fn trace_logs_switches_until_untrace() {
    // Only this test installs a logger; the level lock keeps `loglevel`
    // in another test from lowering the level meanwhile.
    let _level = level_lock();
    let _ = log::set_logger(&TRACES);
    log::set_max_level(log::LevelFilter::Trace);
    let path = sock_path("trace");
    let _shell = corio::debug::serve_unix(&path).unwrap();
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let t = ticks.clone();
    let ticker = corio::Builder::new()
        .name("traced ticker")
        .spawn(move || {
            loop {
                t.set(t.get() + 1);
                corio::sleep(Duration::from_millis(1));
            }
        })
        .unwrap();
    let id = ticker.coro().id();
    let c = unix_client(&path);
    c.answer();
    assert!(traced_lines("traced ticker").is_empty());
    assert_eq!(c.ask(&format!("trace {id}")), format!("traced coro {id}\n"));
    let seen = ticks.get();
    corio::timeout(Duration::from_secs(20), || {
        while ticks.get() < seen + 3 {
            corio::sleep(Duration::from_millis(2));
        }
    })
    .expect("the ticker stopped");
    let lines = traced_lines("traced ticker");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("coro {id} switched in"))),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("switched out")),
        "{lines:?}"
    );
    assert_eq!(
        c.ask(&format!("untrace {id}")),
        format!("untraced coro {id}\n")
    );
    let after = traced_lines("traced ticker").len();
    let seen = ticks.get();
    corio::timeout(Duration::from_secs(20), || {
        while ticks.get() < seen + 3 {
            corio::sleep(Duration::from_millis(2));
        }
    })
    .expect("the ticker stopped");
    assert_eq!(traced_lines("traced ticker").len(), after);
    ticker.coro().cancel();
    assert!(ticker.join().unwrap_err().is_cancelled());
}

#[test]
fn kill_defaults_to_killed_and_self_is_refused() {
    let path = sock_path("kill");
    let _shell = corio::debug::serve_unix(&path).unwrap();
    let target = corio::Builder::new()
        .name("to be killed")
        .spawn(|| corio::sleep(Duration::from_secs(60)))
        .unwrap();
    let c = unix_client(&path);
    c.answer();
    let ps = c.ask("ps");
    let own = id_of(&ps, "debug session");
    // The session's own coro: answered, not deadlocked or killed.
    let bt = c.ask(&format!("bt {own}"));
    assert!(bt.contains("this session"), "{bt}");
    assert!(c.ask(&format!("kill {own}")).starts_with("error:"));
    assert!(c.ask(&format!("cancel {own}")).starts_with("error:"));
    assert!(c.ask("kill").starts_with("error:"));
    assert!(
        c.ask(&format!("kill {}", target.coro().id()))
            .contains("\"killed\"")
    );
    let err = target.join().unwrap_err();
    assert_eq!(err.panic_message(), Some("killed"));
    // A finished coro is no longer found.
    assert!(
        c.ask(&format!("bt {}", id_of(&ps, "to be killed")))
            .starts_with("error: no coro")
    );
}

/// The id in the first ps row that mentions `desc`.
fn id_of(ps: &str, desc: &str) -> String {
    ps.lines()
        .find(|l| l.contains(desc))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{desc} not in\n{ps}"))
        .to_string()
}

#[test]
fn dropping_the_server_ends_its_sessions() {
    let path = sock_path("drop");
    let shell = corio::debug::serve_unix(&path).unwrap();
    let c = unix_client(&path);
    c.answer();
    let d = unix_client(&path);
    d.answer();
    assert!(c.ask("ps").contains("debug session"));
    // `d` is in the middle of a line when the server goes.
    (&d.conn).write_all(b"ps").unwrap();
    drop(shell);
    assert!(!path.exists());
    // Both sessions close their end: the clients read EOF, not a timeout.
    assert_eq!(c.rest(), "");
    assert_eq!(d.rest(), "");
    assert!(UnixStream::connect(&path).is_err());
    // Nothing of the shell is left in this thread.
    assert!(
        !corio::debug::ps().contains("debug s"),
        "{}",
        corio::debug::ps()
    );
}

#[test]
fn a_client_that_stops_reading_blocks_only_its_session() {
    let path = sock_path("stall");
    let _shell = corio::debug::serve_unix(&path).unwrap();
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let t = ticks.clone();
    let ticker = corio::spawn(move || {
        loop {
            t.set(t.get() + 1);
            corio::sleep(Duration::from_millis(1));
        }
    });
    // Floods commands whose answers it never reads.
    let stalled = UnixStream::connect(&path).unwrap();
    let flood = {
        let conn = stalled.try_clone().unwrap();
        corio::spawn(move || {
            let line = b"ps v\n".repeat(1000);
            for _ in 0..1000 {
                if (&conn).write_all(&line).is_err() {
                    break;
                }
            }
        })
    };
    // The program and other sessions go on.
    let seen = ticks.get();
    let c = unix_client(&path);
    c.answer();
    assert!(c.ask("ps").contains("debug session"));
    corio::timeout(Duration::from_secs(20), || {
        while ticks.get() < seen + 20 {
            corio::sleep(Duration::from_millis(2));
        }
    })
    .expect("the program stalled");
    // The stuck session holds a bounded amount: its writer is parked too.
    assert!(!flood.coro().is_done());
    drop(stalled);
    flood.coro().cancel();
    let _ = flood.join();
    ticker.coro().cancel();
    let _ = ticker.join();
}

#[test]
fn a_never_started_coro_has_no_backtrace_but_an_answer() {
    let path = sock_path("new");
    let _shell = corio::debug::serve_unix(&path).unwrap();
    let h = corio::Builder::new()
        .name("sleeping beauty")
        .spawn_suspended(|| 7)
        .unwrap();
    let c = unix_client(&path);
    c.answer();
    let bt = c.ask(&format!("bt {}", h.coro().id()));
    assert_eq!(
        bt,
        format!(
            "coro {} [sleeping beauty] has not started yet: no frames to show\n",
            h.coro().id()
        )
    );
    assert_eq!(
        c.ask(&format!("ready {}", h.coro().id())),
        format!("coro {} readied\n", h.coro().id())
    );
    assert_eq!(h.join().unwrap(), 7);
}

#[test]
fn the_line_cap_is_exact() {
    let path = sock_path("cap");
    let _shell = corio::debug::serve_unix(&path).unwrap();
    let c = unix_client(&path);
    c.answer();
    // 4096 bytes: a (long, unknown) command; 4097: too long. Sent whole,
    // after a partial line, so the shell sees them in one piece or more.
    let longest = "x".repeat(4096);
    assert!(c.ask(&longest).starts_with("error: unknown command"));
    assert!(
        c.ask(&format!("{longest}y"))
            .starts_with("error: line longer than 4096")
    );
    (&c.conn).write_all(&vec![b'z'; 3000]).unwrap();
    corio::sleep(Duration::from_millis(20));
    assert!(
        c.ask(&"z".repeat(1200))
            .starts_with("error: line longer than 4096")
    );
    assert!(c.ask("help").starts_with("commands:"));
}

/// A panic that unwinds through the `DebugServer` while a session is open
/// must fail the thread, not hang it.
#[test]
fn a_panic_with_a_session_open_unwinds() {
    let path = sock_path("panic");
    let p = path.clone();
    let t = std::thread::spawn(move || {
        let _shell = corio::debug::serve_unix(&p).unwrap();
        let c = unix_client(&p);
        c.answer();
        panic!("boom with a session open");
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !t.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "the panicking thread hangs"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(t.join().is_err());
    assert!(!path.exists(), "the socket file was not removed");
}

#[test]
fn at_most_64_sessions_at_once() {
    let path = sock_path("many");
    let _shell = corio::debug::serve_unix(&path).unwrap();
    let open: Vec<_> = (0..64)
        .map(|_| {
            let c = unix_client(&path);
            c.answer(); // greeted: a session
            c
        })
        .collect();
    let turned_away = unix_client(&path);
    assert_eq!(
        turned_away.rest(),
        "error: 64 debug sessions are open already; try later\n"
    );
    // One leaves, the next one gets in.
    let mut open = open;
    let one = open.pop().unwrap();
    (&one.conn).write_all(b"exit\n").unwrap();
    assert_eq!(one.rest(), "bye.\n");
    corio::cede(); // the session coro ends
    let next = unix_client(&path);
    assert!(next.answer().starts_with("corio debug shell"));
}
