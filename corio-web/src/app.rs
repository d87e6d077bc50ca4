//! The application: its settings, its table of sessions, and the
//! dispatcher that takes a request to its session.
//!
//! # The table
//!
//! `live` maps a session id to its coro and shared state; `done` keeps the
//! tombstones of dialogues that returned. Both are bounded: at most
//! `max_sessions` live sessions (when full, the oldest session that never
//! got an answer is evicted to make room; if every session has answered,
//! the new one is refused with 503) and as many tombstones (the oldest
//! goes; an address past `max_sessions_per_peer` tombstones gives up its
//! own oldest). One client address holds at most `max_sessions_per_peer` live
//! sessions: past that, its own oldest session that never answered is
//! evicted (or, if all of its sessions answered, its new one is refused),
//! so a flood from one address recycles its own sessions and never
//! reaches anybody else's. Likewise one client network (IPv4 /24, IPv6 /64
//! by default) holds at most `max_sessions_per_network`, so a flood spread
//! over many addresses of one network stays within that network's share. A reaper coro expires idle sessions and
//! tombstones. The table is never borrowed across a switch: cancelling a
//! coro runs its `Drop`s, which take the session out of the table
//! themselves.
//!
//! # Cost of a refusal
//!
//! Each address's and network's live sessions are counted exactly (a
//! session leaves the counts where it leaves `live`, in [`Table::remove`]).
//! `order` and each address's and network's `waiting` list hold the sessions that had not answered when
//! last looked at: an id is dropped for good the first time it is met
//! answered or ended (a session never un-answers), and a list is rebuilt
//! when it holds twice as many ids as it has live sessions (plus a
//! constant). Each id is so looked at a bounded number of times: starting
//! or refusing a session costs O(1) amortised — never a walk of the table
//! or of an address's sessions.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use corio::Coro;

use crate::html::Html;
use crate::id::Id;
use crate::network::Prefixes;
use crate::page;
use crate::push::PushLimits;
use crate::session::{HitKind, Host, Key, Outcome, Reply, ReplyTo, Session, Shared, Tombstone};
use crate::stats::Stats;

/// The settings of an [`App`](crate::App).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) title: String,
    pub(crate) idle_timeout: Duration,
    pub(crate) absolute_timeout: Duration,
    pub(crate) max_sessions: usize,
    pub(crate) max_sessions_per_peer: usize,
    pub(crate) max_connections_per_peer: usize,
    pub(crate) max_sessions_per_network: usize,
    pub(crate) max_connections_per_network: usize,
    pub(crate) networks: Prefixes,
    pub(crate) max_push_streams: usize,
    pub(crate) push_buffer_bytes: usize,
    pub(crate) max_body: usize,
    pub(crate) body_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_connections: usize,
    pub(crate) reply_timeout: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) push_buffer: usize,
    pub(crate) mailbox: usize,
    pub(crate) stack_size: Option<usize>,
    pub(crate) secure_cookie: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            title: "corio-web".into(),
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(8 * 60 * 60),
            max_sessions: 10_000,
            max_sessions_per_peer: 500,
            max_connections_per_peer: 128,
            max_sessions_per_network: 5_000,
            max_connections_per_network: 512,
            networks: Prefixes::default(),
            max_push_streams: 4,
            push_buffer_bytes: 256 * 1024,
            max_body: 64 * 1024,
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            max_connections: 1024,
            reply_timeout: Duration::from_secs(30),
            heartbeat: Duration::from_secs(15),
            push_buffer: 256,
            mailbox: 8,
            stack_size: None,
            secure_cookie: false,
        }
    }
}

impl Host for AppInner {
    fn expired(&self, shared: &Shared) {
        AppInner::expired(self, shared);
    }
    fn answered(&self) {
        Stats::add(&self.stats.answers);
    }
    fn replayed(&self) {
        Stats::add(&self.stats.replayed);
    }
    fn stale(&self) {
        Stats::add(&self.stats.stale);
    }
}

/// A dialogue: what every session runs.
pub(crate) type Dialogue = Rc<dyn Fn(&mut Session)>;

struct Live {
    shared: Rc<Shared>,
    coro: Coro,
    /// The address that started it.
    peer: IpAddr,
    /// That address's network.
    net: IpAddr,
}

