//! `corio::net::lookup_host`: name lookup off the scheduler thread.

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use corio::net::lookup_host;

#[test]
fn localhost_resolves_to_loopback_with_the_port() {
    let addrs = lookup_host("localhost", 4242).unwrap();
    assert!(!addrs.is_empty());
    for a in &addrs {
        assert!(a.ip().is_loopback(), "{a}");
        assert_eq!(a.port(), 4242);
    }
    // The same answer as std's resolver gives.
    let std: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 4242))
        .unwrap()
        .collect();
    assert_eq!(addrs, std);
}

#[test]
fn literal_addresses_are_parsed_not_looked_up() {
    assert_eq!(
        lookup_host("127.0.0.1", 1).unwrap(),
        [SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1)]
    );
    assert_eq!(
        lookup_host("::1", 2).unwrap(),
        [SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 2)]
    );
}

#[test]
fn an_unknown_name_is_an_error() {
    assert!(lookup_host("no-such-host.invalid", 80).is_err());
    assert!(lookup_host("", 80).is_err());
}

#[test]
fn what_it_returns_can_be_connected_to() {
    let l = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let addrs: Vec<SocketAddr> = lookup_host("localhost", port)
        .unwrap()
        .into_iter()
        .filter(SocketAddr::is_ipv4)
        .collect();
    let s = corio::net::TcpStream::connect(&addrs[..]).unwrap();
    let (_conn, peer) = l.accept().unwrap();
    assert_eq!(peer, s.local_addr().unwrap());
}

#[test]
fn many_coros_look_up_at_once() {
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let ticker = corio::spawn(move || {
        for _ in 0..3 {
            t.set(t.get() + 1);
            corio::cede();
        }
    });
    let lookups: Vec<_> = (0..20)
        .map(|i| corio::spawn(move || lookup_host("localhost", i).unwrap()))
        .collect();
    for (i, h) in lookups.into_iter().enumerate() {
        let addrs = h.join().unwrap();
        assert!(addrs.iter().all(|a| a.port() == i as u16));
    }
    ticker.join().unwrap();
    assert_eq!(ticks.get(), 3);
}
