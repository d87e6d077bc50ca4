//! The switch, timed on the thread's CPU clock (see
//! `bench/switch_layout.sh`): `main` prints ns per switch for each of
//! ROUNDS rounds of SWITCHES switches.
//!
//! - `main`: the main coro and one coro ceding to each other (the peer
//!   suite's `cede` workload);
//! - `two`: two coros ceding to each other while the main coro waits in
//!   `join` (the core benchmark's row).
//!
//! The thread's CPU clock leaves out the time other processes had the CPU,
//! which on a shared 2-vCPU machine is what makes wall-clock rounds
//! bimodal.

const SWITCHES: u64 = 2_000_000;

fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid, writable timespec and a constant clock id.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn main_and_one() -> f64 {
    let other = corio::spawn(|| {
        for _ in 0..SWITCHES / 2 {
            corio::cede();
        }
    });
    corio::cede();
    let t = cpu_ns();
    for _ in 0..SWITCHES / 2 {
        corio::cede();
    }
    let e = cpu_ns() - t;
    other.join().expect("coro");
    e as f64 / SWITCHES as f64
}

fn two() -> f64 {
    let player = || {
        for _ in 0..SWITCHES / 2 {
            corio::cede();
        }
    };
    let t = cpu_ns();
    let (a, b) = (corio::spawn(player), corio::spawn(player));
    a.join().expect("coro");
    b.join().expect("coro");
    (cpu_ns() - t) as f64 / SWITCHES as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "main".into());
    let rounds: usize = match args.next().map(|s| s.parse()) {
        None => 3,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => panic!("usage: switch-probe [main|two] [ROUNDS]"),
    };
    let f: fn() -> f64 = match shape.as_str() {
        "main" => main_and_one,
        "two" => two,
        _ => panic!("usage: switch-probe [main|two] [ROUNDS]"),
    };
    f();
    let v: Vec<String> = (0..rounds).map(|_| format!("{:.2}", f())).collect();
    println!("{}", v.join(" "));
}
