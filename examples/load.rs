//! Load tools for `callboard serve`, on this machine only (loopback).
//!
//! ```text
//! cargo run --release --example load -- kafka   BROKERS [EVENTS]
//! cargo run --release --example load -- latency [RATE] [SECONDS] [PUBLISH_MS]
//! cargo run --release --example load -- clients [CLIENTS] [SECONDS] [AGENTS] [VIEW|-] [deflate]
//! cargo run --release --example load -- board-server [CLIENTS] [AGENTS] [SECONDS]
//! cargo run --release --example load -- boards ADDR [CLIENTS] [SECONDS] [VIEW|-] [deflate]
//! cargo run --release --example load -- queue_log [RATE] [SECONDS]
//! ```
//!
//! - `kafka`: the engine's rate of consuming a topic (in-process service,
//!   rebuilding from the log) against a bare rdkafka consumer of the same
//!   topic on the same broker.
//! - `latency`: events sent by HTTP ingest at RATE/s in batches every 10 ms,
//!   `ts` = send time; a websocket client receiving a snapshot whose `as_of`
//!   passed a batch's time counts, for that batch, receive time minus send
//!   time: the event-to-websocket latency of every event.
//! - `clients`: CLIENTS websocket clients of one simulated tenant published
//!   every second (with AGENTS agents, calls scaled to them; VIEW a board
//!   view's name, `?view=`, `-` for the whole snapshot; `deflate`: clients
//!   that offer `permessage-deflate`, as browsers do); per-message delivery
//!   delay (receive time minus the snapshot's `at`), bytes per board on the
//!   wire, the process's CPU time and peak RSS.
//! - `board-server` and `boards`: the same in two processes, each with its
//!   own open-file limit (past about 9,000 clients one process runs out);
//!   the server prints its address, then its own CPU and RSS every 5 s;
//!   `boards` connects to that address.
//! - `queue_log`: a followed Asterisk queue_log appended RATE lines a second
//!   (each a new call entering a queue) at the default publish cadence; a
//!   websocket client seeing the tenant's inbound count reach a line's call
//!   counts receive time minus append time, for every line. Then the
//!   process's CPU time over 10 s with the file idle.
//!
//! Every loop is bounded in count and time and targets 127.0.0.1 only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use callboard::cmd::serve::run;
use callboard::cmd::serve::settings::{EngineSettings, ServeSettings};
use callboard::config::Config;
use callboard::kafka::KafkaOptions;
use callboard::kafka::{ensure_topic, produce};
use callboard::sim::{SimConfig, Simulator};
use futures_util::StreamExt;
use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_util::sync::CancellationToken;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn percentile(v: &mut [i64], q: f64) -> i64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// CPU seconds used by this process so far, and its peak RSS in MiB.
fn cpu_and_rss() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    (ticks / 100.0, hwm_kb / 1024.0)
}

async fn serve(
    opts: ServeSettings,
) -> (
    std::net::SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(run(
        listener,
        Arc::new(Config::default()),
        opts,
        stop.clone(),
    ));
    (addr, stop, task)
}

