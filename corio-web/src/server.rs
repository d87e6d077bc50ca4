//! [`App`]: a dialogue, its settings, and serving it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use corio::compat::Http;
use corio::net::{TcpListener, TcpStream};
use corio::sync::Semaphore;
use corio::{Coro, CoroId, JoinHandle};
use hyper::service::service_fn;

use crate::app::{AppInner, Config};
use crate::network::{Counts, Prefixes};
use crate::session::Session;
use crate::stats::Stats;

/// A web application whose every browser session runs `dialogue` in a
/// coro of its own.
///
/// Settings are chained on [`App::new`]; [`serve_on`](App::serve_on) (or
/// [`serve`](App::serve)) runs it in the calling coro, [`start`](App::start)
/// in coros of its own. Everything runs on the calling thread's scheduler:
/// sessions, connections and the reaper share data without locks.
///
/// # Examples
///
/// ```no_run
/// use corio_web::{App, Session, form, html};
///
/// fn hello(s: &mut Session) {
///     let a = s.ask(form(html!("<label>Your name <input name=name autofocus></label>")));
///     s.show(html!("<p>Hello, {}!</p>", a.get("name").unwrap_or("")));
/// }
///
/// App::new(hello).title("Hello").serve("127.0.0.1:8080").unwrap();
/// ```
pub struct App {
    config: Config,
    dialogue: crate::app::Dialogue,
    stats: Arc<Stats>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

macro_rules! setting {
    ($(#[$doc:meta])* $name:ident: $t:ty, $default:literal) => {
        $(#[$doc])*
        #[doc = concat!("\n\nDefault: ", $default, ".")]
        ///
        /// # Examples
        ///
        /// ```
        #[doc = concat!("let app = corio_web::App::new(|_s| {}).", stringify!($name), "(Default::default());")]
        /// # drop(app);
        /// ```
        ///
        /// # Switching
        ///
        /// Never suspends.
        pub fn $name(mut self, value: $t) -> App {
            self.config.$name = value;
            self
        }
    };
}

impl App {
    /// An app that runs `dialogue` for each browser session.
    ///
    /// # Examples
    ///
    /// ```
    /// let app = corio_web::App::new(|s| s.show("Hello"));
    /// assert_eq!(app.stats().sessions(), 0);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn new(dialogue: impl Fn(&mut Session) + 'static) -> App {
        App {
            config: Config::default(),
            dialogue: Rc::new(dialogue),
            stats: Arc::new(Stats::default()),
        }
    }

    /// The `<title>` of every page (a dialogue may change its own with
    /// [`Session::set_title`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let app = corio_web::App::new(|_s| {}).title("Guess");
    /// # drop(app);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn title(mut self, title: impl Into<String>) -> App {
        self.config.title = title.into();
        self
    }

    setting!(
        /// How long a session may go without a request before it expires: its
        /// coro is cancelled (the dialogue's `Drop`s run) and the browser's next
        /// request starts a new session with a notice.
        idle_timeout: Duration, "30 minutes"
    );
    setting!(
        /// How long a session may live at most, however busy.
        absolute_timeout: Duration, "8 hours"
    );
    setting!(
        /// How many sessions may be alive at once. When the table is full, a
        /// new session evicts the oldest session that never answered a page (a
        /// flood of new sessions displaces only its own kind); if every session
        /// has answered, the new one is refused with 503.
        max_sessions: usize, "10,000"
    );
    setting!(
        /// How many live sessions one client address may hold. Past it, a new
        /// session from that address evicts the address's own oldest session
        /// that never answered (if all of them answered, the new one gets 503):
        /// a flood from one address recycles its own sessions and leaves
        /// everybody else's alone. The same number caps the address's
        /// tombstones (the final pages of its finished dialogues, kept for a
        /// reload): past it the address gives up its own oldest, never
        /// another's. Users behind one NAT share the address's
        /// share; raise it when many do — and behind a reverse proxy, where
        /// every client has the proxy's address, lift it (`usize::MAX`) and
        /// cap per client at the proxy.
        max_sessions_per_peer: usize, "500"
    );
    setting!(
        /// How many connections one client address may have open at once;
        /// more are answered 503 and closed at once (a browser opens at most
        /// six to a server). Behind a reverse proxy every client has the
        /// proxy's address: lift it there (`usize::MAX`).
        max_connections_per_peer: usize, "128"
    );
    /// How client addresses are grouped into networks for
    /// [`max_sessions_per_network`](App::max_sessions_per_network) and
    /// [`max_connections_per_network`](App::max_connections_per_network):
    /// by their first `v4` bits (IPv4; an IPv4-mapped IPv6 address counts
    /// as its IPv4 address) or first `v6` bits (IPv6). 32 and 128 make each
    /// address its own network; 0 makes every client one network.
    ///
    /// Default: 24 and 64 (a /24, a /64: what one site or host usually
    /// has).
    ///
    /// # Examples
    ///
    /// ```
    /// let app = corio_web::App::new(|_s| {}).network_prefixes(16, 48);
    /// # drop(app);
    /// ```
    ///
    /// # Panics
    ///
    /// If `v4` is over 32 or `v6` over 128.
    ///
    /// # Switching
    ///
    /// Never suspends.
    #[track_caller]
    pub fn network_prefixes(mut self, v4: u8, v6: u8) -> App {
        assert!(
            v4 <= 32 && v6 <= 128,
            "corio_web::App::network_prefixes: /{v4} or /{v6} is longer than an address"
        );
        self.config.networks = Prefixes { v4, v6 };
        self
    }

    setting!(
        /// How many live sessions one client network may hold: IPv4
        /// addresses that share their first 24 bits, IPv6 ones that share
        /// their first 64 (see [`network_prefixes`](App::network_prefixes)).
        /// Past it, a new session from the network evicts the network's
        /// oldest session that never answered (if all of them answered, the
        /// new one gets 503): a flood spread over many addresses of one
        /// network stays within the network's share. Loopback counts too
        /// (127.0.0.0/24 is one network): under a reverse proxy on the same
        /// host — or any proxy — every client has the proxy's address, so
        /// lift this and the per-address caps there (`usize::MAX`) and cap
        /// per client at the proxy. Users of one office or campus NAT share
        /// the network's share; raise it when many do.
        max_sessions_per_network: usize, "5,000 (half of `max_sessions`' default)"
    );
    setting!(
        /// How many connections one client network (as for
        /// [`max_sessions_per_network`](App::max_sessions_per_network)) may
        /// have open at once; more are answered 503 and closed at once, so
        /// many addresses of one network cannot take every connection slot.
        /// Push streams and long polls are connections and count here. Set
        /// it below [`max_connections`](App::max_connections) when lowering
        /// that; behind a proxy lift it (`usize::MAX`).
        max_connections_per_network: usize, "512 (half of `max_connections`' default)"
    );
    setting!(
        /// How many push streams (`/_push`), and how many long polls
        /// (`/_poll`), one session may have open at once. A further stream
        /// ends the session's oldest one (a reloaded page replaces its
        /// stream); a further long poll gets 503 with `Retry-After: 2`.
        max_push_streams: usize, "4"
    );
    setting!(
        /// How many bytes of pushed events each session keeps for listeners
        /// that reconnect (with [`push_buffer`](App::push_buffer), whichever
        /// is reached first; the newest event is kept whatever its size).
        /// Every stream of the session reads the same copy.
        push_buffer_bytes: usize, "256 KiB"
    );
    setting!(
        /// The largest answer (request body) accepted; larger ones get 413.
        max_body: usize, "64 KiB"
    );
    setting!(
        /// How long an answer's body may take to arrive, from its head; one
        /// still arriving then gets 408 (a body trickled a byte at a time
        /// holds a connection no longer than this). The body is copied into
        /// one buffer of at most [`max_body`](App::max_body) bytes as it
        /// arrives.
        body_timeout: Duration, "30 s"
    );
    setting!(
        /// How long a write to a client may wait without progress before its
        /// connection is closed: a client that stops reading (a page's push
        /// stream, a long answer) holds its connection no longer than this
        /// once its socket buffers are full.
        write_timeout: Duration, "30 s"
    );
    setting!(
        /// The largest request head (request line and headers) accepted;
        /// larger ones get 431 (hyper's `max_buf_size`; at least 8 KiB).
        max_header_bytes: usize, "16 KiB"
    );
    setting!(
        /// How many connections may be open at once; the accept loop waits
        /// for one to close before it accepts more. Each open page that
        /// receives pushes holds one (its event stream).
        max_connections: usize, "1,024"
    );
    setting!(
        /// How long a request waits for its session to answer (the dialogue may
        /// be busy with slow work) before it gets 503.
        reply_timeout: Duration, "30 s"
    );
    setting!(
        /// How often a push stream with nothing to say sends a comment line
        /// (and how long a long poll waits).
        heartbeat: Duration, "15 s"
    );
    setting!(
        /// How many pushed events each session keeps for listeners that
        /// reconnect; one further behind is told to reload.
        push_buffer: usize, "256"
    );
    setting!(
        /// The stack size of session coros (`None`: corio's default, 256 KiB
        /// of address space, of which a parked session touches a few pages).
        stack_size: Option<usize>, "None"
    );
    setting!(
        /// Whether the session cookie is marked `Secure` (serve it over TLS).
        secure_cookie: bool, "false"
    );

    /// The app's counters; they stay readable (from any thread) after the
    /// app is started.
    ///
    /// # Examples
    ///
    /// ```
    /// let app = corio_web::App::new(|_s| {});
    /// let stats = app.stats();
    /// std::thread::spawn(move || assert_eq!(stats.started(), 0)).join().unwrap();
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Binds `addr` and serves in the calling coro; returns only on an
    /// error that makes the listener useless.
    ///
    /// # Examples
    ///
    /// See [`App`].
    ///
    /// # Errors
    ///
    /// When binding fails, or accepting fails for good.
    ///
    /// # Switching
    ///
    /// Suspends the calling coro for as long as it serves.
    pub fn serve(self, addr: impl corio::net::ToSocketAddrs) -> io::Result<()> {
        self.serve_on(TcpListener::bind(addr)?)
    }

    /// Serves on `listener` in the calling coro; returns only on an error
    /// that makes the listener useless.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let listener = corio::net::TcpListener::bind("127.0.0.1:0")?;
    /// println!("http://{}/", listener.local_addr()?);
    /// corio_web::App::new(|s| s.show("Hello")).serve_on(listener)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When accepting fails for good.
    ///
    /// # Switching
    ///
    /// Suspends the calling coro for as long as it serves.
    pub fn serve_on(self, listener: TcpListener) -> io::Result<()> {
        let server = Server::new(self);
        let reaper = server.spawn_reaper();
        let result = server.accept_loop(&listener);
        reaper.cancel();
        result
    }

    /// Starts serving on `listener` in coros of its own and returns at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    ///
    /// let listener = corio::net::TcpListener::bind("127.0.0.1:0")?;
    /// let server = corio_web::App::new(|s| s.show("Hello")).start(listener)?;
    /// let mut c = corio::net::TcpStream::connect(server.local_addr())?;
    /// c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
    /// let mut rsp = String::new();
    /// c.read_to_string(&mut rsp)?;
    /// assert!(rsp.starts_with("HTTP/1.1 303 See Other"));
    /// assert!(rsp.contains("set-cookie: corio_sid="));
    /// server.shutdown();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When the listener has no local address, or no coro can be made.
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn start(self, listener: TcpListener) -> io::Result<AppHandle> {
        let local_addr = listener.local_addr()?;
        let stats = self.stats.clone();
        let server = Rc::new(Server::new(self));
        let reaper = server.spawn_reaper();
        let accept = {
            let server = server.clone();
            corio::Builder::new()
                .name("corio-web accept")
                .spawn(move || server.accept_loop(&listener))?
        };
        Ok(AppHandle {
            local_addr,
            stats,
            server,
            accept,
            reaper,
        })
    }
}

/// A started [`App`]: its address, counters, and its shutdown.
///
/// Dropping the handle leaves the app running (the coros keep it alive);
/// [`shutdown`](AppHandle::shutdown) stops it.
pub struct AppHandle {
    local_addr: SocketAddr,
    stats: Arc<Stats>,
    server: Rc<Server>,
    accept: JoinHandle<io::Result<()>>,
    reaper: JoinHandle<()>,
}

impl fmt::Debug for AppHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppHandle")
            .field("local_addr", &self.local_addr)
            .field("sessions", &self.sessions())
            .finish_non_exhaustive()
    }
}

