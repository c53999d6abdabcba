//! Tokens limited to some services (a team lead's screen): their view holds
//! only those services, and its totals are the totals those services'
//! events alone would give.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use callboard::cmd::serve::settings::{HistorySettings, ServeSettings};
use callboard::config::Config;
use callboard::decode::decode_json;
use callboard::engine::Engine;
use callboard::time::{Millis, parse_rfc3339};
use callboard::wire::{CallbackStats, ReportRows, Snapshot, Status};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::server::{Server, engine, now_ms};
use crate::support::{http, token_entry};

/// Three queues, one per service; the lead's token sees two services.
fn config() -> String {
    let mut c = String::from(
        r#"
        [tenants.acme]
        tz = "Asia/Seoul"
        [tenants.acme.queues.q0]
        service = "s0"
        [tenants.acme.queues.q1]
        service = "s1"
        [tenants.acme.queues.q2]
        service = "s2"
        "#,
    );
    c.push_str(&token_entry(
        "lead",
        "lead-secret",
        "tenant",
        "tenant = \"acme\"\nservices = [\"s1\", \"s0\"]",
    ));
    c.push_str(&token_entry(
        "lead-2",
        "s2-secret",
        "tenant",
        "tenant = \"acme\"\nservices = [\"s2\"]",
    ));
    c.push_str(&token_entry(
        "floor",
        "acme-secret",
        "tenant",
        "tenant = \"acme\"",
    ));
    c.push_str(&token_entry("ops", "admin-secret", "admin", ""));
    c
}

const SCOPE: [&str; 2] = ["s0", "s1"];

fn scope() -> Vec<Arc<str>> {
    SCOPE.iter().map(|s| Arc::from(*s)).collect()
}

const CALL_TYPES: [&str; 10] = [
    "call.ivr",
    "call.queued",
    "call.ringing",
    "call.answered",
    "call.abandoned",
    "call.callback",
    "call.transferred",
    "call.exited",
    "call.ended",
    "call.dialing",
];
const STATES: [&str; 6] = [
    "logged_out",
    "ready",
    "away",
    "talking",
    "outbound",
    "wrap_up",
];
const CB_TYPES: [&str; 5] = [
    "callback.requested",
    "callback.assigned",
    "callback.completed",
    "callback.failed",
    "callback.deleted",
];

#[derive(Debug, Clone)]
enum Op {
    Call {
        ty: usize,
        call: u8,
        queue: u8,
        agent: u8,
    },
    Agent {
        agent: u8,
        state: usize,
        services: Option<Vec<u8>>,
    },
    Callback {
        ty: usize,
        cb: u8,
        service: u8,
        agent: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..CALL_TYPES.len(), 0u8..10, 0u8..3, 0u8..4)
            .prop_map(|(ty, call, queue, agent)| Op::Call { ty, call, queue, agent }),
        3 => (0u8..4, 0..STATES.len(), proptest::option::of(proptest::collection::vec(0u8..3, 1..3)))
            .prop_map(|(agent, state, services)| Op::Agent { agent, state, services }),
        1 => (0..CB_TYPES.len(), 0u8..4, 0u8..3, 0u8..4)
            .prop_map(|(ty, cb, service, agent)| Op::Callback { ty, cb, service, agent }),
    ]
}

/// Events over about a day and a half from 06:00 Seoul time. A call is
/// transferred within its side of the scope (q0 and q1 to each other, q2
/// to itself), so no call crosses into or out of the scope.
fn to_events(ops: &[(Op, u32)]) -> Vec<Value> {
    let mut ts = parse_rfc3339("2026-11-20T06:00:00+09:00").unwrap();
    ops.iter()
        .enumerate()
        .map(|(i, (op, step))| {
            ts += *step as Millis * 1000;
            let mut e = json!({"v": 1, "id": format!("e{i}"), "ts": ts, "tenant": "acme"});
            match op {
                Op::Call {
                    ty,
                    call,
                    queue,
                    agent,
                } => {
                    e["type"] = json!(CALL_TYPES[*ty]);
                    // Calls are numbered per queue: a call never changes side.
                    e["call"] = json!(format!("c{}-{call}", queue / 2));
                    e["queue"] = json!(format!("q{queue}"));
                    e["agent"] = json!(format!("a{agent}"));
                    e["to_queue"] = json!(format!("q{}", [1, 0, 2][*queue as usize]));
                }
                Op::Agent {
                    agent,
                    state,
                    services,
                } => {
                    e["type"] = json!("agent.state");
                    e["agent"] = json!(format!("a{agent}"));
                    e["state"] = json!(STATES[*state]);
                    if let Some(s) = services {
                        let names: Vec<String> = s.iter().map(|s| format!("s{s}")).collect();
                        e["services"] = json!(names);
                    }
                }
                Op::Callback {
                    ty,
                    cb,
                    service,
                    agent,
                } => {
                    e["type"] = json!(CB_TYPES[*ty]);
                    e["callback"] = json!(format!("k{}-{cb}", service / 2));
                    e["service"] = json!(format!("s{service}"));
                    e["agent"] = json!(format!("a{agent}"));
                }
            }
            e
        })
        .collect()
}

