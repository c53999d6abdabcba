//! The history store end to end: `callboard serve` follows a queue_log,
//! writes interval rows to SQLite (or PostgreSQL), is SIGKILLed and
//! restarted in the middle, and the history it serves over HTTP equals
//! `callboard replay --intervals` of every line; bad report parameters get a
//! clear 4xx.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use callboard::cmd::replay::{ReplayOptions, replay_engine};
use callboard::config::Config;
use callboard::decode::Format;
use callboard::history::Store;
use callboard::wire::{
    AgentReportRow, CallCounts, CallTimes, IntervalRow, QueueReportRow, Report, Within,
};

use crate::follow::{append, served, start, try_get};
use crate::support::server::now_ms;

/// The sample queue_log six times over, 20 minutes apart (call ids moved
/// with their times), then every member removed so that no agent's time
/// runs on: two hours of calls across intervals, ending 5 s before the
/// current 15-minute interval. A service that saw only the first half has
/// its agents logged in through the current interval; the whole log says
/// they left before it.
fn lines() -> Vec<String> {
    let text = include_str!("../../samples/demo.queue_log");
    let ts = |l: &str| l.split('|').next().unwrap().parse::<i64>().unwrap();
    let last = ts(text.lines().last().unwrap());
    let copies = 6;
    let gap = 1200;
    let now = now_ms() / 1000;
    let end = now - now % 900 - 5;
    let base = end - 5 - last - (copies - 1) * gap;
    let mut out = Vec::new();
    for k in 0..copies {
        let shift = base + k * gap;
        for l in text.lines() {
            let mut f: Vec<String> = l.split('|').map(String::from).collect();
            f[0] = (ts(l) + shift).to_string();
            if let Some((int, frac)) = f[1].split_once('.')
                && let Ok(int) = int.parse::<i64>()
            {
                f[1] = format!("{}.{frac}", int + shift);
            }
            out.push(f.join("|") + "\n");
        }
    }
    for queue in ["sales", "support"] {
        for member in ["PJSIP/201", "PJSIP/202"] {
            out.push(format!("{end}|MANAGER|{queue}|{member}|REMOVEMEMBER|\n"));
        }
    }
    out
}

fn replay_rows(text: &str) -> Vec<IntervalRow> {
    let opts = ReplayOptions {
        format: Format::QueueLog,
        tenant: Some("pbx".into()),
        at: Some(now_ms()),
    };
    replay_engine(
        text.as_bytes(),
        Arc::new(Config::default()),
        &opts,
        |_, _| {},
    )
    .unwrap()
    .intervals(&opts)
}

fn ms(s: f64) -> i64 {
    (s * 1000.0).round() as i64
}

/// Queue rows by (start, service, queue): counts, then durations in ms.
pub(crate) type Queues = BTreeMap<(String, Option<String>, Option<String>), Vec<i64>>;
/// Agent rows by (start, agent): times, counts, away by reason, in ms.
pub(crate) type Agents = BTreeMap<(String, String), (Vec<i64>, BTreeMap<String, i64>)>;

/// A queue row's stored figures, in the table's order: counts, then
/// times in milliseconds, then each threshold and its answers within.
fn queue_figures(calls: &CallCounts, times: &CallTimes, within: &Within) -> Vec<i64> {
    calls
        .values()
        .chain(times.values_ms())
        .chain(within.0.iter().flat_map(|(&t, &n)| [t as u64, n]))
        .map(|v| v as i64)
        .collect()
}

pub(crate) fn expected(rows: &[IntervalRow]) -> (Queues, Agents) {
    let (mut queues, mut agents) = (Queues::new(), Agents::new());
    for r in rows {
        match r {
            IntervalRow::Queue(q) => {
                let figures = queue_figures(&q.calls, &q.times, &q.answered_within);
                let key = (
                    q.start.clone(),
                    q.service.as_deref().map(String::from),
                    q.queue.as_deref().map(String::from),
                );
                queues.insert(key, figures);
            }
            IntervalRow::Agent(a) => {
                let t = a.time_s;
                let figures = vec![
                    ms(t.ready),
                    ms(t.away),
                    ms(t.ringing),
                    ms(t.talking),
                    ms(t.dialing),
                    ms(t.outbound),
                    ms(t.wrap_up),
                    a.handled as i64,
                    a.missed as i64,
                    ms(a.talk_s),
                    a.outbound as i64,
                ];
                let away = a
                    .away_s
                    .iter()
                    .map(|(k, v)| (k.to_string(), ms(*v)))
                    .collect();
                agents.insert((a.start.clone(), a.agent.to_string()), (figures, away));
            }
            IntervalRow::Callback(_) => {}
        }
    }
    (queues, agents)
}

