//! Attacks on the `chat` example.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::target::{Level, Target, figures, reset, serial};

/// A member at a terminal.
struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let w = TcpStream::connect(addr).expect("connect");
        w.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        Client { r, w }
    }

    /// Connects and takes `nick`.
    #[track_caller]
    fn join(addr: SocketAddr, nick: &str) -> Client {
        let mut c = Client::connect(addr);
        assert_eq!(c.line(), "* welcome to corio chat. Your nickname?");
        c.send(nick);
        assert_eq!(
            c.line(),
            format!("* hello {nick}. /help lists the commands.")
        );
        assert!(c.line().starts_with("* online ("));
        c
    }

    fn send(&mut self, line: &str) {
        self.w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    }

    /// The next line; "" at the end of the stream.
    #[track_caller]
    fn line(&mut self) -> String {
        let mut s = String::new();
        self.r.read_line(&mut s).expect("a line from the server");
        s.trim_end_matches(['\r', '\n']).to_string()
    }

    /// Hangs up with a reset (`SO_LINGER` 0).
    fn reset(self) {
        let Client { r, w } = self;
        drop(r);
        reset(w);
    }

    /// Reads everything until the server closes.
    fn rest(&mut self) -> String {
        let mut s = String::new();
        let _ = self.r.read_to_string(&mut s);
        s
    }
}

/// An ordinary member comes, talks with another, and goes.
#[track_caller]
fn chat_ok(addr: SocketAddr) -> Duration {
    let t = Instant::now();
    let mut a = Client::join(addr, "fresh_a");
    let mut b = Client::join(addr, "fresh_b");
    assert_eq!(a.line(), "* fresh_b joined");
    a.send("still fine?");
    assert_eq!(b.line(), "<fresh_a> still fine?");
    b.send("/quit");
    assert_eq!(b.line(), "* bye");
    assert_eq!(a.line(), "* fresh_b left");
    a.send("/quit");
    assert_eq!(a.line(), "* bye");
    assert_eq!(a.line(), "");
    t.elapsed()
}

fn start(args: &[&str], nofile: Option<u64>, env: &[(&str, &str)]) -> (Target, Level) {
    let t = Target::start_with("chat", args, nofile, env);
    chat_ok(t.addr);
    let base = t.level();
    (t, base)
}

#[test]
fn chat_300_members_speaking_at_once_are_all_kept() {
    let _one = serial();
    const N: usize = 300;
    let (mut t, base) = start(&[], None, &[]);
    let mut ms: Vec<Client> = (0..N)
        .map(|i| Client::join(t.addr, &format!("m{i}")))
        .collect();
    let joined = t.rss_kib();
    // Stopped, the server cannot run a single writer while the lines come
    // in: when it goes on, every member has a line ready at once.
    t.pause();
    for (i, m) in ms.iter_mut().enumerate() {
        m.send(&format!("hello from m{i}"));
    }
    let start = Instant::now();
    t.resume();
    for (i, m) in ms.iter_mut().enumerate() {
        let mut heard = 0;
        while heard < N - 1 {
            let l = m.line();
            if l.ends_with(" joined") {
                continue;
            }
            assert!(
                l.starts_with("<m") && l.contains("> hello from m"),
                "m{i} after {heard} lines: {l:?}"
            );
            heard += 1;
        }
    }
    let delivered = start.elapsed();
    let rss = t.rss_kib();
    ms[0].send("/who");
    let who = ms[0].line();
    assert!(who.starts_with(&format!("* online ({N}): ")), "{who}");
    drop(ms);
    let settled = t.settle(base, Duration::from_secs(30));
    figures(
        "chat burst",
        format_args!(
            "{N} members said a line at the same moment: all {} lines delivered in {delivered:?}, nobody \
             dropped; RSS {joined} -> {rss} KiB; back to baseline {base:?} {settled:?} after they left",
            N * (N - 1)
        ),
    );
    chat_ok(t.addr);
}

