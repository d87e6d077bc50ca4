//! The connections an [`Http`](super::Http) serves, as its shutdown
//! switch and its watcher see them: the watcher unwinds the handler of a
//! client that has gone.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::task::Waker;
use std::time::Duration;

/// The shutdown switch and the connections it must reach.
pub(super) struct Graceful {
    pub(super) shutdown: Cell<bool>,
    /// The waker of each open connection's `block_on`, by slot (`None`
    /// until it first polls, and after it was woken for the shutdown).
    pub(super) wakers: RefCell<Vec<Option<Waker>>>,
    /// Slots of `wakers` not in use.
    pub(super) free: RefCell<Vec<usize>>,
    /// Open connections.
    pub(super) live: Cell<usize>,
    /// Per slot, what the watcher looks at while a request is in flight.
    pub(super) watched: RefCell<Vec<Option<Watched>>>,
    /// The coro that unwinds handlers whose client has gone (while any
    /// connection is open).
    pub(super) watcher: RefCell<Option<crate::JoinHandle<()>>>,
}

/// A connection as the watcher sees it.
pub(super) struct Watched {
    pub(super) fd: std::os::fd::RawFd,
    /// The coro serving it.
    pub(super) coro: crate::Coro,
    /// The number of its request in flight (whose handler has not
    /// answered yet).
    pub(super) in_flight: Rc<Cell<Option<u64>>>,
    /// The request the watcher found in flight at its last look.
    pub(super) seen: Cell<Option<u64>>,
    /// Whether [`ClientGone`] was thrown at `coro`.
    pub(super) thrown: Rc<Cell<bool>>,
}

/// What the watcher throws at a connection's coro whose client has gone;
/// [`Http::serve_connection`](super::Http::serve_connection) catches it.
pub(super) struct ClientGone;

/// How often the watcher looks for handlers whose client has gone, and how
/// long a handler must have been running before it is looked at.
pub(super) const WATCH_EVERY: Duration = Duration::from_millis(500);

/// Whether the peer of the socket `fd` has closed it (end of stream or a
/// reset, seen without consuming anything).
pub(super) fn peer_gone(fd: std::os::fd::RawFd) -> bool {
    let mut b = 0u8;
    // SAFETY: `b` is valid for a write of one byte; MSG_PEEK consumes
    // nothing and MSG_DONTWAIT never blocks.
    let n = unsafe {
        libc::recv(
            fd,
            (&raw mut b).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => true,
        1.. => false,
        _ => matches!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::ECONNRESET | libc::EPIPE | libc::ENOTCONN)
        ),
    }
}

/// The watcher's loop: every [`WATCH_EVERY`], throws [`ClientGone`] at the
/// coro of each connection whose handler has been running that long and
/// whose client has gone (as hyper on tokio drops the handler's future
/// when its connection goes). Ends when no connection is open.
///
/// A handler has been running at least that long when the watcher finds
/// the same request in flight as at its look before: requests are
/// numbered, so no clock is read per request.
pub(super) fn watch(g: std::rc::Weak<Graceful>) {
    loop {
        crate::sleep(WATCH_EVERY);
        let Some(g) = g.upgrade() else { return };
        if g.live.get() == 0 {
            return;
        }
        for w in g.watched.borrow().iter().flatten() {
            let now = w.in_flight.get();
            let before = w.seen.replace(now);
            if !w.thrown.get() && now.is_some() && now == before && peer_gone(w.fd) {
                // Its blocking call (now, or the next) unwinds: the
                // handler's `Drop`s run, `serve_connection` catches it and
                // the connection closes.
                w.thrown.set(true);
                w.coro.throw(ClientGone);
            }
        }
    }
}

/// Keeps a connection in the watcher's view while it is served; out of it
/// when dropped.
pub(super) struct Watch<'a> {
    pub(super) g: &'a Graceful,
    pub(super) slot: usize,
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let w = self
            .g
            .watched
            .borrow_mut()
            .get_mut(self.slot)
            .and_then(Option::take);
        // A throw that has not fired must not hit what the coro does next.
        if let Some(w) = w
            && w.thrown.get()
        {
            w.coro.clear_throw();
        }
    }
}

/// An open connection's slot in [`Graceful`]; frees it when dropped.
pub(super) struct Conn<'a> {
    pub(super) g: &'a Graceful,
    pub(super) slot: usize,
}

impl Graceful {
    pub(super) fn enter(&self) -> Conn<'_> {
        let slot = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                let mut w = self.wakers.borrow_mut();
                w.push(None);
                w.len() - 1
            }
        };
        self.live.set(self.live.get() + 1);
        Conn { g: self, slot }
    }
}

impl<'a> Conn<'a> {
    /// Shows the connection (socket `fd`, served by the current coro) to the
    /// watcher while the returned guard lives.
    pub(super) fn watch(
        &self,
        fd: std::os::fd::RawFd,
        in_flight: Rc<Cell<Option<u64>>>,
    ) -> Watch<'a> {
        let mut watched = self.g.watched.borrow_mut();
        if watched.len() <= self.slot {
            watched.resize_with(self.slot + 1, || None);
        }
        watched[self.slot] = Some(Watched {
            fd,
            coro: crate::current(),
            in_flight,
            seen: Cell::new(None),
            thrown: Rc::new(Cell::new(false)),
        });
        Watch {
            g: self.g,
            slot: self.slot,
        }
    }

    /// Keeps `waker` to wake the connection at shutdown.
    pub(super) fn register(&self, waker: &Waker) {
        let mut wakers = self.g.wakers.borrow_mut();
        let w = &mut wakers[self.slot];
        if !w.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *w = Some(waker.clone());
        }
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        self.g.wakers.borrow_mut()[self.slot] = None;
        self.g.free.borrow_mut().push(self.slot);
        self.g.live.set(self.g.live.get() - 1);
    }
}
