//! hyper 1 hello server on corio: `http-corio-hyper 127.0.0.1:PORT`.
//!
//! `corio::compat::Http` on one scheduler thread, a coro per connection,
//! with exactly `http-tokio-hyper`'s hyper settings (HTTP/1.1 only,
//! keep-alive, no `Date`, title-cased header names) and the same hyper
//! build (this crate's features), so the two differ only in the runtime.
//! It keeps hyper's 30 s header read timeout, which runs on corio's timer
//! (the tokio peer has no timer and so no such timeout).
//! `corio/examples/hyper_hello.rs` is the same server as an example.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut rsp = Response::new(Full::new(Bytes::from_static(
        corio_peers::HTTP_BODY.as_bytes(),
    )));
    let h = rsp.headers_mut();
    h.insert(CONTENT_LENGTH, HeaderValue::from_static("13"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(rsp)
}

fn main() {
    let addr = corio_peers::server_addr();
    let listener = corio::net::TcpListener::bind(addr).unwrap_or_else(|e| {
        eprintln!("http-corio-hyper: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    let mut http = corio::compat::Http::new();
    http.builder()
        .keep_alive(true)
        .auto_date_header(false)
        .title_case_headers(true);
    if let Err(e) = http.serve(listener, service_fn(hello)) {
        eprintln!("http-corio-hyper: {e}");
        std::process::exit(1);
    }
}
