//! The `hook` feature with `std` alone: `std::net` and `std::thread::sleep`
//! used directly in coros park only their coro; what must pass straight
//! through does; the bad paths (cancel, close, timeouts) leave everything
//! usable. Run with `cargo test --all-features`.
#![cfg(feature = "hook")]

mod util;

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use util::{DropLog, Log, within};

/// A ticker coro that counts ticks of 10 ms until dropped.
struct Ticker {
    ticks: Rc<Cell<u32>>,
    h: Option<corio::JoinHandle<()>>,
}

impl Ticker {
    fn start() -> Ticker {
        let ticks = Rc::new(Cell::new(0));
        let t = ticks.clone();
        let h = corio::spawn(move || {
            loop {
                corio::sleep(Duration::from_millis(10));
                t.set(t.get() + 1);
            }
        });
        Ticker { ticks, h: Some(h) }
    }

    fn ticks(&self) -> u32 {
        self.ticks.get()
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Some(h) = self.h.take() {
            h.coro().cancel();
        }
    }
}

fn flags(fd: i32) -> i32 {
    // SAFETY: F_GETFL on a descriptor we own.
    unsafe { libc::fcntl(fd, libc::F_GETFL) }
}

#[test]
fn hooks_are_active_and_exported_by_the_test_binary() {
    assert!(corio::hook::active());
    // Each name resolves to the executable's own definition, not glibc's.
    for name in [
        c"read",
        c"write",
        c"recv",
        c"send",
        c"recvfrom",
        c"sendto",
        c"readv",
        c"writev",
        c"connect",
        c"accept",
        c"accept4",
        c"poll",
        c"ppoll",
        c"select",
        c"epoll_wait",
        c"nanosleep",
        c"clock_nanosleep",
        c"usleep",
        c"sleep",
        c"close",
        c"dup",
        c"dup2",
        c"fcntl",
        c"ioctl",
        c"setsockopt",
        c"socket",
        c"pipe2",
        c"getaddrinfo",
        c"sendfile64",
        c"splice",
        c"__read_chk",
        c"__poll_chk",
    ] {
        // SAFETY: NUL-terminated names.
        let (ours, libc_own) = unsafe {
            (
                libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()),
                libc::dlsym(libc::RTLD_NEXT, name.as_ptr()),
            )
        };
        assert!(!ours.is_null() && !libc_own.is_null(), "{name:?}");
        assert_ne!(ours, libc_own, "{name:?} is not interposed");
    }
}

#[test]
fn ten_thousand_thread_sleeps_take_about_one_sleep() {
    let start = Instant::now();
    let sleepers: Vec<_> = (0..10_000)
        .map(|_| corio::spawn(|| std::thread::sleep(Duration::from_millis(100))))
        .collect();
    for s in sleepers {
        s.join().unwrap();
    }
    let took = start.elapsed();
    println!("10,000 coros slept 100 ms each in {took:?}");
    // One after another they would take 1,000 s.
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// Serves each connection with a coro that reads a 4-byte number, sleeps
/// 100 ms with `std::thread::sleep` and answers with the number doubled.
fn slow_doubler(listener: TcpListener) -> corio::JoinHandle<()> {
    corio::Builder::new()
        .name("accept")
        .prio(corio::PRIO_HIGH)
        .spawn(move || {
            // An error here is the cancel at the end of the test.
            while let Ok((mut conn, _)) = listener.accept() {
                drop(corio::spawn(move || {
                    let mut b = [0u8; 4];
                    if conn.read_exact(&mut b).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                    let n = u32::from_le_bytes(b) * 2;
                    let _ = conn.write_all(&n.to_le_bytes());
                }));
            }
        })
        .unwrap()
}

#[test]
fn a_thousand_std_streams_against_a_100ms_server_overlap() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = slow_doubler(listener);
    let start = Instant::now();
    let clients: Vec<_> = (0..1000u32)
        .map(|i| {
            corio::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(&i.to_le_bytes()).unwrap();
                let mut b = [0u8; 4];
                s.read_exact(&mut b).unwrap();
                u32::from_le_bytes(b)
            })
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        assert_eq!(c.join().unwrap(), 2 * i as u32);
    }
    let took = start.elapsed();
    println!("1,000 std::net clients, 100 ms answers: {took:?}");
    // One after another: 100 s. (Well under 1 s on a quiet machine; the
    // bound is loose for a shared one running other tests at once.)
    assert!(took < Duration::from_secs(5), "{took:?}");
    server.coro().cancel();
}

