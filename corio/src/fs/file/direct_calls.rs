//! [`File`]'s calls that need no waiting: straight between the caller's
//! buffer and the page cache on the calling thread (see `fs/direct.rs`),
//! and [`File::read_rest`], which [`read`](crate::fs::read) uses.

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{At, File, MAX_IO, NO_DIRECT_READ, NO_DIRECT_WRITE, enter};
use crate::fs::direct::{self, Tried};
use crate::fs::uring;

impl File {
    /// Opens `path` on this thread if that needs no
    /// waiting (see [`direct::open`]), after raising a pending interrupt as
    /// a waiting open would; while the thread is busy, on its helper
    /// thread instead (`fs/opener.rs`), which tries the same.
    #[track_caller]
    pub(in crate::fs) fn open_direct(path: &Path, c: &std::ffi::CStr, flags: i32) -> Option<File> {
        // Opens that may write are never tried without waiting (see
        // `direct::open`): no use handing them to the helper.
        let may_write = flags & (libc::O_CREAT | libc::O_TRUNC | libc::O_TMPFILE) != 0;
        if !may_write && let Some(helper) = crate::fs::opener::for_open() {
            return helper
                .open(c.to_owned(), flags)
                .map(|fd| File::new(fd, Arc::from(path)));
        }
        enter();
        direct::open(c, flags).map(|fd| File::new(fd, Arc::from(path)))
    }

    /// Reads the rest of the file into `out` (growing it): straight into
    /// its spare capacity while the data is cached, else on `r` or a worker.
    #[track_caller]
    pub(in crate::fs) fn read_rest(
        &self,
        r: Option<&uring::Ring>,
        mut out: Vec<u8>,
    ) -> io::Result<Vec<u8>> {
        loop {
            if out.capacity() == out.len() {
                out.reserve(out.len().clamp(16 * 1024, MAX_IO / 4));
            }
            if let Some(n) = self.read_direct_spare(&mut out)? {
                if n == 0 {
                    return Ok(out);
                }
                continue;
            }
            let n = match r {
                Some(r) => {
                    let (n, grown) = uring::read(r, &self.fd, out, uring::CURSOR)?;
                    out = grown;
                    n
                }
                None => {
                    let room = (out.capacity() - out.len()).min(MAX_IO);
                    let mut chunk = vec![0u8; room];
                    let n = self.read_inner(&mut chunk, At::Cursor)?;
                    out.extend_from_slice(&chunk[..n]);
                    n
                }
            };
            if n == 0 {
                return Ok(out);
            }
        }
    }

    /// Reads into `buf` on this thread if that needs no waiting (see
    /// `fs/direct.rs`): `None` when it would wait.
    pub(super) fn read_direct(&self, buf: &mut [u8], at: At) -> io::Result<Option<usize>> {
        if self.direct.load(Ordering::Relaxed) & NO_DIRECT_READ != 0 {
            return Ok(None);
        }
        self.direct_result(
            direct::read(self.fd.as_raw_fd(), buf, at.offset())?,
            NO_DIRECT_READ,
        )
    }

    /// Writes `buf` on this thread if that needs no waiting: `None` when it
    /// would wait.
    pub(super) fn write_direct(&self, buf: &[u8], at: At) -> io::Result<Option<usize>> {
        if self.direct.load(Ordering::Relaxed) & NO_DIRECT_WRITE != 0 {
            return Ok(None);
        }
        self.direct_result(
            direct::write(self.fd.as_raw_fd(), buf, at.offset())?,
            NO_DIRECT_WRITE,
        )
    }

    fn direct_result(&self, t: Tried, refused: u8) -> io::Result<Option<usize>> {
        Ok(match t {
            Tried::Done(n) => Some(n),
            Tried::Wait => None,
            Tried::Unsupported => {
                self.direct.fetch_or(refused, Ordering::Relaxed);
                None
            }
        })
    }

    /// Reads into the spare capacity of `out` on this thread if that needs
    /// no waiting (growing its length by the bytes read): `None` when it
    /// would wait.
    pub(in crate::fs) fn read_direct_spare(&self, out: &mut Vec<u8>) -> io::Result<Option<usize>> {
        if self.direct.load(Ordering::Relaxed) & NO_DIRECT_READ != 0 {
            return Ok(None);
        }
        let spare = out.spare_capacity_mut();
        let room = spare.len().min(MAX_IO);
        let t = direct::read_uninit(self.fd.as_raw_fd(), &mut spare[..room], None)?;
        let n = self.direct_result(t, NO_DIRECT_READ)?;
        if let Some(n) = n {
            // SAFETY: the kernel initialised `n ≤ room` bytes after the
            // length.
            unsafe { out.set_len(out.len() + n.min(room)) };
        }
        Ok(n)
    }
}
