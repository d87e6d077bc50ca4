//! How often, and in what order, the scheduler's loop looks at its
//! descriptors and timers while coros keep it busy, and how precisely it
//! waits for a timer when nothing is ready.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io::{Read, Write};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use corio::net::UnixStream;

/// Two coros that hand the turn to each other through futures' wakers, for
/// `rounds` rounds each: every hand-over parks one of them in `block_on`
/// (a wait counted as one after system calls) and readies the other
/// directly, so the ready queue is never empty and only the loop's periodic
/// look can see the reactor. `each_round` runs in the first player at the
/// start of each of its rounds, with the round's number.
fn play(rounds: u32, each_round: impl Fn(u32) + 'static) -> [corio::JoinHandle<()>; 2] {
    let turn = Rc::new(Cell::new(0u8));
    let wakers: Rc<RefCell<[Option<Waker>; 2]>> = Rc::default();
    let each_round = Rc::new(each_round);
    [0u8, 1].map(|me| {
        let (turn, wakers, each_round) = (turn.clone(), wakers.clone(), each_round.clone());
        corio::spawn(move || {
            for round in 0..rounds {
                corio::block_on(poll_fn(|cx| {
                    if turn.get() == me {
                        Poll::Ready(())
                    } else {
                        wakers.borrow_mut()[usize::from(me)] = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }));
                if me == 0 {
                    each_round(round);
                }
                turn.set(1 - me);
                let other = wakers.borrow_mut()[usize::from(1 - me)].take();
                if let Some(w) = other {
                    w.wake();
                }
            }
        })
    })
}

#[test]
fn coros_that_wait_on_futures_have_the_loop_look_at_descriptors_every_few_waits() {
    let (rx, tx) = UnixStream::pair().unwrap();
    // The first player writes a byte at each of its rounds; the reader
    // drains what is there each time the loop's look readies it, and notes
    // the round.
    let woke_at: Rc<RefCell<Vec<u32>>> = Rc::default();
    let round = Rc::new(Cell::new(0u32));
    let reader = {
        let (woke_at, round) = (woke_at.clone(), round.clone());
        corio::spawn(move || {
            let mut rx = rx;
            let mut buf = [0u8; 64];
            loop {
                match rx.read(&mut buf).unwrap() {
                    0 => return,
                    _ => {
                        let r = round.get();
                        let mut w = woke_at.borrow_mut();
                        if w.last() != Some(&r) {
                            w.push(r);
                        }
                    }
                }
            }
        })
    };
    corio::cede(); // the reader parks on its empty socket
    // (`tx` closes when both players are done with the closure.)
    let players = play(200, move |r| {
        round.set(r);
        (&tx).write_all(b"x").unwrap();
    });
    for p in players {
        p.join().unwrap();
    }
    reader.join().unwrap();
    let woke_at = woke_at.borrow();
    assert!(woke_at.len() >= 10, "the reader woke at rounds {woke_at:?}");
    // Each round is two parks in `block_on`; counted as four switches each
    // toward the loop's look every 64, the loop looks every 8 rounds (it
    // looked every 32 when they counted as one).
    let gaps: Vec<u32> = woke_at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|&g| g <= 9),
        "rounds between the reader's wake-ups: {gaps:?}"
    );
}

#[test]
fn at_a_look_coros_readied_by_descriptors_go_before_coros_whose_timers_fell_due() {
    let (rx, mut tx) = UnixStream::pair().unwrap();
    let order: Rc<RefCell<Vec<&str>>> = Rc::default();
    let sleeper = {
        let order = order.clone();
        corio::spawn(move || {
            corio::sleep(Duration::from_micros(100));
            order.borrow_mut().push("timer");
        })
    };
    let reader = {
        let order = order.clone();
        corio::spawn(move || {
            let mut rx = rx;
            let mut byte = [0u8; 1];
            rx.read_exact(&mut byte).unwrap();
            order.borrow_mut().push("descriptor");
        })
    };
    corio::cede(); // both park
    assert!(order.borrow().is_empty());
    // Both become ready while the thread is busy (without a switch): the
    // next look finds the byte and the due timer together. A spin, not
    // `thread::sleep`: with the `hook` feature that sleep is a corio
    // sleep, whose idle wait would fire the timer on its own first
    // whenever more than its 100 µs passed before it.
    tx.write_all(b"x").unwrap();
    let busy = std::time::Instant::now();
    while busy.elapsed() < Duration::from_millis(2) {
        std::hint::spin_loop();
    }
    let players = play(40, |_| {});
    for p in players {
        p.join().unwrap();
    }
    sleeper.join().unwrap();
    reader.join().unwrap();
    assert_eq!(*order.borrow(), ["descriptor", "timer"]);
}

fn timer_slack() -> i32 {
    // SAFETY: PR_GET_TIMERSLACK takes no pointer.
    unsafe { libc::prctl(libc::PR_GET_TIMERSLACK) }
}

fn set_timer_slack(ns: libc::c_ulong) {
    // SAFETY: PR_SET_TIMERSLACK takes a value, no pointer.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns) }, 0);
}

#[test]
fn a_thread_that_waits_for_a_timer_waits_with_a_10_us_timer_slack() {
    std::thread::spawn(|| {
        set_timer_slack(50_000); // the kernel's default
        corio::sleep(Duration::from_millis(1));
        assert_eq!(timer_slack(), 10_000);
    })
    .join()
    .unwrap();
}

#[test]
fn a_thread_whose_program_chose_its_timer_slack_keeps_it() {
    std::thread::spawn(|| {
        set_timer_slack(200_000);
        corio::sleep(Duration::from_millis(1));
        let h = corio::spawn(|| corio::sleep(Duration::from_millis(1)));
        h.join().unwrap();
        assert_eq!(timer_slack(), 200_000);
    })
    .join()
    .unwrap();
}
