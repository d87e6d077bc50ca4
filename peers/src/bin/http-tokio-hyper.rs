//! tokio + hyper 1.x hello server: `http-tokio-hyper 127.0.0.1:PORT
//! [--header-read-timeout]`.
//!
//! A `current_thread` runtime, one task per connection serving HTTP/1.1
//! only with keep-alive (hyper's default). hyper's automatic `Date` header
//! is turned off and header names are written title-cased, so each answer
//! is byte for byte [`corio_peers::HTTP_RESPONSE`]. Like hyper's own hello
//! world it sets no timer, so hyper has no header read timeout;
//! `--header-read-timeout` turns on the runtime's time driver and gives
//! hyper `hyper_util`'s `TokioTimer`, and with it hyper's default 30 s
//! header read timeout.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

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
    let timeout = corio_peers::header_read_timeout_flag();
    let mut rt = tokio::runtime::Builder::new_current_thread();
    rt.enable_io();
    if timeout {
        rt.enable_time();
    }
    let rt = rt
        .build()
        .expect("cannot build the tokio current_thread runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).await.unwrap_or_else(|e| {
            eprintln!("http-tokio-hyper: cannot listen on {addr}: {e}");
            std::process::exit(1);
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.keep_alive(true)
            .auto_date_header(false)
            .title_case_headers(true);
        if timeout {
            http.timer(TokioTimer::new());
        }
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("http-tokio-hyper: accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let conn = http.serve_connection(TokioIo::new(stream), service_fn(hello));
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
}
