//! Test fixture of corio's `tests/console.rs`.
//!
//! `serve SOCKET`: installs `console-subscriber` (serving on the Unix
//! socket SOCKET), spawns named coros — two that tick, one parked on a
//! semaphore, one on a mutex, one in a long sleep, one reading a TCP
//! connection on which nothing comes — prints `socket LINE` (where that
//! connection was accepted), `spawned NAME
//! LINE` for each, `waits NAME LINE` (where each parked one waits) and
//! `ready`, then lives for a minute at most.
//!
//! `watch SOCKET`: connects to it with `console-api`'s gRPC client, as
//! `tokio-console` does, and prints one line per named task once every
//! ticker was polled a few times and each parked coro's wait was seen as
//! an async op:
//! `task NAME FILE LINE polls=N state=idle|running|scheduled|completed
//! clones=N drops=N wakes=N`; then, per resource, `resource TYPE KIND
//! FILE LINE [NAME=VALUEUNIT,...]` (its attributes) and one `op SOURCE on
//! TYPE by TASK` per async op.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mode, path) = (args.next(), args.next());
    match (mode.as_deref(), path) {
        (Some("serve"), Some(path)) => serve(&path),
        (Some("watch"), Some(path)) => watch(path),
        _ => {
            eprintln!("usage: corio-console-demo serve|watch SOCKET");
            std::process::exit(2);
        }
    }
}

/// Spawns a named coro and says where (its task span's location).
#[track_caller]
fn spawn_named(name: &str, f: impl FnOnce() + 'static) -> corio::JoinHandle<()> {
    println!("spawned {name} {}", Location::caller().line());
    corio::Builder::new().name(name).spawn(f).unwrap()
}

fn serve(path: &str) {
    // A TCP connection, made before there is a subscriber (so this
    // thread's scheduler starts without one).
    let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = corio::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (accepted_at, (mut conn, _)) = (line!(), listener.accept().unwrap());
    console_subscriber::ConsoleLayer::builder()
        .server_addr(std::path::Path::new(path))
        .publish_interval(Duration::from_millis(50))
        .init();
    let sem = Rc::new(corio::sync::Semaphore::new(0));
    let s2 = sem.clone();
    let _parked = spawn_named("parked-on-semaphore", move || {
        println!("waits parked-on-semaphore {}", line!() + 1);
        s2.down();
    });
    let mutex = Rc::new(corio::sync::Mutex::new(()));
    let _held = mutex.lock(); // by the main coro, for good
    let m2 = mutex.clone();
    let _parked = spawn_named("parked-on-mutex", move || {
        println!("waits parked-on-mutex {}", line!() + 1);
        drop(m2.lock());
    });
    let _sleeper = spawn_named("sleeper", || {
        println!("waits sleeper {}", line!() + 1);
        corio::sleep(Duration::from_secs(3600));
    });
    let _reader = spawn_named("parked-on-socket", move || {
        let _client = client; // open, and silent
        println!("waits parked-on-socket {}", line!() + 1);
        let _ = conn.read(&mut [0; 1]);
    });
    for i in 0..2 {
        let _ticker = spawn_named(&format!("ticker-{i}"), move || {
            loop {
                corio::sleep(Duration::from_millis(5 + i));
            }
        });
    }
    println!("socket {accepted_at}");
    println!("ready");
    std::io::stdout().flush().unwrap();
    corio::sleep(Duration::from_secs(60));
    std::process::exit(0);
}

/// The coros that park at once and stay parked.
const PARKED: [&str; 4] = [
    "parked-on-semaphore",
    "parked-on-mutex",
    "sleeper",
    "parked-on-socket",
];

#[derive(Default)]
struct Seen {
    name: Option<String>,
    file: String,
    line: u32,
    stats: Option<console_api::tasks::Stats>,
}

