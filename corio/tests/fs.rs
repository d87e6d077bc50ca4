//! `corio::fs`. The tests run with the back-end this machine picks
//! (io_uring where the kernel allows it; a note is printed when it does
//! not), and once more, all of them, in a child process forced onto worker
//! threads (`CORIO_FS=threads`).

mod util;

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use corio::fs::{self, Backend, File, OpenOptions, PathError};

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "corio-fs-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How many descriptors of this process are ends of the pipe `ino` (other
/// tests open and close descriptors meanwhile, so count only ours).
fn pipe_ends(ino: u64) -> usize {
    let want = format!("pipe:[{ino}]");
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy() == want)
        .count()
}

/// Whether this test runs under valgrind (its preload library is in
/// `LD_PRELOAD`; corio::fs then picks worker threads by itself).
fn under_valgrind() -> bool {
    std::env::var("LD_PRELOAD").is_ok_and(|v| v.contains("vgpreload"))
}

#[test]
fn the_backend_is_what_was_asked_for() {
    match std::env::var("CORIO_FS").as_deref() {
        Ok("threads") => assert_eq!(fs::backend(), Backend::Threads),
        _ if under_valgrind() => {
            println!("note: under valgrind, corio::fs uses worker threads, not io_uring");
            assert_eq!(fs::backend(), Backend::Threads);
        }
        _ => {
            let b = fs::backend();
            println!("corio::fs back-end on this machine: {b:?}");
            if b == Backend::Threads {
                println!(
                    "note: the kernel refuses io_uring here; the io_uring back-end is not tested"
                );
            }
            assert!(matches!(b, Backend::Uring | Backend::Threads));
        }
    }
}

#[test]
fn every_function_round_trips() {
    let d = TempDir::new("roundtrip");
    let a = d.path("a.txt");
    fs::write(&a, b"hello").unwrap();
    assert_eq!(fs::read(&a).unwrap(), b"hello");
    let mut f = OpenOptions::new().append(true).open(&a).unwrap();
    f.write_all(b", world").unwrap();
    drop(f);
    assert_eq!(fs::read_to_string(&a).unwrap(), "hello, world");
    assert_eq!(fs::metadata(&a).unwrap().len(), 12);

    // Positional and sequential I/O, seeking.
    let f = OpenOptions::new().read(true).write(true).open(&a).unwrap();
    assert_eq!(f.write_at(b"J", 7).unwrap(), 1);
    let mut buf = [0u8; 5];
    assert_eq!(f.read_at(&mut buf, 7).unwrap(), 5);
    assert_eq!(&buf, b"Jorld");
    let mut r = &f;
    assert_eq!(r.seek(SeekFrom::Start(0)).unwrap(), 0);
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello, Jorld");
    f.set_len(5).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 5);
    f.sync_all().unwrap();
    f.sync_data().unwrap();
    let g = f.try_clone().unwrap();
    assert_eq!((&g).seek(SeekFrom::End(0)).unwrap(), 5);
    drop((f, g));

    // A big file, read whole.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let b = d.path("big.bin");
    File::create(&b).unwrap().write_all(&big).unwrap();
    assert_eq!(fs::read(&b).unwrap(), big);

    // Paths.
    fs::create_dir_all(d.path("x/y/z")).unwrap();
    fs::create_dir(d.path("x/w")).unwrap();
    fs::rename(&a, d.path("x/y/a.txt")).unwrap();
    assert!(!fs::exists(&a).unwrap());
    assert_eq!(fs::copy(d.path("x/y/a.txt"), d.path("x/b.txt")).unwrap(), 5);
    fs::hard_link(d.path("x/b.txt"), d.path("x/c.txt")).unwrap();
    let mut names: Vec<String> = fs::read_dir(d.path("x"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["b.txt", "c.txt", "w", "y"]);
    assert_eq!(
        fs::canonicalize(d.path("x/y/../b.txt")).unwrap(),
        fs::canonicalize(d.path("x")).unwrap().join("b.txt")
    );
    assert!(fs::symlink_metadata(d.path("x/w")).unwrap().is_dir());
    fs::remove_file(d.path("x/c.txt")).unwrap();
    fs::remove_dir(d.path("x/w")).unwrap();
    fs::remove_dir_all(d.path("x")).unwrap();
    assert!(!fs::exists(d.path("x")).unwrap());
}

