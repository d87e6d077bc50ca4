//! `corio::sync::Pool`: reusable items (connections) whose `get` parks the
//! coro while all are out. The last test is the demo: 500 coros
//! sharing 10 connections of the unmodified `redis` client against a real
//! `redis-server` (feature `hook`; needs the Debian package `redis-server`,
//! skipped with a message if missing, a failure under `CI=true`).

mod util;

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use corio::sync::Pool;

/// A pooled thing that knows its number, and a pool of them that counts
/// what it made.
struct Conn {
    id: u32,
}

fn counting_pool(max: usize) -> (Rc<Pool<Conn>>, Rc<Cell<u32>>) {
    let made = Rc::new(Cell::new(0));
    let m = made.clone();
    let pool = Pool::new(max, move || {
        m.set(m.get() + 1);
        Ok(Conn { id: m.get() })
    });
    (Rc::new(pool), made)
}

#[test]
fn max_is_respected_under_500_coros() {
    let (pool, made) = counting_pool(10);
    let out = Rc::new(Cell::new(0usize));
    let peak = Rc::new(Cell::new(0usize));
    let workers: Vec<_> = (0..500)
        .map(|i| {
            let (pool, out, peak) = (pool.clone(), out.clone(), peak.clone());
            corio::spawn(move || {
                let conn = pool.get().unwrap();
                out.set(out.get() + 1);
                peak.set(peak.get().max(out.get()));
                // Hold it across switches, as a query would.
                for _ in 0..(i % 3 + 1) {
                    corio::cede();
                }
                out.set(out.get() - 1);
                conn.id
            })
        })
        .collect();
    let mut used = std::collections::HashSet::new();
    for w in workers {
        used.insert(w.join().unwrap());
    }
    assert_eq!(peak.get(), 10, "10 out at once, never more");
    assert_eq!(made.get(), 10, "made only 10");
    assert_eq!(used.len(), 10);
    assert_eq!((pool.live(), pool.idle(), pool.available()), (10, 10, 10));
}

