//! Safe programs that once reached undefined behaviour or an abort
//! (issue 12). Each would read freed memory, kill the wrong coro or abort
//! the process on the code before its fix; here each must behave, and the
//! file runs under valgrind in CI, which catches a read of freed memory
//! even where it does not crash.

mod util;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use corio::{Generator, GeneratorState, Yielder};
use util::{Log, panic_message};

corio::coro_local! {
    static NAMES: RefCell<Vec<String>> = RefCell::new(vec!["a coro-local value".to_string()]);
}

fn yield_inside_with(y: &Yielder<()>) -> usize {
    NAMES.with(|names| {
        y.yield_(());
        names.borrow().len()
    })
}

#[test]
fn a_generator_cannot_yield_inside_coro_local_with() {
    // The generator would carry `names` (a reference into the coro's local
    // table) out of the coro; the coro then ends and frees the table.
    let h = corio::spawn(|| {
        let mut g = Generator::new(|y: &Yielder<()>, ()| yield_inside_with(y));
        g.resume(());
        g
    });
    let err = match h.join() {
        Ok(mut g) => {
            // The old behaviour: the coro ended with the generator suspended
            // inside `with`; resuming it reads its freed locals.
            let _ = g.resume(());
            panic!("the yield inside CoroLocal::with was allowed");
        }
        Err(e) => e,
    };
    let msg = err.panic_message().unwrap_or_default().to_string();
    assert!(
        msg.contains("yield_ called inside CoroLocal::with"),
        "{msg}"
    );
}

#[test]
fn the_refused_yield_unwinds_the_bound_frames_in_their_coro() {
    let log = Log::new();
    let l = log.clone();
    let mut g = Generator::new(move |y: &Yielder<()>, ()| {
        let _d = util::DropLog {
            log: l.clone(),
            what: "frame".into(),
        };
        NAMES.with(|_| y.yield_(()));
    });
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.resume(())));
    assert!(err.is_err());
    assert!(g.is_complete());
    let me = corio::current().id();
    assert_eq!(log.get(), [format!("drop frame in {me}")]);
    // The coro's locals are untouched and usable.
    assert_eq!(NAMES.with(|n| n.borrow().len()), 1);
}

#[test]
fn yields_outside_bound_calls_and_nested_generators_still_work() {
    // A generator may use `with` and `timeout` as long as it does not
    // yield inside them; a generator resumed inside `with` may yield to it.
    let mut inner = Generator::new(|y: &Yielder<u32>, ()| {
        for i in 0..3 {
            y.yield_(i);
        }
    });
    let mut outer = Generator::new(move |y: &Yielder<u32>, ()| {
        loop {
            let v = NAMES.with(|_| inner.next());
            let v = corio::timeout(Duration::from_secs(5), || v).unwrap();
            match v {
                Some(v) => y.yield_(v * 10),
                None => break,
            }
        }
    });
    let mut got = Vec::new();
    while let GeneratorState::Yielded(v) = outer.resume(()) {
        got.push(v);
    }
    assert_eq!(got, [0, 10, 20]);
}

#[test]
fn a_generator_cannot_yield_inside_timeout() {
    // The timer names the coro that called `timeout`; a generator suspended
    // in there, outliving that coro, once had the timer interrupt whatever
    // coro reused the control block.
    let h = corio::spawn(|| {
        let mut g = Generator::new(|y: &Yielder<()>, ()| {
            let _ = corio::timeout(Duration::from_millis(20), || y.yield_(()));
        });
        g.resume(());
        g
    });
    let err = h.join().expect_err("the yield inside timeout is refused");
    let msg = err.panic_message().unwrap_or_default().to_string();
    assert!(msg.contains("timeout()"), "{msg}");
    // An unrelated coro that never called timeout() lives on after the
    // deadline of the refused one.
    let b = corio::spawn(|| {
        corio::sleep(Duration::from_millis(60));
        "alive"
    });
    assert_eq!(b.join().unwrap(), "alive");
}

#[test]
fn a_forgotten_generator_leaves_no_timer_behind() {
    let g = Generator::new(|y: &Yielder<()>, ()| {
        let _ = corio::timeout(Duration::from_millis(10), || y.yield_(()));
    });
    let mut g = std::mem::ManuallyDrop::new(g);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.resume(())));
    assert!(r.is_err());
    // Nothing armed is left to interrupt this (main) coro later.
    corio::sleep(Duration::from_millis(40));
    corio::cede();
}

