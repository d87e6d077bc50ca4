//! Feature `tracing`: corio's primitives and sleeps as tokio-console
//! resources (see the parent module's docs, *Resources*).

use std::cell::OnceCell;
use std::os::fd::RawFd;
use std::panic::Location;
use std::time::Duration;

use tracing::Span;

use crate::sched::spans::{adopt_main, live, tasks_wanted};

/// How a kind of primitive shows in tokio-console: `make` makes its
/// resource span (tokio's fields), `op` an async op inside it (for the
/// call `source`); both with the kind's target.
pub(crate) struct Kind {
    make: fn(&'static Location<'static>) -> Span,
    op: fn(&'static str) -> Span,
}

/// A [`Kind`] whose `runtime.resource` span has the target `$target`, the
/// `concrete_type` `$ty` and the `kind` `$kind`, as tokio names its own.
/// Targets start with `tokio::`, as tokio's do: tokio-console's guide has
/// users filter with `tokio=trace,runtime=trace`.
macro_rules! kind {
    ($(#[$doc:meta])* $name:ident, $target:literal, $ty:literal, $kind:literal) => {
        $(#[$doc])*
        pub(crate) static $name: Kind = Kind {
            make: |loc| {
                tracing::trace_span!(
                    target: $target,
                    parent: None,
                    "runtime.resource",
                    concrete_type = $ty,
                    kind = $kind,
                    loc.file = loc.file(),
                    loc.line = loc.line(),
                    loc.col = loc.column(),
                    inherits_child_attrs = true,
                )
            },
            op: |source| {
                tracing::trace_span!(
                    target: $target,
                    "runtime.resource.async_op",
                    source,
                    inherits_child_attrs = true,
                )
            },
        };
    };
}

kind!(
    /// [`Semaphore`](crate::sync::Semaphore), as tokio's.
    SEMAPHORE, "tokio::sync::semaphore", "Semaphore", "Sync"
);
kind!(
    /// [`Mutex`](crate::sync::Mutex), as tokio's.
    MUTEX, "tokio::sync::mutex", "Mutex", "Sync"
);
kind!(
    /// [`RwLock`](crate::sync::RwLock), as tokio's.
    RWLOCK, "tokio::sync::rwlock", "RwLock", "Sync"
);
kind!(
    /// [`Channel`](crate::sync::Channel) and the halves of
    /// [`bounded`](crate::sync::bounded) and
    /// [`unbounded`](crate::sync::unbounded), which share it.
    CHANNEL, "tokio::sync::corio::channel", "Channel", "Sync"
);
kind!(
    /// [`Signal`](crate::sync::Signal).
    SIGNAL, "tokio::sync::corio::signal", "Signal", "Sync"
);
kind!(
    /// One [`sleep`](crate::sleep), as tokio's `Sleep`: a timer resource
    /// that lives as long as the sleep.
    SLEEP, "tokio::time::sleep", "Sleep", "timer"
);

kind!(
    /// [`TcpStream`](crate::net::TcpStream): tokio does not show its
    /// sockets; corio's are resources of the kind `Net`.
    TCP_STREAM, "tokio::net::corio", "TcpStream", "Net"
);
kind!(
    /// [`TcpListener`](crate::net::TcpListener).
    TCP_LISTENER, "tokio::net::corio", "TcpListener", "Net"
);
kind!(
    /// [`UdpSocket`](crate::net::UdpSocket).
    UDP_SOCKET, "tokio::net::corio", "UdpSocket", "Net"
);
kind!(
    /// [`UnixStream`](crate::net::UnixStream).
    UNIX_STREAM, "tokio::net::corio", "UnixStream", "Net"
);
kind!(
    /// [`UnixListener`](crate::net::UnixListener).
    UNIX_LISTENER, "tokio::net::corio", "UnixListener", "Net"
);

/// The running coro waits until the socket `fd` (made at `loc`, whose
/// resource of kind `kind` is `res`) is ready to read (`read`) or write (a
/// blocking call would block): an async op named `source` after the
/// socket type and the direction (`TcpStream::readable`,
/// `TcpListener::accept`: the caller's choice, see `io::reg`), polled as
/// `poll_read_ready` or `poll_write_ready` (tokio's names for a
/// registration's waits). The resource's one attribute is the descriptor
/// (`fd`). One atomic load without a subscriber.
#[inline(always)]
pub(crate) fn socket_wait(
    res: &Resource,
    (kind, source): (&'static Kind, &'static str),
    fd: RawFd,
    read: bool,
    loc: &'static Location<'static>,
) -> Option<AsyncOp> {
    if !tasks_wanted() {
        return None;
    }
    let op_name = if read {
        "poll_read_ready"
    } else {
        "poll_write_ready"
    };
    let fd = u64::try_from(fd).unwrap_or(u64::MAX);
    res.wait_slow(kind, source, op_name, loc, || {
        tracing::trace!(
            target: "runtime::resource::state_update",
            fd,
            fd.op = "override",
        );
    })
}

/// A primitive's `runtime.resource` span for tokio-console, made the first
/// time a coro waits on it while a subscriber wants TRACE spans: the
/// constructors are `const` (no span can be made there), and a primitive
/// nobody waits on has no waiters to show (sockets likewise). Its location is where it was
/// first waited on. A span that came out disabled (this thread has no
/// subscriber, another one does) is not kept: the next wait tries again.
pub(crate) struct Resource(OnceCell<Box<Span>>);

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Resource(made)"
        } else {
            "Resource(not yet)"
        })
    }
}

