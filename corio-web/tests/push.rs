//! Push: a session's events reach its open page over server-sent events
//! (and a long poll), in order, resumable from a cursor, never blocking
//! the pusher.

mod util;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use corio_web::{App, Session, form, html};
use util::{InProcess, agent, get, post};

/// Pushes each word of every answer as an event.
fn words(s: &mut Session) {
    let push = s.pusher();
    loop {
        let a = s.ask(html!("<ul id=log></ul>{}", form(html!("<input name=say>"))));
        for w in a.get("say").unwrap_or("").split_whitespace() {
            assert!(push.append("log", html!("<li>{}</li>", w)));
        }
    }
}

fn app() -> InProcess {
    InProcess::start(|| {
        App::new(words)
            .heartbeat(Duration::from_millis(300))
            .push_buffer(3)
    })
}

fn cookie(a: &ureq::Agent) -> String {
    let jar = a.cookie_jar_lock();
    let c = jar
        .iter()
        .find(|c| c.name() == "corio_sid")
        .expect("a session cookie");
    format!("corio_sid={}", c.value())
}

/// Reads an event stream until `n` events came; returns (id, event, data).
fn events(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    n: usize,
) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    let (mut id, mut ev, mut data) = (0, String::new(), Vec::new());
    while out.len() < n {
        let line = lines
            .next()
            .expect("the stream ended early")
            .expect("read the stream");
        if line.is_empty() {
            if id != 0 {
                out.push((id, std::mem::take(&mut ev), data.join("\n")));
            }
            id = 0;
            data.clear();
        } else if let Some(v) = line.strip_prefix("id: ") {
            id = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("event: ") {
            ev = v.to_owned();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push(v.to_owned());
        }
    }
    out
}

#[test]
fn events_stream_in_order_and_resume_from_the_last_id() {
    let app = app();
    let a = agent(false);
    let k = get(&a, &app.url("/")).location.unwrap();
    let page = get(&a, &app.url(&k)).body;
    assert!(
        page.contains("<script src=\"/_corio/push.js\" data-from=\"0\" defer></script>"),
        "{page}"
    );
    let js = get(&a, &app.url("/_corio/push.js"));
    assert!(js.body.contains("EventSource"));

    let stream = agent(false)
        .get(&app.url("/_push?from=0"))
        .header("cookie", &cookie(&a))
        .call()
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut lines = BufReader::new(stream.into_body().into_reader()).lines();

    let k2 = post(&a, &app.url(&k), &[("say", "one two <script>")])
        .location
        .unwrap();
    let got = events(&mut lines, 3);
    assert_eq!(
        got,
        [
            (1, "append".into(), "log\n<li>one</li>".into()),
            (2, "append".into(), "log\n<li>two</li>".into()),
            (3, "append".into(), "log\n<li>&lt;script&gt;</li>".into()),
        ]
    );
    // Heartbeats keep the stream open while nothing happens.
    std::thread::sleep(Duration::from_millis(700));
    post(&a, &app.url(&k2), &[("say", "four")]);
    assert_eq!(events(&mut lines, 1)[0].0, 4);

    // A reconnecting EventSource sends Last-Event-ID and gets the rest.
    let again = agent(false)
        .get(&app.url("/_push?from=0"))
        .header("cookie", &cookie(&a))
        .header("last-event-id", "3")
        .call()
        .unwrap();
    let mut lines = BufReader::new(again.into_body().into_reader()).lines();
    assert_eq!(events(&mut lines, 1)[0].0, 4);
}

