//! tokio echo server: `echo-tokio 127.0.0.1:PORT`.
//!
//! A `current_thread` runtime (one scheduler thread, I/O driver only), a
//! `TcpListener`, one spawned task per connection running a
//! `read`/`write_all` loop over a 4 KiB buffer — the way the tokio
//! tutorial writes it.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn main() {
    let addr = corio_peers::server_addr();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("cannot build the tokio current_thread runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).await.unwrap_or_else(|e| {
            eprintln!("echo-tokio: cannot listen on {addr}: {e}");
            std::process::exit(1);
        });
        loop {
            let mut stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("echo-tokio: accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}
