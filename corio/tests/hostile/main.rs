//! The attack suite: the example servers (`http_hello`, `chat`) and the
//! debug shell, run as their own processes and attacked the way a hostile
//! client would — on loopback only, each attack bounded in count and time:
//! ten thousand idle connections, slowloris, resets, running out of
//! descriptors, oversized and overflowing lengths, binary garbage,
//! clients that never read, bursts, floods.
//!
//! Every attack then checks the same four things: the server is alive; a
//! fresh, ordinary client is served correctly; its descriptors and coros
//! (counted through its debug shell) come back to where they were before
//! the attack; its memory stayed bounded. The figures (descriptors, RSS,
//! timings) are printed as `FIGURES` lines: `cargo test --test hostile --
//! --nocapture | grep FIGURES`.
//!
//! `HOSTILE_BIN_chat=/path/to/chat` (or `HOSTILE_BIN_http_hello`) runs an
//! attack against another build of the example.

#[path = "../util/mod.rs"]
mod util;

mod chat;
mod compat;
mod http;
mod shell;
mod target;
