//! `corio::block_on`: futures awaited inside coros.

mod util;

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use util::{DropLog, Log};

/// Pending until `wake_after` polls have happened; hands each waker to
/// `out`.
struct HandOff {
    polls: u32,
    wake_after: u32,
    out: mpsc::Sender<Waker>,
}

impl Future for HandOff {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        self.polls += 1;
        if self.polls > self.wake_after {
            return Poll::Ready(self.polls);
        }
        let _ = self.out.send(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn a_future_woken_from_another_thread_completes_and_others_ran_meanwhile() {
    let (tx, rx) = mpsc::channel::<Waker>();
    let waker_thread = std::thread::spawn(move || {
        for w in rx.iter().take(3) {
            std::thread::sleep(Duration::from_millis(5));
            w.wake();
        }
    });
    let log = Log::new();
    let l = log.clone();
    let other = corio::spawn(move || {
        for i in 0..3 {
            l.push(format!("tick {i}"));
            corio::sleep(Duration::from_millis(1));
        }
    });
    let polls = corio::block_on(HandOff {
        polls: 0,
        wake_after: 3,
        out: tx,
    });
    assert_eq!(polls, 4, "polled once at first and once per wake");
    assert_eq!(log.get().len(), 3, "the other coro ran while we waited");
    other.join().unwrap();
    waker_thread.join().unwrap();
}

#[test]
fn a_self_waking_future_is_polled_again_without_parking() {
    let mut n = 0;
    let v = corio::block_on(std::future::poll_fn(|cx| {
        n += 1;
        if n < 100 {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(n)
        }
    }));
    assert_eq!(v, 100);
}

#[test]
fn coros_are_futures() {
    let h = corio::spawn(|| {
        corio::sleep(Duration::from_millis(2));
        "done"
    });
    assert_eq!(corio::block_on(h).unwrap(), "done");
    let failed = corio::spawn(|| -> u8 { panic!("inside") });
    assert!(matches!(
        corio::block_on(failed),
        Err(corio::JoinError::Panicked(_))
    ));
}

#[test]
fn cancelling_a_coro_in_block_on_drops_its_future() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        let guard = DropLog {
            log: l,
            what: "future".into(),
        };
        corio::block_on(async move {
            let _g = guard;
            std::future::pending::<()>().await;
        });
    });
    corio::cede();
    assert!(log.get().is_empty());
    h.coro().cancel();
    assert_eq!(log.get().len(), 1, "{:?}", log.get());
    assert!(matches!(h.join(), Err(corio::JoinError::Cancelled)));
}

#[test]
fn timeout_interrupts_a_future_that_never_completes() {
    let r = corio::timeout(Duration::from_millis(5), || {
        corio::block_on(std::future::pending::<()>())
    });
    assert!(r.is_err());
}

#[test]
fn a_waker_used_after_block_on_returned_wakes_nobody() {
    let (tx, rx) = mpsc::channel::<Waker>();
    let (back_tx, back_rx) = mpsc::channel::<Waker>();
    // A thread wakes the future once, and hands back a clone of its waker.
    let t = std::thread::spawn(move || {
        let w = rx.recv().unwrap();
        back_tx.send(w.clone()).unwrap();
        w.wake();
    });
    let v = corio::block_on(HandOff {
        polls: 0,
        wake_after: 1,
        out: tx,
    });
    assert_eq!(v, 2);
    t.join().unwrap();
    // The kept waker, used after block_on returned, here and from another
    // thread: it must not disturb later waits.
    let stale = back_rx.recv().unwrap();
    stale.wake_by_ref();
    std::thread::spawn(move || stale.wake()).join().unwrap();
    let start = std::time::Instant::now();
    corio::sleep(Duration::from_millis(20));
    assert!(start.elapsed() >= Duration::from_millis(20));
    // And the scheduler holds no count for it: with nothing to do, this is
    // a deadlock report, not an endless sleep.
    assert!(std::panic::catch_unwind(corio::schedule).is_err());
}

/// Pending once (waking itself), then ready: a future that returns to
/// `block_on` between two polls.
fn yield_once() -> impl Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

#[test]
fn polls_that_block_inside_park_only_their_coro_and_the_others_go_on() {
    // Each coro's future blocks inside its poll (a plain corio::sleep, a
    // join, a nested block_on, a generator), between awaits. The first
    // one stays parked inside its poll until all the others have finished
    // theirs: it must not hold them up.
    let log = Log::new();
    let done = std::rc::Rc::new(corio::sync::Channel::<()>::new());
    let mut hs = Vec::new();
    let (l, d) = (log.clone(), done.clone());
    hs.push(corio::spawn(move || {
        corio::block_on(async move {
            yield_once().await;
            for _ in 0..20 {
                d.get(); // parks inside the poll
            }
            l.push("slow");
            yield_once().await;
            0
        })
    }));
    for i in 1..=20u32 {
        let (l, d) = (log.clone(), done.clone());
        hs.push(corio::spawn(move || {
            corio::block_on(async move {
                for round in 0..3 {
                    yield_once().await;
                    corio::sleep(Duration::from_millis(1));
                    let nested = corio::block_on(async move {
                        yield_once().await;
                        round
                    });
                    let joined = corio::block_on(corio::spawn(move || i * 10)).unwrap();
                    let gen_sum: u32 = corio::Generator::new(|y, ()| {
                        y.yield_(1u32);
                        y.yield_(2);
                    })
                    .sum();
                    assert_eq!((nested, joined, gen_sum), (round, i * 10, 3));
                }
                l.push(format!("fast {i}"));
                d.put(()).unwrap();
                i
            })
        }));
    }
    let got: Vec<u32> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, (0..=20).collect::<Vec<_>>());
    let log = log.get();
    assert_eq!(log.len(), 21);
    assert_eq!(log.last().map(String::as_str), Some("slow"), "{log:?}");
}

#[test]
fn a_panic_inside_a_poll_reaches_join_and_the_next_polls_are_unharmed() {
    let h = corio::spawn(|| {
        corio::block_on(async {
            yield_once().await;
            panic!("boom in poll");
        })
    });
    match h.join() {
        Err(corio::JoinError::Panicked(p)) => {
            assert_eq!(p.downcast_ref::<&str>(), Some(&"boom in poll"));
        }
        other => panic!("expected the poll's panic, got {other:?}"),
    }
    let hs: Vec<_> = (0..5u32)
        .map(|i| {
            corio::spawn(move || {
                corio::block_on(async move {
                    yield_once().await;
                    i + 1
                })
            })
        })
        .collect();
    let sum: u32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 15);
}

#[test]
fn cancelling_a_coro_parked_inside_a_poll_drops_its_future_and_others_poll_on() {
    let log = Log::new();
    let l = log.clone();
    let parked = corio::spawn(move || {
        let guard = DropLog {
            log: l,
            what: "future".into(),
        };
        corio::block_on(async move {
            let _g = guard;
            yield_once().await;
            corio::sleep(Duration::from_secs(3600)); // parks inside the poll
        });
    });
    corio::sleep(Duration::from_millis(5));
    assert!(log.get().is_empty());
    parked.coro().cancel();
    assert_eq!(log.get().len(), 1, "{:?}", log.get());
    assert!(matches!(parked.join(), Err(corio::JoinError::Cancelled)));
    let h = corio::spawn(|| {
        corio::block_on(async {
            yield_once().await;
            7
        })
    });
    assert_eq!(h.join().unwrap(), 7);
}
