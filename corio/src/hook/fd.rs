//! The calls that make, copy, configure and close descriptors: they keep
//! the records (see `table`) on every thread, scheduler or not, and never
//! park.

use std::sync::atomic::Ordering;

use libc::{c_int, c_uint, c_ulong, c_void, socklen_t};

use super::park::{self, FORKED, errno, set_errno};
use super::real;
use super::table::{self, ADOPTED, NONBLOCK, PIPE, REGISTERED, SOCKET, STREAM};

/// Whether records are kept (not in a forked child).
#[inline]
fn keeping() -> bool {
    !FORKED.load(Ordering::Relaxed)
}

/// Restores errno when dropped: keeping the records around a C call
/// leaves errno as that call set it.
struct KeepErrno(c_int);

impl KeepErrno {
    #[inline]
    fn new() -> Self {
        KeepErrno(errno())
    }
}

impl Drop for KeepErrno {
    #[inline]
    fn drop(&mut self) {
        set_errno(self.0);
    }
}

/// Writes the record of a descriptor just made (errno is left as it was).
#[inline]
fn made(fd: c_int, flags: u32) {
    let _errno = KeepErrno::new();
    if fd >= 0
        && keeping()
        && let Some(r) = table::get_or_map(fd)
    {
        r.init(flags);
    }
}

/// The record flags of a socket of type `ty` (with its `SOCK_*` flags).
fn socket_flags(ty: c_int) -> u32 {
    let mut f = SOCKET;
    if ty & 0xf == libc::SOCK_STREAM {
        f |= STREAM;
    }
    if ty & libc::SOCK_NONBLOCK != 0 {
        f |= NONBLOCK;
    }
    f
}

/// `socket(2)`: records the socket; never changes its flags.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let fd = unsafe { real::socket(domain, ty, proto) };
    made(fd, socket_flags(ty));
    fd
}

/// `socketpair(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    proto: c_int,
    sv: *mut c_int,
) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let r = unsafe { real::socketpair(domain, ty, proto, sv) };
    if r == 0 {
        // SAFETY: on success the kernel filled both slots.
        let (a, b) = unsafe { (*sv, *sv.add(1)) };
        made(a, socket_flags(ty));
        made(b, socket_flags(ty));
    }
    r
}

/// `pipe2(2)`: records both ends (non-blocking in the caller's view with
/// `O_NONBLOCK`). Nothing is adopted until a coro blocks on an end, so a
/// child process given one end keeps a blocking pipe.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn pipe2(fds: *mut c_int, flags: c_int) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let r = unsafe { real::pipe2(fds, flags) };
    if r == 0 {
        let nb = if flags & libc::O_NONBLOCK != 0 {
            NONBLOCK
        } else {
            0
        };
        // SAFETY: on success the kernel filled both slots.
        let (a, b) = unsafe { (*fds, *fds.add(1)) };
        made(a, PIPE | STREAM | nb);
        made(b, PIPE | STREAM | nb);
    }
    r
}

/// `pipe(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn pipe(fds: *mut c_int) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    unsafe { pipe2(fds, 0) }
}

/// `epoll_create1(2)`: records the epoll descriptor, so that `epoll_wait`
/// on it keeps one registration with the reactor.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn epoll_create1(flags: c_int) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let fd = unsafe { real::epoll_create1(flags) };
    made(fd, 0);
    fd
}

/// `epoll_create(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn epoll_create(size: c_int) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let fd = unsafe { real::epoll_create(size) };
    made(fd, 0);
    fd
}

/// Forgets `fd` before it is closed (or replaced by `dup2`): this
/// thread's registration goes (its waiters wake and see the change), and
/// the record is cleared before the number can be reused. Errno is left as
/// it was.
#[inline]
fn forget(fd: c_int) {
    let _errno = KeepErrno::new();
    if !keeping() {
        return;
    }
    let Some(r) = table::get(fd) else { return };
    let f = r.flags();
    if f == 0 {
        return;
    }
    r.clear();
    if f & REGISTERED != 0 {
        park::release(fd);
    }
}

/// `close(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn close(fd: c_int) -> c_int {
    forget(fd);
    // SAFETY: the caller's argument, passed on.
    unsafe { real::close(fd) }
}

/// `close_range(2)`: clears the records of the range it closes.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    if flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 && keeping() {
        let _errno = KeepErrno::new();
        // Registrations of this thread first, for the registered ones.
        let top = last.min(first.saturating_add(1 << 16));
        for fd in first..=top {
            if let Ok(fd) = c_int::try_from(fd)
                && table::get(fd).is_some_and(|r| r.flags() & REGISTERED != 0)
            {
                park::release(fd);
            }
        }
        table::clear_range(first, last);
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::close_range(first, last, flags) }
}

/// Copies the record of `old` to `new` (a duplicate just made; errno is
/// left as it was).
fn duplicated(old: c_int, new: c_int) {
    let _errno = KeepErrno::new();
    if new < 0 || !keeping() {
        return;
    }
    match (table::tracked(old), table::get_or_map(new)) {
        (Some(from), Some(to)) => to.copy_from(from),
        (None, Some(to)) if to.flags() != 0 => to.clear(),
        _ => {}
    }
}

