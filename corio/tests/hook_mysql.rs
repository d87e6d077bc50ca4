//! The `mysql` crate, unmodified, in 500 coros on one thread against a
//! real MariaDB server the test starts: with the `hook` feature each query
//! parks only its coro. Run with `cargo test --all-features`; needs
//! MariaDB (Debian package `mariadb-server`; skipped with a message if
//! missing, a failure under `CI=true`).
//!
//! Each coro has its own `Conn`: a `mysql::Pool` smaller than the number
//! of coros would make a coro wait for a free connection on a condition
//! variable, which blocks the thread (futexes are not hooked).
#![cfg(feature = "hook")]

mod util;

use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use util::servers;

const COROS: usize = 500;

fn connect(port: u16) -> mysql::Result<mysql::Conn> {
    mysql::Conn::new(
        mysql::Opts::from_url(&format!("mysql://root@127.0.0.1:{port}/hooktest")).unwrap(),
    )
}

#[test]
fn five_hundred_coros_query_through_one_thread() {
    let Some(server) = servers::mariadb() else {
        return;
    };
    let port = server.port;
    {
        let mut root = mysql::Conn::new(
            mysql::Opts::from_url(&format!("mysql://root@127.0.0.1:{port}/")).unwrap(),
        )
        .unwrap();
        root.query_drop("CREATE DATABASE hooktest").unwrap();
        root.query_drop("CREATE TABLE hooktest.t (id INT PRIMARY KEY, v BIGINT) ENGINE=InnoDB")
            .unwrap();
    }
    let start = Instant::now();
    let workers: Vec<_> = (0..COROS as i64)
        .map(|i| {
            corio::spawn(move || -> mysql::Result<(i64, i64, String)> {
                let mut c = connect(port)?;
                c.exec_drop("INSERT INTO t (id, v) VALUES (?, ?)", (i, i * i))?;
                // The slow query: 200 ms in the server.
                let (slept, echoed): (i64, i64) =
                    c.exec_first("SELECT SLEEP(0.2), ?", (i,))?.expect("a row");
                assert_eq!(slept, 0);
                let v: i64 = c
                    .exec_first("SELECT v FROM t WHERE id = ?", (i,))?
                    .expect("a row");
                let s: String = c
                    .query_first(format!("SELECT CONCAT('row ', {i})"))?
                    .expect("a row");
                Ok((echoed, v, s))
            })
        })
        .collect();
    let answers: Vec<_> = util::within(Duration::from_secs(120), "the mysql clients", || {
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let took = start.elapsed();
    for (i, a) in answers.into_iter().enumerate() {
        let i = i as i64;
        let (echoed, v, s) = a.unwrap_or_else(|e| panic!("client {i}: {e}\n{}", server.log()));
        assert_eq!((echoed, v, s), (i, i * i, format!("row {i}")));
    }
    let mut c = connect(port).unwrap();
    let rows: i64 = c.query_first("SELECT COUNT(*) FROM t").unwrap().unwrap();
    assert_eq!(rows, COROS as i64);
    println!("{COROS} mysql clients, each with a 200 ms query: {took:?}");
    // One after another: 500 × 200 ms = 100 s.
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn a_killed_server_is_an_error_in_the_waiting_coro() {
    let Some(mut server) = servers::mariadb() else {
        return;
    };
    let port = server.port;
    let waiting = corio::spawn(move || {
        let mut c = mysql::Conn::new(
            mysql::Opts::from_url(&format!("mysql://root@127.0.0.1:{port}/")).unwrap(),
        )
        .unwrap();
        let start = Instant::now();
        let r: mysql::Result<Option<i64>> = c.query_first("SELECT SLEEP(30)");
        (r.map_err(|e| e.to_string()), start.elapsed())
    });
    corio::sleep(Duration::from_millis(300));
    server.kill();
    let (r, took) = util::within(Duration::from_secs(30), "the query", || {
        waiting.join().unwrap()
    });
    assert!(r.is_err(), "{r:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
}
