//! A key-value server: a line protocol, an idle timeout, and a graceful
//! shutdown on SIGTERM (or Ctrl-C) that lets open connections finish.
//!
//! ```text
//! cargo run --example kv -- [ADDR] [IDLE_SECS] [GRACE_SECS]   # 127.0.0.1:7878 60 5
//! nc 127.0.0.1 7878
//! SET greeting hello world      -> OK
//! GET greeting                  -> VALUE hello world
//! DEL greeting                  -> DELETED       (or NOT_FOUND)
//! KEYS                          -> KEYS a b c    (sorted)
//! QUIT                          -> BYE
//! ```
//!
//! Anything else gets `ERR ...`. A connection silent for IDLE_SECS is
//! closed. On SIGTERM the server stops accepting; every connection gets
//! the answer to its next command and is then closed; those still silent
//! after GRACE_SECS are cut off. Then the program exits with status 0.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::rc::Rc;
use std::time::Duration;

use corio::net::{Server, TcpStream};
use corio::signal::{SIGINT, SIGTERM, Signals};

/// Longest command line; a longer one ends the connection.
const MAX_LINE: usize = 64 * 1024;

type Store = Rc<RefCell<BTreeMap<String, String>>>;

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
            if let Err(e) = session(&conn, &store, &s) {
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

/// One connection: a command per line, an answer per command.
fn session(conn: &TcpStream, store: &Store, stopping: &Cell<bool>) -> io::Result<()> {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    loop {
        line.clear();
        let limit = u64::try_from(MAX_LINE + 1).unwrap_or(u64::MAX);
        match (&mut reader).take(limit).read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) if !line.ends_with('\n') && line.len() > MAX_LINE => {
                return (&*conn).write_all(b"ERR line too long\n");
            }
            Ok(_) => {}
            // A silent client: the idle timeout closes the connection.
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return (&*conn).write_all(b"ERR not UTF-8\n");
            }
            Err(e) => return Err(e),
        }
        let reply = answer(line.trim_end_matches(['\r', '\n']), store);
        (&*conn).write_all(reply.as_bytes())?;
        if reply == "BYE\n" || stopping.get() {
            return Ok(());
        }
    }
}

fn answer(cmd: &str, store: &Store) -> String {
    let (verb, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let mut db = store.borrow_mut(); // no switch while it is held
    match (verb.to_ascii_uppercase().as_str(), rest) {
        ("SET", kv) => match kv.split_once(' ') {
            Some((k, v)) if !k.is_empty() => {
                db.insert(k.into(), v.into());
                "OK\n".into()
            }
            _ => "ERR usage: SET key value\n".into(),
        },
        ("GET", k) if !k.is_empty() => match db.get(k) {
            Some(v) => format!("VALUE {v}\n"),
            None => "NOT_FOUND\n".into(),
        },
        ("DEL", k) if !k.is_empty() => match db.remove(k) {
            Some(_) => "DELETED\n".into(),
            None => "NOT_FOUND\n".into(),
        },
        ("KEYS", "") => {
            let keys: Vec<&str> = db.keys().map(String::as_str).collect();
            format!("KEYS {}\n", keys.join(" ")).replace("KEYS \n", "KEYS\n")
        }
        ("QUIT", "") => "BYE\n".into(),
        _ => format!("ERR unknown command: {verb}\n"),
    }
}