/// One client address's (or network's) sessions.
#[derive(Default)]
struct Peer {
    /// How many of its sessions are in `live`.
    live: usize,
    /// Its sessions that had not answered when last looked at, oldest
    /// first (ids of answered or ended ones are dropped when met).
    waiting: VecDeque<Id>,
}

#[derive(Default)]
struct Table {
    live: HashMap<Id, Live>,
    /// Tombstones, each with the address whose session it was (when known).
    done: HashMap<Id, (Tombstone, Option<IpAddr>)>,
    /// Sessions that had not answered when last looked at, in the order
    /// they started (ids of ended or answered ones are dropped when met):
    /// eviction takes the first that still never answered.
    order: VecDeque<Id>,
    /// Each client address with a live session.
    peers: HashMap<IpAddr, Peer>,
    /// Each client network with a live session.
    nets: HashMap<IpAddr, Peer>,
    /// Tombstones in the order they were made (ids of tombstones an
    /// address's own share took out stay until met, or a rebuild).
    done_order: VecDeque<Id>,
    /// Each address's tombstones, oldest first: past `max_sessions_per_peer`
    /// an address gives up its own oldest, so a flood of finished dialogues
    /// never pushes out anybody else's final page.
    done_peers: HashMap<IpAddr, VecDeque<Id>>,
}

impl Table {
    /// Whether session `id` is live and has not answered yet.
    fn unanswered(live: &HashMap<Id, Live>, id: &Id) -> bool {
        live.get(id).is_some_and(|l| !l.shared.answered.get())
    }

    /// Puts a new session in the table.
    fn insert(&mut self, id: Id, live: Live) {
        let (peer, net) = (live.peer, live.net);
        self.live.insert(id, live);
        Table::enter(&mut self.peers, peer, id, &self.live);
        Table::enter(&mut self.nets, net, id, &self.live);
        self.order.push_back(id);
        if self.order.len() > 2 * self.live.len() + 64 {
            let live = &self.live;
            self.order.retain(|id| Table::unanswered(live, id));
        }
    }

    /// Counts session `id` (already in `live`) for `key`'s address or
    /// network, rebuilding the key's waiting list when it has grown to
    /// twice its live sessions.
    fn enter(map: &mut HashMap<IpAddr, Peer>, key: IpAddr, id: Id, live: &HashMap<Id, Live>) {
        let p = map.entry(key).or_default();
        p.live += 1;
        p.waiting.push_back(id);
        if p.waiting.len() > 2 * p.live + 8 {
            p.waiting.retain(|id| Table::unanswered(live, id));
        }
    }

    /// Takes a session out of the table (the one place that does, so its
    /// address's and network's counts stay exact).
    fn remove(&mut self, id: &Id) -> Option<Live> {
        let l = self.live.remove(id)?;
        for (map, key) in [(&mut self.peers, l.peer), (&mut self.nets, l.net)] {
            if let Some(p) = map.get_mut(&key) {
                p.live -= 1;
                if p.live == 0 {
                    map.remove(&key);
                }
            }
        }
        Some(l)
    }

    /// Takes tombstone `id` out of `done` and of its address's list.
    fn bury(&mut self, id: &Id) {
        let Some((_, Some(peer))) = self.done.remove(id) else {
            return;
        };
        if let Some(q) = self.done_peers.get_mut(&peer) {
            // Tombstones leave oldest first, globally and per address, so
            // `id` is its address's first; the search is only a safeguard.
            if q.front() == Some(id) {
                q.pop_front();
            } else if let Some(i) = q.iter().position(|x| x == id) {
                q.remove(i);
            }
            if q.is_empty() {
                self.done_peers.remove(&peer);
            }
        }
    }

    /// Keeps `tomb`, the final page of session `id` started by `peer`,
    /// within the global cap and `peer`'s share.
    fn keep(&mut self, id: Id, tomb: Tombstone, peer: Option<IpAddr>, cap: usize, per_peer: usize) {
        if let Some(peer) = peer
            && let Some(q) = self.done_peers.get(&peer)
            && q.len() >= per_peer
            && let Some(old) = q.front().copied()
        {
            self.bury(&old);
        }
        while self.done.len() >= cap
            && let Some(old) = self.done_order.pop_front()
        {
            self.bury(&old);
        }
        self.done.insert(id, (tomb, peer));
        self.done_order.push_back(id);
        if let Some(peer) = peer {
            self.done_peers.entry(peer).or_default().push_back(id);
        }
        // Ids an address's share took out wait in `done_order` until met.
        if self.done_order.len() > 2 * self.done.len() + 64 {
            let done = &self.done;
            self.done_order.retain(|id| done.contains_key(id));
        }
    }

