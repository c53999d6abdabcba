//! Properties that must hold for any event stream, however odd.

use std::io::{self, Read};
use std::sync::Arc;

use callboard::cmd::replay::{ReplayOptions, replay};
use callboard::config::Config;
use callboard::decode::{Format, decode_json};
use callboard::engine::Engine;
use callboard::time::{Millis, parse_rfc3339};
use callboard::wire::{
    AgentInterval, CallCounts, CallTimes, CallbackInterval, IntervalRow, QueueInterval, Snapshot,
    Status,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const CONFIG: &str = r#"
    [tenants.acme]
    tz = "Asia/Seoul"
    short_abandon_s = 5
    [tenants.acme.queues.q0]
    service = "sales"
    [tenants.acme.queues.q1]
    service = "sales"
    sl_formula = "answered"
"#;

const START: &str = "2026-11-20T18:00:00+09:00";

/// One generated event, before it gets an id and a time.
#[derive(Debug, Clone)]
enum Op {
    Call {
        ty: &'static str,
        call: u8,
        queue: u8,
        agent: u8,
    },
    Agent {
        agent: u8,
        state: &'static str,
        services: Option<Vec<u8>>,
    },
    Callback {
        ty: &'static str,
        cb: u8,
        agent: u8,
    },
}

const CALL_TYPES: [&str; 11] = [
    "call.ivr",
    "call.queued",
    "call.ringing",
    "call.answered",
    "call.abandoned",
    "call.callback",
    "call.transferred",
    "call.exited",
    "call.dialing",
    "call.connected",
    "call.ended",
];
const STATES: [&str; 8] = [
    "logged_out",
    "ready",
    "away",
    "ringing",
    "talking",
    "dialing",
    "outbound",
    "wrap_up",
];
const CB_TYPES: [&str; 6] = [
    "callback.requested",
    "callback.assigned",
    "callback.unassigned",
    "callback.completed",
    "callback.failed",
    "callback.deleted",
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..CALL_TYPES.len(), 0u8..8, 0u8..3, 0u8..4).prop_map(|(t, call, queue, agent)| {
            // Weight the lifecycle: queued and its outcomes dominate.
            Op::Call { ty: CALL_TYPES[t], call, queue, agent }
        }),
        3 => (0u8..4, 0..STATES.len(), proptest::option::of(proptest::collection::vec(0u8..3, 0..3)))
            .prop_map(|(agent, s, services)| Op::Agent { agent, state: STATES[s], services }),
        1 => (0..CB_TYPES.len(), 0u8..4, 0u8..4)
            .prop_map(|(t, cb, agent)| Op::Callback { ty: CB_TYPES[t], cb, agent }),
    ]
}

/// Ops with time steps (seconds), spread over about two local days.
fn stream() -> impl Strategy<Value = Vec<(Op, u32)>> {
    proptest::collection::vec((op(), prop_oneof![0u32..60, 0u32..4000]), 1..120)
}

fn to_events(ops: &[(Op, u32)]) -> Vec<Value> {
    let mut ts: Millis = parse_rfc3339(START).unwrap();
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
                    e["type"] = json!(ty);
                    e["call"] = json!(format!("c{call}"));
                    e["queue"] = json!(format!("q{queue}"));
                    e["agent"] = json!(format!("a{agent}"));
                    e["to_queue"] = json!(format!("q{}", (queue + 1) % 3));
                }
                Op::Agent {
                    agent,
                    state,
                    services,
                } => {
                    e["type"] = json!("agent.state");
                    e["agent"] = json!(format!("a{agent}"));
                    e["state"] = json!(state);
                    if let Some(s) = services {
                        let names: Vec<String> = s.iter().map(|s| format!("s{s}")).collect();
                        e["services"] = json!(names);
                    }
                }
                Op::Callback { ty, cb, agent } => {
                    e["type"] = json!(ty);
                    e["callback"] = json!(format!("k{cb}"));
                    e["agent"] = json!(format!("a{agent}"));
                    // The request names the service; other events may not.
                    if *ty == "callback.requested" || agent % 2 == 0 {
                        e["service"] = json!("sales");
                    }
                }
            }
            e
        })
        .collect()
}

fn engine() -> Engine {
    Engine::new(Arc::new(Config::parse(CONFIG, None, None).unwrap()))
}

