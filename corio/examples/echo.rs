//! A TCP echo server: one coro per connection, written as plain blocking
//! code.
//!
//! ```text
//! cargo run --release --example echo               # 127.0.0.1:7000
//! cargo run --release --example echo 127.0.0.1:9000
//! ```
//!
//! Then `nc 127.0.0.1 7000` and type; a connection silent for a minute
//! is closed. The network benchmark
//! (`peers/`, `netbench echo`) measures this server against a raw epoll one.

use std::io::{Read, Write};
use std::time::Duration;

use corio::net::{TcpListener, TcpStream};

/// How long a connection may stay silent.
const IDLE: Duration = Duration::from_secs(60);

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let listener = TcpListener::bind(addr.as_str()).unwrap_or_else(|e| {
        eprintln!("echo: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    println!("echo server listening on {addr}");
    if let Err(e) = corio::net::serve_on(listener, echo) {
        eprintln!("echo: {e}");
        std::process::exit(1);
    }
}

/// Sends back whatever comes, until the peer closes, fails, or is silent
/// (or takes nothing) for [`IDLE`].
fn echo(mut conn: TcpStream) {
    let _ = conn.set_nodelay(true);
    let _ = conn.set_read_timeout(Some(IDLE));
    let _ = conn.set_write_timeout(Some(IDLE));
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