impl Resource {
    pub(crate) const fn new() -> Resource {
        Resource(OnceCell::new())
    }

    /// The running coro starts waiting at `loc` in the call `source` (as
    /// tokio's `Semaphore::acquire` names its op): an async op inside the
    /// resource, polled by the coro's task, until the returned guard
    /// drops. `state` runs inside the resource's span first, to report
    /// the state the waiter saw (`runtime::resource::state_update`
    /// events). The only cost without a subscriber that wants TRACE spans
    /// is one atomic load.
    #[inline(always)]
    pub(crate) fn wait(
        &self,
        kind: &'static Kind,
        source: &'static str,
        op_name: &'static str,
        loc: &'static Location<'static>,
        state: impl FnOnce(),
    ) -> Option<AsyncOp> {
        if !tasks_wanted() {
            return None;
        }
        self.wait_slow(kind, source, op_name, loc, state)
    }

    #[cold]
    #[inline(never)]
    fn wait_slow(
        &self,
        kind: &'static Kind,
        source: &'static str,
        op_name: &'static str,
        loc: &'static Location<'static>,
        state: impl FnOnce(),
    ) -> Option<AsyncOp> {
        adopt_main(crate::sched::sched().cur());
        let resource = match self.0.get() {
            Some(span) => Span::clone(span),
            None => {
                let span = (kind.make)(loc);
                if !live(&span) {
                    return None;
                }
                Span::clone(self.0.get_or_init(|| Box::new(span)))
            }
        };
        Some(AsyncOp::start(kind, resource, source, op_name, state))
    }
}

/// The running coro sleeps `duration` from `loc`: a `Sleep` resource of
/// its own ([`SLEEP`], kind `timer`, with the duration in milliseconds,
/// rounded up, as tokio reports its `Sleep`), closed when the sleep ends,
/// and the wait on it as its async op. One atomic load without a
/// subscriber.
#[inline(always)]
pub(crate) fn sleep(duration: Duration, loc: &'static Location<'static>) -> Option<AsyncOp> {
    if !tasks_wanted() {
        return None;
    }
    sleep_slow(duration, loc)
}

#[cold]
#[inline(never)]
fn sleep_slow(duration: Duration, loc: &'static Location<'static>) -> Option<AsyncOp> {
    adopt_main(crate::sched::sched().cur());
    let resource = (SLEEP.make)(loc);
    if !live(&resource) {
        return None;
    }
    let ms = u64::try_from(duration.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
    Some(AsyncOp::start(
        &SLEEP,
        resource,
        "corio::sleep",
        "poll_elapsed",
        || {
            tracing::trace!(
                target: "runtime::resource::state_update",
                duration = ms,
                duration.unit = "ms",
                duration.op = "override",
            );
        },
    ))
}

/// One coro's wait on a resource: tokio-console lists it among the
/// resource's async ops, with the waiting task (the task whose span was
/// entered when it was polled).
pub(crate) struct AsyncOp {
    resource: Span,
    op: Span,
    op_name: &'static str,
}

impl AsyncOp {
    fn start(
        kind: &Kind,
        resource: Span,
        source: &'static str,
        op_name: &'static str,
        state: impl FnOnce(),
    ) -> AsyncOp {
        let op = resource.in_scope(|| {
            state();
            (kind.op)(source)
        });
        let op = AsyncOp {
            resource,
            op,
            op_name,
        };
        op.poll(false);
        op
    }

    /// The waiting coro looks (at the start, and when it got what it waited
    /// for): `ready` says whether it got it.
    fn poll(&self, ready: bool) {
        let _r = self.resource.enter();
        let _o = self.op.enter();
        tracing::trace!(
            target: "runtime::resource::poll_op",
            op_name = self.op_name,
            is_ready = ready,
        );
    }

    /// It got what it waited for; `state` reports the state it left
    /// (inside the resource's span).
    pub(crate) fn ready(self, state: impl FnOnce()) {
        self.poll(true);
        self.resource.in_scope(state);
    }
}
