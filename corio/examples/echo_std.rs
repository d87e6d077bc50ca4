//! The TCP echo server of `echo.rs`, written with `std::net` alone: with
//! the `hook` feature, `accept`, `read` and `write` park only their coro,
//! so a coro per connection serves them all on one thread.
//!
//! ```text
//! cargo run --release --features hook --example echo_std               # 127.0.0.1:7000
//! cargo run --release --features hook --example echo_std 127.0.0.1:9000
//! ```
//!
//! The network benchmark (`peers/`, `netbench echo`) measures it against
//! `echo.rs` (corio's own sockets): what the hooks cost per request.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() {
    assert!(corio::hook::active(), "built without the hook feature");
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let listener = TcpListener::bind(addr.as_str()).unwrap_or_else(|e| {
        eprintln!("echo_std: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    println!("echo server (std::net, hooked) listening on {addr}");
    loop {
        match listener.accept() {
            Ok((conn, _)) => drop(corio::spawn(move || echo(conn))),
            Err(e) => {
                eprintln!("echo_std: accept: {e}");
                corio::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

/// Sends back whatever comes, until the peer closes or fails.
fn echo(mut conn: TcpStream) {
    let _ = conn.set_nodelay(true);
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
