//! may echo server: `echo-may 127.0.0.1:PORT`.
//!
//! `may` with exactly one worker thread (`set_workers(1)`; may also keeps
//! its timer thread, idle here) and no core pinning of its own, so the
//! affinity the runner gives the process holds. The accept loop runs in a
//! coroutine and each connection gets a coroutine running a
//! `read`/`write_all` loop over a 4 KiB buffer, like may's own echo
//! example.

use std::io::{Read, Write};

use may::net::{TcpListener, TcpStream};

fn handle(mut stream: TcpStream) {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn main() {
    let addr = corio_peers::server_addr();
    may::config().set_workers(1);
    may::config().set_worker_pin(false);
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| {
        eprintln!("echo-may: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    let acceptor = may::go!(move || {
        for stream in listener.incoming() {
            match stream {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    may::go!(move || handle(s));
                }
                Err(e) => eprintln!("echo-may: accept: {e}"),
            }
        }
    });
    acceptor.join().expect("the accept coroutine panicked");
}
