//! The C library's own definitions of the names the hooks take over,
//! found once with `dlsym(RTLD_NEXT, name)`.
//!
//! Every pointer is resolved by [`resolve_all`], which runs from an
//! `.init_array` constructor before `main` (and before any thread of the
//! program exists), so a hook never calls `dlsym` — which takes the
//! loader's lock, may allocate and needs a lot of stack — from a coro's
//! stack, a signal handler or a forked child. A hook that runs before the
//! constructor (another library's constructor calling `read`) resolves
//! its own pointer on the spot: there is only one thread then.

use std::ffi::{CStr, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

use libc::{
    addrinfo, c_char, c_int, c_uint, c_ulong, epoll_event, iovec, msghdr, nfds_t, off_t, pollfd,
    sigset_t, size_t, sockaddr, socklen_t, ssize_t, timespec,
};

macro_rules! reals {
    ($( $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy)]
        #[repr(u8)]
        enum Sym { $($name,)* }

        const NAMES: &[&CStr] = &[$(
            // SAFETY: the literal ends in the one NUL it contains.
            unsafe { CStr::from_bytes_with_nul_unchecked(concat!(stringify!($name), "\0").as_bytes()) },
        )*];

        static PTRS: [AtomicPtr<c_void>; NAMES.len()] =
            [const { AtomicPtr::new(std::ptr::null_mut()) }; NAMES.len()];

        $(
            /// The C library's own definition of this name.
            ///
            /// # Safety
            /// As for the C function.
            #[inline]
            pub(super) unsafe fn $name($($arg: $ty),*) -> $ret {
                let p = ptr(Sym::$name);
                // SAFETY: `p` is the C library's definition of this very
                // name, whose C prototype is the one written here.
                let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(p) };
                // SAFETY: the caller keeps the function's contract.
                unsafe { f($($arg),*) }
            }
        )*
    };
}

reals! {
    read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
    readv(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
    recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t;
    recvfrom(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
    recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
    write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t;
    writev(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
    send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t;
    sendto(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, len: socklen_t) -> ssize_t;
    sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
    sendfile(out: c_int, inp: c_int, off: *mut off_t, n: size_t) -> ssize_t;
    sendfile64(out: c_int, inp: c_int, off: *mut off_t, n: size_t) -> ssize_t;
    splice(inp: c_int, off_in: *mut i64, out: c_int, off_out: *mut i64, n: size_t, flags: c_uint) -> ssize_t;
    connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int;
    ppoll(fds: *mut pollfd, n: nfds_t, timeout: *const timespec, mask: *const sigset_t) -> c_int;
    select(n: c_int, r: *mut libc::fd_set, w: *mut libc::fd_set, e: *mut libc::fd_set, t: *mut libc::timeval) -> c_int;
    pselect(n: c_int, r: *mut libc::fd_set, w: *mut libc::fd_set, e: *mut libc::fd_set, t: *const timespec, mask: *const sigset_t) -> c_int;
    epoll_wait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int) -> c_int;
    epoll_pwait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int, mask: *const sigset_t) -> c_int;
    epoll_create(size: c_int) -> c_int;
    epoll_create1(flags: c_int) -> c_int;
    nanosleep(req: *const timespec, rem: *mut timespec) -> c_int;
    clock_nanosleep(clock: libc::clockid_t, flags: c_int, req: *const timespec, rem: *mut timespec) -> c_int;
    usleep(us: libc::useconds_t) -> c_int;
    sleep(s: c_uint) -> c_uint;
    socket(domain: c_int, ty: c_int, proto: c_int) -> c_int;
    socketpair(domain: c_int, ty: c_int, proto: c_int, sv: *mut c_int) -> c_int;
    pipe2(fds: *mut c_int, flags: c_int) -> c_int;
    close(fd: c_int) -> c_int;
    close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
    dup(fd: c_int) -> c_int;
    dup2(old: c_int, new: c_int) -> c_int;
    dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int;
    getaddrinfo(node: *const c_char, service: *const c_char, hints: *const addrinfo, res: *mut *mut addrinfo) -> c_int;
    __read_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t;
    __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int) -> ssize_t;
    __recvfrom_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
    __poll_chk(fds: *mut pollfd, n: nfds_t, timeout: c_int, fdslen: size_t) -> c_int;
    fcntl_(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    fcntl64_(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    ioctl_(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int;
}

/// The pointer for `s`, resolved now if the constructor has not run yet.
#[inline]
fn ptr(s: Sym) -> *mut c_void {
    let p = PTRS[s as usize].load(Ordering::Relaxed);
    if p.is_null() { resolve(s) } else { p }
}

#[cold]
#[inline(never)]
fn resolve(s: Sym) -> *mut c_void {
    let name = NAMES[s as usize];
    // The variadic functions are written with a trailing `_` above (their
    // hooks take a fixed third argument, their real versions are called
    // through a pointer of that fixed shape: on x86-64 and aarch64 Linux a
    // variadic integer or pointer argument travels exactly like a named
    // one).
    let bytes = name.to_bytes();
    let mut buf = [0u8; 32];
    let lookup: &CStr = match bytes.strip_suffix(b"_") {
        Some(base) if base.len() < buf.len() => {
            buf[..base.len()].copy_from_slice(base);
            match CStr::from_bytes_until_nul(&buf) {
                Ok(c) => c,
                Err(_) => name,
            }
        }
        _ => name,
    };
    // SAFETY: `lookup` is a NUL-terminated name; RTLD_NEXT finds the next
    // definition after this executable, the C library's.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, lookup.as_ptr()) };
    if p.is_null() {
        missing(bytes);
    }
    PTRS[s as usize].store(p, Ordering::Relaxed);
    p
}

/// A name the C library lacks: nothing sensible can be done without it.
#[cold]
fn missing(name: &[u8]) -> ! {
    let msg = b"corio hook: the C library does not define ";
    // SAFETY: plain writes of valid buffers to stderr, then abort; no
    // allocation (this can run anywhere).
    unsafe {
        libc::syscall(libc::SYS_write, 2, msg.as_ptr(), msg.len());
        libc::syscall(libc::SYS_write, 2, name.as_ptr(), name.len());
        libc::syscall(libc::SYS_write, 2, b"\n".as_ptr(), 1usize);
        libc::abort();
    }
}

/// Resolves every pointer (the constructor calls it; idempotent).
pub(super) fn resolve_all() {
    for (i, p) in PTRS.iter().enumerate() {
        if p.load(Ordering::Relaxed).is_null() {
            // SAFETY: `i` indexes `NAMES`, and `Sym` numbers them in order.
            resolve(unsafe { std::mem::transmute::<u8, Sym>(i as u8) });
        }
    }
}

/// The C library's `fcntl`.
///
/// # Safety
/// As for the C function.
#[inline]
pub(super) unsafe fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: see `fcntl_`.
    unsafe { fcntl_(fd, cmd, arg) }
}

/// The C library's `fcntl64`.
///
/// # Safety
/// As for the C function.
#[inline]
pub(super) unsafe fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: see `fcntl64_`.
    unsafe { fcntl64_(fd, cmd, arg) }
}

/// The C library's `ioctl`.
///
/// # Safety
/// As for the C function.
#[inline]
pub(super) unsafe fn ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int {
    // SAFETY: see `ioctl_`.
    unsafe { ioctl_(fd, req, arg) }
}
