//! The `redis` crate's synchronous client, unmodified, in 500 coros on one
//! thread against a real `redis-server` the test starts: with the `hook`
//! feature each command parks only its coro. Run with
//! `cargo test --all-features`; needs `redis-server` (Debian package
//! `redis-server`; skipped with a message if missing, a failure under
//! `CI=true`).
#![cfg(feature = "hook")]

mod util;

use std::time::{Duration, Instant};

use util::servers;

const COROS: usize = 500;

/// What one client saw: its key's value, its INCR, its (empty) pop.
type Answer = (String, i64, Option<(String, String)>);

fn client(port: u16) -> redis::Client {
    redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap()
}

#[test]
fn five_hundred_coros_read_and_write_through_one_thread() {
    let Some(server) = servers::redis() else {
        return;
    };
    let port = server.port;
    // A blocking pop that times out after 200 ms stands for a slow query:
    // the server waits, and so does the client's read.
    const SLOW: f64 = 0.2;
    let start = Instant::now();
    let workers: Vec<_> = (0..COROS)
        .map(|i| {
            corio::spawn(move || -> redis::RedisResult<Answer> {
                let mut con = client(port).get_connection()?;
                redis::cmd("SET")
                    .arg(format!("key:{i}"))
                    .arg(format!("value {i}"))
                    .query::<()>(&mut con)?;
                let n: i64 = redis::cmd("INCR").arg("counter").query(&mut con)?;
                let popped: Option<(String, String)> = redis::cmd("BLPOP")
                    .arg(format!("list:{i}"))
                    .arg(SLOW)
                    .query(&mut con)?;
                let got: String = redis::cmd("GET").arg(format!("key:{i}")).query(&mut con)?;
                Ok((got, n, popped))
            })
        })
        .collect();
    let answers: Vec<_> = util::within(Duration::from_secs(60), "the redis clients", || {
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let took = start.elapsed();
    let mut counts = Vec::new();
    for (i, a) in answers.into_iter().enumerate() {
        let (got, n, popped) = a.unwrap_or_else(|e| panic!("client {i}: {e}\n{}", server.log()));
        assert_eq!(got, format!("value {i}"));
        assert_eq!(popped, None);
        counts.push(n);
    }
    counts.sort();
    assert_eq!(
        counts,
        (1..=COROS as i64).collect::<Vec<_>>(),
        "every INCR counted once"
    );
    println!("{COROS} redis clients, each with a 200 ms blocking pop: {took:?}");
    // One after another: 500 × 200 ms = 100 s.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_killed_server_is_an_error_in_the_waiting_coro() {
    let Some(mut server) = servers::redis() else {
        return;
    };
    let port = server.port;
    let waiting = corio::spawn(move || {
        let mut con = client(port).get_connection().unwrap();
        let start = Instant::now();
        // Would wait 30 s for an element.
        let r: redis::RedisResult<Option<(String, String)>> =
            redis::cmd("BLPOP").arg("nothing").arg(30).query(&mut con);
        (r, start.elapsed())
    });
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
    let t = ticks.clone();
    let ticker = corio::spawn(move || {
        loop {
            corio::sleep(Duration::from_millis(10));
            t.set(t.get() + 1);
        }
    });
    corio::sleep(Duration::from_millis(200));
    server.kill();
    let (r, took) = util::within(Duration::from_secs(20), "the pop", || {
        waiting.join().unwrap()
    });
    assert!(r.is_err(), "{r:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(
        ticks.get() >= 10,
        "the thread kept running: {} ticks",
        ticks.get()
    );
    ticker.coro().cancel();
}
