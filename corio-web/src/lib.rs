//! corio-web is [Continuity] for Rust: stateful web dialogues written
//! straight-line. Each browser session is a corio coro running an ordinary
//! function; [`Session::ask`] sends a page and parks the coro until that
//! browser answers, then returns the answer's fields.
//!
//! ```no_run
//! use corio_web::{App, Session, form, html};
//!
//! fn guess(s: &mut Session) {
//!     let secret = 42;
//!     let mut tries = 0;
//!     let mut hint = html!("I am thinking of a number from 1 to 100.");
//!     loop {
//!         let a = s.ask(form(html!("<p>{}</p><input name=guess autofocus>", hint)));
//!         let Ok(n) = a.parse::<u32>("guess") else {
//!             hint = html!("That was not a number.");
//!             continue;
//!         };
//!         tries += 1;
//!         if n == secret {
//!             break;
//!         }
//!         hint = html!("{} is too {}.", n, if n > secret { "high" } else { "low" });
//!     }
//!     s.show(html!("<p>{} is correct! {} tries.</p>", secret, tries));
//! }
//!
//! App::new(guess).title("Guess").serve("127.0.0.1:8080").unwrap();
//! ```
//!
//! HTTP is stateless, so web handlers usually rebuild "where was this
//! user?" from a session store on every request: a dialogue becomes a
//! state machine. With a stackful coro per session the *stack* is the
//! state: loops, recursion — a backtracking search that asks the user at
//! each junction, from the bottom of its recursion — and locals carry over
//! from one page to the next. In async Rust that takes a hand-written
//! state machine; here it is a function.
//!
//! # How a session works
//!
//! - **Sessions.** A browser without a session (or with an expired or
//!   unknown one) gets a new session: a 128-bit id from the OS random
//!   number generator in an `HttpOnly`, `SameSite=Lax` cookie, and a coro
//!   running the dialogue. An id the server did not issue is never
//!   adopted. The first page of a session that replaced an expired one
//!   says so.
//! - **Pages and answers.** [`Session::ask`] gives each page a fresh
//!   continuation id `k`; the page lives at `/k/<k>` and its form posts
//!   back there. An answer is answered with `303 See Other` to the next
//!   page (Post/Redirect/Get), so reloading a page never sends an answer
//!   twice. [`Session::show`] adds to the next page; returning from the
//!   dialogue ends the session with what it showed as the final page.
//! - **Back button and double submit.** Only an answer to the current
//!   page reaches the dialogue. A second submit of the page just answered
//!   (a double click, a re-POST) is *replayed*: 303 to the page its first
//!   submit led to, without being delivered again. Any older page — the
//!   back button, a stale tab — is *refused* with 409 and a page that says
//!   nothing changed and links to the current page. A corio stack cannot be
//!   copied, so going back cannot fork the dialogue (as Racket's
//!   continuations can); refusing keeps it consistent. All of these
//!   decisions are made by the session's own coro, one request at a time,
//!   so racing requests are serialised.
//! - **Push.** [`Session::pusher`] gives a [`Pusher`] that appends to or
//!   replaces elements of the open page from any coro, through
//!   server-sent events (a long poll when asked for); see the [`push`
//!   protocol](Pusher). [`Session::spawn`] starts helper coros (say, one
//!   that waits on a chat room's channel and pushes each line) that end
//!   with the session. An [`Event`] made once and [sent](Pusher::send) to
//!   many sessions is one copy that all their push logs share.
//! - **Expiry and limits.** A session idle longer than
//!   [`App::idle_timeout`] (or older than [`App::absolute_timeout`]) is
//!   expired: its coro is cancelled, so the dialogue's `Drop`s run. At
//!   most [`App::max_sessions`] are alive; when full, the oldest session
//!   that never answered is evicted, and if all have answered the new one
//!   gets 503 with `Retry-After` — a flood of cookie-less requests
//!   displaces only sessions like its own. One client address holds at
//!   most [`App::max_sessions_per_peer`] sessions (past it, its own oldest
//!   unanswered one goes) and [`App::max_connections_per_peer`]
//!   connections; one client network (IPv4 /24, IPv6 /64:
//!   [`App::network_prefixes`]) at most [`App::max_sessions_per_network`]
//!   sessions and [`App::max_connections_per_network`] connections, so an
//!   attacker spread over many addresses of one network cannot take every
//!   slot (behind a reverse proxy every client has the proxy's address:
//!   lift these caps there); a session at most [`App::max_push_streams`] push streams
//!   and as many long polls. Bodies over [`App::max_body`] get 413 (read
//!   into one buffer of that size as they arrive), bodies still arriving
//!   after [`App::body_timeout`] 408, heads over
//!   [`App::max_header_bytes`] 431, malformed forms 400, cross-site POSTs
//!   403 (an `Origin` that is not the request's `Host`: a reverse proxy
//!   must pass `Host` on); a client that stops reading is cut after
//!   [`App::write_timeout`]. Pushed events are kept once per session
//!   ([`App::push_buffer`] events, [`App::push_buffer_bytes`] bytes), and
//!   every stream of the session reads that one copy. Nothing a request
//!   carries can panic the server.
//! - **HTML.** [`html!`] is `format!` for HTML with every argument escaped
//!   (unless it is [`Html`] already); `&str` and `String` become `Html`
//!   escaped. Pages are sent with a content security policy that allows
//!   scripts from the server only.
//!
//! HTTP is hyper's (HTTP/1.1) on corio sockets through
//! [`corio::compat`]: a coro per connection, and the request handler calls
//! blocking corio functions (a session's mailbox) inside hyper's service
//! future. An app runs on the thread that serves it; its sessions share
//! data with `Rc` and `RefCell`, no locks.
//!
//! [Continuity]: https://metacpan.org/pod/Continuity

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![forbid(unsafe_code)]

mod app;
mod form;
pub mod html;
mod http;
mod id;
mod network;
mod page;
mod push;
mod server;
mod session;
mod stats;

pub use form::{Answer, FieldError};
pub use html::Html;
pub use push::{Event, Pusher};
pub use server::{App, AppHandle};
pub use session::Session;
pub use stats::Stats;

/// A form that posts back to the page it is on, with `fields` and a
/// submit button (name the button with a field of your own for several).
///
/// # Examples
///
/// ```
/// use corio_web::{form, html};
/// let f = form(html!("<input name=guess>"));
/// assert_eq!(
///     f.as_str(),
///     "<form method=post><input name=guess> <button type=submit>OK</button></form>"
/// );
/// ```
///
/// # Switching
///
/// Never suspends.
pub fn form(fields: impl Into<Html>) -> Html {
    html!(
        "<form method=post>{} <button type=submit>OK</button></form>",
        fields.into()
    )
}
