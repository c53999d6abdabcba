//! HTTP ingest's event log, measured on this machine.
//!
//! ```text
//! cargo run --release --example event_log -- store   [EVENTS_PER_REQUEST] [SECONDS]
//! cargo run --release --example event_log -- ingest  [CLIENTS] [EVENTS_PER_REQUEST] [SECONDS] [always|never|none]
//! cargo run --release --example event_log -- rebuild [CALLS_PER_HOUR] [HOURS]
//! ```
//!
//! - `store`: the two ways considered to keep the log, each appending
//!   requests of real events (the simulator's) in groups as the service
//!   does, each group made durable before it counts: segment files
//!   (`fdatasync` per group) against a table in an SQLite file (WAL,
//!   `synchronous=FULL`, one transaction per group). Events/s for each.
//! - `ingest`: the service in-process with its event log in a temporary
//!   folder; CLIENTS HTTP clients post requests of EVENTS_PER_REQUEST events
//!   for SECONDS, each waiting for its answer: acknowledged events/s, and
//!   the answer's p50 and p99 (`none`: the same with no event log).
//! - `rebuild`: HOURS of a simulated contact center at CALLS_PER_HOUR
//!   (all-day profile) posted, the service stopped and started again: the
//!   time from the start to `/readyz` 200 with every event read back.
//!
//! Every loop is bounded in count and time and targets 127.0.0.1 only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use callboard::cmd::serve::run;
use callboard::cmd::serve::settings::{EngineSettings, ServeSettings};
use callboard::config::Config;
use callboard::sim::{SimConfig, Simulator};
use callboard::sources::event_log::{EventLog, EventLogSettings, Fsync, frame};
use callboard::wire::encode_event;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Events of the simulated demo, `hours` of them ending now, as lines.
fn events(hours: i64, calls_per_hour: f64, tenant: &str) -> Vec<String> {
    let end = now_ms() - 1_000;
    let mut cfg = SimConfig::demo(end - hours * 3_600_000, 3);
    cfg.tenant = tenant.into();
    cfg.tz = "UTC".into();
    cfg.peak_calls_per_hour = calls_per_hour;
    Simulator::new(cfg)
        .take_while(|e| e.ts < end)
        .map(|e| encode_event(&e))
        .collect()
}

/// Requests of `per_request` events, framed as ingest frames them.
fn requests(lines: &[String], per_request: usize) -> Vec<(Vec<u8>, u64)> {
    lines
        .chunks(per_request)
        .map(|c| {
            let mut out = Vec::new();
            for l in c {
                frame(&mut out, l.as_bytes());
            }
            (out, c.len() as u64)
        })
        .collect()
}

/// Requests made durable per group, as the service's log task groups them.
const GROUP: usize = 8;

