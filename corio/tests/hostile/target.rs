//! A server under attack: an example program run as a child process, and
//! what can be seen of it from outside — descriptors (`/proc/PID/fd`),
//! resident memory, and its coros (through its debug shell's `ps`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::util;

/// The attacks run one at a time: each measures a server's descriptors,
/// memory and timings, which a neighbour's load would blur.
pub fn serial() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Raises this process's descriptor limit to its hard limit (the clients
/// of a scale test need thousands); returns the new limit.
pub fn raise_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid out-pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    r.rlim_cur = r.rlim_max;
    // SAFETY: `r` is a valid rlimit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) };
    r.rlim_cur
}

/// What a server holds at rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    pub fds: usize,
    pub coros: usize,
    /// Resident memory, KiB.
    pub rss: u64,
}

/// How much more memory than at its baseline a server may keep after an
/// attack (the heap keeps some of what a burst needed, for the next one).
const RSS_SLACK_KIB: u64 = 96 * 1024;

/// An example program serving on a free loopback port; killed when
/// dropped.
pub struct Target {
    pub name: String,
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    /// Its debug shell's socket.
    pub shell: PathBuf,
    stderr: Arc<Mutex<String>>,
}

impl Target {
    /// Starts example `name` with `args` (its address is added), with at
    /// most `nofile` descriptors when given. `HOSTILE_BIN_<name>` in the
    /// environment runs another build of it instead (to try the attacks on
    /// an older one).
    pub fn start(name: &str, args: &[&str], nofile: Option<u64>) -> Target {
        Target::start_with(name, args, nofile, &[])
    }

    /// [`start`](Target::start) with extra environment variables.
    pub fn start_with(
        name: &str,
        args: &[&str],
        nofile: Option<u64>,
        env: &[(&str, &str)],
    ) -> Target {
        let bin = std::env::var_os(format!("HOSTILE_BIN_{name}"))
            .map_or_else(|| util::example(name), PathBuf::from);
        let mut cmd = Command::new(bin);
        cmd.arg("127.0.0.1:0")
            .args(args)
            .env("RUST_BACKTRACE", "0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shell_arg = std::env::temp_dir().join(format!(
            "corio-hostile-{}-{}.sock",
            std::process::id(),
            next_id()
        ));
        if name == "http_hello" {
            cmd.arg("--debug").arg(&shell_arg);
        }
        if let Some(n) = nofile {
            // SAFETY: setrlimit is async-signal-safe; nothing else runs
            // between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let r = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n.max(1),
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("start the example");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let e = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                e.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut addr, mut shell) = (None, None);
        let deadline = Instant::now() + util::CHILD_LIMIT;
        while (addr.is_none() || (shell.is_none() && name == "chat")) && Instant::now() < deadline {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let line = line.trim();
            if let Some(a) = line.split("listening on ").nth(1) {
                let a = a.trim_start_matches("http://").trim_end_matches('/');
                addr = Some(a.parse::<SocketAddr>().expect("an address in the banner"));
            }
            if let Some(p) = line.strip_prefix("debug shell on ") {
                shell = Some(PathBuf::from(p));
            }
        }
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let pid = child.id();
        let addr = addr.unwrap_or_else(|| {
            panic!(
                "{name} printed no address; stderr: {}",
                stderr.lock().unwrap()
            )
        });
        Target {
            name: name.to_string(),
            child,
            pid,
            addr,
            shell: shell.unwrap_or(shell_arg),
            stderr,
        }
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().map(|s| s.is_none()).unwrap_or(false)
    }

    /// Asserts it still runs.
    #[track_caller]
    pub fn assert_alive(&mut self) {
        assert!(
            self.alive(),
            "{} died: {:?}\nstderr: {}",
            self.name,
            self.child.try_wait(),
            self.stderr()
        );
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Open descriptors.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Resident memory, KiB.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// CPU time used so far (user + system).
    pub fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // Fields after the command name, which is in parentheses.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
        Duration::from_millis(ticks * 1000 / hz)
    }

    /// A debug shell command's answer.
    pub fn shell(&self, cmd: &str) -> String {
        let conn = UnixStream::connect(&self.shell)
            .unwrap_or_else(|e| panic!("debug shell {}: {e}", self.shell.display()));
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        read_prompt(&conn);
        (&conn)
            .write_all(format!("{cmd}\nexit\n").as_bytes())
            .unwrap();
        read_prompt(&conn)
    }

    /// Its coros (the debug session asking included).
    pub fn coros(&self) -> usize {
        self.shell("ps")
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|w| w.parse::<u64>().is_ok())
            })
            .count()
    }

    pub fn level(&self) -> Level {
        // Descriptors first: asking the shell opens one for a moment.
        let fds = self.fds();
        Level {
            fds,
            coros: self.coros(),
            rss: self.rss_kib(),
        }
    }

    /// Waits (up to `limit`) until descriptors and coros are back at
    /// `base` or below, and memory near it; panics with both levels if
    /// they are not.
    #[track_caller]
    pub fn settle(&mut self, base: Level, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            self.assert_alive();
            let now = self.level();
            if now.fds <= base.fds && now.coros <= base.coros && now.rss < base.rss + RSS_SLACK_KIB
            {
                return start.elapsed();
            }
            if start.elapsed() > limit {
                panic!(
                    "{}: not back to its baseline within {limit:?}: {now:?} (baseline {base:?})\n{}",
                    self.name,
                    self.shell("ps")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Target {
    /// Stops the process (`SIGSTOP`) until [`resume`](Target::resume).
    pub fn pause(&self) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.pid as i32, libc::SIGSTOP) };
    }

    pub fn resume(&self) {
        // SAFETY: as in `pause`.
        unsafe { libc::kill(self.pid as i32, libc::SIGCONT) };
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.shell);
    }
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Reads a debug shell's output up to its prompt (or the end).
fn read_prompt(conn: &UnixStream) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 65536];
    while !got.ends_with(b"> ") {
        match (&*conn).read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Closes `s` abortively: `SO_LINGER` 0, so the peer gets a reset.
pub fn reset(s: TcpStream) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    use std::os::fd::AsRawFd;
    // SAFETY: a valid socket and a valid option value of its size.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    drop(s);
}

/// One line of figures for the closing note (shown with `--nocapture`).
pub fn figures(attack: &str, text: std::fmt::Arguments<'_>) {
    println!("FIGURES {attack}: {text}");
}
