//! `sync::bounded` / `sync::unbounded`: a channel in `Sender` and
//! `Receiver` halves that close it when the other side is gone.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use corio::sync::{Closed, TryPutError, bounded, unbounded};

#[test]
fn dropping_every_sender_ends_the_receivers_loop_after_the_buffer() {
    let (tx, rx) = unbounded();
    let tx2 = tx.clone();
    let consumer = corio::spawn(move || rx.iter().collect::<Vec<u32>>());
    tx.put(1).unwrap();
    tx2.put(2).unwrap();
    drop(tx);
    corio::cede();
    // One sender is left: the consumer still waits.
    assert!(!consumer.is_finished());
    tx2.put(3).unwrap();
    drop(tx2);
    assert_eq!(consumer.join().unwrap(), [1, 2, 3]);
}

#[test]
fn a_waiting_getter_is_woken_when_the_last_sender_goes() {
    let (tx, rx) = bounded::<u8>(0);
    let getter = corio::spawn(move || (rx.get(), rx.is_closed()));
    corio::cede(); // it waits
    drop(tx);
    assert_eq!(getter.join().unwrap(), (None, true));
}

#[test]
fn dropping_every_receiver_fails_puts_and_gives_values_back() {
    let (tx, rx) = bounded(1);
    let rx2 = rx.clone();
    tx.put("buffered").unwrap();
    // A putter waits on the full channel.
    let t = tx.clone();
    let putter = corio::spawn(move || t.put("waiting"));
    corio::cede();
    drop(rx);
    corio::cede();
    assert!(!putter.is_finished(), "one receiver is left");
    drop(rx2);
    assert_eq!(putter.join().unwrap(), Err(Closed("waiting")));
    assert_eq!(tx.put("late"), Err(Closed("late")));
    assert!(matches!(tx.try_put("try"), Err(TryPutError::Closed("try"))));
    assert!(tx.is_closed());
    // The buffered item was dropped with the last receiver.
    assert_eq!(tx.len(), 0);
}

struct Counted(Rc<Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn the_last_receiver_drops_what_nobody_can_take() {
    let dropped = Rc::new(Cell::new(0));
    let (tx, rx) = unbounded();
    for _ in 0..5 {
        assert!(tx.put(Counted(dropped.clone())).is_ok());
    }
    drop(rx);
    assert_eq!(dropped.get(), 5);
    drop(tx);
}

#[test]
fn bounded_halves_keep_channel_semantics() {
    let (tx, rx) = bounded(2);
    tx.put(1).unwrap();
    tx.put(2).unwrap();
    assert!(matches!(tx.try_put(3), Err(TryPutError::Full(3))));
    assert_eq!((tx.len(), rx.len()), (2, 2));
    let t = tx.clone();
    let putter = corio::spawn(move || t.put(3));
    corio::cede();
    assert!(!putter.is_finished(), "full: the putter waits");
    assert_eq!(rx.get(), Some(1));
    putter.join().unwrap().unwrap();
    assert_eq!(rx.try_get(), Some(2));
    assert_eq!(rx.get_timeout(Duration::from_secs(5)), Some(3));
    assert_eq!(rx.get_timeout(Duration::from_millis(5)), None);
    assert!(rx.is_empty() && tx.is_empty());
}

#[test]
fn rendezvous_put_returns_when_taken() {
    let (tx, rx) = bounded(0);
    let taken = Rc::new(Cell::new(false));
    let tk = taken.clone();
    let putter = corio::spawn(move || {
        tx.put(9).unwrap();
        tk.get()
    });
    corio::cede();
    assert!(!putter.is_finished());
    assert_eq!(rx.get(), Some(9));
    taken.set(true);
    assert!(putter.join().unwrap(), "put returned only after the get");
}

#[test]
fn several_receivers_share_the_items() {
    let (tx, rx) = unbounded();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            corio::spawn(move || {
                let mut got = Vec::new();
                for v in &rx {
                    got.push(v);
                    corio::cede();
                }
                got
            })
        })
        .collect();
    drop(rx);
    for i in 0..30 {
        tx.put(i).unwrap();
    }
    drop(tx);
    let mut all: Vec<i32> = workers
        .into_iter()
        .flat_map(|w| {
            let got = w.join().unwrap();
            assert!(!got.is_empty(), "every worker got some");
            got
        })
        .collect();
    all.sort();
    assert_eq!(all, (0..30).collect::<Vec<_>>());
}

#[test]
fn an_owned_receiver_iterates_to_the_end() {
    let (tx, rx) = unbounded();
    let producer = corio::spawn(move || {
        for c in "corio".chars() {
            tx.put(c).unwrap();
            corio::sleep(Duration::from_millis(1));
        }
    });
    let word: String = rx.into_iter().collect();
    assert_eq!(word, "corio");
    producer.join().unwrap();
}

#[test]
fn a_cancelled_getter_takes_nothing() {
    let (tx, rx) = unbounded();
    let r = rx.clone();
    let getter = corio::spawn(move || r.get());
    corio::cede();
    getter.cancel();
    tx.put(1).unwrap();
    assert_eq!(rx.try_get(), Some(1));
}
