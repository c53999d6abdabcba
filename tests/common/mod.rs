//! Helpers for driving the engine the way a source would: contract JSON in,
//! snapshots out.
#![allow(dead_code)]

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

/// A minimal HTTP/1.1 client for tests: (status, head, body).
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    // The address connected to, as a client would name it, unless the test
    // names a host of its own.
    let host = if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        String::new()
    } else {
        format!("Host: {addr}\r\n")
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\n{host}Connection: close\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, head.to_string(), body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest.get(n + 2..).unwrap_or("");
    }
    out
}
