//! Feature `tracing`: a span entered in a coro is current only while that
//! coro runs. Every test records, through a capturing layer on a
//! `tracing-subscriber` Registry, each event with the spans it was
//! attributed to (root first), and asserts them exactly. The layer also
//! checks that every span was exited as often as it was entered by the
//! time it closed, and never exited more.
#![cfg(feature = "tracing")]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber, info, info_span, instrument};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// What the layer saw.
#[derive(Default)]
struct Seen {
    /// "span > span: message", one per event.
    lines: Vec<String>,
    /// Per live span: entered minus exited.
    depth: HashMap<u64, i64>,
    /// Enters and exits of task (`runtime.spawn`) spans, by task name.
    task_enters: HashMap<String, u64>,
    task_exits: HashMap<String, u64>,
    /// Task spans closed, by name.
    task_closed: Vec<String>,
    errors: Vec<String>,
    /// `tokio::task::waker` events: op and task span id.
    waker_ops: Vec<WakerOp>,
    /// Task spans: span id to task name, and each one's fields.
    task_ids: HashMap<u64, String>,
    task_fields: HashMap<String, Vec<(String, String)>>,
    /// Task spans entered on this thread, innermost last (the console
    /// layer's own stack, which links a resource's poll to its task).
    tasks_entered: Vec<String>,
    /// `runtime.resource` spans: their fields, as they were made.
    resources: Vec<Vec<(String, String)>>,
    /// Resource events, `TARGET-TAIL fields @ scope by TASK`, e.g.
    /// `poll_op op_name=poll_acquire is_ready=false @ resource:Mutex >
    /// op:Mutex::lock by waiter`.
    resource_events: Vec<String>,
    /// Resource and async-op spans closed (their labels).
    resources_closed: Vec<String>,
}

#[derive(Default, Debug, Clone, PartialEq)]
struct WakerOp {
    op: String,
    task: u64,
    /// The spans current when it was emitted.
    scope: String,
}

