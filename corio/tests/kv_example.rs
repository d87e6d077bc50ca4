//! The `kv` example: its protocol, its idle timeout, and its graceful
//! shutdown on SIGTERM (open clients get their answers, silent ones are
//! cut off after the grace, the process exits 0).

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `kv` and the address it printed.
struct Kv {
    child: Option<Child>,
    addr: SocketAddr,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Kv {
    fn start(idle_secs: &str, grace_secs: &str) -> Kv {
        let mut child = Command::new(util::example("kv"))
            .args(["127.0.0.1:0", idle_secs, grace_secs])
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the kv example");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .strip_prefix("kv listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .trim()
            .parse()
            .unwrap();
        Kv {
            child: Some(child),
            addr,
            stdout,
        }
    }

    fn connect(&self) -> Client {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    fn sigterm(&self) {
        let pid = self.child.as_ref().unwrap().id() as i32;
        // SAFETY: kill has no preconditions; the child is ours and alive.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }

    /// Waits for the exit; the rest of stdout, stderr and the status.
    fn finish(mut self) -> (String, String, std::process::ExitStatus) {
        let child = self.child.take().unwrap();
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        // stdout was taken above; this drains stderr.
        let out = util::wait_within(child, util::CHILD_LIMIT);
        (
            rest,
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status,
        )
    }
}

impl Drop for Kv {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    fn ask(&mut self, cmd: &str) -> String {
        self.w.write_all(format!("{cmd}\n").as_bytes()).unwrap();
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        line
    }

    /// Whether the server closed the connection (end of stream).
    fn closed(&mut self) -> bool {
        let mut buf = [0; 16];
        matches!(self.r.read(&mut buf), Ok(0) | Err(_))
    }
}

#[test]
fn the_protocol() {
    let kv = Kv::start("60", "5");
    let mut a = kv.connect();
    let mut b = kv.connect();
    assert_eq!(a.ask("SET greeting hello world"), "OK\n");
    assert_eq!(b.ask("GET greeting"), "VALUE hello world\n");
    assert_eq!(b.ask("get missing"), "NOT_FOUND\n");
    assert_eq!(a.ask("SET b 2"), "OK\n");
    assert_eq!(a.ask("KEYS"), "KEYS b greeting\n");
    assert_eq!(a.ask("DEL b"), "DELETED\n");
    assert_eq!(a.ask("DEL b"), "NOT_FOUND\n");
    assert_eq!(a.ask("SET"), "ERR usage: SET key value\n");
    assert_eq!(a.ask("FLY away"), "ERR unknown command: FLY\n");
    // Too long a line ends the connection with an error.
    let mut c = kv.connect();
    c.w.write_all(&vec![b'x'; 70_000]).unwrap();
    let mut line = String::new();
    c.r.read_line(&mut line).unwrap();
    assert_eq!(line, "ERR line too long\n");
    assert!(c.closed());
    assert_eq!(b.ask("QUIT"), "BYE\n");
    assert!(b.closed());
    // The others go on.
    assert_eq!(a.ask("GET greeting"), "VALUE hello world\n");
}

#[test]
fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let kv = Kv::start("1", "5");
    let mut silent = kv.connect();
    let mut talker = kv.connect();
    let start = Instant::now();
    // The talker is never silent for long, and talks for longer than the
    // idle timeout in all.
    for i in 0..5 {
        assert_eq!(talker.ask(&format!("SET k{i} v")), "OK\n");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(silent.closed());
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert_eq!(talker.ask("KEYS"), "KEYS k0 k1 k2 k3 k4\n");
}

#[test]
fn sigterm_lets_open_clients_finish_and_exits_zero() {
    let kv = Kv::start("60", "2");
    let mut a = kv.connect();
    let mut b = kv.connect();
    let mut silent = kv.connect();
    assert_eq!(a.ask("SET x 1"), "OK\n");
    assert_eq!(b.ask("GET x"), "VALUE 1\n");
    assert_eq!(silent.ask("SET quiet yes"), "OK\n");

    kv.sigterm();
    // Once the listener is closed, the server is draining.
    let start = Instant::now();
    while TcpStream::connect(kv.addr).is_ok() {
        assert!(start.elapsed() < Duration::from_secs(60), "still accepting");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Open clients still get answers; after one, their connection closes.
    assert_eq!(a.ask("GET x"), "VALUE 1\n");
    assert!(a.closed());
    assert_eq!(b.ask("SET y 2"), "OK\n");
    assert!(b.closed());
    // The silent one is cut off when the grace is over.
    assert!(silent.closed());

    let (stdout, stderr, status) = kv.finish();
    assert!(status.success(), "{status:?}\n{stderr}");
    assert_eq!(status.code(), Some(0));
    assert_eq!(stdout, "kv stopped; 1 connections cut off\n", "{stderr}");
    assert!(stderr.contains("signal 15"), "{stderr}");
}

#[test]
fn a_trickled_command_is_cut_at_the_idle_timeout_however_it_trickles() {
    let kv = Kv::start("1", "5");
    let mut c = kv.connect();
    let start = Instant::now();
    // A byte every 200 ms, never a newline: each read is quick, the
    // command never ends.
    let mut cut = None;
    while start.elapsed() < Duration::from_secs(10) {
        if c.w.write_all(b"x").is_err() {
            cut = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        c.r.get_ref().set_nonblocking(true).unwrap();
        let mut b = [0u8; 16];
        let closed = matches!(c.r.get_mut().read(&mut b), Ok(0));
        c.r.get_ref().set_nonblocking(false).unwrap();
        if closed {
            cut = Some(start.elapsed());
            break;
        }
    }
    let cut = cut.expect("the trickle was never cut");
    assert!(cut >= Duration::from_millis(900), "cut at {cut:?}");
    assert!(cut < Duration::from_secs(3), "cut only at {cut:?}");
    // A client that talks at its own pace is not.
    let mut talker = kv.connect();
    for i in 0..4 {
        assert_eq!(talker.ask(&format!("SET k{i} v")), "OK\n");
        std::thread::sleep(Duration::from_millis(400));
    }
}

#[test]
fn the_store_is_bounded_in_keys() {
    let kv = Kv::start("60", "5");
    let mut c = kv.connect();
    let n = 100_000;
    let mut batch = String::new();
    for i in 0..n {
        batch.push_str(&format!("SET k{i} v\n"));
    }
    let w = c.w.try_clone().unwrap();
    let writer = std::thread::spawn(move || (&w).write_all(batch.as_bytes()).unwrap());
    let mut line = String::new();
    for _ in 0..n {
        line.clear();
        c.r.read_line(&mut line).unwrap();
        assert_eq!(line, "OK\n");
    }
    writer.join().unwrap();
    assert_eq!(c.ask("SET one-more v"), "ERR store full\n");
    assert_eq!(c.ask("SET k7 replaced"), "OK\n");
    assert_eq!(c.ask("DEL k8"), "DELETED\n");
    assert_eq!(c.ask("SET one-more v"), "OK\n");
    // KEYS answers at most a line's worth.
    let keys = c.ask("KEYS");
    assert!(
        keys.len() <= 64 * 1024 + 1 && keys.ends_with(" ...\n"),
        "{}",
        keys.len()
    );
}
