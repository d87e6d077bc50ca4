//! A key-value server: a line protocol, an idle timeout, and a graceful
//! shutdown on SIGTERM (or Ctrl-C) that lets open connections finish.
//!
//! ```text
//! cargo run --example kv -- [ADDR] [IDLE_SECS] [GRACE_SECS]   # 127.0.0.1:7878 60 5
//! nc 127.0.0.1 7878
//! SET greeting hello world      -> OK
//! GET greeting                  -> VALUE hello world
//! DEL greeting                  -> DELETED       (or NOT_FOUND)
//! KEYS                          -> KEYS a b c    (sorted; ` ...` after 64 KiB)
//! QUIT                          -> BYE
//! ```
//!
//! Anything else gets `ERR ...`. Each command must arrive whole within
//! IDLE_SECS of the previous answer (a line trickled a byte at a time
//! cannot hold a connection longer), else the connection is closed; a
//! line over 64 KiB ends it too. The store holds at most 100,000 keys and
//! 64 MiB of keys and values (`ERR store full` past that); at most 10,000
//! connections are open at once. On SIGTERM the server stops accepting; every connection gets
//! the answer to its next command and is then closed; those still silent
//! after GRACE_SECS are cut off. Then the program exits with status 0.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::net::{Server, TcpStream};
use corio::signal::{SIGINT, SIGTERM, Signals};

/// Longest command line; a longer one ends the connection.
const MAX_LINE: usize = 64 * 1024;

/// Most keys the store holds.
const MAX_KEYS: usize = 100_000;
/// Most bytes of keys and values the store holds.
const MAX_BYTES: usize = 64 << 20;

/// The data, and how many bytes of keys and values it holds.
#[derive(Default)]
struct Data {
    map: BTreeMap<String, String>,
    bytes: usize,
}

type Store = Rc<RefCell<Data>>;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7878".into());
    let secs = |a: Option<String>, default: f64| {
        Duration::from_secs_f64(a.and_then(|s| s.parse().ok()).unwrap_or(default))
    };
    let (idle, grace) = (secs(args.next(), 60.0), secs(args.next(), 5.0));

    // Listen for the signals first: from here on they no longer kill us.
    let signals = Signals::new(&[SIGTERM, SIGINT])?;
    let store = Store::default();
    let stopping = Rc::new(Cell::new(false));
    let s = stopping.clone();
    let server = Server::bind(addr)?
        .max_connections(10_000)
        .idle_timeout(idle)
        .start(move |conn| {
            if let Err(e) = session(&conn, &store, &s, idle) {
                eprintln!(
                    "kv: {}: {e}",
                    conn.peer_addr().map_or("?".into(), |a| a.to_string())
                );
            }
        })?;
    println!("kv listening on {}", server.local_addr()?);

    let sig = signals.wait();
    eprintln!("kv: signal {sig}: no new connections; finishing the open ones");
    stopping.set(true);
    server.shutdown();
    let cut = server.drain(grace);
    println!("kv stopped; {cut} connections cut off");
    Ok(())
}

/// What reading a command line gave.
enum Read {
    Line(String),
    /// The client closed, or took too long (the line's deadline passed).
    End,
    TooLong,
    NotUtf8,
}

/// Reads one command line, which must arrive whole by `deadline`: each
/// read may wait only for what is left of it.
fn read_command(
    conn: &TcpStream,
    reader: &mut BufReader<&TcpStream>,
    deadline: Instant,
) -> io::Result<Read> {
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Read::End);
        }
        conn.set_read_timeout(Some(left))?;
        let buf = match reader.fill_buf() {
            Ok([]) => return Ok(Read::End),
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(Read::End),
            Err(e) => return Err(e),
        };
        let (part, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        if line.len() + part.len() > MAX_LINE {
            return Ok(Read::TooLong);
        }
        line.extend_from_slice(part);
        let used = part.len() + usize::from(done);
        reader.consume(used);
        if done {
            return Ok(String::from_utf8(line).map_or(Read::NotUtf8, Read::Line));
        }
    }
}

/// One connection: a command per line, an answer per command.
fn session(
    conn: &TcpStream,
    store: &Store,
    stopping: &Cell<bool>,
    idle: Duration,
) -> io::Result<()> {
    // An answer the client does not read for that long ends it too.
    conn.set_write_timeout(Some(idle))?;
    let mut reader = BufReader::new(conn);
    loop {
        // The whole next command by then: a trickle cannot stretch it.
        let deadline = Instant::now() + idle;
        let line = match read_command(conn, &mut reader, deadline)? {
            Read::Line(l) => l,
            Read::End => return Ok(()),
            Read::TooLong => return (&*conn).write_all(b"ERR line too long\n"),
            Read::NotUtf8 => return (&*conn).write_all(b"ERR not UTF-8\n"),
        };
        let reply = answer(line.trim_end_matches('\r'), store);
        (&*conn).write_all(reply.as_bytes())?;
        if reply == "BYE\n" || stopping.get() {
            return Ok(());
        }
    }
}

fn answer(cmd: &str, store: &Store) -> String {
    let (verb, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let mut db = store.borrow_mut(); // no switch while it is held
    let db = &mut *db;
    match (verb.to_ascii_uppercase().as_str(), rest) {
        ("SET", kv) => match kv.split_once(' ') {
            Some((k, v)) if !k.is_empty() => {
                let old = db.map.get(k).map_or(0, |o| k.len() + o.len());
                let bytes = db.bytes - old + k.len() + v.len();
                if bytes > MAX_BYTES || (old == 0 && db.map.len() >= MAX_KEYS) {
                    return "ERR store full\n".into();
                }
                db.map.insert(k.into(), v.into());
                db.bytes = bytes;
                "OK\n".into()
            }
            _ => "ERR usage: SET key value\n".into(),
        },
        ("GET", k) if !k.is_empty() => match db.map.get(k) {
            Some(v) => format!("VALUE {v}\n"),
            None => "NOT_FOUND\n".into(),
        },
        ("DEL", k) if !k.is_empty() => match db.map.remove(k) {
            Some(v) => {
                db.bytes -= k.len() + v.len();
                "DELETED\n".into()
            }
            None => "NOT_FOUND\n".into(),
        },
        ("KEYS", "") => {
            // At most a line's worth: an answer is never bigger than that.
            let mut out = String::from("KEYS");
            for k in db.map.keys() {
                if out.len() + 1 + k.len() > MAX_LINE {
                    out.push_str(" ...");
                    break;
                }
                out.push(' ');
                out.push_str(k);
            }
            out.push('\n');
            out
        }
        ("QUIT", "") => "BYE\n".into(),
        _ => format!("ERR unknown command: {verb}\n"),
    }
}
