//! `debug::monitor`: the blocked-scheduler monitor, and `CORIO_MONITOR`.

mod util;

use std::sync::Mutex;
use std::time::Duration;

/// Collects the monitor's warnings.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == "corio::monitor"
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.0.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn a_coro_that_keeps_the_cpu_is_reported_while_and_after_it_does() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    let monitor = corio::debug::monitor(Duration::from_millis(50)).unwrap();

    // A well-behaved coro: switches every millisecond.
    let polite = corio::Builder::new()
        .name("polite")
        .spawn(|| {
            for _ in 0..100 {
                util::block_thread(Duration::from_millis(1));
                corio::cede();
            }
        })
        .unwrap();
    let polite_id = polite.coro().id();
    polite.join().unwrap();

    let line = line!() + 5;
    let hog = corio::Builder::new()
        .name("hog")
        .spawn(|| {
            util::block_thread(Duration::from_millis(300));
            corio::cede();
        })
        .unwrap();
    let hog_id = hog.coro().id();
    hog.join().unwrap();
    drop(monitor);

    let logs = CAPTURE.0.lock().unwrap().clone();
    assert!(
        !logs
            .iter()
            .any(|l| l.contains(&format!("coro {polite_id} "))),
        "{logs:#?}"
    );
    // The watchdog saw it while it happened.
    assert!(
        logs.iter()
            .any(|l| l.starts_with(&format!("coro {hog_id} has held thread"))
                && l.contains("resumed at")),
        "{logs:#?}"
    );
    // And its thread reported it afterwards, with its name and where it
    // gave the CPU back.
    let after = logs
        .iter()
        .find(|l| l.starts_with(&format!("coro {hog_id} [hog] held thread")))
        .unwrap_or_else(|| panic!("{logs:#?}"));
    assert!(after.contains(&format!("monitor.rs:{line}")), "{after}");

    // Off: no more reports.
    CAPTURE.0.lock().unwrap().clear();
    let quiet = corio::spawn(|| util::block_thread(Duration::from_millis(120)));
    quiet.join().unwrap();
    assert!(CAPTURE.0.lock().unwrap().is_empty());
}

#[test]
fn corio_monitor_turns_the_monitor_on_from_the_environment() {
    if util::child_role().as_deref() == Some("hog") {
        // No logger here: the warnings go to stderr.
        let hog = corio::Builder::new()
            .name("env-hog")
            .spawn(|| util::block_thread(Duration::from_millis(250)))
            .unwrap();
        hog.join().unwrap();
        return;
    }
    let out = util::run_child(
        "corio_monitor_turns_the_monitor_on_from_the_environment",
        "hog",
        &[("CORIO_MONITOR", "50")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // The first warning (the watchdog's, while the hog still runs, or the
    // one at its switch out) gets through; corio's stderr warnings are
    // rate-limited, one per kind every few seconds.
    assert!(
        err.contains("corio::monitor") && err.contains("held thread"),
        "{err}"
    );
    // Without the variable: nothing.
    let out = util::run_child(
        "corio_monitor_turns_the_monitor_on_from_the_environment",
        "hog",
        &[("CORIO_MONITOR", "0")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("corio::monitor"), "{err}");
}