    /// The first session of `ids` that has not answered, taking the ids
    /// before it (answered or ended) out for good.
    fn first_waiting(live: &HashMap<Id, Live>, ids: &mut VecDeque<Id>) -> Option<Id> {
        while let Some(id) = ids.pop_front() {
            if Table::unanswered(live, &id) {
                return Some(id);
            }
        }
        None
    }
}

/// Whether a new session may start.
enum Room {
    /// Yes; evict this session first (if any) to make room.
    Yes(Option<Live>),
    /// No: the table is full of sessions that answered.
    Full,
    /// No: this address holds its share, all answered.
    PeerFull,
    /// No: this address's network holds its share, all answered.
    NetFull,
}

/// The running app, shared by its connections, sessions and reaper.
pub(crate) struct AppInner {
    pub(crate) config: Config,
    dialogue: Dialogue,
    pub(crate) stats: Arc<Stats>,
    table: RefCell<Table>,
    me: Weak<AppInner>,
}

/// What the dispatcher decided for a request.
#[derive(Debug)]
pub(crate) struct Decision {
    pub(crate) reply: Reply,
    /// A new session's id: set it as the cookie.
    pub(crate) new_session: Option<Id>,
}

enum Delivery {
    Replied(Reply),
    /// The session ended without replying.
    Gone,
}

impl AppInner {
    pub(crate) fn new(config: Config, dialogue: Dialogue, stats: Arc<Stats>) -> Rc<AppInner> {
        Rc::new_cyclic(|me| AppInner {
            config,
            dialogue,
            stats,
            table: RefCell::new(Table::default()),
            me: me.clone(),
        })
    }

    /// Takes one request to its session (starting one if needed) and waits
    /// for the reply.
    ///
    /// Suspends the calling (connection) coro.
    pub(crate) fn dispatch(&self, sid: Option<Id>, kind: HitKind, peer: IpAddr) -> Decision {
        let key = kind.key();
        let mut kind = Some(kind);
        if let Some(id) = sid {
            let live = self.table.borrow().live.get(&id).map(|l| l.shared.clone());
            if let Some(shared) = live {
                match self.deliver(&shared, kind.take().unwrap_or(HitKind::Start)) {
                    Delivery::Replied(reply) => return decided(reply),
                    Delivery::Gone if shared.outcome.get() == Outcome::Failed => {
                        return decided(Reply::page(
                            500,
                            page::error(
                                500,
                                "Internal Server Error",
                                "This dialogue failed; its session has ended.",
                            ),
                        ));
                    }
                    Delivery::Gone => {}
                }
            }
        }
        let done = sid.and_then(|id| Some(self.table.borrow().done.get(&id)?.0.reply(key)));
        if let Some(Some(reply)) = done {
            return decided(reply);
        }
        // A new session. The request itself is not passed on: it belonged
        // to a session that is gone (or to none). Only `GET /` without a
        // session, or after a dialogue that ended, is a plain start.
        let plain = matches!(key, Key::Start) && (sid.is_none() || done.is_some());
        self.start((!plain).then(page::expired_notice), peer)
    }