fn apply_all(engine: &mut Engine, events: &[Value]) {
    for e in events {
        let bytes = serde_json::to_vec(e).unwrap();
        let ev = decode_json(&bytes, 1 << 16).expect("generated events are valid");
        engine.apply(&ev);
    }
}

fn now_of(events: &[Value]) -> Millis {
    events
        .iter()
        .map(|e| e["ts"].as_i64().unwrap())
        .max()
        .unwrap()
}

/// The snapshot at `now` after `events`, as replay and the service make it:
/// calls whose end is overdue at `now` let go first.
fn final_snapshot(events: &[Value], now: Millis) -> Snapshot {
    let mut e = engine();
    apply_all(&mut e, events);
    e.expire(now);
    e.snapshot("acme", now, Status::Live).unwrap()
}

/// What a reordering of agent events may move: wrap-up time (AHT) and the
/// agent's time figures are measured from the states in the order the
/// engine accepts them (a late state is ignored, as the contract says), and
/// on equal times the state delivered later wins. So may what rests on
/// them: the agents serving a queue when a call joined it (its estimated
/// wait, and so the estimate's error) and the staffing need (from the
/// handle time). The call, queue and callback figures must not move.
fn without_agent_order(mut s: Snapshot) -> Snapshot {
    let no_aht = |stats: &mut callboard::wire::QueueStats| {
        stats.aht_s = None;
        for w in &mut stats.recent {
            w.aht_s = None;
        }
    };
    no_aht(&mut s.totals);
    for r in &mut s.services {
        no_aht(&mut r.stats);
        r.agents = Default::default();
        r.agents_required = None;
        r.agents_available = 0;
        r.staffing_gap = None;
    }
    for r in &mut s.queues {
        no_aht(&mut r.stats);
        r.ewt_s = None;
        r.ewt_error_s = Default::default();
    }
    for c in &mut s.waiting_calls {
        c.ewt_s = None;
    }
    s.agents = Default::default();
    // A service that only agents name is listed while it has a member,
    // which a tie can decide.
    // (Its windows and thresholds list zeros, not nothing: they do not
    // make it a service of calls.)
    let no_calls = |st: &callboard::wire::QueueStats| {
        let mut st = st.clone();
        st.recent.clear();
        st.answered_within = Default::default();
        st == Default::default()
    };
    s.services
        .retain(|r| !no_calls(&r.stats) || r.callback_processing != Default::default());
    for a in &mut s.agent_list {
        a.state = callboard::event::AgentState::LoggedOut;
        a.reason = None;
        a.since = None;
        a.state_s = 0;
        a.services = Arc::from(Vec::new());
        a.aht_s = None;
        a.occupancy = None;
        a.login_s = 0;
        a.time_today_s = Default::default();
        a.away_today_s = Default::default();
    }
    s
}

/// Agents whose events all have distinct times: their state, reason, since
/// and services cannot depend on delivery order.
fn agents_without_ties(events: &[Value]) -> Vec<String> {
    let mut times: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for e in events.iter().filter(|e| e["type"] == "agent.state") {
        times
            .entry(e["agent"].as_str().unwrap().to_string())
            .or_default()
            .push(e["ts"].as_i64().unwrap());
    }
    times
        .into_iter()
        .filter_map(|(a, mut ts)| {
            let n = ts.len();
            ts.sort_unstable();
            ts.dedup();
            (ts.len() == n).then_some(a)
        })
        .collect()
}