#[test]
fn a_generator_in_a_thread_local_outliving_the_scheduler() {
    // A generator kept in a thread-local that is destroyed after the
    // scheduler: it cannot hold a timer (the yield is refused), and a plain
    // suspended one unwinds harmlessly after the teardown.
    thread_local! {
        static KEEP: RefCell<Option<Generator<()>>> = const { RefCell::new(None) };
    }
    let ok = std::thread::spawn(|| {
        KEEP.with(|_| ()); // registered before corio's teardown: dropped after it
        let dropped = Rc::new(Cell::new(false));
        struct Flag(Rc<Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let d = dropped.clone();
        let mut g = Generator::new(move |y: &Yielder<()>, ()| {
            let _f = Flag(d);
            y.yield_(());
        });
        g.resume(());
        let mut bad = Generator::new(|y: &Yielder<()>, ()| {
            let _ = corio::timeout(Duration::from_secs(1), || y.yield_(()));
        });
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bad.resume(())));
        KEEP.with(|k| *k.borrow_mut() = Some(g));
        corio::cede(); // the scheduler exists
        refused.is_err() && !dropped.get()
    })
    .join()
    .expect("the thread exits cleanly");
    assert!(ok);
}

struct Noisy(&'static str, Log);

impl Drop for Noisy {
    fn drop(&mut self) {
        // A Drop that blocks, and looks at who is running.
        corio::cede();
        self.1
            .push(format!("drop {} in {}", self.0, corio::current().id()));
    }
}

corio::coro_local! {
    static LATE: RefCell<Option<Noisy>> = const { RefCell::new(None) };
}

#[test]
fn values_left_by_on_destroy_are_dropped_in_the_ending_coro() {
    // A coro-local first touched in an on_destroy callback, a hook installed
    // there, a throw at itself: all were once dropped in the scheduler loop
    // as the dead coro (a `cede` in their Drop suspended a finished coro).
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        let me = corio::current();
        let l2 = l.clone();
        me.on_destroy(move || {
            LATE.with_borrow_mut(|v| *v = Some(Noisy("late local", l2.clone())));
            let l3 = l2.clone();
            std::mem::forget(corio::on_enter(move || l3.push("hook")));
            corio::current().on_destroy({
                let l4 = l2.clone();
                move || l4.push("second callback")
            });
        });
        me.id()
    });
    let id = h.coro().id();
    assert_eq!(h.join().unwrap(), id);
    let got = log.get();
    assert!(got.contains(&format!("drop late local in {id}")), "{got:?}");
    assert!(got.contains(&"second callback".to_string()), "{got:?}");
}

struct SendNoisy(&'static str, Arc<std::sync::Mutex<Vec<String>>>);

impl Drop for SendNoisy {
    fn drop(&mut self) {
        corio::cede();
        let who = corio::current().id();
        self.1
            .lock()
            .unwrap()
            .push(format!("drop {} in {who}", self.0));
    }
}

#[test]
fn a_throw_at_an_ending_coro_is_dropped_in_that_coro() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = log.clone();
    let h = corio::spawn(move || {
        let me = corio::current();
        me.on_destroy(move || corio::current().throw(SendNoisy("payload", l)));
    });
    let id = h.coro().id();
    h.join().unwrap();
    assert_eq!(*log.lock().unwrap(), [format!("drop payload in {id}")]);
}

#[test]
fn current_in_a_drop_of_a_late_value_is_the_ending_coro() {
    let seen = Rc::new(Cell::new(None));
    struct Who(Rc<Cell<Option<corio::CoroId>>>);
    impl Drop for Who {
        fn drop(&mut self) {
            let me = corio::current();
            assert!(!me.is_done());
            self.0.set(Some(me.id()));
        }
    }
    corio::coro_local! {
        static WHO: RefCell<Option<Who>> = const { RefCell::new(None) };
    }
    let s = seen.clone();
    let h = corio::spawn(move || {
        corio::current().on_destroy(move || WHO.with_borrow_mut(|w| *w = Some(Who(s))));
    });
    let id = h.coro().id();
    h.join().unwrap();
    assert_eq!(seen.get(), Some(id));
}

#[test]
fn ps_after_a_caught_deadlock_does_not_read_what_main_waited_on() {
    let caught = std::panic::catch_unwind(|| {
        // Main waits on a mutex in its own frame; nothing can release it.
        let m = corio::sync::Mutex::new(0u8);
        let held = m.lock();
        let m2 = &m;
        let _again = m2.lock();
        drop(held);
    });
    let msg = panic_message(caught.unwrap_err());
    assert!(msg.contains("deadlock detected"), "{msg}");
    // The mutex is gone; ps must not describe it.
    let listing = corio::debug::ps();
    assert!(listing.contains("[main]"), "{listing}");
    assert!(!listing.contains("mutex"), "{listing}");
}

