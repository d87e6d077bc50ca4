//! A line-based chat server — the coro-chat of the talk corio's idea
//! comes from, written as plain blocking code.
//!
//! ```text
//! cargo run --release --example chat                      # listens on 127.0.0.1:7777
//! cargo run --release --example chat -- 127.0.0.1:9000    # elsewhere
//! cargo run --release --example chat -- --client 127.0.0.1:7777
//! ```
//!
//! It also serves corio's debug shell on a unix socket (its path is in the
//! banner; the file is removed when the server stops, on `SIGINT` and
//! `SIGTERM` too): `cargo run -p corio-debug -- PATH` and type `ps`,
//! `who`, `bt ID`, `help`.
//!
//! Connect with `telnet 127.0.0.1 7777`, `nc 127.0.0.1 7777`, or the
//! example's own client mode (`--client`), which is two coros: one copies
//! the terminal to the server, the other the server to the terminal.
//!
//! Each connection is a coro that reads lines and acts on them, plus a
//! writer coro that drains the member's own outbox onto the socket; the
//! two share the one socket. Saying something puts the line into every
//! other member's outbox, which never waits: nobody ever waits for a
//! member who does not read. Such a member is dropped from the room
//! ("too slow") when their connection has taken no byte for `--slow`
//! seconds (10) while lines wait for them, or at once when more than
//! 1 MiB waits for them. Their connection is reset rather than closed, so
//! the kernel frees what it still buffers for them at once; and it keeps
//! little for anyone: each connection has a 64 KiB send buffer.
//!
//! Limits: a nickname within `--login-timeout` seconds (30) of
//! connecting; silence for `--idle-timeout` seconds (1800) ends a
//! connection; lines of 1024 bytes; 10,000 connections. Control
//! characters (and the invisible ones that reorder text) are removed from
//! what members say, so nobody can draw on the others' terminals.
//!
//! Commands: `/who`, `/nick NAME`, `/me ACTION`, `/help`, `/quit`.
//!
//! It logs with `tracing`: each connection's events (joined, renamed,
//! left) in a `member{peer}` span. Built with corio's `tracing` feature
//! they go to stderr, each in its own connection's span however the coros
//! interleave:
//!
//! ```text
//! cargo run --release --features tracing --example chat
//! ```
//!
//! To watch its coros in `tokio-console` instead, run it through the
//! `corio-console-demo` package, which adds `console-subscriber` (built
//! with the cfg that crate requires), then start `tokio-console`:
//!
//! ```text
//! RUSTFLAGS="--cfg console_without_tokio_unstable" cargo run -p corio-console-demo --bin chat
//! tokio-console
//! ```

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::net::{Server, TcpStream};
use corio::signal::{SIGINT, SIGTERM, Signals};
use corio::sync::Channel;

/// The longest line a member may send, in bytes.
const MAX_LINE: usize = 1024;
/// The longest nickname, in characters.
const MAX_NICK: usize = 24;
/// Most bytes that may wait to be written to one member.
const MAX_BACKLOG: usize = 1024 * 1024;
/// What a waiting line costs beyond its text (its queue slot and shared
/// pointer), counted against [`MAX_BACKLOG`]: the text itself is shared
/// by every member it waits for.
const LINE_COST: usize = 32;
/// What the room hears when a member is dropped for not keeping up.
const TOO_SLOW: &str = "left (too slow)";
/// The kernel's send buffer of each connection.
const SEND_BUFFER: usize = 64 * 1024;
/// Most connections at once.
const MAX_CONNECTIONS: usize = 10_000;

/// How long things may take (`--login-timeout`, `--idle-timeout`, `--slow`).
#[derive(Clone, Copy, Debug)]
struct Limits {
    login: Duration,
    idle: Duration,
    slow: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            login: Duration::from_secs(30),
            idle: Duration::from_secs(1800),
            slow: Duration::from_secs(10),
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: chat [ADDR] [--login-timeout SECS] [--idle-timeout SECS] [--slow SECS]\n       \
         chat --client [ADDR]\n(ADDR defaults to 127.0.0.1:7777)"
    );
    std::process::exit(2);
}

