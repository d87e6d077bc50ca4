//! The chat room in the browser: Continuity's chat-ajax-push, with
//! server-sent events.
//!
//! Each browser session asks for a nickname, then loops: show the room,
//! take a line, say it. A helper coro of the session waits on the
//! member's channel — a plain corio `Channel` the room puts every line
//! into — and pushes each line to the open page, so everyone sees
//! everyone's lines without reloading. When a session expires, its coro
//! is cancelled, and the `Drop` of its membership tells the room it left.
//!
//! With a second address, the same room is served to terminals too
//! (`nc ADDR` or `telnet`), as corio's `chat` example does.
//!
//! Joining and leaving cost the room O(1) each: comings and goings are
//! announced in one line at once, then at most once a second ("a, b, c, d,
//! e and 95 others joined"), so a flood of arrivals does not send every
//! member a line per arrival.
//!
//! Bounds: each line said is kept once (members' queues share it); a
//! member more than 64 lines behind is dropped from the room; each
//! session keeps at most 64 pushed events and 64 KiB of them for its
//! page. A terminal line over 2,000 bytes ends that terminal's
//! connection, as does a line (or nickname) not finished within 10 minutes
//! of the last one, or an answer it does not read for as long; at most
//! 1,000 terminals are connected at once.
//!
//! ```text
//! cargo run -p corio-web --example webchat -- 127.0.0.1:8080 [127.0.0.1:7777]
//! ```

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::net::TcpStream;
use corio::sync::{Channel, Signal};
use corio_web::{App, Event, Html, Session, form, html};

/// Lines the room remembers for newcomers.
const BACKLOG: usize = 50;
/// Lines a member may fall behind before the room drops it.
const QUEUE: usize = 64;
/// Longest line or nickname kept, in characters.
const MAX_LINE: usize = 500;
/// Longest line a terminal may send, in bytes (a character may take four).
const MAX_TERMINAL_LINE: usize = 4 * MAX_LINE;
/// How long a terminal has for each line, and to read what it is sent.
const TERMINAL_IDLE: Duration = Duration::from_secs(600);
/// Most terminals connected at once.
const MAX_TERMINALS: usize = 1000;
/// How often comings and goings are announced at most.
const ANNOUNCE: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
struct Line {
    id: u64,
    who: String,
    text: String,
    /// The push event, made by the first member that sends it and shared
    /// by every member's push log (one copy for the room, not one each).
    event: OnceCell<Event>,
}

impl Line {
    fn event(&self) -> Event {
        self.event
            .get_or_init(|| Event::append("log", self.html()))
            .clone()
    }

    fn html(&self) -> Html {
        if self.who.is_empty() {
            html!("<li id=m{} class=event>{}</li>", self.id, self.text)
        } else {
            html!(
                "<li id=m{}><b>{}</b>: {}</li>",
                self.id,
                self.who,
                self.text
            )
        }
    }
}

/// The room: a backlog, a bounded channel per member, and the comings and
/// goings not yet announced.
#[derive(Default)]
struct Room {
    backlog: RefCell<VecDeque<Rc<Line>>>,
    next: Cell<u64>,
    members: RefCell<HashMap<u64, Channel<Rc<Line>>>>,
    /// Nicknames that joined, and that left, since the last announcement.
    news: RefCell<(Vec<String>, Vec<String>)>,
    /// Sent when there is news (remembered until the herald waits).
    herald: Signal,
}

impl Room {
    /// Puts a line in every member's channel, after the news not yet
    /// announced (so nobody hears a line before the arrival of who said
    /// it). A member whose channel is full has stopped reading: it is
    /// dropped, never waited for.
    fn say(&self, who: &str, text: &str) {
        self.announce();
        self.put(who, text);
    }

    fn put(&self, who: &str, text: &str) {
        let id = self.next.get() + 1;
        self.next.set(id);
        // One copy, shared by the backlog and every member's queue.
        let line = Rc::new(Line {
            id,
            who: clip(who),
            text: clip(text),
            event: OnceCell::new(),
        });
        let mut backlog = self.backlog.borrow_mut();
        if backlog.len() == BACKLOG {
            backlog.pop_front();
        }
        backlog.push_back(line.clone());
        self.members.borrow_mut().retain(|_, ch| {
            let kept = ch.try_put(line.clone()).is_ok();
            if !kept {
                ch.shutdown();
            }
            kept
        });
    }

    /// A new member: its channel, and a guard that takes it out of the
    /// room. O(1): the room hears of it with the next announcement.
    fn join(self: &Rc<Room>, nick: &str) -> Membership {
        let id = self.next.get() + 1;
        self.next.set(id);
        let ch = Channel::bounded(QUEUE);
        self.members.borrow_mut().insert(id, ch.clone());
        self.news.borrow_mut().0.push(nick.to_owned());
        self.herald.send();
        Membership {
            room: self.clone(),
            id,
            nick: nick.to_owned(),
            lines: ch,
        }
    }

    /// Announces who joined and left, at once and then at most once every
    /// [`ANNOUNCE`] (or before the next line said): one line to every
    /// member for a whole flood of arrivals, not one each (runs for ever).
    fn herald(&self) {
        loop {
            self.herald.wait();
            self.announce();
            corio::sleep(ANNOUNCE);
        }
    }

    /// Says who joined and left since the last announcement, if anyone.
    fn announce(&self) {
        let (joined, left) = std::mem::take(&mut *self.news.borrow_mut());
        let news: Vec<String> = [(joined, "joined"), (left, "left")]
            .into_iter()
            .filter(|(who, _)| !who.is_empty())
            .map(|(who, what)| format!("{} {what}", names(&who)))
            .collect();
        if !news.is_empty() {
            self.put("", &news.join("; "));
        }
    }

