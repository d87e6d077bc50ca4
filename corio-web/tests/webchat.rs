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

/// A browser joining as `nick`, over plain HTTP: the start, then the
/// nickname form.
fn join_over_http(addr: SocketAddr, nick: &str) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut ask = |req: String| {
        c.write_all(req.as_bytes()).unwrap();
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push(line.trim().to_owned());
        }
        let len: usize = head
            .iter()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        head
    };
    let find = |head: &[String], name: &str| {
        head.iter()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .to_owned()
    };
    let first = ask("GET / HTTP/1.1\r\nhost: t\r\n\r\n".into());
    let cookie = find(&first, "set-cookie: ");
    let cookie = cookie.split(';').next().unwrap();
    let page = find(&first, "location: ");
    let body = format!("nick={nick}");
    let joined = ask(format!(
        "POST {page} HTTP/1.1\r\nhost: t\r\ncookie: {cookie}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert!(joined[0].starts_with("HTTP/1.1 303"), "{joined:?}");
}

/// How many arrivals an announcement tells of: "a", "a and b",
/// "a, b, c, d, e and 7 others".
fn arrivals(line: &str) -> usize {
    let who = line
        .strip_prefix("* ")
        .and_then(|l| l.strip_suffix(" joined"))
        .unwrap_or_else(|| panic!("not an arrival: {line:?}"));
    match who
        .strip_suffix(" others")
        .and_then(|w| w.rsplit_once(" and "))
    {
        Some((shown, n)) => shown.split(", ").count() + n.parse::<usize>().unwrap(),
        None => who.split(", ").flat_map(|w| w.split(" and ")).count(),
    }
}

#[test]
fn a_flood_of_arrivals_is_announced_in_few_lines_not_one_each() {
    const JOINS: usize = 200;
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
    let mut heard = BufReader::new(term.try_clone().unwrap()).lines();
    assert_eq!(heard.next().unwrap().unwrap(), "* tom joined");
    // Every arrival reaches every member: the work of a join is a line to
    // each member. Announced one by one, the terminal would hear JOINS
    // lines; batched, one at once and then at most one a second.
    let start = std::time::Instant::now();
    for i in 0..JOINS {
        join_over_http(chat.addr, &format!("w{i}"));
    }
    let (mut lines, mut told) = (0, 0);
    while told < JOINS {
        let line = heard.next().expect("an announcement").unwrap();
        lines += 1;
        told += arrivals(&line);
    }
    let took = start.elapsed();
    println!("{JOINS} arrivals in {took:?}, announced in {lines} lines");
    assert_eq!(told, JOINS, "every arrival told once");
    assert!(
        lines as u64 <= 2 + took.as_secs(),
        "{lines} lines for {JOINS} arrivals in {took:?}"
    );
    assert!(lines < JOINS / 10, "{lines} lines for {JOINS} arrivals");
}

#[test]
fn announcements_name_who_came_and_went() {
    assert_eq!(arrivals("* a joined"), 1);
    assert_eq!(arrivals("* a and b joined"), 2);
    assert_eq!(arrivals("* a, b and c joined"), 3);
    assert_eq!(arrivals("* a, b, c, d, e and 7 others joined"), 12);
}
