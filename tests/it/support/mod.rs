//! Shared support: driving the engine the way a source would (contract JSON
//! in, snapshots out), the service started in-process on a free port, and
//! an HTTP client.

pub mod server;

use std::sync::Arc;

use callboard::config::Config;
use callboard::decode::decode_json;
use callboard::engine::{Engine, Outcome};
use callboard::time::{Millis, parse_rfc3339};
use callboard::wire::{Snapshot, Status};
use serde_json::{Value, json};

pub struct Harness {
    pub engine: Engine,
    pub tenant: String,
    next_id: u64,
}

/// A `[[tokens]]` entry of the config: `name`, the secret `token` (stored
/// hashed), `role`, and any more lines (`tenant = "acme"`).
pub fn token_entry(name: &str, token: &str, role: &str, extra: &str) -> String {
    use callboard::http::auth::{hash_token, hex};
    format!(
        "[[tokens]]\nname = \"{name}\"\nsha256 = \"{}\"\nrole = \"{role}\"\n{extra}\n",
        hex(&hash_token(token))
    )
}

pub fn at(ts: &str) -> Millis {
    parse_rfc3339(ts).unwrap_or_else(|| panic!("bad test time {ts}"))
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config("")
    }

    pub fn with_config(toml: &str) -> Harness {
        let config = Config::parse(toml, None, None).expect("test config");
        Harness {
            engine: Engine::new(Arc::new(config)),
            tenant: "acme".into(),
            next_id: 0,
        }
    }

    /// Sends one event through the JSON decoder; `fields` adds to the envelope.
    pub fn send(&mut self, ts: &str, ty: &str, fields: Value) -> Outcome {
        self.next_id += 1;
        let id = format!("e{}", self.next_id);
        self.send_id(&id, ts, ty, fields)
    }

    pub fn send_id(&mut self, id: &str, ts: &str, ty: &str, fields: Value) -> Outcome {
        let mut obj = json!({"v": 1, "id": id, "ts": ts, "tenant": self.tenant, "type": ty});
        for (k, v) in fields.as_object().expect("fields must be an object") {
            obj[k] = v.clone();
        }
        let bytes = serde_json::to_vec(&obj).unwrap();
        let ev = decode_json(&bytes, 1 << 16).unwrap_or_else(|r| panic!("rejected: {r}"));
        self.engine.apply(&ev)
    }

    pub fn snap(&self, now: &str) -> Snapshot {
        self.engine
            .snapshot(&self.tenant, at(now), Status::Live)
            .expect("tenant exists")
    }

    pub fn queue<'a>(s: &'a Snapshot, q: &str) -> &'a callboard::wire::QueueRow {
        s.queues
            .iter()
            .find(|r| &*r.queue == q)
            .unwrap_or_else(|| panic!("no queue {q}"))
    }

    pub fn service<'a>(s: &'a Snapshot, name: &str) -> &'a callboard::wire::ServiceRow {
        s.services
            .iter()
            .find(|r| &*r.service == name)
            .unwrap_or_else(|| panic!("no service {name}"))
    }

    pub fn agent<'a>(s: &'a Snapshot, a: &str) -> &'a callboard::wire::AgentRow {
        s.agent_list
            .iter()
            .find(|r| &*r.agent == a)
            .unwrap_or_else(|| panic!("no agent {a}"))
    }
}

/// One HTTP/1.1 request with a real client: (status, head, body), the
/// head as `HTTP/1.1 STATUS` and `name: value` lines. The `Host` header is
/// the address connected to unless `headers` names one.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    try_http(addr, method, path, headers, body)
        .await
        .expect("the server answers")
}

/// [`http`], or the error when the server does not answer (it is down, or
/// stopped in the middle of the request).
pub async fn try_http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String, String), String> {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(bytes::Bytes::from(body.to_string())))
        .expect("a test request is well formed");
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let mut head = format!("HTTP/1.1 {status}");
    for (k, v) in resp.headers() {
        head.push_str(&format!("\r\n{k}: {}", v.to_str().unwrap_or("")));
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, head, String::from_utf8_lossy(&body).into_owned()))
}

/// The shipped sample, moved in time so that its last line is a minute ago.
pub fn sample_lines() -> Vec<String> {
    let text = include_str!("../../../samples/demo.queue_log");
    let first: i64 = text.split('|').next().unwrap().parse().unwrap();
    let last: i64 = text
        .lines()
        .last()
        .unwrap()
        .split('|')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let shift = server::now_ms() / 1000 - 60 - last;
    assert!(last >= first);
    text.lines()
        .map(|l| {
            let (ts, rest) = l.split_once('|').unwrap();
            format!("{}|{rest}\n", ts.parse::<i64>().unwrap() + shift)
        })
        .collect()
}

/// `callboard replay` of `text` for one tenant, at `at` (else the latest
/// event): that tenant's snapshot.
pub fn replayed(
    text: &str,
    config: Arc<Config>,
    format: callboard::decode::Format,
    tenant: &str,
    at: Option<Millis>,
) -> Snapshot {
    let opts = callboard::cmd::replay::ReplayOptions {
        format,
        tenant: Some(tenant.into()),
        at,
    };
    callboard::cmd::replay::replay(text.as_bytes(), config, &opts, |_, _| {})
        .unwrap()
        .0
        .remove(0)
}

/// The value of one series in a `/metrics` text.
pub fn metric(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} in /metrics"))
}

/// `callboard serve` with `args`, as a process of its own, listening on a
/// port the system picks (so tests running at once never share one): the
/// child and its address, read from its log.
pub fn spawn_serve(args: &[String]) -> (std::process::Child, std::net::SocketAddr) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_callboard"))
        .arg("serve")
        .args(args)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log",
            "warn,callboard::cmd::serve=info",
        ])
        .env_remove("CALLBOARD_CONFIG")
        .env_remove("CALLBOARD_LISTEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start callboard serve");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut told = false;
        // Read to the end, so the child never blocks on a full pipe.
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if !told
                && line.contains(" listening")
                && let Some(addr) = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("addr="))
            {
                told = tx.send(addr.parse::<std::net::SocketAddr>().ok()).is_ok();
            }
        }
        let _ = tx.send(None);
    });
    match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(Some(addr)) => (child, addr),
        other => {
            let _ = child.kill();
            panic!("callboard serve {args:?} did not say where it listens: {other:?}");
        }
    }
}

/// The calls counted `exited` in interval rows.
pub fn exited(rows: &[callboard::wire::IntervalRow]) -> u64 {
    rows.iter()
        .map(|r| match r {
            callboard::wire::IntervalRow::Queue(q) => q.calls.exited,
            _ => 0,
        })
        .sum()
}

/// The PostgreSQL database of the tests (`CALLBOARD_TEST_POSTGRES`, which
/// `.ci/run` sets up; required when `CI` is set), with `tenant`'s rows of an
/// earlier run deleted; `None` (the test is skipped) without it.
pub async fn postgres_for(tenant: &str) -> Option<String> {
    let Ok(url) = std::env::var("CALLBOARD_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs this test: set CALLBOARD_TEST_POSTGRES to a postgres:// URL"
        );
        eprintln!("skipped: CALLBOARD_TEST_POSTGRES is not set");
        return None;
    };
    let store =
        callboard::history::Store::open(&callboard::history::Location::Postgres(url.clone()))
            .await
            .expect("the test database opens");
    store.delete_tenant(tenant).await.unwrap();
    store.close().await;
    Some(url)
}
