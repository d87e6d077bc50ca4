//! The examples print what they should: the Coro::Intro programs print what
//! Perl's Coro 6.57 prints for the originals in `examples/perl/` (recorded
//! here; when `perl` with Coro is installed, the originals are run too and
//! must agree).

mod util;

use std::io::Write;
use std::process::{Command, Stdio};

fn run(name: &str, args: &[&str], stdin: &str) -> (String, String, bool) {
    let mut child = Command::new(util::example(name))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run example");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = util::wait_within(child, util::CHILD_LIMIT);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// Output of the Perl original, if Perl's Coro is installed.
fn perl(script: &str) -> Option<(String, String, bool)> {
    let have_coro = Command::new("perl")
        .args(["-MCoro", "-e", "1"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_coro {
        return None;
    }
    let path = format!("{}/examples/perl/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = util::output_within(Command::new("perl").arg(path), util::CHILD_LIMIT);
    Some((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    ))
}

#[test]
fn intro_cede_prints_what_perl_coro_prints() {
    const PERL: &str = "main 1\nasync 1\nmain 2\nasync 2\n";
    let (out, _, ok) = run("intro_cede", &[], "");
    assert!(ok);
    assert_eq!(out, PERL);
    if let Some((perl_out, _, _)) = perl("intro_cede.pl") {
        assert_eq!(perl_out, PERL, "the recorded Perl output is stale");
    }
}

#[test]
fn printit_prints_what_perl_coro_prints() {
    const PERL: &str = "Hello, World!\n";
    let (out, _, ok) = run("printit", &[], "");
    assert!(ok);
    assert_eq!(out, PERL);
    if let Some((perl_out, _, _)) = perl("printit.pl") {
        assert_eq!(perl_out, PERL, "the recorded Perl output is stale");
    }
}

#[test]
fn semaphore_prints_what_perl_coro_prints() {
    const PERL: &str = "trying to lock semaphore\nunlocking semaphore\nwe got it!\n";
    let (out, _, ok) = run("semaphore", &[], "");
    assert!(ok);
    assert_eq!(out, PERL);
    if let Some((perl_out, _, _)) = perl("semaphore.pl") {
        assert_eq!(perl_out, PERL, "the recorded Perl output is stale");
    }
}

#[test]
fn squares_prints_what_perl_coro_prints() {
    const PERL: &str = "1 ** 2 = 1\n2 ** 2 = 4\n5 ** 2 = 25\n10 ** 2 = 100\n77 ** 2 = 5929\n";
    let (out, _, ok) = run("squares", &[], "");
    assert!(ok);
    assert_eq!(out, PERL);
    if let Some((perl_out, _, _)) = perl("squares.pl") {
        assert_eq!(perl_out, PERL, "the recorded Perl output is stale");
    }
}

#[test]
fn wakeme_has_the_two_outcomes_perl_coro_has() {
    // Perl: silent success, or "FATAL: deadlock detected." and a listing.
    let (out, err, ok) = run("wakeme", &["wake"], "");
    assert!(ok && out.is_empty() && err.is_empty());
    let (_, err, ok) = run("wakeme", &["nowake"], "");
    assert!(!ok);
    assert!(err.contains("deadlock detected"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("[main]") && l.contains("wakeme.rs:")),
        "{err}"
    );
    if let Some(first) = perl("wakeme.pl") {
        // A coin toss: run until both outcomes were seen (or give up).
        let mut seen = [false, false];
        let mut outcome = Some(first);
        for _ in 0..40 {
            let (_, perr, pok) = outcome.take().or_else(|| perl("wakeme.pl")).unwrap();
            if pok {
                seen[0] = true;
            } else {
                assert!(perr.contains("FATAL: deadlock detected."), "{perr}");
                seen[1] = true;
            }
            if seen == [true, true] {
                break;
            }
        }
    }
}

#[test]
fn ping_pong_takes_turns() {
    let (out, _, ok) = run("ping_pong", &["3", "1000"], "");
    assert!(ok);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(
        lines[..6],
        ["ping 1", "pong 1", "ping 2", "pong 2", "ping 3", "pong 3"]
    );
    assert!(
        lines[6].starts_with("1000 switches between two coros"),
        "{out}"
    );
}

#[test]
fn queens_finds_every_solution() {
    let (out, _, ok) = run("queens", &["6", "4"], "");
    assert!(ok);
    assert!(out.ends_with("6 queens: 4 solutions\n"), "{out}");
    assert_eq!(out.matches("solution ").count(), 4);
    assert!(out.contains(" . Q . . . .\n . . . Q . .\n"), "{out}");
    let (out, _, _) = run("queens", &["8", "0"], "");
    assert_eq!(out, "8 queens: 92 solutions\n");
}

#[test]
fn maze_asks_half_way_and_backtracks_from_wrong_answers() {
    let (out, _, ok) = run("terminal_maze", &[], "s\ne\n");
    assert!(ok);
    let questions: Vec<&str> = out.lines().filter(|l| l.starts_with("fork at")).collect();
    assert_eq!(questions.len(), 2, "{out}");
    assert!(questions[0].ends_with("[es]? s"), "{out}");
    assert!(out.contains("dead end at row 7, column 5"), "{out}");
    assert!(out.contains("out after 34 steps and 2 questions"), "{out}");

    // At the end of input it takes the first way offered: no dead ends.
    let (out, _, ok) = run("terminal_maze", &[], "");
    assert!(ok);
    assert!(!out.contains("dead end"), "{out}");
    assert!(out.contains("out after 34 steps"), "{out}");
}

#[test]
fn finger_looks_up_three_accounts_at_once_against_its_own_server() {
    let (out, err, ok) = run("finger", &[], "");
    assert!(ok, "{err}");
    let host = util::word_after(&out, "(a finger server runs on ")
        .and_then(|w| w.strip_suffix(';'))
        .unwrap_or_else(|| panic!("no server line in {out}"));
    // Each account's lines come in order and end with "done"; the three
    // lookups may interleave.
    let expect = [
        (
            "abc",
            vec!["Login: abc", "Plan: learn the alphabet.", "done"],
        ),
        (
            "sebbo",
            vec![
                "Login: sebbo",
                "Plan: write more Perl.",
                "Project: Coro talk.",
                "done",
            ],
        ),
        (
            "trouble",
            vec![
                "Login: trouble",
                "Plan: none. Trouble needs no plan.",
                "done",
            ],
        ),
    ];
    for (user, lines) in expect {
        let prefix = format!("{user}@{host}: ");
        let got: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .collect();
        assert_eq!(got, lines, "{out}");
    }
    assert!(
        out.lines().last().unwrap_or("").starts_with("all done in "),
        "{out}"
    );
}

#[test]
fn finger_reports_an_unreachable_host_and_fails() {
    // Port 1 on loopback: nothing listens there.
    let (_, err, ok) = run("finger", &["nobody@127.0.0.1:1"], "");
    assert!(!ok);
    assert!(
        err.contains("nobody@127.0.0.1:1: Connection refused"),
        "{err}"
    );
}
