//! Opens on another CPU under load (`corio::fs` docs): on io_uring, a ring
//! whose kernel thread polls its submissions (`iou-sqp-PID` in
//! `/proc/self/task`); on the worker threads, corio's own helper thread
//! (`corio-opener`). Either is used only while many file operations are
//! under way, never when `CORIO_FS_SQPOLL=off`, and a cancelled open
//! leaves no descriptor behind.
//!
//! Each case runs in a child process of its own, since those threads
//! belong to the process.

mod util;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use util::{child_role, run_child};

const FILES: usize = 2_000;

/// This process's threads whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with(prefix))
        .count()
}

/// The polling threads of this process: the kernel's for io_uring, or
/// corio's helper on the worker threads.
fn polling_threads() -> usize {
    threads_named("iou-sqp") + threads_named("corio-opener")
}

/// Whether the kernel lets this process make a ring with a polling thread
/// (`IORING_SETUP_SQPOLL`; before Linux 5.11 it needs privileges).
fn sqpoll_allowed() -> bool {
    // `struct io_uring_params`: 120 bytes; `flags` is the third word and
    // `sq_thread_idle` the fifth.
    let mut params = [0u32; 30];
    params[2] = 1 << 1; // IORING_SETUP_SQPOLL
    params[4] = 1;
    // SAFETY: io_uring_setup reads and writes only the 120-byte params
    // struct it is given, which `params` is.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd < 0 {
        return false;
    }
    // SAFETY: the kernel just returned this descriptor to us.
    unsafe { libc::close(fd as i32) };
    true
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// `FILES` files in a fresh directory, file `i` holding `i` as text
/// repeated to 4 KiB.
fn make_files(dir: &Path) -> Vec<PathBuf> {
    (0..FILES)
        .map(|i| {
            let p = dir.join(format!("f{i}"));
            std::fs::write(&p, content(i)).unwrap();
            p
        })
        .collect()
}

fn content(i: usize) -> Vec<u8> {
    format!("{i:>8}").repeat(512).into_bytes()
}

/// Reads every file with `conc` coros at a time, checking each one.
fn read_all(files: &[PathBuf], conc: usize) {
    let next = std::rc::Rc::new(std::cell::Cell::new(0));
    let hs: Vec<_> = (0..conc)
        .map(|_| {
            let (files, next) = (files.to_vec(), next.clone());
            corio::spawn(move || {
                loop {
                    let i = next.get();
                    if i >= files.len() {
                        break;
                    }
                    next.set(i + 1);
                    let data = corio::fs::read(&files[i]).unwrap();
                    assert!(data == content(i), "file {i} read back wrong");
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

/// Runs as a child: reads the files as `role` says, then prints how many
/// polling threads the process has.
fn child(role: &str) {
    let dir = std::env::temp_dir().join(format!("corio-fs-polled-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = make_files(&dir);
    match role {
        "one-at-a-time" => read_all(&files, 1),
        "many" => read_all(&files, 64),
        "thread-exit" => {
            // A thread that read under load, then ended: its helper ends
            // with it.
            let files2 = files.clone();
            std::thread::spawn(move || read_all(&files2, 64))
                .join()
                .unwrap();
            let t = Instant::now();
            while polling_threads() > 0 && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        "cancelled" => {
            // Coros cancelled while their opens are in flight on either
            // ring leave no descriptor behind. (Both rings, their eventfds
            // and the reactor are made first.)
            read_all(&files, 64);
            let base = open_fds();
            for _ in 0..20 {
                let hs: Vec<_> = (0..64)
                    .map(|k| {
                        let files = files.clone();
                        corio::spawn(move || {
                            for f in files.iter().skip(k * 31) {
                                drop(corio::fs::File::open(f).unwrap());
                            }
                        })
                    })
                    .collect();
                corio::sleep(Duration::from_millis(2));
                for h in hs {
                    h.cancel();
                }
            }
            let t = Instant::now();
            while open_fds() > base && t.elapsed() < Duration::from_secs(5) {
                corio::sleep(Duration::from_millis(10));
            }
            assert_eq!(open_fds(), base, "descriptors left by cancelled opens");
        }
        other => panic!("unknown role {other}"),
    }
    println!("POLLING {}", polling_threads());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// How many polling threads the child with `role` (and `env`) ended with.
fn polling_after(role: &str, env: &[(&str, &str)]) -> usize {
    let out = run_child("the_polled_ring_is_used_only_under_load", role, env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {role} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    util::word_after(&stdout, "POLLING")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("child {role} printed: {stdout}"))
}

#[test]
fn the_polled_ring_is_used_only_under_load() {
    if let Some(role) = child_role() {
        return child(&role);
    }
    if util::not_under_emulation("the emulator refuses io_uring") {
        return;
    }
    if corio::fs::backend() != corio::fs::Backend::Uring {
        eprintln!("not judged: the kernel refuses io_uring here");
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        polling_after("one-at-a-time", &[]),
        0,
        "one open at a time never needs the polling thread"
    );
    let many = polling_after("many", &[]);
    if cpus > 1 && sqpoll_allowed() {
        assert_eq!(many, 1, "64 readers at once open through the polled ring");
    } else {
        eprintln!("not judged: one CPU, or the kernel refuses SQPOLL here; then no polled ring");
        assert_eq!(many, 0);
    }
    assert_eq!(polling_after("many", &[("CORIO_FS_SQPOLL", "off")]), 0);
    polling_after("cancelled", &[]);
}

#[test]
fn the_worker_threads_open_on_a_helper_only_under_load() {
    if child_role().is_some() {
        return; // the child runs the test named in `polling_after`
    }
    if util::not_under_emulation("the helper thread's name is the emulator's") {
        return;
    }
    let threads = [("CORIO_FS", "threads")];
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(polling_after("one-at-a-time", &threads), 0);
    let many = polling_after("many", &threads);
    if cpus > 1 {
        assert_eq!(many, 1, "64 readers at once open on the helper thread");
    } else {
        eprintln!("not judged: one CPU; then no helper thread");
        assert_eq!(many, 0);
    }
    let off = [("CORIO_FS", "threads"), ("CORIO_FS_SQPOLL", "off")];
    assert_eq!(polling_after("many", &off), 0);
    polling_after("cancelled", &threads);
    assert_eq!(
        polling_after("thread-exit", &threads),
        0,
        "the helper ends with its thread"
    );
}