/// The kind, the path in the message, and the OS error as the source.
fn check_err(e: &std::io::Error, kind: std::io::ErrorKind, path: &Path, errno: i32) {
    assert_eq!(e.kind(), kind, "{e}");
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    let pe = e
        .get_ref()
        .and_then(|r| r.downcast_ref::<PathError>())
        .unwrap_or_else(|| panic!("not a PathError: {e:?}"));
    assert_eq!(pe.path(), path);
    let source = std::error::Error::source(pe)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .unwrap();
    assert_eq!(source.raw_os_error(), Some(errno), "{e}");
    assert_eq!(pe.raw_os_error(), Some(errno), "{e}");
    assert_eq!(fs::raw_os_error(e), Some(errno), "{e}");
}

#[test]
fn permission_denied_names_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let d = TempDir::new("perm");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let locked = d.path("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::write(locked.join("f"), b"x").unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let f = locked.join("f");
        let e = File::open(&f).unwrap_err();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        check_err(&e, std::io::ErrorKind::PermissionDenied, &f, libc::EACCES);
        return;
    }
    // Root passes every permission bit; a read-only sysfs attribute still
    // refuses to be opened for writing (EACCES), even to root.
    let ro = Path::new("/sys/kernel/uevent_seqnum");
    match OpenOptions::new().write(true).open(ro) {
        Err(e) if fs::raw_os_error(&e) == Some(libc::EACCES) => {
            check_err(&e, std::io::ErrorKind::PermissionDenied, ro, libc::EACCES);
            check_err(
                &fs::write(ro, b"1").unwrap_err(),
                std::io::ErrorKind::PermissionDenied,
                ro,
                libc::EACCES,
            );
        }
        other => println!(
            "note: running as root and {} is not a read-only sysfs file here ({other:?}): \
             permission denied is not tested",
            ro.display()
        ),
    }
}

#[test]
fn a_full_disk_is_an_error_on_every_write_path() {
    let full = Path::new("/dev/full");
    let f = File::options().write(true).open(full).unwrap();
    let e = (&f).write_all(&[1u8; 100_000]).unwrap_err();
    check_err(&e, std::io::ErrorKind::StorageFull, full, libc::ENOSPC);
    let e = f.write_at(b"x", 0).unwrap_err();
    check_err(&e, std::io::ErrorKind::StorageFull, full, libc::ENOSPC);
    let e = fs::copy("/proc/self/status", full).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
}

#[test]
fn errors_name_the_path_and_keep_the_kind() {
    use std::io::ErrorKind as K;
    let d = TempDir::new("errors");
    let missing = d.path("no/such/dir/file");
    check_err(
        &File::open(&missing).unwrap_err(),
        K::NotFound,
        &missing,
        libc::ENOENT,
    );
    check_err(
        &File::create(&missing).unwrap_err(),
        K::NotFound,
        &missing,
        libc::ENOENT,
    );
    check_err(
        &fs::read(&missing).unwrap_err(),
        K::NotFound,
        &missing,
        libc::ENOENT,
    );
    check_err(
        &fs::remove_file(&missing).unwrap_err(),
        K::NotFound,
        &missing,
        libc::ENOENT,
    );
    check_err(
        &fs::metadata(&missing).unwrap_err(),
        K::NotFound,
        &missing,
        libc::ENOENT,
    );

    // A full disk: /dev/full fails every write with ENOSPC.
    let full = Path::new("/dev/full");
    let e = fs::write(full, b"data").unwrap_err();
    check_err(&e, K::StorageFull, full, libc::ENOSPC);

    let a = d.path("a");
    fs::write(&a, b"x").unwrap();
    let e = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&a)
        .unwrap_err();
    check_err(&e, K::AlreadyExists, &a, libc::EEXIST);
    fs::create_dir(d.path("dir")).unwrap();
    fs::write(d.path("dir/f"), b"").unwrap();
    let e = fs::remove_dir(d.path("dir")).unwrap_err();
    check_err(&e, K::DirectoryNotEmpty, &d.path("dir"), libc::ENOTEMPTY);
    let e = OpenOptions::new()
        .write(true)
        .open(d.path("dir"))
        .unwrap_err();
    check_err(&e, K::IsADirectory, &d.path("dir"), libc::EISDIR);

    // Bad input to corio itself.
    let e = OpenOptions::new().open(&a).unwrap_err();
    assert_eq!(e.kind(), K::InvalidInput);
    assert!(e.to_string().contains(&a.display().to_string()), "{e}");
    fs::write(d.path("bin"), [0xff, 0xfe]).unwrap();
    assert_eq!(
        fs::read_to_string(d.path("bin")).unwrap_err().kind(),
        K::InvalidData
    );
    let e = File::open("with\0nul").unwrap_err();
    assert_eq!(e.kind(), K::InvalidInput);
}

