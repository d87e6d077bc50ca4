//! A dialogue as a plain HTTP client sees it: pages, answers, the
//! continuation ids, replayed double submits, refused stale pages, the
//! final page, and sessions that start, end and fail on their own.

mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use corio_web::{App, Session, form, html};
use util::{InProcess, agent, by_id, get, post};

/// Adds what it is given until the total reaches 100.
fn counter(s: &mut Session) {
    let mut total: i64 = 0;
    loop {
        let a = s.ask(html!(
            "<p>Total: <b id=total>{}</b></p>{}",
            total,
            form(html!("<input name=add>"))
        ));
        total += a.parse::<i64>("add").unwrap_or(0);
        if total >= 100 {
            break;
        }
    }
    s.show(html!("<p>Done at <b id=final>{}</b></p>", total));
}

fn counter_app() -> InProcess {
    InProcess::start(|| App::new(counter).title("Counter"))
}

/// The page a 303 leads to.
fn follow(a: &ureq::Agent, app: &InProcess, location: &str) -> String {
    let page = get(a, &app.url(location));
    assert_eq!(page.status, 200, "{location}: {page:?}");
    page.body
}

#[test]
fn a_dialogue_runs_top_to_bottom_across_requests() {
    let app = counter_app();
    let a = agent(false);

    let start = get(&a, &app.url("/"));
    assert_eq!(start.status, 303);
    let k1 = start.location.clone().expect("a Location");
    assert!(k1.starts_with("/k/") && k1.len() == 3 + 32, "{k1}");
    let cookie = start.set_cookie.expect("a session cookie");
    assert!(cookie.starts_with("corio_sid="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    let first = a.get(&app.url(&k1)).call().unwrap();
    let csp = first.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'"),
        "only the server's own scripts run: {csp}"
    );
    assert_eq!(first.headers()["cache-control"], "no-store");
    assert_eq!(by_id(&follow(&a, &app, &k1), "total"), Some("0"));

    let answered = post(&a, &app.url(&k1), &[("add", "30")]);
    assert_eq!(answered.status, 303);
    assert_eq!(answered.set_cookie, None, "the session keeps its cookie");
    let k2 = answered.location.unwrap();
    assert_ne!(k2, k1, "every page has its own id");
    assert_eq!(by_id(&follow(&a, &app, &k2), "total"), Some("30"));
    // Reloading a page changes nothing.
    assert_eq!(by_id(&follow(&a, &app, &k2), "total"), Some("30"));
    // `/` leads to where the dialogue is.
    assert_eq!(
        get(&a, &app.url("/")).location.as_deref(),
        Some(k2.as_str())
    );

    let last = post(&a, &app.url(&k2), &[("add", "70")]).location.unwrap();
    assert_eq!(by_id(&follow(&a, &app, &last), "final"), Some("100"));
    assert_eq!(app.stats.answers(), 2);
    assert!(util::eventually(std::time::Duration::from_secs(5), || app
        .stats
        .finished()
        == 1));
    assert_eq!(
        app.stats.sessions(),
        0,
        "a dialogue that returned has no coro left"
    );

    // The final page stays readable; anything else starts a new dialogue.
    assert_eq!(by_id(&follow(&a, &app, &last), "final"), Some("100"));
    let again = get(&a, &app.url("/"));
    assert_eq!(again.status, 303);
    assert!(again.set_cookie.is_some(), "a new session, with a new id");
    let fresh = follow(&a, &app, again.location.as_deref().unwrap());
    assert_eq!(by_id(&fresh, "total"), Some("0"));
    assert!(
        !fresh.contains("expired"),
        "starting again after the end is no expiry"
    );
}

#[test]
fn a_double_submit_is_replayed_and_an_older_page_is_refused() {
    let app = counter_app();
    let a = agent(false);
    let k1 = get(&a, &app.url("/")).location.unwrap();
    let k2 = post(&a, &app.url(&k1), &[("add", "1")]).location.unwrap();

    // The same answer again (a double click, a re-POST): the page the first
    // one led to, and no second effect.
    let twice = post(&a, &app.url(&k1), &[("add", "1")]);
    assert_eq!(twice.status, 303);
    assert_eq!(twice.location.as_deref(), Some(k2.as_str()));
    assert_eq!(by_id(&follow(&a, &app, &k2), "total"), Some("1"));
    assert_eq!(app.stats.replayed(), 1);

    let k3 = post(&a, &app.url(&k2), &[("add", "2")]).location.unwrap();
    // k1 is two pages back now: refused, whether read or answered.
    let back = get(&a, &app.url(&k1));
    assert_eq!(back.status, 409);
    assert!(back.body.contains("out of date"), "{}", back.body);
    assert!(
        back.body.contains(&format!("href=\"{k3}\"")),
        "links to the current page"
    );
    let late = post(&a, &app.url(&k1), &[("add", "50")]);
    assert_eq!(late.status, 409);
    assert!(late.body.contains("answered already"), "{}", late.body);
    assert!(late.body.contains("this answer was not used"));
    // A page id nobody issued is no better, and is not called an earlier
    // page of this dialogue.
    let made_up = format!("/k/{}", "0".repeat(32));
    let forged = post(&a, &app.url(&made_up), &[("add", "50")]);
    assert_eq!(forged.status, 409);
    assert!(
        forged.body.contains("not one of this session"),
        "{}",
        forged.body
    );
    assert!(!forged.body.contains("answered already"), "{}", forged.body);
    assert_eq!(by_id(&follow(&a, &app, &k3), "total"), Some("3"));
    assert_eq!(app.stats.answers(), 2);
    assert_eq!(app.stats.stale(), 3);
}

#[test]
fn two_browsers_have_two_dialogues() {
    let app = counter_app();
    let (a, b) = (agent(true), agent(true));
    assert_eq!(by_id(&get(&a, &app.url("/")).body, "total"), Some("0"));
    assert_eq!(by_id(&get(&b, &app.url("/")).body, "total"), Some("0"));
    assert_eq!(app.stats.sessions(), 2);
    // Each answers its own page (the agents follow the redirects).
    let url_a = page_url(&a, &app);
    let url_b = page_url(&b, &app);
    assert_ne!(url_a, url_b);
    assert_eq!(
        by_id(&post(&a, &url_a, &[("add", "5")]).body, "total"),
        Some("5")
    );
    assert_eq!(
        by_id(&post(&b, &url_b, &[("add", "7")]).body, "total"),
        Some("7")
    );
    // b cannot answer a's page: the page id belongs to a's session.
    let url_a2 = page_url(&a, &app);
    let cross = agent(false);
    get(&cross, &app.url("/"));
    let r = post(&cross, &url_a2, &[("add", "50")]);
    assert_eq!(r.status, 409, "another session's page is refused here");
    // And the page says what happened: not "answered already".
    assert!(r.body.contains("not part of your session"), "{}", r.body);
    assert!(r.body.contains("another browser"), "{}", r.body);
    assert!(!r.body.contains("answered already"), "{}", r.body);
    let read = get(&cross, &url_a2);
    assert_eq!(read.status, 409);
    assert!(
        read.body.contains("not one of this session"),
        "{}",
        read.body
    );
    assert_eq!(by_id(&get(&a, &url_a2).body, "total"), Some("5"));
}

#[test]
fn a_page_of_an_expired_session_is_called_so_in_a_new_one() {
    // An old tab of a session that expired, answered from a browser that
    // has a newer session: not "answered already".
    let app = InProcess::start(|| {
        App::new(counter)
            .title("Counter")
            .idle_timeout(std::time::Duration::from_millis(300))
    });
    let a = agent(false);
    let first = get(&a, &app.url("/"));
    let old_k = first.location.unwrap();
    let cookie = first.set_cookie.unwrap();
    let old_sid = cookie.split(';').next().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(800));
    // The old session is gone: a new one starts for this browser.
    let restart = a
        .get(&app.url("/"))
        .header("cookie", &old_sid)
        .call()
        .unwrap();
    let new_sid = restart.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(new_sid, old_sid);
    let mut stale = a
        .post(&app.url(&old_k))
        .header("cookie", &new_sid)
        .send_form([("add", "50")])
        .unwrap();
    assert_eq!(stale.status(), 409);
    let body = stale.body_mut().read_to_string().unwrap();
    assert!(body.contains("ended or expired"), "{body}");
    assert!(!body.contains("answered already"), "{body}");
}