pub(crate) fn from_report(queue: &[QueueReportRow], agent: &[AgentReportRow]) -> (Queues, Agents) {
    let queues = queue
        .iter()
        .map(|q| {
            let key = (
                q.period.clone(),
                q.service.as_deref().map(String::from),
                q.queue.as_deref().map(String::from),
            );
            let figures = queue_figures(&q.calls, &q.times, &q.answered_within);
            (key, figures)
        })
        .collect();
    let agents = agent
        .iter()
        .map(|a| {
            let t = a.time_s;
            let figures = vec![
                ms(t.ready),
                ms(t.away),
                ms(t.ringing),
                ms(t.talking),
                ms(t.dialing),
                ms(t.outbound),
                ms(t.wrap_up),
                a.handled as i64,
                a.missed as i64,
                ms(a.talk_s),
                a.outbound as i64,
            ];
            let away = a
                .away_s
                .iter()
                .map(|(k, v)| (k.to_string(), ms(*v)))
                .collect();
            ((a.period.clone(), a.agent.to_string()), (figures, away))
        })
        .collect();
    (queues, agents)
}

async fn report(addr: SocketAddr, query: &str) -> Option<Report> {
    report_of(addr, "pbx", query).await
}

async fn report_of(addr: SocketAddr, tenant: &str, query: &str) -> Option<Report> {
    match try_get(addr, &format!("/api/v1/tenants/{tenant}/history?{query}")).await {
        Ok((200, _, body)) => Some(serde_json::from_str(&body).unwrap()),
        _ => None,
    }
}

/// The range of yesterday and today, UTC, as report parameters.
fn yesterday_and_today() -> String {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    format!("from={}&to={today}", today.yesterday().unwrap())
}

/// The served history of `tenant` over `range` (report parameters), by
/// queue and by agent, per interval.
pub(crate) async fn served_history_of(
    addr: SocketAddr,
    tenant: &str,
    range: &str,
) -> Option<(Queues, Agents)> {
    let q = report_of(addr, tenant, &format!("{range}&by=queue&step=interval")).await?;
    let a = report_of(addr, tenant, &format!("{range}&by=agent&step=interval")).await?;
    match (q.rows, a.rows) {
        (callboard::wire::ReportRows::Queue(q), callboard::wire::ReportRows::Agent(a)) => {
            Some(from_report(&q, &a))
        }
        // An empty report of one kind reads as the other's shape.
        (callboard::wire::ReportRows::Queue(q), callboard::wire::ReportRows::Queue(_)) => {
            Some(from_report(&q, &[]))
        }
        _ => None,
    }
}

/// Waits until the served history is `want` (its queue rows only with
/// `queues_only`: agents still logged in have time running on); the last
/// difference if not.
async fn history_becomes(
    addr: SocketAddr,
    want: &(Queues, Agents),
    queues_only: bool,
) -> Result<(), String> {
    history_of_becomes(addr, "pbx", &yesterday_and_today(), want, queues_only).await
}