fn main() {
    // Feature `tracing`: connection events to stderr.
    #[cfg(feature = "tracing")]
    let _ = tracing_subscriber::fmt().with_writer(io::stderr).try_init();
    run();
}

/// The program, after logging is set up (`corio-console-demo`'s `chat`
/// runs it with `console-subscriber` instead).
pub fn run() {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    let mut client_mode = false;
    let mut limits = Limits::default();
    while let Some(a) = args.next() {
        let mut secs = |d: &mut Duration| match args.next().map(|s| s.parse::<f64>()) {
            Some(Ok(s)) if s > 0.0 && s <= 1e6 => *d = Duration::from_secs_f64(s),
            _ => usage(),
        };
        match a.as_str() {
            "--client" => client_mode = true,
            "--login-timeout" => secs(&mut limits.login),
            "--idle-timeout" => secs(&mut limits.idle),
            "--slow" => secs(&mut limits.slow),
            _ if a.starts_with('-') || addr.is_some() => usage(),
            _ => addr = Some(a),
        }
    }
    let addr = addr.unwrap_or_else(|| "127.0.0.1:7777".into());
    let result = if client_mode {
        client(&addr)
    } else {
        server(&addr, limits)
    };
    if let Err(e) = result {
        eprintln!("chat: {e}");
        std::process::exit(1);
    }
}

