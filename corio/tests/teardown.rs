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
fn thread_exit_abandons_parked_coros_and_drops_unstarted_closures() {
    // A plain thread exits with coros parked: they are never resumed (not
    // even to unwind: thread-locals their frames borrow may be gone), the
    // closures of coros that never ran are dropped, main's on_destroy
    // callbacks run.
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
        let ids = (
            parked.coro().id(),
            never_ran.coro().id(),
            fresh.coro().id(),
            corio::current().id(),
        );
        std::mem::forget((parked, never_ran, fresh)); // nobody joins them
        ids
    })
    .join()
    .expect("the thread exits cleanly");
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            format!("drop in {}", ids.1),
            // The unstarted closure is dropped by the teardown, in main.
            format!("drop in {}", ids.3),
            "main on_destroy".to_string(),
        ],
        "the parked coro {} was never resumed",
        ids.0
    );
}

#[test]
fn a_coro_parked_inside_a_thread_local_is_not_resumed_after_it_died() {
    // Thread-local destructors run in reverse order of registration: `LATE`
    // is first touched after the scheduler exists, so it is destroyed
    // before corio's teardown runs. Unwinding the coro parked inside its
    // `with` would read the dead value (under valgrind: an invalid read).
    thread_local! {
        static LATE: std::cell::RefCell<String> = std::cell::RefCell::new("alive".to_string());
    }
    struct Reads<'a>(&'a std::cell::RefCell<String>, Arc<Mutex<Vec<String>>>);
    impl Drop for Reads<'_> {
        fn drop(&mut self) {
            let v = self.0.borrow().clone();
            self.1.lock().unwrap().push(v);
        }
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    std::thread::spawn(move || {
        let _ = corio::current(); // the scheduler first
        let _parked = corio::spawn(move || {
            LATE.with(|v| {
                let _r = Reads(v, l);
                corio::schedule();
            })
        });
        corio::cede();
    })
    .join()
    .expect("the thread exits cleanly");
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
}

#[test]
fn killall_before_a_thread_exits_runs_the_drops_of_its_coros() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let id = std::thread::spawn(move || {
        let l1 = l.clone();
        let parked = corio::spawn(move || {
            let _s = Shared(l1);
            corio::schedule();
        });
        corio::cede();
        corio::killall();
        parked.coro().id()
    })
    .join()
    .unwrap();
    assert_eq!(*log.lock().unwrap(), [format!("drop in {id}")]);
}

#[test]
fn a_corio_thread_whose_closure_panics_cancels_its_coros_in_place() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let ids = Arc::new(Mutex::new(None));
    let i = ids.clone();
    let t = corio::thread::spawn(move || {
        let l1 = l.clone();
        let parked = corio::spawn(move || {
            let _s = Shared(l1);
            corio::sleep(std::time::Duration::from_secs(3600));
        });
        corio::cede();
        *i.lock().unwrap() = Some(parked.coro().id());
        panic!("the closure fails");
    });
    let err = t.join().unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"the closure fails"));
    let id = ids.lock().unwrap().unwrap();
    assert_eq!(*log.lock().unwrap(), [format!("drop in {id}")]);
}

#[test]
fn a_wake_from_another_thread_after_the_home_thread_exited_drops_its_value() {
    // The callback's value used to sit in the dead reactor's queue, which
    // its shared state kept alive: a leak.
    struct Flag(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let cb = std::thread::spawn(|| {
        let (cb, rouse) = corio::rouse::<Flag>();
        drop(rouse);
        cb
    })
    .join()
    .unwrap();
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    cb.call(Flag(dropped.clone()));
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
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
fn a_coro_whose_cleanup_blocks_forever_is_reported_and_abandoned_not_fatal() {
    if child_role().as_deref() == Some("stuck") {
        let t = corio::thread::spawn(|| {
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
            panic!("leave with a coro parked");
        });
        assert!(t.join().is_err());
        println!("PROCESS CONTINUES");
        return;
    }
    let out = run_child(
        "a_coro_whose_cleanup_blocks_forever_is_reported_and_abandoned_not_fatal",
        "stuck",
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("PROCESS CONTINUES"), "{stdout}");
    assert!(stderr.contains("could not be cancelled"), "{stderr}");
    assert!(stderr.contains("abandoned, never resumed"), "{stderr}");
}
