//! Ping-pong, from the "What is Coro?" slides: two coros take turns, each
//! giving the CPU to the other with `cede`. Then the same game at full
//! speed, to show what a switch costs.
//!
//! ```text
//! cargo run --release --example ping_pong            # 5 rounds, then 10 million switches
//! cargo run --release --example ping_pong -- 3 1000  # 3 rounds, then 1000 switches
//! ```

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let switches: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);

    let ping = corio::Builder::new()
        .name("ping")
        .spawn(move || {
            for i in 1..=rounds {
                println!("ping {i}");
                corio::cede();
            }
        })
        .expect("spawn ping");
    let pong = corio::Builder::new()
        .name("pong")
        .spawn(move || {
            for i in 1..=rounds {
                println!("        pong {i}");
                corio::cede();
            }
        })
        .expect("spawn pong");
    ping.join().expect("ping");
    pong.join().expect("pong");

    // The same game without the printing: every cede is one switch.
    let half = switches / 2;
    let player = move || {
        for _ in 0..half {
            corio::cede();
        }
    };
    let start = Instant::now();
    let (a, b) = (corio::spawn(player), corio::spawn(player));
    a.join().expect("player a");
    b.join().expect("player b");
    let elapsed = start.elapsed();
    if switches > 0 {
        println!(
            "{switches} switches between two coros in {:.1} ms: {:.1} ns per switch",
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_nanos() as f64 / (2 * half).max(1) as f64
        );
    }
}