impl Visit for WakerOp {
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "op" {
            self.op = value.to_string();
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "task.id" {
            self.task = value;
        }
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Seen>>);

/// A span's label: `name{field=value,...}`, or `coro:NAME` for a coro's
/// task span.
struct Label(String);

#[derive(Default)]
struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .push((field.name().to_string(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }
}

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut f = Fields::default();
        attrs.record(&mut f);
        let meta = attrs.metadata();
        let label = if meta.name() == "runtime.spawn" {
            assert_eq!(meta.target(), "tokio::task");
            format!("coro:{}", f.get("task.name").unwrap_or("?"))
        } else if meta.name() == "runtime.resource" {
            let ty = f.get("concrete_type").unwrap_or("?").to_string();
            self.0.lock().unwrap().resources.push(f.0.clone());
            format!("resource:{ty}")
        } else if meta.name() == "runtime.resource.async_op" {
            format!("op:{}", f.get("source").unwrap_or("?"))
        } else if f.0.is_empty() {
            meta.name().to_string()
        } else {
            let mut s = format!("{}{{", meta.name());
            for (i, (k, v)) in f.0.iter().enumerate() {
                let _ = write!(s, "{}{k}={v}", if i > 0 { "," } else { "" });
            }
            s + "}"
        };
        if let Some(name) = label.strip_prefix("coro:") {
            let mut seen = self.0.lock().unwrap();
            seen.task_ids.insert(id.into_u64(), name.to_string());
            seen.task_fields.insert(name.to_string(), f.0.clone());
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Label(label));
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let mut seen = self.0.lock().unwrap();
        *seen.depth.entry(id.into_u64()).or_default() += 1;
        if let Some(name) = task_name(id, &ctx) {
            *seen.task_enters.entry(name.clone()).or_default() += 1;
            seen.tasks_entered.push(name);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let mut seen = self.0.lock().unwrap();
        let d = seen.depth.entry(id.into_u64()).or_default();
        *d -= 1;
        if *d < 0 {
            let label = label(id, &ctx);
            seen.errors
                .push(format!("{label} exited more often than entered"));
        }
        if let Some(name) = task_name(id, &ctx) {
            if let Some(at) = seen.tasks_entered.iter().rposition(|n| *n == name) {
                seen.tasks_entered.remove(at);
            }
            *seen.task_exits.entry(name).or_default() += 1;
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let mut seen = self.0.lock().unwrap();
        let d = seen.depth.remove(&id.into_u64()).unwrap_or(0);
        if d != 0 {
            let label = label(&id, &ctx);
            seen.errors
                .push(format!("{label} closed while entered {d} times"));
        }
        if let Some(name) = task_name(&id, &ctx) {
            seen.task_closed.push(name);
        }
        let label = label(&id, &ctx);
        if label.starts_with("resource:") || label.starts_with("op:") {
            seen.resources_closed.push(label);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() == "tokio::task::waker" {
            // Console data, checked in `waker_events_*`.
            let mut f = WakerOp::default();
            event.record(&mut f);
            f.scope = scope_of(event, &ctx);
            self.0.lock().unwrap().waker_ops.push(f);
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        if let Some(what) = event
            .metadata()
            .target()
            .strip_prefix("runtime::resource::")
        {
            let mut line = what.to_string();
            for (k, v) in &f.0 {
                let _ = write!(line, " {k}={v}");
            }
            let mut seen = self.0.lock().unwrap();
            let task = seen.tasks_entered.last().cloned().unwrap_or_default();
            let _ = write!(line, " @ {} by {task}", scope_of(event, &ctx));
            seen.resource_events.push(line);
            return;
        }
        let msg = f.get("message").unwrap_or("").to_string();
        let path = scope_of(event, &ctx);
        let line = if path.is_empty() {
            msg
        } else {
            format!("{path}: {msg}")
        };
        self.0.lock().unwrap().lines.push(line);
    }
}

/// The spans an event is attributed to, root first: `a > b > c`.
fn scope_of<S: Subscriber + for<'a> LookupSpan<'a>>(
    event: &Event<'_>,
    ctx: &Context<'_, S>,
) -> String {
    ctx.event_scope(event)
        .map(|scope| {
            scope
                .from_root()
                .map(|s| s.extensions().get::<Label>().map(|l| l.0.clone()))
                .map(Option::unwrap_or_default)
                .collect::<Vec<_>>()
                .join(" > ")
        })
        .unwrap_or_default()
}

fn label<S: Subscriber + for<'a> LookupSpan<'a>>(id: &Id, ctx: &Context<'_, S>) -> String {
    ctx.span(id)
        .and_then(|s| s.extensions().get::<Label>().map(|l| l.0.clone()))
        .unwrap_or_default()
}

fn task_name<S: Subscriber + for<'a> LookupSpan<'a>>(
    id: &Id,
    ctx: &Context<'_, S>,
) -> Option<String> {
    label(id, ctx).strip_prefix("coro:").map(str::to_string)
}

/// Keeps a second dispatcher registered for the whole test process.
/// While exactly one dispatcher is registered, tracing-core computes a
/// callsite's interest from the *calling thread's* default only (its
/// `has_just_one` shortcut, made for a single global default): a callsite
/// first hit on a thread with no subscriber (a test that runs without
/// one) is then cached as never wanted, also for the test that has the
/// one subscriber on another thread, until the next dispatcher registers.
/// With two, interest is asked of every registered dispatcher.
fn second_dispatcher() {
    static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    SECOND.get_or_init(|| tracing::Dispatch::new(tracing_subscriber::registry()));
}

impl Capture {
    fn subscriber(&self) -> impl Subscriber + Send + Sync + 'static {
        second_dispatcher();
        tracing_subscriber::registry().with(self.clone())
    }

    fn take(&self) -> Seen {
        let seen = std::mem::take(&mut *self.0.lock().unwrap());
        assert!(
            seen.errors.is_empty(),
            "unbalanced spans: {:?}",
            seen.errors
        );
        // Per task, waker reports alternate: a clone, then its wake or drop
        // (tokio-console counts a wake as a drop).
        let mut out: HashMap<u64, bool> = HashMap::new();
        for o in &seen.waker_ops {
            let held = out.entry(o.task).or_default();
            match o.op.as_str() {
                "waker.clone" => assert!(!*held, "two clones in a row: {o:?}"),
                "waker.wake" | "waker.drop" => assert!(*held, "{} without a clone", o.op),
                op => panic!("unexpected waker op {op}"),
            }
            *held = o.op == "waker.clone";
        }
        seen
    }
}

/// Runs `f` on this thread with a capturing subscriber as the default.
fn capture(f: impl FnOnce()) -> Seen {
    let cap = Capture::default();
    tracing::subscriber::with_default(cap.subscriber(), f);
    cap.take()
}

fn spawn_named<T: 'static>(name: &str, f: impl FnOnce() -> T + 'static) -> corio::JoinHandle<T> {
    second_dispatcher();
    corio::Builder::new().name(name).spawn(f).unwrap()
}

#[test]
fn interleaved_coros_keep_their_own_spans() {
    let seen = capture(|| {
        let mut hs = Vec::new();
        for id in 0..2 {
            hs.push(spawn_named(&format!("r{id}"), move || {
                let _s = info_span!("request", id).entered();
                info!("start");
                corio::sleep(Duration::from_millis(2));
                info!("end");
            }));
        }
        corio::cede();
        info!("outside any request");
        for h in hs {
            h.join().unwrap();
        }
        info!("after");
    });
    // The main coro is a task too from its first switch on (as tokio's
    // `block_on`), but never in a request's span.
    assert_eq!(
        seen.lines,
        [
            "coro:r0 > request{id=0}: start",
            "coro:r1 > request{id=1}: start",
            "coro:[main]: outside any request",
            "coro:r0 > request{id=0}: end",
            "coro:r1 > request{id=1}: end",
            "coro:[main]: after",
        ]
    );
}

#[test]
fn nested_spans_come_back_whole_after_each_switch() {
    let seen = capture(|| {
        let a = spawn_named("a", || {
            let _outer = info_span!("outer", who = "a").entered();
            for i in 0..2 {
                let _inner = info_span!("inner", i).entered();
                info!("a");
                corio::cede();
                info!("a again");
            }
            info!("a outer only");
        });
        let b = spawn_named("b", || {
            for _ in 0..3 {
                info!("b");
                corio::cede();
            }
        });
        a.join().unwrap();
        b.join().unwrap();
    });
    assert_eq!(
        seen.lines,
        [
            "coro:a > outer{who=a} > inner{i=0}: a",
            "coro:b: b",
            "coro:a > outer{who=a} > inner{i=0}: a again",
            "coro:a > outer{who=a} > inner{i=1}: a",
            "coro:b: b",
            "coro:a > outer{who=a} > inner{i=1}: a again",
            "coro:a > outer{who=a}: a outer only",
            "coro:b: b",
        ]
    );
}

#[instrument]
fn handle(req: u32) -> u32 {
    info!("handling");
    corio::sleep(Duration::from_millis(1 + u64::from(req)));
    info!("handled");
    req * 10
}

#[test]
fn instrumented_fn_keeps_its_span_across_a_park() {
    let seen = capture(|| {
        let hs: Vec<_> = (1..=2)
            .map(|r| spawn_named(&format!("h{r}"), move || handle(r)))
            .collect();
        let chatter = spawn_named("chatter", || {
            info!("while they sleep");
        });
        chatter.join().unwrap();
        let out: Vec<u32> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(out, [10, 20]);
    });
    assert_eq!(
        seen.lines,
        [
            "coro:h1 > handle{req=1}: handling",
            "coro:h2 > handle{req=2}: handling",
            "coro:chatter: while they sleep",
            "coro:h1 > handle{req=1}: handled",
            "coro:h2 > handle{req=2}: handled",
        ]
    );
}

#[test]
fn main_coro_spans_leave_while_other_coros_run() {
    let seen = capture(|| {
        let _m = info_span!("main_work").entered();
        info!("main before");
        let h = spawn_named("w", || {
            info!("worker");
            corio::cede();
            info!("worker again");
        });
        corio::cede();
        info!("main between");
        h.join().unwrap();
        info!("main after");
    });
    assert_eq!(
        seen.lines,
        [
            "main_work: main before",
            "coro:w: worker",
            "main_work: main between",
            "coro:w: worker again",
            "main_work: main after",
        ]
    );
}

#[test]
fn generator_spans_stay_in_the_generator() {
    let seen = capture(|| {
        let _c = info_span!("caller").entered();
        let mut g = corio::Generator::new(|y: &corio::Yielder<u32>, ()| {
            let _g = info_span!("gen").entered();
            info!("gen first");
            y.yield_(1);
            info!("gen second");
            {
                let _deeper = info_span!("deeper").entered();
                y.yield_(2);
                info!("gen deeper");
            }
            y.yield_(3);
        });
        assert_eq!(g.next(), Some(1));
        info!("caller between");
        assert_eq!(g.next(), Some(2));
        info!("caller again");
        // Resumed inside another span: its own spans go on top of that
        // one while it runs, but an event's spans are its span's parents
        // (`gen` was made inside `caller`), so `other` is not listed.
        {
            let _other = info_span!("other").entered();
            assert_eq!(g.next(), Some(3));
        }
        drop(g);
        info!("caller last");

        // An unfinished generator dropped inside its span: its guards exit
        // what they entered (the layer checks the balance).
        let mut g2 = corio::Generator::new(|y: &corio::Yielder<u32>, ()| {
            let _g = info_span!("gen2").entered();
            y.yield_(1);
            unreachable!();
        });
        assert_eq!(g2.next(), Some(1));
        drop(g2);
        info!("after the drop");
    });
    assert_eq!(
        seen.lines,
        [
            "caller > gen: gen first",
            "caller: caller between",
            "caller > gen: gen second",
            "caller: caller again",
            "caller > gen > deeper: gen deeper",
            "caller: caller last",
            "caller: after the drop",
        ]
    );
}

#[test]
fn generator_parking_its_coro_keeps_both_stacks_apart() {
    let seen = capture(|| {
        let a = spawn_named("a", || {
            let _c = info_span!("in_a").entered();
            let mut g = corio::Generator::new(|y: &corio::Yielder<u32>, ()| {
                let _g = info_span!("gen").entered();
                corio::cede(); // parks coro a, inside the generator
                info!("gen after cede");
                y.yield_(1);
            });
            assert_eq!(g.next(), Some(1));
            info!("a after yield");
        });
        let b = spawn_named("b", || info!("b"));
        a.join().unwrap();
        b.join().unwrap();
    });
    assert_eq!(
        seen.lines,
        [
            "coro:b: b",
            "coro:a > in_a > gen: gen after cede",
            "coro:a > in_a: a after yield",
        ]
    );
}

#[test]
fn scoped_coros_have_their_own_spans() {
    let seen = capture(|| {
        let _m = info_span!("owner").entered();
        corio::scope(|s| {
            for i in 0..2 {
                s.spawn(move || {
                    let _s = info_span!("scoped", i).entered();
                    info!("one");
                    corio::cede();
                    info!("two");
                });
            }
            info!("in scope");
        });
        info!("after scope");
    });
    assert_eq!(
        seen.lines,
        [
            "owner: in scope",
            "coro: > scoped{i=0}: one",
            "coro: > scoped{i=1}: one",
            "coro: > scoped{i=0}: two",
            "coro: > scoped{i=1}: two",
            "owner: after scope",
        ]
    );
}

/// Logs when dropped, in whatever span is current then.
struct LogOnDrop(&'static str);

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        info!("{} dropped", self.0);
    }
}

#[test]
fn select_branches_run_in_the_callers_span_and_losers_unwind_in_theirs() {
    let seen = capture(|| {
        let _m = info_span!("caller").entered();
        let winner = || {
            let _s = info_span!("fast").entered();
            corio::sleep(Duration::from_millis(1));
            info!("fast done");
            1
        };
        let loser = || {
            let _s = info_span!("slow").entered();
            let _d = LogOnDrop("slow's guard");
            corio::sleep(Duration::from_secs(10));
            2
        };
        let chatter = spawn_named("chatter", || info!("chatter"));
        let r = corio::select! {
            v = winner() => v,
            v = loser() => v,
        };
        assert_eq!(r, 1);
        info!("after select");
        chatter.join().unwrap();
    });
    // A branch runs in the caller's span, so its spans are children of the
    // caller's; the loser unwinds in its own span.
    assert_eq!(
        seen.lines,
        [
            "coro:chatter: chatter",
            "caller > fast: fast done",
            "caller > slow: slow's guard dropped",
            "caller: after select",
        ]
    );
}

#[test]
fn block_on_future_keeps_its_instrumented_span() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context as TaskCx, Poll};
    use tracing::Instrument;

    /// Pending until a coro readies it: parks `block_on`'s coro.
    struct Gate(Arc<Mutex<(bool, Option<std::task::Waker>)>>);
    impl Future for Gate {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
            let mut g = self.0.lock().unwrap();
            if g.0 {
                return Poll::Ready(());
            }
            g.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    let seen = capture(|| {
        let gate = Arc::new(Mutex::new((false, None::<std::task::Waker>)));
        let g2 = gate.clone();
        let opener = spawn_named("opener", move || {
            info!("opening");
            let w = {
                let mut g = g2.lock().unwrap();
                g.0 = true;
                g.1.take()
            };
            w.unwrap().wake();
        });
        let _outer = info_span!("sync_caller").entered();
        corio::block_on(
            async {
                info!("polled");
                Gate(gate).await;
                info!("resumed");
            }
            .instrument(info_span!("fut")),
        );
        info!("after block_on");
        opener.join().unwrap();
    });
    assert_eq!(
        seen.lines,
        [
            // Made after the main coro spawned: inside its task span.
            "coro:[main] > sync_caller > fut: polled",
            "coro:opener: opening",
            "coro:[main] > sync_caller > fut: resumed",
            "coro:[main] > sync_caller: after block_on",
        ]
    );
}