impl AppHandle {
    /// The address it listens on.
    ///
    /// # Examples
    ///
    /// See [`App::start`].
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The app's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0")?;
    /// let server = corio_web::App::new(|_s| {}).start(l)?;
    /// assert_eq!(server.stats().started(), 0);
    /// server.shutdown();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// How many sessions are alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0")?;
    /// let server = corio_web::App::new(|_s| {}).start(l)?;
    /// assert_eq!(server.sessions(), 0);
    /// server.shutdown();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends.
    pub fn sessions(&self) -> usize {
        self.server.app.live_count()
    }

    /// Expires sessions past their timeouts now (the reaper does this on
    /// its own every so often); returns how many.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = corio::net::TcpListener::bind("127.0.0.1:0")?;
    /// let server = corio_web::App::new(|_s| {}).start(l)?;
    /// assert_eq!(server.reap(), 0);
    /// server.shutdown();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Suspends while expired sessions unwind.
    pub fn reap(&self) -> usize {
        self.server.app.reap()
    }

    /// Stops the app: closes the listener, cancels every session (their
    /// dialogues' `Drop`s run) and every connection, and returns when they
    /// are gone.
    ///
    /// # Examples
    ///
    /// See [`App::start`].
    ///
    /// # Switching
    ///
    /// Suspends while the coros unwind.
    pub fn shutdown(self) {
        self.accept.cancel();
        self.reaper.cancel();
        self.server.http.shutdown();
        self.server.app.expire_all();
        let conns: Vec<Coro> = self
            .server
            .conns
            .borrow_mut()
            .drain()
            .map(|(_, c)| c)
            .collect();
        for c in conns {
            c.cancel();
        }
    }
}

