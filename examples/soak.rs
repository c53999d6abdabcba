//! A soak of `callboard serve` under steady traffic and abuse, on this
//! machine only (127.0.0.1), bounded in time.
//!
//! ```text
//! cargo build --release
//! cargo run --release --example soak -- [SECONDS] [EVENTS_PER_S] [CLIENTS]
//! ```
//! (defaults 600 s, 2,000 events/s, 200 websocket clients)
//!
//! It starts the release binary as a process of its own, then for SECONDS:
//! - sends EVENTS_PER_S events by HTTP ingest, in 10 batches a second, over
//!   ten tenants (calls queued, answered and ended, agents changing state);
//! - keeps CLIENTS websocket clients, a tenth of which never read, and
//!   measures for the others the longest gap between snapshots;
//! - every second posts a megabyte of garbage and a flood of 500 events for
//!   new tenants (the tenants' limit stops it);
//! - probes `/healthz` ten times a second and samples the server's RSS.
//!
//! `soak tenants [N]` instead posts N (default 20,000) one-event tenants
//! against the default limits and reports the server's RSS and the series
//! count, size and render time of `/metrics`.
//!
//! `soak hard STORE [SECONDS] [TRICKLERS]` (defaults 600 s, 4,000) runs the
//! hardening soak against a history STORE (an SQLite path or a `postgres://`
//! URL; `cargo run --release --example history -- fill STORE` first puts the
//! largest report a token may ask for in it): the traffic above, and
//! TRICKLERS clients from 127.0.0.1 each sending a header line every 10 s
//! and never the end (reconnecting a second after being cut), poisoned
//! events (a NUL in a reason, control characters in names, a line break in
//! a queue_log pause reason) on HTTP ingest and on a followed queue_log,
//! and the 297,600-row report asked for every 5 s. From 127.0.0.2: a board
//! (largest snapshot gap) and `/healthz` ten times a second, on the main
//! listener and on the metrics listener. At the end, every clean tenant's
//! stored day must equal its snapshot (inbound, answered).
//!
//! It prints the figures README.md and docs/performance.md quote: RSS after the first fifth of the
//! run (warm-up) from lowest to highest, `/healthz` p50/p99, the largest
//! snapshot gap of a reading client, events sent and refused.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// One HTTP/1.1 request on a fresh connection; the status code (0 on error).
async fn http(port: u16, method: &str, path: &str, body: &[u8]) -> u16 {
    exchange(port, method, path, body).await.0
}