    /// Starts a session and waits for its first page.
    fn start(&self, notice: Option<Html>, peer: IpAddr) -> Decision {
        let victim = match self.make_room(peer) {
            Room::Yes(victim) => victim,
            Room::Full => {
                Stats::add(&self.stats.refused);
                let why = format!(
                    "Too many sessions are open: all {} of this server's sessions are taken \
                     by people who are using them. \
                     A place frees up when one of them finishes or stays idle for {}; \
                     please try again later.",
                    self.config.max_sessions,
                    minutes(self.config.idle_timeout),
                );
                return decided(busy(&why, 60));
            }
            Room::PeerFull => {
                Stats::add(&self.stats.refused);
                let why = format!(
                    "Too many sessions are open from your network address: it has {} here, \
                     all in use. \
                     A place frees up when one of them finishes or stays idle for {}; \
                     please try again later.",
                    self.config.max_sessions_per_peer,
                    minutes(self.config.idle_timeout),
                );
                return decided(busy(&why, 60));
            }
            Room::NetFull => {
                Stats::add(&self.stats.refused);
                let why = format!(
                    "Too many sessions are open from your network (the addresses that share \
                     yours but its last {} bits): it has {} here, all in use. \
                     A place frees up when one of them finishes or stays idle for {}; \
                     please try again later.",
                    if peer.to_canonical().is_ipv4() {
                        32 - u32::from(self.config.networks.v4.min(32))
                    } else {
                        128 - u32::from(self.config.networks.v6.min(128))
                    },
                    self.config.max_sessions_per_network,
                    minutes(self.config.idle_timeout),
                );
                return decided(busy(&why, 60));
            }
        };
        if let Some(l) = victim {
            Stats::add(&self.stats.evicted);
            l.shared.outcome.set(Outcome::Expired);
            l.coro.cancel();
        }
        let Ok(id) = Id::random() else {
            return decided(busy("The server cannot make a session id right now.", 5));
        };
        let shared = Rc::new(Shared::new(
            id,
            self.config.mailbox,
            PushLimits {
                events: self.config.push_buffer,
                bytes: self.config.push_buffer_bytes,
                listeners: self.config.max_push_streams,
            },
        ));
        let (first, rx) = ReplyTo::new();
        let mut builder = corio::Builder::new().name(format!("session {}", id.short()));
        if let Some(size) = self.config.stack_size {
            builder = builder.stack_size(size);
        }
        let run = {
            let host: Weak<dyn Host> = self.me.clone();
            let session = Session::new(
                shared.clone(),
                host,
                first,
                notice,
                self.config.title.clone(),
                (self.config.idle_timeout, self.config.absolute_timeout),
            );
            let dialogue = self.dialogue.clone();
            let app = self.me.clone();
            move || run(app, session, dialogue)
        };
        let coro = match builder.spawn(run) {
            Ok(h) => h.coro(),
            Err(_) => {
                return decided(busy("The server is out of memory for sessions.", 5));
            }
        };
        self.table.borrow_mut().insert(
            id,
            Live {
                shared: shared.clone(),
                coro,
                peer,
                net: self.config.networks.network(peer),
            },
        );
        Stats::add(&self.stats.started);
        self.stats.sessions.fetch_add(1, Ordering::Relaxed);
        let reply = match self.wait(&shared, &rx) {
            Delivery::Replied(r) => r,
            Delivery::Gone => Reply::page(
                500,
                page::error(
                    500,
                    "Internal Server Error",
                    "This dialogue ended before it showed a page.",
                ),
            ),
        };
        Decision {
            reply,
            new_session: Some(id),
        }
    }

    /// Puts a hit in the session's mailbox and waits for the reply.
    fn deliver(&self, shared: &Rc<Shared>, kind: HitKind) -> Delivery {
        shared.last_seen.set(Instant::now());
        let (to, rx) = ReplyTo::new();
        match shared
            .mailbox
            .try_put(crate::session::Hit { kind, reply: to })
        {
            Ok(()) => self.wait(shared, &rx),
            Err(corio::sync::TryPutError::Full(_)) => Delivery::Replied(busy(
                "Too many requests for this session at once; please try again in a moment.",
                1,
            )),
            Err(corio::sync::TryPutError::Closed(_)) => Delivery::Gone,
        }
    }

    fn wait(&self, shared: &Shared, rx: &corio::sync::Channel<Reply>) -> Delivery {
        match rx.get_timeout(self.config.reply_timeout) {
            Some(reply) => Delivery::Replied(reply),
            None if rx.is_shutdown() || shared.outcome.get() != Outcome::Running => Delivery::Gone,
            None => Delivery::Replied(busy(
                "The dialogue is taking too long to answer; please try again in a moment.",
                5,
            )),
        }
    }

