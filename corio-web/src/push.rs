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

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use corio::sync::Signal;
use http_body::Frame;

use crate::html::Html;

/// The limits of one session's push log.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PushLimits {
    /// Most events the ring keeps.
    pub(crate) events: usize,
    /// Most bytes the ring keeps (the newest event is kept whatever its
    /// size).
    pub(crate) bytes: usize,
    /// Most event streams, and most long polls, open at once.
    pub(crate) listeners: usize,
}

/// One session's push log.
///
/// # Invariants
/// - `ring` holds each event's body once (shared with every other session
///   the same [`Event`] was sent to): a stream hands out clones of its
///   `Bytes` (a reference count), one event per two frames (its `id:` line,
///   then the body).
/// - `bytes` is the sum of the lengths of `ring`'s events, each counted
///   in full (with its `id:` line) even where another ring shares it, so a
///   session's share is bounded whatever the others hold.
/// - `streams` has an entry for each open [`PushStream`] of the session,
///   and only for those (a stream removes its own when dropped); at most
///   `limits.listeners` of them.
#[derive(Debug)]
pub(crate) struct PushState {
    /// Whether the dialogue asked for a [`Pusher`] (pages carry the script).
    pub(crate) enabled: bool,
    /// Whether the session still runs (pushing does nothing after, and
    /// streams end).
    live: bool,
    /// The number of the last event pushed (0: none yet).
    last: u64,
    /// The last events, oldest first, each already in event-stream form
    /// but for its `id:` line.
    ring: VecDeque<(u64, Bytes)>,
    bytes: usize,
    limits: PushLimits,
    /// The open event streams by number (oldest first), each with the
    /// waker to call on the next event once it has sent all it had.
    streams: BTreeMap<u64, Option<Waker>>,
    next_stream: u64,
    /// Long polls waiting now.
    pub(crate) polls: usize,
    /// Long polls waiting for the next event.
    pub(crate) signal: Rc<Signal>,
}

impl PushState {
    pub(crate) fn new(limits: PushLimits) -> PushState {
        PushState {
            enabled: false,
            live: true,
            last: 0,
            ring: VecDeque::new(),
            bytes: 0,
            limits: PushLimits {
                events: limits.events.max(1),
                bytes: limits.bytes,
                listeners: limits.listeners.max(1),
            },
            streams: BTreeMap::new(),
            next_stream: 0,
            polls: 0,
            signal: Rc::new(Signal::new()),
        }
    }

    pub(crate) fn last_seq(&self) -> u64 {
        self.last
    }

    /// The most listeners of each kind.
    pub(crate) fn max_listeners(&self) -> usize {
        self.limits.listeners
    }

    fn push(&mut self, event: &Event) {
        self.last += 1;
        let size = counted(&event.0);
        while !self.ring.is_empty()
            && (self.ring.len() >= self.limits.events
                || self.bytes.saturating_add(size) > self.limits.bytes)
        {
            if let Some((_, old)) = self.ring.pop_front() {
                self.bytes -= counted(&old);
            }
        }
        self.bytes += size;
        self.ring.push_back((self.last, event.0.clone()));
        self.wake();
    }

    /// The session ended: pushers do nothing from now on, listeners are
    /// woken to end.
    pub(crate) fn end(&mut self) {
        self.live = false;
        self.wake();
    }

    /// Wakes every listener (a new event, or the session ended).
    fn wake(&mut self) {
        for w in self.streams.values_mut().filter_map(Option::take) {
            w.wake();
        }
        self.signal.broadcast();
    }

    /// Opens a stream's place; when that makes too many, the oldest stream
    /// is ended (a reloaded page's new stream replaces its old one).
    fn open_stream(&mut self) -> u64 {
        let id = self.next_stream;
        self.next_stream += 1;
        self.streams.insert(id, None);
        while self.streams.len() > self.limits.listeners {
            if let Some((_, Some(w))) = self.streams.pop_first() {
                w.wake();
            }
        }
        id
    }

