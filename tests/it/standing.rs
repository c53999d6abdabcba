//! A rebuild that reads two days, not the whole log: a tenant's standing
//! facts (agents' state, membership and name; callbacks still open) as of
//! the start of yesterday, restored before the events from then on, give
//! the state that every event from the beginning gives.

use std::sync::Arc;

use callboard::config::Config;
use callboard::decode::decode_json;
use callboard::engine::Engine;
use callboard::event::Event;
use callboard::sim::{SimConfig, Simulator};
use callboard::time::Millis;
use callboard::wire::{Standing, Status};

use crate::support::server::now_ms;

const DAY: Millis = 86_400_000;

fn event(json: String) -> Event<'static> {
    decode_json(json.as_bytes(), 65536).unwrap().into_owned()
}

fn agent(ts: Millis, id: &str, agent: &str, state: &str, extra: &str) -> Event<'static> {
    event(format!(
        r#"{{"v":1,"id":"{id}","ts":{ts},"tenant":"demo","type":"agent.state","agent":"{agent}","state":"{state}"{extra}}}"#
    ))
}

fn callback(ts: Millis, id: &str, kind: &str, cb: &str, agent: Option<&str>) -> Event<'static> {
    let agent = agent.map_or(String::new(), |a| format!(r#","agent":"{a}""#));
    event(format!(
        r#"{{"v":1,"id":"{id}","ts":{ts},"tenant":"demo","type":"callback.{kind}","callback":"{cb}","service":"sales"{agent}}}"#
    ))
}

/// The log: four days of the demo tenant in the order they were sent (the
/// time each was sent, and the event). From its first hour an agent logs
/// in and stays, with callbacks assigned to it (one completed an hour ago);
/// two agents get an event half an hour ago that is dated before
/// yesterday: one is changed by it (its newest state was older), the other
/// not (it changed since).
pub(crate) fn four_days(now: Millis) -> Vec<(Millis, Event<'static>)> {
    let start = now - 4 * DAY;
    // A small center: four days fit in what the mock cluster keeps of a
    // partition (about 32,000 messages).
    let mut sim = SimConfig::demo(start, 7);
    sim.agents = 6;
    sim.peak_calls_per_hour /= 12.0;
    let mut events: Vec<(Millis, Event<'static>)> = Simulator::new(sim)
        .take_while(|e| e.ts < now - 60_000)
        .map(|e| (e.ts, e))
        .collect();
    let before_yesterday = now - 2 * DAY - 3 * 3_600_000;
    for e in [
        agent(
            start + 60_000,
            "m1",
            "marathon",
            "ready",
            r#","services":["sales","support"],"name":"Marathon Kim""#,
        ),
        agent(
            start + 3_600_000,
            "m2",
            "marathon",
            "away",
            r#","reason":"training""#,
        ),
        callback(start + 7_200_000, "c1", "requested", "cb-old", None),
        callback(
            start + 7_300_000,
            "c2",
            "assigned",
            "cb-old",
            Some("marathon"),
        ),
        callback(start + 7_400_000, "c3", "requested", "cb-done-today", None),
        callback(
            start + 7_500_000,
            "c4",
            "assigned",
            "cb-done-today",
            Some("marathon"),
        ),
        callback(
            now - 3_600_000,
            "c5",
            "completed",
            "cb-done-today",
            Some("marathon"),
        ),
        agent(
            start + 120_000,
            "l1",
            "late-changed",
            "ready",
            r#","services":["sales"]"#,
        ),
        agent(
            start + 120_000,
            "l2",
            "late-ignored",
            "ready",
            r#","services":["sales"]"#,
        ),
        agent(now - 5 * 3_600_000, "l3", "late-ignored", "away", ""),
    ] {
        events.push((e.ts, e));
    }
    events.sort_by_key(|(sent, _)| *sent);
    for (id, who, state) in [
        ("l4", "late-changed", "wrap_up"),
        ("l5", "late-ignored", "wrap_up"),
    ] {
        events.push((now - 1_800_000, agent(before_yesterday, id, who, state, "")));
    }
    events
}

fn config() -> Arc<Config> {
    Arc::new(Config::parse("", Some("Asia/Seoul"), None).unwrap())
}

fn engine_of<'a>(
    events: impl Iterator<Item = &'a (Millis, Event<'static>)>,
    standing: Option<&Standing>,
) -> Engine {
    let mut engine = Engine::new(config());
    if let Some(s) = standing {
        engine.restore(s);
    }
    for (_, ev) in events {
        engine.apply(ev);
    }
    engine
}