    /// Decides whether a session for `peer` may start, and which session
    /// to evict for it: past the address's share, that address's oldest
    /// session that never answered; past its network's share, the
    /// network's oldest session that never answered; in a full table, the
    /// oldest session that never answered. O(1) amortised (see the module
    /// docs).
    fn make_room(&self, peer: IpAddr) -> Room {
        let mut guard = self.table.borrow_mut();
        let t = &mut *guard;
        let per_peer = self.config.max_sessions_per_peer.max(1);
        if let Some(p) = t.peers.get_mut(&peer)
            && p.live >= per_peer
        {
            return match Table::first_waiting(&t.live, &mut p.waiting) {
                Some(id) => Room::Yes(t.remove(&id)),
                None => Room::PeerFull,
            };
        }
        let per_net = self.config.max_sessions_per_network.max(1);
        if let Some(n) = t.nets.get_mut(&self.config.networks.network(peer))
            && n.live >= per_net
        {
            return match Table::first_waiting(&t.live, &mut n.waiting) {
                Some(id) => Room::Yes(t.remove(&id)),
                None => Room::NetFull,
            };
        }
        if t.live.len() < self.config.max_sessions {
            return Room::Yes(None);
        }
        match Table::first_waiting(&t.live, &mut t.order) {
            Some(id) => Room::Yes(t.remove(&id)),
            None => Room::Full,
        }
    }

    /// Expires what is past its time: sessions idle longer than the idle
    /// timeout or older than the absolute timeout, and tombstones older
    /// than the idle timeout. Returns how many sessions.
    ///
    /// A session parked in `ask` expires by itself, on its own timer; this
    /// scan, run now and then by the reaper, catches sessions whose dialogue
    /// was busy elsewhere when their time came.
    ///
    /// Suspends while expired sessions unwind.
    pub(crate) fn reap(&self) -> usize {
        let now = Instant::now();
        let idle = self.config.idle_timeout;
        let expired: Vec<Live> = {
            let mut t = self.table.borrow_mut();
            let ids: Vec<Id> = t
                .live
                .iter()
                .filter(|(_, l)| {
                    now.duration_since(l.shared.last_seen.get()) >= idle
                        || now.duration_since(l.shared.created) >= self.config.absolute_timeout
                })
                .map(|(id, _)| *id)
                .collect();
            while let Some(id) = t.done_order.front().copied() {
                match t.done.get(&id) {
                    Some((d, _)) if now.duration_since(d.ended) < idle => break,
                    _ => {
                        t.bury(&id);
                        t.done_order.pop_front();
                    }
                }
            }
            ids.iter().filter_map(|id| t.remove(id)).collect()
        };
        for l in &expired {
            Stats::add(&self.stats.expired);
            l.shared.outcome.set(Outcome::Expired);
            l.coro.cancel();
        }
        expired.len()
    }

    /// A session found its own time was up (it cancels itself next).
    pub(crate) fn expired(&self, shared: &Shared) {
        if shared.outcome.get() == Outcome::Running {
            shared.outcome.set(Outcome::Expired);
            Stats::add(&self.stats.expired);
        }
        let mut t = self.table.borrow_mut();
        if t.live
            .get(&shared.id)
            .is_some_and(|l| std::ptr::eq(Rc::as_ptr(&l.shared), shared))
        {
            t.remove(&shared.id);
        }
    }

    /// Cancels every session (their `Drop`s run).
    pub(crate) fn expire_all(&self) {
        let all: Vec<Live> = {
            let mut t = self.table.borrow_mut();
            t.done.clear();
            t.done_order.clear();
            t.done_peers.clear();
            t.order.clear();
            t.peers.clear();
            t.live.drain().map(|(_, l)| l).collect()
        };
        for l in &all {
            Stats::add(&self.stats.expired);
            l.shared.outcome.set(Outcome::Expired);
            l.coro.cancel();
        }
    }

    /// The live session `id`, for the push endpoints.
    pub(crate) fn live(&self, id: Id) -> Option<Rc<Shared>> {
        self.table.borrow().live.get(&id).map(|l| l.shared.clone())
    }

    /// How many sessions are alive.
    pub(crate) fn live_count(&self) -> usize {
        self.table.borrow().live.len()
    }

    /// A session's coro ended: takes it out of the table, keeps its
    /// tombstone.
    fn ended(&self, shared: &Shared, tomb: Option<Tombstone>) {
        let mut t = self.table.borrow_mut();
        // Only this very session: an evicted one is out of the table already.
        let mut peer = None;
        if t.live
            .get(&shared.id)
            .is_some_and(|l| std::ptr::eq(Rc::as_ptr(&l.shared), shared))
        {
            peer = t.remove(&shared.id).map(|l| l.peer);
        }
        if let Some(tomb) = tomb {
            let c = &self.config;
            t.keep(
                shared.id,
                tomb,
                peer,
                c.max_sessions,
                c.max_sessions_per_peer.max(1),
            );
        }
    }
}