    /// The body of the event after `cursor`, and its number; a cursor
    /// older than the ring gets a `reload` event. `None` when there is none
    /// yet.
    fn next_after(&self, cursor: u64) -> Option<(Bytes, u64)> {
        if cursor >= self.last {
            return None;
        }
        let oldest = self.ring.front().map_or(self.last + 1, |(n, _)| *n);
        if cursor + 1 < oldest {
            return Some((Bytes::from_static(RELOAD), self.last));
        }
        // Numbers are consecutive: the event after `cursor` is at a known
        // place in the ring.
        let at = usize::try_from(cursor + 1 - oldest).ok()?;
        self.ring.get(at).map(|(n, ev)| (ev.clone(), *n))
    }
}

/// A long poll's answer: the events after its cursor, up to the last one
/// pushed when it was asked, each sent from the ring itself (no copy is
/// made, however many polls ask for the whole ring). A ring that moves
/// past the cursor meanwhile ends it with a `reload` event.
pub(crate) struct Backlog {
    log: Weak<RefCell<PushState>>,
    cursor: u64,
    until: u64,
    /// The body of the event whose `id:` line was just sent.
    body: Option<Bytes>,
}

impl Backlog {
    /// The events after `cursor`; `None` when there are none yet.
    pub(crate) fn after(log: &Rc<RefCell<PushState>>, cursor: u64) -> Option<Backlog> {
        let until = log.borrow().last;
        (cursor < until).then(|| Backlog {
            log: Rc::downgrade(log),
            cursor,
            until,
            body: None,
        })
    }

    /// The next frame to send (an event's `id:` line, then its body);
    /// `None` at the end.
    pub(crate) fn next_event(&mut self) -> Option<Bytes> {
        if let Some(body) = self.body.take() {
            return Some(body);
        }
        if self.cursor >= self.until {
            return None;
        }
        let log = self.log.upgrade()?;
        let (body, n) = log.borrow().next_after(self.cursor)?;
        // A `reload` is numbered the last event: it ends the answer.
        self.cursor = n;
        self.body = Some(body);
        Some(id_line(n))
    }
}

/// A `reload` event's body.
const RELOAD: &[u8] = b"event: reload\ndata: \n\n";

/// The `id:` line that goes before event `n`'s body.
fn id_line(n: u64) -> Bytes {
    Bytes::from(format!("id: {n}\n"))
}

/// The bytes a ring counts for an event body: the body and the longest
/// `id:` line.
fn counted(body: &Bytes) -> usize {
    body.len() + "id: 18446744073709551615\n".len()
}

/// An update for open pages, formatted once: [`Pusher::send`] it to any
/// number of sessions and each of their push logs keeps a reference to the
/// same bytes (a chat line sent to 10,000 members is one copy, not
/// 10,000). Cheap to clone.
///
/// [`Pusher::append`] and [`Pusher::replace`] make one for a single
/// session.
///
/// # Examples
///
/// ```
/// use corio_web::{Event, Pusher, html};
///
/// fn broadcast(members: &[Pusher], who: &str, text: &str) {
///     let line = Event::append("log", html!("<li><b>{}</b>: {}</li>", who, text));
///     for m in members {
///         m.send(&line);
///     }
/// }
/// # broadcast(&[], "a", "b");
/// ```
#[derive(Clone, Debug)]
pub struct Event(Bytes);

impl Event {
    /// Appends `html` at the end of the element with id `target` (see
    /// [`Pusher::append`]).
    ///
    /// # Examples
    ///
    /// See [`Event`].
    pub fn append(target: &str, html: impl Into<Html>) -> Event {
        Event::new("append", target, html.into().as_str())
    }

    /// Replaces the content of the element with id `target` by `html` (see
    /// [`Pusher::replace`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = corio_web::Event::replace("clock", corio_web::html!("{}", 12));
    /// # let _ = e;
    /// ```
    pub fn replace(target: &str, html: impl Into<Html>) -> Event {
        Event::new("replace", target, html.into().as_str())
    }

    /// Tells the open page to reload itself (see [`Pusher::reload`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = corio_web::Event::reload();
    /// # let _ = e;
    /// ```
    pub fn reload() -> Event {
        Event(Bytes::from_static(RELOAD))
    }

