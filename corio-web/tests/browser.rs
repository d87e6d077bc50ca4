//! The examples and the session rules in a real browser: headless Chromium
//! driven through WebDriver, one profile (so one cookie jar) per user.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the tests
//! print why and pass, except under `CI=true`, where they fail. They run
//! one at a time, each bounded in time.
//!
//! `CORIO_WEB_SCREENSHOTS=1` saves a screenshot of each example to
//! `corio-web/screenshots/` (the README shows them).

mod util;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use corio_web::{App, Session, form, html};
use util::browser::{self, Browser};
use util::{Example, InProcess, eventually};

async fn screenshot(b: &Browser, name: &str) {
    if std::env::var_os("CORIO_WEB_SCREENSHOTS").is_some() {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("screenshots/{name}.png"));
        b.screenshot(&path).await;
    }
}

/// The number on the page's `#tries`.
async fn tries(b: &Browser) -> u32 {
    b.text("#tries").await.parse().expect("a number of tries")
}

#[test]
fn guess_is_played_to_correct() {
    let _one = browser::lock();
    let Some(driver) = browser::driver() else {
        return;
    };
    let game = Example::start("guess", &[("GUESS_SECRET", "37")]);
    browser::bounded(async {
        let b = driver.browser().await;
        b.goto(&game.url("/")).await;
        assert!(b.text("#hint").await.contains("from 1 to 100"));
        // The session cookie is HttpOnly: the page's scripts cannot read it.
        let cookie = b.js("return document.cookie").await;
        assert!(
            !cookie.as_str().unwrap_or("").contains("corio_sid"),
            "{cookie}"
        );

        let (mut lo, mut hi, mut n) = (1, 100, 0);
        loop {
            let guess = (lo + hi) / 2;
            b.submit("guess", &guess.to_string()).await;
            n += 1;
            let hint = b.text("#hint").await;
            assert_eq!(tries(&b).await, n, "one try per answer");
            if hint.contains("correct") {
                assert_eq!(guess, 37);
                assert_eq!(hint, "37 is correct!");
                break;
            } else if hint.contains("too high") {
                assert!(guess > 37, "{hint}");
                hi = guess - 1;
            } else if hint.contains("too low") {
                assert!(guess < 37, "{hint}");
                lo = guess + 1;
                if n == 2 {
                    screenshot(&b, "guess").await;
                }
            } else {
                panic!("unexpected hint: {hint}");
            }
            assert!(n < 10, "binary search needs at most 7 tries");
        }
        // "Play again" starts a new game.
        b.click("#again").await;
        assert_eq!(tries(&b).await, 0);
        b.close().await;
    });
}

