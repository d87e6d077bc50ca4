//! Attacks that only show at scale, against the stock examples: a push
//! stream opened and closed thousands of times, many never-read streams
//! that each ask for a full ring from its start, and a churn of sessions
//! made and ended while an address is held at its cap.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use super::{
    ATTACKER, Client, HONEST, PROBE_LIMIT, Proc, connect_from, figures, read_head_status, serial,
};

/// A webchat member from `from`: its client, cookie and room page.
fn join(p: &Proc, from: Ipv4Addr, nick: &str) -> (Client, String, String) {
    let mut c = Client::new(from, p.ex.addr);
    let first = c.send("GET", "/", None, "");
    let cookie = first.cookie().expect("a session cookie");
    let nick_page = first.header("location").unwrap().to_owned();
    let r = c.send("POST", &nick_page, Some(&cookie), &format!("nick={nick}"));
    assert_eq!(r.status, 303, "{r:?}");
    (c, cookie, r.header("location").unwrap().to_owned())
}

/// Opens `GET /_push?from=FROM` for `cookie` from `from`; the stream,
/// once its head (200) is in.
fn open_push(p: &Proc, from: Ipv4Addr, cookie: &str, cursor: u64) -> BufReader<TcpStream> {
    let mut s = connect_from(from, p.ex.addr);
    s.write_all(
        format!("GET /_push?from={cursor} HTTP/1.1\r\nhost: t\r\ncookie: {cookie}\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_head_status(&mut r), 200);
    r
}

#[test]
fn push_streams_opened_and_closed_in_a_loop_leave_nothing_behind() {
    let _one = serial();
    const LOOPS: usize = 3000;
    let mut p = Proc::start("webchat");
    let base = p.baseline();
    let (_c, cookie, _) = join(&p, ATTACKER, "looper");
    let rss0 = p.rss_kib();
    let (mut worst, mut cpu_first, mut cpu_last) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let start = Instant::now();
    for i in 0..LOOPS {
        let cpu0 = p.cpu();
        drop(open_push(&p, ATTACKER, &cookie, 0));
        let spent = p.cpu() - cpu0;
        if i < LOOPS / 3 {
            cpu_first += spent;
        } else if i >= LOOPS - LOOPS / 3 {
            cpu_last += spent;
        }
        if i % 500 == 0 {
            worst = worst.max(p.probe());
        }
    }
    let took = start.elapsed();
    let rss = p.rss_kib();
    // The session's stream places were all given back: four at once open.
    let open: Vec<_> = (0..4)
        .map(|_| open_push(&p, ATTACKER, &cookie, 0))
        .collect();
    drop(open);
    let settled = p.settle((base.0 + 1, base.1), Duration::from_secs(10));
    figures(
        "web push connect-close loop",
        format_args!(
            "{LOOPS} push streams opened and closed in {took:?}: RSS {rss0} -> {rss} KiB; server \
             CPU for the first third {cpu_first:?}, the last third {cpu_last:?}; slowest honest \
             user meanwhile {worst:?}; back to baseline {settled:?} after"
        ),
    );
    // Nothing kept per closed stream (it was ~110 B of waker each, and every
    // poll scanned them all): 3,000 loops stay within 2 MiB...
    assert!(rss < rss0 + 2 * 1024, "RSS {rss0} -> {rss} KiB");
    // ...and the last loops cost the server no more than the first ones
    // (CPU is counted in 10 ms ticks: a tick each way of slack).
    assert!(
        cpu_last <= cpu_first * 2 + Duration::from_millis(20),
        "{cpu_first:?} then {cpu_last:?}"
    );
    assert!(worst < PROBE_LIMIT, "{worst:?}");
}

/// The number of the last event of `cookie`'s session: what a stream from
/// cursor 0 is told when the ring has moved past it (`reload`, numbered).
fn last_event(p: &Proc, cookie: &str) -> u64 {
    let mut r = open_push(p, ATTACKER, cookie, 0);
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "the stream ended");
        if let Some(n) = line.trim().strip_prefix("id: ") {
            return n.parse().unwrap();
        }
    }
}