    fn new(event: &str, target: &str, data: &str) -> Event {
        // A target is an element id: keep it to one line.
        let target: String = target.chars().filter(|c| !c.is_control()).collect();
        let mut text = format!("event: {event}\ndata: {target}\n");
        // A data field may not hold a line break: one `data:` line per line
        // (the browser joins them with "\n").
        for line in data.split('\n') {
            let _ = writeln!(text, "data: {}", line.trim_end_matches('\r'));
        }
        text.push('\n');
        Event(Bytes::from(text))
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
    log: Weak<RefCell<PushState>>,
}

impl Pusher {
    pub(crate) fn new(log: Weak<RefCell<PushState>>) -> Pusher {
        Pusher { log }
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
        self.send(&Event::append(target, html))
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
        self.send(&Event::replace(target, html))
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
        self.send(&Event::reload())
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
        self.log.upgrade().is_some_and(|l| l.borrow().live)
    }

    /// Sends `event`, made once for any number of sessions: this session's
    /// log keeps a reference to its bytes, not a copy. `false` once the
    /// session has ended.
    ///
    /// # Examples
    ///
    /// See [`Event`].
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn send(&self, event: &Event) -> bool {
        let Some(log) = self.log.upgrade() else {
            return false;
        };
        let mut log = log.borrow_mut();
        if !log.live {
            return false;
        }
        log.push(event);
        true
    }
}

/// The body of a `GET /_push` reply: an endless event stream, one event
/// per frame (each a reference to the ring's copy).
pub(crate) struct PushStream {
    log: Weak<RefCell<PushState>>,
    /// Its place in the session's `streams`.
    id: u64,
    cursor: u64,
    /// The body of the event whose `id:` line was just sent.
    body: Option<Bytes>,
    /// The first frame (`retry:` and a comment) is not sent yet.
    greeted: bool,
    heartbeat: Duration,
    timer: Rc<dyn hyper::rt::Timer>,
    tick: Option<Pin<Box<dyn hyper::rt::Sleep>>>,
}

impl PushStream {
    pub(crate) fn new(
        log: &Rc<RefCell<PushState>>,
        cursor: u64,
        heartbeat: Duration,
        timer: Rc<dyn hyper::rt::Timer>,
    ) -> PushStream {
        let id = log.borrow_mut().open_stream();
        PushStream {
            log: Rc::downgrade(log),
            id,
            cursor,
            body: None,
            greeted: false,
            heartbeat,
            timer,
            tick: None,
        }
    }

