//! `Child` and its pipes.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use crate::io::Handle;
use crate::io::reg::{READ, Registration};
use crate::signal::{SIGCHLD, Signals};

/// How often the `SIGCHLD` fallback looks at the child even without a
/// signal (something else may have set `SIGCHLD` to be ignored, or
/// blocked it).
const SIGCHLD_RECHECK: Duration = Duration::from_secs(1);

/// A running (or exited, not yet waited for) child process, made by
/// [`Command::spawn`](super::Command::spawn): `std::process::Child` with a
/// [`wait`](Child::wait) that parks only the calling coro.
///
/// `Child` is not `Send`: its exit watch is registered with this thread's
/// reactor (the compiler's error names a private field,
/// `Rc<corio::sched::reactor::IoState>`).
///
/// The pipes chosen with `Stdio::piped()` are in the public fields, as in
/// std; take them out to use them from other coros. As with std, dropping
/// a `Child` neither kills nor reaps the process.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use std::process::Stdio;
/// use corio::process::Command;
///
/// let mut child = Command::new("sh")
///     .args(["-c", "sleep 0.05; echo done"])
///     .stdout(Stdio::piped())
///     .spawn()?;
/// // Another coro runs while this one waits for the child.
/// let ticker = corio::spawn(|| corio::sleep(std::time::Duration::from_millis(1)));
/// let mut out = String::new();
/// child.stdout.take().unwrap().read_to_string(&mut out)?;
/// assert!(child.wait()?.success());
/// assert_eq!(out, "done\n");
/// assert!(ticker.is_finished());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Child {
    /// The writing end of the child's stdin, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The reading end of the child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The reading end of the child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
    exit: Exit,
    /// Whether `wait` or `try_wait` reaped the child: its pid may then
    /// belong to another process, so no signal may go to it.
    reaped: bool,
    inner: std::process::Child,
}

/// How `wait` learns that the child exited.
enum Exit {
    /// A pidfd registered with the reactor: readable once the child exits.
    Pidfd(PidFd),
    /// `SIGCHLD`, through `corio::signal`.
    Sigchld,
}

struct PidFd {
    /// Declared first: deregistered before the descriptor closes.
    reg: Registration,
    fd: OwnedFd,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.inner.id())
            .field(
                "exit_watch",
                &match self.exit {
                    Exit::Pidfd(_) => "pidfd",
                    Exit::Sigchld => "SIGCHLD",
                },
            )
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}

impl Child {
    /// Takes over a std child: its pipes become coro-aware and its exit is
    /// watched.
    pub(super) fn new(mut inner: std::process::Child) -> io::Result<Child> {
        let made = (|| {
            let stdin = inner.stdin.take().map(handle).transpose()?;
            let stdout = inner.stdout.take().map(handle).transpose()?;
            let stderr = inner.stderr.take().map(handle).transpose()?;
            let exit = watch_exit(inner.id())?;
            Ok((stdin, stdout, stderr, exit))
        })();
        match made {
            Ok((stdin, stdout, stderr, exit)) => Ok(Child {
                stdin: stdin.map(|h| ChildStdin { h }),
                stdout: stdout.map(|h| ChildStdout { h }),
                stderr: stderr.map(|h| ChildStderr { h }),
                exit,
                reaped: false,
                inner,
            }),
            Err(e) => {
                // Nobody could ever wait for it: do not leave it behind.
                let _ = inner.kill();
                let _ = inner.wait();
                Err(e)
            }
        }
    }

