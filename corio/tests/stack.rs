//! Stacks: guard pages, overflow reports, sizes, errors, and the pool.
//!
//! Tests that crash, change process limits or need a fresh process run in
//! a child process (this test binary, re-run with `CORIO_TEST_CHILD`).

mod util;

use std::hint::black_box;
use std::os::unix::process::ExitStatusExt;

use util::{child_role, maps_count, run_child, status_kib, word_after};

#[allow(unconditional_recursion)] // on purpose: it must overflow
fn recurse_forever(n: u64) -> u64 {
    let pad = black_box([n as u8; 512]);
    recurse_forever(n + 1) + pad[0] as u64
}

fn recurse(depth: u64) -> u64 {
    black_box(&[depth as u8; 1024]);
    if depth == 0 {
        0
    } else {
        recurse(depth - 1) + 1
    }
}

#[test]
fn a_stack_overflow_aborts_with_a_report_naming_the_coro() {
    if util::not_under_emulation(
        "qemu-user delivers a guest stack overflow's SIGSEGV on its own terms (no guard-page fault on the alternate stack as the kernel gives it)",
    ) {
        return;
    }
    if child_role().as_deref() == Some("overflow") {
        let h = corio::Builder::new()
            .name("deep diver")
            .stack_size(64 * 1024)
            .spawn(|| recurse_forever(0))
            .unwrap();
        println!("ID {}", h.coro().id());
        h.join().ok();
        unreachable!("the overflow must abort the process");
    }
    let out = run_child(
        "a_stack_overflow_aborts_with_a_report_naming_the_coro",
        "overflow",
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let id = word_after(&stdout, "ID ").expect("child printed the id");
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "coro {id} (deep diver) overflowed its stack of 65536 bytes"
        )),
        "{stderr}"
    );
}

