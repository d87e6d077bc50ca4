//! Built with `panic = "abort"`, corio's unwinding calls cannot unwind:
//! each says so in one line naming the coro, the call and the reason, then
//! aborts (issue 12: the process used to die silently with status 134).
//! Builds `tests/abort-demo` (a workspace member that depends on corio
//! alone) with the workspace's `panic-abort` profile, and with the dev
//! profile for comparison.

mod util;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::OnceLock;

fn build(profile: &'static str) -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let target = std::path::Path::new(root).join("target");
    let out = util::output_within(
        Command::new(cargo)
            .current_dir(root)
            .args([
                "build",
                "--quiet",
                "-p",
                "corio-abort-demo",
                "--profile",
                profile,
            ])
            .env("CARGO_TARGET_DIR", &target),
        std::time::Duration::from_secs(600),
    );
    assert!(
        out.status.success(),
        "building the demo with profile {profile} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = if profile == "dev" { "debug" } else { profile };
    target.join(dir).join("corio-abort-demo")
}

fn built() -> &'static std::path::Path {
    static EXE: OnceLock<std::path::PathBuf> = OnceLock::new();
    EXE.get_or_init(|| build("panic-abort"))
}

fn run(case: &str) -> (Option<i32>, String) {
    let out = util::output_within(
        Command::new(built()).arg(case),
        std::time::Duration::from_secs(60),
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("survived"),
        "{case} did not end the process"
    );
    (
        out.status.signal(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_unwinding_call_names_the_coro_the_call_and_the_reason() {
    let (sig, err) = run("cancel");
    assert_eq!(sig, Some(libc::SIGABRT), "{err}");
    assert!(
        err.contains(
            "(victim) was cancelled in its blocking call at corio/tests/abort-demo/src/main.rs"
        ),
        "{err}"
    );
    assert!(err.contains("panic = \"abort\""), "{err}");

    let (sig, err) = run("throw");
    assert_eq!(sig, Some(libc::SIGABRT), "{err}");
    assert!(
        err.contains("(target) was thrown at (Coro::throw: \"stop it\")"),
        "{err}"
    );

    let (sig, err) = run("terminate");
    assert_eq!(sig, Some(libc::SIGABRT), "{err}");
    assert!(
        err.contains("(quitter) called corio::terminate() at corio/tests/abort-demo/src/main.rs"),
        "{err}"
    );

    let (sig, err) = run("timeout");
    assert_eq!(sig, Some(libc::SIGABRT), "{err}");
    assert!(err.contains("coro "), "{err}");
    assert!(err.contains("ran out of time in corio::timeout()"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("corio: ")).count(),
        1,
        "{err}"
    );
}

#[test]
fn built_normally_each_case_survives() {
    for case in ["cancel", "throw", "terminate", "timeout"] {
        let out = util::output_within(
            Command::new(build("dev")).arg(case),
            std::time::Duration::from_secs(60),
        );
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "survived\n");
    }
}
