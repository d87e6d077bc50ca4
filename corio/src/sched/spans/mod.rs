//! Feature `tracing`: spans follow coros.
//!
//! # The promise
//!
//! A `tracing` span entered in a coro is current only while that coro runs.
//! Events of another coro, of the main coro, or of the scheduler loop are
//! never attributed to it, whatever the subscriber. `tracing` keeps the
//! current span per OS thread (the Registry's span stack), and every coro
//! of a thread shares that thread; so each switch must take the outgoing
//! coro's spans off the thread and put the incoming coro's back.
//!
//! # How it is kept
//!
//! - **At every switch-out** ([`switch_out`], from the scheduler's
//!   `switched_out` and the loop's start for the main coro) the thread's
//!   entered spans are exited one by one, innermost first, asking the
//!   default dispatcher for its current span each time, and kept with the
//!   coro ([`Saved`]). Each kept id holds one reference (`clone_span`): a
//!   span cannot close while its coro is switched out, even if it was
//!   entered by a guard that the coro's stack still holds.
//! - **At every switch-in** ([`switch_in`], from `switching_in`) they are
//!   entered again, outermost first, and the extra reference dropped.
//!   This happens before the coro's `on_enter` hooks run and after its
//!   `on_leave` hooks ran (those run inside the coro), so events from
//!   hooks belong to the coro.
//! - **The scheduler loop** runs between a switch-out and the next
//!   switch-in, with no span entered: its events belong to nobody's span.
//! - **Generators** ([`GeneratorSpans`]) are a swap inside the coro: at
//!   `resume` the generator's own spans go on top of the caller's; when it
//!   yields or returns, the spans above the one that was current at the
//!   resume are exited and kept with the generator.
//! - **A cancelled coro** is switched in (its spans entered) before it
//!   unwinds, so the `Entered` guards on its stack exit what they entered.
//! - **The task span.** Every coro also gets a `runtime.spawn` span at
//!   spawn, as tokio gives one to every task (see [`task_span`]); the
//!   coro's spans nest inside it. It is entered at every switch-in and
//!   exited at every switch-out, balanced, and closed when the coro ends,
//!   which is what `console-subscriber` counts as polls and busy time.
//! - **The main coro's task span** (kind `block_on`, as tokio's
//!   `block_on`; no spawn location): each thread's main coro is already
//!   running when a subscriber may appear, so it gets its task span when it
//!   first matters under one ([`adopt_main`]: as it spawns a coro or starts
//!   waiting on a resource — its entered spans are exited and entered
//!   again above the task span, so they stay current — or else at its first
//!   switch-out). From then on it is entered while the main coro runs, as
//!   any coro's; so events of the main coro are inside it, and so are the
//!   spans it makes afterwards (as in a tokio `block_on`). It is exited and
//!   closed when the thread's scheduler is torn down ([`main_ended`]).
//! - **Waker events** (`tokio::task::waker`, as tokio emits them, with the
//!   task span's id): a `waker.clone` at every switch-out of a coro that
//!   goes on living, then exactly one `waker.wake` (when it is readied:
//!   from [`readied`], or at the switch-out itself for a coro that ceded,
//!   outside its span, so that it is no self-wake) or `waker.drop` (when
//!   it comes back in without being readied). So tokio-console sees a
//!   parked coro as idle with one waker out, and its wait as idle time.
//! - **Resources** (in `resource.rs`): a
//!   [`Semaphore`](crate::sync::Semaphore), [`Mutex`](crate::sync::Mutex),
//!   [`RwLock`](crate::sync::RwLock), [`Channel`](crate::sync::Channel)
//!   (with the halves of `bounded` and `unbounded`) or
//!   [`Signal`](crate::sync::Signal) that a coro waits on becomes a
//!   `runtime.resource` ([`Resource`], [`Kind`](resource::Kind); made at
//!   the first wait, as their constructors are `const`), and each wait an
//!   async op ([`AsyncOp`](resource::AsyncOp)) polled by the waiting
//!   coro's task: polled once as it starts waiting, once more when it got
//!   what it waited for. Each [`sleep`](crate::sleep) is a `Sleep` timer
//!   resource of its own (with its duration), as tokio's `Sleep` future
//!   is. Sockets ([`TcpStream`](crate::net::TcpStream),
//!   [`TcpListener`](crate::net::TcpListener),
//!   [`UdpSocket`](crate::net::UdpSocket),
//!   [`UnixStream`](crate::net::UnixStream),
//!   [`UnixListener`](crate::net::UnixListener); tokio shows none of its
//!   own) are resources of the kind `Net`, located where they were made
//!   (bound, connected, accepted), with their descriptor as attribute, and
//!   each wait of a blocking call for readiness an async op
//!   (`TcpStream::readable`, `TcpListener::accept`, ...). The send-able
//!   primitives (`mpmc`, `Rouse`), other descriptors (pipes, files,
//!   `compat`'s waits for an async task) and the hooks' waits are not
//!   resources.
//!
//! # Cost
//!
//! Without the feature none of this is compiled. With it, as long as no
//! subscriber was ever registered in the process, a switch pays nothing:
//! the scheduler tests one word at each switch-out and switch-in anyway
//! (time accounting, the monitor), and the feature is one more bit in it,
//! turned on in every scheduler when a subscriber is registered (see
//! `gate.rs` for how corio hears of that, soundly, on every thread). With
//! the bit on and no span entered or enabled, a switch-out tests one
//! atomic (`LevelFilter::current() == OFF`) and a pointer, a switch-in one
//! pointer. A wait on a resource
//! (once the primitive is known to have to wait) and a sleep test one
//! atomic ([`tasks_wanted`]); a primitive's `Resource` is one more pointer
//! in it (and `Channel`'s shared block). With a subscriber, each
//! switch costs one `current_span` call plus one exit (out) or enter (in)
//! per entered span, each fanned out to the subscriber's layers.
//!
//! # Limits
//!
//! - The main coro's task span stays entered while the main coro runs,
//!   also after the scoped default (`with_default`) it was made under
//!   ended: it is exited at the main coro's next switch-out, in its own
//!   subscriber.
//! - Subscribers that do not track the current span (their `current_span`
//!   answers "unknown") cannot be asked what is entered; then only the task
//!   span, which corio owns, follows the coro.
//! - One default dispatcher per thread is assumed while coros run: set the
//!   subscriber globally, or with `set_default` on the thread before its
//!   coros run. A scoped default set inside a coro is seen by every coro of
//!   the thread while it lasts.
//! - With scoped defaults only, tracing-core's shortcut for a single
//!   registered dispatcher bites: while exactly one is registered, a
//!   callsite first hit on a thread without a subscriber is cached as
//!   unwanted by every subscriber (task spans, waker events, resources of
//!   that callsite vanish for the thread that has the subscriber, until
//!   another dispatcher registers). A global default does not have this.
//! - Never switch coros inside subscriber code (a writer that parks): the
//!   dispatcher state of the thread is borrowed while it runs.

