//! Nothing acknowledged is lost, and no figure depends on how or when events
//! arrive: HTTP ingest through the real binary, with its event log, SIGKILLed
//! in the middle of a sustained ingest and restarted; a call whose end is
//! posted after the clock passed its deadline; a restart followed by late
//! events. What the service shows and stores equals `callboard replay` of
//! the same events.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use callboard::cmd::replay::{ReplayOptions, replay_engine};
use callboard::config::Config;
use callboard::decode::Format;
use callboard::sim::{SimConfig, Simulator};
use callboard::time::{Millis, format_rfc3339};
use callboard::wire::{IntervalRow, Snapshot, encode_event};

use crate::store::{expected, history_of_becomes, served_history_of};
use crate::support::server::now_ms;
use crate::support::try_http;

const CONFIG: &str = "[tenants.demo]\ntz = \"UTC\"\n[tenants.acme]\ntz = \"UTC\"\n\
    [tenants.late]\ntz = \"UTC\"\n[tenants.late.queues.q1]\nmax_wait_s = 5\n";

/// A folder of its own for one test.
fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callboard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("c.toml"), CONFIG).unwrap();
    dir
}

/// `callboard serve` fed by HTTP ingest only, its event log and SQLite
/// history in `dir` (`extra` may name others): the child and its port.
fn start(dir: &Path, extra: &[&str]) -> (Child, u16) {
    let mut args: Vec<String> = [
        "--config",
        dir.join("c.toml").to_str().unwrap(),
        "--simulate-tenants",
        "0",
        "--publish-interval-ms",
        "50",
    ]
    .map(String::from)
    .to_vec();
    if !extra.contains(&"--event-log") {
        args.extend([
            "--event-log".into(),
            dir.join("events").display().to_string(),
        ]);
    }
    if !extra.contains(&"--history") {
        args.extend([
            "--history".into(),
            dir.join("h.sqlite").display().to_string(),
        ]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let (child, addr) = crate::support::spawn_serve(&args);
    (child, addr.port())
}

fn addr(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

/// Waits until the service answers `/readyz` with 200 (its log is read).
async fn ready(port: u16) {
    for _ in 0..300 {
        if let Ok((200, _, _)) = try_http(addr(port), "GET", "/readyz", &[], "").await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the service on {port} never became ready");
}

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn post(port: u16, body: &str) -> Result<(u16, String), String> {
    try_http(addr(port), "POST", "/api/v1/events", &[], body)
        .await
        .map(|(status, _, body)| (status, body))
}

/// `callboard replay` of `ndjson` at `at`.
fn replayed(ndjson: &str, at: Millis) -> callboard::cmd::replay::Replayed {
    let opts = ReplayOptions {
        format: Format::Ndjson,
        tenant: None,
        at: Some(at),
    };
    let config = Arc::new(Config::parse(CONFIG, None, None).unwrap());
    replay_engine(ndjson.as_bytes(), config, &opts, |_, _| {}).unwrap()
}

fn rows_of(ndjson: &str, tenant: &str, at: Millis) -> Vec<IntervalRow> {
    let opts = ReplayOptions {
        format: Format::Ndjson,
        tenant: Some(tenant.into()),
        at: Some(at),
    };
    replayed(ndjson, at).intervals(&opts)
}

/// The served snapshot of `tenant`, once `ok` holds of it.
async fn snapshot_when(port: u16, tenant: &str, ok: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let path = format!("/api/v1/tenants/{tenant}/snapshot");
    let mut last = String::new();
    for _ in 0..300 {
        if let Ok((status, _, body)) = try_http(addr(port), "GET", &path, &[], "").await {
            if status == 200 {
                let s: Snapshot = serde_json::from_str(&body).unwrap();
                if ok(&s) {
                    return s;
                }
            }
            last = format!("{status}: {}", &body[..body.len().min(200)]);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{tenant} never got there; last: {last}");
}

/// The served snapshot of `tenant` equals replay of `ndjson` at the
/// snapshot's own time, once it counts `inbound` calls.
async fn served_equals_replay(port: u16, tenant: &str, ndjson: &str) {
    let inbound = {
        let r = replayed(ndjson, now_ms());
        r.snapshots(&ReplayOptions {
            format: Format::Ndjson,
            tenant: Some(tenant.into()),
            at: None,
        })[0]
            .totals
            .calls
            .inbound
    };
    let s = snapshot_when(port, tenant, |s| s.totals.calls.inbound == inbound).await;
    let opts = ReplayOptions {
        format: Format::Ndjson,
        tenant: Some(tenant.into()),
        at: Some(s.at.0),
    };
    let mut want = replayed(ndjson, s.at.0).snapshots(&opts).remove(0);
    want.status = s.status;
    assert_eq!(s, want, "served = replay");
}

fn yesterday_and_today() -> String {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    format!("from={}&to={today}", today.yesterday().unwrap())
}

/// An instant as the history's `start` column writes it (UTC).
fn format_local(ms: Millis) -> String {
    callboard::time::format_local(ms, &jiff::tz::TimeZone::UTC)
}

/// Three hours of the simulated demo tenant, UTC, ending a minute ago.
fn three_hours() -> Vec<String> {
    let end = now_ms() - 60_000;
    let mut sim = SimConfig::demo(end - 3 * 3_600_000, 7);
    sim.tz = "UTC".into();
    Simulator::new(sim)
        .take_while(|e| e.ts < end)
        .map(|e| encode_event(&e))
        .collect()
}

/// SIGKILL in the middle of a sustained ingest, three times: the client
/// sends again what got no answer, as a client does; every event that got
/// a 2xx counts exactly once after the restarts, and the snapshot and the
/// stored queue rows equal replay of the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_counts_once_through_kills() {
    let dir = workdir("kills");
    let lines = three_hours();
    // Requests of 1 to 150 events.
    let mut rng = fastrand::Rng::with_seed(20);
    let mut requests: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let n = rng.usize(1..=30).min(lines.len() - i);
        requests.push(lines[i..i + n].iter().map(|l| format!("{l}\n")).collect());
        i += n;
    }
    let mut next = 0;
    for round in 0..4 {
        let (child, port) = start(&dir, &[]);
        ready(port).await;
        let from = next;
        let poster = {
            let requests = requests.clone();
            tokio::spawn(async move {
                let mut acked = from;
                for r in &requests[from..] {
                    match post(port, r).await {
                        Ok((200, _)) => acked += 1,
                        Ok((status, body)) => panic!("ingest answered {status}: {body}"),
                        Err(_) => break,
                    }
                }
                acked
            })
        };
        if round < 3 {
            // Killed while it posts.
            tokio::time::sleep(Duration::from_millis(rng.u64(10..120))).await;
            kill(child);
            next = poster.await.unwrap();
            assert!(
                next < requests.len(),
                "the kill came after the last request: make it sooner"
            );
        } else {
            next = poster.await.unwrap();
            assert_eq!(next, requests.len());
            let ndjson = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
            served_equals_replay(port, "demo", &ndjson).await;
            let want = expected(&rows_of(&ndjson, "demo", now_ms()));
            history_of_becomes(addr(port), "demo", &yesterday_and_today(), &want, true)
                .await
                .unwrap_or_else(|e| panic!("stored rows after three kills: {e}"));
            kill(child);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn event(id: &str, ts: Millis, tenant: &str, ty: &str, fields: &str) -> String {
    format!(
        r#"{{"v":1,"id":"{id}","ts":"{}","tenant":"{tenant}","type":"{ty}",{fields}}}"#,
        format_rfc3339(ts)
    )
}

/// A call queued a while ago is posted now, and its answer and end a
/// moment later: the clock passed its deadline in between (its queue waits
/// 5 s at most; the default is 4 hours), and it still counts as answered,
/// as replay of the three events counts it, on the board and in the
/// history.
async fn a_call_whose_end_comes_after_its_deadline(history: Option<&str>) {
    let dir = workdir(if history.is_some() {
        "catch-up-postgres"
    } else {
        "catch-up"
    });
    let extra: Vec<&str> = history.map(|h| vec!["--history", h]).unwrap_or_default();
    let (child, port) = start(&dir, &extra);
    ready(port).await;
    let t = now_ms() - 10_000;
    let queued = event("q", t, "late", "call.queued", r#""call":"c1","queue":"q1""#);
    let answered = event(
        "a",
        t + 2_000,
        "late",
        "call.answered",
        r#""call":"c1","queue":"q1","agent":"a1""#,
    );
    let ended = event("e", t + 6_000, "late", "call.ended", r#""call":"c1""#);
    assert_eq!(post(port, &queued).await.unwrap().0, 200);
    // The board shows it exited (overdue by the clock), and a history
    // round may write that: neither is final.
    snapshot_when(port, "late", |s| {
        s.totals.calls.exited == 1 && s.totals.waiting == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = post(port, &format!("{answered}\n{ended}\n")).await.unwrap();
    assert_eq!(status, 200);
    let ndjson = format!("{queued}\n{answered}\n{ended}\n");
    let s = snapshot_when(port, "late", |s| s.totals.calls.answered == 1).await;
    assert_eq!((s.totals.calls.exited, s.totals.waiting), (0, 0));
    served_equals_replay(port, "late", &ndjson).await;
    let want = expected(&rows_of(&ndjson, "late", now_ms()));
    history_of_becomes(addr(port), "late", &yesterday_and_today(), &want, false)
        .await
        .unwrap_or_else(|e| panic!("stored rows: {e}"));
    kill(child);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_end_comes_after_its_deadline_by_the_clock_counts_as_replay_counts_it() {
    a_call_whose_end_comes_after_its_deadline(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_end_comes_after_its_deadline_counts_as_replay_counts_it_on_postgres() {
    if let Some(url) = crate::support::postgres_for("late").await {
        a_call_whose_end_comes_after_its_deadline(Some(&url)).await;
    }
}

/// A day's worth of a small contact center: 100 calls in one queue and
/// interval, answered by three agents who log out at the end.
fn a_busy_interval(t0: Millis) -> Vec<String> {
    let mut out = Vec::new();
    for a in 0..3 {
        out.push(event(
            &format!("login-{a}"),
            t0,
            "acme",
            "agent.state",
            &format!(r#""agent":"a{a}","state":"ready","services":["sales"]"#),
        ));
    }
    for c in 0..100 {
        let t = t0 + 1_000 + c * 5_000;
        let agent = format!("a{}", c % 3);
        let fields = format!(r#""call":"c{c}","queue":"q1","service":"sales","agent":"{agent}""#);
        out.push(event(&format!("q{c}"), t, "acme", "call.queued", &fields));
        out.push(event(
            &format!("a{c}"),
            t + 2_000,
            "acme",
            "call.answered",
            &fields,
        ));
        out.push(event(
            &format!("e{c}"),
            t + 4_000,
            "acme",
            "call.ended",
            &fields,
        ));
    }
    for a in 0..3 {
        out.push(event(
            &format!("logout-{a}"),
            t0 + 600_000,
            "acme",
            "agent.state",
            &format!(r#""agent":"a{a}","state":"logged_out""#),
        ));
    }
    out
}

/// 310 events accepted, SIGKILL, restart: the tenant is back as replay
/// counts it, and neither the next event of the same interval nor a late
/// one dated 90 minutes ago rewrites the stored rows with part of the day:
/// the history equals `replay --intervals` of every event (queue and agent
/// rows). With `--event-log none` the state is memory only, but a restart
/// still never writes part of an interval over what is stored.
async fn a_restart_keeps_today_and_the_stored_rows(history: Option<&str>, log: bool) {
    // A folder of its own for each variant: they run at once.
    let dir = workdir(match (history.is_some(), log) {
        (true, _) => "restart-postgres",
        (false, true) => "restart",
        (false, false) => "restart-memory",
    });
    let mut extra: Vec<&str> = Vec::new();
    if let Some(h) = history {
        extra.extend(["--history", h]);
    }
    if !log {
        extra.extend(["--event-log", "none"]);
    }
    // Two hours ago, at an interval's start: the busy interval is closed.
    let now = now_ms();
    let t0 = now - 2 * 3_600_000 - now % 900_000;
    let busy = a_busy_interval(t0);
    assert_eq!(busy.len(), 306);
    let late = [
        event(
            "ivr-late",
            now - 90 * 60_000,
            "acme",
            "call.ivr",
            r#""call":"x""#,
        ),
        event(
            "q-more",
            t0 + 700_000,
            "acme",
            "call.queued",
            r#""call":"more","queue":"q1","service":"sales""#,
        ),
        event(
            "ab-more",
            t0 + 710_000,
            "acme",
            "call.abandoned",
            r#""call":"more","queue":"q1""#,
        ),
        event(
            "q-now",
            now - 60_000,
            "acme",
            "call.queued",
            r#""call":"now","queue":"q1","service":"sales""#,
        ),
    ];
    // With no log, the interval of a tenant's first event after a start is
    // never written (the state holds only part of it): a first event an
    // interval before the busy one.
    let warm_up = event("warm-up", t0 - 900_000, "acme", "call.ivr", r#""call":"w""#);
    let body: String = std::iter::once(&warm_up)
        .chain(&busy)
        .map(|l| format!("{l}\n"))
        .collect();
    let late: String = late.iter().map(|l| format!("{l}\n")).collect();
    let (child, port) = start(&dir, &extra);
    ready(port).await;
    let (status, answer) = post(port, &body).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    let mut before = expected(&rows_of(&body, "acme", now_ms()));
    if !log {
        before.0.retain(|k, _| k.0 >= format_local(t0));
    }
    history_of_becomes(addr(port), "acme", &yesterday_and_today(), &before, false)
        .await
        .unwrap_or_else(|e| panic!("stored rows before the kill: {e}"));
    kill(child);

    let (child, port) = start(&dir, &extra);
    ready(port).await;
    if log {
        served_equals_replay(port, "acme", &body).await;
    }
    let (status, answer) = post(port, &late).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    let all = format!("{body}{late}");
    if log {
        served_equals_replay(port, "acme", &all).await;
        let want = expected(&rows_of(&all, "acme", now_ms()));
        history_of_becomes(addr(port), "acme", &yesterday_and_today(), &want, false)
            .await
            .unwrap_or_else(|e| panic!("stored rows after a restart and late events: {e}"));
    } else {
        // Memory only: the busy interval's stored rows stay as they were
        // (its late call is not written over them), and the current
        // interval, which starts after the restart's first event, is
        // written whole. What the restart cannot know is never written.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let (queues, agents) = served_history_of(addr(port), "acme", &yesterday_and_today())
            .await
            .unwrap();
        for (k, v) in &before.0 {
            assert_eq!(queues.get(k), Some(v), "{k:?} was rewritten");
        }
        for (k, v) in &before.1 {
            assert_eq!(agents.get(k), Some(v), "{k:?} was rewritten or deleted");
        }
    }
    kill(child);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_today_and_the_stored_rows_on_sqlite() {
    a_restart_keeps_today_and_the_stored_rows(None, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_no_event_log_writes_nothing_over_the_stored_rows() {
    a_restart_keeps_today_and_the_stored_rows(None, false).await;
}

/// On PostgreSQL: `CALLBOARD_TEST_POSTGRES` names a database (`.ci/run`
/// sets one up); required when `CI` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_today_and_the_stored_rows_on_postgres() {
    let Some(url) = crate::support::postgres_for("acme").await else {
        return;
    };
    a_restart_keeps_today_and_the_stored_rows(Some(&url), true).await;
}

/// SIGHUP (a closed terminal, a supervisor's reload) neither stops the
/// service nor loses what it holds: it is ignored, and said so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighup_is_ignored() {
    let dir = workdir("sighup");
    let (child, port) = start(&dir, &[]);
    ready(port).await;
    let line = event(
        "h1",
        now_ms() - 1_000,
        "acme",
        "call.queued",
        r#""call":"c","queue":"q1""#,
    );
    assert_eq!(post(port, &line).await.unwrap().0, 200);
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut child = child;
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP stopped the service"
    );
    let s = snapshot_when(port, "acme", |s| s.totals.calls.inbound == 1).await;
    assert_eq!(s.status, callboard::wire::Status::Live);
    kill(child);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A board that connects while a restarted service reads its event log
/// back is told so at once (`{"type":"status","status":"recovering"}`),
/// not left waiting in silence; the figures follow once it has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_connecting_during_the_read_back_is_told_recovering() {
    use futures_util::StreamExt;
    let dir = workdir("told-recovering");
    let (child, port) = start(&dir, &["--history", "none"]);
    ready(port).await;
    // Enough events that reading them back takes a moment.
    let now = now_ms();
    for chunk in 0..4 {
        let body: String = (0..40_000)
            .map(|i| {
                let n = chunk * 40_000 + i;
                let state = if n % 2 == 0 { "ready" } else { "talking" };
                format!(
                    "{{\"v\":1,\"id\":\"e{n}\",\"ts\":{},\"tenant\":\"acme\",\"type\":\"agent.state\",\"agent\":\"a{}\",\"state\":\"{state}\"}}\n",
                    now - 600_000 + n as Millis,
                    n % 500
                )
            })
            .collect();
        let (status, report) = post(port, &body).await.unwrap();
        assert_eq!(status, 200, "{report}");
    }
    kill(child);

    let (child, port) = start(&dir, &["--history", "none"]);
    let (status, _, _) = try_http(addr(port), "GET", "/readyz", &[], "")
        .await
        .unwrap();
    let url = format!("ws://127.0.0.1:{port}/api/v1/ws?tenant=acme");
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(60), ws.next())
        .await
        .expect("a first message")
        .unwrap()
        .unwrap();
    let first: serde_json::Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    eprintln!("/readyz answered {status} as the board connected");
    if status == 503 {
        // Still reading back when the board connected: told so.
        assert_eq!(
            (first["type"].as_str(), first["status"].as_str()),
            (Some("status"), Some("recovering"))
        );
        let next = tokio::time::timeout(Duration::from_secs(120), ws.next())
            .await
            .expect("the figures once read back")
            .unwrap()
            .unwrap();
        let next: serde_json::Value = serde_json::from_str(next.to_text().unwrap()).unwrap();
        assert_eq!(next["type"], "snapshot");
        assert_eq!(next["snapshot"]["agents"]["login"], 500);
    } else {
        // Read back before the board came (a fast machine): the figures.
        assert_eq!(first["type"], "snapshot");
    }
    kill(child);
}

/// Past `max_tenants`, the tenants that fit are the first in the stream's
/// order, and a restart reading the event log back with several shards
/// makes the same ones: no acknowledged event's tenant vanishes, no
/// refused one appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_shards_makes_the_same_tenants_under_the_limit() {
    let dir = workdir("tenant-limit-restart");
    std::fs::write(dir.join("c.toml"), "[limits]\nmax_tenants = 2\n").unwrap();
    let args = ["--history", "none", "--shards", "3"];
    let (mut child, mut port) = start(&dir, &args);
    ready(port).await;
    let now = now_ms() - 1_000;
    let body: String = (0..6)
        .map(|i| {
            format!(
                "{{\"v\":1,\"id\":\"e{i}\",\"ts\":{now},\"tenant\":\"t{i}\",\"type\":\"call.queued\",\"call\":\"c\",\"queue\":\"q\"}}\n"
            )
        })
        .collect();
    let (status, report) = post(port, &body).await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert!(report.contains("\"accepted\":2"), "{report}");
    let tenants = |port: u16| async move {
        for _ in 0..200 {
            let (_, _, list) = try_http(addr(port), "GET", "/api/v1/tenants", &[], "")
                .await
                .unwrap();
            let list: serde_json::Value = serde_json::from_str(&list).unwrap();
            let mut names: Vec<String> = list["tenants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["tenant"].as_str().unwrap().to_string())
                .collect();
            names.sort();
            if names.len() >= 2 {
                return names;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no tenants listed");
    };
    assert_eq!(tenants(port).await, ["t0", "t1"]);
    for _ in 0..3 {
        kill(child);
        (child, port) = start(&dir, &args);
        ready(port).await;
        assert_eq!(tenants(port).await, ["t0", "t1"], "after a restart");
    }
    kill(child);
}
