//! Proof that unmodified blocking crates run on coros: `serde_json`'s
//! `from_reader` and `to_writer` straight on `corio::net::TcpStream`s, 128
//! connections at once on one scheduler thread.
//!
//! Each connection carries one request and one reply. The client writes
//! its request with `to_writer` and shuts its sending side; the server's
//! `from_reader` reads up to that end of stream, and answers with
//! `to_writer`; the client's `from_reader` reads the answer up to the
//! server's close. Every blocking read and write inside serde_json parks
//! only its own coro.

mod util;

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

    let replies = corio::timeout(Duration::from_secs(60), || {
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
    })
    .expect("the exchange did not finish within 60 s");

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
