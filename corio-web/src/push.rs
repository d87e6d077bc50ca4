//! Push: updates from the server to a session's open page (Continuity's
//! COMET), as server-sent events.
//!
//! A [`Pusher`] appends events to its session's *push log*: a ring of the
//! last few events, each numbered (1, 2, …). A page the session sends
//! carries the number of the last event at the time it was rendered; the
//! page's script (`/_corio/push.js`) opens `GET /_push?from=N` and gets
//! every event after `N`, then each new one as it is pushed. Nothing
//! pushed between rendering and listening is lost, and after a dropped
//! connection the browser reconnects with `Last-Event-ID` and resumes at
//! its cursor. A listener that fell further behind than the ring holds is
//! told to reload the page. Pushing never blocks and never waits for a
//! slow listener: the ring just moves on.
//!
//! `GET /_poll?from=N` is the same log as a long poll (for browsers or
//! proxies without event streams, and for `push.js` with
//! `data-transport=poll`): it answers at once with the events after `N`,
//! or waits for the next one (at most the heartbeat interval).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use corio::sync::Signal;
use http_body::Frame;

use crate::html::Html;
use crate::session::{Outcome, Shared};

/// One session's push log.
#[derive(Debug)]
pub(crate) struct PushState {
    /// Whether the dialogue asked for a [`Pusher`] (pages carry the script).
    pub(crate) enabled: bool,
    /// The number of the last event pushed (0: none yet).
    last: u64,
    /// The last events, oldest first, each already in event-stream form.
    ring: VecDeque<(u64, Bytes)>,
    cap: usize,
    /// Event streams waiting for the next event.
    wakers: Vec<Waker>,
    /// Long polls waiting for the next event.
    pub(crate) signal: Rc<Signal>,
}

impl PushState {
    pub(crate) fn new(cap: usize) -> PushState {
        PushState {
            enabled: false,
            last: 0,
            ring: VecDeque::new(),
            cap: cap.max(1),
            wakers: Vec::new(),
            signal: Rc::new(Signal::new()),
        }
    }

    pub(crate) fn last_seq(&self) -> u64 {
        self.last
    }

    fn push(&mut self, event: &str, target: &str, data: &str) {
        self.last += 1;
        let mut text = format!("id: {}\nevent: {event}\ndata: {target}\n", self.last);
        // A data field may not hold a line break: one `data:` line per line
        // (the browser joins them with "\n").
        for line in data.split('\n') {
            let _ = writeln!(text, "data: {}", line.trim_end_matches('\r'));
        }
        text.push('\n');
        if self.ring.len() == self.cap {
            self.ring.pop_front();
        }
        self.ring.push_back((self.last, Bytes::from(text)));
        self.wake();
    }

    /// Wakes every listener (a new event, or the session ended).
    pub(crate) fn wake(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
        self.signal.broadcast();
    }

    /// The events after `cursor` in event-stream form, and the new cursor;
    /// `None` when there are none. A cursor older than the ring is answered
    /// with a `reload` event.
    pub(crate) fn since(&self, cursor: u64) -> Option<(Bytes, u64)> {
        if cursor >= self.last {
            return None;
        }
        let oldest = self.ring.front().map_or(self.last + 1, |(n, _)| *n);
        if cursor + 1 < oldest {
            let text = format!("id: {}\nevent: reload\ndata: \n\n", self.last);
            return Some((Bytes::from(text), self.last));
        }
        let mut out = Vec::new();
        for (_, ev) in self.ring.iter().filter(|(n, _)| *n > cursor) {
            out.extend_from_slice(ev);
        }
        Some((Bytes::from(out), self.last))
    }
}

/// Pushes updates to a session's open page. Made by
/// [`Session::pusher`](crate::Session::pusher); clone it freely, hand it
/// to other coros of the thread.
///
/// Each update names an element of the page by its `id`. Pushing never
/// blocks; once the session has ended it does nothing and returns `false`.
///
/// # Examples
///
/// ```
/// use corio_web::{Session, form, html};
///
/// fn log(s: &mut Session) {
///     let push = s.pusher();
///     s.spawn(move || {
///         for n in 1..=3 {
///             corio::sleep(std::time::Duration::from_millis(500));
///             push.append("lines", html!("<li id=line{}>line {}</li>", n, n));
///         }
///     });
///     loop {
///         s.ask(form(html!("<ul id=lines></ul>")));
///     }
/// }
/// # let _ = corio_web::App::new(log);
/// ```
#[derive(Clone, Debug)]
pub struct Pusher {
    shared: Weak<Shared>,
}