/// `dup(2)`: the copy shares the record's kind, view and timeouts.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: the caller's argument, passed on.
    let new = unsafe { real::dup(fd) };
    duplicated(fd, new);
    new
}

/// `dup2(2)`: an implicit close of `new` first.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if old == new {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { real::dup2(old, new) };
    }
    forget(new);
    // SAFETY: the caller's arguments, passed on.
    let r = unsafe { real::dup2(old, new) };
    duplicated(old, r);
    r
}

/// `dup3(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if old != new {
        forget(new);
    }
    // SAFETY: the caller's arguments, passed on.
    let r = unsafe { real::dup3(old, new, flags) };
    duplicated(old, r);
    r
}

/// The shared body of `fcntl` and `fcntl64`: `F_GETFL` shows the caller's
/// view of `O_NONBLOCK`, `F_SETFL` records it (an adopted descriptor stays
/// non-blocking underneath), `F_DUPFD*` copy the record; everything else
/// is passed on unchanged.
///
/// # Safety
/// `(fd, cmd, arg)` is a valid call of `real` (the C function's contract:
/// `arg` is what `cmd` takes, a pointer where it takes one).
unsafe fn fcntl_hook(
    fd: c_int,
    cmd: c_int,
    arg: usize,
    real: unsafe fn(c_int, c_int, usize) -> c_int,
) -> c_int {
    let rec = if keeping() { table::tracked(fd) } else { None };
    match (cmd, rec) {
        (libc::F_GETFL, Some(rec)) => {
            // SAFETY: the caller's arguments, passed on.
            let fl = unsafe { real(fd, cmd, arg) };
            let f = rec.flags();
            if fl >= 0 && f & ADOPTED != 0 && f & NONBLOCK == 0 {
                fl & !libc::O_NONBLOCK
            } else {
                fl
            }
        }
        (libc::F_SETFL, Some(rec)) => {
            let want = arg as c_int;
            let adopted = rec.flags() & ADOPTED != 0;
            let real_arg = if adopted {
                want | libc::O_NONBLOCK
            } else {
                want
            };
            // SAFETY: the caller's descriptor, with its flags (plus ours).
            let r = unsafe { real(fd, cmd, real_arg as usize) };
            if r >= 0 {
                if want & libc::O_NONBLOCK != 0 {
                    rec.set(NONBLOCK);
                } else {
                    rec.unset(NONBLOCK);
                }
            }
            r
        }
        (libc::F_DUPFD | libc::F_DUPFD_CLOEXEC, _) => {
            // SAFETY: the caller's arguments, passed on.
            let new = unsafe { real(fd, cmd, arg) };
            duplicated(fd, new);
            new
        }
        // SAFETY: the caller's arguments, passed on.
        _ => unsafe { real(fd, cmd, arg) },
    }
}

/// `fcntl(2)` (see `fcntl_hook`). C-variadic; the third argument, when
/// there is one, is an integer or a pointer, which x86-64 and aarch64
/// Linux pass exactly as a fixed argument of word size.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    unsafe { fcntl_hook(fd, cmd, arg, real::fcntl) }
}

/// `fcntl64`, what `fcntl` is called in C built with 64-bit offsets.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    unsafe { fcntl_hook(fd, cmd, arg, real::fcntl64) }
}

/// `ioctl(2)`: `FIONBIO` (std's `set_nonblocking`) records the caller's
/// view and leaves an adopted descriptor non-blocking underneath;
/// everything else is passed on unchanged. C-variadic, like `fcntl`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int {
    if req == libc::FIONBIO
        && !arg.is_null()
        && keeping()
        && let Some(rec) = table::tracked(fd)
    {
        // SAFETY: FIONBIO's argument points to an int.
        let on = unsafe { *arg.cast::<c_int>() } != 0;
        if !on && rec.flags() & ADOPTED != 0 {
            // Blocking again, in the caller's view only.
            rec.unset(NONBLOCK);
            return 0;
        }
        // SAFETY: the caller's arguments, passed on.
        let r = unsafe { real::ioctl(fd, req, arg) };
        if r == 0 {
            if on {
                rec.set(NONBLOCK);
            } else {
                rec.unset(NONBLOCK);
            }
        }
        return r;
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { real::ioctl(fd, req, arg) }
}

/// `setsockopt(2)`: keeps `SO_RCVTIMEO` and `SO_SNDTIMEO` in the record
/// (a parked call honours them), then passes the call on.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let r = unsafe { real::setsockopt(fd, level, name, val, len) };
    if r == 0
        && level == libc::SOL_SOCKET
        && (name == libc::SO_RCVTIMEO || name == libc::SO_SNDTIMEO)
        && len as usize >= std::mem::size_of::<libc::timeval>()
        && !val.is_null()
        && keeping()
        && let Some(rec) = table::tracked(fd)
    {
        // SAFETY: the kernel accepted it as a timeval of this length.
        let tv = unsafe { val.cast::<libc::timeval>().read_unaligned() };
        let ns = (tv.tv_sec.max(0) as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add((tv.tv_usec.max(0) as u64).saturating_mul(1000));
        rec.set_timeout_ns(name == libc::SO_RCVTIMEO, ns);
    }
    r
}