#[test]
fn a_throw_at_a_coro_blocked_in_a_drop_while_it_panics_does_not_abort() {
    struct SlowDrop;
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            corio::sleep(Duration::from_millis(30));
        }
    }
    let h = corio::spawn(|| {
        let _s = SlowDrop;
        panic!("first");
    });
    corio::cede(); // it panics and sleeps in SlowDrop
    h.coro().throw("second");
    let err = h.join().unwrap_err();
    assert_eq!(err.panic_message(), Some("first"));
}

#[test]
fn a_timeout_expiring_while_its_coro_unwinds_in_a_drop_does_not_abort() {
    struct SlowDrop;
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            corio::sleep(Duration::from_millis(50));
        }
    }
    let h = corio::spawn(|| {
        corio::timeout(Duration::from_millis(10), || {
            let _s = SlowDrop;
            panic!("inner");
        })
    });
    let err = h.join().unwrap_err();
    assert_eq!(err.panic_message(), Some("inner"));
    // And a throw caught by user code during the unwind fires later.
    let h = corio::spawn(|| {
        let r = std::panic::catch_unwind(|| {
            struct Catch;
            impl Drop for Catch {
                fn drop(&mut self) {
                    corio::sleep(Duration::from_millis(20));
                }
            }
            let _c = Catch;
            panic!("caught");
        });
        assert!(r.is_err());
        corio::cede(); // the throw that arrived during the unwind fires here
        "not reached"
    });
    corio::cede();
    h.coro().throw("late");
    assert_eq!(h.join().unwrap_err().panic_message(), Some("late"));
}

struct PanicWaker(AtomicBool);

impl Wake for PanicWaker {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
        panic!("the waker panics");
    }
}

#[test]
fn a_panicking_waker_of_a_join_handle_does_not_abort() {
    let h = corio::spawn(|| {
        corio::cede();
        5
    });
    let w = Arc::new(PanicWaker(AtomicBool::new(false)));
    let waker = Waker::from(w.clone());
    let mut cx = Context::from_waker(&waker);
    let mut h = Box::pin(h);
    assert!(h.as_mut().poll(&mut cx).is_pending());
    corio::cede(); // it ends, and wakes the panicking waker
    corio::cede();
    assert!(w.0.load(Ordering::SeqCst));
    match h.as_mut().poll(&mut cx) {
        Poll::Ready(v) => assert_eq!(v.unwrap(), 5),
        Poll::Pending => panic!("ended coro not ready"),
    }
}

#[test]
fn a_drop_that_cancels_while_its_coro_unwinds_can_wait_for_a_victim_that_blocks() {
    // A unwinds (cancelled); a Drop on its way cancels B; B's own Drop
    // blocks. B came in while the thread was already panicking (A's
    // unwind), so a check of "is the thread panicking" cannot tell that B
    // unwinds too: its blocking Drop once had the cancel raised again
    // inside it — a panic in a destructor during cleanup, abort.
    struct SlowDrop(Log);
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            corio::sleep(Duration::from_millis(10));
            self.0.push("b dropped");
        }
    }
    struct CancelOnDrop(corio::Coro, Log);
    impl Drop for CancelOnDrop {
        fn drop(&mut self) {
            self.0.cancel();
            self.1.push("a cancelled b");
        }
    }
    let log = Log::new();
    let l = log.clone();
    let b = corio::spawn(move || {
        let _s = SlowDrop(l);
        corio::sleep(Duration::from_secs(3600));
    });
    corio::cede();
    let l = log.clone();
    let bc = b.coro();
    let a = corio::spawn(move || {
        let _c = CancelOnDrop(bc, l);
        corio::sleep(Duration::from_secs(3600));
    });
    corio::cede();
    a.cancel();
    assert!(a.join().unwrap_err().is_cancelled());
    assert!(b.join().unwrap_err().is_cancelled());
    assert_eq!(log.get(), ["b dropped", "a cancelled b"]);
}

// Issue 21: `block_on` keeps the coro that called it (its wait nodes, its
// kept timer, the waker's frame pointer) in its frame while the future's
// `poll` runs. A generator that yields from inside that `poll` once carried
// the frame out of the coro; when the coro ended and its control block was
// freed, the next round read freed memory.

/// A future whose first poll yields the generator `y` that runs it.
fn yielding_future(y: &Yielder<()>) -> impl Future<Output = ()> + '_ {
    std::future::poll_fn(move |_cx| {
        y.yield_(());
        Poll::Ready(())
    })
}

fn assert_block_on_refusal(err: corio::JoinError) {
    let msg = err.panic_message().unwrap_or_default().to_string();
    assert!(msg.contains("block_on()"), "{msg}");
}

/// The coro `h` ran a generator that yielded inside a `block_on`: it must
/// have ended with the refusal, and the thread's timers and coros go on.
fn assert_refused_and_the_thread_goes_on<T: 'static>(h: corio::JoinHandle<T>) {
    match h.join() {
        Ok(_) => panic!("the yield inside block_on was allowed"),
        Err(e) => assert_block_on_refusal(e),
    }
    let b = corio::spawn(|| {
        corio::sleep(Duration::from_millis(20));
        "alive"
    });
    assert_eq!(b.join().unwrap(), "alive");
}