#[test]
fn the_main_coro_parks_in_a_hooked_sleep_and_read() {
    let ticker = Ticker::start();
    std::thread::sleep(Duration::from_millis(100));
    assert!(ticker.ticks() >= 5, "ticks {}", ticker.ticks());

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let writer = corio::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        corio::sleep(Duration::from_millis(100));
        conn.write_all(b"late").unwrap();
    });
    let mut s = TcpStream::connect(addr).unwrap();
    let before = ticker.ticks();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).unwrap(); // the main coro parks here
    assert_eq!(&b, b"late");
    assert!(
        ticker.ticks() >= before + 5,
        "ticks {} -> {}",
        before,
        ticker.ticks()
    );
    writer.join().unwrap();
}

#[test]
fn read_timeouts_are_honoured_while_other_coros_run() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let _keep = corio::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        corio::sleep(Duration::from_secs(5));
        drop(conn);
    });
    let ticker = Ticker::start();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    let start = Instant::now();
    let err = s.read(&mut [0u8; 8]).unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
    assert!(took >= Duration::from_millis(140), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(ticker.ticks() >= 5, "ticks {}", ticker.ticks());
    _keep.coro().cancel();
}

#[test]
fn a_non_blocking_std_socket_still_gets_would_block() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let s = TcpStream::connect(addr).unwrap();
    let (_peer, _) = listener.accept().unwrap();
    s.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let err = (&s).read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    assert!(start.elapsed() < Duration::from_millis(50));
    assert_ne!(flags(s.as_raw_fd()) & libc::O_NONBLOCK, 0);
    // And blocking again in the caller's view, although adopted underneath.
    s.set_nonblocking(false).unwrap();
    assert_eq!(flags(s.as_raw_fd()) & libc::O_NONBLOCK, 0);
}

#[test]
fn an_adopted_socket_shows_its_blocking_view_and_blocks_on_a_plain_thread() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    // Adopted: a coro waited on it.
    let feeder = corio::spawn(move || {
        corio::sleep(Duration::from_millis(20));
        peer.write_all(b"1").unwrap();
        peer
    });
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    let mut peer = feeder.join().unwrap();
    // SAFETY: F_GETFL through the C library's own fcntl would show the
    // flag; the hooked one shows the caller's view.
    assert_eq!(flags(s.as_raw_fd()) & libc::O_NONBLOCK, 0);
    // Handed to a plain thread (no scheduler): a blocking read there
    // waits for data instead of failing with WouldBlock.
    let reader = std::thread::spawn(move || {
        let mut b = [0u8; 5];
        s.read_exact(&mut b).map(|_| b)
    });
    std::thread::sleep(Duration::from_millis(50)); // parks main only
    peer.write_all(b"hello").unwrap();
    assert_eq!(&reader.join().unwrap().unwrap(), b"hello");
}

#[test]
fn plain_threads_and_regular_files_pass_straight_through() {
    // A thread without a scheduler: std::thread::sleep sleeps the thread.
    let t = std::thread::spawn(|| {
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(30));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            c.write_all(b"x").unwrap();
        });
        let mut s = TcpStream::connect(addr).unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        h.join().unwrap();
        // Never adopted: the real flags are the caller's.
        // SAFETY: the C library's own answer through a raw system call.
        let real = unsafe { libc::syscall(libc::SYS_fcntl, s.as_raw_fd(), libc::F_GETFL) };
        (start.elapsed(), b[0], real as i32 & libc::O_NONBLOCK)
    });
    let (took, b, nb) = t.join().unwrap();
    assert!(took >= Duration::from_millis(30));
    assert_eq!((b, nb), (b'x', 0));

    // A regular file read in a coro is a plain read.
    let path = std::env::temp_dir().join(format!("corio-hook-{}", std::process::id()));
    std::fs::write(&path, b"file contents").unwrap();
    let got = corio::spawn({
        let path = path.clone();
        move || std::fs::read_to_string(path).unwrap()
    })
    .join()
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(got, "file contents");
}

