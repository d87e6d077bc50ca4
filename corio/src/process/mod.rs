//! Child processes whose waits and pipes park only the current coro:
//! `std::process` again, for coros.
//!
//! [`Command`] has `std::process::Command`'s methods; [`Child::wait`],
//! [`Command::output`], [`Command::status`] and reads and writes on the
//! child's pipes ([`ChildStdout`], [`ChildStderr`], [`ChildStdin`]) block
//! the calling coro, never the thread, so one thread can run many
//! children and serve its sockets meanwhile.
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use std::process::Stdio;
//! use corio::process::Command;
//!
//! // The whole output at once:
//! let out = Command::new("echo").arg("hello").output()?;
//! assert_eq!(out.stdout, b"hello\n");
//! assert!(out.status.success());
//!
//! // Talking to a child through its pipes:
//! let mut child = Command::new("tr")
//!     .args(["a-z", "A-Z"])
//!     .stdin(Stdio::piped())
//!     .stdout(Stdio::piped())
//!     .spawn()?;
//! let mut stdin = child.stdin.take().unwrap();
//! let writer = corio::spawn(move || stdin.write_all(b"shout\n"));
//! let mut line = String::new();
//! BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
//! assert_eq!(line, "SHOUT\n");
//! writer.join().unwrap()?;
//! assert!(child.wait()?.success());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # How waiting works
//!
//! Where the kernel has it (Linux 5.3 and later), each child gets a
//! *pidfd*, a descriptor that becomes readable when the child exits; the
//! reactor watches it like a socket. Elsewhere — or with the environment
//! variable `CORIO_NO_PIDFD=1`, which tests use — `wait` listens for
//! `SIGCHLD` through [`corio::signal`](crate::signal) instead (and looks
//! again every second, in case something else changed `SIGCHLD`'s
//! handling). Either way a coro waiting for a child counts as waiting for
//! I/O: the deadlock check never reports it.
//!
//! As with std, dropping a [`Child`] neither kills nor reaps it.
//! [`Child::kill`] sends `SIGKILL`; [`Child::send_signal`] any signal —
//! `SIGTERM` to ask the child to stop — and never reaches another process
//! that reused the pid once the child was reaped.

mod child;