#[test]
fn chat_100_non_readers_are_dropped_once_each_and_the_talkers_kept() {
    let _one = serial();
    const ACTIVE: usize = 5;
    const SILENT: usize = 100;
    let (mut t, base) = start(&["--slow", "5"], None, &[]);
    let addr = t.addr;
    let rss0 = t.rss_kib();
    // Talkers: each with a thread that reads and keeps every line.
    let heard: Vec<Arc<Mutex<Vec<String>>>> = (0..ACTIVE).map(|_| Arc::default()).collect();
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for (i, log) in heard.iter().enumerate() {
        let c = Client::join(addr, &format!("talker{i}"));
        writers.push(c.w);
        let (mut r, log) = (c.r, log.clone());
        readers.push(std::thread::spawn(move || {
            let mut s = String::new();
            while r.read_line(&mut s).unwrap_or(0) > 0 {
                log.lock()
                    .unwrap()
                    .push(s.trim_end_matches(['\r', '\n']).to_string());
                s.clear();
            }
        }));
    }
    // Non-readers: join, then never read again.
    let silent: Vec<Client> = (0..SILENT)
        .map(|i| Client::join(addr, &format!("mute{i}")))
        .collect();
    let lefts = |log: &Arc<Mutex<Vec<String>>>| -> Vec<String> {
        log.lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("* ") && l.contains(" left"))
            .cloned()
            .collect()
    };
    // The talkers talk, 1,000 lines a second each, until the room has
    // dropped every non-reader (or a minute passed).
    let stop = Arc::new(AtomicBool::new(false));
    let talkers: Vec<_> = writers
        .iter()
        .map(|w| {
            let (mut w, stop) = (w.try_clone().unwrap(), stop.clone());
            std::thread::spawn(move || {
                let text = "z".repeat(150);
                let mut n = 0u64;
                let start = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if w.write_all(format!("{text} {n}\r\n").as_bytes()).is_err() {
                        break;
                    }
                    n += 1;
                    if n.is_multiple_of(20) {
                        let due = Duration::from_millis(n);
                        if let Some(wait) = due.checked_sub(start.elapsed()) {
                            std::thread::sleep(wait);
                        }
                    }
                }
                n
            })
        })
        .collect();
    let start = Instant::now();
    let mut peak = 0;
    while lefts(&heard[0]).len() < SILENT && start.elapsed() < Duration::from_secs(60) {
        peak = peak.max(t.rss_kib());
        std::thread::sleep(Duration::from_millis(50));
    }
    let dropped_in = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let said: u64 = talkers.into_iter().map(|h| h.join().unwrap()).sum();
    // What the room says afterwards.
    writers[0].write_all(b"/who\r\n").unwrap();
    let who_deadline = Instant::now() + Duration::from_secs(30);
    let who = loop {
        let found = heard[0]
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.starts_with("* online ("))
            .cloned();
        match found {
            Some(w) => break w,
            None if Instant::now() < who_deadline => std::thread::sleep(Duration::from_millis(20)),
            None => panic!("no answer to /who"),
        }
    };
    let names: Vec<String> = (0..ACTIVE).map(|i| format!("talker{i}")).collect();
    assert_eq!(who, format!("* online ({ACTIVE}): {}", names.join(", ")));
    for (i, log) in heard.iter().enumerate() {
        let lefts = lefts(log);
        let mut per_nick: HashMap<&str, usize> = HashMap::new();
        for l in &lefts {
            assert!(l.ends_with(" left (too slow)"), "talker{i} heard {l:?}");
            let nick = l[2..].split(' ').next().unwrap();
            assert!(nick.starts_with("mute"), "talker{i} heard {l:?}");
            *per_nick.entry(nick).or_default() += 1;
        }
        assert_eq!(
            lefts.len(),
            SILENT,
            "talker{i} heard {} left lines",
            lefts.len()
        );
        assert_eq!(per_nick.len(), SILENT, "talker{i}: {per_nick:?}");
    }
    // The dropped were reset, not closed politely.
    let mut resets = 0;
    for mut m in silent {
        m.w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = vec![0u8; 1 << 20];
        loop {
            match m.r.read(&mut b) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::ConnectionReset {
                        resets += 1;
                    }
                    break;
                }
            }
        }
    }
    assert_eq!(resets, SILENT, "every dropped member's connection is reset");
    for w in writers {
        let _ = w.shutdown(std::net::Shutdown::Both); // the readers see the end too
    }
    for r in readers {
        r.join().unwrap();
    }
    let settled = t.settle(base, Duration::from_secs(30));
    figures(
        "chat non-readers",
        format_args!(
            "{SILENT} members never read while {ACTIVE} talked ({said} lines of 160 bytes, about {} lines/s \
             into the room): all {SILENT} dropped within {dropped_in:?}, each announced once to each talker, no \
             talker dropped; {resets} of them saw a reset; RSS {rss0} -> peak {peak} KiB; back to baseline \
             {base:?} {settled:?} later",
            said * 1000 / dropped_in.as_millis().max(1) as u64
        ),
    );
    assert!(peak < rss0 + 128 * 1024, "RSS {rss0} -> {peak} KiB");
    chat_ok(t.addr);
}

#[test]
fn chat_out_of_descriptors_leaks_nothing() {
    let _one = serial();
    const LIMIT: u64 = 256;
    const N: usize = 1000;
    let (mut t, base) = start(&[], Some(LIMIT), &[]);
    for round in 1..=3 {
        let start = Instant::now();
        let mut clients: Vec<Client> = (0..N)
            .map(|i| {
                let mut c = Client::connect(t.addr);
                c.send(&format!("r{round}u{i}"));
                c.send("hi");
                c.send("/quit");
                c
            })
            .collect();
        let full = t.fds();
        let mut served = 0;
        for c in &mut clients {
            // Each one is served within seconds once it is accepted; a
            // stuck one fails the round instead of stalling it.
            c.w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            if start.elapsed() > Duration::from_secs(60) {
                break;
            }
            if c.rest().contains("* bye") {
                served += 1;
            }
        }
        drop(clients);
        assert_eq!(served, N, "round {round}: {} fds open", t.fds());
        let settled = t.settle(base, Duration::from_secs(30));
        figures(
            "chat EMFILE",
            format_args!(
                "round {round}: RLIMIT_NOFILE {LIMIT}, {N} clients at once ({full} fds open when they were in): \
                 {served} served in {:?}; fds {} and coros {} before, and again {settled:?} after",
                start.elapsed(),
                base.fds,
                base.coros,
            ),
        );
        chat_ok(t.addr);
    }
}

