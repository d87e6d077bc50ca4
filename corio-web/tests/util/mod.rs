//! Shared by corio-web's tests: running an example as a server, running an
//! app in-process on a corio thread, and headless Chromium through
//! WebDriver.

#![allow(dead_code)] // each test binary uses its own part

pub mod browser;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use corio_web::{App, Stats};

/// An example program serving on a free port; killed on drop.
pub struct Example {
    child: Child,
    pub addr: SocketAddr,
    /// What it printed before its URL.
    pub before: Vec<String>,
}

impl Example {
    /// Starts `examples/NAME` on `127.0.0.1:0` with `env`, and reads the
    /// address from the URL it prints first.
    pub fn start(name: &str, env: &[(&str, &str)]) -> Example {
        Example::start_args(name, &["127.0.0.1:0"], env)
    }

    /// Starts `examples/NAME ARGS...` with `env`; waits for the first line
    /// with an `http://` URL, and keeps the lines printed before it.
    pub fn start_args(name: &str, args: &[&str], env: &[(&str, &str)]) -> Example {
        let mut cmd = Command::new(example(name));
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env("RUST_BACKTRACE", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the example");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut before = Vec::new();
        let url = loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => match line.split_whitespace().find(|w| w.starts_with("http://")) {
                    Some(url) => break url.to_owned(),
                    None => before.push(line),
                },
                Err(e) => {
                    let _ = child.kill();
                    let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                    panic!("example {name} printed no URL ({e}; {status}); it printed {before:?}");
                }
            }
        };
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("an address in the URL");
        Example {
            child,
            addr,
            before,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of an example binary (cargo builds examples for `cargo test`;
/// built here if it is missing).
pub fn example(name: &str) -> PathBuf {
    let mut p = std::env::current_exe().expect("test binary path");
    p.pop(); // deps
    p.pop(); // debug or release
    let release = p.ends_with("release");
    p.push("examples");
    p.push(name);
    if !p.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if release {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().expect("run cargo").success(),
            "build example {name}"
        );
    }
    p
}

/// An app served on a corio thread of its own; shut down (every session
/// cancelled, its Drops run) on drop.
pub struct InProcess {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    stop: Option<corio::sync::mpmc::Channel<()>>,
    thread: Option<corio::thread::JoinHandle<()>>,
}

impl InProcess {
    /// Serves the app `make` builds (on the new thread: an app is not
    /// `Send`) on `127.0.0.1:0`.
    pub fn start(make: impl FnOnce() -> App + Send + 'static) -> InProcess {
        let (tx, rx) = mpsc::channel();
        let stop = corio::sync::mpmc::Channel::<()>::new();
        let stopped = stop.clone();
        let thread = corio::thread::spawn(move || {
            let app = make();
            let stats = app.stats();
            let listener = corio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let handle = app.start(listener).expect("start the app");
            tx.send((handle.local_addr(), stats))
                .expect("report the address");
            let _ = stopped.get();
            handle.shutdown();
        });
        let (addr, stats) = rx.recv().expect("the app thread started");
        InProcess {
            addr,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the app and waits until every session is gone.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.put(());
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("the app thread ends cleanly");
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.shutdown();
        } else if let Some(stop) = self.stop.take() {
            let _ = stop.put(());
        }
    }
}

/// Polls `f` every 20 ms until it is true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP client with its own cookie jar. With `follow` false it shows
/// redirects instead of following them; it never treats a status as an
/// error.
pub fn agent(follow: bool) -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(if follow { 10 } else { 0 })
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// What a test looks at in a response.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub retry_after: Option<String>,
    pub body: String,
}

fn got(mut rsp: ureq::http::Response<ureq::Body>) -> Got {
    let header = |name: &str| {
        rsp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (location, set_cookie) = (header("location"), header("set-cookie"));
    let retry_after = header("retry-after");
    Got {
        status: rsp.status().as_u16(),
        location,
        set_cookie,
        retry_after,
        body: rsp.body_mut().read_to_string().unwrap_or_default(),
    }
}

pub fn get(agent: &ureq::Agent, url: &str) -> Got {
    got(agent.get(url).call().expect("GET"))
}

pub fn post(agent: &ureq::Agent, url: &str, form: &[(&str, &str)]) -> Got {
    got(agent
        .post(url)
        .send_form(form.iter().copied())
        .expect("POST"))
}

/// The content of the element with id `id` (up to its first `<`).
pub fn by_id<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let at = html.find(&format!("id={id}>"))? + id.len() + 4;
    Some(html[at..].split('<').next().unwrap_or(""))
}