impl Pusher {
    pub(crate) fn new(shared: Weak<Shared>) -> Pusher {
        Pusher { shared }
    }

    /// Appends `html` at the end of the element with id `target`. An
    /// appended element whose own `id` is already on the page is skipped,
    /// so content the page was rendered with is not shown twice.
    ///
    /// # Examples
    ///
    /// See [`Pusher`].
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn append(&self, target: &str, html: impl Into<Html>) -> bool {
        self.send("append", target, html.into().as_str())
    }

    /// Replaces the content of the element with id `target` by `html`.
    ///
    /// # Examples
    ///
    /// See [`Session::pusher`](crate::Session::pusher).
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn replace(&self, target: &str, html: impl Into<Html>) -> bool {
        self.send("replace", target, html.into().as_str())
    }

    /// Tells the open page to reload itself.
    ///
    /// # Examples
    ///
    /// ```
    /// fn d(s: &mut corio_web::Session) {
    ///     let push = s.pusher();
    ///     assert!(push.reload());
    /// }
    /// # let _ = corio_web::App::new(d);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn reload(&self) -> bool {
        self.send("reload", "", "")
    }

    /// Whether the session still runs.
    ///
    /// # Examples
    ///
    /// ```
    /// fn d(s: &mut corio_web::Session) {
    ///     assert!(s.pusher().is_alive());
    /// }
    /// # let _ = corio_web::App::new(d);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn is_alive(&self) -> bool {
        self.shared
            .upgrade()
            .is_some_and(|s| s.outcome.get() == Outcome::Running)
    }

    fn send(&self, event: &str, target: &str, data: &str) -> bool {
        let Some(shared) = self.shared.upgrade() else {
            return false;
        };
        if shared.outcome.get() != Outcome::Running {
            return false;
        }
        // A target is an element id: keep it to one line.
        let target: String = target.chars().filter(|c| !c.is_control()).collect();
        shared.push.borrow_mut().push(event, &target, data);
        true
    }
}

/// The body of a `GET /_push` reply: an endless event stream.
pub(crate) struct PushStream {
    shared: Weak<Shared>,
    cursor: u64,
    /// The first frame (`retry:` and a comment) is not sent yet.
    greeted: bool,
    heartbeat: Duration,
    timer: Rc<dyn hyper::rt::Timer>,
    tick: Option<Pin<Box<dyn hyper::rt::Sleep>>>,
}

impl PushStream {
    pub(crate) fn new(
        shared: &Rc<Shared>,
        cursor: u64,
        heartbeat: Duration,
        timer: Rc<dyn hyper::rt::Timer>,
    ) -> PushStream {
        PushStream {
            shared: Rc::downgrade(shared),
            cursor,
            greeted: false,
            heartbeat,
            timer,
            tick: None,
        }
    }

    pub(crate) fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame<Bytes>>> {
        if !self.greeted {
            self.greeted = true;
            // Sent at once, so the browser sees the stream open.
            return Poll::Ready(Some(Frame::data(Bytes::from_static(
                b"retry: 2000\n: corio push\n\n",
            ))));
        }
        let Some(shared) = self.shared.upgrade() else {
            return Poll::Ready(None);
        };
        let mut push = shared.push.borrow_mut();
        if let Some((text, cursor)) = push.since(self.cursor) {
            self.cursor = cursor;
            self.tick = None;
            return Poll::Ready(Some(Frame::data(text)));
        }
        if shared.outcome.get() != Outcome::Running {
            return Poll::Ready(None);
        }
        if !push.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            push.wakers.push(cx.waker().clone());
        }
        drop(push);
        let heartbeat = self.heartbeat;
        let timer = &self.timer;
        let tick = self.tick.get_or_insert_with(|| timer.sleep(heartbeat));
        if tick.as_mut().poll(cx).is_ready() {
            self.tick = None;
            // A comment: keeps proxies from closing the stream, and finds
            // out when the browser has gone.
            return Poll::Ready(Some(Frame::data(Bytes::from_static(b":\n\n"))));
        }
        Poll::Pending
    }
}
