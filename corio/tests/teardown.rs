//! What happens to coros when their thread exits.

mod util;

use std::sync::{Arc, Mutex};

use util::{child_role, run_child};

struct Shared(Arc<Mutex<Vec<String>>>);

impl Drop for Shared {
    fn drop(&mut self) {
        let id = corio::current().id();
        self.0.lock().unwrap().push(format!("drop in {id}"));
    }
}

#[test]
fn thread_exit_cancels_parked_coros_and_runs_their_drops_in_place() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let ids = std::thread::spawn(move || {
        let l1 = l.clone();
        let parked = corio::spawn(move || {
            let _s = Shared(l1);
            corio::schedule();
        });
        let l2 = l.clone();
        let never_ran = corio::spawn(move || {
            let _s = Shared(l2);
        });
        let l3 = l.clone();
        corio::current().on_destroy(move || l3.lock().unwrap().push("main on_destroy".into()));
        corio::cede(); // `parked` parks; `never_ran` runs to its end
        let captured = Shared(l.clone());
        let fresh = corio::spawn(move || {
            let _keep = &captured; // never runs: the closure is dropped
        });
        let ids = (parked.coro().id(), never_ran.coro().id(), fresh.coro().id());
        std::mem::forget((parked, never_ran, fresh)); // nobody joins them
        ids
    })
    .join()
    .expect("the thread exits cleanly");
    let log = log.lock().unwrap().clone();
    assert!(log.contains(&format!("drop in {}", ids.1)), "{log:?}");
    assert!(
        log.contains(&format!("drop in {}", ids.0)),
        "the parked coro unwound in place: {log:?}"
    );
    // The closure of the coro that never ran is dropped by the teardown,
    // which runs in the main coro, before main's on_destroy callbacks.
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(
        log[2].starts_with("drop in ") && log[2] != format!("drop in {}", ids.2),
        "{log:?}"
    );
    assert_eq!(log.last().map(String::as_str), Some("main on_destroy"));
}

#[test]
fn many_threads_with_coros_come_and_go() {
    let handles: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let hs: Vec<_> = (0..100)
                    .map(|i| corio::spawn(move || t * 1000 + i))
                    .collect();
                let parked: Vec<_> = (0..100).map(|_| corio::spawn(corio::schedule)).collect();
                corio::cede();
                let sum: u32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
                drop(parked);
                sum
            })
        })
        .collect();
    for (t, h) in handles.into_iter().enumerate() {
        let t = t as u32;
        assert_eq!(
            h.join().unwrap(),
            (0..100).map(|i| t * 1000 + i).sum::<u32>()
        );
    }
}

#[test]
fn a_coro_whose_cleanup_blocks_forever_is_reported_and_leaked_not_fatal() {
    if child_role().as_deref() == Some("stuck") {
        std::thread::spawn(|| {
            struct BlocksInDrop;
            impl Drop for BlocksInDrop {
                fn drop(&mut self) {
                    // Waits for a condition that never comes true: wake-ups
                    // (spurious or not) do not help it.
                    loop {
                        corio::schedule();
                    }
                }
            }
            let h = corio::spawn(|| {
                let _b = BlocksInDrop;
                corio::schedule();
            });
            corio::cede();
            std::mem::forget(h);
        })
        .join()
        .unwrap();
        println!("PROCESS CONTINUES");
        return;
    }
    let out = run_child(
        "a_coro_whose_cleanup_blocks_forever_is_reported_and_leaked_not_fatal",
        "stuck",
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("PROCESS CONTINUES"), "{stdout}");
    assert!(
        stderr.contains("could not be cancelled at thread exit"),
        "{stderr}"
    );
}
