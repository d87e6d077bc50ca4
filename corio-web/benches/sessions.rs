//! Scale: many browser sessions parked mid-dialogue on one thread.
//!
//! The same dialogue — the guess game: a secret, a count of tries, a hint,
//! a fresh page id per question, stale answers refused — written two ways:
//!
//! - **corio-web**: straight-line, a coro per session, parked in `ask`.
//! - **axum**: a handler and a session store (a `HashMap` from the session
//!   cookie to the game's state), on a current-thread tokio runtime — the
//!   state machine the straight-line version does not need.
//!
//! Each server runs alone in a child process (this binary again). The
//! driver opens N sessions and answers one question in each, so every
//! session is parked mid-dialogue; then it answers M more questions on
//! sessions picked at random, each a POST (303) and the GET of the next
//! page, one at a time on one keep-alive connection. It reports the
//! server's resident memory per session (VmRSS after N sessions minus
//! after a 100-session warm-up, over N-100), for corio-web the part of
//! that in coro stacks (the resident pages of corio's stack mappings, from
//! `/proc/PID/smaps`), the server's CPU time per answer (its threads'
//! on-CPU time over the M answers, from `/proc/PID/task/*/schedstat`), and
//! the time to answer (median and 99th percentile of POST + GET, as the
//! client sees it).
//!
//! ```text
//! cargo bench -p corio-web --bench sessions -- [--sessions N] [--answers M]
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ROLE: &str = "CORIO_WEB_BENCH_SERVE";
const SECRET: u32 = 50;
const WARM: usize = 100;

// ---------------------------------------------------------------- corio-web

fn guess(s: &mut corio_web::Session) {
    use corio_web::{form, html};
    let mut tries = 0;
    let mut hint = html!("I am thinking of a number from 1 to 100.");
    loop {
        let a = s.ask(html!(
            "<h1>Guess the number</h1><p id=hint>{}</p><p>Tries so far: <b id=tries>{}</b></p>{}",
            hint,
            tries,
            form(html!("<input name=guess type=number>"))
        ));
        let Ok(n) = a.parse::<u32>("guess") else {
            hint = html!("That was not a number.");
            continue;
        };
        tries += 1;
        if n == SECRET {
            break;
        }
        hint = html!("{} is too {}.", n, if n > SECRET { "high" } else { "low" });
    }
    s.show(html!(
        "<p id=hint>{} is correct!</p><p>{} tries.</p>",
        SECRET,
        tries
    ));
}

fn serve_corio() {
    let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    // Every session comes from 127.0.0.1 here: lift the per-address cap.
    corio_web::App::new(guess)
        .max_sessions(1_000_000)
        .max_sessions_per_peer(1_000_000)
        .serve_on(listener)
        .unwrap();
}

// --------------------------------------------------------------------- axum

/// The game's state between requests: what the coro keeps on its stack.
struct Game {
    tries: u32,
    hint: String,
    k: u128,
    prev_k: Option<u128>,
}

type Store = Arc<Mutex<HashMap<u128, Game>>>;

fn random() -> u128 {
    let mut b = [0; 16];
    getrandom::fill(&mut b).unwrap();
    u128::from_le_bytes(b)
}

fn escape(s: &str) -> String {
    corio_web::Html::text(s).into_string()
}

fn see(k: u128, cookie: Option<u128>) -> axum::response::Response {
    let mut r = axum::response::Response::builder()
        .status(303)
        .header("location", format!("/k/{k:032x}"))
        .header("cache-control", "no-store");
    if let Some(id) = cookie {
        r = r.header(
            "set-cookie",
            format!("corio_sid={id:032x}; Path=/; HttpOnly; SameSite=Lax"),
        );
    }
    r.body(axum::body::Body::empty()).unwrap()
}

fn session_of(headers: &axum::http::HeaderMap) -> Option<u128> {
    let v = headers.get("cookie")?.to_str().ok()?;
    v.split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(n, _)| *n == "corio_sid")
        .and_then(|(_, v)| u128::from_str_radix(v, 16).ok())
}

fn page(g: &Game) -> axum::response::Response {
    let body = format!(
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>Guess</title></head><body><main>\
         <h1>Guess the number</h1><p id=hint>{}</p><p>Tries so far: <b id=tries>{}</b></p>\
         <form method=post><input name=guess type=number> <button type=submit>OK</button></form>\
         </main></body></html>\n",
        g.hint, g.tries
    );
    axum::response::Response::builder()
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(axum::body::Body::from(body))
        .unwrap()
}