#[test]
fn cancelling_a_coro_parked_in_recv_runs_its_drops_and_closes_its_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Log::new();
    let fd = Rc::new(Cell::new(-1));
    let (l2, fd2) = (log.clone(), fd.clone());
    let victim = corio::spawn(move || {
        let _d = DropLog {
            log: l2.clone(),
            what: "guard".into(),
        };
        let mut s = TcpStream::connect(addr).unwrap();
        fd2.set(s.as_raw_fd());
        let mut b = [0u8; 1];
        let r = s.read(&mut b); // parks; the cancel makes it fail
        l2.push(format!("read: {:?}", r.map_err(|e| e.raw_os_error())));
        // The next corio call unwinds.
        corio::cede();
        l2.push("not reached");
    });
    let id = victim.coro().id();
    let (_peer, _) = listener.accept().unwrap();
    corio::sleep(Duration::from_millis(20));
    victim.coro().cancel();
    assert!(matches!(victim.join(), Err(corio::JoinError::Cancelled)));
    assert_eq!(
        log.get(),
        [
            format!("read: Err(Some({}))", libc::ECANCELED),
            format!("drop guard in {id}")
        ]
    );
    // The socket went with the coro's stack.
    // SAFETY: F_GETFD on a number that should be closed.
    assert_eq!(unsafe { libc::fcntl(fd.get(), libc::F_GETFD) }, -1);
}

#[test]
fn a_socket_shared_with_a_cancelled_reader_stays_usable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let s = Rc::new(TcpStream::connect(addr).unwrap());
    let (mut peer, _) = listener.accept().unwrap();
    let s2 = s.clone();
    let victim = corio::spawn(move || {
        let mut b = [0u8; 1];
        let r = (&*s2).read(&mut b);
        corio::cede();
        r.map(|_| ())
    });
    corio::cede(); // let it park in recv
    victim.coro().cancel();
    assert!(matches!(victim.join(), Err(corio::JoinError::Cancelled)));
    // The same socket, used again from the main coro: it parks and reads.
    let writer = corio::spawn(move || {
        corio::sleep(Duration::from_millis(20));
        peer.write_all(b"still here").unwrap();
        peer
    });
    let mut b = [0u8; 10];
    (&*s).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"still here");
    writer.join().unwrap();
}

#[test]
fn closing_a_socket_wakes_the_coro_parked_on_it_with_ebadf() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let s = TcpStream::connect(addr).unwrap();
    let (_peer, _) = listener.accept().unwrap();
    let fd = s.as_raw_fd();
    // The reader uses the descriptor number; another coro closes it.
    let reader = corio::spawn(move || {
        let mut b = [0u8; 1];
        // SAFETY: reads into a valid buffer; EBADF expected.
        let r = unsafe { libc::recv(fd, b.as_mut_ptr().cast(), 1, 0) };
        (r, io::Error::last_os_error().raw_os_error())
    });
    corio::cede();
    drop(s); // close(2) through the hook
    let (r, e) = within(Duration::from_secs(10), "the woken reader", || {
        reader.join().unwrap()
    });
    assert_eq!((r, e), (-1, Some(libc::EBADF)));
}

#[test]
fn a_timeout_around_a_hooked_read_is_err_timeout() {
    // The read fails with ETIMEDOUT (no unwind through C) and the closure
    // returns that error; the deadline came first, so `timeout` says so.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    let (_peer, _) = listener.accept().unwrap();
    let start = Instant::now();
    let mut inner = None;
    let r = corio::timeout(Duration::from_millis(50), || {
        inner = Some(s.read(&mut [0u8; 4]).map_err(|e| e.kind()));
    });
    assert_eq!(r, Err(corio::Timeout::new()));
    assert_eq!(inner, Some(Err(io::ErrorKind::TimedOut)));
    assert!(start.elapsed() < Duration::from_secs(2));
    // The interrupt did not outlive its timeout: corio calls work.
    corio::sleep(Duration::from_millis(1));
}

