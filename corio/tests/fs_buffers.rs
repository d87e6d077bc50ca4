//! `corio::fs` and the caller's buffers: cached data is read and written
//! straight from and into them, and nothing ever writes into a buffer after
//! its call returned or unwound — not after a cancel, a timeout, a lost
//! `select!`, nor when the thread exits with the reader parked and the
//! buffer is freed by a thread-local's destructor. The memory of such a
//! buffer is reused at once and checked.
//!
//! Every test runs on each back-end this machine has (io_uring and worker
//! threads; under valgrind only worker threads, whose writes memcheck
//! sees). The tests take turns: the back-end is a process-wide setting.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use corio::fs::{self, Backend, File, OpenOptions};

/// The buffers' size: below glibc's mmap threshold, so a freed buffer's
/// memory goes back to the heap and the next allocation reuses it.
const LEN: usize = 64 * 1024;

static TURN: Mutex<()> = Mutex::new(());

fn under_valgrind() -> bool {
    std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("vgpreload"))
}

/// Runs `f` on a thread of its own once per back-end, one test at a time.
fn on_each_backend(f: fn(Backend)) {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let mut backends = vec![Backend::Threads];
    if !under_valgrind() {
        fs::set_backend(Backend::Auto);
        if std::thread::spawn(fs::backend).join().unwrap() == Backend::Uring {
            backends.push(Backend::Uring);
        } else {
            eprintln!("note: io_uring is unavailable here; worker threads only");
        }
    }
    for b in backends {
        fs::set_backend(b);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            f(b);
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{b:?}: the test hung or failed"));
    }
    fs::set_backend(Backend::Auto);
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> TempFile {
        let p = std::env::temp_dir().join(format!(
            "corio-fs-buffers-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&p, contents).unwrap();
        TempFile(p)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A pipe's two ends as corio files.
fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 just returned both, owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    (File::from(r), File::from(w))
}

/// Bytes waiting in the pipe whose write end is `w`.
fn unread(w: &File) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    assert_eq!(
        unsafe { libc::ioctl(w.as_raw_fd(), libc::FIONREAD, &mut n) },
        0
    );
    n as usize
}

/// Fresh buffers of `LEN` bytes of 0x55, allocated now (so they take the
/// memory of buffers just freed).
fn reuse() -> Vec<Vec<u8>> {
    (0..16).map(|_| vec![0x55u8; LEN]).collect()
}

/// Feeds the abandoned read of the pipe (it takes the bytes into memory of
/// its own, or is gone), waits until it had every chance to write, then
/// checks that the reused memory was not written.
fn feed_and_check(w: &File, reused: &[Vec<u8>]) {
    (&*w).write_all(&[0x11u8; LEN]).unwrap();
    let deadline = Instant::now() + Duration::from_millis(300);
    while unread(w) > 0 && Instant::now() < deadline {
        corio::sleep(Duration::from_millis(2));
    }
    corio::sleep(Duration::from_millis(20));
    for b in reused {
        assert!(
            b.iter().all(|&x| x == 0x55),
            "an abandoned read wrote into freed memory"
        );
    }
}

#[test]
fn cached_reads_and_writes_move_exactly_the_callers_bytes() {
    on_each_backend(|b| {
        let data: Vec<u8> = (0..3 * LEN as u32 + 17).map(|i| (i % 251) as u8).collect();
        let t = TempFile::new(&format!("exact-{b:?}"), &data);
        let f = File::open(&t.0).unwrap();
        // A read past the end fills only what the file has.
        let mut buf = vec![0xEEu8; 2 * LEN];
        let n = f.read_at(&mut buf, LEN as u64 * 2).unwrap();
        assert_eq!(n, LEN + 17);
        assert_eq!(&buf[..n], &data[2 * LEN..]);
        assert!(buf[n..].iter().all(|&x| x == 0xEE), "{b:?}: wrote past n");
        assert_eq!(f.read_at(&mut buf, data.len() as u64).unwrap(), 0);
        // The file position: sequential reads see the file in order.
        let mut all = Vec::new();
        let mut chunk = vec![0u8; 4000];
        loop {
            let n = (&f).read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            all.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(all, data);
        // An offset the kernel cannot take is an error, and does not stop
        // later reads from working.
        assert!(f.read_at(&mut buf, u64::MAX - 1).is_err());
        assert_eq!(f.read_at(&mut buf[..5], 1).unwrap(), 5);
        assert_eq!(&buf[..5], &data[1..6]);
        // Writes: at offsets, at the position, appending.
        let w = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&t.0)
            .unwrap();
        assert_eq!(w.write_at(b"XYZ", 10).unwrap(), 3);
        (&w).write_all(b"head").unwrap();
        let a = OpenOptions::new().append(true).open(&t.0).unwrap();
        (&a).write_all(b"tail").unwrap();
        let got = fs::read(&t.0).unwrap();
        let mut want = data.clone();
        want[..4].copy_from_slice(b"head");
        want[10..13].copy_from_slice(b"XYZ");
        want.extend_from_slice(b"tail");
        assert_eq!(got, want, "{b:?}");
    });
}

#[test]
fn a_pending_cancel_unwinds_at_a_read_that_needs_no_wait() {
    on_each_backend(|b| {
        let t = TempFile::new(&format!("pending-{b:?}"), &[7u8; 100]);
        let p = t.0.clone();
        let h = corio::spawn(move || {
            let f = File::open(&p).unwrap();
            let mut buf = [0u8; 10];
            corio::current().cancel();
            let _ = f.read_at(&mut buf, 0);
            "read returned"
        });
        let e = h.join().unwrap_err();
        assert!(e.is_cancelled(), "{b:?}: {e:?}");
    });
}

/// How a reader parked in a read of an empty pipe is made to leave it.
#[derive(Clone, Copy, Debug)]
enum Leave {
    Cancel,
    Timeout,
    SelectLoser,
}

fn leave_mid_read(how: Leave) {
    let (r, w) = pipe();
    let reader = corio::spawn(move || {
        let mut buf = vec![0xAAu8; LEN];
        match how {
            Leave::Cancel => {
                let _ = (&r).read(&mut buf);
                "read"
            }
            Leave::Timeout => {
                match corio::timeout(Duration::from_millis(10), || (&r).read(&mut buf)) {
                    Err(corio::Elapsed { .. }) => "timed out",
                    Ok(_) => "read",
                }
            }
            Leave::SelectLoser => corio::select! {
                _ = (&r).read(&mut buf) => "read",
                _ = corio::sleep(Duration::from_millis(10)) => "slept",
            },
        }
    });
    corio::cede();
    match how {
        Leave::Cancel => {
            reader.cancel();
            assert!(reader.join().unwrap_err().is_cancelled());
        }
        Leave::Timeout => assert_eq!(reader.join().unwrap(), "timed out"),
        Leave::SelectLoser => assert_eq!(reader.join().unwrap(), "slept"),
    }
    // The reader's buffer is freed; its memory goes to these.
    let reused = reuse();
    feed_and_check(&w, &reused);
}

#[test]
fn cancelled_timed_out_and_losing_reads_never_write_the_buffer_later() {
    on_each_backend(|_| {
        for how in [Leave::Cancel, Leave::Timeout, Leave::SelectLoser] {
            leave_mid_read(how);
        }
    });
}

#[test]
fn a_cancelled_read_of_an_uncached_file_never_writes_the_buffer_later() {
    on_each_backend(|b| {
        let t = TempFile::new(&format!("uncached-{b:?}"), &vec![0x11u8; 16 * LEN]);
        let p = t.0.clone();
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let p = p.clone();
                corio::spawn(move || {
                    let f = File::open(&p).unwrap();
                    let mut buf = vec![0xAAu8; LEN];
                    for i in 0..16 {
                        // Out of the page cache: the read waits for the disk
                        // (or finds the data cached by another reader).
                        // SAFETY: posix_fadvise takes a descriptor and numbers.
                        unsafe {
                            libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED)
                        };
                        let n = f.read_at(&mut buf, (i * LEN) as u64).unwrap();
                        assert!(buf[..n].iter().all(|&x| x == 0x11));
                    }
                })
            })
            .collect();
        corio::cede();
        for r in &readers {
            r.cancel();
        }
        for r in readers {
            let _ = r.join();
        }
        let reused = reuse();
        // Every read the cancels abandoned has had time to finish.
        corio::sleep(Duration::from_millis(100));
        for b in &reused {
            assert!(b.iter().all(|&x| x == 0x55), "a cancelled read wrote late");
        }
    });
}

