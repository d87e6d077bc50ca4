//! Feature `tracing`: whether a thread's switches must look at spans at
//! all — one bit in its scheduler's `extras` word, which the switch tests
//! anyway (for time accounting and the monitor), so that with no `tracing`
//! subscriber a switch pays nothing for the feature.
//!
//! # When the bit turns on
//!
//! A span can be entered only if a subscriber enabled it, and every
//! subscriber is registered with `tracing-core` (`Dispatch::new`, which
//! `set_global_default`, `set_default` and `with_default` all go through)
//! before it can enable anything. A registration rebuilds the interest of
//! every registered callsite. corio registers one of its own ([`Notice`]),
//! never used for an event: its `set_interest` is how corio hears of every
//! subscriber registered afterwards, on whatever thread. It then turns the
//! bit on in every scheduler of the process (the list [`GATES`]) and in
//! those made later ([`OPEN`]). That happens inside `Dispatch::new`, so
//! before the subscriber can reach any thread (it is handed over by a
//! global default, whose publication synchronizes, or moved there).
//!
//! Subscribers registered before corio's callsite are seen by the level
//! they asked for (`LevelFilter::current()`) or by being this thread's
//! default. The callsite is registered when the first scheduler is made;
//! if no level is published then, a throw-away dispatcher ([`Probe`]) is
//! registered too: a registration holds `tracing-core`'s lock on its list
//! of dispatchers until it has published its level, so after ours any
//! registration that ran at the same time has either published its level
//! or will see corio's callsite.
//!
//! The bit never turns off: once a subscriber existed, switches take the
//! feature's checks (see the parent module's *Cost*).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, Once, PoisonError};

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::{Interest, NoSubscriber};
use tracing::{Event, Metadata, Subscriber, dispatcher};
use tracing_core::callsite::{self, Callsite};
use tracing_core::field::FieldSet;
use tracing_core::metadata::Kind;

/// A scheduler's `extras` word, and the bit that this module turns on.
struct Gate(*const AtomicU8);

// SAFETY: the pointer is only used for atomic operations on a word that
// stays alive while it is in `GATES` (see `spans_may_be_entered`).
unsafe impl Send for Gate {}

/// Every live scheduler's gate.
static GATES: Mutex<Vec<Gate>> = Mutex::new(Vec::new());

/// A subscriber was registered: schedulers made from now on start open.
/// Written and read under the `GATES` lock.
static OPEN: AtomicBool = AtomicBool::new(false);

/// The bit this module sets in the `extras` words.
static BIT: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// Set while this thread registers corio's own callsite and probe,
    /// whose interest rebuilds are no news.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static INSTALL: Once = Once::new();

/// The scheduler whose `extras` word is `word` was just made: `bit` is
/// turned on in it now if any subscriber was ever registered, and as soon
/// as one is. Must be undone with [`scheduler_gone`] before the word is
/// freed (a scheduler that is never freed may stay).
pub(crate) fn scheduler_made(word: &'static AtomicU8, bit: u8) {
    INSTALL.call_once(|| install(bit));
    let mut gates = GATES.lock().unwrap_or_else(PoisonError::into_inner);
    if OPEN.load(Ordering::Relaxed) {
        word.fetch_or(bit, Ordering::Relaxed);
    }
    gates.push(Gate(word));
}

/// The scheduler whose word is `word` is about to be freed.
pub(crate) fn scheduler_gone(word: &AtomicU8) {
    let mut gates = GATES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(i) = gates.iter().position(|g| std::ptr::eq(g.0, word)) {
        gates.swap_remove(i);
    }
}

/// A subscriber exists (or may): every scheduler's bit on, for good.
fn open_all() {
    let bit = BIT.load(Ordering::Relaxed);
    let gates = GATES.lock().unwrap_or_else(PoisonError::into_inner);
    OPEN.store(true, Ordering::Relaxed);
    for g in gates.iter() {
        // SAFETY: a gate in the list points to a live scheduler's word
        // (`scheduler_gone` takes it out, under this lock, before the
        // scheduler is freed); only atomic operations touch it.
        unsafe { (*g.0).fetch_or(bit, Ordering::Relaxed) };
    }
}

/// Registers [`Notice`] (once, at the first scheduler), then learns of the
/// subscribers registered before it.
fn install(bit: u8) {
    BIT.store(bit, Ordering::Relaxed);
    struct Loud;
    impl Drop for Loud {
        fn drop(&mut self) {
            QUIET.set(false);
        }
    }
    QUIET.set(true);
    let loud = Loud;
    callsite::register(&NOTICE);
    if LevelFilter::current() == LevelFilter::OFF {
        // No subscriber wants anything, or one is being registered on
        // another thread right now and has not published its level yet:
        // registering the probe waits for that (see the module docs).
        drop(tracing::Dispatch::new(Probe));
    }
    drop(loud);
    if LevelFilter::current() != LevelFilter::OFF
        || dispatcher::get_default(|d| !d.is::<NoSubscriber>())
    {
        open_all();
    }
}

/// corio's callsite, registered only to hear of every later subscriber
/// registration (each rebuilds every callsite's interest).
struct Notice;

static NOTICE: Notice = Notice;

static NOTICE_META: Metadata<'static> = Metadata::new(
    "corio: a subscriber was registered",
    "corio::spans",
    tracing::Level::TRACE,
    None,
    None,
    None,
    FieldSet::new(&[], tracing_core::identify_callsite!(&NOTICE)),
    Kind::HINT,
);

impl Callsite for Notice {
    fn set_interest(&self, _: Interest) {
        // Off the thread's registration of corio's own (or with the
        // thread's locals gone: news, to be safe).
        if !QUIET.try_with(Cell::get).unwrap_or(false) {
            open_all();
        }
    }

    fn metadata(&self) -> &Metadata<'_> {
        &NOTICE_META
    }
}

/// The throw-away subscriber registered once after [`Notice`] when no
/// level was published yet: it wants nothing (its level is `OFF`, so the
/// maximum level stays what the others make it), and is dropped at once.
///
/// Its registration rebuilds every callsite's interest with it included.
/// Its own answer is "always", which leaves another subscriber's
/// "always" and "sometimes" as they were, and makes its "never"
/// "sometimes" (its `enabled` is asked instead, and says no) until the
/// next registration: only if that subscriber was being registered at
/// the very moment the first scheduler was made. (No interest rebuild
/// follows to undo it: with no subscriber, `tracing-core` would ask the
/// no-op one, which states no level, and raise the maximum level to
/// TRACE for the whole process.)
struct Probe;

impl Subscriber for Probe {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::always()
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::OFF)
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