#[test]
fn split_reader_and_writer_coros_on_one_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = corio::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => c.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let s = TcpStream::connect(addr).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = s;
    const N: usize = 1 << 20;
    let writer = corio::spawn(move || {
        let data: Vec<u8> = (0..N).map(|i| (i % 251) as u8).collect();
        w.write_all(&data).unwrap();
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    within(Duration::from_secs(30), "the echo", || {
        r.read_to_end(&mut got)
    })
    .unwrap();
    writer.join().unwrap();
    assert_eq!(got.len(), N);
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    echo.join().unwrap();
}

#[test]
fn std_connect_timeout_polls_without_blocking_the_thread() {
    let ticker = Ticker::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    drop(s);
    // A routable address that never answers would take the timeout; an
    // unroutable one fails at once. Either way other coros run meanwhile.
    corio::sleep(Duration::from_millis(30));
    assert!(ticker.ticks() >= 1);
}

#[test]
fn name_lookups_run_off_the_thread() {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = corio::spawn(|| {
        ("localhost", 80)
            .to_socket_addrs()
            .unwrap()
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    assert!(addrs.iter().any(|a| a.ip().is_loopback()), "{addrs:?}");
    // The lookup ran on a resolver thread of this process.
    let resolvers = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.trim() == "corio-resolver")
        .count();
    assert!(resolvers >= 1, "no corio-resolver thread");
    // An unknown name is an error, in the coro that asked.
    let err = corio::spawn(|| ("no-such-host.invalid", 80).to_socket_addrs().map(|_| ()))
        .join()
        .unwrap()
        .unwrap_err();
    assert!(!err.to_string().is_empty());
}

#[test]
fn a_mio_socket_elsewhere_is_unaffected() {
    use mio::{Events, Interest, Poll, Token};
    // A mio event loop on a plain thread, and a mio socket in a coro.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        c.write_all(b"mio").unwrap();
        c
    });
    let looped = std::thread::spawn(move || {
        let mut poll = Poll::new().unwrap();
        let mut s = mio::net::TcpStream::connect(addr).unwrap();
        poll.registry()
            .register(&mut s, Token(1), Interest::READABLE)
            .unwrap();
        let mut events = Events::with_capacity(8);
        let mut got = Vec::new();
        let start = Instant::now();
        while got.len() < 3 && start.elapsed() < Duration::from_secs(10) {
            poll.poll(&mut events, Some(Duration::from_millis(500)))
                .unwrap();
            let mut b = [0u8; 8];
            loop {
                match s.read(&mut b) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&b[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        got
    });
    assert_eq!(looped.join().unwrap(), b"mio");
    drop(server.join().unwrap());

    // In a coro, a mio socket's read says WouldBlock at once.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let r = corio::spawn(move || {
        let mut s = mio::net::TcpStream::connect(addr).unwrap();
        let start = Instant::now();
        let e = s.read(&mut [0u8; 4]).unwrap_err().kind();
        (e, start.elapsed())
    })
    .join()
    .unwrap();
    assert_eq!(r.0, io::ErrorKind::WouldBlock);
    assert!(r.1 < Duration::from_millis(50));
    drop(listener);
}

#[test]
fn a_pipe_read_parks_and_a_child_process_gets_blocking_pipes() {
    use std::process::{Command, Stdio};
    // The child reports whether its stdin and stdout are non-blocking.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("read line; echo \"got $line\"")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let ticker = Ticker::start();
    let reader = corio::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap(); // parks on the pipe
        s
    });
    corio::sleep(Duration::from_millis(50));
    stdin.write_all(b"hello\n").unwrap();
    drop(stdin);
    assert_eq!(reader.join().unwrap(), "got hello\n");
    assert!(ticker.ticks() >= 3);
    assert!(child.wait().unwrap().success());
}