/// Serves the room until `SIGINT` or `SIGTERM`.
fn server(addr: &str, limits: Limits) -> io::Result<()> {
    // Before anything can go wrong half-way: from here on the signals
    // are ours, and end the server in order (the debug shell's socket
    // file is removed).
    let signals = Signals::new(&[SIGINT, SIGTERM])?;
    let room = Rc::new(Room::default());
    let r = room.clone();
    let server = Server::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?
        .max_connections(MAX_CONNECTIONS)
        .start(move |conn| member(&r, conn, limits))?;
    let local = server.local_addr()?;
    println!("corio chat listening on {local}");
    println!("connect with:  telnet {} {}", local.ip(), local.port());
    println!("          or:  nc {} {}", local.ip(), local.port());
    println!("          or:  cargo run --release --example chat -- --client {local}");
    let _shell = debug_shell(&room);
    io::stdout().flush()?;

    let signal = signals.wait();
    eprintln!(
        "chat: {}; closing the room",
        if signal == SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        }
    );
    server.shutdown();
    room.close();
    // Readers see the end of their streams and leave; whoever does not
    // within a second is cancelled.
    server.drain(Duration::from_secs(1));
    // The writers deliver the goodbye (each waits at most `--slow`).
    let until = Instant::now() + limits.slow.min(Duration::from_secs(2));
    while room.writers.get() > 0 && Instant::now() < until {
        corio::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// The inspector, on a unix socket only this user can open; its file is
/// removed when the returned server is dropped.
fn debug_shell(room: &Rc<Room>) -> Option<corio::debug::DebugServer> {
    let path = std::env::temp_dir().join(format!("corio-chat-{}.sock", std::process::id()));
    match corio::debug::serve_unix(&path) {
        Ok(shell) => {
            let r = room.clone();
            let _ = shell.register("who", "who: the members of the room", move |_| {
                r.members
                    .borrow()
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            println!("debug shell on {}", path.display());
            println!(
                "  inspect with:  cargo run -p corio-debug -- {}",
                path.display()
            );
            println!("            or:  socat readline UNIX:{}", path.display());
            Some(shell)
        }
        Err(e) => {
            eprintln!("chat: no debug shell ({}: {e})", path.display());
            None
        }
    }
}

/// Everybody connected and named, by nickname.
#[derive(Default)]
struct Room {
    members: RefCell<BTreeMap<String, Rc<Member>>>,
    /// Writer coros still running.
    writers: Cell<usize>,
    /// Set when the server stops: leaving is not announced any more.
    closing: Cell<bool>,
}

/// One connection's side of the room.
struct Member {
    conn: TcpStream,
    /// Lines waiting to be written to this member, by its writer coro.
    outbox: Channel<Rc<str>>,
    /// What waits in `outbox`, in bytes ([`LINE_COST`] a line included).
    backlog: Cell<usize>,
    /// How the room hears of it when the member was dropped (`left (too
    /// slow)`), if it was.
    dropped: Cell<Option<&'static str>>,
}

impl Member {
    /// Queues `line` for this member unless more than [`MAX_BACKLOG`]
    /// would wait then. Never waits.
    fn send(&self, line: &Rc<str>) -> bool {
        let after = self.backlog.get() + line.len() + LINE_COST;
        if after > MAX_BACKLOG {
            return false;
        }
        // A member on its way out has a closed outbox: nothing to do.
        if self.outbox.try_put(line.clone()).is_ok() {
            self.backlog.set(after);
        }
        true
    }

    /// Queues a line of the server's for this member.
    fn say(&self, text: &str) -> bool {
        self.send(&Rc::from(format!("{text}\r\n")))
    }

    /// Drops the connection: reset (`SO_LINGER` 0, so the kernel frees
    /// its buffers at once instead of trying to deliver them), which ends
    /// the member's reader and writer.
    fn kick(&self, why: &'static str) {
        if self.dropped.get().is_none() {
            self.dropped.set(Some(why));
        }
        let _ = self.conn.set_linger(Some(Duration::ZERO));
        let _ = self.conn.shutdown(Shutdown::Both);
        self.outbox.shutdown();
    }
}

impl Room {
    /// Queues `line` for every member but `except`. Members who have too
    /// much waiting already are dropped, and that is announced — once,
    /// after the line went round — the same way. Never waits.
    fn broadcast(&self, except: Option<&str>, line: &str) {
        let mut lines = VecDeque::from([(except.map(str::to_string), format!("{line}\r\n"))]);
        while let Some((except, text)) = lines.pop_front() {
            let text: Rc<str> = Rc::from(text);
            let too_slow: Vec<String> = self
                .members
                .borrow()
                .iter()
                .filter(|(nick, m)| except.as_ref() != Some(*nick) && !m.send(&text))
                .map(|(nick, _)| nick.clone())
                .collect();
            for nick in too_slow {
                let gone = self.members.borrow_mut().remove(&nick);
                if let Some(m) = gone {
                    m.kick(TOO_SLOW);
                    lines.push_back((None, format!("* {nick} {TOO_SLOW}\r\n")));
                }
            }
        }
    }

    /// Takes `nick` (and `m`) out of the room, if it is still there, and
    /// tells the others why.
    fn leave(&self, nick: &str, m: &Rc<Member>, why: &str) {
        let mut members = self.members.borrow_mut();
        if !members.get(nick).is_some_and(|x| Rc::ptr_eq(x, m)) {
            return; // dropped already (and announced then)
        }
        members.remove(nick);
        drop(members);
        if !self.closing.get() {
            self.broadcast(None, &format!("* {nick} {why}"));
        }
    }

    fn who(&self) -> String {
        let members = self.members.borrow();
        let names: Vec<&str> = members.keys().map(String::as_str).collect();
        format!("* online ({}): {}", names.len(), names.join(", "))
    }

    /// The server stops: says goodbye to everybody and ends their
    /// connections' reading side, so each one leaves.
    fn close(&self) {
        self.closing.set(true);
        for m in self.members.borrow().values() {
            m.say("* the server is shutting down; goodbye");
            let _ = m.conn.shutdown(Shutdown::Read);
        }
    }
}

/// Why a nickname cannot be had, if it cannot.
fn bad_nick(room: &Room, nick: &str) -> Option<&'static str> {
    if nick.is_empty() {
        Some("a nickname cannot be empty")
    } else if nick.chars().count() > MAX_NICK {
        Some("that nickname is too long (24 characters at most)")
    } else if !nick
        .chars()
        .all(|c| c.is_alphanumeric() || "-_.".contains(c))
    {
        Some("nicknames are letters, digits, '-', '_' and '.'")
    } else if room.members.borrow().contains_key(nick) {
        Some("that nickname is taken")
    } else {
        None
    }
}

/// `text` without control characters (a tab becomes a space) and without
/// the invisible characters that reorder text on the screen.
fn clean(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            '\u{200e}'
            | '\u{200f}'
            | '\u{061c}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => None,
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// Reads one line of at most [`MAX_LINE`] bytes, cleaned, without its line
/// end; `Ok(None)` at the end of the stream. `TimedOut` when the line is
/// not whole by `deadline`, `InvalidData` when it is too long.
fn read_line(r: &mut BufReader<&TcpStream>, deadline: Instant) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        r.get_ref().set_read_timeout(Some(left))?;
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(None); // a last line without its end is dropped
        }
        let (n, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + n > MAX_LINE + 2 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
        line.extend_from_slice(&buf[..n]);
        r.consume(n);
        if end {
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            if line.len() > MAX_LINE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            return Ok(Some(clean(&line)));
        }
    }
}

/// Everything a connection holds in the room, given back however the
/// connection ends — returning, an error, a cancel: its nickname is freed
/// (and the others told), and its outbox is closed so that the writer
/// delivers what is queued and ends.
struct Session<'a> {
    room: &'a Room,
    me: Rc<Member>,
    nick: Option<String>,
    farewell: &'static str,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if let Some(nick) = &self.nick {
            let why = self.me.dropped.get().unwrap_or(self.farewell);
            tracing::info!(%nick, why, "left");
            self.room.leave(nick, &self.me, why);
        }
        self.me.outbox.shutdown();
    }
}

