//! Headless Chromium through WebDriver (chromedriver), one browser
//! profile per simulated user.
//!
//! Every test that drives a browser takes [`lock`] first, so browser tests
//! run one at a time (two Chromiums on a 2-core machine make each other
//! time out), and runs under [`bounded`].

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// Longest a browser test may run before it fails.
pub const TEST_LIMIT: Duration = Duration::from_secs(120);
/// Longest a wait for something on a page may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// The flags Chromium runs with in the tests.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=900,760",
];

static LOCK: Mutex<()> = Mutex::new(());

/// One browser test at a time.
pub fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs a browser test body on a current-thread tokio runtime, failing it
/// after [`TEST_LIMIT`].
pub fn bounded<F: std::future::Future<Output = ()>>(f: F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for the WebDriver client");
    rt.block_on(async {
        if tokio::time::timeout(TEST_LIMIT, f).await.is_err() {
            panic!("the browser test took longer than {TEST_LIMIT:?}");
        }
    });
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// chromedriver on a free port, with the Chromium it drives; `None` (and a
/// printed reason) when they are not installed — except under `CI=true`,
/// where a missing browser fails the test.
pub fn driver() -> Option<Driver> {
    let missing: Vec<&str> = ["chromedriver", "chromium"]
        .into_iter()
        .filter(|n| on_path(n).is_none())
        .collect();
    if !missing.is_empty() {
        let why = format!(
            "{} not installed (Debian: apt-get install chromium chromium-driver)",
            missing.join(" and ")
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("browser test cannot run under CI=true: {why}");
        }
        eprintln!("skipped: {why}");
        return None;
    }
    Some(Driver::start())
}

/// A running chromedriver; killed on drop.
pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts chromedriver on a free port. The port is found by binding
    /// port 0 and letting it go, so another process can take it before
    /// chromedriver binds it (tests run in parallel): a chromedriver that
    /// exits at start is tried again on a new port, and the last one's
    /// own words are in the panic message.
    fn start() -> Driver {
        let mut last = String::new();
        for _ in 0..3 {
            match Driver::try_start() {
                Ok(d) => return d,
                Err(why) => last = why,
            }
        }
        panic!("chromedriver exited at start, three times: {last}");
    }

    fn try_start() -> Result<Driver, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = std::env::temp_dir().join(format!(
            "corio-web-chromedriver-{}-{port}.log",
            std::process::id()
        ));
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("chromedriver's log file"))
            .spawn()
            .expect("start chromedriver");
        let mut d = Driver { child, port };
        let end = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = d.child.try_wait() {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                let _ = std::fs::remove_file(&log);
                return Err(format!("{status}: {}", said.trim()));
            }
            assert!(
                Instant::now() < end,
                "chromedriver did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(&log);
        Ok(d)
    }

    /// A fresh browser: its own profile directory, so its own cookies.
    pub async fn browser(&self) -> Browser {
        static N: AtomicU32 = AtomicU32::new(0);
        let profile = std::env::temp_dir().join(format!(
            "corio-web-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("a profile directory");
        let mut args: Vec<String> = FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "args": args },
        });
        let caps = match caps {
            serde_json::Value::Object(m) => m,
            _ => unreachable!(),
        };
        let mut last = None;
        // chromedriver sometimes refuses the first session right after it
        // started listening.
        for _ in 0..3 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{}", self.port))
                .await
            {
                Ok(client) => return Browser { client, profile },
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
        panic!("no WebDriver session: {last:?}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One simulated user: a Chromium with its own profile.
pub struct Browser {
    pub client: Client,
    profile: PathBuf,
}

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// The text of the element matching `css`, waiting for it to exist.
    pub async fn text(&self, css: &str) -> String {
        let el = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        el.text().await.expect("element text")
    }

    /// The page's whole text.
    pub async fn body(&self) -> String {
        self.text("body").await
    }

    /// Types `value` into the input named `name` and submits its form with
    /// Enter; waits until a new page has loaded.
    pub async fn submit(&self, name: &str, value: &str) {
        let before = self.page_id().await;
        let input = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(&format!("input[name={name}]")))
            .await
            .expect("the input");
        input.clear().await.expect("clear the input");
        input
            .send_keys(&format!("{value}\u{E007}"))
            .await
            .expect("type and press Enter");
        self.wait_new_page(&before).await;
    }

    /// Clicks the element matching `css` and waits for the next page.
    pub async fn click(&self, css: &str) {
        let before = self.page_id().await;
        let el = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        el.click().await.expect("click");
        self.wait_new_page(&before).await;
    }

    /// Something that changes with every page load: the URL and a marker
    /// set on the document.
    pub async fn page_id(&self) -> String {
        let v = self
            .client
            .execute(
                "if (!document.__corioTestMark) document.__corioTestMark = Math.random().toString(36);\
                 return location.href + ' ' + document.__corioTestMark;",
                vec![],
            )
            .await
            .expect("run script");
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the page is no longer the one `before` identified, and
    /// the new one has loaded.
    pub async fn wait_new_page(&self, before: &str) {
        let end = Instant::now() + WAIT;
        loop {
            let ready = self
                .client
                .execute("return document.readyState", vec![])
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
            if ready.as_deref() == Some("complete") && self.page_id().await != before {
                return;
            }
            assert!(Instant::now() < end, "no new page within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `js` (an expression) is true on the page.
    pub async fn wait_for(&self, what: &str, js: &str) {
        let end = Instant::now() + WAIT;
        loop {
            let v = self
                .client
                .execute(&format!("return !!({js});"), vec![])
                .await
                .ok();
            if v.as_ref().and_then(|v| v.as_bool()) == Some(true) {
                return;
            }
            assert!(Instant::now() < end, "{what}: not within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn js(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("run script")
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current url")
            .to_string()
    }

    /// A PNG of the window, saved to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