use std::cell::Cell;
use std::panic::Location;

use tracing::Span;
use tracing::dispatcher::{self, Dispatch};
use tracing::level_filters::LevelFilter;
use tracing::span::Id;
use tracing::subscriber::NoSubscriber;

use crate::sched::inner::CoroInner;

mod gate;

pub(crate) use gate::{scheduler_gone, scheduler_made};

/// A bound on the spans taken off the thread at one switch. Past it the
/// subscriber is not behaving as a span stack (its current span does not
/// change when exited); the rest stay entered rather than loop forever.
const MAX_DEPTH: usize = 1024;

/// Spans exited at a switch-out, to enter again at the switch-in.
#[derive(Default)]
pub(crate) struct Saved {
    /// The dispatcher they were entered in.
    dispatch: Option<Dispatch>,
    /// Innermost first; each holds a reference taken with `clone_span`.
    ids: Vec<Id>,
}

impl Saved {
    /// Exits the thread's entered spans, innermost first, down to `base`
    /// (kept entered) or the bottom, and keeps them.
    fn save(&mut self, d: Dispatch, base: Option<&Id>) {
        debug_assert!(self.ids.is_empty());
        for _ in 0..MAX_DEPTH {
            let cur = d.current_span();
            let Some(id) = cur.id() else { break };
            if Some(id) == base {
                break;
            }
            let id = id.clone();
            self.ids.push(d.clone_span(&id));
            d.exit(&id);
        }
        if !self.ids.is_empty() {
            self.dispatch = Some(d);
        }
    }