/// Runs `f` on a thread of its own and fails (instead of hanging) if it
/// does not finish in time: a file call that blocked the thread would
/// never let the other coro in.
fn within_secs(secs: u64, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("a file call blocked its whole thread");
}

/// A pipe's two ends as corio files.
fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 just returned both, owned by nobody else.
    let (r, w) = unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    (File::from(r), File::from(w))
}

#[test]
fn a_waiting_file_call_parks_only_its_coro() {
    within_secs(30, || {
        // Reading an empty pipe waits for a writer; the writer is a coro
        // of the same thread, which can only run if the read parked just
        // the reader.
        let (r, w) = pipe();
        let reader = corio::spawn(move || {
            let mut s = String::new();
            (&r).read_to_string(&mut s).unwrap();
            s
        });
        corio::cede();
        (&w).write_all(b"through the pipe").unwrap();
        drop(w);
        assert_eq!(reader.join().unwrap(), "through the pipe");
    });
}

#[test]
fn other_coros_run_while_files_are_read() {
    let d = TempDir::new("ticker");
    let p = d.path("data");
    fs::write(&p, vec![7u8; 1 << 20]).unwrap();
    let ticks = Rc::new(std::cell::Cell::new(0u32));
    let t = ticks.clone();
    let stop = Rc::new(std::cell::Cell::new(false));
    let s = stop.clone();
    let ticker = corio::spawn(move || {
        while !s.get() {
            t.set(t.get() + 1);
            corio::cede();
        }
    });
    for _ in 0..20 {
        assert_eq!(fs::read(&p).unwrap().len(), 1 << 20);
        File::open(&p).unwrap().sync_all().unwrap();
    }
    stop.set(true);
    ticker.join().unwrap();
    // Forty file calls; a blocking implementation would give the ticker
    // no turn at all before the loop ends.
    assert!(ticks.get() > 1, "the ticker ran {} times", ticks.get());
}

#[test]
fn calls_complete_while_another_coro_only_cedes() {
    within_secs(30, || {
        // File calls made while other coros are ready are handed to the
        // kernel in batches; a coro that never blocks (it only cedes, so
        // the thread is never idle) must not hold them back.
        let d = TempDir::new("busy");
        let p = d.path("data");
        fs::write(&p, b"read while the thread is busy").unwrap();
        let done = Rc::new(std::cell::Cell::new(0u32));
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let (p, done) = (p.clone(), done.clone());
                corio::spawn(move || {
                    for _ in 0..10 {
                        assert_eq!(fs::read(&p).unwrap(), b"read while the thread is busy");
                    }
                    done.set(done.get() + 1);
                })
            })
            .collect();
        let mut cedes = 0u64;
        while done.get() < 8 {
            corio::cede();
            cedes += 1;
            assert!(cedes < 10_000_000, "file calls never completed");
        }
        for r in readers {
            r.join().unwrap();
        }
    });
}