fn decided(reply: Reply) -> Decision {
    Decision {
        reply,
        new_session: None,
    }
}

/// 503 with a reason, and `Retry-After: retry_after` (seconds).
pub(crate) fn busy(why: &str, retry_after: u32) -> Reply {
    let mut r = Reply::page(503, page::error(503, "Service Unavailable", why));
    r.retry_after = Some(retry_after);
    r
}

/// A duration in words, for pages.
fn minutes(d: Duration) -> String {
    match d.as_secs() {
        60 => "1 minute".into(),
        s if s % 60 == 0 && s > 60 => format!("{} minutes", s / 60),
        1 => "1 second".into(),
        s => format!("{s} seconds"),
    }
}

/// Runs when a session's coro ends, however it ends: records the outcome,
/// answers or fails what waits in the mailbox, cancels the helper coros,
/// ends the push streams.
struct EndGuard {
    app: Weak<AppInner>,
    shared: Rc<Shared>,
    session: Option<Session>,
    tomb: Option<Tombstone>,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        let shared = &self.shared;
        let stats = self.app.upgrade().map(|a| a.stats.clone());
        if shared.outcome.get() == Outcome::Running {
            let outcome = if self.tomb.is_some() {
                Outcome::Finished
            } else if corio::current().is_cancelled() {
                Outcome::Expired
            } else {
                Outcome::Failed
            };
            shared.outcome.set(outcome);
            if let Some(s) = &stats {
                match outcome {
                    Outcome::Finished => Stats::add(&s.finished),
                    Outcome::Expired => Stats::add(&s.expired),
                    _ => Stats::add(&s.failed),
                }
            }
        }
        if let Some(s) = &stats {
            s.sessions.fetch_sub(1, Ordering::Relaxed);
        }
        // Whoever waits for the page being answered wakes now.
        drop(self.session.take());
        if let Some(app) = self.app.upgrade() {
            app.ended(shared, self.tomb.clone());
        }
        while let Some(hit) = shared.mailbox.try_get() {
            if let Some(reply) = self.tomb.as_ref().and_then(|t| t.reply(hit.kind.key())) {
                hit.reply.send(reply);
            } // else dropped: its handler starts over
        }
        shared.mailbox.shutdown();
        shared.push.borrow_mut().end();
        let children = std::mem::take(&mut *shared.children.borrow_mut());
        for c in children {
            c.cancel();
        }
    }
}

