//! A browser session: the coro that runs its dialogue, and the handle the
//! dialogue holds.
//!
//! # The protocol between handlers and a session
//!
//! Every request that belongs to a session becomes a [`Hit`] put into the
//! session's *mailbox* (a bounded corio channel) with a [`ReplyTo`]. The
//! request's connection coro then waits for the reply. Only the session
//! coro takes hits out of the mailbox, so every decision about a session —
//! is this answer current, stale, a double submit? — is made in one place,
//! one request at a time, in arrival order: two racing POSTs are
//! serialised by the mailbox.
//!
//! Each [`Session::ask`] mints a fresh continuation id `k` (128 random
//! bits) and answers the pending request with `303 See Other` to
//! `/k/<k>`, where the page is served (Post/Redirect/Get: reloading a page
//! never re-sends an answer). While parked in `ask`, the session answers:
//!
//! | request | reply |
//! |---|---|
//! | `GET /k/<k>` (the current page) | the page |
//! | `POST /k/<k>` (an answer to it) | `ask` returns its fields; the reply (303 to the next page) is sent by the next `ask`, or by the end of the dialogue |
//! | `POST /k/<previous>` (the page just answered: a double submit, or its reload) | *replay*: 303 to the current page; the answer is not delivered again |
//! | `GET /` | 303 to the current page |
//! | any other `k` (the back button, an old tab, a guess) | *refused*: 409 with a page that links to the current page and says what happened: an earlier page of this dialogue (answered already, or passed), or a page that is not this session's (of one that ended or expired, or another browser's) |
//!
//! When the dialogue returns, what it [`show`](Session::show)ed becomes the
//! final page; the session's coro is gone, and a small *tombstone* keeps
//! serving that page (and replaying its double submit) until the idle
//! timeout. Any other request then starts a new session.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corio::sync::Channel;
use corio::{Coro, JoinHandle};

use crate::form::Answer;
use crate::html::Html;
use crate::id::Id;
use crate::page;
use crate::push::{PushLimits, PushState, Pusher};

/// What a request asks of its session.
#[derive(Debug)]
pub(crate) enum HitKind {
    /// `GET /`: start, or show where we are.
    Start,
    /// `GET /k/<k>`: show page `k`.
    Show(Id),
    /// `POST /k/<k>`: the answer to page `k`.
    Answer(Id, Answer),
}

/// What a session tells the app it runs in. The app passes itself down
/// as this (a session never names the app's type), so sessions and the
/// app's table do not depend on each other both ways.
pub(crate) trait Host {
    /// The session found its own time was up (it cancels itself next).
    fn expired(&self, shared: &Shared);
    /// The dialogue got an answer.
    fn answered(&self);
    /// A double submit was replayed.
    fn replayed(&self);
    /// A stale request was refused.
    fn stale(&self);
}

/// The part of a hit that outlives it (for a second look when the session
/// ended before replying).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Key {
    Start,
    Show(Id),
    Answer(Id),
}

impl HitKind {
    pub(crate) fn key(&self) -> Key {
        match *self {
            HitKind::Start => Key::Start,
            HitKind::Show(k) => Key::Show(k),
            HitKind::Answer(k, _) => Key::Answer(k),
        }
    }
}

/// One request, waiting in a session's mailbox for its reply.
#[derive(Debug)]
pub(crate) struct Hit {
    pub(crate) kind: HitKind,
    pub(crate) reply: ReplyTo,
}

/// An HTTP reply, decided by the session (or its tombstone).
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// `Location` of a 303.
    pub(crate) location: Option<String>,
    /// `Retry-After` of a 503, in seconds.
    pub(crate) retry_after: Option<u32>,
    pub(crate) body: Bytes,
}

impl Reply {
    /// 303 See Other to page `k`.
    pub(crate) fn see(k: Id) -> Reply {
        Reply {
            status: 303,
            location: Some(format!("/k/{k}")),
            retry_after: None,
            body: Bytes::new(),
        }
    }

    pub(crate) fn page(status: u16, body: Bytes) -> Reply {
        Reply {
            status,
            location: None,
            retry_after: None,
            body,
        }
    }
}

/// Where a hit's reply goes. Dropping it unanswered (the session ended,
/// was cancelled or panicked) shuts the channel, which wakes the waiting
/// handler at once with nothing: it then looks at how the session ended.
pub(crate) struct ReplyTo(Channel<Reply>);

impl ReplyTo {
    /// A reply slot and the channel the handler waits on.
    pub(crate) fn new() -> (ReplyTo, Channel<Reply>) {
        let ch = Channel::bounded(1);
        (ReplyTo(ch.clone()), ch)
    }

