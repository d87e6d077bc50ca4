//! A million coros parked at once, each with its own guarded stack, within
//! the default `vm.max_map_count` (65,530 mappings).
//!
//! Needs about 5 GB of memory; runs in a child process so that its memory
//! is gone as soon as it is done.

mod util;

use util::{child_role, maps_count, run_child, status_kib, word_after};

const N: usize = 1_000_000;

#[test]
fn a_million_parked_coros_each_with_a_guard_page() {
    if child_role().as_deref() == Some("million") {
        let rss0 = status_kib("VmRSS:");
        let mut handles = Vec::with_capacity(N);
        for _ in 0..N {
            handles.push(corio::spawn(corio::schedule));
        }
        corio::cede(); // every one of them runs and parks
        assert!(
            handles
                .iter()
                .all(|h| !h.is_finished() && !h.coro().is_ready())
        );
        assert_eq!(corio::nready(), 0);
        let maps = maps_count();
        let per_coro = (status_kib("VmRSS:") - rss0) * 1024 / N as u64;
        println!(
            "MAPS {maps} PER_CORO {per_coro} GUARD {}",
            corio::stack::guard_mechanism()
        );
        // Wake them all; each returns, and every stack goes back.
        for h in &handles {
            h.coro().ready();
        }
        for h in handles {
            h.join().unwrap();
        }
        println!("ALL JOINED");
        return;
    }
    let out = run_child(
        "a_million_parked_coros_each_with_a_guard_page",
        "million",
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let word = |key: &str| word_after(&stdout, key).unwrap_or_default().to_string();
    assert!(stdout.contains("ALL JOINED"), "{stdout}");
    let maps: usize = word("MAPS ").parse().unwrap();
    let per_coro: u64 = word("PER_CORO ").parse().unwrap();
    if word("GUARD ") == "madvise" {
        assert!(maps < 1000, "a million guarded stacks used {maps} mappings");
    }
    // One page of stack plus the control block; a huge page per stack (if
    // transparent huge pages crept in) would be hundreds of times more.
    assert!(per_coro < 6 * 1024, "{per_coro} bytes per parked coro");
}
