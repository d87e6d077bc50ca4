//! corio's chat example (`corio/examples/chat.rs`) with `console-subscriber`
//! installed, to watch its coros in `tokio-console`:
//!
//! ```text
//! RUSTFLAGS="--cfg console_without_tokio_unstable" cargo run -p corio-console-demo --bin chat
//! tokio-console
//! ```
//!
//! The console server listens on 127.0.0.1:6669 (`TOKIO_CONSOLE_BIND`
//! changes it); `RUST_LOG=info` prints the chat's own log lines too.

#[path = "../../../../examples/chat.rs"]
#[allow(dead_code)] // its `main`: ours comes first
mod chat;

fn main() {
    console_subscriber::init();
    chat::run();
}
