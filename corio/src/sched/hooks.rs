//! `on_enter` / `on_leave`: dynamic-wind hooks run when the current coro is
//! switched in and out (Perl Coro's `Coro::on_enter` and `Coro::on_leave`).
//!
//! Hooks belong to the coro that installed them. Enter hooks run in install
//! order, leave hooks in reverse, so nested pairs stay balanced; they also
//! run when a cancelled coro is switched in to unwind, and its guards drop
//! on the way out. A coro without hooks pays one flag test per switch.

use std::cell::Cell;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};

use super::inner::{CoroInner, CoroRef};
use super::{HOOKS_FLAG, report_panic, sched};

/// One installed hook.
pub(crate) struct Hook {
    id: u64,
    enter: bool,
    f: Box<dyn FnMut()>,
}

thread_local! {
    static NEXT_HOOK: Cell<u64> = const { Cell::new(1) };
}

/// Removes its hook when dropped; an `on_leave` guard runs its hook once
/// more first (the "scope exit" of Perl's `on_leave`).
///
/// Keep it in a local: the hook stays installed exactly as long as the
/// guard lives. It belongs to its coro's thread:
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// send(corio::on_leave(|| ()));
/// ```
#[must_use = "the hook is removed as soon as the guard is dropped"]
#[clippy::has_significant_drop]
pub struct HookGuard {
    coro: CoroRef,
    id: u64,
    leave: bool,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for HookGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookGuard")
            .field("coro", &self.coro.id)
            .field("kind", &if self.leave { "on_leave" } else { "on_enter" })
            .finish()
    }
}

fn install(enter: bool, f: Box<dyn FnMut()>) -> HookGuard {
    let s = sched();
    let coro = s.cur_ref();
    let id = NEXT_HOOK.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    coro.extra_mut(|e| e.hooks.push(Hook { id, enter, f }));
    coro.set(HOOKS_FLAG);
    HookGuard {
        coro,
        id,
        leave: !enter,
        _not_send: PhantomData,
    }
}

/// Runs `f` now and every time the current coro is switched back in, until
/// the returned guard is dropped.
///
/// Use it to give a coro its own view of process-wide state (a locale, a
/// log prefix, a thread-local setting): set it on enter, restore it on
/// leave with [`on_leave`].
///
/// Hooks must not block or panic (a panic is caught and reported).
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let l = log.clone();
/// let worker = corio::spawn(move || {
///     let l2 = l.clone();
///     let _enter = corio::on_enter(move || l2.borrow_mut().push("enter"));
///     let l3 = l.clone();
///     let _leave = corio::on_leave(move || l3.borrow_mut().push("leave"));
///     corio::cede();
/// });
/// corio::cede();
/// worker.join().unwrap();
/// assert_eq!(*log.borrow(), ["enter", "leave", "enter", "leave"]);
/// ```
///
/// # Switching
///
/// Never suspends the current coro.
pub fn on_enter(mut f: impl FnMut() + 'static) -> HookGuard {
    call(&mut f, None);
    install(true, Box::new(f))
}

/// Runs `f` every time the current coro is switched out, and once more when
/// the returned guard is dropped (also when the coro is cancelled or
/// panics, as the guard drops while unwinding).
///
/// # Examples
///
/// See [`on_enter`].
///
/// # Switching
///
/// Never suspends the current coro.
pub fn on_leave(f: impl FnMut() + 'static) -> HookGuard {
    install(false, Box::new(f))
}

impl Drop for HookGuard {
    fn drop(&mut self) {
        let hook = self.coro.extra_mut(|e| {
            let pos = e.hooks.iter().position(|h| h.id == self.id)?;
            let hook = e.hooks.remove(pos);
            if e.hooks.is_empty() && !e.traced {
                self.coro.clear(HOOKS_FLAG);
            }
            Some(hook)
        });
        if let Some(mut hook) = hook
            && self.leave
        {
            call(&mut hook.f, Some(&self.coro));
        }
    }
}

fn call(f: &mut dyn FnMut(), c: Option<&CoroInner>) {
    if let Err(p) = panic::catch_unwind(AssertUnwindSafe(f)) {
        match c {
            Some(c) => report_panic(c, "an on_enter/on_leave hook", &*p),
            None => report_panic(sched().cur(), "an on_enter/on_leave hook", &*p),
        }
    }
}

/// Turns switch tracing of `c` on or off (`debug::trace`).
pub(crate) fn set_traced(c: &CoroInner, on: bool) {
    c.extra_mut(|e| {
        e.traced = on;
        if on {
            c.set(HOOKS_FLAG);
        } else if e.hooks.is_empty() {
            c.clear(HOOKS_FLAG);
        }
    });
}

/// Runs the enter hooks of `c` (being switched in), in install order.
pub(crate) fn run_enter(c: &CoroInner) {
    run(c, true);
}

/// Runs the leave hooks of `c` (being switched out), in reverse order.
pub(crate) fn run_leave(c: &CoroInner) {
    run(c, false);
}

fn run(c: &CoroInner, enter: bool) {
    // Take the hooks out so that user code runs without a borrow held.
    let (mut hooks, traced) = c.extra_mut(|e| (std::mem::take(&mut e.hooks), e.traced));
    if traced {
        let at = c
            .where_
            .get()
            .map_or_else(|| "-".to_string(), |l| format!("{}:{}", l.file(), l.line()));
        let desc = c.desc().unwrap_or_default();
        let dir = if enter { "in " } else { "out" };
        log::info!(target: "corio::trace", "coro {} switched {dir} at {at} [{desc}]", c.id);
    }
    if enter {
        for h in hooks.iter_mut().filter(|h| h.enter) {
            call(&mut h.f, Some(c));
        }
    } else {
        for h in hooks.iter_mut().rev().filter(|h| !h.enter) {
            call(&mut h.f, Some(c));
        }
    }
    c.extra_mut(|e| {
        // Keep hooks that a hook installed meanwhile, after the old ones.
        let added = std::mem::replace(&mut e.hooks, hooks);
        e.hooks.extend(added);
    });
}