    /// The child's process id.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut child = corio::process::Command::new("true").spawn()?;
    /// assert!(child.id() > 0);
    /// child.wait()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// Sends `SIGKILL` to the child (unless it was already waited for).
    /// [`wait`](Child::wait) for it afterwards.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    ///
    /// let mut child = corio::process::Command::new("sleep").arg("100").spawn()?;
    /// child.kill()?;
    /// assert_eq!(child.wait()?.signal(), Some(libc::SIGKILL));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// What `kill` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn kill(&mut self) -> io::Result<()> {
        self.inner.kill()
    }

    /// Sends `signal` to the child: `libc::SIGTERM` for a graceful stop,
    /// `SIGINT`, `SIGHUP`, `SIGSTOP`/`SIGCONT`, or any other. Then
    /// [`wait`](Child::wait) for it as usual. A child that exited but was
    /// not waited for yet ignores it (that is no error).
    ///
    /// The signal goes through the child's pidfd where there is one
    /// (`pidfd_send_signal`), so it can only ever reach this child; with
    /// the `SIGCHLD` fallback it goes by pid, which stays ours until the
    /// child is reaped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    ///
    /// let mut child = corio::process::Command::new("sleep").arg("100").spawn()?;
    /// child.send_signal(libc::SIGTERM)?;
    /// assert_eq!(child.wait()?.signal(), Some(libc::SIGTERM));
    /// // Reaped: its pid may be another process's by now.
    /// assert!(child.send_signal(libc::SIGTERM).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` once [`wait`](Child::wait) or
    /// [`try_wait`](Child::try_wait) returned the child's status, or found
    /// that something else had reaped it (`ECHILD`) — rather than
    /// signalling whichever process has that pid now; what the
    /// kernel says otherwise (`EINVAL` for a number that is no signal).
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn send_signal(&mut self, signal: i32) -> io::Result<()> {
        if self.reaped {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot signal a child that was already waited for (its pid may be reused)",
            ));
        }
        if let Exit::Pidfd(p) = &self.exit {
            // SAFETY: pidfd_send_signal takes a descriptor, a signal
            // number, a null siginfo (the kernel then fills one in as
            // `kill` would) and flags; it reads no memory of ours. The
            // descriptor is this child's pidfd, open for as long as `self`.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    p.fd.as_raw_fd(),
                    signal,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            if r == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            // A seccomp filter may allow pidfd_open but not this: the pid
            // is still ours (unreaped), so `kill` below is as exact.
            if !matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
                return Err(e);
            }
        }
        let pid = libc::pid_t::try_from(self.inner.id())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "pid out of range"))?;
        // SAFETY: kill takes a pid and a signal number and touches no
        // memory. The pid is our child's, which we have not reaped, so it
        // cannot have been given to another process.
        if unsafe { libc::kill(pid, signal) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Whether the child has exited, without waiting: its status if it
    /// has (and it is reaped then), `None` if it still runs.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut child = corio::process::Command::new("sleep").arg("100").spawn()?;
    /// assert!(child.try_wait()?.is_none());
    /// child.kill()?;
    /// child.wait()?;
    /// assert!(child.try_wait()?.is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// What `waitpid` says.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        try_reap(&mut self.inner, &mut self.reaped)
    }

    /// Waits for the child to exit and returns how it ended. Closes the
    /// child's stdin first (as std does), so a child reading it to its end
    /// can finish. Calling it again returns the same status.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut child = corio::process::Command::new("sh").args(["-c", "exit 4"]).spawn()?;
    /// assert_eq!(child.wait()?.code(), Some(4));
    /// assert_eq!(child.wait()?.code(), Some(4));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// What `waitpid` says (`ECHILD` when something else reaped it).
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out while it
    /// waits (the child goes on running).
    ///
    /// # Switching
    ///
    /// Suspends the current coro until the child exits, unless it has.
    #[track_caller]
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        crate::sched::enter_blocking();
        match &self.exit {
            Exit::Pidfd(p) => loop {
                // Clear first: an exit after the look below still wakes us.
                p.reg.clear(READ);
                if let Some(st) = try_reap(&mut self.inner, &mut self.reaped)? {
                    return Ok(st);
                }
                // No deadline, so no `TimedOut`.
                p.reg.wait(READ, None)?;
            },
            Exit::Sigchld => {
                // Listening before looking: an exit in between is seen.
                let sigchld = Signals::new(&[SIGCHLD])?;
                loop {
                    if let Some(st) = try_reap(&mut self.inner, &mut self.reaped)? {
                        return Ok(st);
                    }
                    sigchld.wait_timeout(SIGCHLD_RECHECK);
                }
            }
        }
    }

    /// Closes stdin, reads stdout and stderr to their ends (at the same
    /// time: a child that fills one pipe while we read the other does not
    /// stall), waits for the child and returns all three. Streams that
    /// were not piped give empty output.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Stdio;
    /// let child = corio::process::Command::new("sh")
    ///     .args(["-c", "echo a; echo b >&2"])
    ///     .stdout(Stdio::piped())
    ///     .stderr(Stdio::piped())
    ///     .spawn()?;
    /// let out = child.wait_with_output()?;
    /// assert_eq!((&out.stdout[..], &out.stderr[..]), (&b"a\n"[..], &b"b\n"[..]));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// Errors reading the pipes or waiting; `Interrupted` if the coro that
    /// reads stderr was cancelled from outside.
    ///
    /// # Panics
    /// As [`wait`](Child::wait).
    ///
    /// # Switching
    ///
    /// Suspends the current coro until the child exited and closed its
    /// output; stderr is read by a second coro meanwhile.
    #[track_caller]
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = read_both(self.stdout.take(), self.stderr.take())?;
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// `try_wait`, noting in `reaped` when the child's pid stopped being
/// ours: we reaped it, or something else did (`ECHILD`).
fn try_reap(inner: &mut std::process::Child, reaped: &mut bool) -> io::Result<Option<ExitStatus>> {
    let r = inner.try_wait();
    match &r {
        Ok(Some(_)) => *reaped = true,
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => *reaped = true,
        _ => {}
    }
    r
}

/// A pipe end as a coro-aware handle.
fn handle(p: impl Into<OwnedFd>) -> io::Result<Handle> {
    Handle::new(p.into())
}

