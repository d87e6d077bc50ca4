//! Real database servers for the `hook` proof tests, each started on a
//! free port in a temporary directory of its own, and stopped (killed,
//! directory removed) when its handle is dropped.
//!
//! A server whose program is not installed is skipped with a printed
//! reason, except under `CI=true`, where the test fails with that reason
//! (`.ci/run` installs the Debian packages `redis-server`,
//! `mariadb-server` and `postgresql`).

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server.
pub struct Server {
    pub name: &'static str,
    pub port: u16,
    child: Child,
    dir: PathBuf,
    log: PathBuf,
    /// A data directory this server's was copied from, kept while any
    /// server made from it runs.
    _template: Option<std::sync::Arc<Template>>,
}

/// A directory removed when the last holder drops it.
struct Template(PathBuf);

impl Drop for Template {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Server {
    /// What the server wrote to its log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server now (a test of what clients see when it dies).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server `what` cannot run here: `None` (skip) with the reason on
/// stderr, or a panic under `CI=true`.
fn unavailable(what: &str, reason: &str) -> Option<Server> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} is needed under CI=true and cannot run: {reason}");
    }
    eprintln!("skipping: {what} cannot run here: {reason}");
    None
}

/// `bin` on the PATH or in one of `dirs` (globs of one `*` level).
fn find(bin: &str, dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut candidates: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for d in dirs {
        match d.split_once('*') {
            Some((head, tail)) => {
                let mut found: Vec<PathBuf> = std::fs::read_dir(head)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.ok())
                    .map(|e| e.path().join(tail.trim_start_matches('/')))
                    .collect();
                // Newest version first.
                found.sort();
                found.reverse();
                candidates.extend(found);
            }
            None => candidates.push(PathBuf::from(d)),
        }
    }
    candidates
        .into_iter()
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A fresh temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "corio-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("make a temporary directory");
    d
}

