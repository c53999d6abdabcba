//! Interval statistics: how a day is cut into intervals, and
//! `callboard replay --intervals`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use callboard::cmd::replay::{ReplayOptions, replay_engine};
use callboard::config::Config;
use callboard::decode::Format;
use callboard::wire::{IntervalRow, QueueInterval};

fn rows(config: &str, ndjson: &str) -> Vec<IntervalRow> {
    let opts = ReplayOptions {
        format: Format::Ndjson,
        tenant: None,
        at: None,
    };
    let config = Arc::new(Config::parse(config, None, None).unwrap());
    replay_engine(ndjson.as_bytes(), config, &opts, |_, _| {})
        .unwrap()
        .intervals(&opts)
}

const SEOUL: &str = "[tenants.acme]\ntz = \"Asia/Seoul\"\n";

/// 2026-11-20T09:14:50+09:00 and what follows, in ms.
const T0: i64 = 1795133690000;

fn ev(id: &str, dt_s: i64, body: &str) -> String {
    format!(
        "{{\"v\":1,\"id\":\"{id}\",\"ts\":{},\"tenant\":\"acme\",{body}}}\n",
        T0 + dt_s * 1000
    )
}

/// A call's counts go to the interval it was queued in, as the day's do:
/// queued at 09:14:50 and answered at 09:15:20, it is inbound and answered
/// in the 09:00 interval (with its 30 s wait), and the 09:15 interval has
/// none of it. An agent's time is split at the interval's edge, and the
/// answer counts at 09:15 by the agent's clock.
#[test]
fn a_call_counts_in_the_interval_it_was_queued_in() {
    let input = [
        ev(
            "a1",
            0,
            r#""type":"agent.state","agent":"kim","state":"ready""#,
        ),
        ev(
            "c1",
            0,
            r#""type":"call.queued","call":"x","queue":"sales""#,
        ),
        ev(
            "c2",
            30,
            r#""type":"call.answered","call":"x","queue":"sales","agent":"kim""#,
        ),
        ev(
            "a2",
            30,
            r#""type":"agent.state","agent":"kim","state":"talking""#,
        ),
        ev(
            "c3",
            90,
            r#""type":"call.ended","call":"x","queue":"sales","agent":"kim""#,
        ),
        ev(
            "a3",
            90,
            r#""type":"agent.state","agent":"kim","state":"ready""#,
        ),
    ]
    .concat();
    let rows = rows(SEOUL, &input);
    let queue: Vec<&QueueInterval> = rows
        .iter()
        .filter_map(|r| match r {
            IntervalRow::Queue(q) => Some(q),
            _ => None,
        })
        .collect();
    assert_eq!(queue.len(), 1, "{rows:#?}");
    let q = queue[0];
    assert_eq!(q.start, "2026-11-20T09:00:00+09:00");
    assert_eq!(q.minutes, 15);
    assert_eq!(
        (q.calls.inbound, q.calls.answered, q.calls.answered_in_sl),
        (1, 1, 0)
    );
    assert_eq!(q.times.wait_answered_sum_s, 30.0);
    assert_eq!(q.times.wait_answered_max_s, 30.0);
    assert_eq!((q.calls.ended, q.times.talk_sum_s), (1, 60.0));
    assert_eq!(q.queue.as_deref(), Some("sales"));

    let agent: Vec<_> = rows
        .iter()
        .filter_map(|r| match r {
            IntervalRow::Agent(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(agent.len(), 2, "{agent:#?}");
    assert_eq!(agent[0].start, "2026-11-20T09:00:00+09:00");
    assert_eq!(agent[0].time_s.ready, 10.0);
    assert_eq!(agent[0].handled, 0);
    assert_eq!(agent[1].start, "2026-11-20T09:15:00+09:00");
    assert_eq!(agent[1].time_s.ready, 20.0);
    assert_eq!(agent[1].time_s.talking, 60.0);
    assert_eq!((agent[1].handled, agent[1].talk_s), (1, 60.0));
}

/// A tenant may choose 30- or 60-minute intervals; anything else is
/// refused with the setting's name.
#[test]
fn interval_length_is_a_tenant_setting() {
    let input = ev(
        "c1",
        0,
        r#""type":"call.queued","call":"x","queue":"sales""#,
    );
    let hourly = rows(&format!("{SEOUL}interval_minutes = 60\n"), &input);
    let IntervalRow::Queue(q) = &hourly[0] else {
        panic!("{hourly:?}")
    };
    assert_eq!(
        (q.start.as_str(), q.minutes),
        ("2026-11-20T09:00:00+09:00", 60)
    );

    let e = Config::parse(&format!("{SEOUL}interval_minutes = 20\n"), None, None).unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("tenants.acme.interval_minutes must be 15, 30 or 60"),
        "{msg}"
    );
}

/// `callboard replay --intervals` prints the rows, one JSON object per
/// line, sorted by tenant, kind, key and start.
#[test]
fn replay_prints_interval_rows_sorted() {
    let input = [
        ev(
            "c1",
            0,
            r#""type":"call.queued","call":"x","queue":"sales""#,
        ),
        ev(
            "c2",
            1000,
            r#""type":"call.queued","call":"y","queue":"care""#,
        ),
        ev(
            "a1",
            1000,
            r#""type":"agent.state","agent":"kim","state":"ready""#,
        ),
        ev(
            "a2",
            1060,
            r#""type":"agent.state","agent":"kim","state":"logged_out""#,
        ),
        ev(
            "k1",
            1000,
            r#""type":"callback.requested","callback":"k","service":"care""#,
        ),
    ]
    .concat();
    let mut child = Command::new(env!("CARGO_BIN_EXE_callboard"))
        .args([
            "replay",
            "--input",
            "-",
            "--intervals",
            "--tz",
            "Asia/Seoul",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let keys: Vec<(String, String, String)> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let key = ["queue", "agent", "service"]
                .iter()
                .find_map(|k| v[k].as_str())
                .unwrap_or_default();
            let start = v["start"].as_str().or(v["day"].as_str()).unwrap();
            (v["kind"].as_str().unwrap().into(), key.into(), start.into())
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let kinds: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    assert_eq!(kinds, ["agent", "callback", "queue", "queue"], "{text}");
    assert_eq!(keys[2].1, "care");
}
