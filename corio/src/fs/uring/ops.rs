//! The operations of the io_uring back-end: each builds its entry with
//! pointers into memory the operation's slot keeps (see `Ring::submit`),
//! submits it and turns the kernel's result into an `io::Result`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use io_uring::{opcode, squeue};

use super::{Keep, Ring, for_open};

/// The result of an operation as an `io::Result` (negative = `-errno`).
fn check(res: i32) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
    }
}

/// A raw descriptor for an `io_uring` entry.
fn fd(fd: RawFd) -> io_uring::types::Fd {
    io_uring::types::Fd(fd)
}

//
// Each one submits one entry and parks the calling coro until it
// completes. `fs/no_uring.rs` has the same functions for builds without
// the `io-uring` feature.

/// `offset` for "use and advance the file position".
pub(crate) const CURSOR: u64 = u64::MAX;

/// Most bytes one read or write moves (the entry's length is a `u32`).
const MAX_LEN: usize = 1 << 30;

/// The pointer to a kept path (null for none).
fn c_ptr(path: &Option<CString>) -> *const libc::c_char {
    path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr())
}

/// Submits the operation `build` makes on `path` relative to the working
/// directory (`build` gets `AT_FDCWD` and the path's pointer; the path
/// stays alive until the operation completes). `opens`: the result is a
/// new descriptor (see [`Keep::opens`]). Returns the kernel's result.
#[track_caller]
fn submit_at(
    r: &Ring,
    path: CString,
    opens: bool,
    build: impl FnOnce(io_uring::types::Fd, *const libc::c_char) -> squeue::Entry,
) -> io::Result<i32> {
    let keep = Keep {
        path: Some(path),
        opens,
        ..Keep::default()
    };
    let (res, _) = r.submit(keep, |k| build(fd(libc::AT_FDCWD), c_ptr(&k.path)))?;
    Ok(res)
}

/// Submits the operation `build` makes on `file` with `buf` (`build` gets
/// the descriptor and the buffer; both stay alive until the operation
/// completes). Returns the kernel's result and the buffer.
#[track_caller]
fn submit_on(
    r: &Ring,
    file: &Arc<OwnedFd>,
    buf: Vec<u8>,
    build: impl FnOnce(io_uring::types::Fd, &mut Vec<u8>) -> squeue::Entry,
) -> io::Result<(i32, Vec<u8>)> {
    let keep = Keep {
        buf,
        fd: Some(file.clone()),
        ..Keep::default()
    };
    let raw = fd(file.as_raw_fd());
    let (res, keep) = r.submit(keep, |k| build(raw, &mut k.buf))?;
    Ok((res, keep.buf))
}

/// Opens `path` relative to the working directory.
#[track_caller]
pub(crate) fn open(r: &Ring, path: CString, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let polled = for_open(r);
    let r = polled.as_deref().unwrap_or(r);
    let res = submit_at(r, path, true, |cwd, p| {
        opcode::OpenAt::new(cwd, p).flags(flags).mode(mode).build()
    })?;
    let raw = check(res)? as RawFd;
    // SAFETY: the kernel just opened `raw` for us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Reads into the spare capacity of `buf` (at most 1 GiB), which
/// the operation owns while it is in flight; returns the bytes read and
/// the buffer, its length grown by them.
#[track_caller]
pub(crate) fn read(
    r: &Ring,
    file: &Arc<OwnedFd>,
    buf: Vec<u8>,
    offset: u64,
) -> io::Result<(usize, Vec<u8>)> {
    let start = buf.len();
    let room = (buf.capacity() - start).min(MAX_LEN);
    let (res, mut buf) = submit_on(r, file, buf, |f, buf| {
        // SAFETY: `start + room` is within the capacity.
        let p = unsafe { buf.as_mut_ptr().add(start) };
        opcode::Read::new(f, p, room as u32).offset(offset).build()
    })?;
    let n = check(res)? as usize;
    // SAFETY: the kernel wrote `n ≤ room` bytes after `start`.
    unsafe { buf.set_len(start + n.min(room)) };
    Ok((n, buf))
}

/// Reads into `out` through a buffer the operation owns.
#[track_caller]
pub(crate) fn read_into(
    r: &Ring,
    file: &Arc<OwnedFd>,
    out: &mut [u8],
    offset: u64,
) -> io::Result<usize> {
    let (n, data) = read(r, file, r.spare(out.len()), offset)?;
    out[..n].copy_from_slice(&data[data.len() - n..]);
    r.give_back(data);
    Ok(n)
}

/// Writes `data` (at most 1 GiB) from a copy the operation owns.
#[track_caller]
pub(crate) fn write(r: &Ring, file: &Arc<OwnedFd>, data: &[u8], offset: u64) -> io::Result<usize> {
    let len = data.len().min(MAX_LEN);
    let mut buf = r.spare(len);
    buf.extend_from_slice(&data[..len]);
    let (res, buf) = submit_on(r, file, buf, |f, buf| {
        opcode::Write::new(f, buf.as_ptr(), len as u32)
            .offset(offset)
            .build()
    })?;
    r.give_back(buf);
    Ok(check(res)? as usize)
}

/// `fsync`, or `fdatasync` with `data_only`.
#[track_caller]
pub(crate) fn fsync(r: &Ring, file: &Arc<OwnedFd>, data_only: bool) -> io::Result<()> {
    let flags = if data_only {
        io_uring::types::FsyncFlags::DATASYNC
    } else {
        io_uring::types::FsyncFlags::empty()
    };
    let (res, _) = submit_on(r, file, Vec::new(), |f, _| {
        opcode::Fsync::new(f).flags(flags).build()
    })?;
    check(res).map(drop)
}

/// `renameat` relative to the working directory.
#[track_caller]
pub(crate) fn rename(r: &Ring, from: CString, to: CString) -> io::Result<()> {
    let keep = Keep {
        path: Some(from),
        path2: Some(to),
        ..Keep::default()
    };
    let (res, _) = r.submit(keep, |k| {
        let (a, b) = (c_ptr(&k.path), c_ptr(&k.path2));
        opcode::RenameAt::new(fd(libc::AT_FDCWD), a, fd(libc::AT_FDCWD), b).build()
    })?;
    check(res).map(drop)
}

/// `unlinkat` relative to the working directory (`rmdir` with `dir`).
#[track_caller]
pub(crate) fn unlink(r: &Ring, path: CString, dir: bool) -> io::Result<()> {
    let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
    let res = submit_at(r, path, false, |cwd, p| {
        opcode::UnlinkAt::new(cwd, p).flags(flags).build()
    })?;
    check(res).map(drop)
}

/// `mkdirat` relative to the working directory.
#[track_caller]
pub(crate) fn mkdir(r: &Ring, path: CString, mode: u32) -> io::Result<()> {
    let res = submit_at(r, path, false, |cwd, p| {
        opcode::MkDirAt::new(cwd, p).mode(mode).build()
    })?;
    check(res).map(drop)
}