/// Serves one connection: asks for a nickname, then relays its lines.
fn member(room: &Rc<Room>, conn: TcpStream, limits: Limits) {
    let _span = match conn.peer_addr() {
        Ok(peer) => tracing::info_span!("member", %peer),
        Err(_) => tracing::info_span!("member"),
    }
    .entered();
    let _ = conn.set_nodelay(true);
    // A member whose connection takes no byte for this long is too slow.
    let _ = conn.set_write_timeout(Some(limits.slow));
    // What the kernel holds for a member who does not read stays small
    // (it would grow to 4 MiB): lines wait in the outbox, where they count.
    let _ = conn.set_send_buffer_size(SEND_BUFFER);
    let me = Rc::new(Member {
        conn,
        outbox: Channel::new(),
        backlog: Cell::new(0),
        dropped: Cell::new(None),
    });
    let mut s = Session {
        room,
        me: me.clone(),
        nick: None,
        farewell: "left",
    };
    if start_writer(room, &me).is_err() {
        return; // no memory for its stack: `s` and `me` close it all
    }
    let mut input = BufReader::new(&me.conn);

    me.say("* welcome to corio chat. Your nickname?");
    let login = Instant::now() + limits.login;
    let nick = loop {
        match read_line(&mut input, login) {
            Ok(Some(n)) => match bad_nick(room, n.trim()) {
                None => break n.trim().to_string(),
                Some(why) => {
                    if !me.say(&format!("* {why}. Your nickname?")) {
                        return;
                    }
                }
            },
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                me.say("* no nickname in time; goodbye");
                return;
            }
            _ => return,
        }
    };
    room.members.borrow_mut().insert(nick.clone(), me.clone());
    s.nick = Some(nick.clone());
    me.say(&format!("* hello {nick}. /help lists the commands."));
    me.say(&room.who());
    room.broadcast(Some(&nick), &format!("* {nick} joined"));
    tracing::info!(%nick, "joined");

    loop {
        let line = match read_line(&mut input, Instant::now() + limits.idle) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                me.say("* that line is too long; goodbye");
                s.farewell = "left (line too long)";
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                me.say("* idle for too long; goodbye");
                s.farewell = "left (idle)";
                break;
            }
            Err(_) => break,
        };
        // Dropped while we waited for this line.
        if me.dropped.get().is_some() {
            break;
        }
        let nick = s.nick.clone().unwrap_or_default();
        let (cmd, rest) = match line.split_once(' ') {
            Some((c, r)) => (c, r.trim()),
            None => (line.as_str(), ""),
        };
        let answered = match cmd {
            "" => true,
            "/quit" => {
                me.say("* bye");
                break;
            }
            "/who" => me.say(&room.who()),
            "/help" => me.say("* commands: /who, /nick NAME, /me ACTION, /help, /quit"),
            "/nick" => match bad_nick(room, rest) {
                Some(why) => me.say(&format!("* {why}")),
                None => {
                    let new = rest.to_string();
                    let mut members = room.members.borrow_mut();
                    if let Some(m) = members.remove(&nick) {
                        members.insert(new.clone(), m);
                    }
                    drop(members);
                    s.nick = Some(new.clone());
                    room.broadcast(None, &format!("* {nick} is now known as {new}"));
                    tracing::info!(%nick, %new, "renamed");
                    true
                }
            },
            "/me" => {
                room.broadcast(None, &format!("* {nick} {rest}"));
                true
            }
            c if c.starts_with('/') => me.say(&format!("* unknown command {c} (try /help)")),
            _ => {
                room.broadcast(Some(&nick), &format!("<{nick}> {line}"));
                true
            }
        };
        if !answered {
            // Asks and asks, and reads none of the answers.
            me.kick(TOO_SLOW);
            break;
        }
        // A fast talker's lines may all be buffered already, so that reading
        // never waits: give the others a turn after each line.
        corio::cede();
    }
}