#[test]
fn a_coro_cancelled_mid_call_releases_its_descriptors() {
    within_secs(30, || {
        let (r, w) = pipe();
        let ino = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&r)
            ))
            .unwrap()
            .ino()
        };
        assert_eq!(pipe_ends(ino), 2);
        // Waits in a read of the empty pipe, then is cancelled: its buffer
        // and the read end stay with the operation until it completes.
        let reader = corio::spawn(move || {
            let mut buf = [0u8; 16];
            (&r).read(&mut buf).map(drop)
        });
        corio::cede();
        reader.cancel();
        assert!(reader.join().unwrap_err().is_cancelled());
        // Let the abandoned read finish: a byte comes.
        (&w).write_all(b"x").unwrap();
        // Then the read end is closed, exactly once.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while pipe_ends(ino) > 1 && std::time::Instant::now() < deadline {
            corio::sleep(Duration::from_millis(5));
        }
        assert_eq!(pipe_ends(ino), 1, "the read end was not released");
        drop(w);
        assert_eq!(pipe_ends(ino), 0);
    });
}

#[test]
fn a_ticker_advances_while_a_call_is_in_flight() {
    within_secs(60, || {
        let d = TempDir::new("inflight");
        let p = d.path("dirty");
        let ticks = Rc::new(std::cell::Cell::new(0u64));
        let stop = Rc::new(std::cell::Cell::new(false));
        let (t, s) = (ticks.clone(), stop.clone());
        let ticker = corio::spawn(move || {
            while !s.get() {
                t.set(t.get() + 1);
                corio::cede();
            }
        });
        corio::cede();
        // An fsync of freshly written data waits for the disk: the ticker
        // must get turns between the call's start and its end. A call the
        // kernel finishes at once need not switch, so allow some tries.
        let data = vec![5u8; 4 << 20];
        let mut overlapped = 0;
        for _ in 0..20 {
            let f = File::create(&p).unwrap();
            (&f).write_all(&data).unwrap();
            let before = ticks.get();
            f.sync_all().unwrap();
            if ticks.get() > before {
                overlapped += 1;
            }
            let before = ticks.get();
            assert_eq!(fs::read(&p).unwrap().len(), data.len());
            if ticks.get() > before {
                overlapped += 1;
            }
            if overlapped >= 3 {
                break;
            }
        }
        stop.set(true);
        ticker.join().unwrap();
        assert!(
            overlapped >= 1,
            "the ticker never ran while an fsync or a 4 MiB read was in flight"
        );
    });
}

#[test]
fn ps_shows_where_a_coro_waits_for_a_file() {
    within_secs(30, || {
        let (r, w) = pipe();
        let reader = corio::spawn(move || {
            let mut buf = [0u8; 4];
            (&r).read(&mut buf).unwrap()
        });
        corio::cede();
        let ps = corio::debug::ps();
        assert!(ps.contains("tests/fs.rs:"), "{ps}");
        (&w).write_all(b"abc").unwrap();
        assert_eq!(reader.join().unwrap(), 3);
    });
}

/// How many descriptors of this process refer to `path`.
fn fds_on(path: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l == path)
        .count()
}

