//! Feature `tracing` with the subscribers people use, unmodified: the
//! `fmt` subscriber's text and JSON output, and OpenTelemetry through
//! `tracing-opentelemetry` (its spans, their events and their parents, as
//! an exporter receives them). Each runs the program: two coros,
//! each logging inside its own `request` span across a blocking call,
//! while the main coro logs outside any.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing::level_filters::LevelFilter;
use tracing::{info, info_span};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// The program: two requests, each `start`, a sleep, a nested `db` span
/// with a `query` across another sleep, `end`; the main coro logs between.
fn requests() {
    let mut hs = Vec::new();
    for id in 0..2 {
        hs.push(corio::spawn(move || {
            let _s = info_span!("request", id).entered();
            info!("start");
            corio::sleep(Duration::from_millis(2));
            {
                let _db = info_span!("db", id).entered();
                corio::sleep(Duration::from_millis(1));
                info!("query");
            }
            info!("end");
        }));
    }
    corio::cede();
    info!("main: outside any request");
    for h in hs {
        h.join().unwrap();
    }
}

/// A writer into a shared buffer, for `fmt`'s `with_writer`.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn lines(&self) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| l.trim().to_owned()).collect()
    }
}

#[test]
fn fmt_text_logs_each_request_in_its_own_span() {
    let buf = Buf::default();
    let w = buf.clone();
    let sub = tracing_subscriber::fmt()
        .without_time()
        .with_ansi(false)
        .with_target(false)
        .with_writer(move || w.clone())
        .finish();
    tracing::subscriber::with_default(sub, requests);
    // Without corio's feature every line after the first would sit inside
    // request 0's span, and the later ones inside both.
    assert_eq!(
        buf.lines(),
        [
            "INFO request{id=0}: start",
            "INFO request{id=1}: start",
            "INFO main: outside any request",
            "INFO request{id=0}:db{id=0}: query",
            "INFO request{id=0}: end",
            "INFO request{id=1}:db{id=1}: query",
            "INFO request{id=1}: end",
        ]
    );
}

#[test]
fn fmt_json_lists_each_events_own_spans() {
    let buf = Buf::default();
    let w = buf.clone();
    let sub = tracing_subscriber::fmt()
        .json()
        .with_span_list(true)
        .with_writer(move || w.clone())
        .finish();
    tracing::subscriber::with_default(sub, requests);
    let seen: Vec<String> = buf
        .lines()
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let spans: Vec<String> = v["spans"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| format!("{}{}", s["name"].as_str().unwrap(), s["id"]))
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{} {}",
                spans.join(">"),
                v["fields"]["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            "request0 start",
            "request1 start",
            " main: outside any request",
            "request0>db0 query",
            "request0 end",
            "request1>db1 query",
            "request1 end",
        ]
    );
}

#[test]
fn opentelemetry_spans_get_their_own_events_and_parents() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("corio-test"))
        .with_filter(LevelFilter::INFO);
    let sub = tracing_subscriber::registry().with(otel);
    tracing::subscriber::with_default(sub, requests);
    let spans = exporter.get_finished_spans().unwrap();
    let id_of = |s: &opentelemetry_sdk::trace::SpanData| {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == "id")
            .map(|kv| kv.value.to_string())
            .unwrap()
    };
    let find = |name: &str, id: &str| {
        spans
            .iter()
            .find(|s| s.name == name && id_of(s) == id)
            .unwrap_or_else(|| panic!("no span {name}{{id={id}}} in {spans:#?}"))
    };
    let events = |s: &opentelemetry_sdk::trace::SpanData| -> Vec<String> {
        s.events.iter().map(|e| e.name.to_string()).collect()
    };
    // Exactly the four spans of the program: no corio span at INFO.
    assert_eq!(spans.len(), 4, "{spans:#?}");
    for id in ["0", "1"] {
        let req = find("request", id);
        let db = find("db", id);
        // Each request holds its own events only: not the other's, and not
        // the main coro's.
        assert_eq!(events(req), ["start", "end"], "request {id}");
        assert_eq!(events(db), ["query"], "db {id}");
        // A db span's parent is its own request, whichever ran last.
        assert_eq!(db.parent_span_id, req.span_context.span_id(), "db {id}");
        assert_eq!(db.span_context.trace_id(), req.span_context.trace_id());
        // Each request is a root: not nested in the other.
        assert_eq!(
            req.parent_span_id,
            opentelemetry::trace::SpanId::INVALID,
            "request {id}"
        );
    }
    assert_ne!(
        find("request", "0").span_context.trace_id(),
        find("request", "1").span_context.trace_id()
    );
}
