//! Joining coros: values, `terminate`, panics, waiting, futures.
//!
//! `perl_t08_join` ports the behaviour of Perl Coro's `t/08_join.t`
//! (Coro 6.57, by Marc Lehmann; public mirror laurent-aml/Perl-Coro).

mod util;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use util::{Log, Oks};

#[test]
fn perl_t08_join() {
    let oks = Oks::new();
    oks.ok(1);
    let o = oks.clone();
    let p1 = corio::spawn(move || -> u32 {
        o.ok(3);
        corio::terminate(5u32);
    });
    let o = oks.clone();
    let p2 = corio::spawn(move || o.ok(4));
    let o = oks.clone();
    let p3 = corio::spawn(move || {
        o.ok(5);
        (0, 1, 2)
    });
    oks.ok(2);
    let () = p2.join().unwrap();
    oks.ok(6);
    let (a, b, c) = p3.join().unwrap();
    for (n, (got, want)) in [(7, (a, 0)), (8, (b, 1)), (9, (c, 2))] {
        if got == want {
            oks.ok(n);
        }
    }
    if p1.join().unwrap() == 5 {
        oks.ok(10);
    }
    assert_eq!(oks.get(), (1..=10).collect::<Vec<_>>());
}

#[test]
fn join_returns_after_the_coro_ended_even_if_it_blocks_first() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        for i in 0..3 {
            l.push(format!("step {i}"));
            corio::cede();
        }
        "done"
    });
    assert_eq!(h.join().unwrap(), "done");
    assert_eq!(log.get(), ["step 0", "step 1", "step 2"]);
}

#[test]
fn joining_a_finished_coro_does_not_block() {
    let h = corio::spawn(|| 41 + 1);
    corio::cede();
    assert!(h.is_finished());
    let before = corio::current().switches();
    assert_eq!(h.join().unwrap(), 42);
    assert_eq!(corio::current().switches(), before);
}

#[test]
fn coros_can_join_coros() {
    let inner = corio::spawn(|| {
        corio::cede();
        String::from("inner")
    });
    let outer = corio::spawn(move || inner.join().unwrap() + " via outer");
    assert_eq!(outer.join().unwrap(), "inner via outer");
}

#[test]
fn terminate_unwinds_every_frame_and_returns_the_value() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || -> Vec<u8> {
        let _outer = util::DropLog {
            log: l.clone(),
            what: "outer".into(),
        };
        fn deep(n: u32, l: &Log) -> Vec<u8> {
            let _g = util::DropLog {
                log: l.clone(),
                what: format!("frame {n}"),
            };
            if n == 0 {
                corio::terminate(vec![1u8, 2, 3]);
            }
            deep(n - 1, l)
        }
        deep(2, &l)
    });
    let id = h.coro().id();
    assert_eq!(h.join().unwrap(), [1, 2, 3]);
    assert_eq!(
        log.get(),
        [
            format!("drop frame 0 in {id}"),
            format!("drop frame 1 in {id}"),
            format!("drop frame 2 in {id}"),
            format!("drop outer in {id}"),
        ]
    );
}

#[test]
fn terminate_with_the_wrong_type_is_reported_by_join() {
    let h = corio::spawn(|| -> u32 { corio::terminate("not a u32") });
    let err = h.join().unwrap_err();
    let msg = err.panic_message().unwrap().to_string();
    assert!(msg.contains("&str") && msg.contains("u32"), "{msg}");
}

#[test]
fn terminate_in_the_main_coro_panics_clearly() {
    let r = std::panic::catch_unwind(|| corio::terminate(1));
    let p = r.unwrap_err();
    let msg = p
        .downcast_ref::<&str>()
        .copied()
        .map(String::from)
        .or(p.downcast_ref::<String>().cloned())
        .unwrap();
    assert!(msg.contains("main coro"), "{msg}");
}

#[test]
fn a_panicking_coro_gives_its_payload_to_join() {
    let n = std::hint::black_box(7);
    let h = corio::spawn(move || -> u8 { panic!("boom {n}") });
    let err = h.join().unwrap_err();
    assert!(err.is_panic());
    assert!(!err.is_cancelled());
    assert_eq!(err.panic_message(), Some("boom 7"));
    assert_eq!(err.to_string(), "coro panicked: boom 7");
    let payload = err.into_panic();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("boom 7")
    );
}

#[test]
fn a_coro_cannot_join_itself() {
    // The handle is smuggled in through a cell, the only way to get it.
    let cell = std::rc::Rc::new(std::cell::RefCell::new(None::<corio::JoinHandle<()>>));
    let c = cell.clone();
    let h = corio::spawn(move || {
        let me = c.borrow_mut().take().unwrap();
        me.join().unwrap();
    });
    let coro = h.coro();
    *cell.borrow_mut() = Some(h);
    corio::cede();
    assert!(coro.is_done());
    // Its panic ended it; nobody is left to join it, the message was printed.
}

#[test]
fn dropping_the_handle_detaches_the_coro() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        corio::cede();
        l.push("still ran");
    });
    let c = h.coro();
    drop(h);
    while !c.is_done() {
        corio::cede();
    }
    assert_eq!(log.get(), ["still ran"]);
}

#[test]
fn results_of_every_size_come_back_intact() {
    let small = corio::spawn(|| 7u8).join().unwrap();
    let pair = corio::spawn(|| (1u64, 2u64)).join().unwrap();
    let big = corio::spawn(|| [9u64; 32]).join().unwrap();
    let boxed = corio::spawn(|| String::from("heap")).join().unwrap();
    let rc = std::rc::Rc::new(5);
    let r2 = rc.clone();
    let not_send = corio::spawn(move || r2).join().unwrap();
    assert_eq!(
        (small, pair, big, boxed.as_str()),
        (7, (1, 2), [9; 32], "heap")
    );
    assert_eq!(std::rc::Rc::strong_count(&rc), 2);
    drop(not_send);
    assert_eq!(std::rc::Rc::strong_count(&rc), 1);
}

#[test]
fn an_unjoined_result_is_dropped_when_the_handle_goes() {
    let rc = std::rc::Rc::new(());
    let r = rc.clone();
    let h = corio::spawn(move || r);
    corio::cede();
    assert_eq!(std::rc::Rc::strong_count(&rc), 2, "kept for join");
    drop(h);
    assert_eq!(std::rc::Rc::strong_count(&rc), 1);
    // Detached before it ended: dropped as soon as it ends.
    let r = rc.clone();
    drop(corio::spawn(move || r));
    corio::cede();
    assert_eq!(std::rc::Rc::strong_count(&rc), 1);
}

#[test]
fn a_join_handle_is_a_future() {
    let h = corio::spawn(|| {
        corio::cede();
        "from a coro"
    });
    let mut fut = pin!(h);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let mut spins = 0;
    let out = loop {
        corio::cede();
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            break v;
        }
        spins += 1;
        assert!(spins < 10);
    };
    assert_eq!(out.unwrap(), "from a coro");
}

#[test]
fn the_future_wakes_its_waker_when_the_coro_ends() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    let mut fut = pin!(corio::spawn(|| 3));
    let mut cx = Context::from_waker(&waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(count.0.load(Ordering::SeqCst), 0);
    corio::cede();
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(3))));
}