#[test]
fn two_days_read_after_the_standing_facts_give_what_the_whole_log_gives() {
    let now = now_ms();
    let events = four_days(now);
    assert!(events.len() < 30_000, "{}", events.len());
    let mut whole = engine_of(events.iter(), None);
    let expected = whole.snapshot("demo", now, Status::Live).unwrap();
    let standing = whole.standing("demo", now).unwrap();

    // As of the start of yesterday, local time.
    let cal_day = |ms: Millis| {
        jiff::Timestamp::from_millisecond(ms)
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::get("Asia/Seoul").unwrap())
            .date()
    };
    assert_eq!(
        cal_day(standing.as_of),
        cal_day(now).yesterday().unwrap(),
        "as of yesterday's start"
    );
    assert_eq!(
        cal_day(standing.as_of - 1),
        cal_day(now).yesterday().unwrap().yesterday().unwrap()
    );
    let marathon = standing
        .agents
        .iter()
        .find(|a| &*a.agent == "marathon")
        .unwrap();
    assert_eq!(
        marathon.name.as_ref().unwrap().name.as_deref(),
        Some("Marathon Kim")
    );
    let open: Vec<&str> = standing.callbacks.iter().map(|c| &*c.callback).collect();
    assert!(
        open.contains(&"cb-old") && open.contains(&"cb-done-today"),
        "{open:?}"
    );

    // Through JSON, as the state topic carries it.
    let standing: Standing =
        serde_json::from_str(&serde_json::to_string(&standing).unwrap()).unwrap();
    // The margin before it: the longest a call may wait, and the clock skew.
    let from = standing.as_of - 4 * 3_600_000 - 300_000;
    // The log from the first message sent at or after it.
    let tail: Vec<&(Millis, Event<'static>)> =
        events.iter().skip_while(|(sent, _)| *sent < from).collect();
    assert!(
        tail.len() * 3 < events.len() * 2,
        "about two of four days read: {} of {}",
        tail.len(),
        events.len()
    );
    let restored = engine_of(tail.iter().copied(), Some(&standing));
    let got = restored.snapshot("demo", now, Status::Live).unwrap();
    let agent = |s: &callboard::wire::Snapshot| {
        s.agent_list
            .iter()
            .find(|a| &*a.agent == "marathon")
            .map(|a| (a.state, a.callbacks_open, a.name.clone()))
    };
    assert_eq!(
        agent(&got),
        Some((
            callboard::event::AgentState::Away,
            1,
            Some("Marathon Kim".into())
        )),
        "the agent logged in four days ago, with its open callbacks"
    );
    let state = |s: &callboard::wire::Snapshot, who: &str| {
        s.agent_list
            .iter()
            .find(|a| &*a.agent == who)
            .map(|a| a.state)
    };
    use callboard::event::AgentState::{Away, WrapUp};
    assert_eq!(
        [
            state(&expected, "late-changed"),
            state(&expected, "late-ignored")
        ],
        [Some(WrapUp), Some(Away)],
        "the late events as the whole log took them"
    );
    let (g, e) = (
        serde_json::to_value(&got).unwrap(),
        serde_json::to_value(&expected).unwrap(),
    );
    if g != e {
        let diff = |a: &serde_json::Value, b: &serde_json::Value| -> Vec<String> {
            let mut out = Vec::new();
            fn walk(
                p: String,
                a: &serde_json::Value,
                b: &serde_json::Value,
                out: &mut Vec<String>,
            ) {
                match (a, b) {
                    (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                        for (k, v) in x {
                            walk(
                                format!("{p}.{k}"),
                                v,
                                y.get(k).unwrap_or(&serde_json::Value::Null),
                                out,
                            )
                        }
                    }
                    (serde_json::Value::Array(x), serde_json::Value::Array(y))
                        if x.len() == y.len() =>
                    {
                        for (i, v) in x.iter().enumerate() {
                            walk(format!("{p}[{i}]"), v, &y[i], out)
                        }
                    }
                    _ if a != b => out.push(format!("{p}: {a} != {b}")),
                    _ => {}
                }
            }
            walk(String::new(), a, b, &mut out);
            out
        };
        eprintln!("DIFF {:#?}", diff(&g, &e));
    }
    assert_eq!(g, e, "restored + two days = the whole log");

    // Without the standing facts the same two days lose the agent.
    let bare = engine_of(tail.iter().copied(), None);
    let lost = bare.snapshot("demo", now, Status::Live).unwrap();
    assert_ne!(agent(&lost), agent(&expected));
}