/// What the accept loop, the connections and the handle share.
struct Server {
    app: Rc<AppInner>,
    http: Http,
    slots: Rc<Semaphore>,
    /// Open connections' coros (cancelled at shutdown).
    conns: Conns,
    /// Open connections per client address and network.
    places: Rc<RefCell<Places>>,
}

impl Server {
    fn new(app: App) -> Server {
        let config = app.config;
        let mut http = Http::new();
        http.builder()
            .max_buf_size(config.max_header_bytes.max(8192))
            .header_read_timeout(Duration::from_secs(30));
        // The app answers a late body 408 itself at `body_timeout`; the
        // connection's own cut is the backstop, a second later.
        http.body_timeout(config.body_timeout.checked_add(Duration::from_secs(1)));
        let slots = Rc::new(Semaphore::new(
            config.max_connections.try_into().unwrap_or(isize::MAX),
        ));
        Server {
            app: AppInner::new(config, app.dialogue, app.stats),
            http,
            slots,
            conns: Rc::new(RefCell::new(HashMap::new())),
            places: Rc::new(RefCell::new(Places::default())),
        }
    }

    fn spawn_reaper(&self) -> JoinHandle<()> {
        let app = Rc::downgrade(&self.app);
        let c = &self.app.config;
        // Sessions parked in `ask` expire on their own timers; the reaper is
        // the backstop for busy ones, and drops old tombstones.
        let tick = (c.idle_timeout.min(c.absolute_timeout) / 4)
            .clamp(Duration::from_millis(20), Duration::from_secs(60));
        corio::Builder::new()
            .name("corio-web reaper")
            .spawn(move || {
                loop {
                    corio::sleep(tick);
                    match app.upgrade() {
                        Some(app) => app.reap(),
                        None => return,
                    };
                }
            })
            .expect("map a stack for the session reaper")
    }