#[test]
fn never_read_streams_from_an_old_cursor_share_one_ring() {
    let _one = serial();
    const SESSIONS: usize = 30;
    const STREAMS: usize = 4; // a session's most
    let mut p = Proc::start("webchat");
    let base = p.baseline();
    // Their own connections close: the streams take the address's share.
    let members: Vec<String> = (0..SESSIONS)
        .map(|i| join(&p, ATTACKER, &format!("a{i}")).1)
        .collect();
    // A member fills every ring: 64 events of ~0.6 KB (the rings hold 64
    // events and 64 KiB; the older joins have moved out).
    let (mut c, cookie, mut page) = join(&p, HONEST, "talker");
    let line = format!("line={}", "y".repeat(500));
    for _ in 0..64 {
        let r = c.send("POST", &page, Some(&cookie), &line);
        assert_eq!(r.status, 303, "{r:?}");
        page = r.header("location").unwrap().to_owned();
    }
    std::thread::sleep(Duration::from_millis(300));
    let lasts: Vec<u64> = members.iter().map(|m| last_event(&p, m)).collect();
    // Never-read streams, first from the newest event (nothing to send:
    // what a stream costs by itself), then from before the oldest one the
    // ring holds (all of it to send).
    let mut peaks = Vec::new();
    for behind in [0, 64] {
        let before = p.rss_kib();
        let streams: Vec<_> = members
            .iter()
            .zip(&lasts)
            .flat_map(|(cookie, last)| {
                (0..STREAMS).map(move |_| (cookie, last.saturating_sub(behind)))
            })
            .map(|(cookie, from)| open_push(&p, ATTACKER, cookie, from))
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        peaks.push((before, p.rss_kib()));
        drop(streams);
        p.settle((base.0 + 2, u64::MAX / 2), Duration::from_secs(20));
    }
    let n = (SESSIONS * STREAMS) as u64;
    let [(_, fresh), (_, old)] = peaks[..] else {
        unreachable!()
    };
    let per = old.saturating_sub(fresh) / n;
    let worst = (0..10).map(|_| p.probe()).max().unwrap();
    drop(members);
    let settled = p.settle((base.0 + 2, base.1), Duration::from_secs(20));
    figures(
        "web push from an old cursor",
        format_args!(
            "{n} never-read streams on {SESSIONS} full rings (64 events, ~38 KiB each): RSS \
             {peaks:?} KiB (before, with them) from the newest event, then from the oldest: \
             {per} KiB more a stream (a private copy of the ring would be ~38); slowest of 10 \
             honest users {worst:?}; back to baseline {settled:?} after"
        ),
    );
    assert!(per < 8, "{per} KiB more a stream from an old cursor");
    assert!(worst < PROBE_LIMIT, "{worst:?}");
}

#[test]
fn refusals_stay_cheap_however_many_sessions_were_ever_made() {
    let _one = serial();
    const CHURN: usize = 3000;
    const REFUSALS: usize = 300;
    let mut p = Proc::start("guess");
    let base = p.baseline();
    // The attacker holds its address's share (500) with sessions that
    // answered: its next ones are refused.
    let mut a = Client::new(ATTACKER, p.ex.addr);
    for _ in 0..500 {
        let r = a.send("GET", "/", None, "");
        let cookie = r.cookie().unwrap();
        let r = a.send(
            "POST",
            r.header("location").unwrap(),
            Some(&cookie),
            "guess=1",
        );
        assert_eq!(r.status, 303, "{r:?}");
    }
    let refuse = |p: &Proc, a: &mut Client| {
        let cpu0 = p.cpu();
        for _ in 0..REFUSALS {
            let r = a.send("GET", "/", None, "");
            assert_eq!(r.status, 503, "{r:?}");
            assert_eq!(r.header("retry-after"), Some("60"));
        }
        p.cpu() - cpu0
    };
    let before = refuse(&p, &mut a);
    let rss0 = p.rss_kib();
    // Another address makes and ends sessions (a game won at the first
    // guess), all below the cap.
    let churner = Ipv4Addr::new(127, 0, 0, 3);
    let mut c = Client::new(churner, p.ex.addr);
    let start = Instant::now();
    for _ in 0..CHURN {
        let r = c.send("GET", "/", None, "");
        let cookie = r.cookie().unwrap();
        let r = c.send(
            "POST",
            r.header("location").unwrap(),
            Some(&cookie),
            "guess=100",
        );
        assert!(matches!(r.status, 200 | 303), "{r:?}");
    }
    let churned = start.elapsed();
    let rss = p.rss_kib();
    let after = refuse(&p, &mut a);
    let worst = (0..10).map(|_| p.probe()).max().unwrap();
    let per = rss.saturating_sub(rss0) * 1024 / CHURN as u64;
    figures(
        "web session churn",
        format_args!(
            "{REFUSALS} refusals took {before:?} of server CPU; {CHURN} sessions made and ended \
             in {churned:?} (RSS {rss0} -> {rss} KiB, {per} B an ended session, its tombstone \
             included); then {REFUSALS} refusals took {after:?}; slowest of 10 honest users \
             {worst:?}"
        ),
    );
    // A refusal walks nothing: the sessions ever made do not slow it (CPU
    // is counted in 10 ms ticks: two ticks of slack).
    assert!(
        after <= before * 2 + Duration::from_millis(20),
        "{before:?} then {after:?}"
    );
    // An ended session keeps only its tombstone (its last page, for the
    // idle timeout; at most `max_sessions` of them): a few KiB.
    assert!(per < 8 * 1024, "{per} B an ended session");
    assert!(worst < PROBE_LIMIT, "{worst:?}");
    drop(a);
    drop(c);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        p.fds() <= base.0,
        "{} descriptors, {} before",
        p.fds(),
        base.0
    );
}