    pub(crate) fn send(self, reply: Reply) {
        // The slot is fresh and has room for one; a handler that timed out
        // is gone, and then the reply has nowhere to go.
        let _ = self.0.try_put(reply);
    }
}

impl Drop for ReplyTo {
    fn drop(&mut self) {
        if self.0.is_empty() {
            self.0.shutdown();
        }
    }
}

impl fmt::Debug for ReplyTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyTo")
    }
}

/// How a session's coro ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Running,
    /// The dialogue returned; a tombstone serves its final page.
    Finished,
    /// Cancelled: idle or absolute timeout, eviction, shutdown.
    Expired,
    /// The dialogue panicked.
    Failed,
}

/// What the session's coro, the handlers and the pushers share.
pub(crate) struct Shared {
    pub(crate) id: Id,
    pub(crate) mailbox: Channel<Hit>,
    pub(crate) created: Instant,
    pub(crate) last_seen: Cell<Instant>,
    /// Whether the dialogue ever got an answer (sessions that never did are
    /// the first to be evicted when the table is full).
    pub(crate) answered: Cell<bool>,
    pub(crate) outcome: Cell<Outcome>,
    pub(crate) push: Rc<RefCell<PushState>>,
    /// Coros started with [`Session::spawn`]; cancelled when the session ends.
    pub(crate) children: RefCell<Vec<Coro>>,
}

impl Shared {
    pub(crate) fn new(id: Id, mailbox_len: usize, push: PushLimits) -> Shared {
        let now = Instant::now();
        Shared {
            id,
            mailbox: Channel::bounded(mailbox_len),
            created: now,
            last_seen: Cell::new(now),
            answered: Cell::new(false),
            outcome: Cell::new(Outcome::Running),
            push: Rc::new(RefCell::new(PushState::new(push))),
            children: RefCell::new(Vec::new()),
        }
    }
}

/// How many answered pages a session remembers, to tell a request for an
/// earlier page of its own from one for another session's (8 bytes each).
pub(crate) const PAST_PAGES: usize = 256;

/// The final page of a dialogue that returned, kept after its coro ended.
#[derive(Clone, Debug)]
pub(crate) struct Tombstone {
    pub(crate) k: Id,
    pub(crate) prev_k: Option<Id>,
    pub(crate) page: Bytes,
    /// When the dialogue ended: the tombstone goes an idle timeout later.
    pub(crate) ended: Instant,
}

impl Tombstone {
    /// The tombstone's reply to `kind`, or `None` if the request should
    /// start a new session.
    pub(crate) fn reply(&self, key: Key) -> Option<Reply> {
        match key {
            Key::Show(k) if k == self.k => Some(Reply::page(200, self.page.clone())),
            Key::Answer(k) if Some(k) == self.prev_k => Some(Reply::see(self.k)),
            _ => None,
        }
    }
}

