//! corio-web's examples as their own processes, attacked as a hostile
//! client would (loopback only, each attack bounded in count and time):
//! trickled bodies, never-read push streams, floods of sessions. The
//! attackers come from 127.0.0.2, the honest users from 127.0.0.1, so the
//! per-address caps tell them apart as they would two hosts.
//!
//! Each attack checks that the server's memory grew by at most a stated
//! amount per attacking connection, that honest users were all served
//! within a stated time during the attack, and that descriptors and memory
//! came back near their baseline after. The figures are printed as
//! `FIGURES` lines: `cargo test -p corio-web --test hostile -- --nocapture`.

#[path = "../util/mod.rs"]
mod util;

mod scale;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use util::Example;

/// The attackers' address.
const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The honest users' address.
const HONEST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// How long an honest request may take while an attack runs (a debug
/// build on a busy two-core machine).
const PROBE_LIMIT: Duration = Duration::from_secs(2);
/// How much more memory than at its baseline a server may keep after an
/// attack (the heap keeps some of what a burst needed).
const RSS_SLACK_KIB: u64 = 64 * 1024;

/// One attack at a time: each measures a server a neighbour would blur.
fn serial() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection to `addr` from `from`.
fn connect_from(from: Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddrV4::new(from, 0).into()).unwrap();
    s.connect(&addr.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// A response, as far as the tests look at it.
#[derive(Debug)]
struct Rsp {
    status: u16,
    head: String,
    body: String,
}

impl Rsp {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The session id its `set-cookie` gives.
    fn cookie(&self) -> Option<String> {
        let v = self.header("set-cookie")?;
        Some(v.split(';').next()?.to_owned())
    }
}

/// A keep-alive HTTP/1.1 client on one connection.
struct Client {
    r: BufReader<TcpStream>,
}

impl Client {
    fn new(from: Ipv4Addr, addr: SocketAddr) -> Client {
        Client {
            r: BufReader::new(connect_from(from, addr)),
        }
    }

    /// Sends a request (with `cookie` and `body`, if any) and reads its
    /// answer.
    fn send(&mut self, method: &str, path: &str, cookie: Option<&str>, body: &str) -> Rsp {
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: t\r\n");
        if let Some(c) = cookie {
            req.push_str(&format!("cookie: {c}\r\n"));
        }
        if method == "POST" {
            req.push_str(&format!(
                "content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.r.get_mut().write_all(req.as_bytes()).unwrap();
        read_response(&mut self.r)
    }
}

fn read_response(r: &mut BufReader<TcpStream>) -> Rsp {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("a response head");
        assert!(!line.is_empty(), "the server closed: {head:?}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    Rsp {
        status,
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// What the server process holds.
struct Proc {
    ex: Example,
}

impl Proc {
    fn start(name: &str) -> Proc {
        Proc {
            // Guesses of 1 never end a game.
            ex: Example::start(name, &[("GUESS_SECRET", "100")]),
        }
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.ex.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.ex.pid()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// CPU time used so far (user + system).
    fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.ex.pid())).unwrap_or_default();
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        // Linux's USER_HZ is 100.
        let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
        Duration::from_millis(ticks * 10)
    }

    /// An honest user: a new session's first page, in how long.
    #[track_caller]
    fn probe(&mut self) -> Duration {
        assert!(self.ex.alive(), "the server died");
        let t = Instant::now();
        let mut c = Client::new(HONEST, self.ex.addr);
        let first = c.send("GET", "/", None, "");
        assert_eq!(first.status, 303, "{first:?}");
        let page = first.header("location").unwrap().to_owned();
        let shown = c.send("GET", &page, first.cookie().as_deref(), "");
        assert_eq!(shown.status, 200, "{shown:?}");
        t.elapsed()
    }

    /// Descriptors and memory at rest, after one honest user.
    fn baseline(&mut self) -> (usize, u64) {
        self.probe();
        std::thread::sleep(Duration::from_millis(200));
        (self.fds(), self.rss_kib())
    }

    /// Waits (up to `limit`) until descriptors are back at `fds` or below
    /// and memory within the slack of `rss`; how long it took.
    #[track_caller]
    fn settle(&mut self, (fds, rss): (usize, u64), limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let now = (self.fds(), self.rss_kib());
            if now.0 <= fds && now.1 < rss + RSS_SLACK_KIB {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "not back to the baseline ({fds} fds, {rss} KiB) {limit:?} after: {now:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn figures(attack: &str, text: std::fmt::Arguments<'_>) {
    println!("FIGURES {attack}: {text}");
}

#[test]
fn trickled_bodies_hold_little_memory_and_honest_users_are_served() {
    let _one = serial();
    const N: usize = 100;
    let mut p = Proc::start("guess");
    let base = p.baseline();
    // No session needed: any page id, a body declared long and sent a byte
    // at a time (each byte its own segment: TCP_NODELAY).
    let mut conns: Vec<TcpStream> = (0..N)
        .map(|_| {
            let mut c = connect_from(ATTACKER, p.ex.addr);
            c.set_nodelay(true).unwrap();
            c.write_all(
                b"POST /k/00000000000000000000000000000000 HTTP/1.1\r\nhost: t\r\n\
                  content-type: application/x-www-form-urlencoded\r\ncontent-length: 60000\r\n\r\nx=",
            )
            .unwrap();
            c
        })
        .collect();
    let start = Instant::now();
    let (mut sent, mut worst, mut probes) = (0usize, Duration::ZERO, 0);
    while start.elapsed() < Duration::from_secs(3) {
        for c in &mut conns {
            if c.write_all(b"a").is_ok() {
                sent += 1;
            }
        }
        if start.elapsed() > Duration::from_millis(300 * probes) {
            worst = worst.max(p.probe());
            probes += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let rss = p.rss_kib();
    let per = rss.saturating_sub(base.1) / N as u64;
    drop(conns);
    let settled = p.settle(base, Duration::from_secs(10));
    figures(
        "web trickled bodies",
        format_args!(
            "{N} bodies trickled a byte per segment, {sent} bytes in 3 s: RSS {} -> {rss} KiB \
             ({per} KiB a connection; it was ~4 KiB a byte); slowest of {probes} honest users \
             meanwhile {worst:?}; back to baseline {settled:?} after",
            base.1
        ),
    );
    assert!(per < 96, "{per} KiB a connection");
    assert!(worst < PROBE_LIMIT, "{worst:?}");
    p.probe();
}

#[test]
fn never_read_push_streams_take_only_their_address_share() {
    let _one = serial();
    const N: usize = 600;
    let mut p = Proc::start("guess");
    let base = p.baseline();
    let mut c = Client::new(ATTACKER, p.ex.addr);
    let cookie = c.send("GET", "/", None, "").cookie().unwrap();
    let req = format!("GET /_push?from=0 HTTP/1.1\r\nhost: t\r\ncookie: {cookie}\r\n\r\n");
    // Never read; open as fast as the server takes them.
    let conns: Vec<TcpStream> = (0..N)
        .map(|_| {
            let mut s = connect_from(ATTACKER, p.ex.addr);
            let _ = s.write_all(req.as_bytes());
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let held = p.fds();
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        worst = worst.max(p.probe());
    }
    // An honest page's own stream opens.
    let mut h = Client::new(HONEST, p.ex.addr);
    let hc = h.send("GET", "/", None, "").cookie().unwrap();
    let mut stream = connect_from(HONEST, p.ex.addr);
    stream
        .write_all(format!("GET /_push HTTP/1.1\r\nhost: t\r\ncookie: {hc}\r\n\r\n").as_bytes())
        .unwrap();
    let mut r = BufReader::new(stream);
    assert_eq!(read_head_status(&mut r), 200);
    let rss = p.rss_kib();
    drop(conns);
    drop(c);
    // Streams ended by newer ones idle until hyper's 30 s header timeout;
    // the rest close with their clients.
    let settled = p.settle((base.0 + 4, base.1), Duration::from_secs(40));
    figures(
        "web never-read push streams",
        format_args!(
            "{N} never-read /_push from one address and cookie: the server held {} descriptors \
             (baseline {}); RSS {} -> {rss} KiB; slowest of 10 honest users meanwhile {worst:?}; \
             back {settled:?} after",
            held, base.0, base.1
        ),
    );
    // 128 connections an address (and the listener's queue for a moment).
    assert!(held <= base.0 + 128 + 8, "{held} descriptors");
    assert!(worst < PROBE_LIMIT, "{worst:?}");
    p.probe();
}

fn read_head_status(r: &mut BufReader<TcpStream>) -> u16 {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn session_floods_from_one_address_spare_everyone_else() {
    let _one = serial();
    let mut p = Proc::start("guess");
    let base = p.baseline();
    // An honest user who has not answered yet.
    let mut honest = Client::new(HONEST, p.ex.addr);
    let first = honest.send("GET", "/", None, "");
    let hcookie = first.cookie().unwrap();
    let hpage = first.header("location").unwrap().to_owned();
    // A flood of new sessions, never answered, from one address.
    let mut a = Client::new(ATTACKER, p.ex.addr);
    let start = Instant::now();
    let mut flood = Vec::new();
    for _ in 0..1500 {
        let r = a.send("GET", "/", None, "");
        assert_eq!(r.status, 303);
        flood.push((
            r.cookie().unwrap(),
            r.header("location").unwrap().to_owned(),
        ));
    }
    let flooded = start.elapsed();
    // The honest user's page still answers: its session was not evicted
    // (a new one would come with a cookie).
    let ans = honest.send("POST", &hpage, Some(&hcookie), "guess=1");
    assert_eq!(ans.status, 303, "{ans:?}");
    assert_eq!(ans.cookie(), None, "the honest session was evicted");
    // The attacker answers its last 500 (its share): then it is refused,
    // cheaply, and told when to come back.
    for (cookie, page) in flood.iter().rev().take(500) {
        let r = a.send("POST", page, Some(cookie), "guess=1");
        assert_eq!(r.status, 303, "{r:?}");
        assert_eq!(r.cookie(), None);
    }
    let cpu0 = p.cpu();
    let t = Instant::now();
    for _ in 0..500 {
        let r = a.send("GET", "/", None, "");
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after"), Some("60"));
        assert!(r.body.contains("from your network address"), "{}", r.body);
    }
    let refusing = t.elapsed();
    let cpu = p.cpu() - cpu0;
    // Others still get sessions.
    let worst = (0..10).map(|_| p.probe()).max().unwrap();
    let rss = p.rss_kib();
    figures(
        "web session flood",
        format_args!(
            "1500 unanswered sessions from one address in {flooded:?}, then 500 answered: the \
             honest user's session survived; 500 refusals took {refusing:?} and {cpu:?} of \
             server CPU ({:?} each); slowest of 10 new honest users {worst:?}; RSS {} -> {rss} KiB",
            cpu / 500,
            base.1
        ),
    );
    assert!(worst < PROBE_LIMIT, "{worst:?}");
    assert!(
        cpu / 500 < Duration::from_millis(2),
        "{cpu:?} for 500 refusals"
    );
    drop(a);
    drop(honest);
    // Sessions stay until their idle timeout; their descriptors do not.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        p.fds() <= base.0,
        "{} descriptors, {} before",
        p.fds(),
        base.0
    );
}

#[test]
fn webchat_long_lines_to_many_members_cost_each_member_a_bounded_ring() {
    let _one = serial();
    const MEMBERS: usize = 300;
    const LINES: usize = 256;
    let mut p = Proc::start("webchat");
    let base = p.baseline();
    // Members join: nickname page, nickname, the room's page.
    let join = |p: &Proc, i: usize| {
        let mut c = Client::new(HONEST, p.ex.addr);
        let first = c.send("GET", "/", None, "");
        let cookie = first.cookie().unwrap();
        let nick_page = first.header("location").unwrap().to_owned();
        let r = c.send("POST", &nick_page, Some(&cookie), &format!("nick=m{i}"));
        assert_eq!(r.status, 303, "{r:?}");
        (c, cookie, r.header("location").unwrap().to_owned())
    };
    for i in 0..MEMBERS {
        join(&p, i);
    }
    let joined = p.rss_kib();
    // One of them says 256 lines of 500 characters.
    let (mut c, cookie, mut page) = join(&p, MEMBERS);
    let line = format!("line={}", "x".repeat(500));
    let start = Instant::now();
    for _ in 0..LINES {
        let r = c.send("POST", &page, Some(&cookie), &line);
        assert_eq!(r.status, 303, "{r:?}");
        page = r.header("location").unwrap().to_owned();
    }
    let said = start.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let rss = p.rss_kib();
    let per = rss.saturating_sub(joined) / MEMBERS as u64;
    let worst = (0..5).map(|_| p.probe()).max().unwrap();
    figures(
        "webchat long lines",
        format_args!(
            "{MEMBERS} members, {LINES} lines of 500 characters in {said:?}: RSS {} KiB at rest, \
             {joined} KiB joined, {rss} KiB after ({per} KiB more a member; each member's push \
             ring refers to at most 64 events, 64 KiB, each line kept once for the room); slowest \
             of 5 new users {worst:?}",
            base.1
        ),
    );
    // It was ~180 KiB (256 events in each ring, a copy of each line in each
    // queue), then ~70 KiB (a full 64 KiB ring each). Now every ring refers
    // to the room's one copy of a line: what is left is the ring's slots.
    assert!(per < 16, "{per} KiB a member");
    assert!(worst < PROBE_LIMIT, "{worst:?}");
}
