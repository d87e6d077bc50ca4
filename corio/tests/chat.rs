//! The chat example, end to end: the server runs as its own process and
//! several plain (std, blocking) clients talk to it as users would.

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The chat server on a free port; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(util::example("chat"))
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the chat example");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let addr = first
            .trim()
            .strip_prefix("corio chat listening on ")
            .unwrap_or_else(|| panic!("unexpected banner: {first:?}"))
            .parse()
            .unwrap();
        // Keep draining what it prints so that it never blocks on stdout.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Killed, it could not remove its debug shell's socket.
        let sock = std::env::temp_dir().join(format!("corio-chat-{}.sock", self.child.id()));
        let _ = std::fs::remove_file(sock);
    }
}

/// A user at a terminal.
struct User {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl User {
    fn connect(addr: SocketAddr) -> User {
        let w = TcpStream::connect(addr).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        let mut u = User { r, w };
        assert_eq!(u.line(), "* welcome to corio chat. Your nickname?");
        u
    }

    /// Connects and takes `nick`; returns the user and the `/who` line the
    /// server greets with.
    fn join(addr: SocketAddr, nick: &str) -> (User, String) {
        let mut u = User::connect(addr);
        u.send(nick);
        assert_eq!(
            u.line(),
            format!("* hello {nick}. /help lists the commands.")
        );
        let who = u.line();
        (u, who)
    }

    fn send(&mut self, line: &str) {
        self.w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    }

    /// The next line, without its line end; "" at the end of the stream.
    fn line(&mut self) -> String {
        let mut s = String::new();
        self.r.read_line(&mut s).expect("a line from the server");
        s.trim_end_matches(['\r', '\n']).to_string()
    }
}

#[test]
fn users_chat_rename_list_and_leave() {
    let server = Server::start();
    let addr = server.addr;

    let (mut alice, who) = User::join(addr, "alice");
    assert_eq!(who, "* online (1): alice");

    // A taken nickname, and a malformed one, are refused with a reason.
    let mut bob = User::connect(addr);
    bob.send("alice");
    assert_eq!(bob.line(), "* that nickname is taken. Your nickname?");
    bob.send("bob smith");
    assert_eq!(
        bob.line(),
        "* nicknames are letters, digits, '-', '_' and '.'. Your nickname?"
    );
    bob.send("bob");
    assert_eq!(bob.line(), "* hello bob. /help lists the commands.");
    assert_eq!(bob.line(), "* online (2): alice, bob");
    assert_eq!(alice.line(), "* bob joined");

    let (mut carol, who) = User::join(addr, "carol");
    assert_eq!(who, "* online (3): alice, bob, carol");
    assert_eq!(alice.line(), "* carol joined");
    assert_eq!(bob.line(), "* carol joined");

    // Said once, heard by everybody else in order; not echoed to the
    // speaker.
    alice.send("hello all");
    alice.send("second line");
    for u in [&mut bob, &mut carol] {
        assert_eq!(u.line(), "<alice> hello all");
        assert_eq!(u.line(), "<alice> second line");
    }
    bob.send("/who");
    assert_eq!(bob.line(), "* online (3): alice, bob, carol");

    bob.send("/nick robert");
    for u in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(u.line(), "* bob is now known as robert");
    }
    carol.send("/nick alice");
    assert_eq!(carol.line(), "* that nickname is taken");
    carol.send("/me waves");
    for u in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(u.line(), "* carol waves");
    }
    carol.send("/dance");
    assert_eq!(carol.line(), "* unknown command /dance (try /help)");

    // /quit says goodbye and closes; the others are told.
    bob.send("/quit");
    assert_eq!(bob.line(), "* bye");
    assert_eq!(bob.line(), "", "the server closes the connection");
    assert_eq!(alice.line(), "* robert left");
    assert_eq!(carol.line(), "* robert left");

    // Hanging up without /quit counts as leaving too.
    drop(carol);
    assert_eq!(alice.line(), "* carol left");
    alice.send("/who");
    assert_eq!(alice.line(), "* online (1): alice");
}

