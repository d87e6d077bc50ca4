//! corio's own warnings (out of descriptors on accept, a blocked
//! scheduler, ...): through the `log` facade when the program installed a
//! logger, and on stderr otherwise — where `log` would drop them unseen —
//! at most one line per kind every [`EVERY`], with a count of the ones
//! held back.
//!
//! A leaf module: it calls nothing else of the crate, so every layer may
//! use it.

use std::fmt;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one stderr line per kind this often.
pub(crate) const EVERY: Duration = Duration::from_secs(5);

/// Per kind: when its last line went out, and how many were held back
/// since. A handful of kinds exist, so a vector does.
static LAST: Mutex<Vec<(&'static str, Instant, u64)>> = Mutex::new(Vec::new());

/// Whether the program installed a `log` logger. Without one, `log`'s
/// maximum level stays `Off` and its no-op logger enables nothing; a
/// program that installs one and turns it all off still counts as having
/// chosen.
pub(crate) fn logger_installed(target: &str) -> bool {
    log::max_level() != log::LevelFilter::Off
        || log::logger().enabled(
            &log::Metadata::builder()
                .level(log::Level::Error)
                .target(target)
                .build(),
        )
}

/// Warns about `msg`, of kind `target` (a `log` target such as
/// `corio::monitor`); see the module docs.
pub(crate) fn warn(target: &'static str, msg: fmt::Arguments<'_>) {
    report(log::Level::Warn, target, msg);
}

/// Like [`warn`], for an error.
pub(crate) fn error(target: &'static str, msg: fmt::Arguments<'_>) {
    report(log::Level::Error, target, msg);
}

fn report(level: log::Level, target: &'static str, msg: fmt::Arguments<'_>) {
    if logger_installed(target) {
        log::log!(target: target, level, "{msg}");
        return;
    }
    let now = Instant::now();
    let held_back = {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        match last.iter_mut().find(|(t, ..)| *t == target) {
            Some((_, at, held)) if now.duration_since(*at) < EVERY => {
                *held += 1;
                return;
            }
            Some((_, at, held)) => {
                *at = now;
                std::mem::take(held)
            }
            None => {
                last.push((target, now, 0));
                0
            }
        }
    };
    // Not eprintln!: a closed stderr must not turn a warning into a panic.
    let mut err = std::io::stderr().lock();
    let what = if level == log::Level::Error {
        "error"
    } else {
        "warning"
    };
    let _ = if held_back > 0 {
        writeln!(
            err,
            "{target}: {what}: {msg} ({held_back} more like this since the last one shown)"
        )
    } else {
        writeln!(err, "{target}: {what}: {msg}")
    };
}