#[test]
fn chat_every_way_a_connection_fails_releases_it() {
    let _one = serial();
    // The first 5 writer coros cannot start (as with no memory for their
    // stacks): those connections close at once.
    let (mut t, base) = {
        let t = Target::start_with(
            "chat",
            &["--login-timeout", "1", "--idle-timeout", "2", "--slow", "1"],
            None,
            &[("CORIO_CHAT_FAIL_WRITER", "5")],
        );
        for _ in 0..5 {
            let mut c = Client::connect(t.addr);
            assert_eq!(c.rest(), "", "no writer, no welcome");
        }
        chat_ok(t.addr);
        let base = t.level();
        (t, base)
    };
    let addr = t.addr;
    let start = Instant::now();
    let mut watcher = Client::join(addr, "watcher");
    // Resets at every stage: before the welcome is read, in the middle of
    // a nickname, right after joining, half-way through a line, and while
    // lines wait for it.
    // The watcher stays (an empty line now and then is not silence).
    let stop = Arc::new(AtomicBool::new(false));
    let keepalive = {
        let (mut w, stop) = (watcher.w.try_clone().unwrap(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && w.write_all(b"\r\n").is_ok() {
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    reset(TcpStream::connect(addr).unwrap());
    let mut c = Client::connect(addr);
    c.w.write_all(b"half").unwrap();
    c.reset();
    let c = Client::join(addr, "resetter1");
    assert_eq!(watcher.line(), "* resetter1 joined");
    c.reset();
    assert_eq!(watcher.line(), "* resetter1 left");
    let mut c = Client::join(addr, "resetter2");
    assert_eq!(watcher.line(), "* resetter2 joined");
    c.w.write_all(b"unfinished li").unwrap();
    c.reset();
    assert_eq!(watcher.line(), "* resetter2 left");
    let c = Client::join(addr, "resetter3");
    assert_eq!(watcher.line(), "* resetter3 joined");
    let mut w = watcher.w.try_clone().unwrap();
    for i in 0..200 {
        w.write_all(format!("{} {i}\r\n", "w".repeat(500)).as_bytes())
            .unwrap();
    }
    drop(w);
    c.reset();
    assert_eq!(watcher.line(), "* resetter3 left");
    // Silent before a nickname (--login-timeout 1): let go, with a word.
    let mut quiet: Vec<Client> = (0..50).map(|_| Client::connect(addr)).collect();
    for q in &mut quiet {
        assert_eq!(
            q.rest(),
            "* welcome to corio chat. Your nickname?\r\n* no nickname in time; goodbye\r\n"
        );
    }
    // Trickling a nickname never ending does not hold on either.
    let mut trickle = Client::connect(addr);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1500) {
        if trickle.w.write_all(b"x").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        trickle
            .rest()
            .ends_with("* no nickname in time; goodbye\r\n")
    );
    // Silent member (--idle-timeout 2): let go; the room is told.
    let mut idle = Client::join(addr, "sleepy");
    assert_eq!(watcher.line(), "* sleepy joined");
    assert_eq!(idle.line(), "* idle for too long; goodbye");
    assert_eq!(watcher.line(), "* sleepy left (idle)");
    // An overlong line, binary garbage with control characters.
    let mut long = Client::join(addr, "longwinded");
    assert_eq!(watcher.line(), "* longwinded joined");
    long.send(&"y".repeat(5000));
    assert_eq!(long.line(), "* that line is too long; goodbye");
    assert_eq!(watcher.line(), "* longwinded left (line too long)");
    let mut junk = Client::join(addr, "junk");
    assert_eq!(watcher.line(), "* junk joined");
    junk.w
        .write_all(b"a\x00b\x1b[2Jc\x07d\xff\xfe\re\x7f\r\n")
        .unwrap();
    assert_eq!(watcher.line(), "<junk> ab[2Jcd\u{fffd}\u{fffd}e");
    drop(junk);
    assert_eq!(watcher.line(), "* junk left");
    stop.store(true, Ordering::Relaxed);
    keepalive.join().unwrap();
    drop(watcher);
    let settled = t.settle(base, Duration::from_secs(30));
    figures(
        "chat failures",
        format_args!(
            "5 writers that could not start, 5 kinds of reset, 50 silent logins, a trickled nickname, an idle \
             member, an overlong line, garbage: all released ({base:?} again {settled:?} after the last, \
             {:?} in all)",
            start.elapsed()
        ),
    );
    chat_ok(addr);
}