#[tokio::main(flavor = "current_thread")]
async fn watch(path: String) {
    use console_api::field::{Name, Value};
    use console_api::instrument::{InstrumentRequest, instrument_client::InstrumentClient};

    // The server binds its socket on a thread of its own, maybe after the
    // demo said `ready`: try again for 10 s at most.
    let start = std::time::Instant::now();
    let channel = loop {
        let path = path.clone();
        let connected = tonic::transport::Endpoint::from_static("http://localhost")
            .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                let path = path.clone();
                async move {
                    let s = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
                }
            }))
            .await;
        match connected {
            Ok(channel) => break channel,
            Err(e) if start.elapsed() > Duration::from_secs(10) => {
                panic!("connect to the console server: {e:?}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let mut client = InstrumentClient::new(channel);
    let mut updates = client
        .watch_updates(InstrumentRequest {})
        .await
        .expect("watch_updates")
        .into_inner();
    let mut field_names: HashMap<u64, Vec<String>> = HashMap::new();
    let mut tasks: HashMap<u64, Seen> = HashMap::new();
    // Resources: id → (type, file, line); async ops: id → (source,
    // resource id, task id once polled).
    let mut resources: HashMap<u64, (String, String, String, u32)> = HashMap::new();
    let mut attributes: HashMap<u64, Vec<String>> = HashMap::new();
    let mut ops: HashMap<u64, (String, u64, Option<u64>)> = HashMap::new();
    let polls = |s: &Seen| {
        s.stats
            .as_ref()
            .and_then(|s| s.poll_stats.as_ref())
            .map_or(0, |p| p.polls)
    };
    while let Some(update) = updates.message().await.expect("an update") {
        for m in update.new_metadata.into_iter().flat_map(|m| m.metadata) {
            if let (Some(id), Some(meta)) = (m.id, m.metadata) {
                field_names.insert(id.id, meta.field_names);
            }
        }
        if let Some(ru) = update.resource_update {
            for r in ru.new_resources {
                let (Some(id), Some(loc)) = (r.id, r.location) else {
                    continue;
                };
                use console_api::resources::resource::kind::{Kind, Known};
                let kind = match r.kind.and_then(|k| k.kind) {
                    Some(Kind::Known(k)) if k == Known::Timer as i32 => "timer".to_string(),
                    Some(Kind::Other(k)) => k,
                    _ => "?".to_string(),
                };
                let at = (loc.file.unwrap_or_default(), loc.line.unwrap_or(0));
                resources.insert(id.id, (r.concrete_type, kind, at.0, at.1));
            }
            for (id, stats) in ru.stats_update {
                let attrs = stats.attributes.into_iter().filter_map(|a| {
                    let f = a.field?;
                    let name = match f.name? {
                        Name::StrName(n) => n,
                        Name::NameIdx(i) => field_names
                            .get(&f.metadata_id?.id)?
                            .get(i as usize)?
                            .clone(),
                    };
                    let value = match f.value? {
                        Value::U64Val(v) => v.to_string(),
                        Value::I64Val(v) => v.to_string(),
                        Value::BoolVal(v) => v.to_string(),
                        Value::StrVal(v) | Value::DebugVal(v) => v,
                    };
                    Some(format!("{name}={value}{}", a.unit.unwrap_or_default()))
                });
                attributes.insert(id, attrs.collect());
            }
        }
        if let Some(au) = update.async_op_update {
            for o in au.new_async_ops {
                let (Some(id), Some(res)) = (o.id, o.resource_id) else {
                    continue;
                };
                ops.insert(id.id, (o.source, res.id, None));
            }
            for (id, stats) in au.stats_update {
                if let (Some(op), Some(task)) = (ops.get_mut(&id), stats.task_id) {
                    op.2 = Some(task.id);
                }
            }
        }
        let Some(tu) = update.task_update else {
            continue;
        };
        for t in tu.new_tasks {
            let Some(id) = t.id else { continue };
            let seen = tasks.entry(id.id).or_default();
            let meta = t.metadata.map(|m| m.id);
            for f in t.fields {
                let name = match f.name {
                    Some(Name::StrName(n)) => n,
                    Some(Name::NameIdx(i)) => meta
                        .and_then(|m| field_names.get(&m))
                        .and_then(|names| names.get(i as usize).cloned())
                        .unwrap_or_default(),
                    None => continue,
                };
                if name == "task.name" {
                    seen.name = match f.value {
                        Some(Value::StrVal(v) | Value::DebugVal(v)) => Some(v),
                        _ => None,
                    };
                }
            }
            if let Some(loc) = t.location {
                seen.file = loc.file.unwrap_or_default();
                seen.line = loc.line.unwrap_or(0);
            }
        }
        for (id, stats) in tu.stats_update {
            tasks.entry(id).or_default().stats = Some(stats);
        }
        let named = |n: &str| tasks.values().find(|s| s.name.as_deref() == Some(n));
        let waits_seen = |task: &str, source: &str| {
            let id = tasks
                .iter()
                .find(|(_, s)| s.name.as_deref() == Some(task))
                .map(|(id, _)| *id);
            id.is_some() && ops.values().any(|o| o.0 == source && o.2 == id)
        };
        let ready = ["ticker-0", "ticker-1"]
            .iter()
            .all(|n| named(n).is_some_and(|s| polls(s) >= 5))
            && PARKED
                .iter()
                .all(|n| named(n).is_some_and(|s| s.stats.is_some()))
            && waits_seen("parked-on-semaphore", "Semaphore::down")
            && waits_seen("parked-on-mutex", "Mutex::lock")
            && waits_seen("sleeper", "corio::sleep")
            && waits_seen("parked-on-socket", "TcpStream::readable")
            && waits_seen("[main]", "corio::sleep");
        if ready {
            break;
        }
    }
    let ts = |t: &Option<prost_types::Timestamp>| t.as_ref().map(|t| (t.seconds, t.nanos));
    let mut out = std::io::stdout().lock();
    for (id, (ty, kind, file, line)) in &resources {
        let attrs = attributes.get(id).map(|a| a.join(",")).unwrap_or_default();
        writeln!(out, "resource {ty} {kind} {file} {line} [{attrs}]").unwrap();
        for (source, _, task) in ops.values().filter(|o| o.1 == *id) {
            let task = task
                .and_then(|t| tasks.get(&t))
                .and_then(|t| t.name.clone());
            writeln!(
                out,
                "op {source} on {ty} by {}",
                task.as_deref().unwrap_or("?")
            )
            .unwrap();
        }
    }
    for s in tasks.values() {
        let (Some(name), Some(stats)) = (&s.name, &s.stats) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let p = stats.poll_stats.unwrap_or_default();
        // tokio-console's own rule (tokio-console/src/state/tasks.rs).
        let state = if stats.dropped_at.is_some() {
            "completed"
        } else if ts(&p.last_poll_started) > ts(&p.last_poll_ended) {
            "running"
        } else if ts(&stats.last_wake) > ts(&p.last_poll_started) {
            "scheduled"
        } else {
            "idle"
        };
        writeln!(
            out,
            "task {name} {} {} polls={} state={state} clones={} drops={} wakes={}",
            s.file, s.line, p.polls, stats.waker_clones, stats.waker_drops, stats.wakes
        )
        .unwrap();
    }
}