async fn kafka(brokers: String, events: usize) -> anyhow::Result<()> {
    let topic = format!("callboard.load.{}", now_ms());
    ensure_topic(&brokers, &topic, 4).await?;
    let start = now_ms() - 6 * 3_600_000;
    let evs: Vec<_> = Simulator::new(SimConfig::large(2000, 200, start, 9))
        .take(events)
        .collect();
    let n = evs.len() as u64;
    let t = Instant::now();
    produce(&brokers, &topic, evs.into_iter(), 0, false).await?;
    println!("produced {n} events in {:.1} s", t.elapsed().as_secs_f64());

    // Bare consumer: read the topic to its end, nothing else.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", format!("bare-{}", now_ms()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[&topic])?;
    let t = Instant::now();
    let mut seen = 0u64;
    let mut bytes = 0usize;
    while seen < n && t.elapsed() < Duration::from_secs(300) {
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(10), consumer.recv()).await {
            bytes += m.payload().map_or(0, <[u8]>::len);
            seen += 1;
        }
    }
    let bare = seen as f64 / t.elapsed().as_secs_f64();
    println!("bare rdkafka consumer: {seen} messages ({bytes} bytes) at {bare:.0} msg/s");
    drop(consumer);

    // The engine: rebuild from the log until ready (decode, route, apply).
    let (addr, stop, task) = serve(ServeSettings {
        kafka: Some(KafkaOptions {
            brokers: brokers.clone(),
            topic: topic.clone(),
            group: format!("engine-{}", now_ms()),
            dlq_topic: format!("{topic}.dlq"),
            max_event_bytes: 65536,
            max_clock_skew_ms: 300_000,
            state_topic: None,
            snapshot_topic: None,
            rebuild_margin_ms: 0,
        }),
        ..ServeSettings::default()
    })
    .await;
    let t = Instant::now();
    wait_ok(addr, "/readyz", Duration::from_secs(300)).await;
    let engine = n as f64 / t.elapsed().as_secs_f64();
    println!(
        "callboard engine: {n} events rebuilt at {engine:.0} events/s = {:.0} % of the bare consumer",
        engine / bare * 100.0
    );
    stop.cancel();
    task.await??;
    Ok(())
}