    pub(crate) fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame<Bytes>>> {
        let Some(log) = self.log.upgrade() else {
            return Poll::Ready(None);
        };
        let mut push = log.borrow_mut();
        // Ended by a newer stream of the session.
        if !push.streams.contains_key(&self.id) {
            return Poll::Ready(None);
        }
        if !self.greeted {
            self.greeted = true;
            // Sent at once, so the browser sees the stream open.
            return Poll::Ready(Some(Frame::data(Bytes::from_static(
                b"retry: 2000\n: corio push\n\n",
            ))));
        }
        let live = push.live;
        let Some(slot) = push.streams.get_mut(&self.id) else {
            return Poll::Ready(None);
        };
        if live && !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *slot = Some(cx.waker().clone());
        }
        if let Some(body) = self.body.take() {
            return Poll::Ready(Some(Frame::data(body)));
        }
        if let Some((body, cursor)) = push.next_after(self.cursor) {
            self.cursor = cursor;
            self.tick = None;
            self.body = Some(body);
            return Poll::Ready(Some(Frame::data(id_line(cursor))));
        }
        if !push.live {
            return Poll::Ready(None);
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

impl Drop for PushStream {
    fn drop(&mut self) {
        // Its waker goes with it (a closed stream leaves nothing behind).
        if let Some(log) = self.log.upgrade()
            && let Ok(mut push) = log.try_borrow_mut()
        {
            push.streams.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn shared(limits: PushLimits) -> Rc<RefCell<PushState>> {
        Rc::new(RefCell::new(PushState::new(limits)))
    }

    fn limits() -> PushLimits {
        PushLimits {
            events: 100,
            bytes: 1000,
            listeners: 2,
        }
    }

    #[test]
    fn the_ring_is_bounded_in_bytes_and_events() {
        let s = shared(limits());
        let p = Pusher::new(Rc::downgrade(&s));
        for _ in 0..50 {
            p.append("t", crate::Html::from("x".repeat(90)));
        }
        let push = s.borrow();
        assert!(push.bytes <= 1000, "{} bytes", push.bytes);
        assert_eq!(
            push.bytes,
            push.ring.iter().map(|(_, e)| counted(e)).sum::<usize>()
        );
        assert!(push.ring.len() >= 5);
        // A listener from before the ring gets a reload, numbered the last.
        let (body, n) = push.next_after(0).unwrap();
        assert_eq!((&body[..], n), (RELOAD, 50));
    }

    #[test]
    fn one_event_sent_to_many_sessions_is_one_copy() {
        let logs: Vec<_> = (0..3).map(|_| shared(limits())).collect();
        let event = Event::append("log", crate::Html::raw("<li>hi</li>"));
        for l in &logs {
            assert!(Pusher::new(Rc::downgrade(l)).send(&event));
        }
        for l in &logs {
            let push = l.borrow();
            assert_eq!(push.ring[0].1.as_ptr(), event.0.as_ptr());
            // Each session still counts it in full.
            assert_eq!(push.bytes, counted(&event.0));
        }
        assert_eq!(
            &event.0[..],
            b"event: append\ndata: log\ndata: <li>hi</li>\n\n"
        );
    }

    #[test]
    fn streams_share_one_copy_of_each_event() {
        let s = shared(limits());
        let p = Pusher::new(Rc::downgrade(&s));
        p.append("t", crate::Html::from("hello"));
        let push = s.borrow();
        let (a, _) = push.next_after(0).unwrap();
        let (b, _) = push.next_after(0).unwrap();
        assert_eq!(a.as_ptr(), b.as_ptr());
        assert_eq!(a.as_ptr(), push.ring[0].1.as_ptr());
    }

    #[test]
    fn long_polls_send_the_ring_itself_and_stop_at_the_last_event() {
        let s = shared(limits());
        let p = Pusher::new(Rc::downgrade(&s));
        assert!(Backlog::after(&s, 0).is_none());
        for i in 0..3 {
            p.append("t", crate::Html::from(format!("e{i}")));
        }
        let mut b = Backlog::after(&s, 1).unwrap();
        p.append("t", crate::Html::from("later"));
        let sent: Vec<Bytes> = std::iter::from_fn(|| b.next_event()).collect();
        // Events 2 and 3, not the one pushed after the poll was answered;
        // each its id line, then the ring's own bytes.
        assert_eq!(sent.len(), 4);
        let push = s.borrow();
        assert_eq!(&sent[0][..], b"id: 2\n");
        assert_eq!(sent[1].as_ptr(), push.ring[1].1.as_ptr());
        assert_eq!(&sent[2][..], b"id: 3\n");
        assert_eq!(sent[3].as_ptr(), push.ring[2].1.as_ptr());
        drop(push);
        // A ring that moved past the cursor: a reload ends it.
        let mut b = Backlog::after(&s, 0).unwrap();
        for _ in 0..50 {
            p.append("t", crate::Html::from("x".repeat(90)));
        }
        assert_eq!(&b.next_event().unwrap()[..], b"id: 54\n");
        assert_eq!(&b.next_event().unwrap()[..], RELOAD);
        assert!(b.next_event().is_none());
    }

    #[test]
    fn closed_streams_leave_no_waker_and_the_oldest_gives_way() {
        let s = shared(limits());
        let timer: Rc<dyn hyper::rt::Timer> = Rc::new(corio::compat::Timer);
        let mut cx = Context::from_waker(Waker::noop());
        let mut streams: Vec<PushStream> = (0..3)
            .map(|_| PushStream::new(&s, 0, Duration::from_secs(60), timer.clone()))
            .collect();
        assert_eq!(s.borrow().streams.len(), 2);
        // The oldest was ended by the third.
        assert!(matches!(streams[0].poll_frame(&mut cx), Poll::Ready(None)));
        for st in &mut streams[1..] {
            assert!(matches!(st.poll_frame(&mut cx), Poll::Ready(Some(_)))); // greeting
        }
        // Connect-read-close many times: nothing stays behind.
        for _ in 0..100 {
            let mut st = PushStream::new(&s, 0, Duration::from_secs(60), timer.clone());
            let _ = st.poll_frame(&mut cx);
        }
        drop(streams);
        assert_eq!(s.borrow().streams.len(), 0);
    }
}
