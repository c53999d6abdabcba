//! The service through real sockets: HTTP ingest in, REST, websocket and
//! /metrics out, compared with `callboard replay` of the same events.

use std::sync::Arc;
use std::time::Duration;

use callboard::cmd::replay::{ReplayOptions, replay};
use callboard::cmd::serve::settings::{HttpSettings, ServeSettings};
use callboard::config::Config;
use callboard::decode::Format;
use callboard::http::listener::ConnectionLimits;

use crate::support::server::{Server, engine, now_ms};
use callboard::time::{Millis, format_rfc3339};
use callboard::wire::Snapshot;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

const CONFIG: &str = r#"
[tenants.acme]
tz = "Asia/Seoul"
[tenants.acme.queues.q1]
service = "sales"
[tenants.waiting-room]
tz = "UTC"
"#;

async fn start() -> Server {
    start_with(ServeSettings {
        engine: engine(2, 20),
        ..ServeSettings::default()
    })
    .await
}

async fn start_with(settings: ServeSettings) -> Server {
    Server::start(Config::parse(CONFIG, None, None).unwrap(), settings).await
}

async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String, String) {
    crate::support::http(addr, method, path, &[], body).await
}

/// A few minutes of calls and agents for `tenant`, starting at `from`.
fn events(tenant: &str, from: Millis) -> String {
    let steps: [(i64, &str, &str); 7] = [
        (
            0,
            "agent.state",
            r#""agent":"a1","state":"ready","services":["sales"]"#,
        ),
        (1, "call.queued", r#""call":"c1","queue":"q1""#),
        (9, "call.answered", r#""call":"c1","agent":"a1""#),
        (9, "agent.state", r#""agent":"a1","state":"talking""#),
        (20, "call.queued", r#""call":"c2","queue":"q1""#),
        (50, "call.abandoned", r#""call":"c2""#),
        (
            60,
            "call.queued",
            r#""call":"c3","queue":"q2","service":"support""#,
        ),
    ];
    steps
        .iter()
        .enumerate()
        .map(|(i, (s, ty, fields))| {
            let ts = format_rfc3339(from + s * 1000);
            format!(
                r#"{{"v":1,"id":"{tenant}-{i}","ts":"{ts}","tenant":"{tenant}","type":"{ty}",{fields}}}"#
            ) + "\n"
        })
        .collect()
}

async fn snapshot(addr: std::net::SocketAddr, tenant: &str) -> (u64, Snapshot) {
    let (status, head, body) = http(
        addr,
        "GET",
        &format!("/api/v1/tenants/{tenant}/snapshot"),
        "",
    )
    .await;
    assert_eq!(status, 200, "{head}\n{body}");
    let seq = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-callboard-seq: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("x-callboard-seq header");
    (seq, serde_json::from_str(&body).unwrap())
}

/// Waits until the tenant's published snapshot has applied `n` inbound calls.
async fn wait_for(addr: std::net::SocketAddr, tenant: &str, inbound: u64) -> Snapshot {
    for _ in 0..200 {
        let (status, _, body) = http(
            addr,
            "GET",
            &format!("/api/v1/tenants/{tenant}/snapshot"),
            "",
        )
        .await;
        if status == 200 {
            let s: Snapshot = serde_json::from_str(&body).unwrap();
            if s.totals.calls.inbound >= inbound {
                return s;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{tenant} never reached {inbound} inbound calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingested_events_come_out_as_replay_computes_them() {
    let srv = start().await;
    let from = now_ms() - 120_000;
    let body = events("acme", from) + &events("globex", from);
    let (status, _, report) = http(srv.addr, "POST", "/api/v1/events", &body).await;
    assert_eq!(status, 200, "{report}");
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        (report["accepted"].as_u64(), report["rejected"].as_u64()),
        (Some(14), Some(0))
    );

    let served = wait_for(srv.addr, "acme", 3).await;
    let opts = ReplayOptions {
        format: Format::Ndjson,
        tenant: Some("acme".into()),
        at: Some(served.at.0),
    };
    let config = Arc::new(Config::parse(CONFIG, None, None).unwrap());
    let (replayed, _) = replay(body.as_bytes(), config, &opts, |_, _| {}).unwrap();
    assert_eq!(
        served, replayed[0],
        "REST snapshot = replay of the same events at the same time"
    );
    assert_eq!(served.tz, "Asia/Seoul");

    let tenants = http(srv.addr, "GET", "/api/v1/tenants", "").await.2;
    let tenants: Value = serde_json::from_str(&tenants).unwrap();
    let names: Vec<&str> = tenants["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "globex"]);
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_error_is_a_json_error_that_says_what_is_wrong() {
    let srv = start().await;
    http(
        srv.addr,
        "POST",
        "/api/v1/events",
        &events("acme", now_ms() - 60_000),
    )
    .await;
    for (method, path, status, says) in [
        ("GET", "/nope", 404, "no such route: /nope"),
        (
            "DELETE",
            "/api/v1/tenants",
            405,
            "DELETE is not allowed on /api/v1/tenants",
        ),
        (
            "GET",
            "/api/v1/tenants/acme/snapshot?view=services&view=full",
            400,
            "duplicate field `view`",
        ),
        ("GET", "/api/v1/tenants/%ff/snapshot", 400, "Invalid UTF-8"),
        (
            "GET",
            "/api/v1/ws?tenant=a&tenant=b",
            400,
            "duplicate field `tenant`",
        ),
        (
            "GET",
            "/api/v1/tenants/nope/snapshot",
            404,
            "no tenant `nope`",
        ),
        // The config names it, no event of it has come: not "no such
        // tenant".
        (
            "GET",
            "/api/v1/tenants/waiting-room/snapshot",
            503,
            "no figures yet",
        ),
    ] {
        let (got, head, body) = http(srv.addr, method, path, "").await;
        assert_eq!(got, status, "{method} {path}: {body}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{method} {path}: {head}"
        );
        let v: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
        let error = v["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{method} {path}: {error}");
    }
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_reports_rejections_by_reason() {
    let srv = start().await;
    let good = events("acme", now_ms() - 60_000);
    let body = format!(
        "{}not json\n{{\"v\":1}}\n",
        good.lines().next().unwrap().to_owned() + "\n"
    );
    let (status, _, report) = http(srv.addr, "POST", "/api/v1/events", &body).await;
    assert_eq!(status, 200);
    let r: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(r["accepted"], 1);
    assert_eq!(r["rejected"], 2);
    assert_eq!(r["reasons"]["invalid_json"], 1);
    assert_eq!(r["reasons"]["missing_field"], 1);
    assert_eq!(r["errors"][0]["index"], 1);

    // A JSON array works too; all rejected is a 400.
    let (status, _, _) = http(
        srv.addr,
        "POST",
        "/api/v1/events",
        &format!("[{}]", good.lines().nth(1).unwrap()),
    )
    .await;
    assert_eq!(status, 200);
    // A byte-order mark before the body (as some Windows tools write) is
    // not part of the first event, in NDJSON and in an array alike.
    let lines: Vec<&str> = good.lines().collect();
    for body in [
        format!("\u{feff}{}\n", lines[2]),
        format!("\u{feff}[{}]", lines[3]),
    ] {
        let (status, _, report) = http(srv.addr, "POST", "/api/v1/events", &body).await;
        assert_eq!(status, 200, "{report}");
        let r: Value = serde_json::from_str(&report).unwrap();
        assert_eq!(
            (r["accepted"].as_u64(), r["rejected"].as_u64()),
            (Some(1), Some(0)),
            "{report}"
        );
    }
    // A compressed body is refused whole, saying why.
    let (status, _, report) = crate::support::http(
        srv.addr,
        "POST",
        "/api/v1/events",
        &[("Content-Encoding", "gzip")],
        lines[4],
    )
    .await;
    assert_eq!(status, 415, "{report}");
    assert!(report.contains("Content-Encoding `gzip`"), "{report}");
    let (status, _, report) = http(srv.addr, "POST", "/api/v1/events", "[1, {\"v\":1}]").await;
    assert_eq!(status, 400, "{report}");
    let (status, _, _) = http(srv.addr, "POST", "/api/v1/events", "[1, ").await;
    assert_eq!(status, 400);
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_answer_counts_what_the_engine_refused() {
    let config = format!("{CONFIG}\n[limits]\nmax_tenants = 3\n");
    let srv = Server::start(
        Config::parse(&config, None, None).unwrap(),
        ServeSettings {
            engine: engine(2, 20),
            ..ServeSettings::default()
        },
    )
    .await;
    // acme and waiting-room are configured and held; one more tenant
    // fits, the other four do not, whichever shard each lands on.
    let now = now_ms() - 1_000;
    for t in ["acme", "waiting-room"] {
        let line = format!(
            r#"{{"v":1,"id":"{t}","ts":{now},"tenant":"{t}","type":"agent.state","agent":"a","state":"ready"}}"#
        );
        let (status, _, report) = http(srv.addr, "POST", "/api/v1/events", &line).await;
        assert_eq!(status, 200, "{report}");
    }
    // A new tenant whose event is refused (an abandon of a wait begun on a
    // closed day) is not made, and takes no place.
    let begun = now - 3 * 86_400_000;
    let line = format!(
        r#"{{"v":1,"id":"g","ts":{now},"tenant":"ghost","type":"call.abandoned","call":"c","queue":"q","queued_ts":{begun}}}"#
    );
    let (status, _, report) = http(srv.addr, "POST", "/api/v1/events", &line).await;
    assert_eq!(status, 400, "{report}");
    let body: String = (0..5)
        .map(|i| {
            format!(
                r#"{{"v":1,"id":"x{i}","ts":{now},"tenant":"new-{i}","type":"call.queued","call":"c","queue":"q"}}"#
            ) + "\n"
        })
        .collect();
    let (status, _, report) = http(srv.addr, "POST", "/api/v1/events", &body).await;
    assert_eq!(status, 200, "{report}");
    let r: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(1), Some(4)),
        "{report}"
    );
    assert_eq!(r["reasons"]["over_limit"], 4);
    let places: Vec<u64> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    // The first new tenant of the body fits, as in a replay, whichever
    // shards they land on; each refusal names its line.
    assert_eq!(places, [1, 2, 3, 4], "{report}");
    // (Listed once published.)
    let mut names = Vec::new();
    for _ in 0..100 {
        let (_, _, list) = http(srv.addr, "GET", "/api/v1/tenants", "").await;
        let list: Value = serde_json::from_str(&list).unwrap();
        names = list["tenants"]
            .as_array()
            .unwrap_or_else(|| panic!("{list}"))
            .iter()
            .map(|t| {
                t["tenant"]
                    .as_str()
                    .unwrap_or_else(|| t.as_str().unwrap())
                    .to_string()
            })
            .collect();
        if names.iter().any(|n| n == "new-0") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        names.iter().any(|n| n == "new-0") && !names.iter().any(|n| n == "ghost"),
        "{names:?}"
    );

    // A call of three days ago, after today's: its day is closed.
    let today = format_rfc3339(now);
    let old = format_rfc3339(now - 3 * 86_400_000);
    let body = format!(
        "{}\n{}\n",
        format_args!(
            r#"{{"v":1,"id":"t1","ts":"{today}","tenant":"acme","type":"call.queued","call":"c1","queue":"q1"}}"#
        ),
        format_args!(
            r#"{{"v":1,"id":"t2","ts":"{old}","tenant":"acme","type":"call.queued","call":"c2","queue":"q1"}}"#
        ),
    );
    let (status, _, report) = http(srv.addr, "POST", "/api/v1/events", &body).await;
    assert_eq!(status, 200, "{report}");
    let r: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(r["reasons"]["too_old"], 1, "{report}");
    assert_eq!(r["errors"][0]["index"], 1);
    let (_, _, metrics) = http(srv.addr, "GET", "/metrics", "").await;
    // (Other tests of this process count into the same series.)
    let rejected = |reason: &str| {
        let series =
            format!(r#"callboard_events_rejected_total{{source="http",reason="{reason}"}}"#);
        crate::support::metric(&metrics, &series)
    };
    assert!(
        rejected("too_old") >= 1.0 && rejected("over_limit") >= 4.0,
        "{metrics}"
    );

    // An empty body holds no event: a 400 that says so.
    for empty in ["", "\n\n", "[]"] {
        let (status, _, report) = http(srv.addr, "POST", "/api/v1/events", empty).await;
        assert_eq!(status, 400, "{empty:?}: {report}");
    }
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

/// A body over the limit is `too_large`; one the client stops sending
/// before its announced length is `incomplete`, a failed request and not
/// rejected input (it does not feed the rejecting-input alert).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_is_incomplete_not_too_large() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = start().await;
    // A series not yet in /metrics counts 0.
    let metric = |m: &str, series: &str| {
        m.lines()
            .find_map(|l| {
                l.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0)
    };
    let too_large = r#"callboard_events_rejected_total{source="http",reason="too_large"}"#;
    let incomplete = "callboard_ingest_incomplete_total";
    let (_, _, before) = http(srv.addr, "GET", "/metrics", "").await;

    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let head = "POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(br#"{"v":1,"id":"x","#).await.unwrap();
    s.shutdown().await.unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("incomplete"), "{answer}");

    let big = "x".repeat(callboard::sources::ingest::MAX_INGEST_BYTES + 10);
    let (status, _, body) = http(srv.addr, "POST", "/api/v1/events", &big).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("too_large"), "{body}");

    let (_, _, after) = http(srv.addr, "GET", "/metrics", "").await;
    assert_eq!(metric(&after, too_large) - metric(&before, too_large), 1.0);
    assert!(metric(&after, incomplete) - metric(&before, incomplete) >= 1.0);
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_dated_ahead_of_the_clock_is_rejected_and_freezes_nothing() {
    let srv = start().await;
    let ahead = r#"{"v":1,"id":"f1","ts":"9999-12-31T00:00:00Z","tenant":"acme","type":"call.queued","call":"f","queue":"q1"}"#;
    let (status, _, report) = http(srv.addr, "POST", "/api/v1/events", ahead).await;
    assert_eq!(status, 400, "{report}");
    let r: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        (r["accepted"].as_u64(), r["reasons"]["future_ts"].as_u64()),
        (Some(0), Some(1))
    );
    // Ten minutes fast is over the default 5-minute skew too.
    let fast = events("acme", now_ms() + 600_000);
    let (status, _, _) = http(
        srv.addr,
        "POST",
        "/api/v1/events",
        fast.lines().next().unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    // The tenant still counts what happens now.
    let now = events("acme", now_ms() - 2_000);
    let queued = now.lines().nth(1).unwrap();
    let (status, _, report) = http(srv.addr, "POST", "/api/v1/events", queued).await;
    assert_eq!(status, 200, "{report}");
    let s = wait_for(srv.addr, "acme", 1).await;
    assert_eq!(s.totals.calls.inbound, 1);
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_mode_refuses_foreign_hosts_and_cross_site_writes() {
    let srv = start().await;
    let event = events("acme", now_ms() - 5_000);
    let one = event.lines().nth(1).unwrap();
    // A DNS-rebinding page reaches 127.0.0.1 under its own name: refused.
    let (status, _, body) = crate::support::http(
        srv.addr,
        "GET",
        "/api/v1/tenants",
        &[("Host", "evil.example")],
        "",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // A web page of another origin posting events: refused, nothing counted.
    let (status, _, _) = crate::support::http(
        srv.addr,
        "POST",
        "/api/v1/events",
        &[
            ("Origin", "http://evil.example"),
            ("Content-Type", "text/plain"),
        ],
        one,
    )
    .await;
    assert_eq!(status, 403);
    // The same from a local tool (no Origin) is fine, under any loopback name.
    for host in ["localhost:8080", "127.0.0.1", "[::1]:8080"] {
        let (status, _, body) =
            crate::support::http(srv.addr, "GET", "/api/v1/tenants", &[("Host", host)], "").await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    let (status, _, _) = http(srv.addr, "POST", "/api/v1/events", one).await;
    assert_eq!(status, 200);
    assert_eq!(wait_for(srv.addr, "acme", 1).await.totals.calls.inbound, 1);
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_sends_the_snapshot_then_each_new_one_in_sequence() {
    let srv = start().await;
    let from = now_ms() - 120_000;
    let all = events("acme", from);
    let lines: Vec<&str> = all.lines().collect();
    http(
        srv.addr,
        "POST",
        "/api/v1/events",
        &(lines[..2].join("\n") + "\n"),
    )
    .await;
    let (seq0, _) = {
        wait_for(srv.addr, "acme", 1).await;
        snapshot(srv.addr, "acme").await
    };

    let url = format!("ws://{}/api/v1/ws?tenant=acme", srv.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let first = next_snapshot(&mut ws).await;
    assert!(first.0 >= seq0, "the current snapshot comes first");
    assert_eq!(first.1["totals"]["inbound"], 1);

    http(
        srv.addr,
        "POST",
        "/api/v1/events",
        &(lines[2..].join("\n") + "\n"),
    )
    .await;
    let mut last = first.0;
    loop {
        let (seq, snap) = next_snapshot(&mut ws).await;
        assert!(seq > last, "sequence numbers increase: {seq} after {last}");
        last = seq;
        if snap["totals"]["inbound"] == 3 {
            break;
        }
    }

    // A service's view carries only that service.
    let url = format!("ws://{}/api/v1/ws?tenant=acme&service=support", srv.addr);
    let (mut svc, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (_, view) = next_snapshot(&mut svc).await;
    assert_eq!(view["totals"]["inbound"], 1);
    assert_eq!(view["queues"].as_array().unwrap().len(), 1);
    assert_eq!(view["queues"][0]["queue"], "q2");

    // A service the tenant does not have (a typo in a screen's address) is
    // a 404 naming the ones it has, not an empty board; an empty one a 400.
    for (query, status, says) in [
        (
            "service=suport",
            404,
            "no service `suport`; its services: sales, support",
        ),
        ("service=", 400, "must name a service"),
    ] {
        let url = format!("ws://{}/api/v1/ws?tenant=acme&{query}", srv.addr);
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status(), status, "{query}");
                let body =
                    String::from_utf8_lossy(r.body().as_deref().unwrap_or_default()).into_owned();
                assert!(body.contains(says), "{query}: {body}");
            }
            other => panic!("{query}: {:?}", other.map(|_| "connected")),
        }
    }

    // Shutting down closes the socket with a close frame.
    srv.stop.cancel();
    let mut closed = false;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        if let Ok(Message::Close(frame)) = msg {
            assert_eq!(frame.map(|f| u16::from(f.code)), Some(1001));
            closed = true;
            break;
        }
    }
    assert!(closed, "no close frame");
    let _ = ws.close(None).await;
    srv.task.await.unwrap().unwrap();
}

async fn next_snapshot<S>(ws: &mut S) -> (u64, Value)
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("stream open")
            .expect("no error");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["type"], "snapshot");
            return (v["seq"].as_u64().unwrap(), v["snapshot"].clone());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tenants_health_and_metrics() {
    let srv = start().await;
    let (status, _, body) = http(srv.addr, "GET", "/api/v1/tenants/nobody/snapshot", "").await;
    assert_eq!(status, 404);
    assert!(body.contains("no tenant `nobody`"), "{body}");
    let url = format!("ws://{}/api/v1/ws?tenant=nobody", srv.addr);
    assert!(
        tokio_tungstenite::connect_async(&url).await.is_err(),
        "unknown tenant refused"
    );
    // A tenant the config names can be waited for before its first event.
    let url = format!("ws://{}/api/v1/ws?tenant=waiting-room", srv.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    http(
        srv.addr,
        "POST",
        "/api/v1/events",
        &format!(
            r#"{{"v":1,"id":"w1","ts":{},"tenant":"waiting-room","type":"call.queued","call":"c","queue":"q"}}"#,
            now_ms() - 1000
        ),
    )
    .await;
    let (_, snap) = next_snapshot(&mut ws).await;
    assert_eq!(snap["totals"]["waiting"], 1);
    let _ = ws.send(Message::Close(None)).await;

    assert_eq!(http(srv.addr, "GET", "/healthz", "").await.0, 200);
    assert_eq!(http(srv.addr, "GET", "/readyz", "").await.0, 200);
    let (status, _, metrics) = http(srv.addr, "GET", "/metrics", "").await;
    assert_eq!(status, 200);
    for name in [
        "callboard_inbound_calls_total{",
        "callboard_waiting_calls{",
        "callboard_tenant_agents{",
        "callboard_events_total{",
        "callboard_publish_duration_seconds_bucket",
        "# HELP callboard_inbound_calls_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert!(!metrics.contains("agent=\""), "no agent label");
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_and_covers_every_route() {
    let srv = start().await;
    let (status, _, served) = http(srv.addr, "GET", "/api/v1/openapi.json", "").await;
    assert_eq!(status, 200);
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/openapi.json"),
    )
    .unwrap();
    assert_eq!(served, committed);
    let doc: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for p in paths.keys() {
        // Every documented path answers (not 404), and each referenced
        // schema file is served.
        let concrete = p.replace("{tenant}", "acme");
        let method = if p == "/api/v1/events" { "POST" } else { "GET" };
        let (status, _, body) = http(srv.addr, method, &concrete, "").await;
        // A handler's 404 says why in JSON; the router's own 404 is empty.
        assert!(
            status != 404 || body.contains("\"error\""),
            "{p} is documented but not served"
        );
    }
    for route in [
        "/api/v1/tenants",
        "/api/v1/tenants/{tenant}/snapshot",
        "/api/v1/tenants/{tenant}/history",
        "/api/v1/tenants/{tenant}/messages",
        "/api/v1/tenants/{tenant}/messages/{id}",
        "/api/v1/ws",
        "/api/v1/events",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(route),
            "{route} is served but not documented"
        );
    }
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

/// A server with small connection limits, for the tests below.
async fn start_limited(connections: ConnectionLimits) -> Server {
    Server::start_with_metrics(
        Config::parse(CONFIG, None, None).unwrap(),
        ServeSettings {
            engine: engine(1, 20),
            http: HttpSettings {
                connections,
                shutdown_grace: Duration::from_secs(1),
                ..HttpSettings::default()
            },
            ..ServeSettings::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_does_not_hold_up_shutdown() {
    use tokio::io::AsyncWriteExt;
    let srv = start_limited(ConnectionLimits {
        max_connections: 64,
        idle_timeout: Duration::from_secs(3600),
        request_timeout: Duration::from_secs(3600),
        ..ConnectionLimits::default()
    })
    .await;
    let one = events("acme", now_ms() - 5_000);
    let (status, _, _) = http(
        srv.addr,
        "POST",
        "/api/v1/events",
        one.lines().nth(1).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    // One byte of a request line, never finished.
    let mut slow = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    slow.write_all(b"G").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    srv.stop.cancel();
    // Not a timing assertion: a hang would never end; a minute is "never".
    let stopped = tokio::time::timeout(Duration::from_secs(60), srv.task).await;
    assert!(
        stopped.is_ok(),
        "the service did not stop while a client held a half-sent request"
    );
    drop(slow);
}

/// Reads until the server closes the connection (0), or the error.
async fn closed(s: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_bounded_and_silent_ones_closed() {
    let srv = start_limited(ConnectionLimits {
        max_pending: 2,
        idle_timeout: Duration::from_secs(1),
        ..ConnectionLimits::default()
    })
    .await;
    // Two clients take the two places of new connections, send nothing.
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(tokio::net::TcpStream::connect(srv.addr).await.unwrap());
    }
    // A third is served once the silent ones have been closed.
    let (status, _, _) = http(srv.addr, "GET", "/healthz", "").await;
    assert_eq!(status, 200);
    for mut s in idle {
        assert!(closed(&mut s).await, "a silent connection is closed");
    }
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

/// Clients that trickle half a request (a header line at a time, never
/// the end) hold no place past the request timeout, however steadily they
/// send; boards already in keep theirs; the metrics listener answers
/// probes all along; and /metrics tells the pressure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_clients_lock_no_one_out() {
    use tokio::io::AsyncWriteExt;
    let srv = start_limited(ConnectionLimits {
        max_connections: 8,
        max_pending: 4,
        max_pending_per_address: 64,
        request_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(30),
    })
    .await;
    // A board, connected first (authenticated: its place is its own).
    let url = format!("ws://{}/api/v1/ws?tenant=acme", srv.addr);
    let (mut board, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut tricklers = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(b"GET /api/v1/tenants HTTP/1.1\r\n")
            .await
            .unwrap();
        tricklers.push(s);
    }
    let trickle = tokio::spawn(async move {
        let mut cut = 0;
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            for s in &mut tricklers {
                if s.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    cut += 1;
                }
            }
            if cut >= tricklers.len() {
                break;
            }
        }
        tricklers
    });
    // The pending places are all taken: probes go to the metrics listener.
    let metrics = srv.metrics.unwrap();
    let (status, _, _) = http(metrics, "GET", "/healthz", "").await;
    assert_eq!(status, 200);

    // The board is still served, though the tricklers keep sending.
    board.send(Message::Ping(vec![1].into())).await.unwrap();
    // Within the request timeout every trickler is cut, and new
    // connections are served again.
    let mut tricklers = trickle.await.unwrap();
    for s in &mut tricklers {
        assert!(
            closed(s).await,
            "a trickling connection is closed at its deadline"
        );
    }
    let (status, _, _) = http(srv.addr, "GET", "/healthz", "").await;
    assert_eq!(status, 200);
    let (_, _, text) = http(metrics, "GET", "/metrics", "").await;
    assert!(
        crate::support::metric(
            &text,
            r#"callboard_http_connections_closed_total{listener="main",reason="request_timeout"}"#
        ) >= 4.0,
        "{text}"
    );
    let got = tokio::time::timeout(Duration::from_secs(5), board.next()).await;
    assert!(
        matches!(got, Ok(Some(Ok(_)))),
        "the board is served: {got:?}"
    );
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

/// Authenticated connections have a bound of their own: past it a data
/// request is refused with a 503, while health checks (new connections)
/// are still served; one address holds at most its share of new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_and_per_address_bounds() {
    let srv = start_limited(ConnectionLimits {
        max_connections: 2,
        max_pending: 16,
        max_pending_per_address: 3,
        ..ConnectionLimits::default()
    })
    .await;
    let url = format!("ws://{}/api/v1/ws?tenant=acme", srv.addr);
    let mut boards = Vec::new();
    for _ in 0..2 {
        boards.push(tokio_tungstenite::connect_async(&url).await.unwrap().0);
    }
    let third = tokio_tungstenite::connect_async(&url).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 503),
        other => panic!("a third board: {other:?}"),
    }
    let (status, _, _) = http(srv.addr, "GET", "/healthz", "").await;
    assert_eq!(status, 200, "health checks are not held up by boards");
    drop(boards);

    // Three silent new connections from 127.0.0.1 are its share: a fourth
    // is closed at once.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(tokio::net::TcpStream::connect(srv.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    assert!(closed(&mut fourth).await, "the fourth is closed");
    drop(silent);
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

/// A board view that lists no agents (`?view=services`, ...) gets the
/// snapshot without its agent list, most of a large tenant's bytes, and
/// the open callbacks still name their agents; agent views get it whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_that_list_no_agents_get_no_agent_list() {
    let srv = start().await;
    let t = now_ms() - 60_000;
    let lines = [
        format!(r#"{{"v":1,"id":"a","ts":{t},"tenant":"acme","type":"agent.state","agent":"a1","state":"ready","services":["sales"],"name":"김민준"}}"#),
        format!(r#"{{"v":1,"id":"b","ts":{},"tenant":"acme","type":"call.queued","call":"c1","queue":"q1"}}"#, t + 1000),
        format!(r#"{{"v":1,"id":"c","ts":{},"tenant":"acme","type":"callback.requested","callback":"k1","service":"sales"}}"#, t + 2000),
        format!(r#"{{"v":1,"id":"d","ts":{},"tenant":"acme","type":"callback.assigned","callback":"k1","agent":"a1"}}"#, t + 3000),
    ]
    .join("\n");
    assert_eq!(
        http(srv.addr, "POST", "/api/v1/events", &lines).await.0,
        200
    );
    let mut full = Value::Null;
    for _ in 0..100 {
        let (status, _, body) = http(srv.addr, "GET", "/api/v1/tenants/acme/snapshot", "").await;
        if status == 200 {
            full = serde_json::from_str(&body).unwrap();
            if full["callbacks"]["open_by_agent"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(full["agent_list"].as_array().unwrap().len(), 1);
    assert_eq!(full["callbacks"]["open_by_agent"][0]["name"], "김민준");
    for view in [
        "overview",
        "services",
        "agents",
        "dashboard",
        "waiting-calls",
    ] {
        let (status, _, body) = http(
            srv.addr,
            "GET",
            &format!("/api/v1/tenants/acme/snapshot?view={view}"),
            "",
        )
        .await;
        assert_eq!(status, 200, "{view}: {body}");
        let got: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(got["agent_list"], serde_json::json!([]), "{view}");
        assert_eq!(
            got["callbacks"]["open_by_agent"][0]["name"], "김민준",
            "{view}"
        );
        assert_eq!(got["totals"], full["totals"], "{view}");
    }
    for view in ["agent-list", "agent-stats"] {
        let (_, _, body) = http(
            srv.addr,
            "GET",
            &format!("/api/v1/tenants/acme/snapshot?view={view}"),
            "",
        )
        .await;
        let got: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(got["agent_list"].as_array().unwrap().len(), 1, "{view}");
    }
    let (status, _, body) = http(
        srv.addr,
        "GET",
        "/api/v1/tenants/acme/snapshot?view=wall",
        "",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("unknown view `wall`"), "{body}");
    // The websocket too.
    let url = format!("ws://{}/api/v1/ws?tenant=acme&view=dashboard", srv.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let msg = ws.next().await.unwrap().unwrap();
    let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
    assert_eq!(v["snapshot"]["agent_list"], serde_json::json!([]));
    assert_eq!(v["snapshot"]["tenant"], "acme");
    let bad = format!("ws://{}/api/v1/ws?tenant=acme&view=wall", srv.addr);
    match tokio_tungstenite::connect_async(&bad).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 400),
        other => panic!("an unknown view: {:?}", other.map(|_| ())),
    }
    srv.stop.cancel();
    let _ = srv.task.await;
}

/// A websocket client that offers `permessage-deflate` and reads frames as
/// they come off the wire (tungstenite's client takes no compression).
struct RawWs {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    /// Connects and returns the client and the server's
    /// `Sec-WebSocket-Extensions` answer (empty: none).
    async fn connect(addr: std::net::SocketAddr, path: &str, offer: &str) -> (RawWs, String) {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let offer = if offer.is_empty() {
            String::new()
        } else {
            format!("Sec-WebSocket-Extensions: {offer}\r\n")
        };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{offer}\r\n"
        );
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut ws = RawWs {
            stream,
            buf: Vec::new(),
        };
        let head = loop {
            if let Some(end) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(ws.buf[..end].to_vec()).unwrap();
                ws.buf.drain(..end + 4);
                break head;
            }
            ws.fill().await;
        };
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "{head}"
        );
        let extensions = head
            .lines()
            .find_map(|l| l.strip_prefix("sec-websocket-extensions: "))
            .unwrap_or("")
            .to_string();
        (ws, extensions)
    }

    async fn fill(&mut self) {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 65536];
        let n = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk))
            .await
            .expect("bytes within 5 s")
            .unwrap();
        assert!(n > 0, "the server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// The next frame: its first octet (FIN, RSV1-3, opcode) and payload.
    async fn frame(&mut self) -> (u8, Vec<u8>) {
        loop {
            if self.buf.len() >= 2 {
                assert_eq!(self.buf[1] & 0x80, 0, "a server's frames are not masked");
                let (len, at) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let first = self.buf[0];
                    let payload = self.buf[at..at + len].to_vec();
                    self.buf.drain(..at + len);
                    return (first, payload);
                }
            }
            self.fill().await;
        }
    }

    /// The next snapshot message: whether it came compressed, and its text.
    async fn snapshot(&mut self) -> (bool, String) {
        loop {
            let (first, payload) = self.frame().await;
            assert_eq!(first & 0x80, 0x80, "each message is one frame");
            if first & 0x0f == 1 {
                let compressed = first & 0x40 != 0;
                let text = if compressed {
                    callboard::wire::inflate(&payload).expect("valid DEFLATE")
                } else {
                    payload
                };
                return (compressed, String::from_utf8(text).unwrap());
            }
        }
    }
}

fn seq_of(message: &str) -> u64 {
    serde_json::from_str::<Value>(message).unwrap()["seq"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_that_offers_compression_gets_the_same_snapshots_compressed() {
    let srv = start().await;
    let t = now_ms() - 60_000;
    let lines: String = (0..300)
        .map(|i| {
            format!(
                "{{\"v\":1,\"id\":\"s{i}\",\"ts\":{},\"tenant\":\"acme\",\"type\":\"agent.state\",\"agent\":\"a{i}\",\"state\":\"ready\",\"services\":[\"sales\"],\"name\":\"Agent {i}\"}}\n",
                t + i
            )
        })
        .collect();
    assert_eq!(
        http(srv.addr, "POST", "/api/v1/events", &lines).await.0,
        200
    );
    let mut full = Value::Null;
    for _ in 0..250 {
        let (status, _, body) = http(srv.addr, "GET", "/api/v1/tenants/acme/snapshot", "").await;
        if status == 200 {
            full = serde_json::from_str(&body).unwrap();
            if full["agent_list"]
                .as_array()
                .is_some_and(|a| a.len() == 300)
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(full["agent_list"].as_array().unwrap().len(), 300);

    // What Chromium and Firefox offer.
    let path = "/api/v1/ws?tenant=acme";
    let offer = "permessage-deflate; client_max_window_bits";
    let (mut zipped, answer) = RawWs::connect(srv.addr, path, offer).await;
    assert_eq!(
        answer,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    let (mut plain, answer) = RawWs::connect(srv.addr, path, "").await;
    assert_eq!(answer, "", "no offer, no compression");
    // A window the server cannot keep to: declined, served plain.
    let (mut narrow, answer) = RawWs::connect(
        srv.addr,
        path,
        "permessage-deflate; server_max_window_bits=9",
    )
    .await;
    assert_eq!(answer, "");

    // Each compressed message, inflated, is the plain message of the same
    // number byte for byte; and much smaller on the wire.
    let (compressed, z) = zipped.snapshot().await;
    assert!(compressed, "the first message is compressed");
    let (compressed, p) = plain.snapshot().await;
    assert!(!compressed);
    let (compressed, n) = narrow.snapshot().await;
    assert!(!compressed);
    assert_eq!(
        seq_of(&z),
        seq_of(&p),
        "both get the current snapshot first"
    );
    assert_eq!(z, p);
    assert_eq!(n, p);
    let v: Value = serde_json::from_str(&z).unwrap();
    assert_eq!(v["snapshot"]["agent_list"], full["agent_list"]);

    // New events: the next ones too.
    let more: String = (0..50)
        .map(|i| {
            format!(
                "{{\"v\":1,\"id\":\"b{i}\",\"ts\":{},\"tenant\":\"acme\",\"type\":\"agent.state\",\"agent\":\"a{i}\",\"state\":\"away\",\"services\":[\"sales\"]}}\n",
                t + 1000 + i
            )
        })
        .collect();
    assert_eq!(http(srv.addr, "POST", "/api/v1/events", &more).await.0, 200);
    let mut plain_by_seq = std::collections::HashMap::new();
    let mut last = seq_of(&z);
    let mut wire = 0;
    let mut text = 0;
    loop {
        let (first, payload) = zipped.frame().await;
        if first & 0x0f != 1 {
            continue;
        }
        assert_eq!(first & 0x40, 0x40, "compressed");
        let message = String::from_utf8(callboard::wire::inflate(&payload).unwrap()).unwrap();
        let seq = seq_of(&message);
        assert!(seq > last, "{seq} after {last}");
        last = seq;
        wire += payload.len();
        text += message.len();
        while !plain_by_seq.contains_key(&seq) {
            let (_, p) = plain.snapshot().await;
            let s = seq_of(&p);
            if s > seq {
                break;
            }
            plain_by_seq.insert(s, p);
        }
        if let Some(p) = plain_by_seq.get(&seq) {
            assert_eq!(&message, p, "number {seq}");
        }
        let v: Value = serde_json::from_str(&message).unwrap();
        if v["snapshot"]["agents"]["ready"] == 250 {
            break;
        }
    }
    assert!(wire * 5 < text, "{wire} bytes on the wire for {text}");
    srv.stop.cancel();
    let _ = srv.task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_views_get_a_snapshot_a_second_and_the_newest_at_the_end() {
    let srv = start().await;
    let t = now_ms() - 60_000;
    let post = |i: u64| {
        let state = if i % 2 == 0 { "ready" } else { "away" };
        format!(
            "{{\"v\":1,\"id\":\"e{i}\",\"ts\":{},\"tenant\":\"acme\",\"type\":\"agent.state\",\"agent\":\"a1\",\"state\":\"{state}\",\"services\":[\"sales\"]}}\n",
            t + i as i64
        )
    };
    assert_eq!(
        http(srv.addr, "POST", "/api/v1/events", &post(0)).await.0,
        200
    );
    wait_for_agents(srv.addr).await;
    let ws = |view: &str| format!("ws://{}/api/v1/ws?tenant=acme&view={view}", srv.addr);
    let (mut agents, _) = tokio_tungstenite::connect_async(ws("agent-list"))
        .await
        .unwrap();
    let (mut full, _) = tokio_tungstenite::connect_async(ws("full")).await.unwrap();
    let (mut services, _) = tokio_tungstenite::connect_async(ws("services"))
        .await
        .unwrap();
    // Three seconds of changes, a publish every 20 ms.
    let started = tokio::time::Instant::now();
    let mut seen = [Vec::new(), Vec::new(), Vec::new()];
    let mut i = 1;
    while started.elapsed() < Duration::from_secs(3) {
        assert_eq!(
            http(srv.addr, "POST", "/api/v1/events", &post(i)).await.0,
            200
        );
        i += 1;
        tokio::time::sleep(Duration::from_millis(30)).await;
        for (n, ws) in [&mut agents, &mut full, &mut services]
            .into_iter()
            .enumerate()
        {
            while let Ok(Some(Ok(Message::Text(t)))) =
                tokio::time::timeout(Duration::from_millis(1), ws.next()).await
            {
                seen[n].push(seq_of(&t));
            }
        }
    }
    // The first message at once, then at most one a second: 4 in 3 s, and
    // one more for a second that may have begun as the posting stopped.
    assert!(seen[0].len() <= 5, "the agent list got {:?}", seen[0]);
    assert!(
        seen[1].len() > 10 && seen[2].len() > 10,
        "{} and {}",
        seen[1].len(),
        seen[2].len()
    );
    // When changes stop, the agent view still comes to the newest state
    // (the next message, or the one after if the next was on its way).
    let last_state = if (i - 1) % 2 == 0 { "ready" } else { "away" };
    let mut states = Vec::new();
    for _ in 0..2 {
        let (_, snap) = next_snapshot(&mut agents).await;
        states.push(snap["agent_list"][0]["state"].as_str().unwrap().to_string());
        if states.last().unwrap() == last_state {
            break;
        }
    }
    assert_eq!(states.last().unwrap(), last_state, "{states:?}");
    srv.stop.cancel();
    let _ = srv.task.await;
}

async fn wait_for_agents(addr: std::net::SocketAddr) {
    for _ in 0..250 {
        let (status, _, body) = http(addr, "GET", "/api/v1/tenants/acme/snapshot", "").await;
        if status == 200 && body.contains("\"agent\":\"a1\"") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no agent in the snapshot");
}