    /// Enters the kept spans again, outermost first.
    fn restore(&mut self) {
        let Some(d) = self.dispatch.take() else {
            return;
        };
        while let Some(id) = self.ids.pop() {
            d.enter(&id);
            // The thread's span stack now keeps it entered; our own
            // reference goes (the coro's `Span` still holds one).
            d.try_close(id);
        }
    }

    fn contains(&self, id: &Id) -> bool {
        self.ids.iter().any(|i| i == id)
    }

    /// Drops the kept references without entering anything.
    fn release(&mut self) {
        if let Some(d) = self.dispatch.take() {
            for id in self.ids.drain(..) {
                d.try_close(id);
            }
        }
    }
}

/// A coro's spans while it is switched out, and its task span.
#[derive(Default)]
struct State {
    saved: Saved,
    /// The `runtime.spawn` span (enabled), closed when the coro ends.
    task: Option<Span>,
    /// The task span is entered on its own at the switch-in (before the
    /// saved ones): at the first switch-in, and whenever the subscriber
    /// did not list it at the switch-out.
    task_alone: bool,
    /// A `waker.clone` was reported at its last switch-out and neither a
    /// wake nor a drop since: somebody may wake it. Reports stay balanced
    /// (every clone is followed by one wake or drop), which is what keeps
    /// tokio-console's lost-waker warning for coros nothing can wake.
    waker_out: bool,
}

/// Per-coro span state, a null pointer for a coro that never had any.
#[derive(Default)]
pub(crate) struct CoroSpans(Cell<Option<Box<State>>>);

impl CoroSpans {
    #[inline(always)]
    fn is_empty(&self) -> bool {
        // SAFETY: reading the option's discriminant through the cell's
        // pointer; nothing holds a reference into the cell (the functions
        // below take the box out and put it back, with no call in between
        // that could reach the same coro's cell).
        unsafe { (*self.0.as_ptr()).is_none() }
    }

    /// Forgets everything (a recycled control block). Spans of a coro that
    /// is being reused were released when it ended.
    #[inline]
    pub(crate) fn reset(&self) {
        if !self.is_empty() {
            drop(self.0.take());
        }
    }

    /// Whether anything was ever kept for the coro (its task span, or
    /// spans it had entered): the cheap test before [`readied`].
    #[inline(always)]
    pub(crate) fn any(&self) -> bool {
        !self.is_empty()
    }
}

/// `c` (which just stopped running) takes its spans off the thread.
#[inline(always)]
pub(crate) fn switch_out(c: &CoroInner) {
    if c.spans.is_empty() && LevelFilter::current() == LevelFilter::OFF {
        return;
    }
    switch_out_slow(c, false);
}

/// The thread's main coro `c` leaves for the scheduler loop: as
/// [`switch_out`], and it gets its task span here (see [`main_task`]).
#[inline(always)]
pub(crate) fn switch_out_main(c: &CoroInner) {
    if c.spans.is_empty() && LevelFilter::current() == LevelFilter::OFF {
        return;
    }
    switch_out_slow(c, true);
}