/// Fault injection for the tests: with `CORIO_CHAT_FAIL_WRITER=N`, the
/// first N writer coros fail to start, as they do when there is no memory
/// for their stacks.
fn injected_failure() -> bool {
    thread_local!(static LEFT: Cell<Option<u64>> = const { Cell::new(None) });
    LEFT.with(|left| {
        let n = left.get().unwrap_or_else(|| {
            std::env::var("CORIO_CHAT_FAIL_WRITER")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        });
        left.set(Some(n.saturating_sub(1)));
        n > 0
    })
}

/// Starts `me`'s writer: its outbox onto the socket, until the outbox is
/// closed and empty or the connection stops taking data.
fn start_writer(room: &Rc<Room>, me: &Rc<Member>) -> io::Result<()> {
    if injected_failure() {
        return Err(io::Error::new(io::ErrorKind::OutOfMemory, "injected"));
    }
    let (room, me) = (room.clone(), me.clone());
    let name = match me.conn.peer_addr() {
        Ok(peer) => format!("writer {peer}"),
        Err(_) => "writer".into(),
    };
    // Detached: it ends by itself, at the latest `--slow` after its
    // outbox is closed.
    let _writer = corio::Builder::new().name(name).spawn(move || {
        let _running = Running::new(&room.writers);
        let mut w = &me.conn;
        while let Some(line) = me.outbox.get() {
            let written = w.write_all(line.as_bytes());
            me.backlog.set(me.backlog.get() - (line.len() + LINE_COST));
            match written {
                Ok(()) => {}
                // No byte taken for `--slow`: too slow.
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    me.kick(TOO_SLOW);
                    break;
                }
                Err(_) => {
                    me.kick("left");
                    break;
                }
            }
        }
        let _ = me.conn.shutdown(Shutdown::Write);
    })?;
    Ok(())
}

/// Counts a running coro in `count` until dropped.
struct Running<'a>(&'a Cell<usize>);

impl<'a> Running<'a> {
    fn new(count: &'a Cell<usize>) -> Running<'a> {
        count.set(count.get() + 1);
        Running(count)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// The client mode: the terminal to the server and back, as two coros.
fn client(addr: &str) -> io::Result<()> {
    let conn = TcpStream::connect(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot connect to {addr}: {e}")))?;
    let to_server = conn.try_clone()?;
    let upstream = corio::spawn(move || -> io::Result<()> {
        let mut stdin = BufReader::new(corio::io::stdin()?);
        let mut to_server = to_server;
        let mut line = String::new();
        while stdin.read_line(&mut line)? > 0 {
            to_server.write_all(line.as_bytes())?;
            line.clear();
        }
        // End of input: say goodbye politely, the server closes.
        to_server.write_all(b"/quit\n")?;
        Ok(())
    });
    let mut out = corio::io::stdout()?;
    let mut buf = [0u8; 4096];
    let mut from_server = &conn;
    loop {
        let n = from_server.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
    }
    // The server closed: stop copying the terminal too.
    upstream.coro().cancel();
    Ok(())
}
