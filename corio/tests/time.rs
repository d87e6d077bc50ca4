//! Timers: `sleep`, `sleep_until`, `timeout`.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use util::{DropLog, Log};

const MS: Duration = Duration::from_millis(1);

#[test]
fn sleepers_wake_in_deadline_order() {
    let log = Log::new();
    let hs: Vec<_> = [30u64, 10, 20]
        .into_iter()
        .map(|ms| {
            let l = log.clone();
            corio::spawn(move || {
                corio::sleep(MS * ms as u32);
                l.push(format!("{ms}"));
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(log.get(), ["10", "20", "30"]);
}

#[test]
fn the_main_coro_sleeps_without_a_deadlock_report() {
    let start = Instant::now();
    corio::sleep(5 * MS);
    assert!(start.elapsed() >= 5 * MS);
    let h = corio::spawn(|| {
        corio::sleep(5 * MS);
        "slept"
    });
    assert_eq!(h.join().unwrap(), "slept");
}

#[test]
fn sleep_until_a_past_deadline_lets_others_run_and_returns() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let low = corio::Builder::new()
        .prio(corio::PRIO_LOW)
        .spawn(move || r.set(true))
        .unwrap();
    corio::sleep_until(Instant::now() - MS);
    assert!(ran.get(), "a zero sleep gives even lower priorities a turn");
    low.join().unwrap();
    corio::sleep(Duration::ZERO);
}

#[test]
fn many_sleepers_all_wake_in_order() {
    let log = Rc::new(std::cell::RefCell::new(Vec::new()));
    let n = 2000u32;
    // The base is fixed once every sleeper is spawned, far enough ahead
    // that they arm their timers before the first deadline (normally all of
    // them; on a loaded machine under valgrind some may arm late, and a
    // late deadline just cedes).
    let base: Rc<std::cell::Cell<Option<Instant>>> = Rc::default();
    let hs: Vec<_> = (0..n)
        .map(|i| {
            let l = log.clone();
            let base = base.clone();
            // Deadlines in a scrambled order.
            let ms = (i * 7919) % 50;
            corio::spawn(move || {
                let deadline = base.get().expect("set before any sleeper runs") + MS * ms;
                let late = Instant::now() >= deadline;
                corio::sleep_until(deadline);
                l.borrow_mut().push((ms, late));
            })
        })
        .collect();
    base.set(Some(Instant::now() + 1000 * MS));
    for h in hs {
        h.join().unwrap();
    }
    let woke = log.borrow();
    assert_eq!(woke.len(), n as usize);
    let in_time: Vec<u32> = woke.iter().filter(|w| !w.1).map(|w| w.0).collect();
    assert!(
        in_time.len() > n as usize / 2,
        "{} armed in time",
        in_time.len()
    );
    assert!(
        in_time.windows(2).all(|w| w[0] <= w[1]),
        "woke out of deadline order"
    );
}

#[test]
fn cancelling_a_sleeper_disarms_its_timer() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        let _g = DropLog {
            log: l.clone(),
            what: "sleeper".into(),
        };
        corio::sleep(Duration::from_secs(3600));
    });
    corio::cede();
    h.cancel();
    assert_eq!(log.get().len(), 1);
    // No timer is left: with nothing else to do, this deadlocks at once
    // instead of sleeping for an hour.
    let r = std::panic::catch_unwind(|| {
        corio::schedule();
    });
    assert!(r.is_err());
}

#[test]
fn coros_that_only_cede_do_not_starve_timers() {
    let woke = Rc::new(Cell::new(false));
    let w = woke.clone();
    let sleeper = corio::spawn(move || {
        corio::sleep(5 * MS);
        w.set(true);
    });
    let w = woke.clone();
    let spinner = corio::spawn(move || {
        let start = Instant::now();
        while !w.get() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the timer never fired"
            );
            corio::cede();
        }
    });
    spinner.join().unwrap();
    sleeper.join().unwrap();
}

