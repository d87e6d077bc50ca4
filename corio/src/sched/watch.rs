//! The blocked-scheduler monitor: notices a coro that keeps the CPU for
//! longer than a threshold without switching (a tight loop, a blocking
//! system call made outside corio, a huge computation), which stalls every
//! other coro of its thread.
//!
//! Two reports: while it happens, a watchdog thread warns with the coro's
//! id and where it was resumed; when the coro finally switches, its thread
//! warns again with its description, how long it ran, and where it
//! switched out.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::inner::CoroInner;

/// What the scheduler publishes at each switch for the watchdog.
pub(crate) struct Watch {
    pub(crate) threshold: Duration,
    base: Instant,
    /// Bumped at every switch into a coro.
    seq: AtomicU64,
    /// The id of the coro running since `since`, 0 while the scheduler
    /// itself runs or sleeps.
    coro: AtomicU64,
    since_ns: AtomicU64,
    at: AtomicPtr<Location<'static>>,
    stop: AtomicBool,
    thread: String,
}

/// The threshold `CORIO_MONITOR=<ms>` asks for (read once per process):
/// every scheduler starts the monitor with it. `0` or an unset variable
/// means off; a value that is not a number of milliseconds is reported
/// once on stderr and ignored.
pub(crate) fn from_env() -> Option<Duration> {
    static ENV: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    *ENV.get_or_init(|| {
        let v = std::env::var("CORIO_MONITOR").ok()?;
        match v.trim().parse::<u64>() {
            Ok(0) => None,
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => {
                eprintln!(
                    "corio: CORIO_MONITOR={v:?} is not a number of milliseconds; monitor off"
                );
                None
            }
        }
    })
}

impl Watch {
    /// Starts the watchdog thread for the calling thread's scheduler.
    /// Its warnings go through `crate::warn` (stderr when no logger is
    /// installed, so that `CORIO_MONITOR` works in any program).
    pub(crate) fn start(threshold: Duration) -> std::io::Result<Arc<Watch>> {
        let threshold = threshold.max(Duration::from_millis(1));
        let w = Arc::new(Watch {
            threshold,
            base: Instant::now(),
            seq: AtomicU64::new(0),
            coro: AtomicU64::new(0),
            since_ns: AtomicU64::new(0),
            at: AtomicPtr::new(std::ptr::null_mut()),
            stop: AtomicBool::new(false),
            thread: std::thread::current().name().map_or_else(
                || format!("{:?}", std::thread::current().id()),
                str::to_owned,
            ),
        });
        let dog = w.clone();
        std::thread::Builder::new()
            .name("corio-monitor".into())
            .spawn(move || dog.watch())?;
        Ok(w)
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// The scheduler switches into `c`.
    #[inline]
    pub(crate) fn resumed(&self, c: &CoroInner) {
        let now = self.base.elapsed().as_nanos() as u64;
        self.since_ns.store(now, Ordering::Relaxed);
        let at = c.where_.get().map_or(std::ptr::null_mut(), |l| {
            l as *const Location<'static> as *mut Location<'static>
        });
        self.at.store(at, Ordering::Relaxed);
        self.coro.store(c.id.as_u64(), Ordering::Relaxed);
        self.seq.fetch_add(1, Ordering::Release);
    }

    /// `c` switched back to the scheduler; warns if it ran too long.
    #[inline]
    pub(crate) fn returned(&self, c: &CoroInner) {
        self.coro.store(0, Ordering::Relaxed);
        let now = self.base.elapsed().as_nanos() as u64;
        let ran = Duration::from_nanos(now.saturating_sub(self.since_ns.load(Ordering::Relaxed)));
        if ran > self.threshold {
            self.report(c, ran);
        }
    }

    #[cold]
    fn report(&self, c: &CoroInner, ran: Duration) {
        let at = self.at.load(Ordering::Relaxed);
        let from = if at.is_null() {
            "its start".to_string()
        } else {
            // SAFETY: `at` was stored from a `&'static Location`.
            let l = unsafe { &*at };
            format!("{}:{}", l.file(), l.line())
        };
        let to = c.where_.get().map_or_else(
            || "its end".to_string(),
            |l| format!("{}:{}", l.file(), l.line()),
        );
        crate::warn::warn(
            "corio::monitor",
            format_args!(
                "coro {} [{}] held thread '{}' for {} ms without switching (from {from} to {to}); \
                 every other coro of the thread waited meanwhile",
                c.id,
                c.desc().unwrap_or_default(),
                self.thread,
                ran.as_millis(),
            ),
        );
    }

    /// The watchdog thread's loop.
    fn watch(&self) {
        let mut warned = u64::MAX;
        let tick = (self.threshold / 2).max(Duration::from_millis(1));
        while !self.stop.load(Ordering::Acquire) {
            std::thread::sleep(tick);
            let seq = self.seq.load(Ordering::Acquire);
            let coro = self.coro.load(Ordering::Relaxed);
            let since = Duration::from_nanos(self.since_ns.load(Ordering::Relaxed));
            let ran = self.base.elapsed().saturating_sub(since);
            // Same switch still running (re-read seq: no switch meanwhile).
            if coro != 0
                && seq != warned
                && ran > self.threshold
                && self.seq.load(Ordering::Acquire) == seq
            {
                warned = seq;
                let at = self.at.load(Ordering::Relaxed);
                let from = if at.is_null() {
                    "its start".to_string()
                } else {
                    // SAFETY: `at` was stored from a `&'static Location`.
                    let l = unsafe { &*at };
                    format!("{}:{}", l.file(), l.line())
                };
                crate::warn::warn(
                    "corio::monitor",
                    format_args!(
                        "coro {coro} has held thread '{}' for {} ms without switching; \
                         it was resumed at {from}",
                        self.thread,
                        ran.as_millis(),
                    ),
                );
            }
        }
    }
}
