//! Proof that unmodified blocking crates run on coros: `serde_json`'s
//! `from_reader` and `to_writer` straight on `corio::net::TcpStream`s, 128
//! connections at once on one scheduler thread.
//!
//! `serde_json::from_reader` reads its reader to the end (it rejects
//! anything after the value), so it fits a one-shot exchange: in the
//! first test the client writes its request with `to_writer` and shuts its
//! sending side; the server's `from_reader` reads up to that end of
//! stream and answers with `to_writer`; the client's `from_reader` reads
//! the answer up to the server's close.
//!
//! A conversation of many requests on one connection uses serde_json's
//! streaming form instead, `Deserializer::from_reader(..).into_iter()`,
//! which stops at the end of each value: in the second test both sides
//! write newline-separated values with `to_writer` and read them with
//! that iterator, over a `BufReader` (serde_json reads a byte at a time;
//! its docs ask for a buffer).
//!
//! Every blocking read and write inside serde_json parks only its own
//! coro.

mod util;

use std::io::{BufReader, BufWriter, Write};
use std::net::Shutdown;
use std::time::Duration;

use corio::net::{TcpListener, TcpStream};
use serde::{Deserialize, Serialize};
use util::{Gate, Peak};

const CLIENTS: usize = 128;

#[derive(Serialize, Deserialize, Debug)]
struct Request {
    client: usize,
    numbers: Vec<u64>,
    note: String,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Reply {
    client: usize,
    sum: u64,
    note_len: usize,
}

#[test]
fn serde_json_reads_and_writes_on_128_concurrent_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Peak::new();
    // Every server coro and every client meet here before a byte is sent:
    // the server holds all 128 connections at once.
    let gate = Gate::new(2 * CLIENTS);
    let (server_open, server_gate) = (open.clone(), gate.clone());
    let server = corio::spawn(move || {
        corio::net::serve_on(listener, move |conn: TcpStream| {
            let _open = server_open.enter();
            server_gate.wait();
            let req: Request = serde_json::from_reader(&conn).expect("a request");
            let reply = Reply {
                client: req.client,
                sum: req.numbers.iter().sum(),
                note_len: req.note.len(),
            };
            serde_json::to_writer(&conn, &reply).expect("the reply");
        })
    });

    let replies = util::within(Duration::from_secs(60), "the exchange", || {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let gate = gate.clone();
                corio::spawn(move || {
                    let conn = TcpStream::connect(addr).unwrap();
                    gate.wait();
                    let req = Request {
                        client,
                        numbers: (0..=client as u64).collect(),
                        // Big enough to need several reads on the server.
                        note: "x".repeat(10_000 + client),
                    };
                    serde_json::to_writer(&conn, &req).unwrap();
                    conn.shutdown(Shutdown::Write).unwrap();
                    let reply: Reply = serde_json::from_reader(&conn).unwrap();
                    reply
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });

    for (client, reply) in replies.iter().enumerate() {
        let n = client as u64;
        assert_eq!(
            reply,
            &Reply {
                client,
                sum: n * (n + 1) / 2,
                note_len: 10_000 + client
            }
        );
    }
    assert!(
        open.peak() >= CLIENTS,
        "only {} connections were open at once",
        open.peak()
    );
    server.coro().cancel();
}

const ROUNDS: u64 = 10;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Ask {
    client: usize,
    round: u64,
    x: u64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Answer {
    client: usize,
    round: u64,
    square: u64,
    /// How many requests the server has read on this connection so far.
    seen: u64,
}

/// Writes one value and its newline, and sends them.
fn send<T: Serialize>(out: &mut BufWriter<&TcpStream>, value: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")?;
    out.flush()
}

#[test]
fn serde_json_streams_many_requests_per_connection_on_128_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Peak::new();
    let gate = Gate::new(2 * CLIENTS);
    let (server_open, server_gate) = (open.clone(), gate.clone());
    // What each server coro saw when its client hung up: (client, requests).
    let served = util::Log::new();
    let server_served = served.clone();
    let server = corio::spawn(move || {
        corio::net::serve_on(listener, move |conn: TcpStream| {
            let _open = server_open.enter();
            server_gate.wait();
            let asks = serde_json::Deserializer::from_reader(BufReader::new(&conn));
            let mut out = BufWriter::new(&conn);
            let (mut seen, mut client) = (0, None);
            // The iterator parks in the socket read until the next request
            // arrives, and ends when the client closes its side.
            for ask in asks.into_iter::<Ask>() {
                let ask = ask.expect("a well-formed request");
                seen += 1;
                client = Some(ask.client);
                let answer = Answer {
                    client: ask.client,
                    round: ask.round,
                    square: ask.x * ask.x,
                    seen,
                };
                send(&mut out, &answer).expect("the answer");
            }
            server_served.push(format!("{client:?} {seen}"));
        })
    });

    let answers = util::within(Duration::from_secs(60), "the conversations", || {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let gate = gate.clone();
                corio::spawn(move || {
                    let conn = TcpStream::connect(addr).unwrap();
                    gate.wait();
                    let mut out = BufWriter::new(&conn);
                    let mut answers = serde_json::Deserializer::from_reader(BufReader::new(&conn))
                        .into_iter::<Answer>();
                    let mut got = Vec::new();
                    for round in 0..ROUNDS {
                        let x = client as u64 * 1000 + round;
                        send(&mut out, &Ask { client, round, x }).unwrap();
                        // Other coros run while this one waits in here.
                        got.push(answers.next().expect("an answer").unwrap());
                    }
                    conn.shutdown(Shutdown::Write).unwrap();
                    // The server ends the conversation when it sees ours end.
                    assert!(answers.next().is_none(), "nothing after the last answer");
                    got
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });

    for (client, got) in answers.iter().enumerate() {
        let want: Vec<Answer> = (0..ROUNDS)
            .map(|round| {
                let x = client as u64 * 1000 + round;
                Answer {
                    client,
                    round,
                    square: x * x,
                    seen: round + 1,
                }
            })
            .collect();
        assert_eq!(got, &want, "client {client}");
    }
    // Every server coro saw exactly one client's ten requests, then its end.
    let mut seen = served.get();
    seen.sort();
    let mut want: Vec<String> = (0..CLIENTS)
        .map(|c| format!("Some({c}) {ROUNDS}"))
        .collect();
    want.sort();
    assert_eq!(seen, want);
    assert!(
        open.peak() >= CLIENTS,
        "only {} connections were open at once",
        open.peak()
    );
    server.coro().cancel();
}