/// [`history_becomes`], of `tenant` over `range`.
pub(crate) async fn history_of_becomes(
    addr: SocketAddr,
    tenant: &str,
    range: &str,
    want: &(Queues, Agents),
    queues_only: bool,
) -> Result<(), String> {
    let mut last = String::from("no history served");
    for _ in 0..150 {
        if let Some(got) = served_history_of(addr, tenant, range).await {
            if got.0 == want.0 && (queues_only || got.1 == want.1) {
                return Ok(());
            }
            last = format!(
                "queue rows {} (want {}), agent rows {} (want {}); first queue difference: {:?}",
                got.0.len(),
                want.0.len(),
                got.1.len(),
                want.1.len(),
                want.0
                    .iter()
                    .find(|(k, v)| got.0.get(*k) != Some(*v))
                    .map(|(k, v)| (k, v, got.0.get(k)))
            ) + &format!(
                "; first agent difference: {:?}",
                want.1
                    .iter()
                    .find(|(k, v)| got.1.get(*k) != Some(*v))
                    .map(|(k, v)| (k, v, got.1.get(k)))
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last)
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Follows a log into `history`, killed and restarted in the middle.
async fn served_history_equals_replay(history: &str, dir: &Path) {
    let log = dir.join("queue_log");
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let lines = lines();
    let (a, b) = lines.split_at(lines.len() / 2);
    let args = ["--history", history];

    let mut serve = start(&log, port, &args);
    for l in a {
        append(&log, l);
    }
    let first = replay_rows(&a.concat());
    let inbound_a = callboard::cmd::replay::replay(
        a.concat().as_bytes(),
        Arc::new(Config::default()),
        &ReplayOptions {
            format: Format::QueueLog,
            tenant: Some("pbx".into()),
            at: Some(now_ms()),
        },
        |_, _| {},
    )
    .unwrap()
    .0[0]
        .totals
        .calls
        .inbound;
    served(port, inbound_a).await;
    // The first half is in the store (written within seconds)...
    history_becomes(addr, &expected(&first), true)
        .await
        .unwrap_or_else(|e| panic!("the first half's history: {e}"));

    // ... when the service is killed; the rest is written while it is down.
    serve.kill().unwrap();
    serve.wait().unwrap();
    for l in b {
        append(&log, l);
    }
    let mut serve = start(&log, port, &args);
    let all = lines.concat();
    let want = expected(&replay_rows(&all));
    assert!(
        want.0.len() >= 6 && want.1.len() >= 6,
        "the log spans intervals: {want:?}"
    );
    let got = history_becomes(addr, &want, false).await;

    // Reports that are refused, never with a 5xx.
    for (query, status) in [
        ("step=week", 400),
        ("from=2026-11-21&to=2026-11-01", 400),
        ("from=2016-01-01&to=2026-01-01", 400),
        ("by=callback&step=interval", 400),
        ("from=yesterday", 400),
    ] {
        let (got, _, body) = try_get(addr, &format!("/api/v1/tenants/pbx/history?{query}"))
            .await
            .unwrap();
        assert_eq!(got, status, "{query}: {body}");
        assert!(body.contains("\"error\""), "{query}: {body}");
    }
    let (status, head, body) = try_get(addr, "/api/v1/tenants/pbx/history?by=queue&format=csv")
        .await
        .unwrap();
    serve.kill().unwrap();
    serve.wait().unwrap();
    got.unwrap_or_else(|e| panic!("after a kill and a restart: {e}"));
    // The day rows (what day and month reports read) add up to the
    // intervals, agents restated and all.
    let mut serve = start(&log, port, &args);
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let range = format!("from={}&to={today}", today.yesterday().unwrap());
    let days = loop {
        if let Some(r) = report(addr, &format!("{range}&by=agent&step=day")).await {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    serve.kill().unwrap();
    serve.wait().unwrap();
    let callboard::wire::ReportRows::Agent(days) = days.rows else {
        panic!("an agent report");
    };
    let by_day = |rows: &Agents| -> BTreeMap<(String, String), Vec<i64>> {
        let mut out: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
        for ((start, agent), (figures, _)) in rows {
            let e = out
                .entry((start[..10].to_string(), agent.clone()))
                .or_insert(vec![0; figures.len()]);
            for (a, b) in e.iter_mut().zip(figures) {
                *a += b;
            }
        }
        out
    };
    let (_, got_days) = from_report(&[], &days);
    assert_eq!(
        by_day(
            &got_days
                .into_iter()
                .map(|((d, a), v)| ((format!("{d}T"), a), v))
                .collect()
        ),
        by_day(&want.1)
    );
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("text/csv"), "{head}");
    assert!(
        body.starts_with("\u{feff}period,service,queue,inbound"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_history_equals_replay_after_a_kill_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("callboard-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("history.sqlite");
    served_history_equals_replay(db.to_str().unwrap(), &dir).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// On PostgreSQL: `CALLBOARD_TEST_POSTGRES` names an empty database
/// (`.ci/run` sets one up); required when `CI` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_history_equals_replay_after_a_kill_on_postgres() {
    let Some(url) = crate::support::postgres_for("pbx").await else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("callboard-store-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    served_history_equals_replay(&url, &dir).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The demo day replayed: its config, options and engine.
fn demo_day() -> (Arc<Config>, ReplayOptions, callboard::cmd::replay::Replayed) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/demo-day.ndjson"),
    )
    .unwrap();
    let opts = ReplayOptions {
        format: Format::Ndjson,
        tenant: None,
        at: None,
    };
    // Several thresholds: the reports carry each.
    let config = Arc::new(
        Config::parse(
            "[defaults]\nsl_thresholds_s = [10, 20, 30, 60]\n",
            None,
            None,
        )
        .unwrap(),
    );
    let replayed = replay_engine(text.as_bytes(), config.clone(), &opts, |_, _| {}).unwrap();
    (config, opts, replayed)
}

/// An empty SQLite history store in a directory of its own (removed by the
/// test when it is done).
async fn sqlite_store(name: &str) -> (std::path::PathBuf, callboard::history::Store) {
    let dir = std::env::temp_dir().join(format!("callboard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = callboard::history::Store::open(&callboard::history::Location::Sqlite(
        dir.join("h.sqlite"),
    ))
    .await
    .unwrap();
    (dir, store)
}

/// Reports read from a store holding the rows of the demo day: every
/// grouping and step sums to the day's figures, ratios come from the sums,
/// and rows and reports are valid against their schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_sum_the_day_and_match_their_schemas() {
    use callboard::history::report::{Query, run};
    use callboard::wire::ReportRows;

    let (config, opts, replayed) = demo_day();
    let rows = replayed.intervals(&opts);
    let snapshot = replayed.snapshots(&opts).remove(0);
    let schema = |name: &str| {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schemas/{name}")),
        )
        .unwrap();
        jsonschema::options()
            .should_validate_formats(true)
            .build(&serde_json::from_str(&text).unwrap())
            .unwrap()
    };
    let interval_schema = schema("interval.schema.json");
    for r in &rows {
        let v = serde_json::to_value(r).unwrap();
        let errs: Vec<String> = interval_schema
            .iter_errors(&v)
            .map(|e| e.to_string())
            .collect();
        assert!(errs.is_empty(), "{v}: {errs:?}");
    }

    let (dir, store) = sqlite_store("report").await;
    store.write(&[], &rows).await.unwrap();
    // Written twice (a restart's rebuild): nothing doubles.
    store.write(&[], &rows).await.unwrap();

    let tenant = snapshot.tenant.to_string();
    let day: jiff::civil::Date = snapshot.day.parse().unwrap();
    let settings = config.tenant(&tenant);
    let report_schema = schema("report.schema.json");
    let t = &snapshot.totals;
    for by in ["tenant", "service", "queue", "agent", "callback"] {
        for step in ["interval", "hour", "day", "month"] {
            let params = vec![
                ("from".to_string(), day.to_string()),
                ("by".to_string(), by.to_string()),
                ("step".to_string(), step.to_string()),
            ];
            let Ok(q) = Query::parse(&tenant, &params, day) else {
                assert!(by == "callback" && matches!(step, "interval" | "hour"));
                continue;
            };
            let report = run(&store, &q, &settings).await.unwrap();
            let v = serde_json::to_value(&report).unwrap();
            let errs: Vec<String> = report_schema
                .iter_errors(&v)
                .map(|e| e.to_string())
                .collect();
            assert!(errs.is_empty(), "{by}/{step}: {errs:?}");
            match &report.rows {
                ReportRows::Queue(r) if by != "agent" && by != "callback" => {
                    // Rows of calls with no queue are outbound only.
                    let sum = |f: fn(&QueueReportRow) -> u64| r.iter().map(f).sum::<u64>();
                    assert_eq!(
                        [
                            sum(|r| r.calls.inbound),
                            sum(|r| r.calls.answered),
                            sum(|r| r.calls.abandoned),
                            sum(|r| r.calls.answered_in_sl)
                        ],
                        [
                            t.calls.inbound,
                            t.calls.answered,
                            t.calls.abandoned,
                            t.calls.answered_in_sl
                        ],
                        "{by}/{step}"
                    );
                    // Answers within each threshold sum to the day's, in
                    // every grouping and step; the CSV has a column each.
                    let mut within: BTreeMap<u32, u64> = BTreeMap::new();
                    for row in r {
                        for (&k, &n) in &row.answered_within.0 {
                            *within.entry(k).or_default() += n;
                        }
                    }
                    assert_eq!(within, t.answered_within.0, "{by}/{step}");
                    assert_eq!(within.keys().copied().collect::<Vec<_>>(), [10, 20, 30, 60]);
                    assert_eq!(within[&20], t.calls.answered_in_sl, "{by}/{step}");
                    let csv =
                        String::from_utf8(callboard::history::export::to_csv(&report)).unwrap();
                    let head = csv.lines().next().unwrap();
                    assert!(head.ends_with("answered_within_10,answered_within_20,answered_within_30,answered_within_60"), "{head}");
                    if by == "tenant" && step == "day" {
                        assert_eq!(r.len(), 1);
                        assert_eq!(
                            (r[0].answer_rate, r[0].service_level, r[0].asa_s),
                            (t.answer_rate, t.service_level, t.asa_s)
                        );
                    }
                }
                ReportRows::Agent(r) => {
                    assert_eq!(by, "agent");
                    let handled: u64 = r.iter().map(|a| a.handled).sum();
                    let want: u64 = snapshot.agent_list.iter().map(|a| a.handled).sum();
                    assert_eq!(handled, want, "agent/{step}");
                }
                ReportRows::Callback(r) => {
                    assert_eq!(by, "callback");
                    let requested: u64 = r.iter().map(|c| c.requested).sum();
                    assert_eq!(requested, snapshot.callbacks.requested, "callback/{step}");
                }
                // An empty report deserialises as any kind; only agents
                // and callbacks may be empty here.
                ReportRows::Queue(r) => assert!(r.is_empty(), "{by}/{step}"),
            }
        }
    }
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A queue moved to another service during the day takes its day with it,
/// as on the board: its day row (and so the service's day) is under the
/// service of its latest interval, whatever order the rows were written in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_moved_to_another_service_takes_its_day_with_it() {
    use callboard::history::report::{Query, run};
    use callboard::wire::ReportRows;

    let (config, opts, replayed) = demo_day();
    let mut rows = replayed.intervals(&opts);
    // The busiest queue's latest interval moves it to a new service.
    let mut inbound: BTreeMap<Arc<str>, (u64, String)> = BTreeMap::new();
    for r in &rows {
        if let IntervalRow::Queue(q) = r
            && let Some(name) = &q.queue
        {
            let e = inbound.entry(name.clone()).or_default();
            e.0 += q.calls.inbound;
            e.1 = e.1.clone().max(q.start.clone());
        }
    }
    let (queue, (day_inbound, last)) = inbound
        .iter()
        .max_by_key(|(_, (n, _))| *n)
        .map(|(q, v)| (q.clone(), v.clone()))
        .unwrap();
    let (mut early, mut late) = (Vec::new(), Vec::new());
    for r in rows.drain(..) {
        match r {
            IntervalRow::Queue(mut q) if q.queue.as_ref() == Some(&queue) && q.start == last => {
                q.service = Some("moved".into());
                late.push(IntervalRow::Queue(q));
            }
            r => early.push(r),
        }
    }
    let (dir, store) = sqlite_store("moved").await;
    // The latest interval first, the rest after: the day row follows the
    // rows' times, not the order they were written in.
    store.write(&[], &late).await.unwrap();
    store.write(&[], &early).await.unwrap();

    let tenant = replayed.snapshots(&opts).remove(0);
    let day: jiff::civil::Date = tenant.day.parse().unwrap();
    let settings = config.tenant(&tenant.tenant);
    let report = |by: &str, step: &str| {
        let params = vec![
            ("from".to_string(), day.to_string()),
            ("by".to_string(), by.to_string()),
            ("step".to_string(), step.to_string()),
        ];
        Query::parse(&tenant.tenant, &params, day).unwrap()
    };
    let ReportRows::Queue(by_queue) = run(&store, &report("queue", "day"), &settings)
        .await
        .unwrap()
        .rows
    else {
        panic!("a queue report")
    };
    let row = by_queue
        .iter()
        .find(|r| r.queue.as_ref() == Some(&queue))
        .unwrap();
    assert_eq!(row.service.as_deref(), Some("moved"));
    assert_eq!(row.calls.inbound, day_inbound);
    let ReportRows::Queue(by_service) = run(&store, &report("service", "day"), &settings)
        .await
        .unwrap()
        .rows
    else {
        panic!("a service report")
    };
    let moved = by_service
        .iter()
        .find(|r| r.service.as_deref() == Some("moved"))
        .unwrap();
    assert_eq!(moved.calls.inbound, day_inbound, "the queue's whole day");
    // By interval, each row stays under the service it was written with.
    let ReportRows::Queue(by_interval) = run(&store, &report("service", "interval"), &settings)
        .await
        .unwrap()
        .rows
    else {
        panic!("a service report")
    };
    let moved: Vec<_> = by_interval
        .iter()
        .filter(|r| r.service.as_deref() == Some("moved"))
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].period, last);
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The demo's past: the days before yesterday are simulated into an empty
/// store once; a second start finds them and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_starts_with_a_week_of_history_written_once() {
    use callboard::history::backfill::{DAYS, simulated_past};
    use callboard::history::report::{Query, run};
    use callboard::wire::ReportRows;

    let (dir, store) = sqlite_store("backfill").await;
    let mut sim = callboard::sim::SimConfig::demo(0, 1);
    sim.agents = 6;
    sim.peak_calls_per_hour = 60.0;
    let mut config = Config::default();
    config.default_tenant_tz(&sim.tenant, &sim.tz);
    let config = Arc::new(config);
    let now = now_ms();
    let written = simulated_past(&store, config.clone(), std::slice::from_ref(&sim), now)
        .await
        .unwrap();
    assert_eq!(written as i64, DAYS - 1, "the days before yesterday");
    let again = simulated_past(&store, config.clone(), std::slice::from_ref(&sim), now)
        .await
        .unwrap();
    assert_eq!(again, 0, "days already there are not written again");

    let settings = config.tenant(&sim.tenant);
    let today = jiff::Timestamp::from_millisecond(now)
        .unwrap()
        .to_zoned(settings.tz.clone())
        .date();
    let params = vec![
        (
            "from".to_string(),
            today
                .checked_sub(jiff::Span::new().days(DAYS))
                .unwrap()
                .to_string(),
        ),
        ("to".to_string(), today.to_string()),
    ];
    let q = Query::parse(&sim.tenant, &params, today).unwrap();
    let ReportRows::Queue(days) = run(&store, &q, &settings).await.unwrap().rows else {
        panic!("a calls report");
    };
    assert_eq!(days.len() as i64, DAYS - 1, "{days:?}");
    assert!(
        days.iter()
            .all(|d| d.calls.inbound > 100 && d.answer_rate.is_some()),
        "{days:?}"
    );
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What the store holds of `tenant` from `from` to `to`, by queue and by
/// agent, per interval.
pub(crate) async fn stored(
    store: &callboard::history::Store,
    tenant: &str,
    from: &str,
    to: &str,
) -> (Queues, Agents) {
    let read = |by: callboard::wire::By| {
        let q = callboard::history::report::Query {
            tenant: tenant.into(),
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
            by,
            step: callboard::wire::Step::Interval,
            csv: false,
            format_named: false,
            people: None,
            only: Default::default(),
        };
        async move {
            callboard::history::report::run(store, &q, &Config::default().tenant(tenant))
                .await
                .unwrap()
                .rows
        }
    };
    let (callboard::wire::ReportRows::Queue(q), a) = (
        read(callboard::wire::By::Queue).await,
        read(callboard::wire::By::Agent).await,
    ) else {
        panic!("a queue report");
    };
    let a = match a {
        callboard::wire::ReportRows::Agent(a) => a,
        _ => Vec::new(),
    };
    from_report(&q, &a)
}

/// The stored rows are the wanted ones; the first differences if not.
pub(crate) fn assert_same(got: (Queues, Agents), want: (Queues, Agents)) {
    let queues: Vec<String> = want
        .0
        .iter()
        .filter(|(k, v)| got.0.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k:?}: want {v:?}, stored {:?}", got.0.get(k)))
        .chain(
            got.0
                .keys()
                .filter(|k| !want.0.contains_key(*k))
                .map(|k| format!("{k:?} only stored")),
        )
        .take(3)
        .collect();
    let agents: Vec<String> = want
        .1
        .iter()
        .filter(|(k, v)| got.1.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k:?}: want {v:?}, stored {:?}", got.1.get(k)))
        .chain(
            got.1
                .keys()
                .filter(|k| !want.1.contains_key(*k))
                .map(|k| format!("{k:?} only stored")),
        )
        .take(3)
        .collect();
    assert!(
        queues.is_empty() && agents.is_empty(),
        "{} queue and {} agent rows wanted, {} and {} stored:\n{}\n{}",
        want.0.len(),
        want.1.len(),
        got.0.len(),
        got.1.len(),
        queues.join("\n"),
        agents.join("\n")
    );
}

/// A row the database refuses (a NUL in a text: PostgreSQL stores none,
/// and every entrance refuses one now; here it is handed to the writer
/// straight) stops nothing: the writer sets that row aside and writes every
/// other, of its tenant and of the others, in later rounds too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_the_database_refuses_is_set_aside_and_the_others_written() {
    use callboard::engine::HistoryBatch;
    let Some(url) = crate::support::postgres_for("poisoned").await else {
        return;
    };
    crate::support::postgres_for("clean").await;
    let (_, opts, replayed) = demo_day();
    let rows = replayed.intervals(&opts);
    let of = |tenant: &str| -> Vec<IntervalRow> {
        rows.iter()
            .cloned()
            .map(|mut r| {
                match &mut r {
                    IntervalRow::Queue(q) => q.tenant = tenant.into(),
                    IntervalRow::Agent(a) => a.tenant = tenant.into(),
                    IntervalRow::Callback(c) => c.tenant = tenant.into(),
                }
                r
            })
            .collect()
    };
    let (clean, mut poisoned) = (of("clean"), of("poisoned"));
    let bad = poisoned
        .iter()
        .position(|r| matches!(r, IntervalRow::Agent(_)))
        .unwrap();
    if let IntervalRow::Agent(a) = &mut poisoned[bad] {
        a.away_s.insert("meal\u{0}".into(), 60.0);
    }
    let store = Store::open(&callboard::history::Location::Postgres(url))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let writer = tokio::spawn(callboard::history::writer::run(store.clone(), rx, 400));
    let batch = |tenant: &str, rows: Vec<IntervalRow>| HistoryBatch {
        tenant: tenant.into(),
        restate_agents_from: None,
        rows,
    };
    tx.send(vec![
        batch("poisoned", poisoned.clone()),
        batch("clean", clean.clone()),
    ])
    .await
    .unwrap();
    // A later round of the same tenant is written too.
    tx.send(vec![batch("poisoned", poisoned[..3].to_vec())])
        .await
        .unwrap();
    drop(tx);
    tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("the writer ends, with nothing left retried forever")
        .unwrap();
    let store = Store::open(store.location()).await.unwrap();
    let day = |rows: &[IntervalRow]| match &rows[0] {
        IntervalRow::Queue(q) => q.start[..10].to_string(),
        IntervalRow::Agent(a) => a.start[..10].to_string(),
        IntervalRow::Callback(c) => c.day.clone(),
    };
    let d = day(&rows);
    assert_same(stored(&store, "clean", &d, &d).await, expected(&clean));
    let mut want = poisoned.clone();
    want.remove(bad);
    assert_same(stored(&store, "poisoned", &d, &d).await, expected(&want));
    store.close().await;
}

/// Reports are streamed: a large one (100 queues × 96 intervals × 5 days)
/// comes out as the rows are read and equals the report made whole, as JSON
/// and as CSV; reports at once are bounded (one more gets a 503 with
/// Retry-After while two hold their places), and health checks answer
/// meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_streamed_and_bounded() {
    use callboard::cmd::serve::settings::{HistorySettings, HttpSettings, ServeSettings};
    use callboard::history::report::{Query, run};
    use callboard::wire::{QueueInterval, Report};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (dir, store) = sqlite_store("big-reports").await;
    let day0 = jiff::civil::date(2026, 11, 1);
    let mut rows = Vec::new();
    for d in 0..5 {
        let day = day0.checked_add(jiff::Span::new().days(d)).unwrap();
        for q in 0..100 {
            for i in 0..96 {
                let start = day
                    .at((i / 4) as i8, (i % 4 * 15) as i8, 0, 0)
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .unwrap();
                rows.push(IntervalRow::Queue(QueueInterval {
                    tenant: "big".into(),
                    queue: Some(format!("q{q:03}").into()),
                    service: Some(format!("s{}", q % 10).into()),
                    start: start.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
                    minutes: 15,
                    calls: CallCounts {
                        inbound: 3,
                        answered: 2,
                        abandoned: 1,
                        answered_in_sl: 2,
                        ivr: 3,
                        ended: 2,
                        ..Default::default()
                    },
                    times: CallTimes {
                        wait_answered_sum_s: 12.5,
                        wait_answered_max_s: 9.0,
                        wait_abandoned_sum_s: 30.0,
                        talk_sum_s: 400.0,
                        wrap_sum_s: 60.0,
                        ..Default::default()
                    },
                    answered_within: Within([(20, 2)].into()),
                }));
            }
        }
    }
    for chunk in rows.chunks(20_000) {
        store.write(&[], chunk).await.unwrap();
    }
    let config = Config::parse("[tenants.big]\ntz = \"UTC\"\n", None, None).unwrap();
    let srv = crate::support::server::Server::start(
        config.clone(),
        ServeSettings {
            engine: crate::support::server::engine(1, 50),
            history: Some(HistorySettings {
                location: callboard::history::Location::Sqlite(dir.join("h.sqlite")),
                retention_days: 36_500,
            }),
            http: HttpSettings {
                max_reports: 2,
                ..HttpSettings::default()
            },
            ..ServeSettings::default()
        },
    )
    .await;
    let path = "/api/v1/tenants/big/history?from=2026-11-01&to=2026-11-05&by=queue&step=interval";
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(path.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    let q = Query::parse("big", &params, day0).unwrap();
    let whole = run(&store, &q, &config.tenant("big")).await.unwrap();
    let callboard::wire::ReportRows::Queue(whole_rows) = &whole.rows else {
        panic!("a queue report");
    };
    assert_eq!(whole_rows.len(), 48_000);

    // Two reports whose bodies nobody reads hold the two places.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        held.push(s);
    }
    let (status, head, body) = crate::support::http(srv.addr, "GET", path, &[], "").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 5"),
        "{head}"
    );
    let started = std::time::Instant::now();
    let (status, _, _) = crate::support::http(srv.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(status, 200);
    eprintln!(
        "healthz while two reports are held: {:?}",
        started.elapsed()
    );
    drop(held);

    // Once they are gone, a report streams whole: the same as made whole.
    let mut got = None;
    for _ in 0..100 {
        let (status, _, body) = crate::support::http(srv.addr, "GET", path, &[], "").await;
        if status == 200 {
            got = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let streamed: Report =
        serde_json::from_str(&got.expect("a report once the places are free")).unwrap();
    assert_eq!(streamed, whole);
    let (status, _, csv) =
        crate::support::http(srv.addr, "GET", &format!("{path}&format=csv"), &[], "").await;
    assert_eq!(status, 200);
    let want = String::from_utf8(callboard::history::export::to_csv(&whole)).unwrap();
    assert_eq!(csv, want);
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reports by agent name the people: each agent's latest display name (from
/// its `agent.state` events) is kept with the rows, shown in the JSON
/// report and in the CSV's `name` column; an agent without one has `null`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reports_name_the_agents_by_their_latest_name() {
    use callboard::history::report::{Query, run};

    let config = Config::parse("[tenants.acme]\ntz = \"UTC\"\n", None, None).unwrap();
    let ev = |id: &str, ts: &str, body: &str| {
        format!(r#"{{"v":1,"id":"{id}","ts":"{ts}","tenant":"acme","type":"agent.state",{body}}}"#)
    };
    let day = [
        ev(
            "1",
            "2026-11-20T09:00:00Z",
            r#""agent":"a1","state":"ready","name":"김민준""#,
        ),
        ev(
            "2",
            "2026-11-20T09:00:00Z",
            r#""agent":"a2","state":"ready""#,
        ),
        ev(
            "3",
            "2026-11-20T09:20:00Z",
            r#""agent":"a1","state":"away","name":"김민준 (팀장)""#,
        ),
        ev(
            "4",
            "2026-11-20T09:40:00Z",
            r#""agent":"a1","state":"logged_out""#,
        ),
        ev(
            "5",
            "2026-11-20T09:40:00Z",
            r#""agent":"a2","state":"logged_out""#,
        ),
    ]
    .join("\n");
    let opts = ReplayOptions {
        format: Format::Ndjson,
        tenant: None,
        at: None,
    };
    let rows = replay_engine(day.as_bytes(), Arc::new(config.clone()), &opts, |_, _| {})
        .unwrap()
        .intervals(&opts);
    let named: Vec<_> = rows
        .iter()
        .filter_map(|r| match r {
            IntervalRow::Agent(a) => {
                Some((a.agent.to_string(), a.name.as_deref().map(str::to_string)))
            }
            _ => None,
        })
        .collect();
    assert!(
        named.contains(&("a1".into(), Some("김민준 (팀장)".into()))),
        "{named:?}"
    );
    let (dir, store) = sqlite_store("agent-names").await;
    store.write(&[], &rows).await.unwrap();
    let params: Vec<(String, String)> = [
        ("from", "2026-11-20"),
        ("to", "2026-11-20"),
        ("by", "agent"),
        ("step", "day"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let q = Query::parse("acme", &params, jiff::civil::date(2026, 11, 20)).unwrap();
    let report = run(&store, &q, &config.tenant("acme")).await.unwrap();
    let callboard::wire::ReportRows::Agent(agents) = &report.rows else {
        panic!("an agent report");
    };
    let names: Vec<_> = agents
        .iter()
        .map(|r| (&*r.agent, r.name.as_deref()))
        .collect();
    assert_eq!(names, [("a1", Some("김민준 (팀장)")), ("a2", None)]);
    let json = serde_json::to_value(&agents[1]).unwrap();
    assert!(json["name"].is_null(), "{json}");
    let csv = callboard::history::export::CsvRows::new(callboard::wire::By::Agent, vec![]);
    assert_eq!(&csv.head()[..3], ["period", "agent", "name"]);
    let rec = csv.record(&callboard::history::report::ReportRow::Agent(
        agents[0].clone(),
    ));
    assert_eq!(&rec[..3], ["2026-11-20", "a1", "김민준 (팀장)"]);
    // The CSV for people (format=excel&lang=ko): Korean headings, the
    // name, durations as h:mm:ss, percentages with %, a date Excel reads.
    let excel = |lang: &str| -> Vec<(String, String)> {
        [
            ("from", "2026-11-20"),
            ("by", "agent"),
            ("step", "interval"),
            ("format", "excel"),
            ("lang", lang),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let q = Query::parse("acme", &excel("ko"), jiff::civil::date(2026, 11, 20)).unwrap();
    assert!(q.csv);
    let intervals = run(&store, &q, &config.tenant("acme")).await.unwrap();
    let callboard::wire::ReportRows::Agent(intervals) = &intervals.rows else {
        panic!("an agent report");
    };
    let people =
        callboard::history::export::CsvRows::new(callboard::wire::By::Agent, vec![Arc::from("")])
            .for_people(callboard::history::export::Lang::Ko, Default::default());
    let head = people.head();
    assert_eq!(
        &head[..5],
        ["기간", "상담원 ID", "상담원", "로그인 시간", "수신대기"]
    );
    assert_eq!(head.last().unwrap(), "자리비움: 사유 없음");
    let first = people.record(&callboard::history::report::ReportRow::Agent(
        intervals[0].clone(),
    ));
    // a1 logged in at 09:00 UTC: the 09:00 interval, 15 minutes ready.
    assert_eq!(
        &first[..5],
        [
            "2026-11-20 09:00",
            "a1",
            "김민준 (팀장)",
            "0:15:00",
            "0:15:00"
        ]
    );
    let occupancy = head.iter().position(|h| h == "점유율").unwrap();
    assert_eq!(first[occupancy], "0.0%");
    assert_eq!(
        Query::parse(
            "acme",
            &[("lang".into(), "ko".into())],
            jiff::civil::date(2026, 11, 20)
        )
        .unwrap_err(),
        "`lang` is for format=excel (a CSV for people): a machine's CSV and JSON have one language"
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A callback completed before its request came is first kept under no
/// service; the request, delivered late, moves it to its service: the
/// store, written between the two, ends with the request's row only, as
/// replay of the same events has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_moved_by_its_late_request_leaves_no_row_behind() {
    use callboard::engine::HistoryBatch;
    use callboard::wire::{By, ReportRows, Step};
    let (_dir, store) = sqlite_store("callback-moved").await;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let writer = tokio::spawn(callboard::history::writer::run(store.clone(), rx, 400));
    let mut h = crate::support::Harness::new();
    let events = [
        (
            "2026-11-21T03:02:00Z",
            "callback.completed",
            serde_json::json!({"callback": "k1", "agent": "a1"}),
        ),
        (
            "2026-11-21T03:00:00Z",
            "callback.requested",
            serde_json::json!({"callback": "k1", "service": "sales"}),
        ),
    ];
    for (ts, ty, fields) in events {
        h.send(ts, ty, fields);
        let rows = h.engine.take_changed_intervals(crate::support::at(ts));
        tx.send(vec![HistoryBatch {
            tenant: "acme".into(),
            restate_agents_from: None,
            rows,
        }])
        .await
        .unwrap();
    }
    drop(tx);
    tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .unwrap()
        .unwrap();
    let store = Store::open(store.location()).await.unwrap();
    let q = callboard::history::report::Query {
        tenant: "acme".into(),
        from: "2026-11-21".parse().unwrap(),
        to: "2026-11-21".parse().unwrap(),
        by: By::Callback,
        step: Step::Day,
        csv: false,
        format_named: false,
        people: None,
        only: Default::default(),
    };
    let report = callboard::history::report::run(&store, &q, &Config::default().tenant("acme"))
        .await
        .unwrap();
    let ReportRows::Callback(rows) = report.rows else {
        panic!("callback rows");
    };
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.service.as_deref().map(String::from),
                r.requested,
                r.completed,
            )
        })
        .collect();
    assert_eq!(got, [(Some("sales".to_string()), 1, 1)]);
    store.close().await;
}