pub use child::{Child, ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::Path;

/// A process to start: `std::process::Command` with a coro-aware
/// [`spawn`](Command::spawn), [`output`](Command::output) and
/// [`status`](Command::status).
///
/// The builder methods are std's and return `&mut Command`;
/// [`as_std_mut`](Command::as_std_mut) reaches std's Unix extensions
/// (`uid`, `process_group`, `pre_exec`, ...).
///
/// # Examples
///
/// ```
/// use corio::process::Command;
///
/// let out = Command::new("sh")
///     .args(["-c", "echo $GREETING, $0"])
///     .arg("world")
///     .env("GREETING", "hello")
///     .output()?;
/// assert_eq!(String::from_utf8_lossy(&out.stdout), "hello, world\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Command {
    inner: std::process::Command,
    /// Whether the user chose each stream (otherwise `output` picks its
    /// own defaults, as std's does).
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl From<std::process::Command> for Command {
    /// Takes a std command as it is. Its streams count as not chosen:
    /// [`output`](Command::output) captures stdout and stderr.
    fn from(inner: std::process::Command) -> Command {
        Command {
            inner,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }
}

impl Command {
    /// A command that runs `program` (looked up in `PATH` unless it is a
    /// path), with no arguments, this process's environment and working
    /// directory, and the streams inherited ([`spawn`](Command::spawn),
    /// [`status`](Command::status)) or captured
    /// ([`output`](Command::output)).
    ///
    /// # Examples
    ///
    /// ```
    /// let status = corio::process::Command::new("true").status()?;
    /// assert!(status.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = corio::process::Command::new("echo").arg("-n").arg("x").output()?;
    /// assert_eq!(out.stdout, b"x");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = corio::process::Command::new("printf").args(["%s-%s", "a", "b"]).output()?;
    /// assert_eq!(out.stdout, b"a-b");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = corio::process::Command::new("sh")
    ///     .args(["-c", "printf %s \"$X\""])
    ///     .env("X", "42")
    ///     .output()?;
    /// assert_eq!(out.stdout, b"42");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, val);
        self
    }

    /// Sets environment variables for the child.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = corio::process::Command::new("sh")
    ///     .args(["-c", "printf %s%s \"$A\" \"$B\""])
    ///     .envs([("A", "1"), ("B", "2")])
    ///     .output()?;
    /// assert_eq!(out.stdout, b"12");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = corio::process::Command::new("sh")
    ///     .args(["-c", "printf %s \"${HOME-unset}\""])
    ///     .env_remove("HOME")
    ///     .output()?;
    /// assert_eq!(out.stdout, b"unset");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what
    /// [`env`](Command::env) adds afterwards).
    ///
    /// # Examples
    ///
    /// ```
    /// let out = corio::process::Command::new("/usr/bin/env").env_clear().env("ONLY", "me").output()?;
    /// assert_eq!(out.stdout, b"ONLY=me\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the child's working directory.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = corio::process::Command::new("pwd").current_dir("/").output()?;
    /// assert_eq!(out.stdout, b"/\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// The child's standard input: `Stdio::piped()` gives
    /// [`Child::stdin`], `Stdio::null()`, `Stdio::inherit()` or a file.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::process::{Command, Stdio};
    /// let out = Command::new("cat").stdin(Stdio::null()).output()?;
    /// assert!(out.stdout.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// The child's standard output (see [`stdin`](Command::stdin)).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::process::{Command, Stdio};
    /// let out = Command::new("echo").arg("gone").stdout(Stdio::null()).output()?;
    /// assert!(out.stdout.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// The child's standard error (see [`stdin`](Command::stdin)).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio::process::{Command, Stdio};
    /// let out = Command::new("sh").args(["-c", "echo oops >&2"]).stderr(Stdio::null()).output()?;
    /// assert!(out.stderr.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Starts the child. Streams not chosen are inherited. Its pipes and
    /// its [`wait`](Child::wait) park only the calling coro.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut child = corio::process::Command::new("sleep").arg("0.01").spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// What std's `spawn` says (`NotFound` for a missing program, ...), or
    /// when a pipe cannot be registered with the reactor.
    ///
    /// # Switching
    ///
    /// Never suspends the current coro. Starting the program blocks the
    /// thread as long as the kernel takes to `exec` it (std's `spawn`
    /// waits for that to report a failure to exec).
    pub fn spawn(&mut self) -> io::Result<Child> {
        Child::new(self.inner.spawn()?)
    }

    /// Runs the child to its end and collects all it writes: stdout and
    /// stderr are captured (unless chosen otherwise) and read at the same
    /// time, so a child that fills one pipe while we read the other does
    /// not stall; stdin is `Stdio::null()` unless chosen otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let out = corio::process::Command::new("sh")
    ///     .args(["-c", "echo out; echo err >&2; exit 3"])
    ///     .output()?;
    /// assert_eq!(out.stdout, b"out\n");
    /// assert_eq!(out.stderr, b"err\n");
    /// assert_eq!(out.status.code(), Some(3));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn); errors reading the pipes or waiting.
    ///
    /// # Panics
    /// Unwinds if the coro is cancelled, thrown at or timed out meanwhile
    /// (the child is left running, as std leaves a dropped child).
    ///
    /// # Switching
    ///
    /// Suspends the current coro until the child has exited and closed
    /// its output.
    #[track_caller]
    pub fn output(&mut self) -> io::Result<Output> {
        self.unchosen(Stdio::null, Stdio::piped, Stdio::piped);
        let spawned = self.inner.spawn();
        // Back to what `spawn` and `status` use for streams not chosen.
        self.unchosen(Stdio::inherit, Stdio::inherit, Stdio::inherit);
        Child::new(spawned?)?.wait_with_output()
    }

    /// Sets the standard streams the caller did not choose to what
    /// `stdin`, `stdout` and `stderr` make.
    fn unchosen(&mut self, stdin: fn() -> Stdio, stdout: fn() -> Stdio, stderr: fn() -> Stdio) {
        if !self.stdin_set {
            self.inner.stdin(stdin());
        }
        if !self.stdout_set {
            self.inner.stdout(stdout());
        }
        if !self.stderr_set {
            self.inner.stderr(stderr());
        }
    }

    /// Runs the child to its end (streams not chosen are inherited) and
    /// returns how it ended.
    ///
    /// # Examples
    ///
    /// ```
    /// let st = corio::process::Command::new("sh").args(["-c", "exit 7"]).status()?;
    /// assert_eq!(st.code(), Some(7));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn) and [`Child::wait`].
    ///
    /// # Panics
    /// As [`output`](Command::output).
    ///
    /// # Switching
    ///
    /// Suspends the current coro until the child has exited.
    #[track_caller]
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait()
    }

    /// The program.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corio::process::Command::new("ls").get_program(), "ls");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn get_program(&self) -> &OsStr {
        self.inner.get_program()
    }

    /// The arguments.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut c = corio::process::Command::new("ls");
    /// c.args(["-l", "/"]);
    /// assert_eq!(c.get_args().collect::<Vec<_>>(), ["-l", "/"]);
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn get_args(&self) -> std::process::CommandArgs<'_> {
        self.inner.get_args()
    }

    /// The std command inside.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = corio::process::Command::new("ls");
    /// assert_eq!(c.as_std().get_program(), "ls");
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn as_std(&self) -> &std::process::Command {
        &self.inner
    }

    /// The std command inside, for what only std has (its
    /// `std::os::unix::process::CommandExt`: `uid`, `process_group`,
    /// `pre_exec`, `arg0`, ...). Streams set through it count as not
    /// chosen by [`output`](Command::output).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::CommandExt;
    ///
    /// let mut c = corio::process::Command::new("sh");
    /// c.args(["-c", "echo $0"]);
    /// c.as_std_mut().arg0("renamed");
    /// assert_eq!(c.output()?.stdout, b"renamed\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Switching
    ///
    /// Never suspends the current coro.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.inner
    }
}
