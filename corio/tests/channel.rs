//! `Channel`.
//!
//! `perl_t02_channel` and `perl_t03_channel` port Perl Coro's
//! `t/02_channel.t` and `t/03_channel.t` (Coro 6.57, by Marc Lehmann;
//! public mirror laurent-aml/Perl-Coro). Perl's `new Coro::Channel 1` is a
//! rendezvous: `Channel::bounded(0)`.

mod util;

use std::rc::Rc;
use std::time::Duration;

use corio::sync::{Channel, TryPutError};
use util::{DropLog, Log, Oks};

#[test]
fn perl_t02_channel() {
    let oks = Oks::new();
    let q = Channel::bounded(0);
    let (qq, o) = (q.clone(), oks.clone());
    let _producer = corio::spawn(move || {
        for i in 1..=9u32 {
            o.ok(i * 2);
            qq.put(i).unwrap();
        }
    });
    oks.ok(1);
    corio::cede();
    for n in 11..=19u32 {
        let x = q.get().unwrap();
        if x == n - 10 {
            oks.ok((n - 10) * 2 + 1);
        }
    }
    assert_eq!(oks.get(), (1..=19).collect::<Vec<_>>());
}

#[test]
fn perl_t03_channel() {
    let oks = Oks::new();
    let c1 = Channel::bounded(0);
    let c2 = Channel::bounded(0);
    let (a1, a2, o) = (c1.clone(), c2.clone(), oks.clone());
    let x = corio::spawn(move || {
        o.ok(2);
        if a1.get().as_deref() == Some("sig 1") {
            o.ok(4);
        }
        a2.put("OK 1".to_string()).unwrap();
        o.ok(7);
        a1.put("last".to_string()).unwrap();
    });
    let (b1, b2, o) = (c1.clone(), c2.clone(), oks.clone());
    let main = corio::current();
    let y = corio::spawn(move || {
        o.ok(3);
        b1.put("sig 1".to_string()).unwrap();
        o.ok(5);
        if b2.get().as_deref() == Some("OK 1") {
            o.ok(6);
        }
        main.ready();
    });
    oks.ok(1);
    corio::schedule();
    oks.ok(8);
    if c1.get().as_deref() == Some("last") {
        oks.ok(9);
    }
    oks.ok(10);
    x.join().unwrap();
    y.join().unwrap();
    assert_eq!(oks.get(), (1..=10).collect::<Vec<_>>());
}

#[test]
fn seed_tutorial_squares() {
    // Coro::Intro's squaring coro and its two channels.
    let calculate = Channel::new();
    let result = Channel::new();
    let (c, r) = (calculate.clone(), result.clone());
    let _squarer = corio::spawn(move || {
        loop {
            let num: u64 = c.get().unwrap();
            r.put(num * num).unwrap();
        }
    });
    let mut out = String::new();
    for n in [1u64, 2, 5, 10, 77] {
        calculate.put(n).unwrap();
        out += &format!("{n} ** 2 = {}\n", result.get().unwrap());
    }
    assert_eq!(
        out,
        "1 ** 2 = 1\n2 ** 2 = 4\n5 ** 2 = 25\n10 ** 2 = 100\n77 ** 2 = 5929\n"
    );
}

#[test]
fn a_rendezvous_put_returns_only_after_a_getter_took_the_item() {
    let log = Log::new();
    let ch = Channel::bounded(0);
    let (c, l) = (ch.clone(), log.clone());
    let putter = corio::spawn(move || {
        c.put(1).unwrap();
        l.push("put returned");
    });
    corio::cede();
    assert!(!putter.is_finished());
    assert_eq!(ch.len(), 0, "a blocked putter's item is not counted");
    log.push("getting");
    assert_eq!(ch.get(), Some(1));
    putter.join().unwrap();
    assert_eq!(log.get(), ["getting", "put returned"]);
}

#[test]
fn a_bounded_channel_blocks_putters_while_full_and_keeps_order() {
    let ch = Channel::bounded(2);
    let c = ch.clone();
    let putter = corio::spawn(move || {
        for i in 0..6 {
            c.put(i).unwrap();
        }
    });
    corio::cede();
    assert_eq!(ch.len(), 2);
    assert!(!putter.is_finished());
    let got: Vec<i32> = (0..6).map(|_| ch.get().unwrap()).collect();
    assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    putter.join().unwrap();
}

#[test]
fn getters_and_putters_are_served_first_come_first_served() {
    let log = Log::new();
    let ch = Channel::new();
    let hs: Vec<_> = (0..3)
        .map(|i| {
            let (c, l) = (ch.clone(), log.clone());
            corio::spawn(move || {
                let v: u8 = c.get().unwrap();
                l.push(format!("getter {i} got {v}"));
            })
        })
        .collect();
    corio::cede();
    for v in [10, 20, 30] {
        ch.put(v).unwrap();
    }
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(
        log.get(),
        ["getter 0 got 10", "getter 1 got 20", "getter 2 got 30"]
    );
}

