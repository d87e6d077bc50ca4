//! `sync::mpmc::Channel`: a `Send` channel whose blocking calls park coros,
//! not threads, on both sides.

mod util;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use corio::sync::TryPutError;
use corio::sync::mpmc::Channel;
use util::{DropLog, Log};

/// Generous bound for waits that fail the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn is_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Channel<Vec<u8>>>();
}

#[test]
fn a_waiting_get_parks_only_its_coro() {
    // The item the main coro waits for is sent by another thread only after
    // a coro of *this* thread ran: if `get` blocked the thread, that coro
    // could never run and the get would time out.
    let (to_b, from_b) = (Channel::new(), Channel::new());
    let (rx, tx) = (to_b.clone(), from_b.clone());
    let b = corio::thread::spawn(move || {
        let v: u32 = rx.get_timeout(LIMIT).expect("nothing from thread A");
        tx.put(v + 1).unwrap();
    });
    let poker = corio::spawn(move || to_b.put(1).unwrap());
    assert_eq!(from_b.get_timeout(LIMIT), Some(2));
    poker.join().unwrap();
    b.join().unwrap();
}

#[test]
fn ping_pong_between_coros_of_two_threads() {
    const N: u32 = 10_000;
    let (ping, pong) = (Channel::bounded(1), Channel::bounded(1));
    let (pi, po) = (ping.clone(), pong.clone());
    let t = corio::thread::spawn(move || {
        let mut sum = 0u64;
        while let Some(v) = pi.get() {
            sum += u64::from(v);
            po.put(v).unwrap();
        }
        sum
    });
    // Another coro here keeps running meanwhile.
    let ticks = Rc::new(std::cell::Cell::new(0u32));
    let tk = ticks.clone();
    let ticker = corio::spawn(move || {
        for _ in 0..100 {
            tk.set(tk.get() + 1);
            corio::cede();
        }
    });
    for i in 0..N {
        ping.put(i).unwrap();
        assert_eq!(pong.get_timeout(LIMIT), Some(i));
    }
    ping.shutdown();
    assert_eq!(t.join().unwrap(), u64::from(N) * u64::from(N - 1) / 2);
    ticker.join().unwrap();
    assert_eq!(ticks.get(), 100);
}