proptest! {
    // 256 cases each by default; PROPTEST_CASES=N runs more.

    /// For calls queued today: inbound = answered + abandoned + callbacks +
    /// transferred + exited + waiting_today, per queue and in total; and no
    /// ratio exceeds 100 %.
    #[test]
    fn conservation_holds(ops in stream()) {
        let events = to_events(&ops);
        let mut e = engine();
        apply_all(&mut e, &events);
        let now = now_of(&events);
        // Overdue calls leave as exited: the law must still hold.
        e.expire(now);
        let s = e.snapshot("acme", now, Status::Live).unwrap();
        let t = e.tenant("acme").unwrap();
        let today = t.day_of(now);
        let rows = s.queues.iter().map(|q| (Some(&*q.queue), &q.stats))
            .chain(std::iter::once((None, &s.totals)));
        for (queue, st) in rows {
            let waiting_today = t.waiting_queued_on(today, queue);
            prop_assert_eq!(
                st.calls.inbound,
                st.calls.answered + st.calls.abandoned + st.calls.callbacks + st.calls.transferred + st.calls.exited + waiting_today,
                "queue {:?}: {:?}", queue, st
            );
            for r in [st.answer_rate, st.service_level].into_iter().flatten() {
                prop_assert!((0.0..=100.0).contains(&r), "ratio {} in {:?}", r, st);
            }
            prop_assert!(st.calls.short_abandoned <= st.calls.abandoned);
            prop_assert!(st.calls.answered_in_sl <= st.calls.answered);
        }
        let c = &s.callbacks;
        prop_assert_eq!(c.requested, c.completed + c.failed + c.deleted + c.open);
        if let Some(r) = c.processing_rate {
            prop_assert!((0.0..=100.0).contains(&r));
        }
        let a = &s.agents;
        prop_assert_eq!(a.login + a.by_state.logged_out, s.agent_list.len() as u64);
    }

    /// Delivering any events twice gives the same snapshot; delivering agent
    /// events in another order changes no call figure, nor the state of an
    /// agent whose events have distinct times.
    #[test]
    fn duplicates_and_reordered_agent_events_change_nothing(
        ops in stream(),
        dups in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..20),
        shuffle_seed in any::<u64>(),
    ) {
        let events = to_events(&ops);
        let now = now_of(&events);
        let expected = final_snapshot(&events, now);

        // Duplicates: copies of events re-delivered at a later position.
        let mut with_dups = events.clone();
        for (which, whence) in &dups {
            let i = which.index(events.len());
            // After the original's current place (earlier copies shift it).
            let first = with_dups.iter().position(|e| e["id"] == events[i]["id"]).unwrap();
            let at = first + 1 + whence.index(with_dups.len() - first);
            with_dups.insert(at, events[i].clone());
        }
        prop_assert_eq!(&final_snapshot(&with_dups, now), &expected);

        // Agent events shuffled among their own positions of the same local
        // day (an agent event moved ahead by days would move the tenant's
        // day, and refuse the call events of the day before yesterday).
        let day = |e: &Value| (e["ts"].as_i64().unwrap() + 9 * 3_600_000).div_euclid(86_400_000);
        let mut shuffled = events.clone();
        let mut rng = shuffle_seed;
        let days: std::collections::BTreeSet<i64> = events.iter().map(day).collect();
        for d in days {
            let positions: Vec<usize> = (0..events.len())
                .filter(|&i| events[i]["type"] == "agent.state" && day(&events[i]) == d)
                .collect();
            let mut order = positions.clone();
            for k in (1..order.len()).rev() {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(k, (rng >> 33) as usize % (k + 1));
            }
            for (p, o) in positions.iter().zip(&order) {
                shuffled[*p] = events[*o].clone();
            }
        }
        let reordered = final_snapshot(&shuffled, now);
        for a in agents_without_ties(&events) {
            let (x, y) = (
                reordered.agent_list.iter().find(|r| *r.agent == *a).unwrap(),
                expected.agent_list.iter().find(|r| *r.agent == *a).unwrap(),
            );
            prop_assert_eq!(
                (x.state, &x.reason, &x.since, &x.services),
                (y.state, &y.reason, &y.since, &y.services),
                "agent {}", a
            );
        }
        prop_assert_eq!(without_agent_order(reordered), without_agent_order(expected));
    }

    /// On equal times the agent state delivered later wins, whatever the
    /// ids; an older state never does; a repeat of an id changes nothing.
    #[test]
    fn the_later_delivered_of_equal_times_wins(
        evs in proptest::collection::vec((0u8..3, 0usize..8, 0i64..3, 0u32..1000), 1..40),
        repeat in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
    ) {
        let t0 = parse_rfc3339(START).unwrap();
        let mut list: Vec<Value> = evs.iter().enumerate().map(|(i, (agent, st, dt, idn))| json!({
            "v": 1, "id": format!("x{idn}-{i}"), "ts": t0 + dt * 1000, "tenant": "acme",
            "type": "agent.state", "agent": format!("a{agent}"), "state": STATES[*st],
        })).collect();
        // The rule, stated on the delivered list before repeats.
        let mut expected: std::collections::BTreeMap<String, (i64, String)> = Default::default();
        for e in &list {
            let (a, ts) = (e["agent"].as_str().unwrap().to_string(), e["ts"].as_i64().unwrap());
            if expected.get(&a).is_none_or(|(t, _)| ts >= *t) {
                expected.insert(a, (ts, e["state"].as_str().unwrap().to_string()));
            }
        }
        for r in &repeat {
            let e = list[r.index(list.len())].clone();
            list.push(e);
        }
        let s = final_snapshot(&list, t0 + 10_000);
        for (a, (_, st)) in expected {
            let row = s.agent_list.iter().find(|r| *r.agent == *a).unwrap();
            prop_assert_eq!(row.state.as_str(), st.as_str(), "agent {}", a);
        }
    }

    /// Re-reading a prefix of the stream (as a consumer does after a restart
    /// or a rebalance) counts nothing twice.
    #[test]
    fn redelivering_a_prefix_changes_nothing(ops in stream(), cut in any::<prop::sample::Index>()) {
        let events = to_events(&ops);
        let now = now_of(&events);
        let k = cut.index(events.len() + 1);
        let mut replayed = events[..k].to_vec();
        replayed.extend(events.iter().cloned());
        prop_assert_eq!(final_snapshot(&replayed, now), final_snapshot(&events, now));
    }

    /// Splitting the input anywhere (between events, or inside a line as a
    /// reader's buffers do) and looking at snapshots along the way gives the
    /// same final snapshot.
    #[test]
    fn splitting_the_stream_anywhere_gives_the_same_snapshot(
        ops in stream(),
        cut in any::<prop::sample::Index>(),
        chunk in 1usize..97,
    ) {
        let events = to_events(&ops);
        let now = now_of(&events);
        let whole = final_snapshot(&events, now);

        let k = cut.index(events.len() + 1);
        let mut e = engine();
        apply_all(&mut e, &events[..k]);
        let _midway = e.snapshot("acme", now, Status::Live);
        apply_all(&mut e, &events[k..]);
        e.expire(now);
        prop_assert_eq!(&e.snapshot("acme", now, Status::Live).unwrap(), &whole);

        let ndjson: String = events.iter().map(|e| format!("{e}\n")).collect();
        let opts = ReplayOptions { format: Format::Ndjson, tenant: None, at: Some(now) };
        let config = Arc::new(Config::parse(CONFIG, None, None).unwrap());
        let reader = io::BufReader::with_capacity(chunk, Chunked { data: ndjson.as_bytes(), chunk });
        let (snaps, summary) = replay(reader, config, &opts, |_, _| {}).unwrap();
        prop_assert_eq!(summary.rejected_total(), 0);
        prop_assert_eq!(&snaps[0], &whole);
    }
}