#[test]
fn a_reader_that_stalls_is_dropped_and_never_blocks_the_room() {
    let server = Server::start();
    let addr = server.addr;
    let (mut alice, _) = User::join(addr, "alice");
    let (mut bob, _) = User::join(addr, "bob");
    assert_eq!(alice.line(), "* bob joined");
    // dave joins and then never reads another byte.
    let (_dave, _) = User::join(addr, "dave");
    assert_eq!(alice.line(), "* dave joined");
    assert_eq!(bob.line(), "* dave joined");

    // bob reads everything alice says, on a thread of his own, until the
    // room tells him dave is gone.
    let dave_gone = Arc::new(AtomicBool::new(false));
    let bob_heard = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (gone, count) = (dave_gone.clone(), bob_heard.clone());
    let bob_reader = std::thread::spawn(move || {
        let mut heard = 0u64;
        loop {
            let l = bob.line();
            if l == "* dave left (too slow)" {
                gone.store(true, Ordering::SeqCst);
                return (bob, heard);
            }
            assert!(l.starts_with("<alice> "), "after {heard} lines: {l:?}");
            heard += 1;
            count.store(heard, Ordering::SeqCst);
        }
    });
    // alice talks until dave's queue and socket buffers are full, never
    // more than 200 lines ahead of bob (who reads all, but on a loaded
    // machine may read slower than she types). Bounded: 100,000 lines of
    // 1 KB is far beyond any loopback buffer.
    let filler = "x".repeat(1000);
    let mut said = 0u64;
    while !dave_gone.load(Ordering::SeqCst) && said < 100_000 {
        if said > bob_heard.load(Ordering::SeqCst) + 200 {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        alice.send(&filler);
        said += 1;
    }
    let (mut bob, heard) = bob_reader.join().unwrap();
    assert!(
        dave_gone.load(Ordering::SeqCst),
        "dave was never dropped after {said} lines"
    );
    // alice hears of it too; the room goes on without dave.
    assert_eq!(alice.line(), "* dave left (too slow)");
    alice.send("still here?");
    loop {
        let l = bob.line();
        if l == "<alice> still here?" {
            break;
        }
        assert!(l.starts_with("<alice> x"), "{l}");
    }
    bob.send("/who");
    assert_eq!(bob.line(), "* online (2): alice, bob");
    assert!(heard > 0);
}

#[test]
fn an_overlong_line_ends_only_that_connection() {
    let server = Server::start();
    let addr = server.addr;
    let (mut alice, _) = User::join(addr, "alice");
    let (mut mallory, _) = User::join(addr, "mallory");
    assert_eq!(alice.line(), "* mallory joined");
    mallory.send(&"y".repeat(5000));
    assert_eq!(mallory.line(), "* that line is too long; goodbye");
    assert_eq!(mallory.line(), "");
    assert_eq!(alice.line(), "* mallory left (line too long)");
    alice.send("/who");
    assert_eq!(alice.line(), "* online (1): alice");
}

#[test]
fn the_client_mode_relays_the_terminal() {
    let server = Server::start();
    let addr = server.addr;
    let (mut alice, _) = User::join(addr, "alice");
    // The example's own client, fed a script on stdin.
    let mut client = Command::new(util::example("chat"))
        .args(["--client", &addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = client.stdin.take().unwrap();
    stdin.write_all(b"zed\nhi alice\n").unwrap();
    assert_eq!(alice.line(), "* zed joined");
    assert_eq!(alice.line(), "<zed> hi alice");
    alice.send("hi zed");
    // Read the client's terminal as it goes: end its input only once
    // alice's line reached it (else its /quit may overtake that line).
    let stdout = client.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut text = Vec::new();
    while !text.iter().any(|l: &String| l.contains("<alice> hi zed")) {
        match rx.recv_timeout(util::CHILD_LIMIT) {
            Ok(line) => text.push(line),
            Err(e) => panic!("the client never showed alice's line ({e}): {text:#?}"),
        }
    }
    // End of input: the client says /quit and exits when the server
    // closes.
    drop(stdin);
    assert_eq!(alice.line(), "* zed left");
    let out = util::wait_within(client, util::CHILD_LIMIT);
    assert!(out.status.success(), "{out:?}");
    text.extend(rx.iter());
    let text = text.join("\n");
    assert!(text.contains("* hello zed."), "{text}");
    assert!(text.contains("* bye"), "{text}");
}

#[test]
fn the_debug_shell_beside_the_room_sees_its_members() {
    use std::os::unix::net::UnixStream as StdUnix;
    let mut child = Command::new(util::example("chat"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the chat example");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut addr = None;
    let mut shell = None;
    for _ in 0..20 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(a) = line.trim().strip_prefix("corio chat listening on ") {
            addr = Some(a.parse::<std::net::SocketAddr>().unwrap());
        }
        if let Some(p) = line.trim().strip_prefix("debug shell on ") {
            shell = Some(std::path::PathBuf::from(p));
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let server = Server {
        child,
        addr: addr.expect("no address in the banner"),
    };
    let shell = shell.expect("the banner names no debug shell");
    let (_alice, _) = User::join(server.addr, "alice");
    let (_bob, _) = User::join(server.addr, "bob");

    let conn = StdUnix::connect(&shell).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let read_prompt = |c: &StdUnix| {
        let mut got = Vec::new();
        let mut b = [0u8; 4096];
        while !got.ends_with(b"> ") {
            let n = std::io::Read::read(&mut &*c, &mut b).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&b[..n]);
        }
        String::from_utf8_lossy(&got[..got.len() - 2]).into_owned()
    };
    read_prompt(&conn);
    (&conn).write_all(b"who\n").unwrap();
    assert_eq!(read_prompt(&conn), "alice, bob\n");
    (&conn).write_all(b"ps\n").unwrap();
    let ps = read_prompt(&conn);
    // A coro per member connection, named after its peer, waiting to read.
    let conns = ps.lines().filter(|l| l.contains("conn 127.0.0.1:")).count();
    assert!(conns >= 2, "{ps}");
    assert!(ps.contains("fd "), "{ps}");
    drop(server);
    let _ = std::fs::remove_file(&shell);
}

/// The chat server, with its debug shell's socket path.
fn start_with_shell() -> (Server, std::path::PathBuf) {
    let mut child = Command::new(util::example("chat"))
        .arg("127.0.0.1:0")
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the chat example");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut addr, mut shell) = (None, None);
    while shell.is_none() {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(a) = line.trim().strip_prefix("corio chat listening on ") {
            addr = Some(a.parse::<SocketAddr>().unwrap());
        }
        if let Some(p) = line.trim().strip_prefix("debug shell on ") {
            shell = Some(std::path::PathBuf::from(p));
        }
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let server = Server {
        child,
        addr: addr.expect("no address in the banner"),
    };
    (server, shell.expect("the banner names no debug shell"))
}

/// Waits for the server to exit; its status and what it wrote on stderr.
fn wait_exit(server: &mut Server) -> (std::process::ExitStatus, String) {
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < util::CHILD_LIMIT,
            "the server did not exit"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(server.child.stderr.as_mut().unwrap(), &mut err);
    (status, err)
}

#[test]
fn sigterm_and_sigint_close_the_room_and_remove_the_debug_socket() {
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let (mut server, shell) = start_with_shell();
        assert!(shell.exists());
        let (mut alice, _) = User::join(server.addr, "alice");
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(server.child.id() as i32, sig) };
        assert_eq!(alice.line(), "* the server is shutting down; goodbye");
        assert_eq!(alice.line(), "", "then the connection closes");
        let (status, err) = wait_exit(&mut server);
        assert!(status.success(), "{name}: {status:?} {err}");
        assert!(
            err.contains(&format!("chat: {name}; closing the room")),
            "{err}"
        );
        assert!(
            !shell.exists(),
            "{name}: {} is still there",
            shell.display()
        );
    }
}

#[test]
fn kill_1_in_the_debug_shell_ends_the_program_like_a_panic_in_main() {
    use std::os::unix::net::UnixStream as StdUnix;
    let (mut server, shell) = start_with_shell();
    let (_alice, _) = User::join(server.addr, "alice");
    let conn = StdUnix::connect(&shell).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    (&conn).write_all(b"kill 1 go away\n").unwrap();
    let (status, err) = wait_exit(&mut server);
    assert_eq!(status.code(), Some(101), "{err}");
    assert!(
        err.contains("thread 'main'") && err.contains("panicked"),
        "reported as a panic in main: {err}"
    );
    assert!(
        err.contains("the main coro was thrown out") && err.contains("go away"),
        "{err}"
    );
    assert!(
        !shell.exists(),
        "the debug socket is removed while unwinding"
    );
}

#[test]
fn control_characters_are_removed_from_what_members_say() {
    let server = Server::start();
    let (mut alice, _) = User::join(server.addr, "alice");
    let (mut mallory, _) = User::join(server.addr, "mallory");
    assert_eq!(alice.line(), "* mallory joined");
    // A carriage return that would redraw the line as somebody else's, a
    // screen clear, a bell, NUL, DEL, a right-to-left override, a tab.
    mallory
        .w
        .write_all(
            "hi\r<alice> send me your password\x1b[2J\x07\0\x7f\u{202e}olleh\tend\r\n".as_bytes(),
        )
        .unwrap();
    assert_eq!(
        alice.line(),
        "<mallory> hi<alice> send me your password[2Jolleh end"
    );
    mallory.send("/me \x1b]0;pwned\x07waves");
    assert_eq!(alice.line(), "* mallory ]0;pwnedwaves");
    // A nickname with control characters is cleaned before it is judged.
    let mut eve = User::connect(server.addr);
    eve.send("e\x1bve");
    assert_eq!(eve.line(), "* hello eve. /help lists the commands.");
}
