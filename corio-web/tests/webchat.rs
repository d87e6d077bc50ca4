//! The webchat example's room, shared by a browser session (here a plain
//! HTTP client) and a terminal: each sees the other's lines.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use util::{Example, agent, post};

#[test]
fn a_terminal_and_a_browser_share_the_room() {
    let chat = Example::start_args("webchat", &["127.0.0.1:0", "127.0.0.1:0"], &[]);
    let taddr: SocketAddr = chat.before[0]
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("the terminal address line");

    let mut term = TcpStream::connect(taddr).unwrap();
    term.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut prompt = [0; 15];
    term.read_exact(&mut prompt).unwrap();
    assert_eq!(&prompt, b"Your nickname? ");
    term.write_all(b"tom\n").unwrap();
    let mut heard = BufReader::new(term.try_clone().unwrap()).lines();
    assert_eq!(heard.next().unwrap().unwrap(), "* tom joined");
    term.write_all(b"hello from a terminal <i>\n").unwrap();
    assert_eq!(
        heard.next().unwrap().unwrap(),
        "tom: hello from a terminal <i>"
    );

    // A browser session joins and finds the terminal's line, escaped.
    let web = agent(true);
    let nick_page =
        ureq::ResponseExt::get_uri(&web.get(&chat.url("/")).call().unwrap()).to_string();
    let room = post(&web, &nick_page, &[("nick", "wendy")]);
    assert!(
        room.body
            .contains("<b>tom</b>: hello from a terminal &lt;i&gt;"),
        "{}",
        room.body
    );
    assert_eq!(heard.next().unwrap().unwrap(), "* wendy joined");
    // The browser's line reaches the terminal.
    let room_page =
        ureq::ResponseExt::get_uri(&web.get(&chat.url("/")).call().unwrap()).to_string();
    post(&web, &room_page, &[("line", "hi tom")]);
    assert_eq!(heard.next().unwrap().unwrap(), "wendy: hi tom");
}

#[test]
fn a_terminal_line_without_end_is_cut_at_its_limit() {
    let chat = Example::start_args("webchat", &["127.0.0.1:0", "127.0.0.1:0"], &[]);
    let taddr: SocketAddr = chat.before[0]
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("the terminal address line");
    let mut term = TcpStream::connect(taddr).unwrap();
    term.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut prompt = [0; 15];
    term.read_exact(&mut prompt).unwrap();
    term.write_all(b"tom\n").unwrap();
    // 1 MB, no newline: the server stops at 2,000 bytes and hangs up
    // (the rest of the write may then fail).
    let _ = term.write_all(&vec![b'x'; 1 << 20]);
    let mut rest = String::new();
    let _ = term.read_to_string(&mut rest);
    assert!(rest.ends_with("* line too long\n"), "{rest:?}");
}