#[test]
fn cancelled_and_timed_out_readers_leave_no_descriptor_or_buffer_behind() {
    within_secs(60, || {
        // Regular files: readers of a big file are cancelled wherever they
        // are (opening, reading); the file's descriptors all close.
        let d = TempDir::new("cancel-many");
        let p = std::fs::canonicalize(&d.0).unwrap().join("big");
        std::fs::write(&p, vec![9u8; 8 << 20]).unwrap();
        assert_eq!(fds_on(&p), 0);
        let readers: Vec<_> = (0..50)
            .map(|_| {
                let p = p.clone();
                corio::spawn(move || {
                    let mut f = File::open(&p).unwrap();
                    let mut buf = vec![0u8; 1 << 20];
                    loop {
                        let n = f.read(&mut buf).unwrap();
                        if n == 0 {
                            break;
                        }
                        assert!(buf[..n].iter().all(|&b| b == 9));
                    }
                })
            })
            .collect();
        corio::cede();
        corio::cede();
        for r in &readers {
            r.cancel();
        }
        for r in readers {
            let _ = r.join();
        }
        // An open still running on a worker thread when its reader was
        // cancelled can make its descriptor after the count was last seen
        // at zero (its result is then dropped, closing it): wait until
        // the count has stayed at zero for a while.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut zero_since = None;
        while std::time::Instant::now() < deadline {
            if fds_on(&p) > 0 {
                zero_since = None;
            } else if zero_since
                .get_or_insert_with(std::time::Instant::now)
                .elapsed()
                >= Duration::from_millis(300)
            {
                break;
            }
            corio::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            fds_on(&p),
            0,
            "descriptors of cancelled readers stayed open"
        );

        // Pipes: readers that time out, and one thrown at, while their
        // reads are in flight; the data that comes later completes the
        // abandoned reads (into their own buffers) and nothing else.
        let pipes: Vec<(File, File)> = (0..20).map(|_| pipe()).collect();
        let inos: Vec<u64> = pipes
            .iter()
            .map(|(r, _)| {
                use std::os::unix::fs::MetadataExt;
                std::fs::metadata(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(r)
                ))
                .unwrap()
                .ino()
            })
            .collect();
        let mut writers = Vec::new();
        let mut waiting = Vec::new();
        for (i, (r, w)) in pipes.into_iter().enumerate() {
            writers.push(w);
            waiting.push(corio::spawn(move || {
                let mut buf = [0u8; 8];
                if i == 0 {
                    return (&r).read(&mut buf).map(|_| "read").unwrap();
                }
                match corio::timeout(Duration::from_millis(20), || (&r).read(&mut buf)) {
                    Err(corio::Elapsed { .. }) => "timed out",
                    Ok(_) => "read",
                }
            }));
        }
        corio::cede();
        waiting[0].coro().throw("boom");
        let results: Vec<_> = waiting.into_iter().map(|h| h.join()).collect();
        let first = results[0].as_ref().unwrap_err();
        assert!(first.is_panic(), "{first:?}");
        for r in &results[1..] {
            assert_eq!(r.as_ref().unwrap(), &"timed out");
        }
        for w in &writers {
            (&*w).write_all(b"late").unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let ends = |inos: &[u64]| inos.iter().map(|&i| pipe_ends(i)).sum::<usize>();
        while ends(&inos) > inos.len() && std::time::Instant::now() < deadline {
            corio::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            ends(&inos),
            inos.len(),
            "read ends of abandoned reads stayed open"
        );
        drop(writers);
        assert_eq!(ends(&inos), 0);
    });
}