#[cold]
#[inline(never)]
fn switch_out_slow(c: &CoroInner, main: bool) {
    let d = dispatcher::get_default(Dispatch::clone);
    let mut st = match c.spans.0.take() {
        Some(st) => st,
        None if main && main_task_wanted(&d) => Box::default(),
        None => {
            let mut saved = Saved::default();
            saved.save(d, None);
            if c.is_over() {
                saved.release();
            } else if !saved.ids.is_empty() {
                c.spans.0.set(Some(Box::new(State {
                    saved,
                    ..State::default()
                })));
            }
            return;
        }
    };
    // The main coro's task span is made at a switch-out: it is not
    // entered yet, so this one exits nothing.
    let fresh = main && st.task.is_none() && main_task_wanted(&d) && {
        st.task = main_task(c);
        st.task.is_some()
    };
    st.saved.save(d, None);
    if let Some(task) = &st.task {
        let listed = task.id().is_some_and(|id| st.saved.contains(&id));
        if !listed && st.task_alone && !fresh {
            task.with_subscriber(|(id, d)| d.exit(id));
        }
        st.task_alone = !listed;
    }
    if c.is_over() {
        // Ended: nothing is entered again. The task span closes now (as
        // `st` drops), as tokio's does when its future is dropped.
        st.saved.release();
        return;
    }
    if let Some(task) = &st.task {
        // Parked, somebody holds a way to wake it (tokio: a waker
        // clone); ceded, it is woken at once, after its span was exited,
        // so that it is not a self-wake (tokio's `yield_now` likewise).
        task_waker_op(task, "waker.clone");
        st.waker_out = !c.is_ready();
        if !st.waker_out {
            task_waker_op(task, "waker.wake");
        }
    }
    c.spans.0.set(Some(st));
}

/// `c` (about to run) puts its spans back on the thread.
#[inline(always)]
pub(crate) fn switch_in(c: &CoroInner) {
    if c.spans.is_empty() {
        return;
    }
    switch_in_slow(c);
}

#[cold]
#[inline(never)]
fn switch_in_slow(c: &CoroInner) {
    let Some(mut st) = c.spans.0.take() else {
        return;
    };
    if st.waker_out
        && let Some(task) = &st.task
    {
        // Switched in without being readied (`select!` runs a branch at
        // once, a backtrace request): the registration it parked with is
        // given up.
        task_waker_op(task, "waker.drop");
        st.waker_out = false;
    }
    if st.task_alone
        && let Some(task) = &st.task
    {
        task.with_subscriber(|(id, d)| d.enter(id));
    }
    st.saved.restore();
    c.spans.0.set(Some(st));
}

/// If `c`, running, is its thread's main coro and has no task span while a
/// subscriber wants one, it gets it now, entered under the spans it has
/// entered (they are exited and entered again above it, as a switch
/// would). Called where the main coro first matters to tokio-console: as
/// it spawns a coro, as it starts waiting on a resource. Otherwise it gets
/// it at its first switch-out.
#[cold]
#[inline(never)]
pub(crate) fn adopt_main(c: &CoroInner) {
    if !c.is_main() {
        return;
    }
    let d = dispatcher::get_default(Dispatch::clone);
    if !main_task_wanted(&d) {
        return;
    }
    let mut st = c.spans.0.take().unwrap_or_default();
    if st.task.is_none()
        && let Some(task) = main_task(c)
    {
        // Running, so nothing is kept for it.
        st.saved.release();
        st.saved.save(d, None);
        task.with_subscriber(|(id, d)| d.enter(id));
        st.saved.restore();
        st.task = Some(task);
        st.task_alone = true;
    }
    c.spans.0.set(Some(st));
}

/// The thread's main coro `c`, running, is done with (its thread exits and
/// the scheduler goes): its task span, entered while it runs, is exited
/// and closes.
pub(crate) fn main_ended(c: &CoroInner) {
    let Some(mut st) = c.spans.0.take() else {
        return;
    };
    st.saved.release();
    if let Some(task) = st.task.take() {
        task.with_subscriber(|(id, d)| d.exit(id));
    }
}

/// A coro ended without running again (cancelled before it started):
/// closes its task span.
pub(crate) fn ended_unstarted(c: &CoroInner) {
    if let Some(mut st) = c.spans.0.take() {
        st.saved.release();
    }
}

/// Whether any subscriber could want TRACE spans (task spans are TRACE):
/// one atomic load, so that a spawn with no subscriber pays no more.
#[inline(always)]
pub(crate) fn tasks_wanted() -> bool {
    LevelFilter::current() == LevelFilter::TRACE
}

/// Whether `span` went to a subscriber. A span made on a thread with no
/// subscriber while another thread has one that is always interested in
/// its callsite is not disabled: it goes to the no-op subscriber (which
/// hands out one dummy id), and must not be kept as if it were real.
pub(crate) fn live(span: &Span) -> bool {
    span.with_subscriber(|(_, d)| !d.is::<NoSubscriber>())
        .unwrap_or(false)
}