/// Until `path` answers 200, or `limit` has passed.
async fn wait_ok(addr: std::net::SocketAddr, path: &str, limit: Duration) {
    let t = Instant::now();
    while get(addr, path).await.0 != 200 && t.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return (0, String::new());
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n");
    let _ = s.write_all(req.as_bytes()).await;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn post(addr: std::net::SocketAddr, body: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: l\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
}

/// Synthetic traffic of one tenant: 500 agents changing state and calls
/// through their life, `ts` = now.
fn batch(seq: &mut u64, n: usize) -> String {
    let ts = now_ms();
    let mut out = String::with_capacity(n * 160);
    for _ in 0..n {
        *seq += 1;
        let i = *seq;
        let call = i / 4;
        let line = match i % 4 {
            0 => format!(
                r#"{{"v":1,"id":"l{i}","ts":{ts},"tenant":"load","type":"call.queued","call":"c{call}","queue":"q{}"}}"#,
                call % 50
            ),
            1 => format!(
                r#"{{"v":1,"id":"l{i}","ts":{ts},"tenant":"load","type":"call.answered","call":"c{call}","agent":"a{}"}}"#,
                call % 500
            ),
            2 => format!(
                r#"{{"v":1,"id":"l{i}","ts":{ts},"tenant":"load","type":"agent.state","agent":"a{}","state":"talking"}}"#,
                call % 500
            ),
            _ => format!(
                r#"{{"v":1,"id":"l{i}","ts":{ts},"tenant":"load","type":"call.ended","call":"c{call}"}}"#
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

async fn latency(rate: usize, seconds: u64, publish_ms: u64) -> anyhow::Result<()> {
    let (addr, stop, task) = serve(ServeSettings {
        engine: EngineSettings {
            publish_interval: Duration::from_millis(publish_ms),
            ..EngineSettings::default()
        },
        ..ServeSettings::default()
    })
    .await;
    let mut seq = 0;
    post(addr, &batch(&mut seq, 4)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws?tenant=load")).await?;
    let delays = Arc::new(Mutex::new(Vec::new()));
    // Send times of the batches not yet seen in a snapshot.
    let batches: Arc<Mutex<std::collections::VecDeque<i64>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (delays, done, batches) = (delays.clone(), done.clone(), batches.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let Ok(Some(Ok(Ws::Text(t)))) =
                    tokio::time::timeout(Duration::from_secs(2), ws.next()).await
                else {
                    continue;
                };
                let recv = now_ms();
                let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
                if let Some(asof) = v["snapshot"]["as_of"]
                    .as_str()
                    .and_then(callboard::time::parse_rfc3339)
                {
                    let mut b = batches.lock().await;
                    let mut d = delays.lock().await;
                    while b.front().is_some_and(|&ts| ts <= asof) {
                        let ts = b.pop_front().unwrap_or(asof);
                        d.push(recv - ts);
                    }
                }
            }
        })
    };
    // Batches every 10 ms.
    let per_batch = (rate / 100).max(1);
    let started = Instant::now();
    let mut sent = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let body = batch(&mut seq, per_batch);
        // The batch's events all carry this send time.
        let ts = body
            .find("\"ts\":")
            .and_then(|i| body[i + 5..].split(',').next()?.parse::<i64>().ok())
            .unwrap_or_else(now_ms);
        batches.lock().await.push_back(ts);
        post(addr, &body).await;
        sent += per_batch;
    }
    let achieved = sent as f64 / started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    done.store(true, Ordering::Relaxed);
    let _ = reader.await;
    let mut d = delays.lock().await.clone();
    // Skip the first second of batches (warm-up).
    let mut d: Vec<i64> = d.drain(..).skip(100).collect();
    println!(
        "latency: {achieved:.0} events/s sent over HTTP for {seconds} s, publish every {publish_ms} ms: {} batches measured, event-to-websocket p50 {} ms, p99 {} ms, max {} ms",
        d.len(),
        percentile(&mut d, 0.5),
        percentile(&mut d, 0.99),
        d.iter().max().copied().unwrap_or(0)
    );
    stop.cancel();
    task.await??;
    Ok(())
}

/// The server `clients` loads: one simulated tenant published every second
/// (the demo, or AGENTS agents with calls scaled to them), with room for
/// `n` clients; returned once the tenant's first snapshot is out.
async fn board_server(
    n: usize,
    agents: usize,
) -> (
    std::net::SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let mut sim = SimConfig::demo(0, 5);
    sim.start = callboard::sources::simulated::start_of_today(&sim.tz, now_ms());
    if agents > 0 {
        // A bigger center: calls scale with its agents (the demo's 24
        // agents take 360 calls an hour at the peak).
        sim.peak_calls_per_hour *= agents as f64 / sim.agents as f64;
        sim.agents = agents;
    }
    let (addr, stop, task) = serve(ServeSettings {
        simulate: vec![sim],
        engine: EngineSettings {
            publish_interval: Duration::from_millis(1000),
            ..EngineSettings::default()
        },
        // Room for every client (past the default 4,096).
        http: callboard::cmd::serve::settings::HttpSettings {
            connections: callboard::http::listener::ConnectionLimits {
                max_connections: n + 100,
                ..Default::default()
            },
            ..Default::default()
        },
        ..ServeSettings::default()
    })
    .await;
    wait_ok(addr, "/readyz", Duration::from_secs(10)).await;
    // The simulated tenant's first snapshot, before anyone subscribes.
    wait_ok(
        addr,
        "/api/v1/tenants/demo/snapshot",
        Duration::from_secs(10),
    )
    .await;
    (addr, stop, task)
}

/// What `n` boards of the `demo` tenant at `addr` received over a window.
struct Received {
    /// Receive time minus the snapshot's `at`, per message.
    delays: Vec<i64>,
    /// Bytes on the wire (frame headers included when compressed).
    bytes: u64,
    /// The window, in seconds.
    wall: f64,
    /// This process's CPU time over the window, in seconds.
    cpu: f64,
    /// This process's peak RSS, MiB.
    rss: f64,
}

/// Connects `n` boards to `addr` (VIEW a board view, `deflate`: offering
/// compression as browsers do) and reads for `seconds`.
async fn boards(
    addr: std::net::SocketAddr,
    n: usize,
    seconds: u64,
    view: Option<&str>,
    deflate: bool,
) -> anyhow::Result<Received> {
    let delays = Arc::new(Mutex::new(Vec::with_capacity(n * seconds as usize)));
    let bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::with_capacity(n);
    let connect_start = Instant::now();
    let query = view.map_or(String::new(), |v| format!("&view={v}"));
    for _ in 0..n {
        let (delays, done, bytes) = (delays.clone(), done.clone(), bytes.clone());
        if deflate {
            let path = format!("/api/v1/ws?tenant=demo{query}");
            let mut ws = RawClient::connect(addr, &path).await?;
            handles.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    let Ok(Some((wire, head))) =
                        tokio::time::timeout(Duration::from_millis(500), ws.message_head()).await
                    else {
                        continue;
                    };
                    let recv = now_ms();
                    bytes.fetch_add(wire as u64, Ordering::Relaxed);
                    if let Some(at) = at_of(&head) {
                        mine.push(recv - at);
                    }
                }
                delays.lock().await.extend(mine);
            }));
            continue;
        }
        let url = format!("ws://{addr}/api/v1/ws?tenant=demo{query}");
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(client_config()), false).await?;
        handles.push(tokio::spawn(async move {
            let (_, mut rx) = ws.split();
            let mut mine = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let Ok(Some(Ok(Ws::Text(t)))) =
                    tokio::time::timeout(Duration::from_millis(500), rx.next()).await
                else {
                    continue;
                };
                let recv = now_ms();
                bytes.fetch_add(t.len() as u64, Ordering::Relaxed);
                if let Some(at) = at_of(t.as_bytes()) {
                    mine.push(recv - at);
                }
            }
            delays.lock().await.extend(mine);
        }));
    }
    println!(
        "{n} clients connected in {:.1} s",
        connect_start.elapsed().as_secs_f64()
    );
    let (cpu0, _) = cpu_and_rss();
    let t = Instant::now();
    let bytes0 = bytes.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (cpu1, rss) = cpu_and_rss();
    let wall = t.elapsed().as_secs_f64();
    let received = bytes.load(Ordering::Relaxed) - bytes0;
    done.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.await;
    }
    let delays = delays.lock().await.clone();
    Ok(Received {
        delays,
        bytes: received,
        wall,
        cpu: cpu1 - cpu0,
        rss,
    })
}