#[test]
fn errno_survives_a_park() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let s = TcpStream::connect(addr).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    let other = corio::spawn(move || {
        // Sets errno on this (shared) thread while the main coro is parked.
        // SAFETY: closing an invalid descriptor fails with EBADF.
        unsafe { libc::close(-1) };
        peer.write_all(b"z").unwrap();
        peer
    });
    let mut b = [0u8; 1];
    // SAFETY: recv into a valid buffer.
    let r = unsafe { libc::recv(s.as_raw_fd(), b.as_mut_ptr().cast(), 1, 0) };
    assert_eq!(r, 1);
    // The failed recv case: errno is the hook's, not the other coro's.
    // SAFETY: MSG_DONTWAIT recv into a valid buffer.
    let r = unsafe { libc::recv(s.as_raw_fd(), b.as_mut_ptr().cast(), 1, libc::MSG_DONTWAIT) };
    assert_eq!(r, -1);
    assert_eq!(
        io::Error::last_os_error().raw_os_error(),
        Some(libc::EAGAIN)
    );
    other.join().unwrap();
}

/// The bookkeeping calls (socket, dup, close) leave errno as the C
/// library's own call left it: a success does not clear a value the
/// caller set, a failure reports its own error.
#[test]
fn bookkeeping_calls_leave_errno_as_the_c_library_sets_it() {
    let set_errno = |v| {
        // SAFETY: this thread's errno.
        unsafe { *libc::__errno_location() = v };
    };
    let errno = || io::Error::last_os_error().raw_os_error();
    // A socket registered with the reactor first, so that closing and
    // duplicating it has records and a registration to update.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let s = TcpStream::connect(addr).unwrap();
    let (peer, _) = listener.accept().unwrap();
    let reader = corio::spawn(move || {
        let mut b = [0u8; 1];
        (&s).read_exact(&mut b).unwrap(); // parks: adopts `s`
        s
    });
    corio::cede();
    (&peer).write_all(b"y").unwrap();
    let s = reader.join().unwrap();

    set_errno(libc::ENOTTY);
    let dup = s.try_clone().unwrap(); // fcntl(F_DUPFD_CLOEXEC)
    assert_eq!(errno(), Some(libc::ENOTTY), "after a duplicate");
    drop(dup); // close
    assert_eq!(errno(), Some(libc::ENOTTY), "after a close");
    // SAFETY: a plain socket(2) call; its descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(fd >= 0);
    assert_eq!(errno(), Some(libc::ENOTTY), "after a socket");
    // SAFETY: `fd` is ours.
    let fd2 = unsafe { libc::dup(fd) };
    assert!(fd2 >= 0);
    assert_eq!(errno(), Some(libc::ENOTTY), "after dup");
    // SAFETY: both descriptors are ours.
    unsafe {
        assert_eq!(libc::dup2(fd, fd2), fd2);
        assert_eq!(errno(), Some(libc::ENOTTY), "after dup2");
        libc::close(fd2);
        libc::close(fd);
    }
    // Failures report their own error.
    // SAFETY: closing and duplicating a closed descriptor fail with EBADF.
    unsafe {
        assert_eq!(libc::close(fd), -1);
        assert_eq!(errno(), Some(libc::EBADF));
        set_errno(0);
        assert_eq!(libc::dup(fd), -1);
        assert_eq!(errno(), Some(libc::EBADF));
    }
    drop(s);
}

#[test]
fn a_forked_child_leaves_the_parents_registrations_alone() {
    use std::os::unix::process::CommandExt;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    // Adopted and registered with this thread's reactor.
    let w = corio::spawn(move || {
        corio::sleep(Duration::from_millis(10));
        peer.write_all(b"1").unwrap();
        peer
    });
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    let mut peer = w.join().unwrap();
    let fd = s.as_raw_fd();
    // The child closes its copy of the socket before it execs: in the
    // parent the registration (an epoll instance the child shares) stays.
    let mut cmd = std::process::Command::new("true");
    // SAFETY: close(2) is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            libc::close(fd);
            Ok(())
        });
    }
    assert!(cmd.status().unwrap().success());
    let w = corio::spawn(move || {
        corio::sleep(Duration::from_millis(30));
        peer.write_all(b"after fork").unwrap();
        peer
    });
    let mut b = [0u8; 10];
    within(Duration::from_secs(10), "the read after the fork", || {
        s.read_exact(&mut b)
    })
    .unwrap();
    assert_eq!(&b, b"after fork");
    w.join().unwrap();
}

