//! hyper's hello world on corio: hyper 1's HTTP/1.1 server with no tokio
//! runtime, a coro per connection (`corio::compat`).
//!
//! ```text
//! cargo run --release --features compat --example hyper_hello                 # 127.0.0.1:8080
//! cargo run --release --features compat --example hyper_hello 127.0.0.1:9000
//! curl http://127.0.0.1:8080/
//! ```
//!
//! Configured like the benchmark's tokio + hyper peer (`peers/`,
//! `http-tokio-hyper`): keep-alive, no `Date` header, title-cased header
//! names, so the answer is byte for byte the same. Unlike that peer it
//! keeps hyper's 30 s header read timeout (corio's timer drives it).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut rsp = Response::new(Full::new(Bytes::from_static(b"Hello, world!")));
    let h = rsp.headers_mut();
    h.insert(CONTENT_LENGTH, HeaderValue::from_static("13"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(rsp)
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = corio::net::TcpListener::bind(addr.as_str()).unwrap_or_else(|e| {
        eprintln!("hyper_hello: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    let mut http = corio::compat::Http::new();
    http.builder()
        .keep_alive(true)
        .auto_date_header(false)
        .title_case_headers(true);
    // The bound address (port 0 picks a free one).
    let bound = listener.local_addr().map_or(addr, |a| a.to_string());
    println!("hyper_hello listening on http://{bound}/");
    if let Err(e) = http.serve(listener, service_fn(hello)) {
        eprintln!("hyper_hello: {e}");
        std::process::exit(1);
    }
}