impl Received {
    /// One line: messages, bytes per board, delivery delay, CPU and RSS of
    /// `whose` (the process that measured).
    fn report(
        mut self,
        n: usize,
        seconds: u64,
        agents: Option<usize>,
        view: Option<&str>,
        deflate: bool,
        whose: &str,
    ) {
        println!(
            "clients: {n} websocket clients{}{} of {} tenant, 1 s cadence, {seconds} s: {} messages ({:.0}/s), {:.1} KB/s per board on the wire, delivery p50 {} ms, p99 {} ms; CPU {:.2} cores ({whose}), peak RSS {:.0} MiB",
            view.map_or(String::new(), |v| format!(" (view={v})")),
            if deflate { ", compressed" } else { "" },
            match agents {
                Some(0) => "the demo's 24-agent".to_string(),
                Some(a) => format!("a {a}-agent"),
                None => "the server's".to_string(),
            },
            self.delays.len(),
            self.delays.len() as f64 / self.wall,
            self.bytes as f64 / self.wall / n as f64 / 1024.0,
            percentile(&mut self.delays, 0.5),
            percentile(&mut self.delays, 0.99),
            self.cpu / self.wall,
            self.rss
        );
    }
}

/// Server and boards in one process.
async fn clients(
    n: usize,
    seconds: u64,
    agents: usize,
    view: Option<String>,
    deflate: bool,
) -> anyhow::Result<()> {
    let (addr, stop, task) = board_server(n, agents).await;
    boards(addr, n, seconds, view.as_deref(), deflate)
        .await?
        .report(
            n,
            seconds,
            Some(agents),
            view.as_deref(),
            deflate,
            "server and clients in one process",
        );
    stop.cancel();
    task.await??;
    Ok(())
}

/// The server alone, for boards in another process (`boards`): each process
/// then has its own open-file limit, and the server's CPU and RSS are its
/// own. Prints its address, then its CPU and RSS every 5 s.
async fn board_server_alone(n: usize, agents: usize, seconds: u64) -> anyhow::Result<()> {
    let (addr, stop, task) = board_server(n, agents).await;
    println!("server: listening on {addr}");
    let end = Instant::now() + Duration::from_secs(seconds);
    let (mut cpu0, _) = cpu_and_rss();
    while Instant::now() < end {
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (cpu1, rss) = cpu_and_rss();
        println!(
            "server: CPU {:.2} cores over the last {:.1} s, peak RSS {:.0} MiB",
            (cpu1 - cpu0) / t.elapsed().as_secs_f64(),
            t.elapsed().as_secs_f64(),
            rss
        );
        cpu0 = cpu1;
    }
    stop.cancel();
    task.await??;
    Ok(())
}

