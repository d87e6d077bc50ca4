//! What `cancel`, `throw`, `terminate` and an expiring `timeout` do in a
//! program built with `panic = "abort"`: they cannot unwind, so they print
//! one line naming the coro, the call and the reason, then abort.
//! corio's `tests/panic_abort.rs` builds this with the workspace's
//! `panic-abort` profile:
//!
//! ```sh
//! cargo run -p corio-abort-demo --profile panic-abort -- cancel
//! ```
//!
//! Built normally (with unwinding), each case works and it prints `survived`.

use std::time::Duration;

fn main() {
    let case = std::env::args().nth(1).unwrap_or_default();
    match case.as_str() {
        "cancel" => {
            let h = corio::Builder::new()
                .name("victim")
                .spawn(|| corio::sleep(Duration::from_secs(3600)))
                .unwrap();
            corio::cede();
            h.cancel();
        }
        "throw" => {
            let h = corio::Builder::new()
                .name("target")
                .spawn(|| corio::sleep(Duration::from_secs(3600)))
                .unwrap();
            corio::cede();
            h.coro().throw("stop it");
            let _ = h.join();
        }
        "terminate" => {
            let h = corio::Builder::new()
                .name("quitter")
                .spawn(|| corio::terminate(7u8))
                .unwrap();
            let _ = h.join();
        }
        "timeout" => {
            let r = corio::timeout(Duration::from_millis(10), || {
                corio::sleep(Duration::from_secs(3600));
            });
            assert!(r.is_err());
        }
        other => panic!("unknown case {other:?}: cancel, throw, terminate or timeout"),
    }
    println!("survived");
}