fn store_segments(reqs: &[(Vec<u8>, u64)], seconds: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let settings = EventLogSettings {
        dir: dir.path().to_path_buf(),
        fsync: Fsync::Always,
        retention_days: 8,
    };
    let (mut log, _) = EventLog::open(settings, |_| {}).unwrap();
    let (start, mut n) = (Instant::now(), 0u64);
    'outer: loop {
        for group in reqs.chunks(GROUP) {
            for (bytes, count) in group {
                log.append(bytes, *count).unwrap();
                n += count;
            }
            log.sync().unwrap();
            if start.elapsed() >= Duration::from_secs(seconds) {
                break 'outer;
            }
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn store_sqlite(reqs: &[(Vec<u8>, u64)], lines: &[String], seconds: u64) -> f64 {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteConnectOptions::new()
        .filename(dir.path().join("log.sqlite"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    sqlx::query("CREATE TABLE events (seq INTEGER PRIMARY KEY, event BLOB NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let per_request = lines.len().div_ceil(reqs.len());
    let reqs: Vec<&[String]> = lines.chunks(per_request).collect();
    let (start, mut n) = (Instant::now(), 0u64);
    'outer: loop {
        for group in reqs.chunks(GROUP) {
            let mut tx = pool.begin().await.unwrap();
            for req in group {
                // One statement per request (up to 200 rows a statement).
                for rows in req.chunks(200) {
                    let mut q = String::from("INSERT INTO events (event) VALUES ");
                    q.push_str(&vec!["(?)"; rows.len()].join(","));
                    let mut query = sqlx::query(&q);
                    for r in rows {
                        query = query.bind(r.as_bytes());
                    }
                    query.execute(&mut *tx).await.unwrap();
                    n += rows.len() as u64;
                }
            }
            tx.commit().await.unwrap();
            if start.elapsed() >= Duration::from_secs(seconds) {
                break 'outer;
            }
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn store(per_request: usize, seconds: u64) {
    let lines = events(24, 500.0, "demo");
    let reqs = requests(&lines, per_request);
    let segments = store_segments(&reqs, seconds);
    let sqlite = store_sqlite(&reqs, &lines, seconds).await;
    println!(
        "durable appends, requests of {per_request} events in groups of {GROUP}: segment files {segments:.0} events/s, SQLite table {sqlite:.0} events/s ({:.1}x)",
        segments / sqlite
    );
}

async fn serve(
    log: &std::path::Path,
    fsync: Option<Fsync>,
) -> (
    std::net::SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let settings = ServeSettings {
        engine: EngineSettings::default(),
        event_log: fsync.map(|fsync| EventLogSettings {
            dir: log.to_path_buf(),
            fsync,
            retention_days: 8,
        }),
        ..ServeSettings::default()
    };
    let config = Config::parse("[tenants.demo]\ntz = \"UTC\"\n", None, None).unwrap();
    let task = tokio::spawn(run(listener, Arc::new(config), settings, stop.clone()));
    (addr, stop, task)
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<bytes::Bytes>,
>;

fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

async fn request(
    client: &Client,
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: bytes::Bytes,
) -> u16 {
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(http_body_util::Full::new(body))
        .unwrap();
    match client.request(req).await {
        Ok(r) => {
            let status = r.status().as_u16();
            let _ = http_body_util::BodyExt::collect(r.into_body()).await;
            status
        }
        Err(_) => 0,
    }
}

async fn ready(addr: std::net::SocketAddr) -> Duration {
    let (c, t) = (client(), Instant::now());
    while request(&c, addr, "GET", "/readyz", bytes::Bytes::new()).await != 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t.elapsed()
}

async fn ingest(clients: usize, per_request: usize, seconds: u64, fsync: Option<Fsync>) {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop, task) = serve(dir.path(), fsync).await;
    ready(addr).await;
    // Distinct events for every request: a day of a large center.
    let lines = events(24, 20_000.0, "demo");
    let bodies: Vec<bytes::Bytes> = lines
        .chunks(per_request)
        .map(|c| bytes::Bytes::from(c.join("\n")))
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (bodies, next) = (bodies.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let c = client();
            let (mut events, mut waits) = (0u64, Vec::new());
            while Instant::now() < deadline {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t = Instant::now();
                let status = request(&c, addr, "POST", "/api/v1/events", body.clone()).await;
                assert_eq!(status, 200, "ingest answered {status}");
                waits.push(t.elapsed().as_micros() as u64);
                events += body.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            }
            (events, waits)
        }));
    }
    let (mut events, mut waits) = (0u64, Vec::new());
    for w in workers {
        let (e, mut ws) = w.await.unwrap();
        events += e;
        waits.append(&mut ws);
    }
    let took = start.elapsed().as_secs_f64();
    waits.sort_unstable();
    let p = |q: f64| waits[((waits.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    println!(
        "ingest {}: {clients} clients, {per_request} events a request: {:.0} acknowledged events/s over {took:.1} s; answer p50 {:.1} ms, p99 {:.1} ms",
        fsync.map_or("in memory only (no event log)".to_string(), |f| format!(
            "with the event log (fsync {})",
            f.as_str()
        )),
        events as f64 / took,
        p(0.5),
        p(0.99)
    );
    stop.cancel();
    task.await.unwrap().unwrap();
}

async fn rebuild(calls_per_hour: f64, hours: i64) {
    let dir = tempfile::tempdir().unwrap();
    let lines = events(hours, calls_per_hour, "demo");
    let (addr, stop, task) = serve(dir.path(), Some(Fsync::Always)).await;
    ready(addr).await;
    let c = client();
    for chunk in lines.chunks(1000) {
        let status = request(
            &c,
            addr,
            "POST",
            "/api/v1/events",
            bytes::Bytes::from(chunk.join("\n")),
        )
        .await;
        assert_eq!(status, 200);
    }
    stop.cancel();
    task.await.unwrap().unwrap();
    let bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    // Started again: the log is read back before /readyz says 200.
    let t = Instant::now();
    let (addr, stop, task) = serve(dir.path(), Some(Fsync::Always)).await;
    ready(addr).await;
    let took = t.elapsed();
    let calls = lines
        .iter()
        .filter(|l| l.contains(r#""type":"call.queued""#))
        .count();
    println!(
        "rebuild: {hours} h peaking at {calls_per_hour} calls/h = {calls} calls, {} events ({:.1} MiB of log) read back and applied, ready in {:.2} s",
        lines.len(),
        bytes as f64 / (1 << 20) as f64,
        took.as_secs_f64()
    );
    stop.cancel();
    task.await.unwrap().unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: u64| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    let rt = tokio::runtime::Runtime::new().unwrap();
    match args.first().map(String::as_str) {
        Some("store") => rt.block_on(store(num(1, 100) as usize, num(2, 5))),
        Some("ingest") => {
            let fsync = match args.get(4).map(String::as_str) {
                Some("never") => Some(Fsync::Never),
                Some("none") => None,
                _ => Some(Fsync::Always),
            };
            rt.block_on(ingest(
                num(1, 8) as usize,
                num(2, 100) as usize,
                num(3, 10),
                fsync,
            ))
        }
        Some("rebuild") => rt.block_on(rebuild(num(1, 500) as f64, num(2, 24) as i64)),
        _ => eprintln!("usage: event_log store|ingest|rebuild (see the file's head)"),
    }
}