thread_local! {
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

#[test]
fn a_thread_that_exits_with_a_reader_parked_leaves_no_writer_behind() {
    on_each_backend(|_| {
        let (r, w) = pipe();
        std::thread::spawn(move || {
            // The scheduler first, then the thread-local: its destructor
            // runs before the scheduler's, freeing the buffer while the
            // reader is still parked in its read.
            corio::cede();
            BUF.with(|b| *b.borrow_mut() = vec![0xAAu8; LEN]);
            let _parked = corio::spawn(move || {
                BUF.with(|b| {
                    let _ = (&r).read(&mut b.borrow_mut());
                })
            });
            corio::cede();
        })
        .join()
        .unwrap();
        // A new thread takes over the exited one's heap arena.
        let w2 = std::thread::spawn(move || {
            let reused = reuse();
            feed_and_check(&w, &reused);
            w
        })
        .join()
        .unwrap();
        drop(w2);
    });
}

#[test]
fn a_fifo_opened_to_read_before_its_writer_carries_the_data() {
    on_each_backend(|b| {
        let p = std::env::temp_dir().join(format!("corio-fs-fifo-{}-{b:?}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: `c` is NUL-terminated.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // The reader's open does not wait for a writer where the open can
        // be tried without waiting (io_uring, or `openat2` on the
        // workers), and waits on a worker otherwise: either way only its
        // coro waits, and its read waits for the data.
        let p2 = p.clone();
        let (tx, rx) = corio::sync::bounded::<()>(1);
        let reader = corio::spawn(move || {
            let r = File::open(&p2).unwrap();
            // Read once the writer is there (before, a read finds the end).
            rx.get().unwrap();
            let mut buf = [0u8; 8];
            let n = (&r).read(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        corio::cede();
        let w = OpenOptions::new().write(true).open(&p).unwrap();
        tx.put(()).unwrap();
        corio::cede();
        (&w).write_all(b"fifo").unwrap();
        assert_eq!(reader.join().unwrap(), b"fifo", "{b:?}");
        std::fs::remove_file(&p).unwrap();
    });
}