#[test]
fn several_coros_accept_on_one_listener() {
    let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap();
    let acceptors: Vec<_> = (0..4)
        .map(|_| {
            let l = listener.clone();
            corio::spawn(move || {
                let (mut c, _) = l.accept().unwrap();
                let mut b = [0u8; 1];
                c.read_exact(&mut b).unwrap();
                b[0]
            })
        })
        .collect();
    corio::cede();
    let clients: Vec<_> = (0..4u8)
        .map(|i| {
            corio::spawn(move || {
                corio::sleep(Duration::from_millis(10 * u64::from(i)));
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(&[i]).unwrap();
                s
            })
        })
        .collect();
    let mut got: Vec<u8> = within(Duration::from_secs(10), "the acceptors", || {
        acceptors.into_iter().map(|a| a.join().unwrap()).collect()
    });
    got.sort();
    assert_eq!(got, [0, 1, 2, 3]);
    for c in clients {
        c.join().unwrap();
    }
}

#[test]
fn io_copy_from_a_file_to_a_slow_reader_parks_instead_of_failing() {
    let path = std::env::temp_dir().join(format!("corio-hook-copy-{}", std::process::id()));
    let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 249) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = corio::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            corio::sleep(Duration::from_millis(1)); // a slow reader
            match c.read(&mut buf).unwrap() {
                0 => return got,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
    });
    let mut s = TcpStream::connect(addr).unwrap();
    let mut f = std::fs::File::open(&path).unwrap();
    // std sends a file to a socket with sendfile(2).
    let n = within(Duration::from_secs(60), "the copy", || {
        std::io::copy(&mut f, &mut s)
    })
    .unwrap();
    drop(s);
    assert_eq!(n, data.len() as u64);
    let got = reader.join().unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(got == data, "the copy differs");
}

#[test]
fn udp_and_select_park_only_their_coro() {
    let ticker = Ticker::start();
    let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = a.local_addr().unwrap();
    let sender = corio::spawn(move || {
        corio::sleep(Duration::from_millis(100));
        b.send_to(b"datagram", to).unwrap();
    });
    let fd = a.as_raw_fd();
    // select(2) first: it waits (parking) until the datagram is there.
    // SAFETY: a zeroed fd_set, set with a descriptor below FD_SETSIZE.
    let ready = unsafe {
        let mut set: libc::fd_set = std::mem::zeroed();
        libc::FD_SET(fd, &mut set);
        let mut tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        let n = libc::select(
            fd + 1,
            &mut set,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut tv,
        );
        (n, libc::FD_ISSET(fd, &set))
    };
    assert_eq!(ready, (1, true));
    let mut buf = [0u8; 16];
    let (n, _) = a.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"datagram");
    assert!(ticker.ticks() >= 5, "ticks {}", ticker.ticks());
    sender.join().unwrap();
}

/// `ppoll` and `pselect` with each kind of timeout: a zero one passes
/// straight through (no park, nothing ready: 0), an invalid one gets the
/// kernel's `EINVAL`, a null one waits (parking) until the descriptor is
/// ready, a short one times out with 0 after parking.
#[test]
fn ppoll_and_pselect_with_zero_invalid_null_and_short_timeouts() {
    let ticker = Ticker::start();
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    let ppoll = |ts: Option<libc::timespec>| {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
        // SAFETY: one valid pollfd; the timeout is null or a live timespec.
        let n = unsafe { libc::ppoll(&mut p, 1, tsp, std::ptr::null()) };
        (n, io::Error::last_os_error().raw_os_error(), p.revents)
    };
    let pselect = |ts: Option<libc::timespec>| {
        // SAFETY: a zeroed fd_set, set with a descriptor below FD_SETSIZE;
        // the timeout is null or a live timespec.
        unsafe {
            let mut set: libc::fd_set = std::mem::zeroed();
            libc::FD_SET(fd, &mut set);
            let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
            let n = libc::pselect(
                fd + 1,
                &mut set,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                tsp,
                std::ptr::null(),
            );
            let e = io::Error::last_os_error().raw_os_error();
            (n, e, libc::FD_ISSET(fd, &set))
        }
    };
    let ts = |s, ns| {
        Some(libc::timespec {
            tv_sec: s,
            tv_nsec: ns,
        })
    };

    // Zero: nothing ready, no park.
    let before = ticker.ticks();
    assert_eq!(ppoll(ts(0, 0)).0, 0);
    assert_eq!(pselect(ts(0, 0)).0, 0);
    // Invalid: the kernel's answer, not a wait.
    let (n, e, _) = ppoll(ts(0, 2_000_000_000));
    assert_eq!((n, e), (-1, Some(libc::EINVAL)));
    let (n, e, _) = pselect(ts(-1, 0));
    assert_eq!((n, e), (-1, Some(libc::EINVAL)));
    assert_eq!(ticker.ticks(), before, "a zero or invalid timeout parked");

    // Short: times out after parking (the ticker ran meanwhile).
    let start = Instant::now();
    assert_eq!(ppoll(ts(0, 60_000_000)).0, 0);
    assert_eq!(pselect(ts(0, 60_000_000)).0, 0);
    assert!(start.elapsed() >= Duration::from_millis(120));
    assert!(ticker.ticks() >= before + 3, "ticks {}", ticker.ticks());

    // Null: waits until a writer coro makes the descriptor readable.
    let writer = corio::spawn(move || {
        corio::sleep(Duration::from_millis(50));
        (&b).write_all(b"x").unwrap();
        b
    });
    let (n, _, revents) = ppoll(None);
    assert_eq!((n, revents & libc::POLLIN), (1, libc::POLLIN));
    let (n, _, set) = pselect(None);
    assert_eq!((n, set), (1, true));
    let _b = writer.join().unwrap();
}

