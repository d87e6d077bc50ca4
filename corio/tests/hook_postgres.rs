//! The `postgres` crate's synchronous `Client`, unmodified, against a real
//! PostgreSQL server the test starts. The client drives a private tokio
//! runtime, which waits in `epoll_wait`: with the `hook` feature that wait
//! parks only the coro, and the thread's other coros keep running. tokio
//! allows only one runtime to be entered per thread at a time, so only one
//! coro per thread may be inside a `postgres` call (see `corio::hook`).
//! Run with `cargo test --all-features`; needs PostgreSQL (Debian package
//! `postgresql`; skipped with a message if missing, a failure under
//! `CI=true`).
#![cfg(feature = "hook")]

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use util::servers;

fn connect(port: u16) -> postgres::Client {
    postgres::Client::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
        postgres::NoTls,
    )
    .unwrap()
}

/// Counts 10 ms ticks until cancelled.
fn ticker() -> (Rc<Cell<u32>>, corio::JoinHandle<()>) {
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let h = corio::spawn(move || {
        loop {
            corio::sleep(Duration::from_millis(10));
            t.set(t.get() + 1);
        }
    });
    (ticks, h)
}

#[test]
fn a_postgres_query_parks_only_its_coro() {
    let Some(server) = servers::postgres() else {
        return;
    };
    let port = server.port;
    let (ticks, ticker) = ticker();
    let client = corio::spawn(move || {
        let mut c = connect(port);
        c.batch_execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
            .unwrap();
        for i in 0..20 {
            c.execute("INSERT INTO t VALUES ($1, $2)", &[&i, &format!("v{i}")])
                .unwrap();
        }
        let start = Instant::now();
        let row = c
            .query_one("SELECT pg_sleep(0.5)::text, $1::INT", &[&7i32])
            .unwrap();
        let slept = start.elapsed();
        let echoed: i32 = row.get(1);
        let n: i64 = c.query_one("SELECT COUNT(*) FROM t", &[]).unwrap().get(0);
        let v: String = c
            .query_one("SELECT v FROM t WHERE id = 13", &[])
            .unwrap()
            .get(0);
        (echoed, n, v, slept)
    });
    let (echoed, n, v, slept) =
        util::within(Duration::from_secs(60), "the postgres client", || {
            client.join().unwrap()
        });
    assert_eq!((echoed, n, v.as_str()), (7, 20, "v13"));
    assert!(slept >= Duration::from_millis(500), "{slept:?}");
    // The ticker ran while the query waited 500 ms: the thread was free.
    assert!(ticks.get() >= 20, "{} ticks: {}", ticks.get(), server.log());
    ticker.coro().cancel();
}

#[test]
fn sequential_postgres_clients_in_coros_get_every_answer() {
    let Some(server) = servers::postgres() else {
        return;
    };
    let port = server.port;
    // One coro at a time inside postgres (tokio's rule), many coros in all.
    let gate = corio::sync::Semaphore::new(1);
    let gate = Rc::new(gate);
    let (ticks, ticker) = ticker();
    let start = Instant::now();
    let workers: Vec<_> = (0..10i32)
        .map(|i| {
            let gate = gate.clone();
            corio::spawn(move || {
                let _one = gate.guard();
                let mut c = connect(port);
                let row = c
                    .query_one("SELECT $1::INT * 2, pg_sleep(0.05)::text", &[&i])
                    .unwrap();
                let doubled: i32 = row.get(0);
                drop(c);
                doubled
            })
        })
        .collect();
    for (i, w) in workers.into_iter().enumerate() {
        assert_eq!(w.join().unwrap(), 2 * i as i32);
    }
    assert!(
        ticks.get() as u128 >= start.elapsed().as_millis() / 10 / 3,
        "{}",
        server.log()
    );
    ticker.coro().cancel();
}

#[test]
fn a_killed_postgres_server_is_an_error_in_the_waiting_coro() {
    let Some(mut server) = servers::postgres() else {
        return;
    };
    let port = server.port;
    let waiting = corio::spawn(move || {
        let mut c = connect(port);
        let start = Instant::now();
        let r = c.query_one("SELECT pg_sleep(30)::text", &[]);
        (r.map(|_| ()).map_err(|e| e.to_string()), start.elapsed())
    });
    corio::sleep(Duration::from_millis(500));
    server.kill();
    let (r, took) = util::within(Duration::from_secs(30), "the query", || {
        waiting.join().unwrap()
    });
    assert!(r.is_err(), "{r:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn a_second_postgres_client_on_the_same_thread_is_refused_by_tokio() {
    let Some(server) = servers::postgres() else {
        return;
    };
    let port = server.port;
    let first = corio::spawn(move || {
        let mut c = connect(port);
        let row = c
            .query_one("SELECT pg_sleep(0.4)::text, 1::INT", &[])
            .unwrap();
        row.get::<_, i32>(1)
    });
    corio::sleep(Duration::from_millis(150)); // `first` waits inside tokio
    let second = corio::spawn(move || drop(connect(port)));
    let message = match second.join() {
        Err(corio::JoinError::Panicked(p)) => util::panic_message(p),
        other => panic!("the second client was not refused: {:?}", other.map(|_| ())),
    };
    assert!(
        message.contains("Cannot start a runtime from within a runtime"),
        "{message}"
    );
    // The first one is unaffected.
    assert_eq!(first.join().unwrap(), 1);
}

#[test]
fn postgres_clients_on_their_own_threads_overlap() {
    let Some(server) = servers::postgres() else {
        return;
    };
    let port = server.port;
    let start = Instant::now();
    let threads: Vec<_> = (0..4i32)
        .map(|i| {
            corio::thread::spawn(move || {
                let mut c = connect(port);
                let row = c
                    .query_one("SELECT pg_sleep(0.4)::text, $1::INT + 1", &[&i])
                    .unwrap();
                row.get::<_, i32>(1)
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), i as i32 + 1);
    }
    let took = start.elapsed();
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[test]
fn cancelling_a_coro_in_a_postgres_query_takes_effect_when_the_query_returns() {
    let Some(server) = servers::postgres() else {
        return;
    };
    let port = server.port;
    let log = util::Log::new();
    let l = log.clone();
    let victim = corio::spawn(move || {
        let _d = util::DropLog {
            log: l.clone(),
            what: "guard".into(),
        };
        let mut c = connect(port);
        let r = c.query_one("SELECT pg_sleep(1)::text, 9::INT", &[]);
        l.push(format!(
            "query: {:?}",
            r.map(|row| row.get::<_, i32>(1)).map_err(|e| e.to_string())
        ));
        corio::cede(); // the cancel unwinds here
        l.push("not reached");
    });
    corio::sleep(Duration::from_millis(300));
    let start = Instant::now();
    victim.coro().cancel();
    let took = start.elapsed();
    assert!(matches!(victim.join(), Err(corio::JoinError::Cancelled)));
    // tokio cannot be interrupted: the query ran to its end.
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let log = log.get();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0], "query: Ok(9)");
    assert!(log[1].starts_with("drop guard"), "{log:?}");
}
