//! Builds without the `io-uring` feature: there is never a ring, so every
//! file call goes to the worker threads. The operations have the
//! signatures of `uring.rs`'s; `Ring` has no values, so they cannot be
//! called.

use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;

/// No ring can exist.
pub(crate) enum Ring {}

/// `offset` for "use and advance the file position".
pub(crate) const CURSOR: u64 = u64::MAX;

/// Never a ring.
pub(crate) fn ring() -> Option<Rc<Ring>> {
    None
}

/// io_uring is not built in.
pub(crate) fn available() -> bool {
    false
}

pub(crate) fn open(r: &Ring, _: CString, _: i32, _: u32) -> io::Result<OwnedFd> {
    match *r {}
}

pub(crate) fn read(r: &Ring, _: &Arc<OwnedFd>, _: Vec<u8>, _: u64) -> io::Result<(usize, Vec<u8>)> {
    match *r {}
}

pub(crate) fn read_into(r: &Ring, _: &Arc<OwnedFd>, _: &mut [u8], _: u64) -> io::Result<usize> {
    match *r {}
}

pub(crate) fn write(r: &Ring, _: &Arc<OwnedFd>, _: &[u8], _: u64) -> io::Result<usize> {
    match *r {}
}

pub(crate) fn fsync(r: &Ring, _: &Arc<OwnedFd>, _: bool) -> io::Result<()> {
    match *r {}
}

pub(crate) fn rename(r: &Ring, _: CString, _: CString) -> io::Result<()> {
    match *r {}
}

pub(crate) fn unlink(r: &Ring, _: CString, _: bool) -> io::Result<()> {
    match *r {}
}

pub(crate) fn mkdir(r: &Ring, _: CString, _: u32) -> io::Result<()> {
    match *r {}
}
