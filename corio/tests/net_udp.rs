//! UDP sockets.

use std::io::ErrorKind;
use std::time::Duration;

use corio::net::UdpSocket;

#[test]
fn recv_from_parks_until_a_datagram_comes() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let receiver = corio::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..3 {
            let mut buf = [0; 32];
            let (n, from) = b.recv_from(&mut buf).unwrap();
            got.push((String::from_utf8_lossy(&buf[..n]).into_owned(), from));
        }
        got
    });
    corio::cede(); // the receiver parks
    for m in ["one", "two", "three"] {
        a.send_to(m.as_bytes(), b_addr).unwrap();
        corio::cede();
    }
    let got = receiver.join().unwrap();
    let texts: Vec<_> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    assert!(got.iter().all(|(_, from)| *from == a_addr));
}

#[test]
fn connected_sockets_send_and_recv() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    a.send(b"ping").unwrap();
    let mut buf = [0; 4];
    assert_eq!(b.peek(&mut buf).unwrap(), 4);
    assert_eq!(b.recv(&mut buf).unwrap(), 4);
    assert_eq!(&buf, b"ping");
    b.send(b"pong").unwrap();
    assert_eq!(a.recv(&mut buf).unwrap(), 4);
    assert_eq!(&buf, b"pong");
}

#[test]
fn a_read_timeout_gives_timed_out() {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    assert_eq!(
        s.recv_from(&mut [0; 8]).unwrap_err().kind(),
        ErrorKind::TimedOut
    );
    assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_millis(10)));
}

#[test]
fn send_to_resolves_names_and_refuses_empty_lists() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = b.local_addr().unwrap().port();
    a.send_to(b"x", format!("127.0.0.1:{port}")).unwrap();
    let mut buf = [0; 1];
    assert_eq!(b.recv_from(&mut buf).unwrap().0, 1);
    let none: &[std::net::SocketAddr] = &[];
    assert_eq!(
        a.send_to(b"x", none).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn a_clone_receives_what_was_sent_to_the_original() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a2 = a.try_clone().unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let h = corio::spawn(move || {
        let mut buf = [0; 3];
        a2.recv_from(&mut buf).unwrap();
        buf
    });
    corio::cede();
    b.send_to(b"abc", a.local_addr().unwrap()).unwrap();
    assert_eq!(&h.join().unwrap(), b"abc");
}
