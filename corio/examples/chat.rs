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
//! banner): `cargo run -p corio-debug -- PATH` and type `ps`, `who`, `bt
//! ID`, `help`.
//!
//! Connect with `telnet 127.0.0.1 7777`, `nc 127.0.0.1 7777`, or the
//! example's own client mode (`--client`), which is two coros: one copies
//! the terminal to the server, the other the server to the terminal.
//!
//! Each connection is a coro that reads lines and acts on them, plus a
//! writer coro that drains the connection's own bounded channel onto the
//! socket. Saying something puts the line into every other member's
//! channel with `try_put`, which never waits: a member who stops reading
//! fills their channel and is dropped from the room ("send queue
//! exceeded"); nobody else ever waits for them.
//!
//! Commands: `/who`, `/nick NAME`, `/me ACTION`, `/help`, `/quit`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;

use corio::net::{TcpListener, TcpStream};
use corio::sync::{Channel, TryPutError};

/// Lines a member may have waiting to be written before they count as too
/// slow.
const SEND_QUEUE: usize = 256;
/// The longest line a member may send.
const MAX_LINE: usize = 1024;
/// The longest nickname.
const MAX_NICK: usize = 24;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => server("127.0.0.1:7777"),
        [flag, addr] if flag == "--client" => client(addr),
        [flag] if flag == "--client" => client("127.0.0.1:7777"),
        [addr] if !addr.starts_with('-') => server(addr),
        _ => {
            eprintln!(
                "usage: chat [ADDR] | chat --client [ADDR]   (ADDR defaults to 127.0.0.1:7777)"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("chat: {e}");
        std::process::exit(1);
    }
}

fn server(addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;
    println!("corio chat listening on {local}");
    println!("connect with:  telnet {} {}", local.ip(), local.port());
    println!("          or:  nc {} {}", local.ip(), local.port());
    println!("          or:  cargo run --release --example chat -- --client {local}");
    let room = Rc::new(Room::default());
    // The inspector, on a unix socket only this user can open.
    let debug_path = std::env::temp_dir().join(format!("corio-chat-{}.sock", std::process::id()));
    let _shell = match corio::debug::serve_unix(&debug_path) {
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
            println!("debug shell on {}", debug_path.display());
            println!(
                "  inspect with:  cargo run -p corio-debug -- {}",
                debug_path.display()
            );
            println!(
                "            or:  socat readline UNIX:{}",
                debug_path.display()
            );
            Some(shell)
        }
        Err(e) => {
            eprintln!("chat: no debug shell ({}: {e})", debug_path.display());
            None
        }
    };
    io::stdout().flush()?;
    corio::net::serve_on(listener, move |conn| member(&room, conn))
}

/// Everybody connected and named, by nickname.
#[derive(Default)]
struct Room {
    members: RefCell<BTreeMap<String, Member>>,
}

struct Member {
    outbox: Channel<Rc<str>>,
    conn: TcpStream,
}

impl Room {
    /// Queues `line` for every member but `except`, dropping members whose
    /// queue is full. Never waits.
    fn broadcast(&self, except: Option<&str>, line: &str) {
        let line: Rc<str> = Rc::from(format!("{line}\r\n"));
        let mut too_slow = Vec::new();
        for (nick, m) in self.members.borrow().iter() {
            if Some(nick.as_str()) == except {
                continue;
            }
            match m.outbox.try_put(line.clone()) {
                Ok(()) | Err(TryPutError::Closed(_)) => {}
                Err(TryPutError::Full(_)) => too_slow.push(nick.clone()),
            }
        }
        for nick in too_slow {
            if let Some(m) = self.members.borrow_mut().remove(&nick) {
                m.outbox.shutdown();
                // Ends the member's reader too: its next read sees the end.
                let _ = m.conn.shutdown(Shutdown::Both);
            }
            self.broadcast(None, &format!("* {nick} left (send queue exceeded)"));
        }
    }