fn serve_axum() {
    use axum::extract::{Path, State};
    use axum::http::HeaderMap;
    use axum::routing::get;

    async fn start(State(store): State<Store>, headers: HeaderMap) -> axum::response::Response {
        let mut map = store.lock().unwrap();
        if let Some(g) = session_of(&headers).and_then(|id| map.get(&id)) {
            return see(g.k, None);
        }
        let (id, k) = (random(), random());
        map.insert(
            id,
            Game {
                tries: 0,
                hint: "I am thinking of a number from 1 to 100.".into(),
                k,
                prev_k: None,
            },
        );
        see(k, Some(id))
    }

    async fn show(
        State(store): State<Store>,
        headers: HeaderMap,
        Path(k): Path<String>,
    ) -> axum::response::Response {
        let map = store.lock().unwrap();
        let k = u128::from_str_radix(&k, 16).ok();
        match session_of(&headers).and_then(|id| map.get(&id)) {
            Some(g) if Some(g.k) == k => page(g),
            Some(_) => axum::response::Response::builder()
                .status(409)
                .body("stale".into())
                .unwrap(),
            None => axum::response::Response::builder()
                .status(303)
                .header("location", "/")
                .body("".into())
                .unwrap(),
        }
    }

    async fn answer(
        State(store): State<Store>,
        headers: HeaderMap,
        Path(k): Path<String>,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        let mut map = store.lock().unwrap();
        let k = u128::from_str_radix(&k, 16).ok();
        let Some(id) = session_of(&headers) else {
            return axum::response::Response::builder()
                .status(303)
                .header("location", "/")
                .body("".into())
                .unwrap();
        };
        let Some(g) = map.get_mut(&id) else {
            return axum::response::Response::builder()
                .status(303)
                .header("location", "/")
                .body("".into())
                .unwrap();
        };
        if k == g.prev_k {
            return see(g.k, None); // a double submit: replay
        }
        if k != Some(g.k) {
            return axum::response::Response::builder()
                .status(409)
                .body("stale".into())
                .unwrap();
        }
        let guess = form_urlencoded::parse(&body)
            .find(|(n, _)| n == "guess")
            .and_then(|(_, v)| v.trim().parse::<u32>().ok());
        match guess {
            None => g.hint = "That was not a number.".into(),
            Some(n) => {
                g.tries += 1;
                g.hint = if n == SECRET {
                    format!("{} is correct!", escape(&n.to_string()))
                } else {
                    format!("{} is too {}.", n, if n > SECRET { "high" } else { "low" })
                };
            }
        }
        g.prev_k = Some(g.k);
        g.k = random();
        see(g.k, None)
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store: Store = Arc::default();
        let app = axum::Router::new()
            .route("/", get(start))
            .route("/k/{k}", get(show).post(answer))
            .with_state(store);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        axum::serve(listener, app).await.unwrap();
    });
}

// ------------------------------------------------------------------- driver

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(role: &str) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, role)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server's port");
        Server { child, port }
    }

    fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap()
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// CPU time the server's threads have used so far (schedstat: on-CPU
    /// nanoseconds, user and system).
    fn cpu(&self) -> Duration {
        let dir = format!("/proc/{}/task", self.child.id());
        let ns: u64 = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        Duration::from_nanos(ns)
    }

    /// Resident KiB in mappings of at least 512 MiB: corio's stack regions
    /// (chunks of just under 1 GiB; nothing else maps that much here).
    fn stack_rss_kib(&self) -> u64 {
        let smaps = std::fs::read_to_string(format!("/proc/{}/smaps", self.child.id())).unwrap();
        let mut total = 0;
        let mut big = false;
        for line in smaps.lines() {
            if let Some(v) = line.strip_prefix("Size:") {
                big = v
                    .trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap_or(0)
                    >= 1 << 19;
            } else if let Some(v) = line.strip_prefix("Rss:")
                && big
            {
                total += v
                    .trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap_or(0);
            }
        }
        total
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One parked session: its cookie and the page it waits on.
struct Parked {
    sid: String,
    k: String,
}

struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    fn new(port: u16) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            agent,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Opens a session and answers its first question.
    fn park(&self) -> Parked {
        self.agent.cookie_jar_lock().clear();
        let r = self.agent.get(&format!("{}/", self.base)).call().unwrap();
        assert_eq!(r.status(), 303);
        let sid = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let k1 = r.headers()["location"].to_str().unwrap().to_owned();
        self.agent.cookie_jar_lock().clear();
        let mut p = Parked { sid, k: k1 };
        self.answer(&mut p, "1");
        p
    }

    /// Answers the page `p` waits on and reads the next page.
    fn answer(&self, p: &mut Parked, guess: &str) {
        let r = self
            .agent
            .post(&format!("{}{}", self.base, p.k))
            .header("cookie", &p.sid)
            .send_form([("guess", guess)])
            .unwrap();
        assert_eq!(r.status(), 303, "answer");
        p.k = r.headers()["location"].to_str().unwrap().to_owned();
        let mut page = self
            .agent
            .get(&format!("{}{}", self.base, p.k))
            .header("cookie", &p.sid)
            .call()
            .unwrap();
        assert_eq!(page.status(), 200);
        let body = page.body_mut().read_to_string().unwrap();
        assert!(body.contains("too low"), "{body}");
    }
}

