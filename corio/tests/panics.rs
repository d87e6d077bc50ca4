//! Panics end only their own coro; per-coro hooks stay per coro.
//!
//! `perl_t13_diewarn` ports the behaviour of Perl Coro's `t/13_diewarn.t`
//! (Coro 6.57, by Marc Lehmann; public mirror laurent-aml/Perl-Coro): each
//! coro's `local $SIG{__WARN__}` is its own, across switches, and coros
//! without one use the process-wide `$Coro::State::WARNHOOK`. In corio the
//! per-coro hook is a `coro_local!` and the default a thread-local.

mod util;

use std::cell::RefCell;
use std::rc::Rc;

use util::{Log, Oks};

type Hook = Rc<dyn Fn()>;

thread_local! {
    static WARNHOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

corio::coro_local! {
    static SIG_WARN: RefCell<Option<Hook>> = RefCell::new(None);
}

/// `warn`: the coro's own hook, else the default one.
fn warn() {
    let own = SIG_WARN.with_borrow(Clone::clone);
    match own {
        Some(h) => h(),
        None => {
            if let Some(h) = WARNHOOK.with_borrow(Clone::clone) {
                h()
            }
        }
    }
}

/// `local $SIG{__WARN__} = ...`: restores the previous hook when dropped.
struct Local(Option<Hook>);
fn local_warn(h: Hook) -> Local {
    Local(SIG_WARN.replace(Some(h)))
}
impl Drop for Local {
    fn drop(&mut self) {
        SIG_WARN.set(self.0.take());
    }
}

#[test]
fn perl_t13_diewarn() {
    let oks = Oks::new();
    oks.ok(1);
    let ok = |n: u32| -> Hook {
        let o = oks.clone();
        Rc::new(move || o.ok(n))
    };
    let (h5, h7) = (ok(5), ok(7));
    let a = corio::spawn(move || {
        warn();
        corio::cede();
        warn();
        let _l7 = local_warn(h7);
        {
            let _l5 = local_warn(h5);
            corio::cede();
            warn();
        }
        corio::cede();
        warn();
        corio::cede();
    });
    let (h3, h4, h6) = (ok(3), ok(4), ok(6));
    let b = corio::spawn(move || {
        WARNHOOK.set(Some(h3));
        let _l6 = local_warn(h6);
        {
            let _l4 = local_warn(h4);
            corio::cede();
            warn();
        }
        corio::cede();
        warn();
    });
    WARNHOOK.set(Some(ok(2)));
    for _ in 0..4 {
        corio::cede();
    }
    a.join().unwrap();
    b.join().unwrap();
    WARNHOOK.set(None);
    assert_eq!(oks.get(), (1..=7).collect::<Vec<_>>());
}

#[test]
fn a_panic_ends_only_its_own_coro() {
    let log = Log::new();
    let l = log.clone();
    let bad = corio::spawn(move || {
        l.push("bad starts");
        corio::cede();
        panic!("bad coro");
    });
    let l = log.clone();
    let good = corio::spawn(move || {
        for i in 0..3 {
            l.push(format!("good {i}"));
            corio::cede();
        }
        "good result"
    });
    assert_eq!(good.join().unwrap(), "good result");
    assert_eq!(bad.join().unwrap_err().panic_message(), Some("bad coro"));
    assert_eq!(log.get(), ["bad starts", "good 0", "good 1", "good 2"]);
}

#[test]
fn an_unjoined_panic_does_not_disturb_anyone() {
    drop(corio::spawn(|| panic!("nobody will join this")));
    corio::cede();
    assert_eq!(corio::spawn(|| 2).join().unwrap(), 2);
}

#[test]
fn a_panic_with_any_payload_type() {
    #[derive(Debug, PartialEq)]
    struct Custom(u32);
    let h = corio::spawn(|| std::panic::panic_any(Custom(3)));
    let err = h.join().unwrap_err();
    assert_eq!(err.panic_message(), None);
    assert_eq!(format!("{err:?}"), "Panicked(..)");
    assert_eq!(err.into_panic().downcast_ref::<Custom>(), Some(&Custom(3)));
}

#[test]
fn join_errors_convert_to_io_errors() {
    let e: std::io::Error = corio::spawn(|| panic!("disk on fire"))
        .join()
        .unwrap_err()
        .into();
    assert!(e.to_string().contains("disk on fire"));
}