#[test]
fn a_future_polled_in_block_on_runs_on_the_threads_poll_stack() {
    // A coro with a 16 KiB stack polls a future that needs about 100 KiB:
    // `block_on` polls on the thread's poll stack (a default-size stack),
    // so it fits. Twice, to see the poll stack come back after a poll.
    if child_role().as_deref() == Some("poll-stack") {
        for _ in 0..2 {
            let h = corio::Builder::new()
                .stack_size(16 * 1024)
                .spawn(|| corio::block_on(async { recurse(100) }))
                .unwrap();
            assert_eq!(h.join().unwrap(), 100);
        }
        println!("POLLED OK");
        return;
    }
    let out = run_child(
        "a_future_polled_in_block_on_runs_on_the_threads_poll_stack",
        "poll-stack",
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("POLLED OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}

#[test]
fn an_overflow_in_a_poll_is_reported_naming_the_polling_coro() {
    if util::not_under_emulation(
        "qemu-user delivers a guest stack overflow's SIGSEGV on its own terms",
    ) {
        return;
    }
    if child_role().as_deref() == Some("poll-overflow") {
        let h = corio::Builder::new()
            .name("deep poller")
            .spawn(|| corio::block_on(async { recurse_forever(0) }))
            .unwrap();
        println!("ID {}", h.coro().id());
        h.join().ok();
        unreachable!("the overflow must abort the process");
    }
    let out = run_child(
        "an_overflow_in_a_poll_is_reported_naming_the_polling_coro",
        "poll-overflow",
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let id = word_after(&stdout, "ID ").expect("child printed the id");
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "coro {id} (deep poller) overflowed its stack of {} bytes",
            corio::stack::DEFAULT_STACK_SIZE
        )),
        "{stderr}"
    );
}

#[test]
fn a_generator_stack_overflow_is_reported_too() {
    if util::not_under_emulation(
        "qemu-user delivers a guest stack overflow's SIGSEGV on its own terms",
    ) {
        return;
    }
    if child_role().as_deref() == Some("gen-overflow") {
        let mut g =
            corio::Generator::<(), u64>::with_stack_size(32 * 1024, |_, ()| recurse_forever(0))
                .unwrap();
        g.resume(());
        unreachable!();
    }
    let out = run_child(
        "a_generator_stack_overflow_is_reported_too",
        "gen-overflow",
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains("a Generator overflowed its stack of 32768 bytes"),
        "{stderr}"
    );
}

#[test]
fn a_generator_overflow_on_a_thread_without_an_alternate_stack_is_reported() {
    if util::not_under_emulation(
        "qemu-user delivers a guest stack overflow's SIGSEGV on its own terms",
    ) {
        return;
    }
    // A thread made outside std (a C library's, say) has no alternate
    // signal stack; one that only runs generators once got none from corio
    // either, and died of a plain SIGSEGV without the report.
    if child_role().as_deref() == Some("gen-overflow-noalt") {
        std::thread::spawn(|| {
            let disable = libc::stack_t {
                ss_sp: std::ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            // SAFETY: disabling this thread's alternate signal stack; std's
            // own overflow handler then simply has none, as on a foreign
            // thread.
            assert_eq!(
                unsafe { libc::sigaltstack(&disable, std::ptr::null_mut()) },
                0
            );
            let mut g =
                corio::Generator::<(), u64>::with_stack_size(32 * 1024, |_, ()| recurse_forever(0))
                    .unwrap();
            g.resume(());
        })
        .join()
        .ok();
        unreachable!();
    }
    let out = run_child(
        "a_generator_overflow_on_a_thread_without_an_alternate_stack_is_reported",
        "gen-overflow-noalt",
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains("a Generator overflowed its stack of 32768 bytes"),
        "{stderr}"
    );
}

#[test]
fn other_segfaults_are_left_to_the_default_handling() {
    if child_role().as_deref() == Some("segv") {
        corio::spawn(|| ()).join().unwrap(); // the handler is installed now
        // SAFETY: deliberately invalid: this child must die of SIGSEGV.
        unsafe { std::ptr::null_mut::<u8>().add(64).write_volatile(1) };
        unreachable!();
    }
    let out = run_child(
        "other_segfaults_are_left_to_the_default_handling",
        "segv",
        &[],
    );
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("overflowed"));
}

#[test]
fn the_mprotect_fallback_guards_stacks_too() {
    match child_role().as_deref() {
        Some("mprotect") => {
            assert_eq!(corio::stack::guard_mechanism(), "mprotect");
            let before = maps_count();
            let hs: Vec<_> = (0..50).map(|_| corio::spawn(corio::schedule)).collect();
            corio::cede();
            // Each mprotect guard splits the mapping: about two mappings per
            // stack (the madvise guards cost none).
            let grew = maps_count() - before;
            assert!(grew >= 50, "mappings grew by {grew}");
            let deep = corio::Builder::new()
                .stack_size(8 << 20)
                .spawn(|| recurse(500))
                .unwrap();
            deep.join().unwrap();
            corio::killall();
            drop(hs);
            println!("FALLBACK OK");
            return;
        }
        Some("mprotect-overflow") => {
            let h = corio::Builder::new()
                .name("mprotect diver")
                .stack_size(64 * 1024)
                .spawn(|| recurse_forever(0))
                .unwrap();
            h.join().ok();
            unreachable!();
        }
        _ => {}
    }
    let env = [("CORIO_STACK_GUARD", "mprotect")];
    let out = run_child("the_mprotect_fallback_guards_stacks_too", "mprotect", &env);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FALLBACK OK"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_child(
        "the_mprotect_fallback_guards_stacks_too",
        "mprotect-overflow",
        &env,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains("(mprotect diver) overflowed its stack"),
        "{stderr}"
    );
}