struct Row {
    name: &'static str,
    per_session: f64,
    stack_per_session: Option<f64>,
    setup: Duration,
    cpu: Duration,
    /// The same with only the warm-up's sessions parked.
    cpu_few: Duration,
    median: Duration,
    p99: Duration,
}

fn measure(name: &'static str, role: &str, n: usize, m: usize) -> Row {
    let server = Server::start(role);
    let client = Client::new(server.port);
    let mut parked: Vec<Parked> = (0..WARM).map(|_| client.park()).collect();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    // The same answers with only the warm-up's sessions parked.
    let (cpu_few, _) = answer_random(&server, &client, &mut parked, m, &mut seed);
    std::thread::sleep(Duration::from_millis(200));
    let (rss0, stack0) = (server.status_kib("VmRSS:"), server.stack_rss_kib());
    let t = Instant::now();
    parked.extend((WARM..n).map(|_| client.park()));
    let setup = t.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let (rss1, stack1) = (server.status_kib("VmRSS:"), server.stack_rss_kib());
    let added = (n - WARM) as f64;
    let per_session = (rss1.saturating_sub(rss0) * 1024) as f64 / added;
    let stack_per_session =
        (role == "corio").then(|| (stack1.saturating_sub(stack0) * 1024) as f64 / added);

    let (cpu, times) = answer_random(&server, &client, &mut parked, m, &mut seed);
    Row {
        cpu,
        cpu_few,
        name,
        per_session,
        stack_per_session,
        setup,
        median: times[m / 2],
        p99: times[m * 99 / 100],
    }
}

/// Answers `m` questions on sessions picked at random; the server's CPU
/// time per answer, and each answer's time as the client saw it (sorted).
fn answer_random(
    server: &Server,
    client: &Client,
    parked: &mut [Parked],
    m: usize,
    seed: &mut u64,
) -> (Duration, Vec<Duration>) {
    let mut times = Vec::with_capacity(m);
    let cpu0 = server.cpu();
    for _ in 0..m {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let i = (*seed % parked.len() as u64) as usize;
        let t = Instant::now();
        client.answer(&mut parked[i], "2");
        times.push(t.elapsed());
    }
    let cpu = (server.cpu() - cpu0) / m as u32;
    times.sort();
    (cpu, times)
}

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("corio") => return serve_corio(),
        Ok("axum") => return serve_axum(),
        _ => {}
    }
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (n, m) = (
        arg("--sessions", 10_000).max(WARM + 1),
        arg("--answers", 2_000).max(1),
    );
    eprintln!("{n} sessions parked mid-dialogue, then {m} answers on random ones");
    let rows = [
        measure("corio-web (a coro per session)", "corio", n, m),
        measure("axum + session store", "axum", n, m),
    ];
    println!(
        "| server | memory per parked session | of which coro stack | opening {n} sessions | server CPU per answer | (with {WARM} parked) | answer (POST + GET) median | p99 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.0} B | {} | {:.2} s | {:.1} µs | {:.1} µs | {:.0} µs | {:.0} µs |",
            r.name,
            r.per_session,
            r.stack_per_session
                .map_or("—".into(), |s| format!("{s:.0} B")),
            r.setup.as_secs_f64(),
            r.cpu.as_secs_f64() * 1e6,
            r.cpu_few.as_secs_f64() * 1e6,
            r.median.as_secs_f64() * 1e6,
            r.p99.as_secs_f64() * 1e6
        );
    }
    let (c, a) = (&rows[0], &rows[1]);
    println!();
    println!(
        "memory per session corio-web/axum: {:.1}x; server CPU per answer: {:.2}x; answer time median: {:.2}x",
        c.per_session / a.per_session,
        c.cpu.as_secs_f64() / a.cpu.as_secs_f64(),
        c.median.as_secs_f64() / a.median.as_secs_f64()
    );
}
