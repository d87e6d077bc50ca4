//! What the `hook` feature costs calls that pass straight through: the
//! hooked C function against the C library's own, called alternately in
//! the same run.
//!
//! ```text
//! cargo bench --features hook --bench hook
//! ```
//!
//! - a zero-byte `read` of a regular file on a plain thread (untracked
//!   descriptor: one table lookup), and the same in a coro;
//! - `recv(MSG_PEEK)` on a blocking socket with data waiting, on a thread
//!   without a scheduler (a tracked descriptor: the lookup, the flags, the
//!   scheduler check, then the real call);
//! - `poll` with a timeout on a thread without a scheduler.
//!
//! Target: at most 5 ns over the plain call. Each pair alternates in
//! rounds; the table shows the minimum and median of the rounds, and the
//! difference of the minimums: on a shared machine a system call's time
//! varies by far more than 5 ns from round to round, and the fastest round
//! of each is the one least disturbed.

use std::ffi::{CStr, c_void};
use std::hint::black_box;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::Instant;

const ROUNDS: usize = 101;
const CALLS: u32 = 20_000;

/// The C library's own definition of `name`.
fn real(name: &CStr) -> *mut c_void {
    // SAFETY: a NUL-terminated name; RTLD_NEXT finds the C library's.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    assert!(!p.is_null(), "{name:?}");
    p
}

/// Nanoseconds per call of `f`, over `CALLS` calls.
fn time(f: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..CALLS {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(CALLS)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Runs the plain and the hooked call alternately and prints a row.
fn row(what: &str, plain: &mut dyn FnMut(), hooked: &mut dyn FnMut()) -> f64 {
    // Warm up both.
    time(plain);
    time(hooked);
    let (mut p, mut h, mut d) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let a = time(plain);
        let b = time(hooked);
        p.push(a);
        h.push(b);
        d.push(b - a);
    }
    let diff = min(&h) - min(&p);
    println!(
        "| {what} | {:.1} ({:.1}) | {:.1} ({:.1}) | {:+.1} | {:+.1} | {} |",
        min(&p),
        median(p.clone()),
        min(&h),
        median(h.clone()),
        diff,
        median(d),
        if diff < -5.0 {
            "noise (the hooked call came out faster)"
        } else if diff <= 5.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    diff
}

fn main() {
    assert!(corio::hook::active(), "build with --features hook");
    println!(
        "| call | plain ns, min (median) | hooked ns, min (median) | hooked − plain, of the minimums | median of the per-round differences | ≤ 5 ns |"
    );
    println!("|---|---|---|---|---|---|");

    type Read = unsafe extern "C" fn(i32, *mut c_void, usize) -> isize;
    type Recv = unsafe extern "C" fn(i32, *mut c_void, usize, i32) -> isize;
    type Poll = unsafe extern "C" fn(*mut libc::pollfd, libc::nfds_t, i32) -> i32;
    // SAFETY: the C library's definitions of these names, with their types.
    let (real_read, real_recv, real_poll) = unsafe {
        (
            std::mem::transmute::<*mut c_void, Read>(real(c"read")),
            std::mem::transmute::<*mut c_void, Recv>(real(c"recv")),
            std::mem::transmute::<*mut c_void, Poll>(real(c"poll")),
        )
    };

    let path = std::env::temp_dir().join(format!("corio-hook-bench-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let fd = file.as_raw_fd();
    let mut buf = [0u8; 8];
    let b = buf.as_mut_ptr().cast::<c_void>();

    // SAFETY (all calls below): valid descriptors and buffers.
    row(
        "`read` of a regular file, 0 bytes, plain thread",
        &mut || unsafe {
            black_box(real_read(black_box(fd), b, 0));
        },
        &mut || unsafe {
            black_box(libc::read(black_box(fd), b, 0));
        },
    );

    // In a coro (a thread with a scheduler): still one lookup.
    corio::spawn(move || {
        row(
            "`read` of a regular file, 0 bytes, in a coro",
            &mut || unsafe {
                black_box(real_read(black_box(fd), b, 0));
            },
            &mut || unsafe {
                black_box(libc::read(black_box(fd), b, 0));
            },
        );
    })
    .join()
    .unwrap();

    // A tracked blocking socket, with data waiting, on a plain thread.
    std::thread::spawn(move || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (s, _) = listener.accept().unwrap();
        a.write_all(b"x").unwrap();
        let sfd = s.as_raw_fd();
        let mut one = [0u8; 1];
        let o = one.as_mut_ptr().cast::<c_void>();
        row(
            "`recv(MSG_PEEK)` on a blocking socket, thread without a scheduler",
            &mut || unsafe {
                black_box(real_recv(black_box(sfd), o, 1, libc::MSG_PEEK));
            },
            &mut || unsafe {
                black_box(libc::recv(black_box(sfd), o, 1, libc::MSG_PEEK));
            },
        );
        let mut p = libc::pollfd {
            fd: sfd,
            events: libc::POLLIN,
            revents: 0,
        };
        let pp: *mut libc::pollfd = &mut p;
        row(
            "`poll` (ready, timeout 1 s) on a thread without a scheduler",
            &mut || unsafe {
                black_box(real_poll(black_box(pp), 1, 1000));
            },
            &mut || unsafe {
                black_box(libc::poll(black_box(pp), 1, 1000));
            },
        );
    })
    .join()
    .unwrap();
    drop(file);
    let _ = std::fs::remove_file(&path);
}