#[test]
fn calls_work_on_any_thread_even_after_its_scheduler_is_gone() {
    let d = TempDir::new("threads");
    let p = d.path("f");
    let p2 = p.clone();
    // A plain thread: its scheduler is made by the first call.
    std::thread::spawn(move || {
        fs::write(&p2, b"from a plain thread").unwrap();
        assert_eq!(fs::read(&p2).unwrap(), b"from a plain thread");
    })
    .join()
    .unwrap();
    // corio threads, several at once, each with its own ring.
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let p = d.path(&format!("t{i}"));
            corio::thread::spawn(move || {
                let inner = {
                    let p = p.clone();
                    corio::spawn(move || fs::write(&p, format!("thread {i}")).unwrap())
                };
                inner.join().unwrap();
                fs::read_to_string(&p).unwrap()
            })
        })
        .collect();
    for (i, h) in hs.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), format!("thread {i}"));
    }
    // A thread-local destructor that runs after the scheduler's teardown
    // (destructors run in reverse order of registration).
    struct Late(PathBuf, std::sync::mpsc::Sender<std::io::Result<Vec<u8>>>);
    impl Drop for Late {
        fn drop(&mut self) {
            let _ = self.1.send(fs::read(&self.0));
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<Option<Late>> = const { std::cell::RefCell::new(None) };
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let p3 = p.clone();
    std::thread::spawn(move || {
        LATE.with(|l| *l.borrow_mut() = Some(Late(p3.clone(), tx)));
        fs::write(&p3, b"late").unwrap();
    })
    .join()
    .unwrap();
    let got = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(got.unwrap(), b"late");
}

#[test]
fn a_thousand_coros_read_files_at_once() {
    let d = Rc::new(TempDir::new("many"));
    for i in 0..100 {
        fs::write(
            d.path(&format!("f{i}")),
            format!("file number {i}").repeat(50),
        )
        .unwrap();
    }
    let readers: Vec<_> = (0..1000)
        .map(|k| {
            let d = d.clone();
            corio::spawn(move || {
                let i = (k * 7) % 100;
                (i, fs::read_to_string(d.path(&format!("f{i}"))).unwrap())
            })
        })
        .collect();
    for r in readers {
        let (i, s) = r.join().unwrap();
        assert_eq!(s, format!("file number {i}").repeat(50));
    }
}

#[test]
fn all_of_the_above_with_worker_threads() {
    if std::env::var("CORIO_FS").is_ok() {
        return; // already the child run
    }
    if under_valgrind() {
        // This run already uses worker threads, and the child would run
        // natively with valgrind's preload library.
        println!("note: under valgrind: no second run");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = util::output_within(
        std::process::Command::new(exe)
            .env("CORIO_FS", "threads")
            .args(["--skip", "all_of_the_above_with_worker_threads"]),
        util::CHILD_LIMIT,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("test result: ok."), "{text}");
    assert!(!text.contains("ok. 0 passed"), "{text}");
}

/// A thread that ends while many coros wait on opens (the polled ring's, or
/// the worker threads' helper's: 64 readers are enough for either) leaves
/// them abandoned, and nothing answers into freed memory afterwards (this
/// test runs under valgrind in CI, on the worker threads). Timeouts and
/// throws that land mid-open unwind like cancels.
#[test]
fn opens_under_load_survive_timeouts_throws_and_thread_exit() {
    let d = TempDir::new("helper-exit");
    let paths: Vec<PathBuf> = (0..200)
        .map(|i| {
            let p = d.path(&format!("f{i}"));
            std::fs::write(&p, format!("file {i}")).unwrap();
            p
        })
        .collect();
    for round in 0..3 {
        let paths = paths.clone();
        let opened = std::thread::spawn(move || {
            let opened = Rc::new(std::cell::Cell::new(0u32));
            let hs: Vec<_> = (0..64)
                .map(|k| {
                    let (paths, opened) = (paths.clone(), opened.clone());
                    corio::spawn(move || {
                        for p in paths.iter().cycle().skip(k) {
                            // Some time out or are thrown at mid-open; the
                            // rest go on until the thread ends.
                            let limit = if k % 4 == 0 {
                                Duration::from_micros(30 + k as u64)
                            } else {
                                Duration::from_secs(5)
                            };
                            match corio::timeout(limit, || File::open(p)) {
                                Ok(f) => {
                                    drop(f.unwrap());
                                    opened.set(opened.get() + 1);
                                }
                                Err(_) => corio::cede(),
                            }
                        }
                    })
                })
                .collect();
            // Until some opens went through (valgrind is slow).
            let t = std::time::Instant::now();
            while opened.get() == 0 && t.elapsed() < Duration::from_secs(20) {
                corio::sleep(Duration::from_millis(5));
            }
            for h in hs.iter().step_by(3) {
                h.coro().throw("stop");
            }
            corio::sleep(Duration::from_millis(5));
            // Returning with the rest still parked: the thread ends and
            // abandons them mid-open.
            std::mem::forget(hs);
            opened.get()
        })
        .join()
        .unwrap();
        assert!(opened > 0, "round {round}: nothing was opened");
    }
}

/// How many descriptors of this process are open on files under `dir`,
/// once that number reaches 0 or 10 s have passed (answers for abandoned
/// opens may still be on their way).
fn fds_settle_under(dir: &Path) -> usize {
    let open = || {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|l| l.starts_with(dir))
            .count()
    };
    let t = std::time::Instant::now();
    while open() > 0 && t.elapsed() < Duration::from_secs(10) {
        corio::sleep(Duration::from_millis(10));
    }
    open()
}

/// `n` files under `d`, each holding its own name.
fn named_files(d: &TempDir, prefix: &str, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = d.path(&format!("{prefix}{i}"));
            std::fs::write(&p, format!("{prefix}{i}")).unwrap();
            p
        })
        .collect()
}

