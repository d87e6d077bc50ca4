//! The `axum_app` and `hyper_hello` examples, end to end: their routes,
//! as a user runs them (`cargo run --features compat --example ...`).
#![cfg(feature = "compat")]

mod util;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use corio::net::TcpStream;

/// The example's binary, built with the `compat` feature if missing.
fn example(name: &str) -> std::path::PathBuf {
    let p = util::example_path(name);
    if !p.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "--features",
            "compat",
            "--example",
            name,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
        if p.parent()
            .and_then(|d| d.parent())
            .is_some_and(|d| d.ends_with("release"))
        {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "building {name} failed");
    }
    p
}

/// A running example, killed when dropped.
struct Server(Child, SocketAddr);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the example on a free port; waits until it accepts.
fn run(name: &str, extra: &[&str]) -> Server {
    // A free port: bind, note it, let go (the example binds it again).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(example(name))
        .arg(addr.to_string())
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child, addr);
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{name} did not start"
        );
        corio::sleep(Duration::from_millis(20));
    }
    server
}

/// One request on a new connection (closed after the answer).
fn request(addr: SocketAddr, raw: &str) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn get(addr: SocketAddr, path: &str) -> String {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"),
    )
}

#[test]
fn axum_app_routes() {
    util::within(Duration::from_secs(120), "axum_app", || {
        let dir = std::env::temp_dir().join(format!("corio-axum-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), "file contents\n").unwrap();
        let secret = dir.with_extension("secret");
        std::fs::write(&secret, "outside").unwrap();
        let s = run("axum_app", &[dir.to_str().unwrap()]);
        let a = s.1;

        let out = get(a, "/");
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(out.ends_with("\r\n\r\nHello, world!"), "{out}");

        let start = Instant::now();
        let out = get(a, "/sleep/50");
        assert!(out.ends_with("slept 50 ms"), "{out}");
        assert!(start.elapsed() >= Duration::from_millis(50));

        // Many sleepers at once on the example's one thread.
        let start = Instant::now();
        let hs: Vec<_> = (0..100)
            .map(|_| corio::spawn(move || get(a, "/sleep/200")))
            .collect();
        for h in hs {
            assert!(h.join().unwrap().ends_with("slept 200 ms"));
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );

        let out = get(a, "/sleep/999999");
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        let out = get(a, "/sleep/abc");
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");

        let out = get(a, "/file/a.txt");
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(out.ends_with("file contents\n"), "{out}");
        let out = get(a, "/file/missing.txt");
        assert!(out.starts_with("HTTP/1.1 404"), "{out}");
        // Path traversal, plain and percent-encoded, is refused.
        let name = secret.file_name().unwrap().to_str().unwrap();
        for evil in [
            format!("/file/..%2F{name}"),
            "/file/..".to_string(),
            "/file/%2Fetc%2Fpasswd".to_string(),
            format!("/file/..%5C{name}"),
        ] {
            let out = get(a, &evil);
            assert!(
                !out.contains("outside") && !out.contains("root:"),
                "{evil}: {out}"
            );
            assert!(out.starts_with("HTTP/1.1 4"), "{evil}: {out}");
        }
        let out = get(a, "/nope");
        assert!(out.starts_with("HTTP/1.1 404"), "{out}");

        // Malformed: hyper's 400.
        let out = request(a, "GARBAGE\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 400 Bad Request"), "{out}");

        // Still serving.
        assert!(get(a, "/").ends_with("Hello, world!"));
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&secret);
    });
}

#[test]
fn axum_app_without_a_directory_serves_no_files() {
    util::within(Duration::from_secs(120), "axum_app", || {
        let s = run("axum_app", &[]);
        let out = get(s.1, "/file/a.txt");
        assert!(out.starts_with("HTTP/1.1 404"), "{out}");
        assert!(get(s.1, "/").ends_with("Hello, world!"));
    });
}

#[test]
fn hyper_hello_answers_the_benchmarks_reference_bytes() {
    util::within(Duration::from_secs(120), "hyper_hello", || {
        let s = run("hyper_hello", &[]);
        // Keep-alive: two requests on one connection, then close.
        let out = request(
            s.1,
            "GET / HTTP/1.1\r\nhost: t\r\n\r\nGET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        );
        let one = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";
        let closing = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nHello, world!";
        assert_eq!(out, format!("{one}{closing}"));
    });
}