#[test]
fn shutdown_drains_then_returns_none_and_refuses_puts() {
    let ch = Channel::new();
    ch.put(1).unwrap();
    ch.put(2).unwrap();
    ch.shutdown();
    ch.shutdown(); // harmless twice
    assert!(ch.is_shutdown());
    assert_eq!(ch.put(3).unwrap_err().into_inner(), 3);
    assert_eq!(ch.get(), Some(1));
    assert_eq!(ch.get(), Some(2));
    assert_eq!(ch.get(), None);
    assert_eq!(ch.get(), None);
}

#[test]
fn shutdown_wakes_waiting_getters_and_putters() {
    let ch = Channel::<u8>::bounded(0);
    let c = ch.clone();
    let getter = corio::spawn(move || c.get());
    corio::cede();
    ch.shutdown();
    assert_eq!(getter.join().unwrap(), None);
    let full = Channel::bounded(1);
    full.put(1).unwrap();
    let c = full.clone();
    let putter = corio::spawn(move || c.put(2));
    corio::cede();
    full.shutdown();
    assert_eq!(
        putter.join().unwrap().unwrap_err().0,
        2,
        "a blocked putter gets its value back"
    );
    assert_eq!(full.get(), Some(1), "buffered items can still be drained");
}

#[test]
fn try_put_and_try_get() {
    let ch = Channel::bounded(1);
    assert_eq!(ch.try_get(), None);
    assert!(ch.try_put('a').is_ok());
    assert!(matches!(ch.try_put('b'), Err(TryPutError::Full('b'))));
    assert_eq!(ch.try_get(), Some('a'));
    let rdv = Channel::bounded(0);
    assert!(
        matches!(rdv.try_put(1), Err(TryPutError::Full(1))),
        "nobody waits on the rendezvous"
    );
    let r = rdv.clone();
    let getter = corio::spawn(move || r.get());
    corio::cede();
    assert!(rdv.try_put(2).is_ok(), "a getter waits: it takes the item");
    assert_eq!(getter.join().unwrap(), Some(2));
}

#[test]
fn get_timeout_gives_up_and_leaves_no_trace() {
    let ch = Channel::<u8>::new();
    assert_eq!(ch.get_timeout(Duration::from_millis(2)), None);
    let c = ch.clone();
    let h = corio::spawn(move || c.get_timeout(Duration::from_secs(5)));
    corio::cede();
    ch.put(7).unwrap();
    assert_eq!(h.join().unwrap(), Some(7));
    assert!(ch.is_empty());
}

#[test]
fn iteration_ends_at_shutdown() {
    let ch = Channel::new();
    let c = ch.clone();
    let producer = corio::spawn(move || {
        for i in 0..5 {
            c.put(i).unwrap();
            corio::cede();
        }
        c.shutdown();
    });
    let mut seen = Vec::new();
    for v in &ch {
        seen.push(v);
    }
    assert_eq!(seen, [0, 1, 2, 3, 4]);
    producer.join().unwrap();
    assert_eq!(ch.into_iter().count(), 0);
}

#[test]
fn a_cancelled_getter_passes_its_item_on() {
    let ch = Channel::new();
    let c = ch.clone();
    let doomed = corio::spawn(move || c.get());
    let c = ch.clone();
    let next = corio::spawn(move || c.get());
    corio::cede();
    ch.put("item").unwrap(); // wakes `doomed`...
    doomed.cancel(); // ...which never takes it
    assert_eq!(next.join().unwrap(), Some("item"));
}

#[test]
fn a_cancelled_putter_drops_its_item_and_leaves_the_queue() {
    let log = Log::new();
    let ch = Channel::bounded(0);
    let (c, l) = (ch.clone(), log.clone());
    let putter = corio::spawn(move || {
        c.put(DropLog {
            log: l,
            what: "item".into(),
        })
        .ok();
    });
    corio::cede();
    putter.cancel();
    assert_eq!(log.get().len(), 1, "the unsent item was dropped");
    assert_eq!(ch.try_get().map(|_| ()), None, "nothing is left behind");
}

#[test]
fn channels_are_shared_by_cloning_and_iterate_by_value() {
    let ch: Channel<Rc<u8>> = Channel::new();
    let other = ch.clone();
    other.put(Rc::new(1)).unwrap();
    assert_eq!(*ch.get().unwrap(), 1);
    assert_eq!(ch.capacity(), None);
    assert_eq!(Channel::<u8>::bounded(4).capacity(), Some(4));
}
