//! `serve` when the process runs out of file descriptors: `accept` fails
//! with `EMFILE`, the loop backs off instead of spinning, and serves the
//! waiting connections once descriptors are free again.
//!
//! Alone in its test binary: it fills the process's descriptor table.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use corio::net::{TcpListener, TcpStream};

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn emfile_on_accept_backs_off_and_recovers() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = corio::spawn(move || {
        corio::net::serve_on(l, |mut conn| {
            let mut buf = [0; 5];
            if conn.read_exact(&mut buf).is_ok() {
                let _ = conn.write_all(&buf);
            }
        })
    });
    // Connections the kernel completes and queues, before the table fills.
    let mut clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for c in &mut clients {
        c.write_all(b"hello").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    // Fill every free descriptor.
    let mut filler = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => filler.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("unexpected error filling the table: {e}"),
        }
    }
    assert!(!filler.is_empty());
    // The server now fails to accept; for 300 ms it must mostly sleep.
    let cpu0 = thread_cpu();
    corio::sleep(Duration::from_millis(300));
    let spent = thread_cpu() - cpu0;
    assert!(
        spent < Duration::from_millis(100),
        "the accept loop spun: {spent:?} of CPU in 300 ms"
    );
    // Nothing was served yet: the descriptors are all taken.
    clients[0].set_nonblocking(true).unwrap();
    assert_eq!(
        clients[0].read(&mut [0; 5]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    clients[0].set_nonblocking(false).unwrap();
    // Free the table: every queued connection gets served.
    drop(filler);
    for c in &mut clients {
        let mut buf = [0; 5];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
    }
    server.coro().cancel();
}
