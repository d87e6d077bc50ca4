//! may_minihttp hello server: `http-may-minihttp 127.0.0.1:PORT`.
//!
//! `may` with one worker thread and no core pinning of its own;
//! may_minihttp's coroutine-per-connection server. may_minihttp always
//! writes its own head, `HTTP/1.1 200 Ok\r\nServer: M\r\nDate: <29
//! bytes>\r\nContent-Length: 13\r\n`, before the headers the service adds;
//! the service adds only `Content-Type: text/plain`, so each answer is 48
//! bytes longer than [`corio_peers::HTTP_RESPONSE`] (126 bytes, not 78: the
//! `Server` and `Date` lines; the date is cached and refreshed every 500 ms
//! by a coroutine). It also ignores `Connection: close`, which the
//! benchmark never sends.

use std::io;

use may_minihttp::{HttpServer, HttpService, Request, Response};

#[derive(Clone)]
struct Hello;

impl HttpService for Hello {
    fn call(&mut self, _req: Request, rsp: &mut Response) -> io::Result<()> {
        rsp.header("Content-Type: text/plain");
        rsp.body(corio_peers::HTTP_BODY);
        Ok(())
    }
}

fn main() {
    let addr = corio_peers::server_addr();
    may::config().set_workers(1);
    may::config().set_worker_pin(false);
    let server = HttpServer(Hello).start(addr).unwrap_or_else(|e| {
        eprintln!("http-may-minihttp: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    server
        .join()
        .expect("the may_minihttp server coroutine panicked");
}