/// Coros that read `paths` round and round until `stop`: enough operations
/// under way that opens go to the polled ring or the worker threads'
/// helper, whose waits are the slot table's.
fn load(paths: &[PathBuf], stop: &Rc<std::cell::Cell<bool>>) -> Vec<corio::JoinHandle<()>> {
    (0..32)
        .map(|k| {
            let (paths, stop) = (paths.to_vec(), stop.clone());
            corio::spawn(move || {
                for p in paths.iter().cycle().skip(k) {
                    if stop.get() {
                        return;
                    }
                    fs::read(p).unwrap();
                }
            })
        })
        .collect()
}

/// A generator whose body reads files parks the coro that resumes it, which
/// is whichever coro has it at the time: the wait's waiter is that coro,
/// not the generator. Drivers take turns with one generator; then timeouts
/// cut resumes short while the body waits on an open, unwinding the
/// generator's stack from under its driver. Contents come back right, in
/// order, and no descriptor is left behind.
#[test]
fn a_generator_reads_files_for_whichever_coro_resumes_it() {
    use corio::{Generator, GeneratorState, Yielder};
    use std::cell::RefCell;
    let d = TempDir::new("generator");
    let paths = named_files(&d, "g", 64);
    let dir = d.0.clone();
    within_secs(120, move || {
        let stop = Rc::new(std::cell::Cell::new(false));
        let loaders = load(&paths, &stop);
        let body_paths = paths.clone();
        let g = Generator::new(move |y: &Yielder<(usize, Vec<u8>)>, ()| {
            for (i, p) in body_paths.iter().enumerate() {
                y.yield_((i, fs::read(p).unwrap()));
            }
        });
        let shared = Rc::new(RefCell::new(Some(g)));
        let seen = Rc::new(RefCell::new(Vec::new()));
        let drivers: Vec<_> = (0..8)
            .map(|_| {
                let (shared, seen) = (shared.clone(), seen.clone());
                corio::spawn(move || {
                    loop {
                        let Some(mut g) = shared.borrow_mut().take() else {
                            corio::cede();
                            continue;
                        };
                        match g.resume(()) {
                            GeneratorState::Yielded((i, data)) => {
                                assert_eq!(data, format!("g{i}").into_bytes());
                                seen.borrow_mut().push(i);
                                *shared.borrow_mut() = Some(g);
                                corio::cede();
                            }
                            GeneratorState::Complete(()) => return,
                        }
                    }
                })
            })
            .collect();
        // One driver sees the end; the others are cancelled while waiting
        // for a turn.
        while seen.borrow().len() < 64 {
            corio::sleep(Duration::from_millis(1));
        }
        corio::sleep(Duration::from_millis(5));
        for h in &drivers {
            h.cancel();
        }
        assert_eq!(*seen.borrow(), (0..64).collect::<Vec<_>>());

        // Timeouts mid-resume: the body is parked in an open (or a read)
        // when the driver's deadline passes.
        let mut cut = 0;
        for round in 0..200 {
            let p = paths[round % paths.len()].clone();
            let mut g = Generator::new(move |y: &Yielder<Vec<u8>>, ()| {
                loop {
                    y.yield_(fs::read(&p).unwrap());
                }
            });
            match corio::timeout(Duration::from_micros(5 + round as u64 % 40), || {
                g.resume(())
            }) {
                Ok(GeneratorState::Yielded(data)) => {
                    assert_eq!(data, format!("g{}", round % 64).into_bytes())
                }
                Ok(GeneratorState::Complete(())) => unreachable!("the body loops"),
                // Interrupted while the body waited: the unwind went
                // through the generator's stack and completed it.
                Err(_) if g.is_complete() => cut += 1,
                // Late without an interrupt (the body had yielded): it
                // goes on where it was.
                Err(_) => match g.resume(()) {
                    GeneratorState::Yielded(data) => {
                        assert_eq!(data, format!("g{}", round % 64).into_bytes())
                    }
                    GeneratorState::Complete(()) => unreachable!("the body loops"),
                },
            }
        }
        eprintln!("{cut} of 200 resumes cut mid-wait");
        stop.set(true);
        for h in loaders {
            h.join().unwrap();
        }
        // Answers for the cut waits may come after them.
        assert_eq!(
            fds_settle_under(&dir),
            0,
            "descriptors left open ({cut} resumes cut)"
        );
        // The thread's files still work.
        assert_eq!(fs::read(&paths[5]).unwrap(), b"g5");
    });
}

