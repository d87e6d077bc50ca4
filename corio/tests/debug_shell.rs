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

    let before = log::max_level();
    assert_eq!(c.ask("loglevel 3"), "log level INFO\n");
    assert_eq!(log::max_level(), log::LevelFilter::Info);
    assert!(c.ask("loglevel 9").starts_with("error:"));
    log::set_max_level(before);

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