/// Milliseconds of a duration written in seconds to the millisecond.
fn ms(s: f64) -> u64 {
    (s * 1000.0).round() as u64
}

/// The figures a set of queue rows sums to, as the snapshot states them.
#[derive(Debug, Default, PartialEq)]
struct QueueSums {
    calls: CallCounts,
    asa_s: Option<f64>,
    aht_s: Option<f64>,
}

fn queue_sums<'a>(rows: impl Iterator<Item = &'a QueueInterval>) -> QueueSums {
    let (mut calls, mut times) = (CallCounts::default(), CallTimes::default());
    for r in rows {
        calls.add(&r.calls);
        times.add(&r.times);
    }
    let (wait, handle) = (
        ms(times.wait_answered_sum_s),
        ms(times.talk_sum_s) + ms(times.wrap_sum_s),
    );
    // As the snapshot rounds a mean: to a tenth of a second.
    let mean = |sum: u64, n: u64| (n > 0).then(|| (sum as f64 / n as f64 / 100.0).round() / 10.0);
    QueueSums {
        asa_s: mean(wait, calls.answered),
        aht_s: mean(handle, calls.ended),
        calls,
    }
}

fn stats_sums(s: &callboard::wire::QueueStats) -> QueueSums {
    QueueSums {
        calls: s.calls,
        asa_s: s.asa_s,
        aht_s: s.aht_s,
    }
}