/// The uid and gid of `user`, if it exists.
fn user_ids(user: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(user).ok()?;
    // SAFETY: getpwnam with a valid name; the record is copied at once
    // (tests start servers one at a time per process).
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    // SAFETY: a non-null record from getpwnam.
    (!pw.is_null()).then(|| unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn is_root() -> bool {
    // SAFETY: no arguments.
    unsafe { libc::geteuid() == 0 }
}

/// Starts `cmd` (logging to `log`) and waits until `port` accepts
/// connections and, if given, `ready` shows in the log; panics with the
/// log if it exits or takes over `limit`.
fn start(
    name: &'static str,
    mut cmd: Command,
    port: u16,
    (dir, log): (PathBuf, PathBuf),
    ready: Option<&str>,
    limit: Duration,
) -> Server {
    let out = std::fs::File::create(dir.join("stdout.log")).expect("log file");
    // If the test process dies without dropping the handle (an abort), the
    // server dies with the thread that started it instead of lingering.
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    let mut server = Server {
        name,
        port,
        child,
        dir,
        log,
        _template: None,
    };
    let start = Instant::now();
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && ready.is_none_or(|r| server.log().contains(r))
        {
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            let mut stdout = String::new();
            let _ = std::fs::File::open(server.dir.join("stdout.log"))
                .and_then(|mut f| f.read_to_string(&mut stdout));
            panic!(
                "{name} exited ({status}) before accepting connections:\n{stdout}\n{}",
                server.log()
            );
        }
        if start.elapsed() > limit {
            panic!(
                "{name} did not accept connections within {limit:?}:\n{}",
                server.log()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `redis-server` on a free port, persisting nothing.
pub fn redis() -> Option<Server> {
    let Some(bin) = find("redis-server", &[]) else {
        return unavailable(
            "redis-server",
            "not installed (Debian package redis-server)",
        );
    };
    let dir = temp_dir("redis");
    let port = free_port();
    let log = dir.join("redis.log");
    let mut cmd = Command::new(bin);
    cmd.arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--protected-mode", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(&dir)
        .arg("--logfile")
        .arg(&log);
    Some(start(
        "redis-server",
        cmd,
        port,
        (dir, log),
        None,
        Duration::from_secs(30),
    ))
}

/// A MariaDB server on a free port, its data in a fresh directory, user
/// `root` without a password.
pub fn mariadb() -> Option<Server> {
    let dirs = ["/usr/sbin", "/usr/bin"];
    let (Some(server), Some(install)) = (
        find("mariadbd", &dirs).or_else(|| find("mysqld", &dirs)),
        find("mariadb-install-db", &dirs).or_else(|| find("mysql_install_db", &dirs)),
    ) else {
        return unavailable("MariaDB", "not installed (Debian package mariadb-server)");
    };
    let user = if is_root() {
        "root".to_string()
    } else {
        std::env::var("USER").unwrap_or_else(|_| "nobody".into())
    };
    // One installed data directory per test process (installing takes
    // seconds, and two installs at once trip over each other), copied for
    // each server.
    static TEMPLATE: std::sync::Mutex<std::sync::Weak<Template>> =
        std::sync::Mutex::new(std::sync::Weak::new());
    let template = {
        let mut t = TEMPLATE.lock().unwrap_or_else(|e| e.into_inner());
        let live = t.upgrade();
        if let Some(live) = live {
            live
        } else {
            let tdir = temp_dir("mariadb-template");
            let status = Command::new(&install)
                .arg("--no-defaults")
                .arg(format!("--datadir={}", tdir.join("data").display()))
                .arg(format!("--user={user}"))
                .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
                .env("TMPDIR", &tdir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(tdir.join("install.log")).expect("log file"))
                .status()
                .expect("run mariadb-install-db");
            if !status.success() {
                panic!(
                    "mariadb-install-db failed ({status}):\n{}",
                    std::fs::read_to_string(tdir.join("install.log")).unwrap_or_default()
                );
            }
            let made = std::sync::Arc::new(Template(tdir));
            *t = std::sync::Arc::downgrade(&made);
            made
        }
    };
    let dir = temp_dir("mariadb");
    let data = dir.join("data");
    let status = Command::new("cp")
        .arg("-a")
        .arg(template.0.join("data"))
        .arg(&data)
        .status()
        .expect("run cp");
    assert!(
        status.success(),
        "copying the MariaDB data directory failed"
    );
    let port = free_port();
    let log = dir.join("error.log");
    let mut cmd = Command::new(server);
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", dir.join("sock").display()))
        .arg(format!("--pid-file={}", dir.join("pid").display()))
        .arg(format!("--log-error={}", log.display()))
        .arg(format!("--port={port}"))
        .arg(format!("--user={user}"))
        .args([
            "--bind-address=127.0.0.1",
            "--skip-log-bin",
            "--max-connections=2000",
        ])
        .args(["--innodb-buffer-pool-size=32M", "--skip-name-resolve"])
        .arg(format!("--tmpdir={}", dir.display()));
    Some(start(
        "mariadbd",
        cmd,
        port,
        (dir, log),
        None,
        Duration::from_secs(60),
    ))
}

/// A PostgreSQL server on a free port, its cluster in a fresh directory,
/// user `postgres` trusted. As root it runs as the `postgres` user (which
/// Debian's package makes): PostgreSQL refuses to run as root.
pub fn postgres() -> Option<Server> {
    let dirs = ["/usr/lib/postgresql/*/bin"];
    let (Some(server), Some(initdb)) = (find("postgres", &dirs), find("initdb", &dirs)) else {
        return unavailable("PostgreSQL", "not installed (Debian package postgresql)");
    };
    let ids = if is_root() {
        match user_ids("postgres") {
            Some(ids) => Some(ids),
            None => {
                return unavailable(
                    "PostgreSQL",
                    "running as root and there is no postgres user",
                );
            }
        }
    } else {
        None
    };
    let dir = temp_dir("postgres");
    let data = dir.join("data");
    let as_user = |cmd: &mut Command| {
        if let Some((uid, gid)) = ids {
            cmd.uid(uid).gid(gid);
        }
    };
    if let Some((uid, gid)) = ids {
        // SAFETY: chown of our own fresh directory (a valid C string).
        let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(
            unsafe { libc::chown(path.as_ptr(), uid, gid) },
            0,
            "chown {}",
            dir.display()
        );
    }
    let mut init = Command::new(initdb);
    init.arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-N"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("initdb.log")).expect("log file"));
    as_user(&mut init);
    let status = init.status().expect("run initdb");
    if !status.success() {
        panic!(
            "initdb failed ({status}):\n{}",
            std::fs::read_to_string(dir.join("initdb.log")).unwrap_or_default()
        );
    }
    let port = free_port();
    let log = dir.join("stdout.log");
    let mut cmd = Command::new(server);
    cmd.arg("-D")
        .arg(&data)
        .arg("-p")
        .arg(port.to_string())
        .args(["-h", "127.0.0.1", "-k"])
        .arg(&dir)
        .args(["-c", "fsync=off", "-c", "max_connections=200"]);
    as_user(&mut cmd);
    Some(start(
        "postgres",
        cmd,
        port,
        (dir, log),
        Some("ready to accept connections"),
        Duration::from_secs(60),
    ))
}
