//! Bad input and floods: each refused with its own status, none reaching a
//! dialogue, none disturbing the sessions that behave.

mod util;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::time::Duration;

use corio_web::{App, Session, form, html};
use util::{InProcess, agent, by_id, get, post};

/// Echoes the field `x` back.
fn echo(s: &mut Session) {
    let mut last = String::new();
    loop {
        let a = s.ask(html!(
            "<p id=last>{}</p>{}",
            last,
            form(html!("<input name=x>"))
        ));
        last = a.get("x").unwrap_or("").to_owned();
    }
}

fn echo_app() -> InProcess {
    InProcess::start(|| {
        App::new(echo)
            .max_body(1024)
            .max_header_bytes(8192)
            .max_sessions(50)
    })
}

/// Sends raw bytes, returns what the server answers before closing.
fn raw(app: &InProcess, request: &[u8]) -> String {
    let mut c = TcpStream::connect(app.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_line(rsp: &str) -> &str {
    rsp.lines().next().unwrap_or("")
}

#[test]
fn each_kind_of_bad_request_gets_its_status_and_the_dialogue_goes_on() {
    let app = echo_app();
    let a = agent(false);
    let k = get(&a, &app.url("/")).location.unwrap();
    let page = app.url(&k);

    // 413: declared too large, before reading it.
    let big = "x=".to_owned() + &"a".repeat(2000);
    let r = a
        .post(&page)
        .header("content-type", "application/x-www-form-urlencoded")
        .send(big.as_bytes())
        .unwrap();
    assert_eq!(r.status(), 413);
    // 413: chunked, found too large while reading.
    let cookie = format!(
        "cookie: {}\r\n",
        a.cookie_jar_lock()
            .iter()
            .next()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .unwrap()
    );
    let chunk = "a".repeat(1500);
    let req = format!(
        "POST {k} HTTP/1.1\r\nhost: x\r\n{cookie}content-type: application/x-www-form-urlencoded\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\nx={chunk}\r\n0\r\n\r\n",
        chunk.len() + 2
    );
    assert_eq!(
        status_line(&raw(&app, req.as_bytes())),
        "HTTP/1.1 413 Payload Too Large"
    );
    // 431: a head over max_header_bytes.
    let req = format!(
        "GET / HTTP/1.1\r\nhost: x\r\nx-filler: {}\r\n\r\n",
        "b".repeat(10_000)
    );
    assert_eq!(
        status_line(&raw(&app, req.as_bytes())),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    // 400: malformed forms.
    for body in ["x=%zz", "x=%ff%fe", "x=a b"] {
        let r = a
            .post(&page)
            .header("content-type", "application/x-www-form-urlencoded")
            .send(body.as_bytes())
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
    }
    // 415: not a urlencoded form.
    let r = a
        .post(&page)
        .header("content-type", "multipart/form-data; boundary=z")
        .send("--z--")
        .unwrap();
    assert_eq!(r.status(), 415);
    // 403: posted from another site's page.
    let r = a
        .post(&page)
        .header("origin", "http://evil.example")
        .send_form([("x", "evil")])
        .unwrap();
    assert_eq!(r.status(), 403);
    // 404 and 405, without touching a session.
    let started = app.stats.started();
    assert_eq!(get(&agent(false), &app.url("/favicon.ico")).status, 404);
    assert_eq!(get(&agent(false), &app.url("/k/nothex")).status, 404);
    assert_eq!(
        agent(false).put(&app.url("/")).send("").unwrap().status(),
        405
    );
    assert_eq!(app.stats.started(), started, "no session for a bad path");
    // Garbage instead of HTTP: hyper answers 400 and closes.
    assert!(status_line(&raw(&app, b"\x16\x03\x01garbage\r\n\r\n")).contains("400"));

    // None of that reached the dialogue; it still answers.
    assert_eq!(app.stats.answers(), 0);
    let next = post(&a, &page, &[("x", "still here")]);
    assert_eq!(next.status, 303);
    let body = get(&a, &app.url(&next.location.unwrap())).body;
    assert_eq!(by_id(&body, "last"), Some("still here"));
    assert_eq!(app.stats.failed(), 0);
}

#[test]
fn a_flood_of_new_sessions_stays_under_the_cap_and_spares_answered_ones() {
    let app = echo_app();
    // A real user, who has answered.
    let user = agent(false);
    let k = get(&user, &app.url("/")).location.unwrap();
    let k2 = post(&user, &app.url(&k), &[("x", "mine")])
        .location
        .unwrap();

    // 300 cookie-less visits against a cap of 50.
    for _ in 0..300 {
        let r = get(&agent(false), &app.url("/"));
        assert_eq!(r.status, 303, "the flood's sessions evict each other");
    }
    assert!(app.stats.sessions() <= 50, "{:?}", app.stats);
    assert_eq!(app.stats.evicted(), 301 - 50);
    // The user who answered was not evicted.
    let body = get(&user, &app.url(&k2)).body;
    assert_eq!(by_id(&body, "last"), Some("mine"));
}

#[test]
fn when_every_session_has_answered_a_new_one_is_refused() {
    let app = InProcess::start(|| App::new(echo).max_sessions(3));
    let users: Vec<_> = (0..3)
        .map(|_| {
            let a = agent(false);
            let k = get(&a, &app.url("/")).location.unwrap();
            assert_eq!(post(&a, &app.url(&k), &[("x", "1")]).status, 303);
            a
        })
        .collect();
    let late = get(&agent(false), &app.url("/"));
    assert_eq!(late.status, 503);
    assert!(late.body.contains("Too many sessions"));
    assert_eq!(app.stats.refused(), 1);
    assert_eq!(app.stats.sessions(), 3);
    drop(users);
}

#[test]
fn an_evicted_session_starts_over_with_a_notice() {
    let app = InProcess::start(|| App::new(echo).max_sessions(2));
    let first = agent(false);
    let k = get(&first, &app.url("/")).location.unwrap();
    get(&agent(false), &app.url("/"));
    get(&agent(false), &app.url("/")); // evicts `first`, the oldest that never answered
    assert_eq!(app.stats.evicted(), 1);
    let r = post(&first, &app.url(&k), &[("x", "late")]);
    assert_eq!(r.status, 303);
    assert!(r.set_cookie.is_some(), "a new session");
    let page = get(&first, &app.url(&r.location.unwrap())).body;
    assert!(page.contains("expired"), "{page}");
    assert_eq!(by_id(&page, "last"), Some(""), "the answer went nowhere");
}

#[test]
fn connections_beyond_the_cap_wait_for_a_free_one() {
    let app = InProcess::start(|| App::new(echo).max_connections(2));
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(app.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // The kernel takes the third connection; the server does not read it yet.
    let mut third = TcpStream::connect(app.addr).unwrap();
    third
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0; 64];
    assert!(third.read(&mut buf).is_err(), "answered beyond the cap");
    drop(idle);
    third
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut rsp = String::new();
    third.read_to_string(&mut rsp).unwrap();
    assert!(rsp.starts_with("HTTP/1.1 303"), "{rsp}");
}

#[test]
fn a_body_trickled_past_its_deadline_gets_408_and_others_are_served() {
    let app = InProcess::start(|| {
        App::new(echo)
            .max_body(1024)
            .body_timeout(Duration::from_millis(600))
    });
    let a = agent(false);
    let k = get(&a, &app.url("/")).location.unwrap();
    // No session needed: any page id, a body that never ends.
    let mut c = TcpStream::connect(app.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(
        b"POST /k/00000000000000000000000000000000 HTTP/1.1\r\nhost: x\r\n\
          content-type: application/x-www-form-urlencoded\r\ncontent-length: 1000\r\n\r\nx=",
    )
    .unwrap();
    let start = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut b = [0u8; 4096];
    c.set_nonblocking(true).unwrap();
    while start.elapsed() < Duration::from_secs(10) {
        if c.write_all(b"a").is_err() {
            break;
        }
        match c.read(&mut b) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        // Meanwhile an honest answer goes through.
        if start.elapsed() < Duration::from_millis(300) {
            let r = post(&a, &app.url(&k), &[("x", "honest")]);
            assert_eq!(r.status, 303);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let cut = start.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        status_line(&answer).starts_with("HTTP/1.1 408"),
        "{answer:?} after {cut:?}"
    );
    assert!(cut < Duration::from_secs(3), "cut only after {cut:?}");
}

#[test]
fn one_address_holds_only_its_share_of_sessions_and_a_refusal_says_when() {
    let app = InProcess::start(|| App::new(echo).max_sessions_per_peer(3));
    // A flood of new sessions from one address recycles its own.
    for _ in 0..20 {
        assert_eq!(get(&agent(false), &app.url("/")).status, 303);
    }
    assert_eq!(app.stats.sessions(), 3);
    assert_eq!(app.stats.evicted(), 17);
    // Three users of that address answer; a fourth is refused, and told so.
    let users: Vec<_> = (0..3)
        .map(|_| {
            let a = agent(false);
            let k = get(&a, &app.url("/")).location.unwrap();
            assert_eq!(post(&a, &app.url(&k), &[("x", "1")]).status, 303);
            a
        })
        .collect();
    let late = get(&agent(false), &app.url("/"));
    assert_eq!(late.status, 503);
    assert_eq!(late.retry_after.as_deref(), Some("60"));
    assert!(late.body.contains("Too many sessions"), "{}", late.body);
    assert!(late.body.contains("30 minutes"), "{}", late.body);
    assert!(!late.body.contains("in a minute"), "{}", late.body);
    assert_eq!(app.stats.refused(), 1);
    // Those who answered go on.
    for a in &users {
        assert_eq!(get(a, &app.url("/")).status, 303);
    }
}

#[test]
fn connections_beyond_an_address_share_get_503_at_once() {
    let app = InProcess::start(|| App::new(echo).max_connections_per_peer(2));
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(app.addr).unwrap())
        .collect();
    // The accept loop has taken both when a request on a third is answered.
    std::thread::sleep(Duration::from_millis(200));
    let over = raw(&app, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(over.starts_with("HTTP/1.1 503 "), "{over:?}");
    assert!(over.contains("retry-after: 5"), "{over:?}");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let ok = raw(
        &app,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert!(ok.starts_with("HTTP/1.1 303 "), "{ok:?}");
}

/// Sends raw bytes from address `from`; what the server answers before
/// closing.
fn raw_from(from: Ipv4Addr, app: &InProcess, request: &[u8]) -> String {
    let mut c = connect_from(from, app);
    c.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn connect_from(from: Ipv4Addr, app: &InProcess) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddrV4::new(from, 0).into()).unwrap();
    s.connect(&app.addr.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

fn header<'a>(rsp: &'a str, name: &str) -> Option<&'a str> {
    rsp.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A new session from `from` that answers its first page; the status of
/// the start (303, or 503 if refused).
fn answered_session(from: Ipv4Addr, app: &InProcess) -> (u16, String) {
    let start = raw_from(
        from,
        app,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    let status: u16 = start[9..12].parse().unwrap();
    if status != 303 {
        return (status, start);
    }
    let cookie = header(&start, "set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let page = header(&start, "location").unwrap();
    let answer = raw_from(
        from,
        app,
        format!(
            "POST {page} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncookie: {cookie}\r\n\
             content-type: application/x-www-form-urlencoded\r\ncontent-length: 3\r\n\r\nx=1"
        )
        .as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 303 "), "{answer:?}");
    (303, start)
}

/// An attacker spread over many addresses of one network (127.0.1.x), an
/// honest user elsewhere (127.0.0.1).
fn attacker(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 1, i)
}

#[test]
fn a_network_of_many_addresses_holds_only_its_share_of_sessions() {
    let app = InProcess::start(|| {
        App::new(echo)
            .max_sessions(40)
            .max_sessions_per_peer(5)
            .max_sessions_per_network(10)
    });
    // 20 addresses of one /24, 5 answered sessions each: without the
    // network's share they would fill the table, all answered, and every
    // newcomer would be refused.
    let mut refused = Vec::new();
    for i in 1..=20 {
        for _ in 0..5 {
            let (status, rsp) = answered_session(attacker(i), &app);
            if status != 303 {
                assert_eq!(status, 503, "{rsp:?}");
                refused.push(rsp);
            }
        }
    }
    assert_eq!(app.stats.sessions(), 10);
    assert_eq!(refused.len(), 90);
    assert!(refused[0].contains("from your network"), "{}", refused[0]);
    assert_eq!(header(&refused[0], "retry-after"), Some("60"));
    // The honest user gets sessions.
    for _ in 0..3 {
        assert_eq!(answered_session(Ipv4Addr::LOCALHOST, &app).0, 303);
    }
}

#[test]
fn a_network_of_many_addresses_holds_only_its_share_of_connections() {
    let app = InProcess::start(|| {
        App::new(echo)
            .max_connections(30)
            .max_connections_per_peer(4)
            .max_connections_per_network(10)
    });
    // 4 idle connections from each of 20 addresses of one /24: without the
    // network's share they would take all 30 places, and the accept loop
    // would take nobody else's until one closed.
    let held: Vec<TcpStream> = (1..=20)
        .flat_map(|i| (0..4).map(move |_| i))
        .map(|i| connect_from(attacker(i), &app))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let over = raw_from(attacker(21), &app, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(over.starts_with("HTTP/1.1 503 "), "{over:?}");
    // Most of the held ones were answered 503 and closed.
    let closed = held
        .iter()
        .filter(|c| {
            c.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut b = [0u8; 12];
            matches!((&**c).read(&mut b), Ok(12) if &b == b"HTTP/1.1 503")
        })
        .count();
    assert_eq!(closed, 70);
    let t = std::time::Instant::now();
    let ok = raw_from(
        Ipv4Addr::LOCALHOST,
        &app,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert!(ok.starts_with("HTTP/1.1 303 "), "{ok:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    drop(held);
}