proptest! {
    /// A day's interval rows sum exactly to that day's figures: per queue,
    /// per service, for the tenant, per local hour, per agent (time by
    /// state and by away reason, handled, missed, talk, outbound) and for
    /// callbacks, with events delivered twice and late.
    #[test]
    fn intervals_sum_to_the_day(
        ops in stream(),
        dups in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..10),
        late in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..10),
    ) {
        let mut events = to_events(&ops);
        let now = now_of(&events);
        // Copies delivered again later; events moved later (delivered late).
        for (which, whence) in &dups {
            let i = which.index(events.len());
            let at = i + 1 + whence.index(events.len() - i);
            events.insert(at, events[i].clone());
        }
        for (which, whence) in &late {
            let i = which.index(events.len());
            let e = events.remove(i);
            let at = i + whence.index(events.len() - i + 1);
            events.insert(at, e);
        }
        let mut e = engine();
        apply_all(&mut e, &events);
        e.expire(now);
        let s = e.snapshot("acme", now, Status::Live).unwrap();
        let rows = e.tenant("acme").unwrap().intervals(now);
        let today = |start: &str| start.starts_with(&s.day);
        let queues: Vec<&QueueInterval> = rows.iter().filter_map(|r| match r {
            IntervalRow::Queue(q) if today(&q.start) => Some(q),
            _ => None,
        }).collect();

        // Queues, services and the tenant.
        for q in &s.queues {
            let sum = queue_sums(queues.iter().copied().filter(|r| r.queue.as_deref() == Some(&*q.queue)));
            prop_assert_eq!(sum, stats_sums(&q.stats), "queue {}", q.queue);
        }
        for svc in &s.services {
            let sum = queue_sums(queues.iter().copied().filter(|r| r.service.as_deref() == Some(&*svc.service)));
            prop_assert_eq!(sum, stats_sums(&svc.stats), "service {}", svc.service);
        }
        prop_assert_eq!(queue_sums(queues.iter().copied()), stats_sums(&s.totals));

        // Inbound per local hour, today and yesterday.
        let mut hourly = [[0u64; 24]; 2];
        for r in &rows {
            if let IntervalRow::Queue(q) = r && q.queue.is_some() {
                let hour: usize = q.start[11..13].parse().unwrap();
                hourly[usize::from(!today(&q.start))][hour] += q.calls.inbound;
            }
        }
        prop_assert_eq!(&hourly[0][..], &s.hourly.today[..]);
        prop_assert_eq!(&hourly[1][..], &s.hourly.yesterday[..]);

        // Agents, by their own clock.
        for a in &s.agent_list {
            let mine: Vec<&AgentInterval> = rows.iter().filter_map(|r| match r {
                IntervalRow::Agent(x) if x.agent == a.agent && today(&x.start) => Some(x),
                _ => None,
            }).collect();
            let total = |f: fn(&AgentInterval) -> f64| mine.iter().map(|r| ms(f(r))).sum::<u64>() / 1000;
            prop_assert_eq!(total(|r| r.time_s.ready), a.time_today_s.ready, "agent {}", a.agent);
            prop_assert_eq!(total(|r| r.time_s.away), a.time_today_s.away);
            prop_assert_eq!(total(|r| r.time_s.talking), a.time_today_s.talking);
            prop_assert_eq!(total(|r| r.time_s.ringing), a.time_today_s.ringing);
            prop_assert_eq!(total(|r| r.time_s.dialing), a.time_today_s.dialing);
            prop_assert_eq!(total(|r| r.time_s.outbound), a.time_today_s.outbound);
            prop_assert_eq!(total(|r| r.time_s.wrap_up), a.time_today_s.wrap_up);
            prop_assert_eq!(total(|r| r.talk_s), a.talk_s);
            prop_assert_eq!(mine.iter().map(|r| r.handled).sum::<u64>(), a.handled);
            prop_assert_eq!(mine.iter().map(|r| r.missed).sum::<u64>(), a.missed);
            prop_assert_eq!(mine.iter().map(|r| r.outbound).sum::<u64>(), a.outbound);
            let mut away: std::collections::BTreeMap<Arc<str>, u64> = Default::default();
            for r in &mine {
                for (k, v) in &r.away_s {
                    *away.entry(k.clone()).or_default() += ms(*v);
                }
            }
            for v in away.values_mut() {
                *v /= 1000;
            }
            away.retain(|_, v| *v > 0);
            let mut expected = a.away_today_s.clone();
            expected.retain(|_, v| *v > 0);
            prop_assert_eq!(away, expected, "agent {}", a.agent);
        }

        // Callbacks, by the day they were requested.
        let cbs: Vec<&CallbackInterval> = rows.iter().filter_map(|r| match r {
            IntervalRow::Callback(c) if c.day == s.day => Some(c),
            _ => None,
        }).collect();
        let sum = |f: fn(&CallbackInterval) -> u64| cbs.iter().map(|c| f(c)).sum::<u64>();
        let c = &s.callbacks;
        prop_assert_eq!(
            [sum(|c| c.requested), sum(|c| c.assigned), sum(|c| c.completed), sum(|c| c.failed), sum(|c| c.deleted), sum(|c| c.open)],
            [c.requested, c.assigned, c.completed, c.failed, c.deleted, c.open]
        );
    }
}

