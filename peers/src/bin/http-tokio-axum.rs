//! axum on tokio, with its blocking part in `spawn_blocking`:
//! `http-tokio-axum 127.0.0.1:PORT`.
//!
//! The tokio counterpart of corio's `examples/axum_app.rs` for the
//! benchmark's `GET /sleep/{ms}`: the handler's blocking call
//! (`std::thread::sleep(ms)`) runs in `tokio::task::spawn_blocking`, as a
//! tokio user writes blocking code, and the handler awaits it. A
//! `current_thread` runtime (with its blocking pool: up to 512 threads, as
//! tokio sets by default), one task per connection, hyper's HTTP/1.1 server
//! with the settings `corio::compat::Http::new()` has: keep-alive, the
//! `Date` header, and hyper's 30 s header read timeout on tokio's timer
//! (`hyper_util`'s `TokioTimer`). `TCP_NODELAY` on each connection, as
//! `compat::Http` sets it.
//!
//! Routes, as in `axum_app`: `GET /` answers `Hello, world!`;
//! `GET /sleep/{ms}` sleeps `ms` (at most 60,000; `400` otherwise) and
//! answers `slept {ms} ms`.

use std::time::Duration;

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::StatusCode;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower_service::Service;

/// Longest sleep `/sleep/{ms}` accepts (as `axum_app`).
const MAX_SLEEP_MS: u64 = 60_000;

async fn hello() -> &'static str {
    corio_peers::HTTP_BODY
}

async fn sleep(UrlPath(ms): UrlPath<u64>) -> Result<String, (StatusCode, String)> {
    if ms > MAX_SLEEP_MS {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("at most {MAX_SLEEP_MS} ms\n"),
        ));
    }
    tokio::task::spawn_blocking(move || std::thread::sleep(Duration::from_millis(ms)))
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")))?;
    Ok(format!("slept {ms} ms"))
}

fn main() {
    let addr = corio_peers::server_addr();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .expect("cannot build the tokio current_thread runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).await.unwrap_or_else(|e| {
            eprintln!("http-tokio-axum: cannot listen on {addr}: {e}");
            std::process::exit(1);
        });
        let router = Router::new()
            .route("/", get(hello))
            .route("/sleep/{ms}", get(sleep));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new());
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("http-tokio-axum: accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let router = router.clone();
            // A Router is always ready, so hyper can call it directly (as
            // axum_app does on corio).
            let service = hyper::service::service_fn(move |req| router.clone().call(req));
            let conn = http.serve_connection(TokioIo::new(stream), service);
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
}
