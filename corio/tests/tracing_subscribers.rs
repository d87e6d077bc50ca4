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

/// axum with tower-http's `TraceLayer` (its `request` span per request, at
/// DEBUG) on corio's compat server: a handler that blocks in the middle of
/// its poll logs inside its own request's span while the other request
/// runs, with the `fmt` subscriber.
#[cfg(feature = "compat")]
#[test]
fn tower_http_trace_layer_spans_follow_blocking_axum_handlers() {
    use std::io::Read;

    use axum::Router;
    use axum::extract::Path;
    use axum::routing::get;
    use tower_http::trace::TraceLayer;
    use tower_service::Service as _;

    async fn nap(Path(ms): Path<u64>) -> &'static str {
        info!(ms, "sleeping");
        corio::sleep(Duration::from_millis(ms)); // parks inside the poll
        info!(ms, "woke");
        "ok"
    }

    let buf = Buf::default();
    let w = buf.clone();
    let sub = tracing_subscriber::fmt()
        .without_time()
        .with_ansi(false)
        .with_target(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || w.clone())
        .finish();
    tracing::subscriber::with_default(sub, || {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new()
            .route("/sleep/{ms}", get(nap))
            .layer(TraceLayer::new_for_http());
        let service = hyper::service::service_fn(move |req| router.clone().call(req));
        let handler = std::rc::Rc::new(corio::compat::Http::new().handler(service));
        let server = corio::spawn(move || {
            let mut conns = Vec::new();
            for _ in 0..2 {
                let (conn, _) = listener.accept().unwrap();
                let h = handler.clone();
                conns.push(corio::spawn(move || h(conn)));
            }
            for c in conns {
                c.join().unwrap();
            }
        });
        // Far apart, so that a loaded machine cannot reorder them.
        let clients: Vec<_> = [400, 100]
            .into_iter()
            .map(|ms| {
                corio::spawn(move || {
                    let mut c = corio::net::TcpStream::connect(addr).unwrap();
                    let req =
                        format!("GET /sleep/{ms} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
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
    let lines: Vec<String> = buf
        .lines()
        .into_iter()
        .filter(|l| l.contains("sleeping") || l.contains("woke"))
        .collect();
    assert_eq!(lines.len(), 4, "{:#?}", buf.lines());
    for l in &lines {
        // `INFO request{method=GET uri=/sleep/400 version=HTTP/1.1}: woke ms=400`
        let ms = l.rsplit_once("ms=").expect(l).1;
        assert!(
            l.starts_with(&format!("INFO request{{method=GET uri=/sleep/{ms} ")),
            "an event outside its own request's span: {l}"
        );
    }
    // Both slept at once: the short one woke before the long one did.
    let pos = |what: &str, ms: u32| {
        lines
            .iter()
            .position(|l| l.ends_with(&format!("{what} ms={ms}")))
            .unwrap()
    };
    assert!(pos("sleeping", 400) < pos("woke", 100));
    assert!(pos("woke", 100) < pos("woke", 400));
    // TraceLayer's own events sit in their spans too.
    let finished: Vec<String> = buf
        .lines()
        .into_iter()
        .filter(|l| l.contains("finished processing request"))
        .collect();
    assert_eq!(finished.len(), 2, "{finished:#?}");
    assert!(
        finished
            .iter()
            .all(|l| l.starts_with("DEBUG request{method=GET uri=/sleep/"))
    );
}