fn row_key(r: &IntervalRow) -> (String, String, String) {
    match r {
        IntervalRow::Queue(q) => (
            "queue".into(),
            format!("{:?}/{:?}", q.queue, q.service),
            q.start.clone(),
        ),
        IntervalRow::Agent(a) => ("agent".into(), a.agent.to_string(), a.start.clone()),
        IntervalRow::Callback(c) => ("callback".into(), format!("{:?}", c.service), c.day.clone()),
    }
}

proptest! {
    /// Writing only the rows that changed, as the service does every few
    /// seconds while events arrive, leaves a store equal to all the rows at
    /// the end: no change is missed, late and repeated events included.
    #[test]
    fn changed_rows_written_along_the_way_add_up_to_the_rows(
        ops in stream(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        late in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..6),
    ) {
        let mut events = to_events(&ops);
        for (which, whence) in &late {
            let i = which.index(events.len());
            let e = events.remove(i);
            let at = i + whence.index(events.len() - i + 1);
            events.insert(at, e);
        }
        let now = now_of(&events);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(events.len() + 1)).collect();
        cuts.push(events.len());
        cuts.sort_unstable();
        cuts.dedup();
        let cut_list: Vec<(usize, i64)> = cuts
            .iter()
            .map(|&c| (c, events[..c].iter().map(|e| e["ts"].as_i64().unwrap()).max().unwrap_or(0)))
            .collect();
        let mut e = engine();
        let mut store: std::collections::BTreeMap<(String, String, String), IntervalRow> = Default::default();
        let mut from = 0;
        for cut in cuts {
            apply_all(&mut e, &events[from..cut]);
            from = cut;
            // The clock at a flush: the newest event so far.
            let at = events[..cut].iter().map(|e| e["ts"].as_i64().unwrap()).max().unwrap_or(now);
            for r in e.take_changed_intervals(at) {
                if r.is_empty() {
                    store.remove(&row_key(&r));
                } else {
                    store.insert(row_key(&r), r);
                }
            }
        }
        e.expire(now);
        for r in e.take_changed_intervals(now) {
            if r.is_empty() {
                store.remove(&row_key(&r));
            } else {
                store.insert(row_key(&r), r);
            }
        }
        let all: std::collections::BTreeMap<_, _> =
            e.tenant("acme").unwrap().intervals(now).into_iter().map(|r| (row_key(&r), r)).collect();
        // Rows of days the engine no longer holds stay in the store.
        let seoul = callboard::time::zone("Asia/Seoul").unwrap();
        let days = [now, now - 86_400_000].map(|t| callboard::time::format_local(t, &seoul)[..10].to_string());
        let today_or_yesterday: std::collections::BTreeMap<_, _> = store
            .into_iter()
            .filter(|(k, _)| days.iter().any(|d| k.2.starts_with(d.as_str())))
            .collect();
        let differ: Vec<_> = all
            .iter()
            .filter(|(k, v)| today_or_yesterday.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k:?}: {v:?} but stored {:?}", today_or_yesterday.get(k)))
            .chain(today_or_yesterday.keys().filter(|k| !all.contains_key(*k)).map(|k| format!("{k:?} only stored")))
            .take(3)
            .collect();
        let agent_events: Vec<String> = events
            .iter()
            .filter(|e| e["type"] == "agent.state")
            .map(|e| format!("{}@{} {}", e["agent"], e["ts"], e["state"]))
            .collect();
        prop_assert!(differ.is_empty(), "{}\nagent events: {:?}\ncuts {:?}", differ.join("\n"), agent_events, cut_list);
    }
}

