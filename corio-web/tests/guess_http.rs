//! The guess example played over plain HTTP: a client with a cookie jar,
//! no browser, no script — it follows the redirects and posts the form.

mod util;

use util::{Example, agent, by_id, get};

#[test]
fn guess_is_played_with_a_cookie_jar_only() {
    let game = Example::start("guess", &[("GUESS_SECRET", "63")]);
    let client = agent(true);
    let first = client.get(&game.url("/")).call().unwrap();
    // Following `/`'s redirect lands on the first page, at its own URL.
    let mut page_url = ureq::ResponseExt::get_uri(&first).to_string();
    let mut first = first;
    let body = first.body_mut().read_to_string().unwrap();
    assert_eq!(by_id(&body, "tries"), Some("0"));
    assert!(body.contains("<input name=guess"), "{body}");

    let (mut lo, mut hi, mut tries) = (1, 100, 0);
    let verdict = loop {
        let guess = (lo + hi) / 2;
        let mut rsp = client
            .post(&page_url)
            .send_form([("guess", guess.to_string().as_str())])
            .unwrap();
        assert_eq!(rsp.status(), 200);
        page_url = ureq::ResponseExt::get_uri(&rsp).to_string();
        let body = rsp.body_mut().read_to_string().unwrap();
        tries += 1;
        let hint = by_id(&body, "hint").expect("a hint").to_owned();
        assert_eq!(by_id(&body, "tries"), Some(tries.to_string().as_str()));
        if hint.contains("too high") {
            hi = guess - 1;
        } else if hint.contains("too low") {
            lo = guess + 1;
        } else {
            break hint;
        }
        assert!(tries < 8);
    };
    assert_eq!(verdict, "63 is correct!");
    // A client without the cookie is somebody else: a new game.
    let stranger = get(&agent(true), &game.url("/"));
    assert_eq!(by_id(&stranger.body, "tries"), Some("0"));
}
