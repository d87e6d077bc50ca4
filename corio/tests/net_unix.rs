//! Unix-domain stream sockets.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use corio::net::{UnixListener, UnixStream};

/// A fresh directory for socket files, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("corio-unix-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_listener_serves_clients_in_coros() {
    let dir = Dir::new("serve");
    let path = dir.0.join("s");
    let l = UnixListener::bind(&path).unwrap();
    let server = corio::spawn(move || {
        let handlers: Vec<_> = (0..10)
            .map(|_| {
                let (conn, _) = l.accept().unwrap();
                corio::spawn(move || {
                    let mut line = String::new();
                    BufReader::new(&conn).read_line(&mut line).unwrap();
                    (&conn).write_all(line.to_uppercase().as_bytes()).unwrap();
                })
            })
            .collect();
        for h in handlers {
            h.join().unwrap();
        }
    });
    let clients: Vec<_> = (0..10)
        .map(|i| {
            let p = path.clone();
            corio::spawn(move || {
                let s = UnixStream::connect(&p).unwrap();
                (&s).write_all(format!("u{i}\n").as_bytes()).unwrap();
                let mut r = String::new();
                BufReader::new(&s).read_line(&mut r).unwrap();
                assert_eq!(r, format!("U{i}\n"));
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
}

#[test]
fn connecting_to_nothing_fails_cleanly() {
    let dir = Dir::new("nothing");
    let e = UnixStream::connect(dir.0.join("absent")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn pair_timeouts_and_shutdown() {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    b.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    assert_eq!(b.read(&mut [0; 1]).unwrap_err().kind(), ErrorKind::TimedOut);
    a.write_all(b"bye").unwrap();
    a.shutdown(std::net::Shutdown::Write).unwrap();
    let mut s = String::new();
    b.read_to_string(&mut s).unwrap();
    assert_eq!(s, "bye");
}

#[test]
fn a_big_write_parks_until_the_reader_drains() {
    let (a, b) = UnixStream::pair().unwrap();
    let size = 4 << 20;
    let writer = corio::spawn(move || {
        let data = vec![9u8; size];
        (&a).write_all(&data).unwrap();
    });
    let mut got = Vec::new();
    (&b).take(size as u64).read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got.len(), size);
    assert!(got.iter().all(|&x| x == 9));
}