/// A `Drop` that reads a file, run while its coro unwinds from a cancel
/// that found it waiting on an open: the read waits like any other (an
/// unwinding coro is not interrupted again, even by a throw aimed at it
/// meanwhile) and reads the right bytes.
#[test]
fn a_drop_reads_files_while_its_coro_unwinds_from_a_waiting_open() {
    struct ReadOnDrop {
        path: PathBuf,
        log: Rc<std::cell::RefCell<Vec<Vec<u8>>>>,
    }
    impl Drop for ReadOnDrop {
        fn drop(&mut self) {
            let data = fs::read(&self.path).unwrap();
            self.log.borrow_mut().push(data);
        }
    }
    let d = TempDir::new("drop-reads");
    let paths = named_files(&d, "d", 64);
    let dir = d.0.clone();
    within_secs(120, move || {
        let log = Rc::new(std::cell::RefCell::new(Vec::new()));
        let reads = Rc::new(std::cell::Cell::new(0u32));
        let hs: Vec<_> = (0..48)
            .map(|k| {
                let (paths, log, reads) = (paths.clone(), log.clone(), reads.clone());
                corio::spawn(move || {
                    let _guard = ReadOnDrop {
                        path: paths[k].clone(),
                        log,
                    };
                    for p in paths.iter().cycle().skip(k) {
                        fs::read(p).unwrap();
                        reads.set(reads.get() + 1);
                    }
                })
            })
            .collect();
        while reads.get() < 500 {
            corio::sleep(Duration::from_millis(1));
        }
        for (k, h) in hs.iter().enumerate() {
            if k % 3 == 0 {
                // Lands while the victim unwinds (its guard may be waiting
                // on its own read): it waits for the unwind to finish.
                let c = h.coro();
                drop(corio::spawn(move || c.throw("late")));
            }
            h.cancel();
        }
        let mut got = log.borrow().clone();
        got.sort();
        let mut want: Vec<Vec<u8>> = (0..48).map(|k| format!("d{k}").into_bytes()).collect();
        want.sort();
        assert_eq!(got, want, "every guard read its own file");
        for h in hs {
            assert!(h.join().is_err(), "a cancelled coro has no value");
        }
        assert_eq!(fds_settle_under(&dir), 0, "descriptors left open");
    });
}

/// A coro that only reads cached files never has to wait, and so never
/// switches by itself; its file calls still count toward the loop's look
/// at timers and the reactor, and cede when that is due: a sleeper, and a
/// coro waiting on another coro, get their turn.
#[test]
fn a_coro_reading_cached_files_in_a_loop_lets_the_others_run() {
    let d = TempDir::new("quick-loop");
    let paths = named_files(&d, "q", 4);
    within_secs(60, move || {
        let stop = Rc::new(std::cell::Cell::new(false));
        let reads = Rc::new(std::cell::Cell::new(0u64));
        let reader = {
            let (stop, reads) = (stop.clone(), reads.clone());
            corio::spawn(move || {
                for p in paths.iter().cycle() {
                    if stop.get() {
                        return;
                    }
                    assert_eq!(fs::read(p).unwrap().len(), 2);
                    reads.set(reads.get() + 1);
                }
            })
        };
        let waiter = corio::spawn(|| corio::sleep(Duration::from_millis(5)));
        corio::sleep(Duration::from_millis(20));
        waiter.join().unwrap();
        stop.set(true);
        reader.join().unwrap();
        assert!(reads.get() > 0, "the reader ran too");
    });
}