#[test]
fn multicore_run_carries_the_callers_span_to_the_worker() {
    let seen = capture(|| {
        let _s = info_span!("job", n = 7).entered();
        let v = corio::multicore::run(|| {
            info!("on a worker");
            7
        });
        assert_eq!(v, 7);
    });
    assert_eq!(seen.lines, ["job{n=7}: on a worker"]);
}

#[test]
fn threads_of_schedulers_keep_spans_per_coro() {
    // One subscriber for all threads, as a global default would be.
    let cap = Capture::default();
    let dispatch = tracing::Dispatch::new(cap.subscriber());
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let dispatch = dispatch.clone();
            corio::thread::spawn(move || {
                let _d = tracing::dispatcher::set_default(&dispatch);
                let hs: Vec<_> = (0..3)
                    .map(|c| {
                        spawn_named(&format!("t{t}c{c}"), move || {
                            let _s = info_span!("req", t, c).entered();
                            for step in 0..3 {
                                info!("t{t}c{c} step {step}");
                                corio::sleep(Duration::from_micros(200));
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let seen = cap.take();
    assert_eq!(seen.lines.len(), 27);
    for line in &seen.lines {
        let (path, msg) = line.split_once(": ").expect(line);
        let who = msg.split(' ').next().unwrap();
        let (t, c) = who[1..].split_once('c').unwrap();
        assert_eq!(path, format!("coro:{who} > req{{t={t},c={c}}}"), "{line}");
    }
}

#[test]
fn task_spans_are_entered_once_per_switch_and_close_at_the_end() {
    let seen = capture(|| {
        let h = spawn_named("counted", || {
            for _ in 0..4 {
                corio::cede();
            }
        });
        let other = spawn_named("other", || {
            for _ in 0..4 {
                corio::cede();
            }
        });
        let switches = {
            h.join().unwrap();
            other.join().unwrap();
            5
        };
        assert_eq!(switches, 5);
        // A coro cancelled before it ever ran: its span closes too.
        let never = spawn_named("never", || ());
        never.coro().cancel();
    });
    // Spawned at `spawn_named`'s call of `Builder::spawn`, in this file.
    let fields = &seen.task_fields["counted"];
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(field("kind"), Some("task"));
    assert_eq!(field("task.name"), Some("counted"));
    assert_eq!(field("loc.file"), Some(file!()));
    assert!(field("loc.line").unwrap().parse::<u32>().unwrap() > 0);
    assert!(field("loc.col").is_some() && field("task.id").is_some());
    // Every switch-out of a ceding coro: a clone (a way to wake it exists)
    // and its wake; none while it is running (no self-wakes).
    let ops_of = |name: &str| -> Vec<String> {
        seen.waker_ops
            .iter()
            .filter(|o| seen.task_ids.get(&o.task).map(String::as_str) == Some(name))
            .map(|o| o.op.clone())
            .collect()
    };
    assert_eq!(ops_of("counted"), ["waker.clone", "waker.wake"].repeat(4));
    assert_eq!(seen.task_enters.get("counted"), Some(&5));
    assert_eq!(seen.task_exits.get("counted"), Some(&5));
    assert_eq!(seen.task_enters.get("never"), None);
    let mut closed = seen.task_closed.clone();
    closed.sort();
    assert_eq!(closed, ["counted", "never", "other"]);
}

#[test]
fn without_a_subscriber_nothing_is_kept() {
    // No default subscriber on this thread: spans are disabled, switches
    // keep nothing, and spans entered later work as usual.
    let h = spawn_named("plain", || {
        let _s = info_span!("ignored").entered();
        corio::cede();
        3
    });
    assert_eq!(h.join().unwrap(), 3);
    let seen = capture(|| {
        let _s = info_span!("late").entered();
        info!("fine");
    });
    assert_eq!(seen.lines, ["late: fine"]);
}

#[test]
fn cancelled_panicking_and_timed_out_coros_exit_their_spans_as_they_unwind() {
    let seen = capture(|| {
        let parked = spawn_named("parked", || {
            let _s = info_span!("waiting").entered();
            let _d = LogOnDrop("parked's guard");
            corio::schedule(); // until cancelled
        });
        let panicking = spawn_named("panicking", || {
            let _s = info_span!("doomed").entered();
            let _d = LogOnDrop("panicking's guard");
            corio::cede();
            panic!("on purpose");
        });
        let timed = spawn_named("timed", || {
            let _s = info_span!("slow").entered();
            corio::timeout(Duration::from_millis(1), || {
                let _inner = info_span!("inside_timeout").entered();
                let _d = LogOnDrop("timeout's guard");
                corio::sleep(Duration::from_secs(10));
            })
            .unwrap_err();
            info!("timed out");
        });
        corio::cede();
        parked.coro().cancel();
        info!("cancelled");
        assert!(panicking.join().is_err());
        timed.join().unwrap();
        assert!(parked.join().is_err());
    });
    assert_eq!(
        seen.lines,
        [
            "coro:parked > waiting: parked's guard dropped",
            "coro:[main]: cancelled",
            "coro:panicking > doomed: panicking's guard dropped",
            "coro:timed > slow > inside_timeout: timeout's guard dropped",
            "coro:timed > slow: timed out",
        ]
    );
}

#[test]
fn a_coro_parked_on_a_semaphore_has_one_outstanding_waker_until_released() {
    let cap = Capture::default();
    tracing::subscriber::with_default(cap.subscriber(), || {
        let sem = std::rc::Rc::new(corio::sync::Semaphore::new(0));
        let s2 = sem.clone();
        let waiter = spawn_named("waiter", move || s2.down());
        corio::cede(); // the waiter parks in `down`
        let ops = |cap: &Capture| -> Vec<String> {
            let seen = cap.0.lock().unwrap();
            let of_waiter = |o: &&WakerOp| seen.task_ids[&o.task] == "waiter";
            seen.waker_ops
                .iter()
                .filter(of_waiter)
                .map(|o| o.op.clone())
                .collect()
        };
        assert_eq!(ops(&cap), ["waker.clone"]);
        sem.up();
        assert_eq!(ops(&cap), ["waker.clone", "waker.wake"]);
        waiter.join().unwrap();
    });
    let seen = cap.take();
    assert_eq!(seen.task_enters.get("waiter"), Some(&2));
    assert_eq!(seen.task_closed, ["waiter"]);
}

/// An async handler on corio's hyper server, polled inside its request's
/// span (`Instrument`, as tower-http's `TraceLayer` does), blocking in the
/// middle of a poll: its events stay in its request's span while the
/// other connection's request runs.
#[cfg(feature = "compat")]
#[test]
fn compat_server_requests_keep_their_spans_across_blocking_handlers() {
    use std::io::{Read, Write};
    use tracing::Instrument;

    let seen = capture(|| {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let service = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| {
            let span = info_span!("request", uri = %req.uri());
            async move {
                let ms: u64 = req.uri().path().trim_start_matches('/').parse().unwrap();
                info!("sleeping");
                corio::sleep(Duration::from_millis(ms)); // parks inside the poll
                info!("woke");
                Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from("ok"),
                )))
            }
            .instrument(span)
        });
        let handler = std::rc::Rc::new(corio::compat::Http::new().handler(service));
        let server = spawn_named("server", move || {
            for i in 0..2 {
                let (conn, _) = listener.accept().unwrap();
                let h = handler.clone();
                let _conn = spawn_named(&format!("conn{i}"), move || h(conn));
            }
        });
        // Far apart, so that a loaded machine cannot reorder them.
        let clients: Vec<_> = [400, 100]
            .into_iter()
            .map(|ms| {
                spawn_named(&format!("client{ms}"), move || {
                    let mut c = corio::net::TcpStream::connect(addr).unwrap();
                    let req = format!("GET /{ms} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                    c.write_all(req.as_bytes()).unwrap();
                    let mut answer = String::new();
                    c.read_to_string(&mut answer).unwrap();
                    assert!(answer.ends_with("ok"), "{answer}");
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        server.join().unwrap();
    });
    // Each request's span is a child of its connection coro's task span;
    // which connection served which request is the kernel's choice.
    let lines: Vec<String> = seen
        .lines
        .iter()
        .map(|l| {
            let (conn, rest) = l.split_once(" > ").expect(l);
            assert!(conn == "coro:conn0" || conn == "coro:conn1", "{l}");
            rest.to_string()
        })
        .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "request{uri=/100}: sleeping",
            "request{uri=/100}: woke",
            "request{uri=/400}: sleeping",
            "request{uri=/400}: woke",
        ]
    );
    // Both slept at once: the short one woke before the long one did.
    let pos = |l: &str| lines.iter().position(|x| x == l).unwrap();
    assert!(pos("request{uri=/400}: sleeping") < pos("request{uri=/100}: woke"));
    assert!(pos("request{uri=/100}: woke") < pos("request{uri=/400}: woke"));
}

#[test]
fn the_schedulers_own_events_belong_to_no_span() {
    let seen = capture(|| {
        let _m = info_span!("main_span").entered();
        let sleeper = spawn_named("sleeper", || {
            let _s = info_span!("sleeper_span").entered();
            corio::sleep(Duration::from_millis(2));
        });
        let busy = spawn_named("busy", || {
            let _s = info_span!("busy_span").entered();
            corio::cede();
        });
        sleeper.join().unwrap();
        busy.join().unwrap();
    });
    // The sleeper's timer fires in the scheduler loop, between coros: its
    // wake is in nobody's span. Ceding coros are woken as they switch out,
    // after their spans were exited.
    let sleeper_wakes: Vec<_> = seen
        .waker_ops
        .iter()
        .filter(|o| seen.task_ids.get(&o.task).map(String::as_str) == Some("sleeper"))
        .collect();
    assert_eq!(sleeper_wakes.len(), 2, "{sleeper_wakes:?}"); // clone, wake
    // (The main coro, joining, is woken by each coro as it ends, in that
    // coro, as a `JoinHandle`'s waker is in tokio.)
    for o in &seen.waker_ops {
        if seen.task_ids[&o.task] != "[main]" {
            assert_eq!(o.scope, "", "{o:?}");
        }
    }
}

#[test]
fn the_main_coro_gets_its_spans_back_when_it_deadlocks() {
    let seen = capture(|| {
        let _m = info_span!("main_work").entered();
        let stuck = spawn_named("stuck", || {
            let _s = info_span!("stuck_span").entered();
            corio::schedule(); // nobody will ready it
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stuck.join()));
        assert!(r.is_err(), "a deadlock report");
        info!("after the deadlock");
        corio::killall();
    });
    assert_eq!(seen.lines, ["main_work: after the deadlock"]);
}

/// A subscriber that keeps no span stack: its `current_span` is unknown,
/// as `Subscriber`'s default says. It counts enters and exits per span.
#[derive(Default)]
struct NoContext {
    next: std::sync::atomic::AtomicU64,
    names: Mutex<HashMap<u64, String>>,
    depth: Mutex<HashMap<String, i64>>,
    enters: Mutex<HashMap<String, u64>>,
}

impl Subscriber for NoContext {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let mut f = Fields::default();
        attrs.record(&mut f);
        let name = f
            .get("task.name")
            .unwrap_or(attrs.metadata().name())
            .to_string();
        self.names.lock().unwrap().insert(id, name);
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, id: &Id) {
        let name = self.names.lock().unwrap()[&id.into_u64()].clone();
        *self.depth.lock().unwrap().entry(name.clone()).or_default() += 1;
        *self.enters.lock().unwrap().entry(name).or_default() += 1;
    }
    fn exit(&self, id: &Id) {
        let name = self.names.lock().unwrap()[&id.into_u64()].clone();
        *self.depth.lock().unwrap().entry(name).or_default() -= 1;
    }
}

#[test]
fn with_a_subscriber_that_keeps_no_span_stack_task_spans_still_follow_their_coros() {
    let sub = Arc::new(NoContext::default());
    let s2 = sub.clone();
    tracing::subscriber::with_default(s2, || {
        let depth_now = |name: &str| sub.depth.lock().unwrap().get(name).copied().unwrap_or(0);
        let a = spawn_named("a", || {
            corio::cede();
            corio::cede();
        });
        let b = spawn_named("b", move || corio::cede());
        corio::cede();
        // Main runs: neither task span is entered.
        assert_eq!((depth_now("a"), depth_now("b")), (0, 0));
        a.join().unwrap();
        b.join().unwrap();
    });
    let enters = sub.enters.lock().unwrap().clone();
    assert_eq!(enters.get("a"), Some(&3));
    assert_eq!(enters.get("b"), Some(&2));
    for (name, d) in sub.depth.lock().unwrap().iter() {
        // The main coro's task span is entered while it runs, as now.
        let running = usize::from(name == "[main]") as i64;
        assert_eq!(*d, running, "{name} left entered");
    }
}

/// The resource spans made while `f` ran, as `TYPE KIND FILE:LINE`.
fn resources_of(seen: &Seen) -> Vec<String> {
    seen.resources
        .iter()
        .map(|f| {
            let get = |k: &str| {
                f.iter()
                    .find(|(n, _)| n == k)
                    .map_or("?", |(_, v)| v.as_str())
            };
            format!(
                "{} {} {}:{}",
                get("concrete_type"),
                get("kind"),
                get("loc.file"),
                get("loc.line")
            )
        })
        .collect()
}

/// The two polls of one wait: as it starts, and when it got its turn, both
/// inside the resource and its op, by the waiting coro's task.
fn polls(ty: &str, source: &str, op_name: &str, task: &str) -> [String; 2] {
    [false, true].map(|ready| {
        format!(
            "poll_op op_name={op_name} is_ready={ready} @ resource:{ty} > op:{source} by {task}"
        )
    })
}

/// Runs `f` under a capturing subscriber, as [`capture`], and returns its
/// value too.
fn capture_with<R>(f: impl FnOnce() -> R) -> (Seen, R) {
    let cap = Capture::default();
    let r = tracing::subscriber::with_default(cap.subscriber(), f);
    (cap.take(), r)
}

#[test]
fn a_mutex_waited_on_is_a_resource_whose_op_is_the_waiters_lock() {
    let (seen, at) = capture_with(|| {
        let m = std::rc::Rc::new(corio::sync::Mutex::new(0));
        let g = m.lock(); // not waited on: no resource yet
        let m2 = m.clone();
        let waiter = spawn_named("waiter", move || {
            let at = line!() + 1;
            *m2.lock() += 1;
            at
        });
        corio::cede(); // the waiter parks in `lock`
        drop(g);
        let at = waiter.join().unwrap();
        *m.lock() += 1; // uncontended: no op
        assert_eq!(*m.lock(), 2);
        at
    });
    assert_eq!(
        resources_of(&seen),
        [format!("Mutex Sync {}:{at}", file!())]
    );
    let [waits, got] = polls("Mutex", "Mutex::lock", "poll_acquire", "waiter");
    assert_eq!(
        seen.resource_events,
        [
            "state_update locked=true @ resource:Mutex by waiter".to_string(),
            waits,
            got,
        ]
    );
    // The op closed when the wait ended, the resource with the mutex.
    assert_eq!(seen.resources_closed, ["op:Mutex::lock", "resource:Mutex"]);
}

#[test]
fn an_rwlock_waited_on_is_a_resource_with_a_read_and_a_write_op() {
    let (seen, (r_at, w_at)) = capture_with(|| {
        let l = std::rc::Rc::new(corio::sync::RwLock::new(0));
        let w = l.write();
        let (l1, l2) = (l.clone(), l.clone());
        let reader = spawn_named("reader", move || {
            let at = line!() + 1;
            let v = *l1.read();
            (at, v)
        });
        let writer = spawn_named("writer", move || {
            let at = line!() + 1;
            *l2.write() = 5;
            at
        });
        corio::cede(); // both park: the reader first
        drop(w);
        let (r_at, v) = reader.join().unwrap();
        assert_eq!(v, 0);
        (r_at, writer.join().unwrap())
    });
    // The resource is where it was first waited on: the reader's `read`.
    assert_eq!(
        resources_of(&seen),
        [format!("RwLock Sync {}:{r_at}", file!())]
    );
    assert!(w_at > r_at);
    let state = |w: bool, r: u32, by: &str| {
        format!(
            "state_update write_locked={w} current_readers={r} current_readers.op=override \
             @ resource:RwLock by {by}"
        )
    };
    let [r_waits, r_got] = polls("RwLock", "RwLock::read", "poll_acquire", "reader");
    let [w_waits, w_got] = polls("RwLock", "RwLock::write", "poll_acquire", "writer");
    assert_eq!(
        seen.resource_events,
        [
            state(true, 0, "reader"),
            r_waits,
            state(true, 0, "writer"),
            w_waits,
            // The main coro's write ended: the reader got its turn, then
            // the writer once the reader was done.
            r_got,
            state(false, 1, "reader"),
            w_got,
            state(true, 0, "writer"),
        ]
    );
}

#[test]
fn channels_and_their_halves_waited_on_are_resources_with_get_and_put_ops() {
    let (seen, (get_at, put_at)) = capture_with(|| {
        let ch = corio::sync::Channel::<u8>::new();
        let c = ch.clone();
        let getter = spawn_named("getter", move || {
            let at = line!() + 1;
            let v = c.get();
            (at, v)
        });
        corio::cede();
        ch.put(7).unwrap();
        let (get_at, v) = getter.join().unwrap();
        assert_eq!(v, Some(7));
        // `bounded`'s halves share a channel: a full one parks the putter.
        let (tx, rx) = corio::sync::bounded::<u8>(1);
        tx.put(1).unwrap();
        let putter = spawn_named("putter", move || {
            let at = line!() + 1;
            tx.put(2).unwrap();
            at
        });
        corio::cede();
        assert_eq!(rx.get(), Some(1));
        let put_at = putter.join().unwrap();
        assert_eq!(rx.get(), Some(2));
        (get_at, put_at)
    });
    assert_eq!(
        resources_of(&seen),
        [
            format!("Channel Sync {}:{get_at}", file!()),
            format!("Channel Sync {}:{put_at}", file!()),
        ]
    );
    let items = |n: u32, by: &str| {
        format!("state_update items={n} items.op=override @ resource:Channel by {by}")
    };
    let [g_waits, g_got] = polls("Channel", "Channel::get", "poll_recv", "getter");
    let [p_waits, p_got] = polls("Channel", "Channel::put", "poll_send", "putter");
    assert_eq!(
        seen.resource_events,
        [
            items(0, "getter"),
            g_waits,
            g_got,
            items(0, "getter"),
            items(1, "putter"),
            p_waits,
            p_got,
            items(1, "putter"),
        ]
    );
}

#[test]
fn a_signal_waited_on_is_a_resource_and_each_sleep_a_timer() {
    let (seen, (sig_at, sleep_at)) = capture_with(|| {
        let sig = std::rc::Rc::new(corio::sync::Signal::new());
        let s = sig.clone();
        let waiter = spawn_named("waiter", move || {
            let at = line!() + 1;
            s.wait();
            at
        });
        let sleeper = spawn_named("sleeper", || {
            let at = line!() + 1;
            corio::sleep(Duration::from_millis(30));
            at
        });
        corio::cede();
        sig.send();
        let sig_at = waiter.join().unwrap();
        (sig_at, sleeper.join().unwrap())
    });
    assert_eq!(
        resources_of(&seen),
        [
            format!("Signal Sync {}:{sig_at}", file!()),
            format!("Sleep timer {}:{sleep_at}", file!()),
        ]
    );
    let [s_waits, s_got] = polls("Signal", "Signal::wait", "poll_wait", "waiter");
    let [z_waits, z_got] = polls("Sleep", "corio::sleep", "poll_elapsed", "sleeper");
    // The sleep's duration, in milliseconds, as tokio reports its Sleep.
    assert_eq!(
        seen.resource_events,
        [
            s_waits,
            "state_update duration=30 duration.unit=ms duration.op=override \
             @ resource:Sleep by sleeper"
                .to_string(),
            z_waits,
            s_got,
            z_got,
        ]
    );
    // A sleep's resource closes when the sleep ends.
    assert!(
        seen.resources_closed
            .contains(&"resource:Sleep".to_string()),
        "{:?}",
        seen.resources_closed
    );
}

#[test]
fn a_primitive_first_waited_on_without_a_subscriber_becomes_a_resource_later() {
    let m = std::rc::Rc::new(corio::sync::Mutex::new(()));
    let contend = |name: &str| -> u32 {
        let g = m.lock();
        let m2 = m.clone();
        let h = spawn_named(name, move || {
            let at = line!() + 1;
            drop(m2.lock());
            at
        });
        corio::cede();
        drop(g);
        h.join().unwrap()
    };
    // No subscriber on this thread (other tests' threads may have one,
    // which makes the span a dummy of the no-op subscriber rather than
    // disabled): nothing is kept, and the first wait under a subscriber
    // makes the resource.
    let at = contend("early");
    let (seen, _) = capture_with(|| contend("late"));
    assert_eq!(
        resources_of(&seen),
        [format!("Mutex Sync {}:{at}", file!())]
    );
    assert_eq!(
        seen.resource_events[1..],
        polls("Mutex", "Mutex::lock", "poll_acquire", "late")
    );
}

#[test]
fn the_main_coro_is_a_block_on_task_entered_while_it_runs() {
    let cap = Capture::default();
    let dispatch = tracing::Dispatch::new(cap.subscriber());
    corio::thread::spawn(move || {
        let _d = tracing::dispatcher::set_default(&dispatch);
        info!("before any spawn");
        // Spawning, the main coro becomes a task (under a subscriber).
        let worker = spawn_named("worker", || {
            info!("in worker");
            corio::cede();
            info!("worker again");
        });
        info!("main spawned");
        corio::cede();
        info!("main between");
        worker.join().unwrap();
        info!("main after");
    })
    .join()
    .unwrap();
    let seen = cap.take();
    assert_eq!(
        seen.lines,
        [
            "before any spawn",
            "coro:[main]: main spawned",
            "coro:worker: in worker",
            "coro:[main]: main between",
            "coro:worker: worker again",
            "coro:[main]: main after",
        ]
    );
    // As tokio's `block_on` task: no spawn location.
    let fields = &seen.task_fields["[main]"];
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(field("kind"), Some("block_on"));
    assert_eq!(field("task.name"), Some("[main]"));
    assert!(field("task.id").is_some() && field("loc.file").is_none());
    // Entered as it spawned and at both switch-ins (after the cede, after
    // the join), exited at both switch-outs and as the thread ended, then
    // closed.
    assert_eq!(seen.task_enters.get("[main]"), Some(&3));
    assert_eq!(seen.task_exits.get("[main]"), Some(&3));
    assert!(seen.task_closed.contains(&"[main]".to_string()));
    // Ceded: woken at once; parked in `join`: woken when the worker ended.
    let main_ops: Vec<_> = seen
        .waker_ops
        .iter()
        .filter(|o| seen.task_ids[&o.task] == "[main]")
        .map(|o| (o.op.as_str(), o.scope.as_str()))
        .collect();
    assert_eq!(
        main_ops,
        [
            ("waker.clone", ""),
            ("waker.wake", ""),
            ("waker.clone", ""),
            ("waker.wake", "coro:worker"),
        ]
    );
}

#[test]
fn the_main_coro_becomes_a_task_under_the_spans_it_has_entered() {
    let seen = capture(|| {
        let _outer = info_span!("outer").entered();
        info!("before");
        // Spawning makes it a task: its spans are entered again above the
        // task span, so they stay current (and keep their own parents).
        let (tx, rx) = corio::sync::bounded::<u8>(0);
        let h = spawn_named("late", move || tx.put(1).unwrap());
        info!("spawned");
        assert_eq!(rx.get(), Some(1));
        info!("got");
        h.join().unwrap();
    });
    assert_eq!(
        seen.lines,
        ["outer: before", "outer: spawned", "outer: got"],
        "{:?}",
        seen.task_enters
    );
    // Entered as it spawned, then at each switch-in; still entered now,
    // as the main coro runs.
    let (enters, exits) = (seen.task_enters["[main]"], seen.task_exits["[main]"]);
    assert!(enters >= 2 && enters == exits + 1, "{enters} {exits}");
}

/// Whether this process runs the test `name` itself: the first time, the
/// test runs again in a process of its own (this binary, that test only)
/// and passes if it passes there, for tests that need a process in which
/// no subscriber was ever registered before corio's schedulers started.
fn in_fresh_process(name: &str) -> bool {
    const CHILD: &str = "CORIO_TRACING_FRESH_PROCESS";
    if std::env::var(CHILD).as_deref() == Ok(name) {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in a process of its own: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// Coros `req{t,c}` (`c` in 0..3) of thread `t`, spawned before any
/// subscriber exists: each switches until `go`, then enters its span,
/// logs, sleeps and logs again.
fn late_requests(t: u32, go: &'static AtomicBool) -> Vec<corio::JoinHandle<()>> {
    (0..3)
        .map(|c| {
            corio::spawn(move || {
                while !go.load(Ordering::SeqCst) {
                    corio::sleep(Duration::from_micros(100));
                }
                let _s = info_span!("req", t, c).entered();
                info!("t{t}c{c} start");
                corio::sleep(Duration::from_millis(2));
                info!("t{t}c{c} end");
            })
        })
        .collect()
}

/// Every line of [`late_requests`] is in its own coro's span and nobody
/// else's; the main coros' lines are in none.
fn check_late(seen: &Seen, threads: u32) {
    let mut n = 0;
    for line in &seen.lines {
        let (path, msg) = line.split_once(": ").unwrap_or(("", line));
        if msg.starts_with("main") {
            assert!(!path.contains("req"), "{line}");
            continue;
        }
        let who = msg.split(' ').next().unwrap();
        let (t, c) = who[1..].split_once('c').unwrap();
        assert_eq!(path, format!("req{{t={t},c={c}}}"), "{line}");
        n += 1;
    }
    assert_eq!(n, threads * 3 * 2, "{:?}", seen.lines);
}

#[test]
fn a_global_subscriber_set_after_the_schedulers_started_is_followed() {
    if !in_fresh_process("a_global_subscriber_set_after_the_schedulers_started_is_followed") {
        return;
    }
    static GO: AtomicBool = AtomicBool::new(false);
    // Two threads with schedulers whose coros switch before any
    // subscriber was registered, in this process.
    let other = corio::thread::spawn(|| {
        for h in late_requests(1, &GO) {
            h.join().unwrap();
        }
    });
    let hs = late_requests(0, &GO);
    corio::sleep(Duration::from_millis(5));
    // Then a third thread sets the global default.
    let cap = Capture::default();
    let sub = tracing_subscriber::registry().with(cap.clone());
    std::thread::spawn(move || {
        tracing::subscriber::set_global_default(sub).unwrap();
        GO.store(true, Ordering::SeqCst);
    })
    .join()
    .unwrap();
    corio::cede();
    info!("main, while they wait");
    for h in hs {
        h.join().unwrap();
    }
    other.join().unwrap();
    check_late(&cap.take(), 2);
}

#[test]
fn a_default_set_in_a_running_coro_after_others_started_is_followed() {
    if !in_fresh_process("a_default_set_in_a_running_coro_after_others_started_is_followed") {
        return;
    }
    static GO: AtomicBool = AtomicBool::new(false);
    let hs = late_requests(0, &GO);
    corio::sleep(Duration::from_millis(5));
    let cap = Capture::default();
    let sub = tracing_subscriber::registry().with(cap.clone());
    corio::spawn(move || {
        tracing::subscriber::with_default(sub, || {
            GO.store(true, Ordering::SeqCst);
            corio::cede();
            info!("main, while they wait");
            for h in hs {
                h.join().unwrap();
            }
        });
    })
    .join()
    .unwrap();
    check_late(&cap.take(), 1);
}

#[test]
fn sockets_waited_on_are_resources_whose_ops_are_the_waits_for_readiness() {
    use corio::net::TcpListener;
    use std::io::{Read, Write};
    let (seen, (bind_at, accept_at, fds)) = capture_with(|| {
        let (bind_at, l) = (line!(), TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = l.local_addr().unwrap();
        let server = spawn_named("server", move || {
            let (accept_at, (mut s, _)) = (line!(), l.accept().unwrap());
            let mut b = [0u8; 4];
            let n = s.read(&mut b).unwrap();
            assert_eq!(&b[..n], b"ping");
            let fds = [l.as_raw_fd(), s.as_raw_fd()];
            (bind_at, accept_at, fds)
        });
        // The server waits to accept, then to read.
        corio::cede();
        let mut c = corio::net::TcpStream::connect(addr).unwrap();
        corio::sleep(Duration::from_millis(5));
        c.write_all(b"ping").unwrap();
        server.join().unwrap()
    });
    // Located where they were made: bound, accepted.
    let file = "corio/tests/tracing_spans.rs";
    let resources = resources_of(&seen);
    for r in [
        format!("TcpListener Net {file}:{bind_at}"),
        format!("TcpStream Net {file}:{accept_at}"),
    ] {
        assert!(resources.contains(&r), "no {r} in {resources:?}");
    }
    // Each wait an async op polled by the waiting coro, inside its socket's
    // resource, which says which descriptor it is.
    let events = &seen.resource_events;
    for (ty, source, fd) in [
        ("TcpListener", "TcpListener::accept", fds[0]),
        ("TcpStream", "TcpStream::readable", fds[1]),
    ] {
        for p in polls(ty, source, "poll_read_ready", "server") {
            assert!(events.contains(&p), "no {p} in {events:#?}");
        }
        let state = format!("state_update fd={fd} fd.op=override @ resource:{ty} by server");
        assert!(events.contains(&state), "no {state} in {events:#?}");
    }
}

#[test]
fn without_any_subscriber_corio_leaves_tracings_level_off() {
    if !in_fresh_process("without_any_subscriber_corio_leaves_tracings_level_off") {
        return;
    }
    use tracing::level_filters::LevelFilter;
    // Schedulers made on two threads, coros switching on both: corio
    // registers its own callsite (and maybe a probe) on the way, which
    // must leave every `tracing` macro as cheap as it was.
    let h = corio::spawn(|| corio::cede());
    corio::cede();
    h.join().unwrap();
    corio::thread::spawn(|| corio::spawn(|| corio::cede()).join().unwrap())
        .join()
        .unwrap();
    assert_eq!(LevelFilter::current(), LevelFilter::OFF);
    assert!(!tracing::enabled!(tracing::Level::ERROR));
}