/// `MSG_WAITALL` means "the whole buffer" on a byte stream only: on a
/// datagram socket each call still takes one datagram, with its own sender,
/// whatever the flag (as the kernel does without the hooks).
#[test]
fn msg_waitall_takes_one_datagram_on_a_datagram_socket() {
    use rustix::net::{RecvFlags, recv, recvfrom};
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap();
    let s1 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let s2 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (a1, a2) = (s1.local_addr().unwrap(), s2.local_addr().unwrap());
    let sender = corio::spawn(move || {
        // The receiver parks first, so the datagrams arrive while it waits.
        corio::sleep(Duration::from_millis(50));
        s1.send_to(b"ab", to).unwrap();
        s2.send_to(b"cd", to).unwrap();
        s1.send_to(b"ef", to).unwrap();
    });
    let mut buf = [0u8; 4];
    let (n, _) = within(Duration::from_secs(5), "recv(MSG_WAITALL)", || {
        recv(&rx, &mut buf, RecvFlags::WAITALL).unwrap()
    });
    assert_eq!(&buf[..n], b"ab", "one datagram, not two joined");
    let (n, _, from) = recvfrom(&rx, &mut buf, RecvFlags::WAITALL).unwrap();
    assert_eq!(&buf[..n], b"cd");
    let from = std::net::SocketAddr::try_from(from.unwrap()).unwrap();
    assert_eq!(from, a2, "the sender of that datagram");
    let (n, _, from) = recvfrom(&rx, &mut buf, RecvFlags::WAITALL).unwrap();
    assert_eq!(&buf[..n], b"ef");
    assert_eq!(std::net::SocketAddr::try_from(from.unwrap()).unwrap(), a1);
    sender.join().unwrap();
}

/// On a stream socket `MSG_WAITALL` still waits for the whole buffer,
/// across several segments, parking only the coro.
#[test]
fn msg_waitall_waits_for_the_whole_buffer_on_a_stream_socket() {
    use rustix::net::{RecvFlags, recv};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let writer = corio::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        for part in [&b"ab"[..], b"cd", b"ef"] {
            s.write_all(part).unwrap();
            corio::sleep(Duration::from_millis(20));
        }
    });
    let s = TcpStream::connect(addr).unwrap();
    let ticker = Ticker::start();
    let mut buf = [0u8; 6];
    let (n, _) = within(Duration::from_secs(5), "recv(MSG_WAITALL)", || {
        recv(&s, &mut buf, RecvFlags::WAITALL).unwrap()
    });
    assert_eq!(&buf[..n], b"abcdef");
    assert!(
        ticker.ticks() >= 2,
        "parked only the coro: ticks {}",
        ticker.ticks()
    );
    writer.join().unwrap();
}