/// One HTTP/1.1 request on a fresh connection; the status code (0 on error)
/// and the whole response, headers included.
async fn exchange(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return (0, Vec::new());
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    if s.write_all(head.as_bytes()).await.is_err() || s.write_all(body).await.is_err() {
        return (0, Vec::new());
    }
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp).await;
    let status = String::from_utf8_lossy(&resp[..resp.len().min(64)])
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, resp)
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// A batch of `n` events over ten tenants: calls move through queued,
/// answered and ended one batch apart; agents change state.
fn batch(n: usize, seq: &mut u64) -> Vec<u8> {
    let ts = now_ms();
    let mut out = Vec::with_capacity(n * 160);
    for _ in 0..n {
        *seq += 1;
        let i = *seq;
        let tenant = format!("soak-{}", i % 10);
        // In each block of 40: 10 calls queued (one per tenant), the same
        // answered, then ended, then 10 agent states.
        let call = i / 40;
        let line = match (i / 10) % 4 {
            0 => format!(
                r#"{{"v":1,"id":"{i}","ts":{ts},"tenant":"{tenant}","type":"call.queued","call":"c{call}","queue":"q{}"}}"#,
                call % 20
            ),
            1 => format!(
                r#"{{"v":1,"id":"{i}","ts":{ts},"tenant":"{tenant}","type":"call.answered","call":"c{call}","agent":"a{}"}}"#,
                call % 200
            ),
            2 => format!(
                r#"{{"v":1,"id":"{i}","ts":{ts},"tenant":"{tenant}","type":"call.ended","call":"c{call}"}}"#
            ),
            _ => format!(
                r#"{{"v":1,"id":"{i}","ts":{ts},"tenant":"{tenant}","type":"agent.state","agent":"a{}","state":"{}","services":["s{}"]}}"#,
                i % 200,
                ["ready", "talking", "wrap_up", "away"][(i % 4) as usize],
                i % 5
            ),
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Starts the release binary on a free loopback port with no simulated
/// tenants, and waits until it answers `/healthz`.
async fn start_server() -> anyhow::Result<(std::process::Child, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let bin = std::env::var("CALLBOARD_BIN").unwrap_or("target/release/callboard".into());
    let server = Command::new(&bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--simulate-tenants", "0", "--log", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {bin} (cargo build --release first): {e}"))?;
    for _ in 0..100 {
        if http(port, "GET", "/healthz", b"").await == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((server, port))
}

/// `soak tenants N`: N one-event tenants against the default limits, then
/// the server's RSS and the size and render time of `/metrics`.
async fn tenants(n: u64) -> anyhow::Result<()> {
    let (mut server, port) = start_server().await?;
    let pid = server.id();
    let before = rss_mib(pid);
    let (mut accepted, mut refused) = (0u64, 0u64);
    let ts = now_ms();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let body: String = chunk
            .iter()
            .map(|i| {
                format!(
                    r#"{{"v":1,"id":"t{i}","ts":{ts},"tenant":"tenant-{i}","type":"call.queued","call":"c","queue":"q"}}"#
                ) + "\n"
            })
            .collect();
        let (_, resp) = exchange(port, "POST", "/api/v1/events", body.as_bytes()).await;
        let text = String::from_utf8_lossy(&resp);
        let field = |name: &str| {
            text.split(&format!("\"{name}\":"))
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|d| d.parse::<u64>().ok())
                .unwrap_or(0)
        };
        accepted += field("accepted");
        refused += field("rejected");
    }
    // Let every shard publish and Prometheus take the figures in.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut renders = Vec::new();
    let mut series = 0;
    let mut bytes = 0;
    let mut over_limit = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let (status, resp) = exchange(port, "GET", "/metrics", b"").await;
        renders.push(start.elapsed().as_secs_f64());
        anyhow::ensure!(status == 200, "/metrics answered {status}");
        let text = String::from_utf8_lossy(&resp);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
        over_limit = body
            .lines()
            .find(|l| {
                l.starts_with("callboard_events_rejected_total")
                    && l.contains(r#"reason="over_limit""#)
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        series = body
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
        bytes = body.len();
    }
    let after = rss_mib(pid);
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    server.wait()?;
    renders.sort_by(f64::total_cmp);
    println!(
        "tenants: {n} one-event tenants posted: {accepted} decoded, {refused} refused at ingest, {over_limit} refused by the engine (over_limit)"
    );
    println!("tenants: server RSS {before:.0} MiB at start, {after:.0} MiB after");
    println!(
        "tenants: /metrics {series} series, {:.1} MiB, rendered in {:.0} ms (median of 5, worst {:.0} ms)",
        bytes as f64 / 1048576.0,
        renders[2] * 1000.0,
        renders[4] * 1000.0
    );
    Ok(())
}

/// A connection from a loopback address of its own (the server tells
/// clients apart by address).
async fn connect_from(from: &str, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(format!("{from}:0").parse().expect("an address"))?;
    sock.connect(([127, 0, 0, 1], port).into()).await
}

/// [`exchange`], from `from`.
async fn exchange_from(
    from: &str,
    port: u16,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let Ok(mut s) = connect_from(from, port).await else {
        return (0, Vec::new());
    };
    // HTTP/1.0: a streamed body comes whole, not in chunks.
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    if s.write_all(head.as_bytes()).await.is_err() || s.write_all(body).await.is_err() {
        return (0, Vec::new());
    }
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp).await;
    let status = String::from_utf8_lossy(&resp[..resp.len().min(64)])
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, resp)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Poisoned input of every kind ingest sees, each refused.
fn poisoned(k: u64) -> Vec<u8> {
    let ts = now_ms();
    [
        format!(r#"{{"v":1,"id":"p{k}a","ts":{ts},"tenant":"soak-0","type":"agent.state","agent":"a1","state":"away","reason":"meal\u0000"}}"#),
        format!(r#"{{"v":1,"id":"p{k}b","ts":{ts},"tenant":"soak-1","type":"call.queued","call":"c","queue":"q\u0007"}}"#),
        format!(r#"{{"v":1,"id":"p{k}c","ts":{ts},"tenant":"soak-2","type":"call.exited","call":"c","queue":"q1","reason":"a\nb"}}"#),
        format!(r#"{{"v":1,"id":"p{k}d","ts":{ts},"tenant":"soak-3","type":"agent.state","agent":"a1","state":"ready","name":"\u001b[31m"}}"#),
    ]
    .join("\n")
    .into_bytes()
}

/// `soak hard`: the hardening soak (see the file's head).
async fn hard(store: String, seconds: u64, tricklers: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("callboard-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("c.toml"), "[tenants.big]\ntz = \"UTC\"\n")?;
    let log = dir.join("queue_log");
    std::fs::write(&log, "")?;
    let (port, metrics) = (free_port(), free_port());
    let bin = std::env::var("CALLBOARD_BIN").unwrap_or("target/release/callboard".into());
    let mut server = Command::new(&bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .args(["--simulate-tenants", "0", "--log", "warn"])
        .args(["--config", dir.join("c.toml").to_str().unwrap_or_default()])
        .args(["--history", &store])
        .args([
            "--event-log",
            dir.join("events").to_str().unwrap_or_default(),
        ])
        .args([
            "--queue-log",
            log.to_str().unwrap_or_default(),
            "--tenant",
            "pbx",
        ])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {bin} (cargo build --release first): {e}"))?;
    let pid = server.id();
    for _ in 0..100 {
        if http(metrics, "GET", "/readyz", b"").await == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut seq = 0;
    http(port, "POST", "/api/v1/events", &batch(40, &mut seq)).await;
    for _ in 0..50 {
        if http(port, "GET", "/api/v1/tenants/soak-0/snapshot", b"").await == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Clean traffic, 2,000 events a second, and poisoned input beside it.
    let traffic = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut k = 0;
        while Instant::now() < end {
            tick.tick().await;
            exchange_from(
                "127.0.0.3",
                port,
                "POST",
                "/api/v1/events",
                &batch(200, &mut seq),
            )
            .await;
            k += 1;
            if k % 10 == 0 {
                exchange_from("127.0.0.3", port, "POST", "/api/v1/events", &poisoned(k)).await;
            }
        }
    });
    // A site's queue_log: a call a second, and a poisoned line beside it.
    let site = {
        let log = log.clone();
        tokio::spawn(async move {
            let mut k = 0u64;
            while Instant::now() < end {
                let t = now_ms() / 1000;
                let lines = format!(
                    "{t}|s{k}|sales|NONE|ENTERQUEUE||0105550|1\n{t}|s{k}|sales|PJSIP/201|CONNECT|1|b{k}|1\n\
                     {t}|NONE|sales|PJSIP/202|PAUSE|lunch\rbreak|\n{t}|s{k}x|sa\x07les|NONE|ENTERQUEUE||1|1\n"
                );
                let _ = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&log)
                    .and_then(|mut f| std::io::Write::write_all(&mut f, lines.as_bytes()));
                k += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    // Tricklers: a header line every 10 s, never the end; back a second
    // after being cut or refused.
    let cut = Arc::new(AtomicU64::new(0));
    for _ in 0..tricklers {
        let cut = cut.clone();
        tokio::spawn(async move {
            while Instant::now() < end {
                if let Ok(mut s) = connect_from("127.0.0.1", port).await {
                    let _ = s.write_all(b"GET /api/v1/tenants HTTP/1.1\r\n").await;
                    loop {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        if Instant::now() >= end || s.write_all(b"X-Slow: 1\r\n").await.is_err() {
                            break;
                        }
                        let mut b = [0u8; 1];
                        if let Ok(Ok(0)) =
                            tokio::time::timeout(Duration::from_millis(1), s.read(&mut b)).await
                        {
                            break;
                        }
                    }
                    cut.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    // The largest report, every 5 s.
    let reports = tokio::spawn(async move {
        let (mut ok, mut busy, mut bytes) = (0u64, 0u64, 0usize);
        let path =
            "/api/v1/tenants/big/history?from=2026-11-01&to=2026-12-01&by=queue&step=interval";
        while Instant::now() < end {
            let (status, body) = exchange_from("127.0.0.4", port, "GET", path, b"").await;
            match status {
                200 => {
                    ok += 1;
                    bytes = bytes.max(body.len());
                }
                503 => busy += 1,
                _ => {}
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        (ok, busy, bytes)
    });
    // A board from its own address, connected before the tricklers fill up.
    let board = tokio::spawn(async move {
        let stream = connect_from("127.0.0.2", port).await.ok()?;
        let url = format!("ws://127.0.0.1:{port}/api/v1/ws?tenant=soak-0");
        let (ws, _) = tokio_tungstenite::client_async(url, stream).await.ok()?;
        let (_, mut rx) = ws.split();
        let (mut last, mut worst, mut n) = (Instant::now(), Duration::ZERO, 0u64);
        let warm = Instant::now() + Duration::from_secs(5);
        while let Ok(Some(Ok(_))) = tokio::time::timeout_at(end.into(), rx.next()).await {
            let now = Instant::now();
            if now > warm {
                worst = worst.max(now - last);
            }
            last = now;
            n += 1;
        }
        Some((worst.as_secs_f64(), n))
    });
    // Probes.
    let (mut main_probe, mut metrics_probe, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    let mut next_rss = Instant::now();
    while Instant::now() < end {
        for (to, into) in [(port, &mut main_probe), (metrics, &mut metrics_probe)] {
            let t = Instant::now();
            let (code, _) = exchange_from("127.0.0.2", to, "GET", "/healthz", b"").await;
            into.push(if code == 200 {
                t.elapsed().as_secs_f64() * 1000.0
            } else {
                f64::INFINITY
            });
        }
        if Instant::now() >= next_rss {
            rss.push(rss_mib(pid));
            next_rss += Duration::from_secs(5);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    traffic.await?;
    site.await?;
    let (ok, busy, bytes) = reports.await?;
    let board = board.await?;
    // The history: every clean tenant's stored day equals its snapshot.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let mut complete = Vec::new();
    for t in (0..10)
        .map(|k| format!("soak-{k}"))
        .chain(["pbx".to_string()])
    {
        let (_, snap) = exchange_from(
            "127.0.0.2",
            port,
            "GET",
            &format!("/api/v1/tenants/{t}/snapshot"),
            b"",
        )
        .await;
        let (_, report) = exchange_from(
            "127.0.0.2",
            port,
            "GET",
            &format!("/api/v1/tenants/{t}/history?by=tenant&step=day"),
            b"",
        )
        .await;
        let body = |r: &[u8]| -> serde_json::Value {
            let text = String::from_utf8_lossy(r);
            serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap_or("null"))
                .unwrap_or_default()
        };
        let (snap, report) = (body(&snap), body(&report));
        let row = &report["rows"][0];
        let same = snap["totals"]["inbound"] == row["inbound"]
            && snap["totals"]["answered"] == row["answered"];
        complete.push(format!(
            "{t}: {} / {} inbound{}",
            row["inbound"],
            snap["totals"]["inbound"],
            if same {
                String::new()
            } else {
                format!(" DIFFERS ({report})")
            }
        ));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let exited = server.wait()?;
    println!(
        "hard: {seconds} s against {store}, {tricklers} tricklers (cut or refused {} times)",
        cut.load(Ordering::Relaxed)
    );
    println!(
        "hard: /healthz on the main listener p50 {:.1} ms p99 {:.1} ms worst {:.1} ms; on the metrics listener p50 {:.1} ms p99 {:.1} ms worst {:.1} ms",
        percentile(&mut main_probe.clone(), 0.5),
        percentile(&mut main_probe.clone(), 0.99),
        percentile(&mut main_probe, 1.0),
        percentile(&mut metrics_probe.clone(), 0.5),
        percentile(&mut metrics_probe.clone(), 0.99),
        percentile(&mut metrics_probe, 1.0),
    );
    match board {
        Some((gap, n)) => println!("hard: the board got {n} snapshots, the largest gap {gap:.2} s"),
        None => println!("hard: the board could not connect"),
    }
    println!(
        "hard: the big report: {ok} streamed (up to {bytes} bytes), {busy} refused while two ran"
    );
    println!(
        "hard: server RSS {:.0} to {:.0} MiB",
        rss.iter().cloned().fold(f64::MAX, f64::min),
        rss.iter().cloned().fold(0.0, f64::max)
    );
    println!(
        "hard: history of the clean tenants: {}",
        complete.join("; ")
    );
    println!("hard: server exit on SIGTERM: {exited}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    if args.first().map(String::as_str) == Some("tenants") {
        return tenants(arg(1, 20_000)).await;
    }
    if args.first().map(String::as_str) == Some("hard") {
        let store = args
            .get(1)
            .cloned()
            .unwrap_or("/tmp/soak-history.sqlite".into());
        return hard(store, arg(2, 600), arg(3, 4000) as usize).await;
    }
    let (seconds, rate, clients) = (arg(0, 600), arg(1, 2000), arg(2, 200) as usize);
    let (mut server, port) = start_server().await?;
    let pid = server.id();
    let end = Instant::now() + Duration::from_secs(seconds);
    let sent = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    // Seed every tenant so the clients have something to follow, and let
    // the service publish them before the clients subscribe.
    let mut seq = 0;
    http(port, "POST", "/api/v1/events", &batch(40, &mut seq)).await;
    for _ in 0..50 {
        if http(port, "GET", "/api/v1/tenants/soak-9/snapshot", b"").await == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Traffic: 10 batches a second.
    let traffic = {
        let (sent, refused) = (sent.clone(), refused.clone());
        tokio::spawn(async move {
            let per = (rate / 10).max(1) as usize;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while Instant::now() < end {
                tick.tick().await;
                let code = http(port, "POST", "/api/v1/events", &batch(per, &mut seq)).await;
                sent.fetch_add(per as u64, Ordering::Relaxed);
                if code != 200 {
                    refused.fetch_add(per as u64, Ordering::Relaxed);
                }
            }
        })
    };
    // Abuse: garbage bodies and new tenants without end.
    let abuse = tokio::spawn(async move {
        let garbage: Vec<u8> = (0..1_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        let mut flood = 0u64;
        while Instant::now() < end {
            http(port, "POST", "/api/v1/events", &garbage).await;
            let ts = now_ms();
            let body: String = (0..500)
                .map(|_| {
                    flood += 1;
                    format!(
                        r#"{{"v":1,"id":"f{flood}","ts":{ts},"tenant":"flood-{flood}","type":"call.ivr","call":"x"}}"#
                    ) + "\n"
                })
                .collect();
            http(port, "POST", "/api/v1/events", body.as_bytes()).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        flood
    });
    // Clients: a tenth never read; the others note their largest gap.
    let gaps = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = format!("ws://127.0.0.1:{port}/api/v1/ws?tenant=soak-{}", c % 10);
        let gaps = gaps.clone();
        tasks.push(tokio::spawn(async move {
            let ws = match tokio_tungstenite::connect_async(&url).await {
                Ok((ws, _)) => ws,
                Err(e) => {
                    eprintln!("soak: client {c} could not connect: {e}");
                    return;
                }
            };
            if c % 10 == 9 {
                // Never reads: holds the socket until the end.
                tokio::time::sleep_until(end.into()).await;
                drop(ws);
                return;
            }
            let (_, mut rx) = ws.split();
            let mut last = Instant::now();
            let mut worst = Duration::ZERO;
            let warm = Instant::now() + Duration::from_secs(5);
            while let Ok(Some(Ok(_))) = tokio::time::timeout_at(end.into(), rx.next()).await {
                let now = Instant::now();
                if now > warm {
                    worst = worst.max(now - last);
                }
                last = now;
            }
            gaps.lock().await.push(worst.as_secs_f64());
        }));
    }
    // Health and memory.
    let mut health = Vec::new();
    let mut rss = Vec::new();
    let started = Instant::now();
    let mut next_rss = Instant::now();
    while Instant::now() < end {
        let t = Instant::now();
        let code = http(port, "GET", "/healthz", b"").await;
        if code == 200 {
            health.push(t.elapsed().as_secs_f64() * 1000.0);
        } else {
            health.push(f64::INFINITY);
        }
        if Instant::now() >= next_rss {
            rss.push((started.elapsed().as_secs_f64(), rss_mib(pid)));
            next_rss += Duration::from_secs(5);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    traffic.await?;
    let flooded = abuse.await?;
    for t in tasks {
        let _ = t.await;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let exited = server.wait()?;

    let warm: Vec<f64> = rss
        .iter()
        .filter(|(t, _)| *t >= seconds as f64 / 5.0)
        .map(|(_, r)| *r)
        .collect();
    let (lo, hi) = warm
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let mut gaps = gaps.lock().await.clone();
    let worst_gap = gaps.iter().cloned().fold(0.0, f64::max);
    println!(
        "soak: {seconds} s, {rate} events/s asked, {clients} websocket clients ({} never reading)",
        clients / 10
    );
    println!(
        "soak: events sent {}, in refused batches {}; flood tenants posted {flooded}",
        sent.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
    println!(
        "soak: server RSS after warm-up {lo:.1} to {hi:.1} MiB ({:+.1} %)",
        (hi - lo) / lo.max(1.0) * 100.0
    );
    let probes = health.len();
    println!(
        "soak: /healthz p50 {:.1} ms, p99 {:.1} ms, worst {:.1} ms ({probes} probes)",
        percentile(&mut health.clone(), 0.5),
        percentile(&mut health.clone(), 0.99),
        percentile(&mut health, 1.0),
    );
    println!(
        "soak: reading clients {}, largest snapshot gap {worst_gap:.2} s (p99 of clients {:.2} s)",
        gaps.len(),
        percentile(&mut gaps, 0.99)
    );
    println!("soak: server exit on SIGTERM: {exited}");
    Ok(())
}
