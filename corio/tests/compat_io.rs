//! `compat::Io`, `Executor` and `Sleep`: tokio-io, futures-io and
//! tokio-util crates on corio sockets, with no tokio runtime.
#![cfg(feature = "compat")]

mod util;

use std::cell::Cell;
use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use corio::compat::{Executor, Io, Sleep};
use corio::net::{TcpListener, TcpStream, UnixStream};
use futures_util::{SinkExt, StreamExt};
use hyper::rt::Executor as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, LinesCodec};

const LIMIT: Duration = Duration::from_secs(30);

fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    (a, b)
}

#[test]
fn tokio_io_echo_over_tcp_with_many_connections_on_one_thread() {
    util::within(LIMIT, "echo", || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = corio::spawn(move || {
            corio::net::serve_on(l, |conn| {
                corio::block_on(async move {
                    let mut io = Io::new(conn);
                    let mut buf = vec![0; 1000];
                    loop {
                        let n = io.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        io.write_all(&buf[..n]).await.unwrap();
                    }
                })
            })
        });
        let clients: Vec<_> = (0..64u32)
            .map(|i| {
                corio::spawn(move || {
                    let mut io = Io::new(TcpStream::connect(addr).unwrap());
                    corio::block_on(async move {
                        // 100 KB each way: more than a socket buffer, so
                        // both directions wait for readiness.
                        let msg: Vec<u8> = (0..100_000u32).map(|j| (i + j) as u8).collect();
                        let (mut r, mut w) = tokio::io::split(&mut io);
                        let send = async {
                            w.write_all(&msg).await.unwrap();
                        };
                        let recv = async {
                            let mut back = vec![0; msg.len()];
                            r.read_exact(&mut back).await.unwrap();
                            back
                        };
                        let ((), back) = futures_util::future::join(send, recv).await;
                        assert!(back == msg, "client {i} got other bytes back");
                    })
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        server.cancel();
    });
}

#[test]
fn io_over_unix_streams_and_references() {
    util::within(LIMIT, "unix", || {
        let (a, b) = UnixStream::pair().unwrap();
        let peer = corio::spawn(move || {
            let mut io = Io::new(&b);
            corio::block_on(async {
                let mut s = String::new();
                io.read_to_string(&mut s).await.unwrap();
                s
            })
        });
        {
            let mut io = Io::new(&a);
            corio::block_on(async {
                io.write_all(b"through a reference").await.unwrap();
                io.shutdown().await.unwrap(); // shuts the write side
            });
        }
        assert_eq!(peer.join().unwrap(), "through a reference");
        // The stream is still usable after the Io is gone.
        let mut buf = [0; 1];
        assert_eq!((&a).read(&mut buf).unwrap(), 0);
    });
}

/// Writes `parts` with `write_vectored` until all are out, then shuts the
/// write side; returns the number of `write_vectored` calls.
async fn write_all_vectored(io: &mut Io<&TcpStream>, parts: &[Vec<u8>]) -> usize {
    let mut slices: Vec<std::io::IoSlice<'_>> =
        parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
    let mut left = &mut slices[..];
    let mut calls = 0;
    while left.iter().any(|s| !s.is_empty()) {
        let n = io.write_vectored(left).await.unwrap();
        assert!(n > 0);
        calls += 1;
        std::io::IoSlice::advance_slices(&mut left, n);
    }
    io.shutdown().await.unwrap();
    calls
}

#[test]
fn vectored_writes_small_and_large_arrive_whole_and_in_order() {
    // Small writes are copied into one buffer and sent at once; from
    // 2,049 bytes on the slices go to `sendmsg` as they are.
    let byte = |i: usize| (i * 7 + i / 251) as u8;
    let cases: Vec<Vec<Vec<u8>>> = vec![
        vec![
            b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
            b"Hello, world!".to_vec(),
        ],
        vec![vec![], b"a".to_vec(), vec![], b"bc".to_vec()],
        (0..64).map(|i| vec![byte(i); 32]).collect(), // 2,048 bytes
        (0..2049).map(|i| vec![byte(i)]).collect(),   // 2,049 slices of one
        vec![vec![1; 2000], vec![2; 48], vec![3; 1]], // 2,049 bytes
        vec![
            (0..300_000).map(byte).collect(),
            vec![9; 10],
            (0..70_000).map(byte).collect(),
        ],
    ];
    util::within(LIMIT, "vectored", || {
        for parts in cases {
            let (a, b) = pair();
            let want: Vec<u8> = parts.concat();
            let reader = corio::spawn(move || {
                let mut got = Vec::new();
                (&b).read_to_end(&mut got).unwrap();
                got
            });
            let mut io = Io::new(&a);
            let calls = corio::block_on(write_all_vectored(&mut io, &parts));
            let got = reader.join().unwrap();
            assert_eq!(got.len(), want.len());
            assert!(
                got == want,
                "{} bytes in {} parts came back changed",
                want.len(),
                parts.len()
            );
            if want.len() <= 2048 {
                assert_eq!(calls, 1, "a small vectored write goes out in one call");
            }
        }
    });
}

#[test]
fn a_small_vectored_write_to_a_full_socket_waits_and_arrives_whole() {
    // A write far bigger than the socket's buffers is cut by a timeout
    // once they are full; the small write after it finds no room, parks,
    // and is copied and sent again when the reader makes room.
    util::within(LIMIT, "vectored full", || {
        let (a, b) = pair();
        let huge: Vec<u8> = (0..64_000_000usize).map(|i| (i % 253) as u8).collect();
        let parts = [b"head: ".to_vec(), b"x".repeat(100), b"end".to_vec()];
        let reader = corio::spawn(move || {
            corio::sleep(Duration::from_millis(300));
            let mut got = Vec::new();
            (&b).read_to_end(&mut got).unwrap();
            got
        });
        let mut io = Io::new(&a);
        let cut = corio::timeout(Duration::from_millis(100), || {
            corio::block_on(io.write_all(&huge))
        });
        assert!(cut.is_err(), "64 MB fit in the socket's buffers");
        corio::block_on(write_all_vectored(&mut io, &parts));
        let got = reader.join().unwrap();
        let tail = parts.concat();
        assert!(got.len() > tail.len() && got.len() < huge.len());
        let (sent, last) = got.split_at(got.len() - tail.len());
        assert!(
            sent == &huge[..sent.len()],
            "the cut write came back changed"
        );
        assert_eq!(last, &tail[..]);
    });
}

#[test]
fn lines_codec_framed_over_io_talks_to_a_blocking_peer() {
    util::within(LIMIT, "framed", || {
        let (a, b) = pair();
        // The peer is plain blocking coro code.
        let peer = corio::spawn(move || {
            let mut lines = std::io::BufReader::new(&b);
            let mut got = Vec::new();
            for _ in 0..3 {
                let mut l = String::new();
                std::io::BufRead::read_line(&mut lines, &mut l).unwrap();
                got.push(l.clone());
                (&b).write_all(l.to_uppercase().as_bytes()).unwrap();
            }
            got
        });
        let replies = corio::block_on(async move {
            let mut framed = Framed::new(Io::new(a), LinesCodec::new());
            let mut replies = Vec::new();
            for word in ["one", "two", "three"] {
                framed.send(word).await.unwrap();
                replies.push(framed.next().await.unwrap().unwrap());
            }
            replies
        });
        assert_eq!(replies, ["ONE", "TWO", "THREE"]);
        assert_eq!(peer.join().unwrap(), ["one\n", "two\n", "three\n"]);
    });
}

#[test]
fn futures_io_traits_read_and_write() {
    util::within(LIMIT, "futures-io", || {
        let (a, b) = pair();
        let peer = corio::spawn(move || {
            corio::block_on(async move {
                let mut io = Io::new(b);
                let mut buf = [0; 5];
                futures_util::io::AsyncReadExt::read_exact(&mut io, &mut buf)
                    .await
                    .unwrap();
                futures_util::io::AsyncWriteExt::write_all(&mut io, &buf)
                    .await
                    .unwrap();
                futures_util::io::AsyncWriteExt::close(&mut io)
                    .await
                    .unwrap();
            })
        });
        let got = corio::block_on(async move {
            let mut io = Io::new(a);
            futures_util::io::AsyncWriteExt::write_all(&mut io, b"fio!!")
                .await
                .unwrap();
            let mut out = Vec::new();
            futures_util::io::AsyncReadExt::read_to_end(&mut io, &mut out)
                .await
                .unwrap();
            out
        });
        assert_eq!(got, b"fio!!");
        peer.join().unwrap();
    });
}

/// A combinator that polls its inner future with a waker of its own (as
/// `FuturesUnordered` does), which wakes the outer one.
struct OwnWaker<F>(Pin<Box<F>>);

struct Forward(std::sync::Mutex<Option<Waker>>);

impl Wake for Forward {
    fn wake(self: Arc<Self>) {
        if let Some(w) = self.0.lock().unwrap().take() {
            w.wake();
        }
    }
}

impl<F: Future> Future for OwnWaker<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let fwd = Arc::new(Forward(std::sync::Mutex::new(Some(cx.waker().clone()))));
        let waker = Waker::from(fwd);
        self.0.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

#[test]
fn a_foreign_waker_is_woken_when_the_socket_becomes_ready() {
    util::within(LIMIT, "foreign waker", || {
        let (a, b) = pair();
        let writer = corio::spawn(move || {
            corio::sleep(Duration::from_millis(20));
            (&b).write_all(b"late").unwrap();
            b
        });
        let mut io = Io::new(a);
        let got = corio::block_on(OwnWaker(Box::pin(async {
            let mut buf = [0; 4];
            io.read_exact(&mut buf).await.unwrap();
            buf
        })));
        assert_eq!(&got, b"late");
        let _b = writer.join().unwrap();
    });
}

#[test]
fn dropping_an_io_cancels_its_helper_coro() {
    util::within(LIMIT, "helper", || {
        let (a, _b) = pair();
        let mut io = Io::new(a);
        let mut buf = [0; 1];
        // Poll once with a foreign waker: nothing to read, a helper waits.
        let mut fut = Box::pin(OwnWaker(Box::pin(io.read(&mut buf))));
        let polled = corio::block_on(std::future::poll_fn(|cx| {
            Poll::Ready(fut.as_mut().poll(cx).is_pending())
        }));
        assert!(polled);
        assert!(corio::debug::ps().contains("compat::Io waker"));
        drop(fut);
        drop(io);
        assert!(
            !corio::debug::ps().contains("compat::Io waker"),
            "{}",
            corio::debug::ps()
        );
    });
}

#[test]
fn the_streams_read_timeout_applies() {
    util::within(LIMIT, "timeout", || {
        let (a, _b) = pair();
        a.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut io = Io::new(a);
        let start = Instant::now();
        let err = corio::block_on(async {
            let mut buf = [0; 1];
            io.read(&mut buf).await.unwrap_err()
        });
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(50));
    });
}

#[test]
fn blocking_calls_inside_a_future_park_only_its_coro() {
    util::within(LIMIT, "blocking", || {
        let ticks = Rc::new(Cell::new(0));
        let t = ticks.clone();
        let ticker = corio::spawn(move || {
            for _ in 0..5 {
                t.set(t.get() + 1);
                corio::sleep(Duration::from_millis(5));
            }
        });
        let seen = corio::block_on(async {
            corio::sleep(Duration::from_millis(60)); // no .await: a blocking call
            ticks.get()
        });
        assert_eq!(seen, 5, "the ticker ran while the future blocked");
        ticker.join().unwrap();
    });
}

#[test]
fn the_executor_runs_each_future_in_a_coro_of_its_own() {
    util::within(LIMIT, "executor", || {
        let done = Rc::new(Cell::new(0));
        let start = Instant::now();
        for _ in 0..100 {
            let d = done.clone();
            Executor.execute(async move {
                corio::sleep(Duration::from_millis(50)); // each parks its own coro
                d.set(d.get() + 1);
            });
        }
        while done.get() < 100 {
            corio::sleep(Duration::from_millis(5));
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "they slept at once"
        );

        // A future bigger than what a coro's closure may carry onto its
        // stack (a hyper connection is) runs too.
        let d = done.clone();
        let big = [7u8; 4096];
        Executor.execute(async move {
            Sleep::new(Duration::from_millis(1)).await;
            d.set(d.get() + usize::from(big[4095]));
        });
        while done.get() < 107 {
            corio::sleep(Duration::from_millis(1));
        }
    });
}

#[test]
fn sleep_futures_fire_in_deadline_order_and_reset() {
    util::within(LIMIT, "sleep", || {
        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut hs = Vec::new();
        for ms in [30u64, 10, 20] {
            let o = order.clone();
            hs.push(corio::spawn(move || {
                corio::block_on(Sleep::new(Duration::from_millis(ms)));
                o.borrow_mut().push(ms);
            }));
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*order.borrow(), [10, 20, 30]);

        // Reset to sooner, through hyper's Timer.
        use hyper::rt::Timer as _;
        let mut s = corio::compat::Timer.sleep(Duration::from_secs(3600));
        let soon = Instant::now() + Duration::from_millis(10);
        corio::compat::Timer.reset(&mut s, soon);
        corio::block_on(s);
        assert!(Instant::now() >= soon);

        // A foreign waker gets woken too.
        let start = Instant::now();
        corio::block_on(OwnWaker(Box::pin(Sleep::new(Duration::from_millis(15)))));
        assert!(start.elapsed() >= Duration::from_millis(15));
    });
}

#[test]
fn a_deadline_moved_between_polls_is_kept_later_or_sooner() {
    // One `block_on` whose future asks for a new deadline at each round,
    // as hyper's header read timeout does at each request: a later one
    // (the wait must last until it, not end at the first), then a sooner
    // one (it must not wait for the earlier, later deadline).
    util::within(LIMIT, "moving deadlines", || {
        let start = Instant::now();
        let later = start + Duration::from_millis(60);
        let mut round = 0;
        let mut sleep = Box::pin(Sleep::until(start + Duration::from_millis(20)));
        corio::block_on(std::future::poll_fn(|cx| {
            round += 1;
            if round == 2 {
                // Woken at 20 ms: move the deadline out to 60 ms.
                sleep = Box::pin(Sleep::until(later));
            }
            sleep.as_mut().poll(cx)
        }));
        assert!(Instant::now() >= later);
        assert!(round >= 3, "woken at 20 ms, then at 60 ms: {round} polls");

        // Parked on an hour-long sleep, woken by another coro at 5 ms,
        // then asking for 20 ms.
        let start = Instant::now();
        let sooner = start + Duration::from_millis(20);
        let waker: Rc<std::cell::RefCell<Option<Waker>>> = Rc::default();
        let w = waker.clone();
        let other = corio::spawn(move || {
            corio::sleep(Duration::from_millis(5));
            w.borrow_mut().take().expect("polled by now").wake();
        });
        let mut round = 0;
        let mut sleep = Box::pin(Sleep::until(start + Duration::from_secs(3600)));
        corio::block_on(std::future::poll_fn(|cx| {
            round += 1;
            if round == 1 {
                *waker.borrow_mut() = Some(cx.waker().clone());
            } else if round == 2 {
                sleep = Box::pin(Sleep::until(sooner));
            }
            sleep.as_mut().poll(cx)
        }));
        assert!(Instant::now() >= sooner);
        assert!(start.elapsed() < Duration::from_secs(60));
        assert_eq!(round, 3, "polled first, when woken, at the new deadline");
        other.join().unwrap();
    });
}

/// What a coro that polled a tokio-only API ended with.
fn tokio_only(f: impl Future<Output = ()> + 'static) -> String {
    let h = corio::spawn(move || corio::block_on(f));
    match h.join() {
        Err(corio::JoinError::Panicked(p)) => util::panic_message(p),
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn tokio_only_apis_without_a_runtime_panic_with_tokios_message() {
    const MSG: &str =
        "there is no reactor running, must be called from the context of a Tokio 1.x runtime";
    let m = tokio_only(async {
        tokio::time::sleep(Duration::from_millis(1)).await;
    });
    assert!(m.contains(MSG), "{m}");
    let m = tokio_only(async {
        drop(tokio::spawn(async {}));
    });
    assert!(m.contains(MSG), "{m}");
    // The thread goes on.
    assert_eq!(corio::block_on(async { 7 }), 7);
}
