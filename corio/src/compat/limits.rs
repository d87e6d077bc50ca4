//! What keeps one client of an [`Http`](super::Http) within its share: the
//! connection slots, and the body deadline's service wrapper.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Incoming};
use hyper::service::HttpService;
use hyper::{Request, Response};

use crate::net::TcpStream;
use crate::sync::Semaphore;

/// A semaphore's count for `n` places.
pub(super) fn permits(n: usize) -> isize {
    n.try_into().unwrap_or(isize::MAX)
}

/// A connection's place under `max_connections`, given back on drop.
pub(super) struct Slot(pub(super) Rc<Semaphore>);

impl Slot {
    pub(super) fn try_take(slots: &Rc<Semaphore>) -> Option<Slot> {
        slots.try_down().then(|| Slot(slots.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.up();
    }
}

/// The connections open per client network, and the cap on them.
pub(super) struct Networks {
    /// Prefix lengths: IPv4, IPv6.
    pub(super) prefixes: (u8, u8),
    pub(super) max: usize,
    open: RefCell<HashMap<IpAddr, usize>>,
}

impl Networks {
    pub(super) fn new(prefixes: (u8, u8), max: usize) -> Rc<Networks> {
        Rc::new(Networks {
            prefixes,
            max,
            open: RefCell::new(HashMap::new()),
        })
    }

    /// The network `ip` is in: its leading bits (an IPv4-mapped IPv6
    /// address counts as its IPv4 address).
    pub(super) fn network(&self, ip: IpAddr) -> IpAddr {
        let (v4, v6) = self.prefixes;
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(v4.min(32)))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(v6.min(128)))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }
}

/// A connection's place under its network's cap, given back on drop.
pub(super) struct NetPlace(Rc<Networks>, IpAddr);

impl NetPlace {
    pub(super) fn try_take(nets: &Rc<Networks>, peer: IpAddr) -> Option<NetPlace> {
        let net = nets.network(peer);
        let mut open = nets.open.borrow_mut();
        let n = open.entry(net).or_insert(0);
        if *n >= nets.max {
            if *n == 0 {
                open.remove(&net);
            }
            return None;
        }
        *n += 1;
        Some(NetPlace(nets.clone(), net))
    }
}

impl Drop for NetPlace {
    fn drop(&mut self) {
        let mut open = self.0.open.borrow_mut();
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// Answers a connection over the cap `503` and closes it.
pub(super) fn refuse(stream: TcpStream) {
    use std::io::Write;
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = (&stream).write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\n\
          connection: close\r\n\r\n",
    );
}

/// The service, wrapped to start the body deadline of each request that
/// has a body and to end it when the handler has answered.
pub(super) struct BodyDeadline<S> {
    pub(super) inner: RefCell<S>,
    pub(super) deadline: Rc<Cell<Option<Instant>>>,
    /// The number of the request whose handler is running (`None` once it
    /// answered), for the watcher (see `track::watch`).
    pub(super) in_flight: Rc<Cell<Option<u64>>>,
    /// Requests taken on this connection.
    pub(super) requests: Cell<u64>,
    pub(super) timeout: Option<Duration>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for BodyDeadline<S>
where
    S: HttpService<Incoming, ResBody = B>,
    B: Body,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Answered<S::Future>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        // The clock is read only for a request with a body: the watcher
        // needs no time, only the request's number.
        if let Some(t) = self.timeout
            && !req.body().is_end_stream()
        {
            self.deadline.set(Instant::now().checked_add(t));
        }
        let n = self.requests.get().wrapping_add(1);
        self.requests.set(n);
        self.in_flight.set(Some(n));
        Answered {
            fut: Box::pin(self.inner.borrow_mut().call(req)),
            deadline: self.deadline.clone(),
            in_flight: self.in_flight.clone(),
        }
    }
}

/// A handler's future; its answer (or its drop) ends the body deadline.
pub(super) struct Answered<F> {
    pub(super) fut: Pin<Box<F>>,
    pub(super) deadline: Rc<Cell<Option<Instant>>>,
    pub(super) in_flight: Rc<Cell<Option<u64>>>,
}

impl<F: Future> Future for Answered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let out = std::task::ready!(self.fut.as_mut().poll(cx));
        self.deadline.set(None);
        self.in_flight.set(None);
        Poll::Ready(out)
    }
}

impl<F> Drop for Answered<F> {
    fn drop(&mut self) {
        self.deadline.set(None);
        self.in_flight.set(None);
    }
}