/// Guards are installed for a whole batch of slots at once (1,024 per
/// system call): the first, a middle, the last slot of a batch and the first
/// of the next all have theirs, batched and with batching off (one
/// `madvise` per slot), and so do slots the preparer thread made ready.
#[test]
fn every_stack_of_a_carved_batch_has_its_guard_page() {
    if util::not_under_emulation(
        "qemu-user delivers a guest stack overflow's SIGSEGV on its own terms",
    ) {
        return;
    }
    if let Some(role) = child_role() {
        // `batch-N`: 64 KiB stacks, taken at the spawn; `default-N`: default
        // stacks, reserved at the spawn and traded at the start for one the
        // preparer readied.
        let (n, sized) = match (role.strip_prefix("batch-"), role.strip_prefix("default-")) {
            (Some(n), _) => (n, true),
            (_, Some(n)) => (n, false),
            _ => return,
        };
        let n: usize = n.parse().unwrap();
        let builder = || {
            let b = corio::Builder::new();
            if sized { b.stack_size(64 * 1024) } else { b }
        };
        // `n` parked coros take the slots before the diver's, in the same
        // size class (slots are handed out in address order).
        let parked: Vec<_> = (0..n)
            .map(|_| builder().spawn(corio::schedule).unwrap())
            .collect();
        corio::cede();
        let h = builder()
            .name(format!("diver after {n}"))
            .spawn(|| recurse_forever(0))
            .unwrap();
        h.join().ok();
        drop(parked);
        unreachable!("the overflow must abort the process");
    }
    // With two CPUs or more, past 2,048 the preparer thread carves batches
    // ahead and touches their top pages (unless CORIO_STACK_PREPARE=off).
    // Default-size coros that park reserve their stacks at the spawn and,
    // past 2,048, start on the preparer's.
    type Env = &'static [(&'static str, &'static str)];
    let cases: [(&str, usize, Env); 9] = [
        ("batch", 0, &[]),
        ("batch", 700, &[]),
        ("batch", 1023, &[]),
        ("batch", 1024, &[]),
        ("batch", 700, &[("CORIO_STACK_BATCH", "off")]),
        ("batch", 9000, &[("CORIO_STACK_PREPARE", "off")]),
        ("batch", 9000, &[]),
        ("default", 9000, &[]),
        ("default", 9000, &[("CORIO_STACK_PREPARE", "off")]),
    ];
    for (kind, n, env) in cases {
        let out = run_child(
            "every_stack_of_a_carved_batch_has_its_guard_page",
            &format!("{kind}-{n}"),
            env,
        );
        let size = if kind == "batch" {
            64 * 1024
        } else {
            corio::stack::DEFAULT_STACK_SIZE
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "{n} {env:?}: {stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "(diver after {n}) overflowed its stack of {size} bytes"
            )),
            "{n} {env:?}: {stderr}"
        );
    }
}

#[test]
fn guards_installed_with_madvise_do_not_add_mappings() {
    if corio::stack::guard_mechanism() != "madvise" {
        eprintln!(
            "MADV_GUARD_INSTALL unsupported here: skipped (the fallback test covers mprotect)"
        );
        return;
    }
    let before = maps_count();
    let hs: Vec<_> = (0..2000).map(|_| corio::spawn(corio::schedule)).collect();
    corio::cede();
    let after = maps_count();
    assert!(
        after <= before + 8,
        "2000 guarded stacks added {} mappings",
        after - before
    );
    for h in &hs {
        h.cancel();
    }
}

#[test]
fn impossible_stack_sizes_are_clear_errors() {
    let zero = corio::Builder::new()
        .stack_size(0)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(zero.kind(), std::io::ErrorKind::InvalidInput);
    assert!(zero.to_string().contains("greater than zero"), "{zero}");
    let huge = corio::Builder::new()
        .stack_size(usize::MAX)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(huge.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        huge.to_string().contains("exceeds the address space"),
        "{huge}"
    );
    // spawn() panics with the same message.
    let r =
        std::panic::catch_unwind(|| corio::Builder::new().stack_size(0).spawn(|| ()).map(|_| ()));
    assert!(r.unwrap().is_err());
}

#[test]
fn tiny_sizes_round_up_and_sizes_round_to_pages() {
    let tiny = corio::Builder::new().stack_size(1).spawn(|| ()).unwrap();
    assert_eq!(tiny.coro().stack_size(), corio::stack::MIN_STACK_SIZE);
    let odd = corio::Builder::new()
        .stack_size(100_000)
        .spawn(|| ())
        .unwrap();
    assert_eq!(odd.coro().stack_size(), 100_000usize.next_multiple_of(4096));
    let default = corio::spawn(|| ());
    assert_eq!(
        default.coro().stack_size(),
        corio::stack::DEFAULT_STACK_SIZE
    );
    assert_eq!(
        corio::current().stack_size(),
        0,
        "the main coro runs on the thread's stack"
    );
    for h in [tiny, odd, default] {
        h.join().unwrap();
    }
}