/// Whether the main coro should get its task span now: a subscriber wants
/// TRACE spans, and this thread's (`d`) is not the no-op one.
fn main_task_wanted(d: &Dispatch) -> bool {
    tasks_wanted() && !d.is::<NoSubscriber>()
}

/// The main coro `c`'s task span, as tokio's `block_on` gets one (kind
/// `block_on`, which tokio-console exempts from its task lints; no spawn
/// location), or `None` when the subscriber does not want it. Made at the
/// main coro's first switch-out under a subscriber (a scheduler is made
/// before any subscriber may be, and the main coro's first run is not a
/// switch), entered at every switch-in from then on. It closes with the
/// scheduler at thread exit.
fn main_task(c: &CoroInner) -> Option<Span> {
    let name = c.desc();
    let span = tracing::trace_span!(
        target: "tokio::task",
        parent: None,
        "runtime.spawn",
        kind = "block_on",
        task.name = name.as_deref().unwrap_or_default(),
        task.id = c.id.as_u64(),
    );
    live(&span).then_some(span)
}

/// Gives the coro `c`, just spawned at `loc`, its task span when a
/// subscriber wants it: tokio's `runtime.spawn` span of target
/// `tokio::task`, with no parent (a task must not keep its spawner's span
/// open), the fields `console-subscriber` reads.
#[inline]
pub(crate) fn task_span(c: &CoroInner, name: Option<&str>, loc: &'static Location<'static>) {
    let span = tracing::trace_span!(
        target: "tokio::task",
        parent: None,
        "runtime.spawn",
        kind = "task",
        task.name = name.unwrap_or_default(),
        task.id = c.id.as_u64(),
        loc.file = loc.file(),
        loc.line = loc.line(),
        loc.col = loc.column(),
    );
    if !live(&span) {
        return;
    }
    c.spans.0.set(Some(Box::new(State {
        saved: Saved::default(),
        task: Some(span),
        task_alone: true,
        waker_out: false,
    })));
}

/// `c` was readied: a `waker.wake` on its task, as tokio reports it
/// (`task.id` is the task span's id), if it parked with a waker out. A
/// coro that readies itself while running (a cede) is woken as it switches
/// out instead, outside its span, as tokio's `yield_now` wakes after the
/// poll.
#[cold]
#[inline(never)]
pub(crate) fn readied(c: &CoroInner) {
    let Some(mut st) = c.spans.0.take() else {
        return;
    };
    if st.waker_out
        && let Some(task) = &st.task
    {
        task_waker_op(task, "waker.wake");
        st.waker_out = false;
    }
    c.spans.0.set(Some(st));
}

fn task_waker_op(task: &Span, op: &'static str) {
    if let Some(id) = task.id() {
        waker_event(&id, op);
    }
}

fn waker_event(id: &Id, op: &'static str) {
    tracing::trace!(target: "tokio::task::waker", op, task.id = id.into_u64());
}

/// A generator's spans while it is not running.
#[derive(Default)]
pub(crate) struct GeneratorSpans {
    saved: Saved,
}

/// The span that was current when a generator was resumed: its own spans
/// are taken off down to it when it yields.
pub(crate) struct ResumeBase(Option<(Dispatch, Option<Id>)>);

impl GeneratorSpans {
    /// Before switching into the generator: notes the caller's current span
    /// and enters the generator's own.
    #[inline]
    pub(crate) fn enter(&mut self) -> ResumeBase {
        if self.saved.dispatch.is_none() && LevelFilter::current() == LevelFilter::OFF {
            return ResumeBase(None);
        }
        let d = dispatcher::get_default(Dispatch::clone);
        let base = d.current_span().id().cloned();
        self.saved.restore();
        ResumeBase(Some((d, base)))
    }

    /// After the generator yielded or returned: takes its spans off the
    /// thread, down to the caller's.
    #[inline]
    pub(crate) fn leave(&mut self, base: ResumeBase) {
        if let ResumeBase(Some((d, base))) = base {
            self.saved.save(d, base.as_ref());
        }
    }

    /// The generator completed or is being dropped: its spans are gone.
    pub(crate) fn release(&mut self) {
        self.saved.release();
    }
}
