//! `getaddrinfo` (std's `ToSocketAddrs`, and so ureq, redis, mysql): on a
//! thread with a scheduler the lookup runs on a resolver thread and only
//! the coro waits. The resolver's own sockets and polls are inside the C
//! library, where no hook can reach them, so this is the only way a DNS
//! lookup stops blocking the thread.

use std::ffi::{CStr, CString};
use std::sync::OnceLock;

use libc::{addrinfo, c_char, c_int};

use super::park::{ctx, set_errno};
use super::real;
use crate::multicore::Pool;

/// At most this many lookups run at once; more wait in the queue.
const RESOLVERS: usize = 16;

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new("corio-resolver", RESOLVERS))
}

/// A list `getaddrinfo` made, freed unless handed to the caller.
struct List(*mut addrinfo);

// SAFETY: the list is plain heap memory the C library allocated; any
// thread may read or free it.
unsafe impl Send for List {}

impl Drop for List {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: a list from getaddrinfo, freed once.
            unsafe { libc::freeaddrinfo(self.0) };
        }
    }
}

/// The answer of one lookup: its return value, errno, and list.
type Answer = (c_int, c_int, List);

/// An owned copy of the caller's C string (the coro may stop waiting,
/// and return, before the resolver thread is done with it).
///
/// # Safety
/// `p` is null or a valid C string.
unsafe fn owned(p: *const c_char) -> Option<CString> {
    // SAFETY: the caller's promise.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_owned())
}

/// `getaddrinfo(3)`: the lookup runs on a resolver thread; the coro
/// waits. Without a scheduler on the thread it passes straight through.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    let Some(c) = ctx() else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::getaddrinfo(node, service, hints, res) };
    };
    if c.interrupted() {
        set_errno(c.interrupt_errno());
        return libc::EAI_SYSTEM;
    }
    // SAFETY: the caller passes valid strings and hints (or nulls).
    let (node_c, service_c) = unsafe { (owned(node), owned(service)) };
    // SAFETY: as above.
    let hint = (!hints.is_null()).then(|| unsafe {
        let h = &*hints;
        (h.ai_flags, h.ai_family, h.ai_socktype, h.ai_protocol)
    });
    let lookup = move || -> Answer {
        // SAFETY: zeroed is a valid empty addrinfo.
        let mut h: addrinfo = unsafe { std::mem::zeroed() };
        if let Some((flags, family, socktype, protocol)) = hint {
            h.ai_flags = flags;
            h.ai_family = family;
            h.ai_socktype = socktype;
            h.ai_protocol = protocol;
        }
        let mut out = std::ptr::null_mut();
        // SAFETY: owned strings and hints, and an out-pointer, all alive
        // for the call.
        let r = unsafe {
            real::getaddrinfo(
                node_c.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
                service_c.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
                if hint.is_some() { &h } else { std::ptr::null() },
                &mut out,
            )
        };
        (r, super::park::errno(), List(out))
    };
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (cb, rouse) = crate::rouse::<Answer>();
        pool().submit(Box::new(move || cb.call(lookup())));
        rouse.wait_quiet()
    }));
    match waited {
        Ok(Ok(Some((r, e, mut list)))) => {
            if r == 0 {
                // SAFETY: the caller's out-pointer.
                unsafe { *res = std::mem::replace(&mut list.0, std::ptr::null_mut()) };
            } else if r == libc::EAI_SYSTEM {
                set_errno(e);
            }
            r
        }
        Ok(Err(())) => {
            set_errno(c.interrupt_errno());
            libc::EAI_SYSTEM
        }
        // The resolver dropped the job (it cannot: the pool runs every
        // job), or the reactor could not be made: look it up here.
        // SAFETY: the caller's arguments, passed on.
        Ok(Ok(None)) | Err(_) => unsafe { real::getaddrinfo(node, service, hints, res) },
    }
}
