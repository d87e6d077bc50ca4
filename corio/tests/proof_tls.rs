//! Proof that unmodified blocking crates run on coros: TLS with
//! `rustls::StreamOwned` over `corio::net::TcpStream` on both ends, 128
//! handshakes at once on one scheduler thread (TLS 1.3, and again TLS
//! 1.2), with a certificate made by `rcgen` for each test and the `ring`
//! crypto provider. Each client's request spans several TLS records.

mod util;

use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use std::time::Duration;

use corio::net::{TcpListener, TcpStream};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, ProtocolVersion, RootCertStore, ServerConfig, ServerConnection,
    StreamOwned, SupportedProtocolVersion,
};
use util::{Gate, Peak};

const CLIENTS: usize = 128;

fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    configs_for(rustls::DEFAULT_VERSIONS)
}

/// A fresh self-signed certificate for "localhost" and a server and a
/// client config (the client trusts just that certificate) that speak
/// only `versions`.
fn configs_for(
    versions: &[&'static SupportedProtocolVersion],
) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert: CertificateDer<'static> = key.cert.der().clone();
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], private)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// What one client saw: the reply, and the protocol version and cipher
/// suite its handshake settled on.
struct Seen {
    reply: String,
    version: Option<ProtocolVersion>,
    encrypted: bool,
}

/// The line client `i` sends: its greeting and a padding long enough to
/// span several TLS records (16 KiB each).
fn line(i: usize) -> String {
    format!("hello {i} {}\n", "x".repeat(40_000 + i))
}

/// A TLS server on corio that answers each client's line in upper case,
/// and `CLIENTS` clients that connect before any handshake starts.
fn exchange(server_cfg: Arc<ServerConfig>, client_cfg: Arc<ClientConfig>) -> (Vec<Seen>, usize) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Peak::new();
    // Server coros and clients meet before the handshakes start.
    let gate = Gate::new(2 * CLIENTS);
    let (server_open, server_gate) = (open.clone(), gate.clone());
    let server = corio::spawn(move || {
        corio::net::serve_on(listener, move |conn: TcpStream| {
            let _open = server_open.enter();
            server_gate.wait();
            let tls = ServerConnection::new(server_cfg.clone()).unwrap();
            let mut stream = StreamOwned::new(tls, conn);
            let mut line = String::new();
            if BufReader::new(&mut stream).read_line(&mut line).is_err() {
                return;
            }
            let reply = format!("secret {}", line.trim().to_uppercase());
            let _ = stream.write_all(reply.as_bytes());
            stream.conn.send_close_notify();
            let _ = stream.flush();
        })
    });

    let seen = util::within(Duration::from_secs(90), "the TLS exchanges", || {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let (gate, cfg) = (gate.clone(), client_cfg.clone());
                corio::spawn(move || {
                    let conn = TcpStream::connect(addr).unwrap();
                    gate.wait();
                    let name = ServerName::try_from("localhost").unwrap();
                    let tls = ClientConnection::new(cfg, name).unwrap();
                    let mut stream = StreamOwned::new(tls, conn);
                    stream.write_all(line(i).as_bytes()).unwrap();
                    let mut reply = String::new();
                    // Up to the server's close_notify: a clean end.
                    std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
                    Seen {
                        reply,
                        version: stream.conn.protocol_version(),
                        encrypted: stream.conn.negotiated_cipher_suite().is_some(),
                    }
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    server.coro().cancel();
    (seen, open.peak())
}

fn check(seen: &[Seen], peak: usize, version: ProtocolVersion) {
    assert_eq!(seen.len(), CLIENTS);
    for (i, s) in seen.iter().enumerate() {
        let want = format!("secret {}", line(i).trim().to_uppercase());
        assert!(s.reply == want, "client {i} got a wrong reply");
        assert_eq!(s.version, Some(version), "client {i}");
        assert!(s.encrypted, "client {i}");
    }
    assert!(peak >= CLIENTS, "only {peak} connections were open at once");
}

#[test]
fn rustls_stream_owned_serves_128_concurrent_handshakes() {
    let (server_cfg, client_cfg) = configs();
    let (seen, peak) = exchange(server_cfg, client_cfg);
    check(&seen, peak, ProtocolVersion::TLSv1_3);
}

#[test]
fn rustls_stream_owned_serves_128_concurrent_tls12_handshakes() {
    // TLS 1.2's handshake takes another turn of messages than 1.3's.
    let (server_cfg, client_cfg) = configs_for(&[&rustls::version::TLS12]);
    let (seen, peak) = exchange(server_cfg, client_cfg);
    check(&seen, peak, ProtocolVersion::TLSv1_2);
}

#[test]
fn a_client_that_does_not_trust_the_certificate_fails_alone() {
    let (server_cfg, _) = configs();
    // A client that trusts another certificate than the server's.
    let (_, stranger_cfg) = configs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = corio::spawn(move || {
        corio::net::serve_on(listener, move |conn: TcpStream| {
            let tls = ServerConnection::new(server_cfg.clone()).unwrap();
            let mut stream = StreamOwned::new(tls, conn);
            let mut line = String::new();
            let _ = BufReader::new(&mut stream).read_line(&mut line);
        })
    });
    let err = util::within(Duration::from_secs(30), "the untrusting client", || {
        let conn = TcpStream::connect(addr).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = ClientConnection::new(stranger_cfg, name).unwrap();
        let mut stream = StreamOwned::new(tls, conn);
        stream.write_all(b"hello\n").unwrap_err()
    });
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
    // The server coro for that connection ended; the server goes on.
    assert!(!server.is_finished());
    server.coro().cancel();
}