#[test]
fn back_button_reload_and_double_submit_keep_the_game_consistent() {
    let _one = browser::lock();
    let Some(driver) = browser::driver() else {
        return;
    };
    let game = Example::start("guess", &[("GUESS_SECRET", "37")]);
    browser::bounded(async {
        let b = driver.browser().await;
        b.goto(&game.url("/")).await;
        let first_page = b.url().await;
        b.submit("guess", "50").await;
        assert_eq!(tries(&b).await, 1);
        let second_page = b.url().await;

        // Reload after the POST: the page is read again, nothing answered.
        let before = b.page_id().await;
        b.client.refresh().await.unwrap();
        b.wait_new_page(&before).await;
        assert_eq!(tries(&b).await, 1);
        assert_eq!(b.url().await, second_page);

        // Back: the answered page is out of date; its link leads back to
        // where the game is.
        let before = b.page_id().await;
        b.client.back().await.unwrap();
        b.wait_new_page(&before).await;
        assert_eq!(b.url().await, first_page);
        assert!(b.text("h1").await.contains("out of date"));
        b.click("#current").await;
        assert_eq!(b.url().await, second_page);
        assert_eq!(tries(&b).await, 1);

        // Double submit, for sure: the same answer is sent by a script and
        // then by the form itself. The second is replayed.
        let before = b.page_id().await;
        b.js(
            "const f = document.querySelector('form'); f.guess.value = '10';\
             fetch(location.href, { method: 'POST', body: new URLSearchParams({ guess: '10' }) })\
               .then(() => f.requestSubmit());",
        )
        .await;
        b.wait_new_page(&before).await;
        assert!(b.text("#hint").await.contains("10 is too low"));
        assert_eq!(tries(&b).await, 2, "two submits of one page count once");

        // Double click: two submits as fast as a hand can. However many
        // reach the server, one try is counted.
        let before = b.page_id().await;
        b.js(
            "const f = document.querySelector('form'); f.guess.value = '20';\
             f.requestSubmit(); f.requestSubmit();",
        )
        .await;
        b.wait_new_page(&before).await;
        b.wait_for("the answer's page", "document.getElementById('hint')")
            .await;
        assert!(b.text("#hint").await.contains("20 is too low"));
        assert_eq!(tries(&b).await, 3);
        // An answer to the first page, two answers ago (a form kept open in
        // another tab, sent now): refused, nothing counted.
        let old_action = first_page.clone();
        let before = b.page_id().await;
        b.js(&format!(
            "const f = document.createElement('form'); f.method = 'post'; f.action = '{old_action}';\
             const i = document.createElement('input'); i.name = 'guess'; i.value = '1'; f.append(i);\
             document.body.append(f); f.submit();"
        ))
        .await;
        b.wait_new_page(&before).await;
        assert!(b.text("#stale").await.contains("this answer was not used"));
        b.click("#current").await;
        assert_eq!(tries(&b).await, 3);

        b.close().await;
    });
}

/// The maze's junctions on the way to the exit, and the way to take.
const WAY: &[((u32, u32), &str)] = &[
    ((1, 5), "s"),
    ((3, 3), "s"),
    ((5, 3), "s"),
    ((7, 1), "s"),
    ((11, 5), "e"),
    ((13, 7), "e"),
    ((13, 15), "e"),
];

#[test]
fn maze_is_walked_to_its_exit_with_a_dead_end_on_the_way() {
    let _one = browser::lock();
    let Some(driver) = browser::driver() else {
        return;
    };
    let maze = Example::start("maze", &[]);
    browser::bounded(async {
        let b = driver.browser().await;
        b.goto(&maze.url("/")).await;
        let mut detoured = false;
        let mut asked = 0;
        loop {
            if b.js("return !!document.getElementById('done')").await == true {
                break;
            }
            let row: u32 = b
                .js("return document.getElementById('where').dataset.row")
                .await
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            let col: u32 = b
                .js("return document.getElementById('where').dataset.col")
                .await
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            let depth: u32 = b.text("#depth").await.parse().unwrap();
            let way = WAY
                .iter()
                .find(|(at, _)| *at == (row, col))
                .unwrap_or_else(|| panic!("asked at an unexpected junction ({row}, {col})"))
                .1;
            if (row, col) == (5, 3) && !detoured {
                // East is a dead end: the search goes down it, backs up, and
                // the stack is as deep as before at the next junction.
                detoured = true;
                assert_eq!(depth, 11);
                b.click("#go-e").await;
                asked += 1;
                let news = b.text("#news").await;
                assert!(news.contains("dead end"), "{news}");
                assert!(news.contains("row 5, column 3"), "{news}");
                assert_eq!(
                    b.text("#depth").await,
                    "15",
                    "the dead end's frames are gone"
                );
                screenshot(&b, "maze").await;
                continue;
            }
            b.click(&format!("#go-{way}")).await;
            asked += 1;
        }
        assert!(detoured);
        let done = b.text("#done").await;
        assert_eq!(
            done,
            format!(
                "You reached the exit: 42 steps from the start, {asked} questions answered, 9 steps backtracked out of dead ends."
            )
        );
        assert_eq!(asked, 7);
        b.close().await;
    });
}