#[test]
fn a_make_that_parks_does_not_let_more_in() {
    let live_now = Rc::new(Cell::new(0usize));
    let peak = Rc::new(Cell::new(0usize));
    let (l, p) = (live_now.clone(), peak.clone());
    let pool = Rc::new(Pool::new(2, move || {
        // Count it as alive while it is being made: a connect that parks.
        l.set(l.get() + 1);
        p.set(p.get().max(l.get()));
        corio::sleep(Duration::from_millis(2));
        Ok::<_, io::Error>(())
    }));
    let workers: Vec<_> = (0..20)
        .map(|_| {
            let pool = pool.clone();
            corio::spawn(move || {
                let c = pool.get().unwrap();
                corio::sleep(Duration::from_millis(1));
                drop(c);
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(peak.get(), 2);
    assert_eq!(pool.live(), 2);
}

#[test]
fn waiters_are_served_in_the_order_they_came() {
    let (pool, _) = counting_pool(1);
    let held = pool.get().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let waiters: Vec<_> = (0..5)
        .map(|i| {
            let (pool, order) = (pool.clone(), order.clone());
            corio::spawn(move || {
                let c = pool.get().unwrap();
                order.borrow_mut().push(i);
                corio::cede(); // hold it a moment
                c.id
            })
        })
        .collect();
    corio::cede();
    assert_eq!(pool.waiters(), 5);
    assert!(order.borrow().is_empty(), "all parked while the one is out");
    drop(held);
    for w in waiters {
        assert_eq!(w.join().unwrap(), 1, "the one item, reused");
    }
    assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
}

#[test]
fn idle_items_are_reused_last_returned_first() {
    let (pool, made) = counting_pool(3);
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();
    assert_eq!((a.id, b.id), (1, 2));
    drop(a);
    drop(b);
    assert_eq!(pool.get().unwrap().id, 2);
    assert_eq!(made.get(), 2);
}

#[test]
fn discard_frees_the_place_for_a_new_item() {
    let (pool, made) = counting_pool(1);
    let a = pool.get().unwrap();
    let p = pool.clone();
    let waiter = corio::spawn(move || p.get().unwrap().id);
    corio::cede();
    assert_eq!(pool.waiters(), 1);
    a.discard(); // broken: dropped, and the waiter gets a new one
    assert_eq!(pool.live(), 0);
    assert_eq!(waiter.join().unwrap(), 2);
    assert_eq!(made.get(), 2);
    assert_eq!((pool.live(), pool.idle()), (1, 1));
}

#[test]
fn a_failing_make_gives_its_place_back() {
    // make fails as many times as `fails` says, then succeeds.
    let fails = Rc::new(Cell::new(1));
    let f = fails.clone();
    let pool = Rc::new(Pool::new(1, move || {
        if f.get() > 0 {
            f.set(f.get() - 1);
            Err(io::Error::new(io::ErrorKind::ConnectionRefused, "down"))
        } else {
            Ok(7)
        }
    }));
    let e = pool.get().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!((pool.available(), pool.live()), (1, 0));

    // A waiter behind a failing make still gets its turn.
    let held = pool.get().unwrap();
    let p = pool.clone();
    let first = corio::spawn(move || p.get().map(|c| *c).map_err(|e| e.kind()));
    let p = pool.clone();
    let second = corio::spawn(move || p.get().map(|c| *c).map_err(|e| e.kind()));
    corio::cede();
    assert_eq!(pool.waiters(), 2);
    fails.set(1);
    held.discard(); // the first makes, and fails
    assert_eq!(first.join().unwrap(), Err(io::ErrorKind::ConnectionRefused));
    assert_eq!(second.join().unwrap(), Ok(7));
    assert_eq!((pool.available(), pool.live()), (1, 1));
}

#[test]
fn a_panicking_make_gives_its_place_back() {
    let pool: Pool<(), io::Error> = Pool::new(1, || panic!("make exploded"));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.get().map(|_| ())));
    assert!(r.is_err());
    assert_eq!((pool.available(), pool.live()), (1, 0));
}

#[test]
fn a_coro_cancelled_while_make_runs_gives_its_place_back() {
    let pool = Rc::new(Pool::new(1, || {
        corio::sleep(Duration::from_secs(3600)); // a connect that hangs
        Ok::<_, io::Error>(())
    }));
    let p = pool.clone();
    let making = corio::spawn(move || p.get().map(drop));
    corio::cede();
    assert_eq!((pool.available(), pool.live()), (0, 0));
    making.cancel();
    assert_eq!((pool.available(), pool.live()), (1, 0));
}

#[test]
fn a_waiter_cancelled_in_get_takes_nothing() {
    let (pool, made) = counting_pool(1);
    let held = pool.get().unwrap();
    let p = pool.clone();
    let cancelled = corio::spawn(move || p.get().map(|c| c.id).ok());
    let p = pool.clone();
    let next = corio::spawn(move || p.get().map(|c| c.id).ok());
    corio::cede();
    assert_eq!(pool.waiters(), 2);
    // Woken first, then cancelled before it ran: its turn goes on.
    drop(held);
    cancelled.cancel();
    assert!(cancelled.join().unwrap_err().is_cancelled());
    assert_eq!(next.join().unwrap(), Some(1));
    assert_eq!(made.get(), 1);
    assert_eq!((pool.available(), pool.waiters()), (1, 0));
}

#[test]
fn an_item_held_by_an_unwinding_coro_is_discarded() {
    let (pool, made) = counting_pool(2);
    let p = pool.clone();
    let holder = corio::spawn(move || {
        let _c = p.get().unwrap();
        corio::schedule(); // mid-request when cancelled
    });
    corio::cede();
    assert_eq!(pool.live(), 1);
    holder.cancel();
    // Not returned: it may hold a half-read reply.
    assert_eq!((pool.live(), pool.idle(), pool.available()), (0, 0, 2));
    let p = pool.clone();
    let panicker = corio::spawn(move || {
        let _c = p.get().unwrap();
        panic!("while holding a connection");
    });
    assert!(panicker.join().is_err());
    assert_eq!((pool.live(), pool.idle()), (0, 0));
    assert_eq!(made.get(), 2);
    // A coro that merely runs while another is parked mid-unwind still
    // returns its item.
    let unwinding = corio::spawn(move || {
        struct BlockInDrop;
        impl Drop for BlockInDrop {
            fn drop(&mut self) {
                corio::sleep(Duration::from_millis(5));
            }
        }
        let _b = BlockInDrop;
        panic!("parked in a Drop as this unwinds");
    });
    corio::cede(); // it panics and parks in the Drop
    assert!(
        std::thread::panicking(),
        "the thread's panic count is raised"
    );
    drop(pool.get().unwrap());
    assert_eq!(pool.idle(), 1, "returned, not discarded");
    assert!(unwinding.join().is_err());
}

#[test]
fn get_timeout_and_try_get() {
    let (pool, _) = counting_pool(1);
    let a = pool.try_get().unwrap().unwrap();
    assert!(pool.try_get().is_none());
    assert!(pool.get_timeout(Duration::from_millis(2)).is_none());
    assert_eq!(pool.waiters(), 0);
    let p = pool.clone();
    let w = corio::spawn(move || {
        p.get_timeout(Duration::from_secs(10))
            .map(|c| c.unwrap().id)
    });
    corio::cede();
    drop(a);
    assert_eq!(w.join().unwrap(), Some(1));
}

#[test]
fn clear_drops_the_idle_items_only() {
    let (pool, made) = counting_pool(3);
    let a = pool.get().unwrap();
    drop(pool.get().unwrap());
    pool.clear();
    assert_eq!((pool.live(), pool.idle()), (1, 0));
    drop(a);
    assert_eq!(pool.get().unwrap().id, 1);
    assert_eq!(made.get(), 2);
}

#[test]
#[should_panic(expected = "max must be at least 1")]
fn a_pool_of_nothing_is_refused() {
    let _ = Pool::new(0, || Ok::<_, io::Error>(()));
}

/// The demo: 500 coros share 10 connections of the synchronous
/// `redis` client, which does its own blocking socket I/O (the hooks park
/// the coro); every INCR is counted and the server never saw more than 10
/// clients.
#[cfg(feature = "hook")]
#[test]
fn five_hundred_coros_share_ten_redis_connections() {
    use std::time::Instant;

    let Some(server) = util::servers::redis() else {
        return;
    };
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port)).unwrap();
    let made = Rc::new(Cell::new(0));
    let m = made.clone();
    let pool = Rc::new(Pool::new(10, move || {
        m.set(m.get() + 1);
        client.get_connection()
    }));
    let start = Instant::now();
    let most_waiting = Rc::new(Cell::new(0));
    let workers: Vec<_> = (0..500)
        .map(|i| {
            let (pool, most_waiting) = (pool.clone(), most_waiting.clone());
            corio::spawn(move || -> redis::RedisResult<(i64, i64)> {
                let mut con = pool.get()?;
                most_waiting.set(most_waiting.get().max(pool.waiters()));
                let n: i64 = redis::cmd("INCR").arg("hits").query(&mut *con)?;
                redis::cmd("SET")
                    .arg(format!("key:{i}"))
                    .arg(n)
                    .query::<()>(&mut *con)?;
                let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut *con)?;
                Ok((n, clients.lines().count() as i64))
            })
        })
        .collect();
    let answers: Vec<_> = util::within(Duration::from_secs(60), "the redis clients", || {
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let took = start.elapsed();
    let mut counts = Vec::new();
    let mut most_clients = 0;
    for (i, a) in answers.into_iter().enumerate() {
        let (n, clients) = a.unwrap_or_else(|e| panic!("coro {i}: {e}\n{}", server.log()));
        counts.push(n);
        most_clients = most_clients.max(clients);
    }
    counts.sort();
    assert_eq!(
        counts,
        (1..=500).collect::<Vec<_>>(),
        "every INCR counted once"
    );
    assert_eq!(made.get(), 10, "10 connections made");
    assert!(
        most_clients <= 10,
        "the server saw {most_clients} clients at once"
    );
    assert_eq!(most_clients, 10, "all 10 were in use");
    assert!(
        most_waiting.get() > 0,
        "coros queued for a connection (parked in get)"
    );
    // The pool's connections stay open for the next users.
    assert_eq!((pool.live(), pool.idle()), (10, 10));
    let mut con = pool.get().unwrap();
    let n: i64 = redis::cmd("GET").arg("hits").query(&mut *con).unwrap();
    assert_eq!(n, 500);
    println!(
        "500 coros, 10 pooled redis connections, 3 commands each: {took:?}, up to {} coros waiting",
        most_waiting.get()
    );
}
