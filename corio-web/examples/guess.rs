//! The number game, as one loop: ask for a guess, say "too high", "too
//! low" or "correct", count the tries. Each browser plays its own game in
//! a coro of its own; `secret`, `tries` and `hint` are plain locals that
//! live across requests.
//!
//! ```text
//! cargo run -p corio-web --example guess -- 127.0.0.1:8080
//! GUESS_SECRET=42 cargo run -p corio-web --example guess -- 127.0.0.1:8080
//! ```

use corio_web::{App, Html, Session, form, html};

fn game(s: &mut Session) {
    let secret = secret();
    let mut tries = 0;
    let mut hint = html!("I am thinking of a number from 1 to 100.");
    loop {
        let answer = s.ask(page(&hint, tries));
        let guess: u32 = match answer.parse("guess") {
            Ok(n) => n,
            Err(e) => {
                hint = html!("<span class=error>{}</span>", e);
                continue;
            }
        };
        tries += 1;
        if guess == secret {
            break;
        }
        let verdict = if guess > secret {
            "too high"
        } else {
            "too low"
        };
        hint = html!("{} is {}.", guess, verdict);
    }
    s.show(html!(
        "<h1>Guess the number</h1><p class=hint id=hint>{} is correct!</p>\
         <p>You needed <b id=tries>{}</b> tries. <a id=again href=/>Play again</a></p>",
        secret,
        tries
    ));
}

fn page(hint: &Html, tries: u32) -> Html {
    html!(
        "<h1>Guess the number</h1><p class=hint id=hint>{}</p><p>Tries so far: <b id=tries>{}</b></p>{}",
        hint,
        tries,
        form(html!(
            "<label>Your guess <input name=guess type=number min=1 max=100 autofocus required></label>"
        ))
    )
}

/// `GUESS_SECRET` from the environment, or a random number from 1 to 100.
fn secret() -> u32 {
    std::env::var("GUESS_SECRET")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| getrandom::u32().map_or(50, |r| r % 100 + 1))
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = corio::net::TcpListener::bind(addr.as_str())?;
    println!("guess: http://{}/", listener.local_addr()?);
    App::new(game).title("Guess the number").serve_on(listener)
}