/// The URL of the page `a`'s session is on (following `/`'s redirect).
fn page_url(a: &ureq::Agent, app: &InProcess) -> String {
    let no_follow = agent(false);
    // Copy the session cookie into a non-following agent to see Location.
    let jar = a.cookie_jar_lock();
    let sid = jar
        .iter()
        .find(|c| c.name() == "corio_sid")
        .map(|c| c.value().to_owned())
        .expect("a session cookie");
    drop(jar);
    let rsp = no_follow
        .get(&app.url("/"))
        .header("cookie", &format!("corio_sid={sid}"))
        .call()
        .unwrap();
    app.url(rsp.headers()["location"].to_str().unwrap())
}

#[test]
fn an_unknown_session_id_is_never_adopted() {
    let app = counter_app();
    let a = agent(false);
    let forged = "0123456789abcdef0123456789abcdef";
    let rsp = a
        .get(&app.url("/"))
        .header("cookie", &format!("corio_sid={forged}"))
        .call()
        .unwrap();
    assert_eq!(rsp.status(), 303);
    let cookie = rsp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        !cookie.contains(forged),
        "the forged id was adopted: {cookie}"
    );
    let page = get(&a, &app.url(rsp.headers()["location"].to_str().unwrap()));
    assert!(
        page.body.contains("expired"),
        "a new session says so: {}",
        page.body
    );
    assert_eq!(by_id(&page.body, "total"), Some("0"));
}

#[test]
fn a_panicking_dialogue_fails_alone() {
    let app = InProcess::start(|| {
        App::new(|s: &mut Session| {
            let a = s.ask(form(html!("<input name=x>")));
            if a.get("x") == Some("boom") {
                panic!("the dialogue broke");
            }
            s.show(html!("<p id=ok>fine</p>"));
        })
    });
    let a = agent(false);
    let k = get(&a, &app.url("/")).location.unwrap();
    let r = post(&a, &app.url(&k), &[("x", "boom")]);
    assert_eq!(r.status, 500);
    assert!(r.body.contains("failed"));
    assert!(util::eventually(std::time::Duration::from_secs(5), || app
        .stats
        .failed()
        == 1));
    // The server goes on: a new session works.
    let b = agent(true);
    get(&b, &app.url("/"));
    let url = page_url(&b, &app);
    assert_eq!(
        by_id(&post(&b, &url, &[("x", "ok")]).body, "ok"),
        Some("fine")
    );
}

#[test]
fn shutting_down_runs_every_dialogues_drops() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let app = InProcess::start(move || {
        App::new(move |s: &mut Session| {
            let _mine = Counted(d.clone());
            loop {
                s.ask(form(html!("<input name=x>")));
            }
        })
    });
    for _ in 0..3 {
        get(&agent(true), &app.url("/"));
    }
    assert_eq!(app.stats.sessions(), 3);
    app.stop();
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        3,
        "each parked dialogue unwound"
    );
}