    fn log(&self) -> Html {
        let mut out = Html::new();
        for line in self.backlog.borrow().iter() {
            out.push(line.html());
        }
        out
    }
}

/// "a", "a and b", "a, b and c", "a, b, c, d, e and 7 others".
fn names(who: &[String]) -> String {
    const SHOWN: usize = 5;
    match who {
        [] => String::new(),
        [one] => one.clone(),
        _ if who.len() <= SHOWN => {
            let (last, rest) = who.split_last().unwrap_or((&who[0], &[]));
            format!("{} and {last}", rest.join(", "))
        }
        _ => format!(
            "{} and {} others",
            who[..SHOWN].join(", "),
            who.len() - SHOWN
        ),
    }
}

/// Being in the room; dropping it (also when a session expires and its
/// coro is cancelled) leaves.
struct Membership {
    room: Rc<Room>,
    id: u64,
    nick: String,
    lines: Channel<Rc<Line>>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.room.members.borrow_mut().remove(&self.id);
        self.lines.shutdown();
        let nick = std::mem::take(&mut self.nick);
        self.room.news.borrow_mut().1.push(nick);
        self.room.herald.send();
    }
}

fn clip(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_LINE)
        .collect()
}

/// A browser's session in the room.
fn member(s: &mut Session, room: &Rc<Room>) {
    let nick = ask_nick(s);
    let me = room.join(&nick);
    let push = s.pusher();
    let lines = me.lines.clone();
    // Waits on the member's channel and pushes each line to the open page;
    // cancelled with the session.
    let _forwarder = s.spawn(move || {
        while let Some(line) = lines.get() {
            push.send(&line.event());
        }
    });
    loop {
        let answer = s.ask(html!(
            "<h1>Chat</h1><ul id=log>{}</ul>\
             <form method=post><input name=line autofocus autocomplete=off maxlength={} \
             aria-label=\"your line\"> <button type=submit>Say</button></form>\
             <p>You are <b id=nick>{}</b>. New lines appear as they are said.</p>",
            room.log(),
            MAX_LINE,
            me.nick
        ));
        if let Some(text) = answer.get("line").map(str::trim).filter(|t| !t.is_empty()) {
            room.say(&me.nick, text);
        }
    }
}

fn ask_nick(s: &mut Session) -> String {
    let mut hint = html!("Welcome to the chat.");
    loop {
        let answer = s.ask(html!(
            "<h1>Chat</h1><p class=hint>{}</p>{}",
            hint,
            form(html!(
                "<label>Your nickname <input name=nick autofocus maxlength=20 autocomplete=off></label>"
            ))
        ));
        match answer.get("nick").map(clip) {
            Some(n) if !n.trim().is_empty() => return n.trim().chars().take(20).collect(),
            _ => hint = html!("Please choose a nickname."),
        }
    }
}

/// Reads a terminal's next line, which must arrive whole by `deadline`
/// and within [`MAX_TERMINAL_LINE`] bytes; `None` ends the connection.
fn terminal_line(
    conn: &TcpStream,
    reader: &mut BufReader<&TcpStream>,
    deadline: Instant,
) -> Option<String> {
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        conn.set_read_timeout(Some(left)).ok()?;
        let buf = reader.fill_buf().ok().filter(|b| !b.is_empty())?;
        let (part, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        if line.len() + part.len() > MAX_TERMINAL_LINE {
            let _ = (&*conn).write_all(b"* line too long\n");
            return None;
        }
        line.extend_from_slice(part);
        let used = part.len() + usize::from(done);
        reader.consume(used);
        if done {
            return Some(String::from_utf8_lossy(&line).into_owned());
        }
    }
}

/// A terminal's session in the same room: a nickname line, then lines.
fn terminal(conn: TcpStream, room: &Rc<Room>) {
    let mut out = &conn;
    let _ = conn.set_write_timeout(Some(TERMINAL_IDLE));
    let mut reader = BufReader::new(&conn);
    let next = |reader: &mut BufReader<&TcpStream>| {
        terminal_line(&conn, reader, Instant::now() + TERMINAL_IDLE)
    };
    if out.write_all(b"Your nickname? ").is_err() {
        return;
    }
    let Some(nick) = next(&mut reader) else {
        return;
    };
    let nick = clip(nick.trim());
    if nick.is_empty() {
        return;
    }
    let me = room.join(&nick);
    let feed = me.lines.clone();
    let writer = conn.try_clone().ok();
    let echo = corio::spawn(move || {
        let Some(mut w) = writer else { return };
        while let Some(l) = feed.get() {
            let text = if l.who.is_empty() {
                format!("* {}\n", l.text)
            } else {
                format!("{}: {}\n", l.who, l.text)
            };
            if w.write_all(text.as_bytes()).is_err() {
                return;
            }
        }
    });
    while let Some(line) = next(&mut reader) {
        if !line.trim().is_empty() {
            room.say(&me.nick, line.trim());
        }
    }
    echo.cancel();
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let room = Rc::new(Room::default());
    let _herald = corio::spawn({
        let room = room.clone();
        move || room.herald()
    });
    let _terminals = match args.next() {
        Some(taddr) => {
            let room = room.clone();
            let server = corio::net::Server::bind(taddr.as_str())?
                .max_connections(MAX_TERMINALS)
                .start(move |c| terminal(c, &room))?;
            println!("webchat: terminals on {}", server.local_addr()?);
            Some(server)
        }
        None => None,
    };
    let listener = corio::net::TcpListener::bind(addr.as_str())?;
    println!("webchat: http://{}/", listener.local_addr()?);
    App::new(move |s| member(s, &room))
        .title("Chat")
        .push_buffer(QUEUE)
        .push_buffer_bytes(64 * 1024)
        .serve_on(listener)
}
