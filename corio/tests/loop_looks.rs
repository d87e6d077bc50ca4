//! How often, and in what order, the scheduler's loop looks at its
//! descriptors and timers while coros keep it busy, and how precisely it
//! waits for a timer when nothing is ready.

use std::time::Duration;

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