/// The body of a session's coro.
fn run(app: Weak<AppInner>, session: Session, dialogue: Dialogue) {
    let mut guard = EndGuard {
        app,
        shared: session.shared(),
        session: Some(session),
        tomb: None,
    };
    if let Some(s) = guard.session.as_mut() {
        dialogue(s);
    }
    guard.tomb = guard.session.take().and_then(Session::finish);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn app(max_sessions: usize, per_peer: usize, dialogue: Dialogue) -> Rc<AppInner> {
        let config = Config {
            max_sessions,
            max_sessions_per_peer: per_peer,
            ..Config::default()
        };
        AppInner::new(config, dialogue, Arc::new(Stats::default()))
    }

    fn peer(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    fn page_of(d: &Decision) -> Id {
        let loc = d.reply.location.as_deref().expect("a 303");
        Id::parse(loc.strip_prefix("/k/").unwrap()).unwrap()
    }

    fn asker() -> Dialogue {
        Rc::new(|s: &mut Session| {
            loop {
                s.ask(Html::from("q"));
            }
        })
    }

    #[test]
    fn the_lists_keep_no_more_than_twice_the_live_sessions() {
        // Dialogues that end at once: every session ends, none stays live.
        let a = app(100, 100, Rc::new(|s: &mut Session| s.show("bye")));
        for i in 0..2000 {
            let d = a.dispatch(None, HitKind::Start, peer(i % 7));
            assert!(d.new_session.is_some());
        }
        let t = a.table.borrow();
        assert_eq!(t.live.len(), 0);
        // Compacted at each start, when one session was live.
        assert!(t.order.len() <= 66, "{} ids in order", t.order.len());
        // Addresses and networks without a live session are not kept.
        assert!(t.peers.is_empty() && t.nets.is_empty());
        drop(t);
        a.expire_all();
    }

    #[test]
    fn a_flood_of_finished_dialogues_keeps_only_its_own_share_of_tombstones() {
        let a = app(100, 10, Rc::new(|s: &mut Session| s.show("bye")));
        // A user from elsewhere finished first: their final page is kept.
        let user = a
            .dispatch(None, HitKind::Start, peer(1))
            .new_session
            .unwrap();
        for _ in 0..5000 {
            a.dispatch(None, HitKind::Start, peer(2));
        }
        let t = a.table.borrow();
        assert!(
            t.done.contains_key(&user),
            "the other address's final page went"
        );
        assert_eq!(t.done.len(), 11);
        assert_eq!(t.done_peers[&peer(2)].len(), 10);
        // The ids the flooder's share took out do not pile up.
        assert!(t.done_order.len() <= 2 * 11 + 65, "{}", t.done_order.len());
        drop(t);
        // Tombstones still leave at the global cap, oldest first.
        for i in 0..200 {
            a.dispatch(None, HitKind::Start, peer(100 + i));
        }
        let t = a.table.borrow();
        assert_eq!(t.done.len(), 100);
        assert!(!t.done.contains_key(&user));
        assert!(!t.done_peers.contains_key(&peer(1)) && !t.done_peers.contains_key(&peer(2)));
        drop(t);
        a.expire_all();
    }

    #[test]
    fn a_full_table_of_answered_sessions_refuses_without_walking_it() {
        let a = app(50, 50, asker());
        for i in 0..50 {
            let d = a.dispatch(None, HitKind::Start, peer(i));
            let (sid, k) = (d.new_session.unwrap(), page_of(&d));
            let d = a.dispatch(
                Some(sid),
                HitKind::Answer(k, crate::Answer::default()),
                peer(i),
            );
            assert_eq!(d.reply.status, 303);
        }
        let refused = a.dispatch(None, HitKind::Start, peer(99));
        assert_eq!(refused.reply.status, 503);
        assert_eq!(refused.reply.retry_after, Some(60));
        // The first refusal dropped every answered id: the next ones find
        // the list empty.
        assert_eq!(a.table.borrow().order.len(), 0);
        for _ in 0..100 {
            assert_eq!(a.dispatch(None, HitKind::Start, peer(99)).reply.status, 503);
        }
        assert_eq!(a.stats.refused(), 101);
        a.expire_all();
    }

    #[test]
    fn a_flood_from_one_address_evicts_only_its_own_sessions() {
        let a = app(100, 10, asker());
        // A new user from elsewhere, who has not answered yet.
        let user = a
            .dispatch(None, HitKind::Start, peer(1))
            .new_session
            .unwrap();
        for _ in 0..1000 {
            a.dispatch(None, HitKind::Start, peer(2));
        }
        assert!(
            a.live(user).is_some(),
            "the other address's user was evicted"
        );
        assert_eq!(a.live_count(), 11);
        assert_eq!(a.stats.evicted(), 990);
        a.expire_all();
    }

    #[test]
    fn an_address_whose_sessions_all_answered_is_refused_without_walking_them() {
        let a = app(1000, 10, asker());
        for _ in 0..10 {
            let d = a.dispatch(None, HitKind::Start, peer(2));
            let (sid, k) = (d.new_session.unwrap(), page_of(&d));
            let d = a.dispatch(
                Some(sid),
                HitKind::Answer(k, crate::Answer::default()),
                peer(2),
            );
            assert_eq!(d.reply.status, 303);
        }
        let refused = a.dispatch(None, HitKind::Start, peer(2));
        assert_eq!(refused.reply.status, 503);
        {
            let t = a.table.borrow();
            let p = &t.peers[&peer(2)];
            assert_eq!(p.live, 10);
            // The answered ids went with the first refusal.
            assert!(p.waiting.is_empty());
        }
        // Another address is not touched.
        assert!(
            a.dispatch(None, HitKind::Start, peer(3))
                .new_session
                .is_some()
        );
        a.expire_all();
        assert!(a.table.borrow().peers.is_empty());
    }
}