#[test]
fn a_long_poll_reads_the_same_log() {
    let app = app();
    let a = agent(false);
    let k = get(&a, &app.url("/")).location.unwrap();
    post(&a, &app.url(&k), &[("say", "a b")]);
    let poll = |from: u64| {
        let mut r = agent(false)
            .get(&app.url(&format!("/_poll?from={from}")))
            .header("cookie", &cookie(&a))
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let (status, text) = poll(0);
    assert_eq!(status, 200);
    assert!(
        text.starts_with("id: 1\nevent: append\ndata: log\ndata: <li>a</li>\n\nid: 2\n"),
        "{text}"
    );
    let (_, text) = poll(1);
    assert!(
        text.starts_with("id: 2\n") && !text.contains("id: 1\n"),
        "{text}"
    );
    // Nothing new: it waits one heartbeat and answers empty.
    let t = std::time::Instant::now();
    assert_eq!(poll(2), (200, String::new()));
    assert!(t.elapsed() >= Duration::from_millis(250));
    // Without a session there is nothing to poll.
    let none = agent(false).get(&app.url("/_poll?from=0")).call().unwrap();
    assert_eq!(none.status(), 204);
}

#[test]
fn a_listener_left_too_far_behind_is_told_to_reload() {
    let app = app();
    let a = agent(false);
    let k = get(&a, &app.url("/")).location.unwrap();
    // push_buffer(3): five events leave 3..5 in the ring.
    post(&a, &app.url(&k), &[("say", "1 2 3 4 5")]);
    let mut r = agent(false)
        .get(&app.url("/_poll?from=1"))
        .header("cookie", &cookie(&a))
        .call()
        .unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    assert_eq!(text, "id: 5\nevent: reload\ndata: \n\n");
}

#[test]
fn the_stream_ends_when_the_session_does() {
    let app = app();
    let a = agent(false);
    get(&a, &app.url("/"));
    let stream = agent(false)
        .get(&app.url("/_push?from=0"))
        .header("cookie", &cookie(&a))
        .call()
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stream.into_body().into_reader(), &mut rest);
        rest
    });
    std::thread::sleep(Duration::from_millis(100));
    let t = std::time::Instant::now();
    app.stop();
    let rest = reader.join().unwrap();
    // (The client's own timeout is 30 s.)
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "the stream did not end with the session"
    );
    assert!(rest.starts_with("retry: 2000\n"), "{rest}");
}

#[test]
fn a_session_keeps_at_most_its_share_of_streams_and_long_polls() {
    let app = InProcess::start(|| {
        App::new(words)
            .heartbeat(Duration::from_millis(300))
            .max_push_streams(2)
    });
    let a = agent(false);
    let k = get(&a, &app.url("/")).location.unwrap();
    let open = || {
        let r = agent(false)
            .get(&app.url("/_push?from=0"))
            .header("cookie", &cookie(&a))
            .call()
            .unwrap();
        BufReader::new(r.into_body().into_reader())
    };
    let first = open();
    let mut second = open().lines();
    // A third stream ends the oldest: its body ends (the reader sees the
    // end, not a timeout).
    let mut third = open().lines();
    let t = std::time::Instant::now();
    let rest = std::io::read_to_string(first).unwrap();
    assert!(rest.starts_with("retry: 2000\n"), "{rest}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // The two left both get the next event.
    post(&a, &app.url(&k), &[("say", "hi")]);
    assert_eq!(events(&mut second, 1)[0].2, "log\n<li>hi</li>");
    assert_eq!(events(&mut third, 1)[0].2, "log\n<li>hi</li>");
    // Long polls: two wait, a third is refused at once.
    let poll = || {
        let cookie = cookie(&a);
        let url = app.url("/_poll?from=1");
        std::thread::spawn(move || {
            let mut r = agent(false)
                .get(&url)
                .header("cookie", &cookie)
                .call()
                .unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (
                r.status().as_u16(),
                retry,
                r.body_mut().read_to_string().unwrap(),
            )
        })
    };
    let waiting = [poll(), poll()];
    std::thread::sleep(Duration::from_millis(100));
    let (status, retry, _) = poll().join().unwrap();
    assert_eq!((status, retry.as_deref()), (503, Some("2")));
    for w in waiting {
        assert_eq!(w.join().unwrap().0, 200);
    }
}