#[test]
fn running_out_of_address_space_is_an_error_not_a_crash() {
    if util::not_under_emulation(
        "RLIMIT_AS limits the emulator's own reservations, not the guest's mappings",
    ) {
        return;
    }
    if child_role().as_deref() == Some("rlimit") {
        // Leave room for what the process has, plus a little.
        let vm = status_kib("VmSize:") * 1024;
        let limit = vm + 96 * 1024 * 1024;
        let lim = libc::rlimit {
            rlim_cur: limit as libc::rlim_t,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: setrlimit with a valid struct.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
        let big = corio::Builder::new()
            .stack_size(1 << 30)
            .spawn(|| ())
            .unwrap_err();
        assert_eq!(big.kind(), std::io::ErrorKind::OutOfMemory, "{big}");
        let mut live = Vec::new();
        let err = loop {
            match corio::Builder::new().spawn_suspended(|| ()) {
                Ok(h) => live.push(h),
                Err(e) => break e,
            }
            assert!(live.len() < 100_000, "the limit should stop us long before");
        };
        assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory, "{err}");
        // Still alive and well: free some, and spawning works again.
        let n = live.len();
        for h in live.drain(..n / 2) {
            h.cancel();
        }
        assert_eq!(corio::spawn(|| 5).join().unwrap(), 5);
        println!("RLIMIT OK {n} {big} / {err}");
        return;
    }
    let out = run_child(
        "running_out_of_address_space_is_an_error_not_a_crash",
        "rlimit",
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("RLIMIT OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}

#[test]
fn finished_coros_return_their_stacks_to_the_pool_and_trim_empties_it() {
    corio::stack::trim();
    assert_eq!(corio::stack::pooled(), 0);
    let hs: Vec<_> = (0..5).map(|_| corio::spawn(|| ())).collect();
    for h in hs {
        h.join().unwrap();
    }
    // Spawned before any of them ran, on cold stacks, the five started
    // one after the other on the first one's (see the next test).
    assert_eq!(corio::stack::pooled(), 1);
    // Reuse: a spawn takes it back, and is its own again.
    let hs: Vec<_> = (0..5).map(|_| corio::spawn(|| ())).collect();
    assert_eq!(corio::stack::pooled(), 0);
    for h in hs {
        h.join().unwrap();
    }
    corio::stack::trim();
    assert_eq!(corio::stack::pooled(), 0);
}

#[test]
fn pages_of_a_deep_stack_are_given_back_when_its_coro_ends() {
    if util::not_under_emulation(
        "/proc/self/status reports the emulator's own memory, not the guest's pages",
    ) {
        return;
    }
    if child_role().as_deref() == Some("deep") {
        let base = status_kib("VmRSS:");
        let h = corio::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| {
                // Dive 32 MiB deep, measured by address (frame sizes differ
                // between debug and release builds), and park down there.
                fn dive(top: usize) -> u32 {
                    let pad = black_box([1u8; 4096]);
                    let here = &pad as *const _ as usize;
                    if top - here >= 32 << 20 {
                        corio::schedule();
                        0
                    } else {
                        dive(top) + pad[7] as u32
                    }
                }
                let marker = black_box(0u8);
                let top = &marker as *const u8 as usize;
                dive(top)
            })
            .unwrap();
        corio::cede();
        let deep = status_kib("VmRSS:");
        h.coro().ready();
        h.join().unwrap();
        let after = status_kib("VmRSS:");
        println!("RSS {base} {deep} {after}");
        return;
    }
    let out = run_child(
        "pages_of_a_deep_stack_are_given_back_when_its_coro_ends",
        "deep",
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("RSS "))
        .expect("child output")
        .1;
    let v: Vec<u64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    let (base, deep, after) = (v[0], v[1], v[2]);
    assert!(deep > base + 30 * 1024, "the dive touched 32 MiB: {v:?}");
    assert!(
        after < base + 4 * 1024,
        "the deep pages were not given back: {v:?}"
    );
}

#[test]
fn deep_recursion_works_on_a_big_stack() {
    let h = corio::Builder::new()
        .stack_size(32 << 20)
        .spawn(|| recurse(10_000))
        .unwrap();
    assert_eq!(h.join().unwrap(), 10_000);
}

/// Runs `test` as a child in `role` and parses the `n` numbers it prints
/// after `tag`.
fn child_numbers(test: &str, role: &str, env: &[(&str, &str)], tag: &str, n: usize) -> Vec<u64> {
    let out = run_child(test, role, env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .split_once(tag)
        .unwrap_or_else(|| {
            panic!(
                "child output: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .1
        .split_whitespace()
        .take(n)
        .map(|x| x.parse().unwrap())
        .collect()
}

/// A coro spawned when no free stack is warm only reserves a cold one; if
/// another coro has ended by the time it first runs, it runs on that one's
/// stack and gives the cold one back untouched. So 20,000 short coros
/// spawned before any of them runs make a few pages resident, not 20,000
/// (78 MiB); a coro that parks keeps the stack it started on; and a
/// cancelled coro that never ran gives its reserve back untouched.
#[test]
fn coros_spawned_before_any_runs_start_on_the_stacks_of_those_that_ended() {
    const N: u64 = 20_000;
    if child_role().as_deref() == Some("reuse") {
        corio::stack::trim();
        let base = status_kib("VmRSS:");
        let hs: Vec<_> = (0..N)
            .map(|i| corio::spawn(move || black_box(i) * 2))
            .collect();
        let spawned = status_kib("VmRSS:");
        let mut sum = 0;
        for h in hs {
            sum += h.join().unwrap();
        }
        assert_eq!(sum, N * (N - 1));
        let short = status_kib("VmRSS:");
        let pooled_short = corio::stack::pooled();
        // Parked coros need a stack each, and keep it: the bits they
        // write on their stacks before parking are still there after.
        let gate = std::rc::Rc::new(corio::sync::Signal::new());
        let hs: Vec<_> = (0..1000u64)
            .map(|i| {
                let g = gate.clone();
                corio::spawn(move || {
                    let mine = black_box([i; 8]);
                    g.wait();
                    mine.iter().sum::<u64>()
                })
            })
            .collect();
        corio::cede();
        gate.broadcast();
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), 8 * i as u64);
        }
        corio::stack::trim();
        let before_cancel = status_kib("VmRSS:");
        let hs: Vec<_> = (0..N)
            .map(|_| corio::Builder::new().spawn_suspended(|| ()).unwrap())
            .collect();
        for h in &hs {
            h.cancel();
        }
        for h in hs {
            assert!(h.join().unwrap_err().is_cancelled());
        }
        let cancelled = status_kib("VmRSS:");
        println!("REUSE {base} {spawned} {short} {pooled_short} {before_cancel} {cancelled}");
        return;
    }
    // Without the preparer thread, whose batches ahead (up to 16 MiB of top
    // pages) would blur the count.
    let v = child_numbers(
        "coros_spawned_before_any_runs_start_on_the_stacks_of_those_that_ended",
        "reuse",
        &[("CORIO_STACK_PREPARE", "off")],
        "REUSE ",
        6,
    );
    let (base, spawned, short, pooled, before_cancel, cancelled) =
        (v[0], v[1], v[2], v[3], v[4], v[5]);
    println!(
        "RSS KiB: base {base}, {N} spawned {spawned}, joined {short} ({pooled} pooled); \
         {N} cancelled unstarted: {before_cancel} -> {cancelled}"
    );
    // A stack page per coro would be 80,000 KiB, at the spawns or while
    // they run; the control blocks and handles take about 30 MiB in a
    // debug build.
    assert!(
        spawned < base + 48 * 1024,
        "the spawns wrote to no stack: {v:?}"
    );
    assert!(
        short < spawned + 8 * 1024,
        "short coros ran on a few stacks: {v:?}"
    );
    assert!(pooled <= 2, "they ended on a few stacks: {v:?}");
    assert!(
        cancelled < before_cancel + 16 * 1024,
        "unstarted cancelled coros left their stacks untouched: {v:?}"
    );
}

/// Whether this process has a thread named `corio-stacks` (the preparer).
fn preparer_running() -> bool {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .any(|comm| comm.trim() == "corio-stacks")
}

/// The preparer thread starts only once a burst is under way (2,048 new
/// stacks of one size), where the machine has two CPUs and the kernel
/// batches guard installs, and never with `CORIO_STACK_PREPARE=off`.
#[test]
fn the_preparer_thread_starts_only_for_a_burst() {
    if let Some(role) = child_role() {
        let Some(rest) = role.strip_prefix("prepare-") else {
            return;
        };
        let gate = std::rc::Rc::new(corio::sync::Signal::new());
        let park = |n: usize| -> Vec<_> {
            (0..n)
                .map(|_| {
                    let g = gate.clone();
                    corio::spawn(move || g.wait())
                })
                .collect()
        };
        let mut hs = park(1000);
        corio::cede();
        let small = preparer_running();
        hs.extend(park(20_000));
        corio::cede();
        // It is started by a spawn, and may take a moment to be named.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut burst = preparer_running();
        while !burst && rest == "default" && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
            burst = preparer_running();
        }
        gate.broadcast();
        for h in hs {
            h.join().unwrap();
        }
        println!("PREPARER {small} {burst}");
        return;
    }
    let can = util::emulator().is_none()
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
        && corio::stack::guard_mechanism() == "madvise"
        && std::env::var("CORIO_STACK_BATCH").as_deref() != Ok("off");
    for (role, env, want) in [
        ("prepare-default", &[][..], can),
        ("prepare-off", &[("CORIO_STACK_PREPARE", "off")][..], false),
    ] {
        let out = run_child("the_preparer_thread_starts_only_for_a_burst", role, env);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("PREPARER false {want}")),
            "{role}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn an_idle_thread_gives_the_stacks_of_a_burst_back_within_seconds() {
    const CORO: u64 = 4000;
    if child_role().as_deref() == Some("burst") {
        corio::stack::trim();
        let base = status_kib("VmRSS:");
        // A burst: 4,000 coros at once, each touching 32 KiB of its stack
        // (under the 64 KiB that is given back when a coro ends).
        let gate = std::rc::Rc::new(corio::sync::Signal::new());
        let hs: Vec<_> = (0..CORO)
            .map(|_| {
                let g = gate.clone();
                corio::spawn(move || {
                    let pad = black_box([1u8; 32 * 1024]);
                    g.wait();
                    pad[99]
                })
            })
            .collect();
        corio::cede();
        let peak = status_kib("VmRSS:");
        gate.broadcast();
        for h in hs {
            h.join().unwrap();
        }
        let pooled = corio::stack::pooled();
        let ended = status_kib("VmRSS:");
        // Nothing ends any more: only the idle scheduler can give back.
        let start = std::time::Instant::now();
        while corio::stack::pooled() > 64 + 256 && start.elapsed().as_secs() < 10 {
            corio::sleep(std::time::Duration::from_millis(100));
        }
        let took = start.elapsed().as_millis();
        let idle = status_kib("VmRSS:");
        println!(
            "BURST {base} {peak} {pooled} {ended} {} {idle} {took}",
            corio::stack::pooled()
        );
        return;
    }
    // With the preparer on: its prepared top pages go back too.
    let v = child_numbers(
        "an_idle_thread_gives_the_stacks_of_a_burst_back_within_seconds",
        "burst",
        &[("CORIO_STACK_PREPARE", "on")],
        "BURST ",
        7,
    );
    let (base, peak, pooled, ended, pooled_idle, idle, took) =
        (v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
    println!(
        "RSS KiB: base {base}, burst {peak}, ended {ended} ({pooled} stacks pooled), \
         idle {idle} ({pooled_idle} pooled) after {took} ms"
    );
    assert!(peak > base + 100 * 1024, "the burst touched 125 MiB: {v:?}");
    assert!(pooled >= CORO - 64, "the stacks went to the pool: {v:?}");
    assert!(
        ended > base + 100 * 1024,
        "the pool keeps the pages at first: {v:?}"
    );
    assert!(
        pooled_idle <= 64 + 256,
        "an idle thread keeps at most 64 pooled and 256 cached stacks: {v:?}"
    );
    // Generous: two decay periods on a loaded machine.
    assert!(took <= 5000, "giving back took {took} ms: {v:?}");
    assert!(
        idle < base + 16 * 1024,
        "the pages went back to the system: {v:?}"
    );
}

/// A thread that ends gives the stacks of its pool back to the system (the
/// main thread leaves them to the process's exit instead).
#[test]
fn a_thread_that_ends_gives_its_pooled_stacks_back() {
    if child_role().as_deref() == Some("thread-ends") {
        let base = status_kib("VmRSS:");
        let peak = std::thread::spawn(|| {
            let gate = std::rc::Rc::new(corio::sync::Signal::new());
            let hs: Vec<_> = (0..2000)
                .map(|_| {
                    let g = gate.clone();
                    corio::spawn(move || {
                        let pad = black_box([1u8; 32 * 1024]);
                        g.wait();
                        pad[99]
                    })
                })
                .collect();
            corio::cede();
            let peak = status_kib("VmRSS:");
            gate.broadcast();
            for h in hs {
                h.join().unwrap();
            }
            assert!(
                corio::stack::pooled() >= 1900,
                "the stacks went to the pool"
            );
            peak
        })
        .join()
        .unwrap();
        println!("THREAD {base} {peak} {}", status_kib("VmRSS:"));
        return;
    }
    let v = child_numbers(
        "a_thread_that_ends_gives_its_pooled_stacks_back",
        "thread-ends",
        &[],
        "THREAD ",
        3,
    );
    let (base, peak, after) = (v[0], v[1], v[2]);
    assert!(peak > base + 50 * 1024, "2,000 coros touched 64 MiB: {v:?}");
    assert!(
        after < base + 16 * 1024,
        "the ended thread's stacks went back to the system: {v:?}"
    );
}

/// A deferred spawn keeps its closure until the coro starts: in a block the
/// thread recycles when it is small, in a box when it is big or aligned
/// beyond 16 bytes. Every shape comes out whole when the coro runs, and is
/// dropped exactly once when the coro is cancelled before it ran, also
/// when its drop panics.
#[test]
fn deferred_closures_of_every_shape_run_or_drop_once() {
    use std::cell::Cell;
    use std::rc::Rc;

    #[repr(align(32))]
    #[derive(Clone, Copy)]
    struct Wide(u64);

    struct Counted(Rc<Cell<u32>>, bool);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
            if self.1 {
                panic!("a drop that panics");
            }
        }
    }

    /// One word: kept in the starter itself.
    struct OneWord(Rc<Cell<u32>>);
    impl Drop for OneWord {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    struct OneWordPanics(Rc<Cell<u32>>);
    impl Drop for OneWordPanics {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
            panic!("a drop that panics, in the starter's word");
        }
    }

    for round in 0..3u64 {
        // No warm stack: every spawn below is deferred.
        corio::stack::trim();
        let small = corio::spawn(move || round + 1);
        let words = [round; 8]; // 64 bytes: the biggest block
        let block = corio::spawn(move || words.iter().sum::<u64>());
        let more = [round; 9]; // 72 bytes: a box
        let boxed = corio::spawn(move || more.iter().sum::<u64>());
        let huge = [round; 100]; // beyond what corosensei takes in place
        let huger = corio::spawn(move || huge.iter().sum::<u64>());
        let wide = Wide(round);
        let aligned = corio::spawn(move || {
            assert_eq!(&wide as *const Wide as usize % 32, 0);
            wide.0
        });
        let empty = corio::spawn(|| 7u64);
        let ran = Rc::new(Cell::new(0));
        let word = OneWord(ran.clone());
        let one_word = corio::spawn(move || {
            let w = word;
            w.0.get()
        });
        assert_eq!(small.join().unwrap(), round + 1);
        assert_eq!(one_word.join().unwrap(), 0);
        assert_eq!(
            ran.get(),
            1,
            "the one-word closure dropped once, after it ran"
        );
        assert_eq!(block.join().unwrap(), 8 * round);
        assert_eq!(boxed.join().unwrap(), 9 * round);
        assert_eq!(huger.join().unwrap(), 100 * round);
        assert_eq!(aligned.join().unwrap(), round);
        assert_eq!(empty.join().unwrap(), 7);

        // Cancelled before they ran: each closure dropped once, in a block
        // or in a box, a panicking drop reported and contained.
        corio::stack::trim();
        let drops = Rc::new(Cell::new(0));
        let hs = vec![
            {
                let c = Counted(drops.clone(), false);
                corio::Builder::new()
                    .spawn_suspended(move || drop(c))
                    .unwrap()
            },
            {
                let c = (Counted(drops.clone(), false), [round; 12]);
                corio::Builder::new()
                    .spawn_suspended(move || drop(c))
                    .unwrap()
            },
            {
                let c = Counted(drops.clone(), true);
                corio::Builder::new()
                    .spawn_suspended(move || drop(c))
                    .unwrap()
            },
            {
                let c = OneWord(drops.clone());
                corio::Builder::new()
                    .spawn_suspended(move || drop(c))
                    .unwrap()
            },
            {
                let c = OneWordPanics(drops.clone());
                corio::Builder::new()
                    .spawn_suspended(move || drop(c))
                    .unwrap()
            },
        ];
        for h in &hs {
            h.cancel();
        }
        for h in hs {
            assert!(h.join().unwrap_err().is_cancelled());
        }
        assert_eq!(drops.get(), 5, "round {round}");
    }
}

/// A thread that ends with deferred coros it never ran drops each closure
/// once (a panicking drop contained) and gives their reserves back; the
/// closure blocks outlive nothing (valgrind checks the frees in CI).
#[test]
fn a_thread_that_ends_drops_the_closures_of_coros_that_never_ran() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counted(Arc<AtomicU32>, bool);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
            if self.1 {
                panic!("a drop that panics at thread exit");
            }
        }
    }

    struct Counted1(Arc<AtomicU32>);
    impl Drop for Counted1 {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    let (drops, ran) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let (d, r) = (drops.clone(), ran.clone());
    std::thread::spawn(move || {
        corio::stack::trim();
        for i in 0..300u32 {
            let small = Counted(d.clone(), i == 7);
            let big = (Counted(d.clone(), false), [i; 40]);
            let (r1, r2) = (r.clone(), r.clone());
            let (h1, h2) = (
                corio::spawn(move || {
                    r1.fetch_add(1, Ordering::Relaxed);
                    drop(small)
                }),
                corio::Builder::new()
                    .spawn_suspended(move || {
                        r2.fetch_add(1, Ordering::Relaxed);
                        drop(big)
                    })
                    .unwrap(),
            );
            // One word: kept in the starter itself.
            let word = Counted1(d.clone());
            let h3 = corio::spawn(move || drop(word));
            // Never joined, never run: the thread ends first.
            std::mem::forget(h1);
            drop(h2);
            drop(h3);
        }
    })
    .join()
    .unwrap();
    assert_eq!(ran.load(Ordering::Relaxed), 0, "thread exit cancels them");
    assert_eq!(drops.load(Ordering::Relaxed), 900);
}

