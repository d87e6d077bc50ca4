//! Sessions expire: an idle session's coro is cancelled (its dialogue's and
//! its helpers' `Drop`s run), and the browser's next request starts a new
//! session that says so.

mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use corio_web::{App, Session, form, html};
use util::{InProcess, agent, by_id, eventually, get, post};

struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Counts answers; its local guard and its helper coro's guard count drops.
fn dialogue(dropped: Arc<AtomicUsize>) -> impl Fn(&mut Session) {
    move |s: &mut Session| {
        let _mine = Counted(dropped.clone());
        let helper_guard = Counted(dropped.clone());
        let _helper = s.spawn(move || {
            let _held = helper_guard;
            corio::sleep(Duration::from_secs(3600));
        });
        let mut n = 0;
        loop {
            s.ask(html!("<p id=n>{}</p>{}", n, form(html!("<input name=x>"))));
            n += 1;
        }
    }
}

#[test]
fn an_idle_session_is_cancelled_and_the_next_request_starts_anew() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let app =
        InProcess::start(move || App::new(dialogue(d)).idle_timeout(Duration::from_millis(400)));
    let a = agent(false);
    let k1 = get(&a, &app.url("/")).location.unwrap();
    let k2 = post(&a, &app.url(&k1), &[("x", "1")]).location.unwrap();
    assert_eq!(by_id(&get(&a, &app.url(&k2)).body, "n"), Some("1"));
    assert_eq!(dropped.load(Ordering::SeqCst), 0);

    assert!(
        eventually(Duration::from_secs(10), || app.stats.expired() == 1),
        "not expired: {:?}",
        app.stats
    );
    assert!(
        eventually(Duration::from_secs(5), || dropped.load(Ordering::SeqCst)
            == 2),
        "the dialogue's and its helper's guards were dropped"
    );
    assert_eq!(app.stats.sessions(), 0);

    // The answer to the expired session's page starts a new session, which
    // says what happened; the answer itself is not used.
    let r = post(&a, &app.url(&k2), &[("x", "2")]);
    assert_eq!(r.status, 303);
    assert!(r.set_cookie.is_some());
    let page = get(&a, &app.url(&r.location.unwrap())).body;
    assert!(page.contains("Your session has expired"), "{page}");
    assert_eq!(by_id(&page, "n"), Some("0"));
    assert_eq!(app.stats.started(), 2);
}

#[test]
fn a_busy_session_still_ends_at_its_absolute_timeout() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let app = InProcess::start(move || {
        App::new(dialogue(d))
            .idle_timeout(Duration::from_secs(60))
            .absolute_timeout(Duration::from_millis(600))
    });
    let a = agent(false);
    let mut k = get(&a, &app.url("/")).location.unwrap();
    // Keep answering: never idle.
    let ended = eventually(Duration::from_secs(10), || {
        let r = post(&a, &app.url(&k), &[("x", "1")]);
        k = r.location.unwrap_or_default();
        r.set_cookie.is_some()
    });
    assert!(ended, "the session lived past its absolute timeout");
    assert_eq!(app.stats.expired(), 1);
    assert!(eventually(Duration::from_secs(5), || dropped
        .load(Ordering::SeqCst)
        == 2));
}

#[test]
fn the_final_page_outlives_its_session_until_the_idle_timeout() {
    let app = InProcess::start(|| {
        App::new(|s: &mut Session| s.show(html!("<p id=bye>bye</p>")))
            .idle_timeout(Duration::from_millis(300))
    });
    let a = agent(false);
    let k = get(&a, &app.url("/")).location.unwrap();
    assert_eq!(by_id(&get(&a, &app.url(&k)).body, "bye"), Some("bye"));
    // An idle timeout after the dialogue ended, it goes.
    std::thread::sleep(Duration::from_secs(2));
    let r = get(&a, &app.url(&k));
    assert_eq!(r.status, 303);
    assert!(r.set_cookie.is_some(), "a new session: {r:?}");
}

#[test]
fn a_session_busy_past_its_idle_timeout_is_reaped_too() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let app = InProcess::start(move || {
        App::new(move |s: &mut Session| {
            let _mine = Counted(d.clone());
            s.ask(form(html!("<input name=x>")));
            // Busy with something that never ends, not waiting in `ask`.
            corio::sleep(Duration::from_secs(3600));
        })
        .idle_timeout(Duration::from_millis(300))
    });
    let a = agent(false);
    let k = get(&a, &app.url("/")).location.unwrap();
    let t = std::time::Instant::now();
    // The answer waits for the busy dialogue until the reaper ends it; then
    // it starts a new session.
    let r = post(&a, &app.url(&k), &[("x", "1")]);
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "the reply timeout (30 s) ended the wait instead"
    );
    assert_eq!(r.status, 303);
    assert!(r.set_cookie.is_some(), "{r:?}");
    assert_eq!(app.stats.expired(), 1);
    assert!(eventually(Duration::from_secs(5), || dropped
        .load(Ordering::SeqCst)
        == 1));
}
