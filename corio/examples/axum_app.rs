//! An axum application on corio, whose async handlers make plain blocking
//! calls: `corio::sleep` and `corio::fs` park only the connection's coro.
//! No tokio runtime, no `spawn_blocking`.
//!
//! ```text
//! cargo run --release --features compat --example axum_app -- 127.0.0.1:8080 ./public
//! curl http://127.0.0.1:8080/             # Hello, world!
//! curl http://127.0.0.1:8080/sleep/250    # slept 250 ms (other requests go on meanwhile)
//! curl http://127.0.0.1:8080/file/a.txt   # ./public/a.txt
//! ```
//!
//! Routes:
//! - `GET /`: `Hello, world!`
//! - `GET /sleep/{ms}`: calls `corio::sleep(ms)` inside the handler (no
//!   `.await`) and answers `slept {ms} ms`; at most 60,000 ms (`400`
//!   otherwise).
//! - `GET /file/{name}`: the file `name` of the directory given as the
//!   second argument, read with `corio::fs`; `name` must be one plain file
//!   name (`400` for `..`, `/` or an empty name; `404` for a missing file
//!   or when no directory was given).
//! - anything else: `404`; a malformed request gets hyper's `400`.
//!
//! Every request runs in a `request{method, uri}` span, and the sleep
//! handler logs before and after its blocking sleep. Built with corio's
//! `tracing` feature, the events go to stderr, each in its own request's
//! span although the requests' coros interleave:
//!
//! ```text
//! cargo run --release --features compat,tracing --example axum_app
//! ```

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use hyper::Request;
use hyper::body::Incoming;
use tower_service::Service;
use tracing::Instrument;

/// Longest sleep `/sleep/{ms}` accepts.
const MAX_SLEEP_MS: u64 = 60_000;

/// The directory `/file/` serves, if one was given.
type Dir = Arc<Option<PathBuf>>;

async fn hello() -> &'static str {
    "Hello, world!"
}

async fn sleep(UrlPath(ms): UrlPath<u64>) -> Result<String, (StatusCode, String)> {
    if ms > MAX_SLEEP_MS {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("at most {MAX_SLEEP_MS} ms\n"),
        ));
    }
    tracing::info!(ms, "sleeping");
    corio::sleep(Duration::from_millis(ms)); // blocks this connection's coro only
    tracing::info!(ms, "woke");
    Ok(format!("slept {ms} ms"))
}

/// Whether `name` is one plain file name: no separator, no `.` or `..`.
fn plain_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(parts.next(), Some(Component::Normal(_)))
        && parts.next().is_none()
        && !name.contains('\0')
        && !name.contains('/')
}

async fn file(
    State(dir): State<Dir>,
    UrlPath(name): UrlPath<String>,
) -> Result<Vec<u8>, (StatusCode, String)> {
    let Some(dir) = dir.as_ref() else {
        return Err((StatusCode::NOT_FOUND, "no directory is served\n".into()));
    };
    if !plain_name(&name) {
        return Err((StatusCode::BAD_REQUEST, "not a plain file name\n".into()));
    }
    // A blocking read: io_uring or a worker thread, this coro parks.
    corio::fs::read(dir.join(&name)).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => (StatusCode::NOT_FOUND, "no such file\n".into()),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    })
}

/// The application.
fn app(dir: Option<PathBuf>) -> Router {
    Router::new()
        .route("/", get(hello))
        .route("/sleep/{ms}", get(sleep))
        .route("/file/{name}", get(file))
        .with_state(Arc::new(dir))
}

fn main() {
    // Feature `tracing`: request events to stderr.
    #[cfg(feature = "tracing")]
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .try_init();
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let dir = args.next().map(PathBuf::from);
    let listener = corio::net::TcpListener::bind(addr.as_str()).unwrap_or_else(|e| {
        eprintln!("axum_app: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    let router = app(dir);
    // A Router is always ready, so hyper can call it directly; each request
    // is polled inside its own span.
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let span = tracing::info_span!("request", method = %req.method(), uri = %req.uri());
        router.clone().call(req).instrument(span)
    });
    // The bound address (port 0 picks a free one).
    let bound = listener.local_addr().map_or(addr, |a| a.to_string());
    println!("axum_app listening on http://{bound}/");
    if let Err(e) = corio::compat::serve(listener, service) {
        eprintln!("axum_app: {e}");
        std::process::exit(1);
    }
}