/// The dialogue's handle on its browser session: [`ask`](Session::ask)
/// sends a page and waits for the answer, [`show`](Session::show) adds to
/// the next page.
///
/// A dialogue is a function `Fn(&mut Session)`; each browser session runs
/// it in a coro of its own, top to bottom. Its locals are the session's
/// state. Returning ends the session: what it showed last is the final
/// page.
///
/// # Examples
///
/// ```
/// use corio_web::{Session, html};
///
/// fn add_two(s: &mut Session) {
///     let a: i64 = ask_number(s, "First number");
///     let b: i64 = ask_number(s, "Second number");
///     s.show(html!("<p>{} + {} = {}</p>", a, b, a + b));
/// }
///
/// fn ask_number(s: &mut Session, prompt: &str) -> i64 {
///     let mut error = corio_web::Html::new();
///     loop {
///         let form = html!(
///             "<form method=post>{}<label>{} <input name=n autofocus></label> <button>OK</button></form>",
///             error, prompt
///         );
///         match s.ask(form).parse("n") {
///             Ok(n) => return n,
///             Err(e) => error = html!("<p class=error>{}</p>", e),
///         }
///     }
/// }
/// # let _ = corio_web::App::new(add_two);
/// ```
pub struct Session {
    shared: Rc<Shared>,
    app: Weak<dyn Host>,
    /// The request the next page answers.
    pending: Option<ReplyTo>,
    /// What [`show`](Session::show) collected for the next page.
    buffer: Html,
    /// The page just answered (its double submit is replayed).
    prev_k: Option<Id>,
    /// The pages this session answered, most recent last (fingerprints,
    /// at most [`PAST_PAGES`]): a refused request for one of them is "an
    /// earlier step of this dialogue", any other id "not this session's".
    past: std::collections::VecDeque<u64>,
    /// A banner for the next page (the browser's old session had expired).
    notice: Option<Html>,
    title: String,
    idle_timeout: Duration,
    absolute_timeout: Duration,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.shared.id)
            .field("answered", &self.shared.answered.get())
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(
        shared: Rc<Shared>,
        app: Weak<dyn Host>,
        first: ReplyTo,
        notice: Option<Html>,
        title: String,
        (idle_timeout, absolute_timeout): (Duration, Duration),
    ) -> Session {
        Session {
            shared,
            app,
            pending: Some(first),
            buffer: Html::new(),
            prev_k: None,
            past: std::collections::VecDeque::new(),
            notice,
            title,
            idle_timeout,
            absolute_timeout,
        }
    }

    pub(crate) fn shared(&self) -> Rc<Shared> {
        self.shared.clone()
    }

    /// How long the session may still wait for a request.
    fn time_left(&self) -> Duration {
        let now = Instant::now();
        let idle = (self.shared.last_seen.get() + self.idle_timeout).saturating_duration_since(now);
        let total = (self.shared.created + self.absolute_timeout).saturating_duration_since(now);
        idle.min(total)
    }

    /// The session's time is up: it leaves the table and its coro cancels
    /// itself, so the dialogue's `Drop`s run.
    fn expire(&self) -> ! {
        if let Some(app) = self.app.upgrade() {
            app.expired(&self.shared);
        }
        corio::current().cancel();
        // Cancelling oneself unwinds at once; never reached.
        corio::terminate(())
    }

    /// Sends a page — what was [`show`](Session::show)n since the last
    /// page, then `body` — and parks this session's coro until the user
    /// answers it; returns the answer's form fields.
    ///
    /// `body` should hold a `<form method=post>` *without* an `action`:
    /// the page is served at its own continuation URL (`/k/<k>`) and the
    /// form posts back there. [`form`](crate::form()) builds one.
    /// Requests for the page itself, double submits and stale pages are
    /// answered while it waits (see the module docs); only a fresh answer
    /// to this very page returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_web::{Session, form, html};
    ///
    /// fn hello(s: &mut Session) {
    ///     let a = s.ask(form(html!("<label>Your name <input name=name></label>")));
    ///     let name = a.get("name").unwrap_or("stranger");
    ///     s.show(html!("<p>Hello, {}!</p>", name));
    /// }
    /// # let _ = corio_web::App::new(hello);
    /// ```
    ///
    /// # Panics
    ///
    /// When the operating system cannot give random bytes for the page id
    /// (the session then ends; its user gets a 500 page).
    ///
    /// # Switching
    ///
    /// Suspends the session's coro until the answer arrives. If the session
    /// expires meanwhile (its idle or absolute timeout, eviction, shutdown),
    /// its coro is cancelled here: `ask` unwinds and never returns, and the
    /// dialogue's `Drop`s run.
    pub fn ask(&mut self, body: impl Into<Html>) -> Answer {
        let k = Id::random().expect("no random bytes for a page id");
        let mut content = std::mem::take(&mut self.buffer);
        content.push(body);
        let page = self.render(content);
        self.reply_pending(Reply::see(k));
        loop {
            // Each session keeps its own time: a timer while it waits, no
            // scan over all sessions.
            let left = self.time_left();
            if left.is_zero() {
                self.expire();
            }
            let Some(hit) = self.shared.mailbox.get_timeout(left) else {
                if self.shared.mailbox.is_shutdown() {
                    // Never while the coro lives; if it were, there would be
                    // nobody to talk to.
                    corio::terminate(());
                }
                continue;
            };
            match hit.kind {
                HitKind::Answer(x, fields) if x == k => {
                    self.prev_k = Some(k);
                    if self.past.len() == PAST_PAGES {
                        self.past.pop_front();
                    }
                    self.past.push_back(k.fingerprint());
                    self.pending = Some(hit.reply);
                    self.shared.answered.set(true);
                    if let Some(app) = self.app.upgrade() {
                        app.answered();
                    }
                    return fields;
                }
                kind => {
                    let reply = self.while_waiting(&kind, k, &page);
                    hit.reply.send(reply);
                }
            }
        }
    }

    /// The reply to a request that is not a fresh answer to page `k`.
    fn while_waiting(&self, kind: &HitKind, k: Id, page: &Bytes) -> Reply {
        let app = self.app.upgrade();
        match *kind {
            HitKind::Show(x) if x == k => Reply::page(200, page.clone()),
            HitKind::Start => Reply::see(k),
            HitKind::Answer(x, _) if Some(x) == self.prev_k => {
                if let Some(a) = &app {
                    a.replayed();
                }
                Reply::see(k)
            }
            _ => {
                if let Some(a) = &app {
                    a.stale();
                }
                let (x, answer) = match *kind {
                    HitKind::Answer(x, _) => (Some(x), true),
                    HitKind::Show(x) => (Some(x), false),
                    _ => (None, false),
                };
                let ours = x.is_some_and(|x| self.past.contains(&x.fingerprint()));
                Reply::page(409, page::stale(&self.title, k, answer, ours))
            }
        }
    }

    /// Adds `body` to the next page — the one the next
    /// [`ask`](Session::ask) sends, or the final page when the dialogue
    /// returns. Nothing is sent yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_web::{Session, html};
    ///
    /// fn farewell(s: &mut Session) {
    ///     s.show(html!("<h1>{}</h1>", "Goodbye"));
    ///     s.show("and thanks for all the <fish>"); // text is escaped
    /// } // the final page has both
    /// # let _ = corio_web::App::new(farewell);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn show(&mut self, body: impl Into<Html>) {
        self.buffer.push(body);
    }

    /// Sets the page title (the `<title>` of every page from now on).
    ///
    /// # Examples
    ///
    /// ```
    /// fn d(s: &mut corio_web::Session) {
    ///     s.set_title("Step 2 of 3");
    /// }
    /// # let _ = corio_web::App::new(d);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn set_title(&mut self, title: impl Into<String>) {
        self.title = title.into();
    }

    /// A handle that pushes updates to this session's open page (through
    /// server-sent events), from this coro or any other of the thread.
    ///
    /// From the first call on, every page the session sends carries a
    /// small script (`/_corio/push.js`) that listens for the updates.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_web::{Session, form, html};
    ///
    /// fn clock(s: &mut Session) {
    ///     let push = s.pusher();
    ///     // A helper coro that lives as long as the session does.
    ///     s.spawn(move || {
    ///         for n in 1.. {
    ///             corio::sleep(std::time::Duration::from_secs(1));
    ///             push.replace("ticks", html!("{}", n));
    ///         }
    ///     });
    ///     loop {
    ///         s.ask(form(html!("<p>Seconds on this page: <span id=ticks>0</span></p>")));
    ///     }
    /// }
    /// # let _ = corio_web::App::new(clock);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn pusher(&mut self) -> Pusher {
        self.shared.push.borrow_mut().enabled = true;
        Pusher::new(Rc::downgrade(&self.shared.push))
    }

    /// Starts a coro that belongs to this session: it is cancelled (its
    /// `Drop`s run) when the session ends, however it ends.
    ///
    /// # Examples
    ///
    /// See [`pusher`](Session::pusher).
    ///
    /// # Panics
    ///
    /// When no stack can be mapped for the coro.
    ///
    /// # Switching
    ///
    /// Never suspends (the new coro runs when this one next waits).
    pub fn spawn<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
        let h = corio::Builder::new()
            .name(format!("session {} helper", self.shared.id.short()))
            .spawn(f)
            .expect("map a stack for a session helper coro");
        let mut children = self.shared.children.borrow_mut();
        children.retain(|c| !c.is_done());
        children.push(h.coro());
        h
    }

    /// How many answers this session has received so far.
    ///
    /// # Examples
    ///
    /// ```
    /// fn d(s: &mut corio_web::Session) {
    ///     assert!(!s.has_answered());
    /// }
    /// # let _ = corio_web::App::new(d);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn has_answered(&self) -> bool {
        self.shared.answered.get()
    }

    /// Replies to the request the session is answering, if any.
    fn reply_pending(&mut self, reply: Reply) {
        if let Some(to) = self.pending.take() {
            to.send(reply);
        }
    }

    fn render(&mut self, content: Html) -> Bytes {
        let push_from = {
            let p = self.shared.push.borrow();
            p.enabled.then(|| p.last_seq())
        };
        page::render(
            &self.title,
            self.notice.take().as_ref(),
            &content,
            push_from,
        )
    }

    /// The dialogue returned: its final page, served by a tombstone.
    pub(crate) fn finish(mut self) -> Option<Tombstone> {
        let k = Id::random().ok()?;
        let content = std::mem::take(&mut self.buffer);
        let content = if content.is_empty() {
            page::the_end()
        } else {
            content
        };
        let page = self.render(content);
        self.reply_pending(Reply::see(k));
        Some(Tombstone {
            k,
            prev_k: self.prev_k,
            page,
            ended: Instant::now(),
        })
    }
}