/// Gives the store the rows changed since the last round, as the history
/// writer does: a restate first drops the tenant's agent rows from its
/// instant on, and an emptied row is deleted.
fn give_rows(
    e: &mut Engine,
    at: Millis,
    store: &mut std::collections::BTreeMap<(String, String, String), IntervalRow>,
) {
    for batch in e.take_history(at) {
        if let Some(from) = batch.restate_agents_from {
            store.retain(|k, _| k.0 != "agent" || parse_rfc3339(&k.2).unwrap() < from);
        }
        for r in batch.rows {
            if r.is_empty() {
                store.remove(&row_key(&r));
            } else {
                store.insert(row_key(&r), r);
            }
        }
    }
}

proptest! {
    /// Arrival does not matter: the stream cut into any batches, with the
    /// clock anywhere at or past the newest event between them (pauses of
    /// up to ten hours, so calls waiting across a pause are overdue by the
    /// clock; or days, as when a backlog is caught up), snapshots built and
    /// changed rows given to the store at each
    /// pause as the service does; and at any pause a restart, which
    /// rebuilds the state from the log of every event so far: the final
    /// snapshot and the stored rows equal replay's of the whole stream at
    /// the final time.
    #[test]
    fn neither_batches_nor_pauses_nor_restarts_change_the_figures(
        ops in stream(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        pauses in proptest::collection::vec(prop_oneof![0u32..5, 0u32..36_000, 0u32..500_000], 9),
        restarts in proptest::collection::vec(prop::bool::weighted(0.3), 9),
    ) {
        let events = to_events(&ops);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(events.len() + 1)).collect();
        cuts.push(events.len());
        cuts.sort_unstable();
        cuts.dedup();
        let mut e = engine().keeping_closed_days();
        let mut store = Default::default();
        let (mut from, mut clock) = (0, Millis::MIN);
        for (i, cut) in cuts.into_iter().enumerate() {
            if restarts[i] {
                // A start reads the whole log back before anything else.
                e = engine().keeping_closed_days();
                apply_all(&mut e, &events[..from]);
            }
            apply_all(&mut e, &events[from..cut]);
            from = cut;
            let newest = now_of(&events[..cut.max(1)]);
            clock = clock.max(newest) + pauses[i] as Millis * 1000;
            let _ = e.snapshot("acme", clock, Status::Live);
            give_rows(&mut e, clock, &mut store);
        }
        prop_assert_eq!(e.snapshot("acme", clock, Status::Live).unwrap(), final_snapshot(&events, clock));

        // Every row: of the days that closed along the way and of those
        // still open.
        let mut replayed = engine().keeping_closed_days();
        apply_all(&mut replayed, &events);
        let all: std::collections::BTreeMap<_, _> = replayed
            .tenant("acme")
            .unwrap()
            .intervals(clock)
            .into_iter()
            .map(|r| (row_key(&r), r))
            .collect();
        let stored: std::collections::BTreeMap<(String, String, String), IntervalRow> = store;
        let differ: Vec<_> = all
            .iter()
            .filter(|(k, v)| stored.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k:?}: {v:?} but stored {:?}", stored.get(k)))
            .chain(stored.keys().filter(|k| !all.contains_key(*k)).map(|k| format!("{k:?} only stored")))
            .take(3)
            .collect();
        prop_assert!(differ.is_empty(), "{}", differ.join("\n"));
    }

    /// Letting overdue calls go at "now" changes no figure built at "now":
    /// the clock's expiry is a view, and replay's figures are the same
    /// whether or not it lets them go first.
    #[test]
    fn letting_overdue_calls_go_changes_no_figure(ops in stream(), later in 0u32..36_000) {
        let events = to_events(&ops);
        let now = now_of(&events) + later as Millis * 1000;
        let mut e = engine();
        apply_all(&mut e, &events);
        let before = e.snapshot("acme", now, Status::Live).unwrap();
        let rows_before = e.tenant("acme").unwrap().intervals(now);
        e.expire(now);
        prop_assert_eq!(e.snapshot("acme", now, Status::Live).unwrap(), before);
        prop_assert_eq!(e.tenant("acme").unwrap().intervals(now), rows_before);
    }
}

/// A reader that hands out at most `chunk` bytes per read.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
