//! corio's own warnings (a blocked scheduler, running out of descriptors
//! on accept): through `log` when the program installed a logger, on
//! stderr otherwise — at most one line of a kind every 5 s.
//!
//! Each test runs its case in a child process, whose stderr it reads.

mod util;

use std::fs::File;
use std::time::Duration;

use util::{child_role, run_child};

/// Three coros in a row that keep the thread for 100 ms each, under a
/// 30 ms monitor.
fn three_hogs() {
    let _monitor = corio::debug::monitor(Duration::from_millis(30)).unwrap();
    for i in 0..3 {
        corio::Builder::new()
            .name(format!("hog {i}"))
            .spawn(|| util::block_thread(Duration::from_millis(100)))
            .unwrap()
            .join()
            .unwrap();
    }
}

struct Collect;

impl log::Log for Collect {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        println!("LOGGED {}: {}", r.target(), r.args());
    }
    fn flush(&self) {}
}

#[test]
fn without_a_logger_warnings_go_to_stderr_one_a_kind_every_five_seconds() {
    if child_role().as_deref() == Some("stderr") {
        three_hogs();
        return;
    }
    let out = run_child(
        "without_a_logger_warnings_go_to_stderr_one_a_kind_every_five_seconds",
        "stderr",
        &[],
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // Six warnings (one while each hog runs, one when it switches), one
    // line.
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("corio::monitor: warning: "))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("without switching"), "{err}");
}

#[test]
fn with_a_logger_warnings_go_to_it_and_not_to_stderr() {
    if child_role().as_deref() == Some("logger") {
        log::set_logger(&Collect).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
        three_hogs();
        return;
    }
    let out = run_child(
        "with_a_logger_warnings_go_to_it_and_not_to_stderr",
        "logger",
        &[],
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!err.contains("warning"), "{err}");
    // Every one of them, none held back.
    let logged = stdout
        .lines()
        .filter(|l| l.starts_with("LOGGED corio::monitor: "))
        .count();
    assert!(logged >= 3, "{stdout}");
}

#[test]
fn running_out_of_descriptors_on_accept_is_said_on_stderr() {
    if child_role().as_deref() == Some("emfile") {
        let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        // Queued in the backlog before the server starts (with the `hook`
        // feature the connect parks this coro, and a running server would
        // take the connection before the descriptors run out).
        let _queued = std::net::TcpStream::connect(addr).unwrap();
        let mut filler = Vec::new();
        while let Ok(f) = File::open("/dev/null") {
            filler.push(f);
        }
        let server = corio::spawn(move || corio::net::serve_on(l, |_| {}));
        // The accept loop fails and backs off, again and again.
        corio::sleep(Duration::from_millis(1500));
        drop(filler);
        server.coro().cancel();
        return;
    }
    let out = run_child(
        "running_out_of_descriptors_on_accept_is_said_on_stderr",
        "emfile",
        &[],
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("corio::net::serve: warning: accept failed: "))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("Too many open files"), "{err}");
}