/// A pidfd for `pid` registered with the reactor, or the `SIGCHLD`
/// fallback when the kernel has no pidfds (or `CORIO_NO_PIDFD` says so).
fn watch_exit(pid: u32) -> io::Result<Exit> {
    if std::env::var_os("CORIO_NO_PIDFD").is_some_and(|v| !v.is_empty() && v != "0") {
        return Ok(Exit::Sigchld);
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return Ok(Exit::Sigchld);
    };
    // SAFETY: pidfd_open takes a pid and flags and returns a new
    // descriptor or -1; it touches no memory of ours. The pid is our
    // unreaped child, so it cannot have been reused.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        // ENOSYS (before Linux 5.3), EPERM (a seccomp filter), ...
        return Ok(Exit::Sigchld);
    }
    let Ok(raw) = RawFd::try_from(fd) else {
        return Ok(Exit::Sigchld);
    };
    // SAFETY: `raw` is the new descriptor pidfd_open returned; nothing
    // else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let reg = Registration::new(fd.as_raw_fd(), mio::Interest::READABLE)?;
    Ok(Exit::Pidfd(PidFd { reg, fd }))
}

/// Cancels a helper coro that is still running when dropped (the coro
/// that needed it is unwinding).
struct CancelOnDrop<T>(Option<crate::JoinHandle<T>>);

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        if let Some(h) = self.0.take()
            && !h.is_finished()
        {
            h.cancel();
        }
    }
}

/// Reads both pipes to their ends at once: stderr in a helper coro,
/// stdout in this one.
#[track_caller]
fn read_both(out: Option<ChildStdout>, err: Option<ChildStderr>) -> io::Result<(Vec<u8>, Vec<u8>)> {
    fn drain(r: Option<impl Read>) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        if let Some(mut r) = r {
            r.read_to_end(&mut v)?;
        }
        Ok(v)
    }
    let (out, err) = match (out, err) {
        (Some(out), Some(err)) => (out, err),
        (out, err) => return Ok((drain(out)?, drain(err)?)),
    };
    let helper = crate::Builder::new()
        .name("stderr reader")
        .spawn(move || drain(Some(err)))?;
    let mut helper = CancelOnDrop(Some(helper));
    let stdout = drain(Some(out))?;
    let joined = helper.0.take().expect("set above").join();
    let stderr = match joined {
        Ok(r) => r?,
        Err(e) if e.is_cancelled() => {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "the coro reading the child's stderr was cancelled",
            ));
        }
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    Ok((stdout, stderr))
}

macro_rules! pipe_end {
    ($(#[$doc:meta])* $name:ident, $example:literal) => {
        $(#[$doc])*
        ///
        /// # Examples
        ///
        /// ```
        #[doc = $example]
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub struct $name {
            h: Handle,
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.h.as_raw_fd())
                    .finish()
            }
        }

        impl $name {
            /// Gives the descriptor back, in blocking mode (to hand it to
            /// another process, say).
            ///
            /// # Errors
            /// When the descriptor's flags cannot be restored.
            ///
            /// # Switching
            ///
            /// Never suspends the current coro.
            pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
                self.h.into_inner()
            }
        }

        impl TryFrom<$name> for Stdio {
            type Error = io::Error;

            /// The pipe as another child's stream (`a | b`).
            fn try_from(p: $name) -> io::Result<Stdio> {
                p.into_owned_fd().map(Stdio::from)
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.h.as_fd()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.h.as_raw_fd()
            }
        }
    };
}

pipe_end!(
    /// The child's stdin: `Write` parks the coro while the pipe is full.
    /// Drop it to close the pipe (the child then reads end of file).
    ChildStdin,
    "use std::io::{Read, Write};\nuse std::process::Stdio;\nlet mut child = corio::process::Command::new(\"wc\").arg(\"-c\")\n    .stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;\nlet mut stdin = child.stdin.take().unwrap();\nstdin.write_all(&[b'x'; 100_000])?; // more than a pipe holds: wc reads meanwhile\ndrop(stdin);\nlet mut n = String::new();\nchild.stdout.take().unwrap().read_to_string(&mut n)?;\nassert_eq!(n.trim(), \"100000\");\nchild.wait()?;"
);

pipe_end!(
    /// The child's stdout: `Read` parks the coro until the child writes
    /// (or exits: end of file).
    ChildStdout,
    "use std::io::Read;\nuse std::process::Stdio;\nlet mut child = corio::process::Command::new(\"echo\").arg(\"hi\").stdout(Stdio::piped()).spawn()?;\nlet mut s = String::new();\nchild.stdout.take().unwrap().read_to_string(&mut s)?;\nassert_eq!(s, \"hi\\n\");\nchild.wait()?;"
);

pipe_end!(
    /// The child's stderr: `Read` parks the coro until the child writes
    /// (or exits: end of file).
    ChildStderr,
    "use std::io::Read;\nuse std::process::Stdio;\nlet mut child = corio::process::Command::new(\"sh\").args([\"-c\", \"echo oops >&2\"])\n    .stderr(Stdio::piped()).spawn()?;\nlet mut s = String::new();\nchild.stderr.take().unwrap().read_to_string(&mut s)?;\nassert_eq!(s, \"oops\\n\");\nchild.wait()?;"
);

impl Write for ChildStdin {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.h.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &ChildStdin {
    #[track_caller]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.h).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for ChildStdout {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.h.read(buf)
    }
}

impl Read for &ChildStdout {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.h).read(buf)
    }
}

impl Read for ChildStderr {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.h.read(buf)
    }
}

impl Read for &ChildStderr {
    #[track_caller]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.h).read(buf)
    }
}