#[test]
fn webchat_pushes_each_line_to_the_other_browser() {
    let _one = browser::lock();
    let Some(driver) = browser::driver() else {
        return;
    };
    let chat = Example::start("webchat", &[]);
    browser::bounded(async {
        let ann = driver.browser().await;
        let bob = driver.browser().await;
        for (b, nick) in [(&ann, "ann"), (&bob, "bob")] {
            b.goto(&chat.url("/")).await;
            b.submit("nick", nick).await;
            assert_eq!(b.text("#nick").await, nick);
        }
        // Bob's page stays the same page from now on: no reload.
        bob.js("window.__stay = 'bob-1'").await;
        ann.submit("line", "hello from ann <b>x</b>").await;
        bob.wait_for(
            "ann's line pushed to bob",
            "Array.from(document.querySelectorAll('#log li')).some(li => li.textContent === 'ann: hello from ann <b>x</b>')",
        )
        .await;
        assert_eq!(
            bob.js("return window.__stay").await,
            "bob-1",
            "bob's page was reloaded"
        );
        // The line was text, not markup: the only <b> is ann's nickname.
        assert_eq!(
            bob.js("return document.querySelectorAll('#log li b').length")
                .await,
            1
        );

        ann.js("window.__stay = 'ann-1'").await;
        bob.submit("line", "hi ann").await;
        ann.wait_for(
            "bob's line pushed to ann",
            "Array.from(document.querySelectorAll('#log li')).some(li => li.textContent === 'bob: hi ann')",
        )
        .await;
        assert_eq!(ann.js("return window.__stay").await, "ann-1");
        screenshot(&ann, "webchat").await;

        // The same through the long poll.
        let before = ann.page_id().await;
        ann.js("sessionStorage.setItem('corio-transport', 'poll'); location.reload()")
            .await;
        ann.wait_new_page(&before).await;
        ann.js("window.__stay = 'ann-2'").await;
        bob.submit("line", "by long poll").await;
        ann.wait_for(
            "a line by long poll",
            "Array.from(document.querySelectorAll('#log li')).some(li => li.textContent === 'bob: by long poll')",
        )
        .await;
        assert_eq!(ann.js("return window.__stay").await, "ann-2");
        // Every line once, in order.
        let lines = ann
            .js("return Array.from(document.querySelectorAll('#log li')).map(li => li.textContent)")
            .await;
        let lines: Vec<String> = serde_json::from_value(lines).unwrap();
        assert_eq!(
            lines,
            [
                "ann joined",
                "bob joined",
                "ann: hello from ann <b>x</b>",
                "bob: hi ann",
                "bob: by long poll"
            ]
        );
        ann.close().await;
        bob.close().await;
    });
}

#[test]
fn an_expired_session_starts_over_in_the_browser() {
    let _one = browser::lock();
    let Some(driver) = browser::driver() else {
        return;
    };
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let app = InProcess::start(move || {
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        App::new(move |s: &mut Session| {
            let _guard = Counted(d.clone());
            let mut n = 0;
            loop {
                s.ask(html!(
                    "<p>Answers: <b id=n>{}</b></p>{}",
                    n,
                    form(html!("<input name=x>"))
                ));
                n += 1;
            }
        })
        .idle_timeout(Duration::from_secs(1))
    });
    browser::bounded(async {
        let b = driver.browser().await;
        b.goto(&app.url("/")).await;
        b.submit("x", "one").await;
        assert_eq!(b.text("#n").await, "1");
        assert!(
            eventually(Duration::from_secs(15), || app.stats.expired() == 1),
            "{:?}",
            app.stats
        );
        assert!(eventually(Duration::from_secs(5), || dropped
            .load(Ordering::SeqCst)
            == 1));
        // The page is still open; answering it starts a new session.
        b.submit("x", "two").await;
        assert!(b.text(".notice").await.contains("Your session has expired"));
        assert_eq!(b.text("#n").await, "0");
        b.submit("x", "three").await;
        assert_eq!(b.text("#n").await, "1");
        assert!(
            b.js("return document.querySelector('.notice') === null")
                .await
                == true
        );
        b.close().await;
    });
    assert_eq!(app.stats.started(), 2);
}