fn snapshot_of(events: &[&Value], now: Millis) -> Option<Snapshot> {
    let mut engine = Engine::new(Arc::new(Config::parse(&config(), None, None).unwrap()));
    for e in events {
        let bytes = serde_json::to_vec(e).unwrap();
        engine.apply(&decode_json(&bytes, 1 << 16).expect("generated events are valid"));
    }
    engine.expire(now);
    engine.snapshot("acme", now, Status::Live)
}

fn in_scope(e: &Value) -> bool {
    if e["type"] == "agent.state" {
        return true;
    }
    let service = match e["service"].as_str() {
        Some(s) => s.to_string(),
        None => format!("s{}", &e["queue"].as_str().unwrap()[1..]),
    };
    SCOPE.contains(&service.as_str())
}

fn without_open_by_agent(c: &CallbackStats) -> CallbackStats {
    CallbackStats {
        open_by_agent: Vec::new(),
        ..c.clone()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// A scope's totals, callbacks and hourly inflow are what its
    /// services' events alone give as a tenant's; its agents are those
    /// serving one of its services, each once.
    #[test]
    fn a_scope_is_its_services_events_alone(
        ops in proptest::collection::vec((op(), prop_oneof![0u32..90, 0u32..3000]), 1..150)
    ) {
        let events = to_events(&ops);
        let now = events.iter().map(|e| e["ts"].as_i64().unwrap()).max().unwrap() + 1000;
        let full = snapshot_of(&events.iter().collect::<Vec<_>>(), now).unwrap();
        let view = full.for_scope(&scope()).expect("the config names the scope");
        let alone = snapshot_of(&events.iter().filter(|e| in_scope(e)).collect::<Vec<_>>(), now);
        // (With none of the scope's events, there is no tenant to compare.)
        prop_assume!(alone.is_some());
        let alone = alone.unwrap();

        prop_assert_eq!(&view.totals, &alone.totals);
        prop_assert_eq!(&view.hourly, &alone.hourly);
        prop_assert_eq!(without_open_by_agent(&view.callbacks), without_open_by_agent(&alone.callbacks));
        prop_assert_eq!(&view.services, &alone.services.iter().filter(|s| SCOPE.contains(&&*s.service)).cloned().collect::<Vec<_>>());
        prop_assert_eq!(&view.queues, &alone.queues.iter().filter(|q| SCOPE.contains(&&*q.service)).cloned().collect::<Vec<_>>());
        prop_assert_eq!(view.waiting_calls.len(), alone.waiting_calls.len());
        prop_assert_eq!(view.scope.as_deref(), Some(&scope()[..]));
        prop_assert!(view.scopes.is_empty(), "no other scope's figures");

        // Agents: each serving one of the scope's services, counted once.
        let members: Vec<_> = full
            .agent_list
            .iter()
            .filter(|a| a.services.iter().any(|s| SCOPE.contains(&&**s)))
            .collect();
        prop_assert_eq!(view.agent_list.len(), members.len());
        let mut by_state = BTreeMap::new();
        for a in &members {
            *by_state.entry(format!("{:?}", a.state)).or_insert(0u64) += 1;
        }
        let logged_in: u64 = members
            .iter()
            .filter(|a| a.state != callboard::event::AgentState::LoggedOut)
            .count() as u64;
        prop_assert_eq!(view.agents.login, logged_in);
        prop_assert_eq!(
            view.agents.ready,
            by_state.get("Ready").copied().unwrap_or(0)
        );
        for a in &view.agent_list {
            prop_assert!(a.services.iter().all(|s| SCOPE.contains(&&**s)), "{:?}", a.services);
        }
        for c in &view.callbacks.open_by_agent {
            prop_assert!(view.agent_list.iter().any(|a| a.agent == c.agent));
        }
    }
}

/// Today's events near now: calls in each service's queue, agents serving
/// s0, s1 and s2, s2 only, and s1, and callbacks of each service.
fn events_now() -> String {
    let now = now_ms() - 120_000;
    let mut lines = Vec::new();
    let mut id = 0;
    let mut ev = |dt_s: i64, body: Value| {
        id += 1;
        let mut e =
            json!({"v": 1, "id": format!("n{id}"), "ts": now + dt_s * 1000, "tenant": "acme"});
        for (k, v) in body.as_object().unwrap() {
            e[k] = v.clone();
        }
        lines.push(e.to_string());
    };
    ev(
        0,
        json!({"type": "agent.state", "agent": "a0", "state": "ready", "services": ["s0", "s1", "s2"], "name": "김민준"}),
    );
    ev(
        0,
        json!({"type": "agent.state", "agent": "a1", "state": "ready", "services": ["s2"]}),
    );
    ev(
        0,
        json!({"type": "agent.state", "agent": "a2", "state": "away", "reason": "break", "services": ["s1"]}),
    );
    for (q, waits) in [(0, [3, 40]), (1, [9, 25]), (2, [1, 70])] {
        for (i, w) in waits.iter().enumerate() {
            let call = format!("c{q}-{i}");
            ev(
                1,
                json!({"type": "call.queued", "call": call, "queue": format!("q{q}")}),
            );
            ev(
                1 + w,
                json!({"type": "call.answered", "call": call, "queue": format!("q{q}"), "agent": "a0"}),
            );
            ev(
                2 + w,
                json!({"type": "call.ended", "call": call, "queue": format!("q{q}"), "agent": "a0"}),
            );
        }
        ev(
            5,
            json!({"type": "call.queued", "call": format!("w{q}"), "queue": format!("q{q}")}),
        );
        ev(
            6,
            json!({"type": "callback.requested", "callback": format!("k{q}"), "service": format!("s{q}")}),
        );
    }
    lines.join("\n") + "\n"
}

async fn get(srv: &Server, path: &str, token: &str) -> (u16, String) {
    let auth = format!("Bearer {token}");
    let (status, _, body) = http(srv.addr, "GET", path, &[("Authorization", &auth)], "").await;
    (status, body)
}

fn queue_rows(body: &str) -> Vec<callboard::wire::QueueReportRow> {
    let r: callboard::wire::Report = serde_json::from_str(body).unwrap();
    match r.rows {
        ReportRows::Queue(rows) => rows,
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_sees_only_the_services_of_the_token() {
    let dir = std::env::temp_dir().join(format!("callboard-scopes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let settings = ServeSettings {
        engine: engine(1, 20),
        history: Some(HistorySettings {
            location: callboard::history::Location::Sqlite(dir.join("h.sqlite")),
            retention_days: 30,
        }),
        // With the events logged, the history holds the interval they
        // came in (without, it starts at the next).
        event_log: Some(callboard::sources::event_log::EventLogSettings {
            dir: dir.join("events"),
            fsync: callboard::sources::event_log::Fsync::Never,
            retention_days: 1,
        }),
        ..ServeSettings::default()
    };
    let srv = Server::start(Config::parse(&config(), None, None).unwrap(), settings).await;
    let body = events_now();
    let (status, _, text) = http(
        srv.addr,
        "POST",
        "/api/v1/events",
        &[("Authorization", "Bearer admin-secret")],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let total_calls = 9;
    let mut full: Option<Snapshot> = None;
    for _ in 0..200 {
        let (status, text) = get(&srv, "/api/v1/tenants/acme/snapshot", "admin-secret").await;
        if status == 200 {
            let s: Snapshot = serde_json::from_str(&text).unwrap();
            if s.totals.calls.inbound == total_calls {
                full = Some(s);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let full = full.expect("the events are counted");
    let figures = full
        .scopes
        .iter()
        .find(|f| *f.services == scope()[..])
        .expect("the admin's snapshot carries the scope's figures")
        .clone();

    // REST: only s0 and s1, with the scope's figures as totals.
    let (status, text) = get(&srv, "/api/v1/tenants/acme/snapshot", "lead-secret").await;
    assert_eq!(status, 200, "{text}");
    let view: Snapshot = serde_json::from_str(&text).unwrap();
    let names = |v: &Snapshot| {
        v.services
            .iter()
            .map(|s| s.service.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&view), ["s0", "s1"]);
    assert_eq!(view.totals, figures.totals);
    assert_eq!(view.totals.calls.inbound, 6, "four answered, two waiting");
    assert_eq!(view.totals.waiting, 2);
    // The p90 wait is of the scope's calls (3, 9, 25, 40 s), not a sum.
    assert_eq!(view.totals.calls.answered, 4);
    assert!(view.totals.wait_p90_s.unwrap() >= 25.0 && view.totals.wait_p90_s.unwrap() <= 41.0);
    assert_eq!(view.callbacks.requested, 2);
    assert_eq!(view.agents.login, 2, "a0 (in all three) once, a2; not a1");
    assert_eq!(
        view.agent_list
            .iter()
            .map(|a| a.agent.to_string())
            .collect::<Vec<_>>(),
        ["a0", "a2"]
    );
    assert_eq!(
        &*view.agent_list[0].services,
        &scope()[..],
        "s2 is not named"
    );
    assert!(view.queues.iter().all(|q| &*q.queue != "q2"));
    assert!(view.waiting_calls.iter().all(|c| &*c.call != "w2"));
    assert_eq!(view.hourly.today.iter().sum::<u64>(), 6);
    assert!(view.scopes.is_empty());
    assert!(!text.contains("\"s2\""), "nothing of s2 leaks: {text}");
    // Both, with and without the scopes' figures, are snapshots as the
    // schema describes them.
    let schema = crate::schemas::validator("snapshot.schema.json");
    for s in [&full, &view] {
        let v = serde_json::to_value(s).unwrap();
        assert_eq!(crate::schemas::errors(&schema, &v), Vec::<String>::new());
    }

    // The one-service lead; and a full tenant token sees everything.
    let (_, text) = get(&srv, "/api/v1/tenants/acme/snapshot", "s2-secret").await;
    let s2: Snapshot = serde_json::from_str(&text).unwrap();
    assert_eq!(names(&s2), ["s2"]);
    assert_eq!((s2.totals.calls.inbound, s2.agents.login), (3, 2));
    let (_, text) = get(&srv, "/api/v1/tenants/acme/snapshot", "acme-secret").await;
    let floor: Snapshot = serde_json::from_str(&text).unwrap();
    assert_eq!(names(&floor), ["s0", "s1", "s2"]);

    // Websocket: the same view; a service outside the scope is refused.
    let ws = |q: &str| format!("ws://{}/api/v1/ws?tenant=acme&{q}", srv.addr);
    let first = |url: String| async move {
        use futures_util::StreamExt;
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
        let msg = socket.next().await.unwrap().unwrap();
        let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        Ok::<Snapshot, tokio_tungstenite::tungstenite::Error>(
            serde_json::from_value(v["snapshot"].clone()).unwrap(),
        )
    };
    let got = first(ws("token=lead-secret")).await.unwrap();
    assert_eq!((names(&got), got.totals.calls.inbound), (names(&view), 6));
    let got = first(ws("token=lead-secret&service=s1")).await.unwrap();
    assert_eq!(names(&got), ["s1"]);
    assert!(got.agent_list.iter().all(|a| &*a.agent != "a1"));
    match first(ws("token=lead-secret&service=s2")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!(
            "s2 through the lead's token: {:?}",
            other.map(|s| s.services.len())
        ),
    }

    // Reports: the scope's rows; its tenant rows sum them.
    let mut by_service = Vec::new();
    for _ in 0..300 {
        let (status, text) = get(
            &srv,
            "/api/v1/tenants/acme/history?by=service",
            "admin-secret",
        )
        .await;
        by_service = if status == 200 {
            queue_rows(&text)
        } else {
            Vec::new()
        };
        if by_service.iter().map(|r| r.calls.answered).sum::<u64>() == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        by_service.iter().map(|r| r.calls.answered).sum::<u64>(),
        6,
        "{by_service:?}"
    );
    let (status, text) = get(
        &srv,
        "/api/v1/tenants/acme/history?by=service",
        "lead-secret",
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let mine = queue_rows(&text);
    let want: Vec<_> = by_service
        .iter()
        .filter(|r| r.service.as_deref().is_some_and(|s| SCOPE.contains(&s)))
        .cloned()
        .collect();
    assert_eq!(mine, want);
    let (_, text) = get(&srv, "/api/v1/tenants/acme/history", "lead-secret").await;
    let total = queue_rows(&text);
    assert_eq!(total.len(), 1, "today: {text}");
    assert_eq!(total[0].calls.answered, 4);
    assert_eq!(
        total[0].calls.inbound,
        want.iter().map(|r| r.calls.inbound).sum::<u64>()
    );
    assert_eq!(
        total[0].times.wait_answered_sum_s,
        want.iter()
            .map(|r| r.times.wait_answered_sum_s)
            .sum::<f64>()
    );
    assert_eq!(
        total[0].answer_rate,
        callboard::engine::ratio(4, total[0].calls.inbound)
    );
    let (_, text) = get(&srv, "/api/v1/tenants/acme/history?by=queue", "lead-secret").await;
    assert!(
        queue_rows(&text)
            .iter()
            .all(|r| r.queue.as_deref() != Some("q2")),
        "{text}"
    );
    let (_, text) = get(
        &srv,
        "/api/v1/tenants/acme/history?by=callback",
        "lead-secret",
    )
    .await;
    assert!(
        text.contains("\"s0\"") && !text.contains("\"s2\""),
        "{text}"
    );
    let (_, text) = get(&srv, "/api/v1/tenants/acme/history?by=agent", "lead-secret").await;
    assert!(!text.contains("\"a1\""), "a1 serves s2 only: {text}");
    let (_, text) = get(
        &srv,
        "/api/v1/tenants/acme/history?by=agent",
        "admin-secret",
    )
    .await;
    assert!(text.contains("\"a1\""), "{text}");

    srv.stop.cancel();
    let _ = srv.task.await;
    let _ = std::fs::remove_dir_all(&dir);
}
