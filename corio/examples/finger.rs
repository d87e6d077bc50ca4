//! The finger client of Coro's tutorial ("The Real World - Event Loops"):
//! three coros each finger an account, and the main coro joins them.
//!
//! ```text
//! cargo run --example finger                       # against a local server it starts
//! cargo run --example finger -- alice@example.org  # real finger servers (port 79)
//! cargo run --example finger -- bob@127.0.0.1:7979
//! ```
//!
//! With no arguments it first starts a small finger-like server of its own
//! on a free loopback port, in a coro: its directory is slow (each lookup
//! takes a while), which is what makes doing the three lookups at once
//! worth it. The output says how long the whole run took against the sum
//! of the lookups.
//!
//! The Perl original:
//!
//! ```perl
//! sub finger {
//!    my ($user, $host) = @_;
//!    my $fh = new Coro::Socket PeerHost => $host, PeerPort => "finger"
//!       or die "$user\@$host: $!";
//!    print $fh "$user\n";
//!    print "$user\@$host: $_" while <$fh>;
//!    print "$user\@$host: done\n";
//! }
//! $_->join for map { async { finger $_, "" } } qw(abc sebbo trouble);
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use corio::net::TcpStream;

/// The local server's accounts: name, plan, and how long looking it up
/// takes.
const DIRECTORY: &[(&str, &str, u64)] = &[
    ("abc", "Plan: learn the alphabet.", 100),
    ("sebbo", "Plan: write more Perl.\nProject: Coro talk.", 200),
    ("trouble", "Plan: none. Trouble needs no plan.", 300),
];

/// Fingers `user` at `host` (`host:port`), printing each line of the
/// answer prefixed with `user@host: `.
fn finger(user: &str, host: &str) -> io::Result<()> {
    let conn = TcpStream::connect(host)
        .map_err(|e| io::Error::new(e.kind(), format!("{user}@{host}: {e}")))?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    (&conn).write_all(format!("{user}\r\n").as_bytes())?;
    for line in BufReader::new(&conn).lines() {
        println!("{user}@{host}: {}", line?);
    }
    println!("{user}@{host}: done");
    Ok(())
}

/// A finger-like server: one line with a user name in, the user's plan
/// out, then close (RFC 1288's shape, minus the fancy parts).
fn serve_finger(conn: TcpStream) {
    // A client that sends nothing, or takes nothing, is let go.
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
    let mut line = String::new();
    // At most one line of 512 bytes: a user name, not a flood.
    if BufReader::new(&conn)
        .take(512)
        .read_line(&mut line)
        .is_err()
    {
        return;
    }
    let user = line.trim();
    let answer = match DIRECTORY.iter().find(|(name, _, _)| *name == user) {
        Some((name, plan, ms)) => {
            // The slow directory: only this connection's coro waits.
            corio::sleep(Duration::from_millis(*ms));
            format!("Login: {name}\r\n{}\r\n", plan.replace('\n', "\r\n"))
        }
        None => format!("finger: {user}: no such user.\r\n"),
    };
    let _ = (&conn).write_all(answer.as_bytes());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut targets: Vec<(String, String)> = Vec::new();
    let mut local_server = None;
    if args.is_empty() {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| {
            eprintln!("finger: cannot start the local server: {e}");
            std::process::exit(1);
        });
        let host = match listener.local_addr() {
            Ok(a) => a.to_string(),
            Err(e) => {
                eprintln!("finger: {e}");
                std::process::exit(1);
            }
        };
        println!("(a finger server runs on {host}; its lookups are slow)");
        local_server = Some(corio::spawn(move || {
            let _ = corio::net::serve_on(listener, serve_finger);
        }));
        for user in ["abc", "sebbo", "trouble"] {
            targets.push((user.to_string(), host.clone()));
        }
    } else {
        for a in &args {
            let Some((user, host)) = a.split_once('@') else {
                eprintln!("usage: finger [user@host[:port] ...]");
                std::process::exit(2);
            };
            let host = if host.contains(':') {
                host.to_string()
            } else {
                format!("{host}:79")
            };
            targets.push((user.to_string(), host));
        }
    }

    let start = Instant::now();
    // One coro per account, all at once; then wait for each in turn. It
    // does not matter which finishes first: join waits, or fetches the
    // result of one that is done already.
    let lookups: Vec<_> = targets
        .into_iter()
        .map(|(user, host)| corio::spawn(move || finger(&user, &host)))
        .collect();
    let mut failed = false;
    for l in lookups {
        match l.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("finger: {e}");
                failed = true;
            }
            Err(e) => {
                eprintln!("finger: a lookup failed: {e}");
                failed = true;
            }
        }
    }
    if let Some(server) = local_server {
        let serial: u64 = DIRECTORY.iter().map(|d| d.2).sum();
        println!(
            "all done in {} ms (the lookups one after another: {serial} ms)",
            start.elapsed().as_millis()
        );
        server.coro().cancel();
    }
    if failed {
        std::process::exit(1);
    }
}