#[test]
fn a_generator_cannot_yield_inside_block_on() {
    let log = Log::new();
    let l = log.clone();
    let h = corio::spawn(move || {
        let mut g = Generator::new(move |y: &Yielder<()>, ()| {
            let _d = util::DropLog {
                log: l.clone(),
                what: "future frame".into(),
            };
            corio::block_on(yielding_future(y));
        });
        g.resume(());
        g
    });
    let id = h.coro().id();
    match h.join() {
        Ok(mut g) => {
            // The old behaviour: the coro ended with `block_on` suspended in
            // the generator; the next round polls through a freed block.
            let _ = g.resume(());
            panic!("the yield inside block_on was allowed");
        }
        Err(e) => assert_block_on_refusal(e),
    }
    // The refused yield unwound the generator's frames in their own coro.
    assert_eq!(log.get(), [format!("drop future frame in {id}")]);
}

#[test]
fn a_generator_cannot_yield_inside_block_on_after_a_timer_was_armed() {
    // The poll parks the coro on a timer first (the sleep's timer is in the
    // poll's frame, under `block_on`'s), then yields: the old code carried
    // both away, and `fire_timers` later readied the freed coro.
    let h = corio::spawn(|| {
        let mut g = Generator::new(|y: &Yielder<()>, ()| {
            let mut polls = 0;
            corio::block_on(std::future::poll_fn(|cx| {
                polls += 1;
                if polls == 1 {
                    corio::sleep(Duration::from_millis(5));
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                y.yield_(());
                Poll::Ready(())
            }));
        });
        g.resume(());
        g
    });
    // Timers and coros of the thread go on as before.
    assert_refused_and_the_thread_goes_on(h);
}

#[test]
fn a_block_on_refusal_leaves_nothing_behind_when_control_blocks_are_reused() {
    // The freed control block, reallocated for new coros, was where the
    // carried-away frame pointed (SIGSEGV in half the runs).
    for _ in 0..4 {
        let h = corio::spawn(|| {
            let mut g = Generator::new(|y: &Yielder<()>, ()| {
                corio::block_on(yielding_future(y));
            });
            g.resume(());
            g
        });
        let Err(e) = h.join() else {
            panic!("the yield inside block_on was allowed");
        };
        assert_block_on_refusal(e);
        let hs: Vec<_> = (0..64u32)
            .map(|i| {
                corio::spawn(move || {
                    corio::block_on(async move {
                        corio::cede();
                        i
                    })
                })
            })
            .collect();
        let sum: u32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, (0..64).sum());
    }
}

#[test]
fn a_generator_may_run_block_on_whole_between_its_yields() {
    // Only a yield from inside a poll is refused: a generator that calls
    // `block_on` to completion and yields afterwards works, in a coro and
    // in the main coro.
    let mut g = Generator::new(|y: &Yielder<u32>, ()| {
        for i in 0..3 {
            let v = corio::block_on(async move { i * 10 });
            y.yield_(v);
        }
    });
    let got: Vec<u32> = g.by_ref().collect();
    assert_eq!(got, [0, 10, 20]);
    let h = corio::spawn(|| {
        let g = Generator::new(|y: &Yielder<u32>, ()| {
            let v = corio::block_on(corio::spawn(|| 7));
            y.yield_(v.unwrap());
        });
        g.collect::<Vec<_>>()
    });
    assert_eq!(h.join().unwrap(), [7]);
}

#[cfg(feature = "compat")]
#[test]
fn a_generator_cannot_yield_inside_block_on_with_a_kept_timer() {
    // hyper's timer registers its deadline in `block_on`'s frame, which
    // keeps a timer armed across parks; the yield comes while it is armed.
    use hyper::rt::Timer as _;
    let h = corio::spawn(|| {
        let mut g = Generator::new(|y: &Yielder<()>, ()| {
            let mut sleep = corio::compat::Timer.sleep(Duration::from_secs(10));
            let mut polls = 0;
            corio::block_on(std::future::poll_fn(|cx| {
                polls += 1;
                if polls == 1 {
                    assert!(sleep.as_mut().poll(cx).is_pending());
                    let w = cx.waker().clone();
                    drop(corio::spawn(move || {
                        corio::sleep(Duration::from_millis(5));
                        w.wake();
                    }));
                    return Poll::Pending;
                }
                y.yield_(());
                Poll::Ready(())
            }));
        });
        g.resume(());
        g
    });
    assert_refused_and_the_thread_goes_on(h);
}