/// The other ways a deferred coro's closure can go: a throw aimed at it
/// before it ran (the closure moves onto a stack, the body never runs, the
/// closure is dropped there), and a cancel before it ran whose closure's
/// drop blocks (it runs in the canceller, which may park).
#[test]
fn deferred_closures_under_throw_and_a_blocking_drop() {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    struct Sleepy(Rc<Cell<u32>>);
    impl Drop for Sleepy {
        fn drop(&mut self) {
            corio::sleep(Duration::from_millis(1));
            self.0.set(self.0.get() + 1);
        }
    }

    corio::stack::trim();
    let drops = Rc::new(Cell::new(0));
    let ran = Rc::new(Cell::new(false));
    let (s, r) = (Sleepy(drops.clone()), ran.clone());
    let thrown = corio::spawn(move || {
        r.set(true);
        drop(s);
    });
    thrown.coro().throw("before it ran");
    let err = thrown.join().unwrap_err();
    match err {
        corio::JoinError::Panicked(p) => {
            assert_eq!(p.downcast_ref::<&str>(), Some(&"before it ran"))
        }
        other => panic!("{other:?}"),
    }
    assert!(!ran.get());
    assert_eq!(drops.get(), 1);

    corio::stack::trim();
    let s = Sleepy(drops.clone());
    let h = corio::Builder::new()
        .spawn_suspended(move || drop(s))
        .unwrap();
    let other = corio::spawn(|| 5);
    h.cancel();
    assert!(h.join().unwrap_err().is_cancelled());
    assert_eq!(drops.get(), 2);
    assert_eq!(other.join().unwrap(), 5);
}