/// The snapshot's `at` near the start of a message (`"at":"...Z"` comes
/// early: found without parsing the rest).
fn at_of(text: &[u8]) -> Option<i64> {
    let i = memchr::memmem::find(text, b"\"at\":\"")?;
    let at = std::str::from_utf8(text.get(i + 6..i + 30)?).ok()?;
    callboard::time::parse_rfc3339(at)
}

/// A websocket client that offers `permessage-deflate`, as browsers do,
/// and reads the frames off the socket itself (tungstenite's client takes
/// no compression): it counts octets on the wire and inflates only the
/// start of each message, where its `at` is.
struct RawClient {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    async fn connect(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<RawClient> {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(
                format!(
                    "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                     Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
                )
                .as_bytes(),
            )
            .await?;
        let mut c = RawClient {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        };
        loop {
            if let Some(end) = memchr::memmem::find(&c.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&c.buf[..end]).to_lowercase();
                anyhow::ensure!(head.starts_with("http/1.1 101"), "not upgraded: {head}");
                anyhow::ensure!(
                    head.contains("permessage-deflate"),
                    "not compressed: {head}"
                );
                c.buf.drain(..end + 4);
                return Ok(c);
            }
            anyhow::ensure!(c.fill().await? > 0, "closed during the handshake");
        }
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// The next text message: its octets on the wire and the first 256
    /// octets of its text. `None` when the connection ends.
    async fn message_head(&mut self) -> Option<(usize, Vec<u8>)> {
        loop {
            if let Some((first, at, len)) = frame_bounds(&self.buf)
                && self.buf.len() >= at + len
            {
                let payload = &self.buf[at..at + len];
                let head = if first & 0x40 != 0 {
                    let mut d = flate2::Decompress::new(false);
                    let mut out = vec![0u8; 256];
                    let _ = d.decompress(payload, &mut out, flate2::FlushDecompress::Sync);
                    out.truncate(d.total_out() as usize);
                    out
                } else {
                    payload[..payload.len().min(256)].to_vec()
                };
                self.buf.drain(..at + len);
                if first & 0x0f == 1 {
                    return Some((at + len, head));
                }
                continue;
            }
            if !matches!(self.fill().await, Ok(n) if n > 0) {
                return None;
            }
        }
    }
}

/// A server frame's first octet, where its payload starts and its length,
/// once its header is in `buf`.
fn frame_bounds(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let (first, second) = (*buf.first()?, *buf.get(1)?);
    match second & 0x7f {
        126 => Some((
            first,
            4,
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
        )),
        127 => Some((
            first,
            10,
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
        )),
        n => Some((first, 2, n as usize)),
    }
}

/// Small client buffers, so that the process's memory is mostly the server's.
fn client_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(4 * 1024)
}