#[test]
fn timeout_interrupts_whatever_blocking_call_it_reaches() {
    let log = Log::new();
    let l = log.clone();
    let r = corio::timeout(10 * MS, move || {
        let _g = DropLog {
            log: l.clone(),
            what: "inside".into(),
        };
        corio::schedule(); // nothing will wake it but the timeout
        "unreachable"
    });
    assert_eq!(r, Err(corio::Elapsed::new()));
    assert_eq!(log.get().len(), 1, "the closure's Drops ran");
    assert_eq!(r.unwrap_err().to_string(), "deadline has elapsed");
    let io: std::io::Error = r.unwrap_err().into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
}

#[test]
fn timeout_returns_the_value_when_in_time_and_leaves_no_interrupt_behind() {
    let n = std::hint::black_box(21);
    let borrowed = &n; // the closure need not be 'static
    assert_eq!(
        corio::timeout(Duration::from_secs(5), || *borrowed * 2),
        Ok(42)
    );
    // A closure that never blocks cannot be interrupted, but returning
    // after the deadline is not "in time": `Err`, its value dropped; and
    // the expired deadline does not hit the next call.
    let dropped = std::rc::Rc::new(std::cell::Cell::new(false));
    struct Flag(std::rc::Rc<std::cell::Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let d = dropped.clone();
    let r = corio::timeout(MS, move || {
        let t = Instant::now();
        while t.elapsed() < 5 * MS {}
        Flag(d)
    });
    assert!(matches!(r, Err(corio::Timeout { .. })));
    assert!(dropped.get(), "the late value was dropped");
    corio::sleep(2 * MS); // must not unwind
}

#[test]
fn a_deadline_that_passes_after_the_closure_returned_changes_nothing() {
    let r = corio::timeout(20 * MS, || 7);
    assert_eq!(r, Ok(7));
    corio::sleep(40 * MS); // past that deadline: nothing fires
    assert_eq!(corio::timeout(20 * MS, || 8), Ok(8));
}

#[test]
fn a_closure_that_catches_the_interrupt_and_returns_still_timed_out() {
    // The closure swallows the unwind of its own deadline (as a blocking
    // call that cannot unwind would swallow an ETIMEDOUT) and returns
    // normally: the deadline passed first, so it is `Err(Timeout)`.
    let r = corio::timeout(5 * MS, || {
        let caught = std::panic::catch_unwind(|| corio::sleep(Duration::from_secs(60)));
        assert!(caught.is_err());
        "returned after its deadline"
    });
    assert_eq!(r, Err(corio::Timeout::new()));
    assert_eq!(
        corio::Elapsed::new(),
        corio::Timeout::new(),
        "the old name stays"
    );
}

#[test]
fn nested_timeouts_the_outer_one_wins_when_both_expire() {
    let inner_first = corio::timeout(Duration::from_secs(5), || {
        corio::timeout(5 * MS, || corio::sleep(Duration::from_secs(3600)))
    });
    assert_eq!(inner_first, Ok(Err(corio::Elapsed::new())));
    let outer_first = corio::timeout(5 * MS, || {
        corio::timeout(Duration::from_secs(5), || {
            corio::sleep(Duration::from_secs(3600))
        })
    });
    assert_eq!(outer_first, Err(corio::Elapsed::new()));
}

#[test]
fn timeout_works_in_any_coro_and_lets_panics_and_cancels_through() {
    let h = corio::spawn(|| corio::timeout(5 * MS, || corio::sleep(Duration::from_secs(60))));
    assert_eq!(h.join().unwrap(), Err(corio::Elapsed::new()));
    let p = std::panic::catch_unwind(|| corio::timeout(Duration::from_secs(5), || panic!("inner")));
    assert!(p.is_err());
    let victim = corio::spawn(|| {
        corio::timeout(Duration::from_secs(60), || {
            corio::sleep(Duration::from_secs(60))
        })
    });
    corio::cede();
    victim.cancel();
    assert!(victim.join().unwrap_err().is_cancelled());
}

#[test]
fn equal_deadlines_wake_in_the_order_they_were_armed() {
    // Deadlines that go back and forth, several of each: sleepers of one
    // deadline wake first come, first served.
    let log = Log::new();
    let base = Instant::now() + 300 * MS;
    let plan = [0u32, 20, 0, 20, 10, 0, 20, 10, 0, 10];
    let hs: Vec<_> = plan
        .iter()
        .enumerate()
        .map(|(i, &ms)| {
            let l = log.clone();
            corio::spawn(move || {
                corio::sleep_until(base + MS * ms);
                l.push(format!("{ms}:{i}"));
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(
        log.get(),
        [
            "0:0", "0:2", "0:5", "0:8", "10:4", "10:7", "10:9", "20:1", "20:3", "20:6"
        ]
    );
}

#[test]
fn timers_cancelled_in_bulk_leave_the_rest_on_time() {
    // Many sleepers armed in deadline order, most cancelled before they
    // fire (so most queued entries go stale and get swept), then more
    // armed: the survivors still wake, in order, and nothing is left.
    let log = Log::new();
    let sleepers: Vec<_> = (0..500u32)
        .map(|i| {
            let l = log.clone();
            corio::spawn(move || {
                corio::sleep(MS * (100 + i / 10));
                l.push(format!("{i}"));
            })
        })
        .collect();
    corio::cede();
    let mut kept = Vec::new();
    for (i, h) in sleepers.into_iter().enumerate() {
        if i % 50 == 0 {
            kept.push(h);
        } else {
            h.cancel();
        }
    }
    let late: Vec<_> = (0..100u32)
        .map(|i| {
            let l = log.clone();
            corio::spawn(move || {
                corio::sleep(MS * 200);
                l.push(format!("late {i}"));
            })
        })
        .collect();
    for h in kept.into_iter().chain(late) {
        h.join().unwrap();
    }
    let got = log.get();
    let mut want: Vec<String> = (0..500).step_by(50).map(|i| format!("{i}")).collect();
    want.extend((0..100).map(|i| format!("late {i}")));
    assert_eq!(got, want);
    // No timer left behind: with nothing to do, this is a deadlock.
    assert!(std::panic::catch_unwind(corio::schedule).is_err());
}

/// Whether this process can call `epoll_pwait2` (Linux ≥ 5.11), which
/// lets a thread with a reactor wait for less than a millisecond: asked
/// the way corio's reactor finds out, by calling it. Older kernels,
/// seccomp filters, valgrind and qemu's user-mode emulation answer
/// `ENOSYS` or `EPERM`, and corio then waits with `epoll_wait`'s whole
/// milliseconds.
fn epoll_pwait2_works() -> bool {
    // SAFETY: plain system calls on a descriptor this function owns; the
    // event buffer and the timeout outlive the call.
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        assert!(
            ep >= 0,
            "epoll_create1: {}",
            std::io::Error::last_os_error()
        );
        let mut ev = std::mem::zeroed::<libc::epoll_event>();
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let r = libc::syscall(
            libc::SYS_epoll_pwait2,
            ep,
            &mut ev as *mut libc::epoll_event,
            1,
            &zero as *const libc::timespec,
            std::ptr::null::<libc::sigset_t>(),
            0usize,
        );
        let e = std::io::Error::last_os_error();
        libc::close(ep);
        r >= 0 || !matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM))
    }
}

/// With a reactor (here: a listening socket), the idle scheduler waits in
/// the poll set for the next timer. A sleep never returns before its
/// deadline, and its timeout is not rounded up to whole milliseconds: a
/// 100 µs sleep on an otherwise idle thread wakes well within a
/// millisecond of its deadline. (Rounded up, every one would wake about
/// 900 µs late; a loaded machine only delays wake-ups, so the earliest of
/// many tries is what shows the resolution.)
#[test]
fn with_a_reactor_a_short_sleep_wakes_soon_after_its_deadline_and_never_before() {
    let _listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let d = Duration::from_micros(100);
    let mut earliest = Duration::MAX;
    for _ in 0..50 {
        let start = Instant::now();
        corio::sleep(d);
        let took = start.elapsed();
        assert!(took >= d, "a {d:?} sleep returned after {took:?}");
        earliest = earliest.min(took - d);
    }
    if !epoll_pwait2_works() {
        eprintln!(
            "not judged: epoll_pwait2 is not available here, so waits are whole milliseconds"
        );
    } else if !util::not_under_emulation("timer resolution") {
        assert!(
            earliest < Duration::from_micros(500),
            "the earliest of 50 wake-ups was {earliest:?} after its deadline"
        );
    }
}