    fn accept_loop(&self, listener: &TcpListener) -> io::Result<()> {
        loop {
            self.slots.down();
            let slot = Slot(self.slots.clone());
            let (stream, peer) = match listener.accept() {
                Ok(c) => c,
                Err(e) if transient(&e) => {
                    drop(slot);
                    corio::sleep(Duration::from_millis(50));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(place) = PeerPlace::take(&self.places, peer.ip(), &self.app.config) else {
                refuse(&stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let _ = stream.set_write_timeout(Some(self.app.config.write_timeout));
            let app = self.app.clone();
            let http = self.http.clone();
            let conns = self.conns.clone();
            let spawned = corio::Builder::new()
                .name(format!("http {peer}"))
                .spawn(move || {
                    let _slot = slot;
                    let _place = place;
                    let me = corio::current();
                    conns.borrow_mut().insert(me.id(), me.clone());
                    let _gone = Forget(conns, me.id());
                    serve_connection(&http, app, stream, peer.ip());
                });
            if let Err(e) = spawned {
                log::warn!("corio-web: no coro for a connection from {peer}: {e}");
            }
        }
    }
}

/// A connection's place under `max_connections`, given back on drop.
struct Slot(Rc<Semaphore>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.up();
    }
}

/// Open connections per client address and per client network.
#[derive(Default)]
struct Places {
    peers: Counts,
    nets: Counts,
}

/// A connection's place under `max_connections_per_peer` and
/// `max_connections_per_network`, given back on drop.
struct PeerPlace(Rc<RefCell<Places>>, IpAddr, IpAddr);

impl PeerPlace {
    fn take(places: &Rc<RefCell<Places>>, ip: IpAddr, config: &Config) -> Option<PeerPlace> {
        let net = config.networks.network(ip);
        let mut p = places.borrow_mut();
        if !p.peers.take(ip, config.max_connections_per_peer) {
            return None;
        }
        if !p.nets.take(net, config.max_connections_per_network) {
            p.peers.give(ip);
            return None;
        }
        Some(PeerPlace(places.clone(), ip, net))
    }
}

impl Drop for PeerPlace {
    fn drop(&mut self) {
        let mut p = self.0.borrow_mut();
        p.peers.give(self.1);
        p.nets.give(self.2);
    }
}

/// Answers a connection over its address's cap 503 and closes it (the
/// answer fits the empty socket buffer: the write does not wait).
fn refuse(stream: &TcpStream) {
    use std::io::Write;
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = (&*stream).write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 5\r\ncontent-length: 0\r\n\
          connection: close\r\n\r\n",
    );
}

/// The open connections' coros, by id.
type Conns = Rc<RefCell<HashMap<CoroId, Coro>>>;

/// Takes a connection's coro out of the map when it ends.
struct Forget(Conns, CoroId);

impl Drop for Forget {
    fn drop(&mut self) {
        self.0.borrow_mut().remove(&self.1);
    }
}

/// Serves one connection with the app's service.
fn serve_connection(http: &Http, app: Rc<AppInner>, stream: TcpStream, peer: IpAddr) {
    let service = service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(crate::http::handle(app, req, peer).await) }
    });
    if let Err(e) = http.serve_connection(stream, service) {
        log::debug!("corio-web: connection ended: {e}");
    }
}

/// Accept errors worth waiting out: out of descriptors or memory (EMFILE,
/// ENFILE, ENOMEM, ENOBUFS), a connection reset before it was accepted.
fn transient(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(24 | 23 | 12 | 105))
        || matches!(
            e.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
        )
}