async fn queue_log(rate: u64, seconds: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("callboard-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("queue_log");
    let mut file = std::fs::File::create(&path)?;
    let line = |k: u64| {
        format!(
            "{}|call{k}|q1|NONE|ENTERQUEUE||0101234{k:04}|1\n",
            now_ms() / 1000
        )
    };
    file.write_all(line(0).as_bytes())?;
    let (addr, stop, task) = serve(ServeSettings {
        queue_logs: vec![callboard::sources::queue_log::QueueLogSource {
            path: path.clone(),
            tenant: "pbx".into(),
        }],
        ..ServeSettings::default()
    })
    .await;
    wait_ok(
        addr,
        "/api/v1/tenants/pbx/snapshot",
        Duration::from_secs(10),
    )
    .await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws?tenant=pbx")).await?;
    // Append time of each line (the line of call k adds inbound call k+1).
    let appended: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(vec![now_ms()]));
    let delays = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (appended, delays, done) = (appended.clone(), delays.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = 1usize;
            while !done.load(Ordering::Relaxed) {
                let Ok(Some(Ok(Ws::Text(t)))) =
                    tokio::time::timeout(Duration::from_secs(2), ws.next()).await
                else {
                    continue;
                };
                let recv = now_ms();
                let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
                let inbound = v["snapshot"]["totals"]["inbound"].as_u64().unwrap_or(0) as usize;
                let a = appended.lock().await;
                let mut d = delays.lock().await;
                while seen < inbound.min(a.len()) {
                    d.push(recv - a[seen]);
                    seen += 1;
                }
            }
        })
    };
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut k = 1;
    while started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        file.write_all(line(k).as_bytes())?;
        appended.lock().await.push(now_ms());
        k += 1;
    }
    let achieved = (k - 1) as f64 / started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    done.store(true, Ordering::Relaxed);
    let _ = reader.await;
    let mut d = delays.lock().await.clone();
    println!(
        "queue_log: {achieved:.0} lines/s appended for {seconds} s, default publish cadence: {} lines measured, line-to-websocket p50 {} ms, p99 {} ms, max {} ms",
        d.len(),
        percentile(&mut d, 0.5),
        percentile(&mut d, 0.99),
        d.iter().max().copied().unwrap_or(0)
    );
    // Idle: no line for 10 s.
    let (cpu0, _) = cpu_and_rss();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (cpu1, _) = cpu_and_rss();
    println!(
        "queue_log: {:.2} CPU seconds in 10 s with the file idle (the whole service: publishing, timers)",
        cpu1 - cpu0
    );
    stop.cancel();
    task.await??;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: u64| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    let rt = tokio::runtime::Runtime::new()?;
    match args.first().map(String::as_str) {
        Some("kafka") => {
            let brokers = args
                .get(1)
                .cloned()
                .unwrap_or_else(|| "127.0.0.1:19092".into());
            rt.block_on(kafka(brokers, num(2, 500_000) as usize))
        }
        Some("latency") => rt.block_on(latency(num(1, 20_000) as usize, num(2, 20), num(3, 250))),
        Some("clients") => rt.block_on(clients(
            num(1, 5000) as usize,
            num(2, 30),
            num(3, 0) as usize,
            args.get(4).cloned().filter(|v| v != "-"),
            args.get(5).is_some_and(|d| d == "deflate"),
        )),
        Some("board-server") => rt.block_on(board_server_alone(
            num(1, 10_000) as usize,
            num(2, 0) as usize,
            num(3, 120),
        )),
        Some("boards") => {
            let Some(addr) = args.get(1).and_then(|a| a.parse().ok()) else {
                eprintln!("usage: load boards ADDR [CLIENTS] [SECONDS] [VIEW|-] [deflate]");
                std::process::exit(2);
            };
            let (n, seconds) = (num(2, 5000) as usize, num(3, 30));
            let view = args.get(4).cloned().filter(|v| v != "-");
            let deflate = args.get(5).is_some_and(|d| d == "deflate");
            rt.block_on(async {
                boards(addr, n, seconds, view.as_deref(), deflate)
                    .await?
                    .report(
                        n,
                        seconds,
                        None,
                        view.as_deref(),
                        deflate,
                        "the clients' process",
                    );
                anyhow::Ok(())
            })
        }
        Some("queue_log") => rt.block_on(queue_log(num(1, 200).max(1), num(2, 30))),
        _ => {
            eprintln!(
                "usage: load kafka BROKERS [EVENTS] | load latency [RATE] [SECONDS] [PUBLISH_MS] | load clients [CLIENTS] [SECONDS] [AGENTS] [VIEW|-] [deflate] | load board-server [CLIENTS] [AGENTS] [SECONDS] | load boards ADDR [CLIENTS] [SECONDS] [VIEW|-] [deflate] | load queue_log [RATE] [SECONDS]"
            );
            std::process::exit(2);
        }
    }
}