#[test]
fn many_producer_threads_keep_each_ones_order_and_lose_nothing() {
    const THREADS: u32 = 4;
    const PER: u32 = 2_000;
    let ch = Channel::bounded(8);
    let mut producers = Vec::new();
    for t in 0..THREADS {
        let ch = ch.clone();
        producers.push(corio::thread::spawn(move || {
            // Several coros per thread put concurrently.
            let hs: Vec<_> = (0..2)
                .map(|k| {
                    let ch = ch.clone();
                    corio::spawn(move || {
                        for i in 0..PER / 2 {
                            ch.put((t, k, i)).unwrap();
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        }));
    }
    let mut last: HashMap<(u32, u32), u32> = HashMap::new();
    let mut n = 0;
    while n < THREADS * PER {
        let (t, k, i) = ch.get_timeout(LIMIT).expect("an item went missing");
        if let Some(prev) = last.insert((t, k), i) {
            assert_eq!(i, prev + 1, "out of order from producer {t}/{k}");
        } else {
            assert_eq!(i, 0);
        }
        n += 1;
    }
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(ch.try_get(), None);
    assert_eq!(last.len(), (THREADS * 2) as usize);
}

#[test]
fn many_consumer_threads_share_the_items() {
    let ch = Channel::new();
    let total = Arc::new(AtomicUsize::new(0));
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let (ch, total) = (ch.clone(), total.clone());
            corio::thread::spawn(move || {
                let mut mine = 0u64;
                for v in &ch {
                    mine += v;
                    total.fetch_add(1, Ordering::Relaxed);
                }
                mine
            })
        })
        .collect();
    for v in 1..=3_000u64 {
        ch.put(v).unwrap();
    }
    ch.shutdown();
    let sum: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(sum, 3_000 * 3_001 / 2);
    assert_eq!(total.load(Ordering::Relaxed), 3_000);
}

#[test]
fn rendezvous_put_returns_after_the_getter_took_it() {
    let log = Log::new();
    let ch = Channel::bounded(0);
    let (c, l) = (ch.clone(), log.clone());
    let putter = corio::spawn(move || {
        l.push("put");
        c.put(7).unwrap();
        l.push("put returned");
    });
    corio::cede();
    assert_eq!(ch.len(), 0, "a rendezvous buffers nothing");
    assert_eq!(ch.get_timeout(LIMIT), Some(7));
    log.push("got");
    corio::timeout(LIMIT, || putter.join().unwrap()).expect("put never returned");
    assert_eq!(log.take(), ["put", "got", "put returned"]);
}

#[test]
fn rendezvous_try_put_needs_a_waiting_getter() {
    let ch = Channel::bounded(0);
    assert!(matches!(ch.try_put(1), Err(TryPutError::Full(1))));
    let c = ch.clone();
    let getter = corio::spawn(move || c.get());
    corio::cede();
    assert!(ch.try_put(2).is_ok());
    let got = corio::timeout(LIMIT, || getter.join().unwrap());
    assert_eq!(got.expect("the getter never got it"), Some(2));
}

#[test]
fn bounded_put_waits_for_room_from_another_thread() {
    let ch = Channel::bounded(2);
    ch.put(1).unwrap();
    ch.put(2).unwrap();
    assert!(matches!(ch.try_put(3), Err(TryPutError::Full(3))));
    let c = ch.clone();
    let t = corio::thread::spawn(move || {
        corio::sleep(Duration::from_millis(20));
        c.get()
    });
    ch.put(3).unwrap();
    assert_eq!(t.join().unwrap(), Some(1));
    assert_eq!(ch.iter().take(2).collect::<Vec<_>>(), [2, 3]);
}

#[test]
fn shutdown_wakes_getters_and_gives_putters_their_values_back() {
    let (empty, full) = (Channel::<u8>::new(), Channel::bounded(1));
    full.put(String::from("kept")).unwrap();
    let (e, f) = (empty.clone(), full.clone());
    let getters = corio::thread::spawn(move || {
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let e = e.clone();
                corio::spawn(move || e.get())
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    let putter = corio::thread::spawn(move || f.put(String::from("refused")));
    // Let both threads block (if they have not yet, the outcome is the
    // same: shut-down channels refuse puts and give `None`).
    corio::sleep(Duration::from_millis(50));
    empty.shutdown();
    full.shutdown();
    assert_eq!(getters.join().unwrap(), [None, None, None]);
    let refused = putter.join().unwrap().unwrap_err();
    assert_eq!(refused.0, "refused");
    // Items buffered before the shutdown are still delivered.
    assert_eq!(full.get().as_deref(), Some("kept"));
    assert_eq!(full.get(), None);
    assert!(full.put(String::new()).is_err());
}

#[test]
fn a_cancelled_getter_passes_its_turn_on() {
    let ch = Channel::new();
    let log = Log::new();
    let mut hs = Vec::new();
    for name in ["g1", "g2"] {
        let (c, l) = (ch.clone(), log.clone());
        hs.push(corio::spawn(move || {
            let v = c.get();
            l.push(format!("{name} got {v:?}"));
        }));
    }
    corio::cede();
    // g1 is given the item's turn, but is cancelled before it runs.
    ch.put(5).unwrap();
    hs[0].cancel();
    let g2 = hs.pop().unwrap();
    corio::timeout(LIMIT, || g2.join().unwrap()).expect("g2 never got the item");
    assert_eq!(log.take(), ["g2 got Some(5)"]);
    assert!(ch.is_empty());
}

#[test]
fn a_cancelled_putter_drops_its_value_unsent() {
    let log = Log::new();
    let ch = Channel::bounded(0);
    let (c, l) = (ch.clone(), log.clone());
    let putter = corio::spawn(move || {
        let _ = c.put(DropLog {
            log: l,
            what: "value".into(),
        });
    });
    corio::cede();
    putter.cancel();
    assert_eq!(log.get().len(), 1, "the value was dropped by the cancel");
    assert!(ch.try_get().is_none(), "and never delivered");
}

#[test]
fn get_timeout_gives_up_and_loses_nothing() {
    let ch = Channel::<u32>::new();
    assert_eq!(ch.get_timeout(Duration::from_millis(5)), None);
    let c = ch.clone();
    let t = corio::thread::spawn(move || {
        corio::sleep(Duration::from_millis(30));
        c.put(9).unwrap();
    });
    assert_eq!(ch.get_timeout(Duration::from_millis(1)), None);
    assert_eq!(ch.get_timeout(LIMIT), Some(9));
    t.join().unwrap();
}

#[test]
fn a_plain_thread_can_feed_a_coro() {
    let ch = Channel::new();
    let c = ch.clone();
    let t = std::thread::spawn(move || {
        for i in 0..100 {
            c.put(i).unwrap();
        }
        c.shutdown();
    });
    assert_eq!(ch.into_iter().sum::<i32>(), 4950);
    t.join().unwrap();
}
