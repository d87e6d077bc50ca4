//! A panic in a coro names the coro, not only the thread: the
//! `RefCell`-borrowed-across-a-switch mistake says where it happened.

mod util;

use std::cell::RefCell;
use std::rc::Rc;

/// Runs `role` in a child test process and returns its stderr.
fn stderr_of(role: &str) -> String {
    let out = util::run_child("panic_messages_name_the_coro", role, &[]);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn panic_messages_name_the_coro() {
    match util::child_role().as_deref() {
        Some("refcell") => {
            let shared = Rc::new(RefCell::new(Vec::<u32>::new()));
            let s = shared.clone();
            let holder = corio::Builder::new()
                .name("holder")
                .spawn(move || {
                    let mut v = s.borrow_mut();
                    v.push(1);
                    corio::cede(); // the borrow is held across a switch
                    v.push(2);
                })
                .unwrap();
            let s = shared.clone();
            let intruder = corio::Builder::new()
                .name("intruder")
                .spawn(move || s.borrow_mut().push(3))
                .unwrap();
            let id = intruder.coro().id();
            eprintln!("intruder is {id}");
            assert!(intruder.join().is_err());
            holder.join().unwrap();
            return;
        }
        Some("unnamed") => {
            let h = corio::spawn(|| panic!("plain panic"));
            eprintln!("unnamed is {}", h.coro().id());
            assert!(h.join().is_err());
            return;
        }
        Some("main") => {
            let _ = std::panic::catch_unwind(|| {
                corio::cede();
                panic!("in the main coro")
            });
            return;
        }
        _ => {}
    }
    let err = stderr_of("refcell");
    let id = util::word_after(&err, "intruder is ")
        .expect(&err)
        .to_string();
    assert!(
        err.contains(&format!(
            "corio: the panic below is in coro {id} (intruder)\n"
        )),
        "{err}"
    );
    let note = err.find("the panic below is in coro").unwrap();
    let msg = err.find("already borrowed").expect(&err);
    assert!(note < msg, "the note comes first: {err}");
    assert!(!err.contains("(holder)"), "{err}");

    let err = stderr_of("unnamed");
    let id = util::word_after(&err, "unnamed is ")
        .expect(&err)
        .to_string();
    assert!(
        err.contains(&format!("corio: the panic below is in coro {id}\n")),
        "{err}"
    );
    assert!(err.contains("plain panic"), "{err}");

    // The main coro is the thread: Rust's own message says it all.
    let err = stderr_of("main");
    assert!(err.contains("in the main coro"), "{err}");
    assert!(!err.contains("the panic below"), "{err}");
}

#[test]
fn a_hook_set_before_corio_still_runs() {
    if util::child_role().as_deref() == Some("hook") {
        std::panic::set_hook(Box::new(|_| eprintln!("MY HOOK")));
        let h = corio::Builder::new()
            .name("x")
            .spawn(|| panic!("p"))
            .unwrap();
        assert!(h.join().is_err());
        return;
    }
    let out = util::run_child("a_hook_set_before_corio_still_runs", "hook", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    let note = err.find("the panic below is in coro").expect(&err);
    let mine = err.find("MY HOOK").expect(&err);
    assert!(note < mine, "{err}");
}