    fn who(&self) -> String {
        let members = self.members.borrow();
        let names: Vec<&str> = members.keys().map(String::as_str).collect();
        format!("* online ({}): {}", names.len(), names.join(", "))
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

/// Reads one line of at most [`MAX_LINE`] bytes, without its line end.
/// `Ok(None)` at the end of the stream.
fn read_line(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r.take(MAX_LINE as u64 + 1).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// Serves one connection: asks for a nickname, then relays its lines.
fn member(room: &Rc<Room>, conn: TcpStream) {
    let _ = conn.set_nodelay(true);
    let Ok(writer_conn) = conn.try_clone() else {
        return;
    };
    let outbox: Channel<Rc<str>> = Channel::bounded(SEND_QUEUE);
    // The writer: this member's queue onto the socket. It ends when the
    // queue is shut down and drained, or the peer stops taking data.
    let writer = {
        let outbox = outbox.clone();
        let mut w = writer_conn;
        corio::spawn(move || {
            while let Some(line) = outbox.get() {
                if w.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
            let _ = w.shutdown(Shutdown::Write);
        })
    };
    let say = |line: &str| {
        let _ = outbox.try_put(Rc::from(format!("{line}\r\n")));
    };
    let mut input = BufReader::new(&conn);

    say("* welcome to corio chat. Your nickname?");
    let mut nick = loop {
        match read_line(&mut input) {
            Ok(Some(n)) => match bad_nick(room, n.trim()) {
                None => break n.trim().to_string(),
                Some(why) => say(&format!("* {why}. Your nickname?")),
            },
            _ => {
                outbox.shutdown();
                let _ = writer.join();
                return;
            }
        }
    };
    let Ok(conn_for_room) = conn.try_clone() else {
        return;
    };
    room.members.borrow_mut().insert(
        nick.clone(),
        Member {
            outbox: outbox.clone(),
            conn: conn_for_room,
        },
    );
    say(&format!("* hello {nick}. /help lists the commands."));
    say(&room.who());
    room.broadcast(Some(&nick), &format!("* {nick} joined"));

    let mut farewell = "left";
    loop {
        let line = match read_line(&mut input) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                say("* that line is too long; goodbye");
                farewell = "left (line too long)";
                break;
            }
            Err(_) => break,
        };
        // Dropped for being too slow while we waited for this line.
        if !room.members.borrow().contains_key(&nick) {
            break;
        }
        let (cmd, rest) = match line.split_once(' ') {
            Some((c, r)) => (c, r.trim()),
            None => (line.as_str(), ""),
        };
        match cmd {
            "" => {}
            "/quit" => {
                say("* bye");
                break;
            }
            "/who" => say(&room.who()),
            "/help" => say("* commands: /who, /nick NAME, /me ACTION, /help, /quit"),
            "/nick" => match bad_nick(room, rest) {
                Some(why) => say(&format!("* {why}")),
                None => {
                    let old = std::mem::replace(&mut nick, rest.to_string());
                    let mut members = room.members.borrow_mut();
                    if let Some(m) = members.remove(&old) {
                        members.insert(nick.clone(), m);
                    }
                    drop(members);
                    room.broadcast(None, &format!("* {old} is now known as {nick}"));
                }
            },
            "/me" => room.broadcast(None, &format!("* {nick} {rest}")),
            c if c.starts_with('/') => say(&format!("* unknown command {c} (try /help)")),
            _ => room.broadcast(Some(&nick), &format!("<{nick}> {line}")),
        }
        // A fast talker's lines may all be buffered already, so that reading
        // never waits: give the writers a turn after each line, or the
        // others' queues would fill before their writers ever run.
        corio::cede();
    }
    // Leave the room (unless the room already dropped us), let the writer
    // finish what is queued, and close.
    let was_member = room.members.borrow_mut().remove(&nick).is_some();
    if was_member {
        room.broadcast(None, &format!("* {nick} {farewell}"));
    }
    outbox.shutdown();
    let _ = writer.join();
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
