//! Proof that unmodified blocking crates run on coros: WebSocket with
//! `tungstenite` (its blocking `accept` and `client`) over
//! `corio::net::TcpStream`, 128 sessions at once on one scheduler thread:
//! the handshake, text and binary echoes, a message of a quarter megabyte
//! each way, a ping answered by tungstenite itself, and a clean close.

mod util;

use std::time::Duration;

use corio::net::{TcpListener, TcpStream};
use tungstenite::{Message, accept, client};
use util::{Gate, Peak};

const CLIENTS: usize = 128;
const MESSAGES: usize = 5;
/// Bytes in each session's large message (plus the session's number).
const BIG: usize = 256 * 1024;

#[test]
fn tungstenite_echoes_on_128_concurrent_websockets() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Peak::new();
    let gate = Gate::new(2 * CLIENTS);
    let (server_open, server_gate) = (open.clone(), gate.clone());
    let server = corio::spawn(move || {
        corio::net::serve_on(listener, move |conn: TcpStream| {
            let _open = server_open.enter();
            server_gate.wait();
            let Ok(mut ws) = accept(conn) else { return };
            loop {
                match ws.read() {
                    Ok(Message::Text(t)) => {
                        if ws.send(Message::text(format!("echo: {t}"))).is_err() {
                            return;
                        }
                    }
                    Ok(Message::Binary(b)) => {
                        let mut rev = b.to_vec();
                        rev.reverse();
                        if ws.send(Message::binary(rev)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // The client's close (answered by tungstenite) or a
                    // broken connection: this session ends.
                    Err(_) => return,
                }
            }
        })
    });

    let results = util::within(Duration::from_secs(60), "the WebSocket sessions", || {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let gate = gate.clone();
                corio::spawn(move || {
                    let conn = TcpStream::connect(addr).unwrap();
                    gate.wait();
                    let (mut ws, response) = client(format!("ws://{addr}/chat"), conn).unwrap();
                    assert_eq!(response.status(), 101);
                    let mut got = Vec::new();
                    for k in 0..MESSAGES {
                        ws.send(Message::text(format!("{i}.{k}"))).unwrap();
                        got.push(ws.read().unwrap().into_text().unwrap().to_string());
                    }
                    ws.send(Message::binary(vec![1u8, 2, 3, i as u8])).unwrap();
                    let bin = ws.read().unwrap().into_data().to_vec();
                    // A message larger than a loopback socket's starting
                    // buffers (16 KiB to send, 128 KiB to receive): it
                    // takes many socket calls, and a full buffer parks
                    // the writer part-way.
                    let big: Vec<u8> = (0..BIG + i).map(|k| (k % 251) as u8).collect();
                    ws.send(Message::binary(big.clone())).unwrap();
                    let mut big_back = ws.read().unwrap().into_data().to_vec();
                    big_back.reverse();
                    let big_ok = big_back == big;
                    // tungstenite's server answers a ping by itself.
                    ws.send(Message::Ping(format!("ping {i}").into())).unwrap();
                    let pong = ws.read().unwrap();
                    let pong_ok = pong == Message::Pong(format!("ping {i}").into());
                    ws.close(None).unwrap();
                    // Read until the server's close reply ends the session.
                    let end = loop {
                        match ws.read() {
                            Ok(_) => continue,
                            Err(e) => break e,
                        }
                    };
                    let clean = matches!(end, tungstenite::Error::ConnectionClosed);
                    (got, bin, big_ok, pong_ok, clean)
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });

    for (i, (got, bin, big_ok, pong_ok, clean)) in results.into_iter().enumerate() {
        let want: Vec<String> = (0..MESSAGES).map(|k| format!("echo: {i}.{k}")).collect();
        assert_eq!(got, want);
        assert_eq!(bin, [i as u8, 3, 2, 1]);
        assert!(big_ok, "session {i}: the large message came back wrong");
        assert!(pong_ok, "session {i}: no pong for the ping");
        assert!(clean, "session {i} did not close cleanly");
    }
    assert!(open.peak() >= CLIENTS, "peak {}", open.peak());
    server.coro().cancel();
}
