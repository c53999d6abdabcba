//! The recent windows, `answered_within`, the estimated wait's error and
//! the staffing need, each against a straightforward recomputation from
//! the calls listed: random calls around local midnight, delivered late
//! (each call's events in order, calls interleaved anyhow) and twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use callboard::config::Config;
use callboard::decode::decode_json;
use callboard::engine::{Engine, erlang};
use callboard::time::{Millis, parse_rfc3339};
use callboard::wire::{EwtError, RecentStats, Snapshot, Status, Within};
use proptest::prelude::*;
use serde_json::{Value, json};

const CONFIG: &str = r#"
    [tenants.acme]
    tz = "Asia/Seoul"
    short_abandon_s = 5
    staffing_window_min = 30
    sl_target = 80
    [tenants.acme.queues.q0]
    service = "sales"
    sl_thresholds_s = [10, 20, 30]
    ewt_method = "position"
    [tenants.acme.queues.q1]
    service = "sales"
    sl_formula = "answered"
    sl_thresholds_s = [5]
    recent_windows_min = [5, 90]
    ewt_method = "recent_waits"
"#;

/// An hour before local midnight: windows cross it.
const START: &str = "2026-11-20T23:00:00+09:00";
const MIN: Millis = 60_000;
/// The built-in `max_wait_s`.
const MAX_WAIT_MS: Millis = 4 * 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Answered { talk_s: u32, ends: bool },
    Abandoned,
    Callback,
    Transferred,
    Exited,
    Waiting,
}

#[derive(Debug, Clone)]
struct CallPlan {
    queue: u8,
    queued_s: u32,
    wait_s: u32,
    wait_ms: u16,
    end: End,
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        6 => (0u32..900, any::<bool>()).prop_map(|(talk_s, e)| End::Answered { talk_s, ends: e }),
        2 => Just(End::Abandoned),
        1 => Just(End::Callback),
        1 => Just(End::Transferred),
        1 => Just(End::Exited),
        1 => Just(End::Waiting),
    ]
}

fn calls() -> impl Strategy<Value = Vec<CallPlan>> {
    let call = (0u8..3, 0u32..3 * 3600, 0u32..600, 0u16..1000, end()).prop_map(
        |(queue, queued_s, wait_s, wait_ms, end)| CallPlan {
            queue,
            queued_s,
            wait_s,
            wait_ms,
            end,
        },
    );
    proptest::collection::vec(call, 1..150)
}

/// One call's times, in ms.
struct Times {
    queue: String,
    queued: Millis,
    /// When its wait ended (`None`: still waiting).
    wait_end: Option<Millis>,
    ended: Option<Millis>,
}

fn times(p: &CallPlan, start: Millis) -> Times {
    let queued = start + p.queued_s as Millis * 1000;
    let wait_end =
        (p.end != End::Waiting).then(|| queued + p.wait_s as Millis * 1000 + p.wait_ms as Millis);
    let ended = match p.end {
        End::Answered { talk_s, ends: true } => wait_end.map(|w| w + talk_s as Millis * 1000),
        _ => None,
    };
    Times {
        queue: format!("q{}", p.queue),
        queued,
        wait_end,
        ended,
    }
}

/// Each call's events in its own order, as (ts, event).
fn call_events(i: usize, p: &CallPlan, start: Millis) -> Vec<(Millis, Value)> {
    let t = times(p, start);
    let ev = |ty: &str, ts: Millis, n: u8| {
        let mut e = json!({
            "v": 1, "id": format!("c{i}-{n}"), "ts": ts, "tenant": "acme",
            "type": ty, "call": format!("c{i}"), "queue": t.queue,
        });
        if ty == "call.answered" {
            e["agent"] = json!("a0");
        }
        if ty == "call.transferred" {
            e["to_queue"] = json!("elsewhere");
        }
        (ts, e)
    };
    let mut out = vec![ev("call.queued", t.queued, 0)];
    let outcome = match p.end {
        End::Answered { .. } => Some("call.answered"),
        End::Abandoned => Some("call.abandoned"),
        End::Callback => Some("call.callback"),
        End::Transferred => Some("call.transferred"),
        End::Exited => Some("call.exited"),
        End::Waiting => None,
    };
    if let (Some(ty), Some(at)) = (outcome, t.wait_end) {
        out.push(ev(ty, at, 1));
    }
    if let Some(at) = t.ended {
        out.push(ev("call.ended", at, 2));
    }
    out
}

/// One agent, ready for both services from the start and never changing:
/// one agent serves, and is ready.
fn agent(start: Millis) -> Value {
    json!({"v": 1, "id": "a0-0", "ts": start - 1000, "tenant": "acme", "type": "agent.state",
           "agent": "a0", "state": "ready", "services": ["sales", "q2"]})
}

fn engine() -> Engine {
    Engine::new(Arc::new(Config::parse(CONFIG, None, None).unwrap()))
}

fn apply(engine: &mut Engine, e: &Value) {
    let bytes = serde_json::to_vec(e).unwrap();
    let ev = decode_json(&bytes, 1 << 16).expect("generated events are valid");
    engine.apply(&ev);
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| (n as f64 * 10_000.0 / d as f64).round() / 100.0)
}

fn mean_s(sum_ms: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| (sum_ms as f64 / n as f64 / 100.0).round() / 10.0)
}

/// The window of `minutes` at `now`, recomputed from the listed calls of
/// `queues`: each call counted by the minute of the time that decides it.
fn window(
    plans: &[CallPlan],
    start: Millis,
    queues: &[&str],
    minutes: u32,
    now: Millis,
    thresholds: &[u32],
    sl_by_answered: bool,
) -> RecentStats {
    let last = now.div_euclid(MIN);
    let inside = |t: Millis| {
        let m = t.div_euclid(MIN);
        m > last - minutes as i64 && m <= last && t <= now
    };
    let mut w = RecentStats {
        minutes,
        ..Default::default()
    };
    let (mut wait_sum, mut talk_sum) = (0u64, 0u64);
    let mut ended = 0u64;
    let mut within: BTreeMap<u32, u64> = thresholds.iter().map(|&t| (t, 0)).collect();
    for p in plans {
        let t = times(p, start);
        if !queues.contains(&t.queue.as_str()) {
            continue;
        }
        if inside(t.queued) {
            w.inbound += 1;
        }
        // A call still waiting after `max_wait_s` (4 h) leaves as exited
        // at its deadline.
        let deadline = t.queued + MAX_WAIT_MS;
        let (wait_end, end) = match (t.wait_end, p.end) {
            (None, _) if deadline <= now => (Some(deadline), End::Exited),
            (w, e) => (w, e),
        };
        let Some(at) = wait_end.filter(|&at| inside(at)) else {
            continue;
        };
        let wait = (at - t.queued) as u64;
        w.offered += 1;
        match end {
            End::Answered { .. } => {
                w.answered += 1;
                wait_sum += wait;
                w.answered_in_sl += (wait <= 20_000) as u64;
                for (th, n) in within.iter_mut() {
                    *n += (wait <= *th as u64 * 1000) as u64;
                }
            }
            End::Abandoned => {
                w.abandoned += 1;
                w.short_abandoned += (wait < 5000) as u64;
            }
            End::Callback => w.callbacks += 1,
            End::Transferred => w.transferred += 1,
            End::Exited => w.exited += 1,
            End::Waiting => unreachable!("a waiting call has no end"),
        }
    }
    for p in plans {
        let t = times(p, start);
        if let (true, Some(e), Some(a)) = (queues.contains(&t.queue.as_str()), t.ended, t.wait_end)
            && inside(e)
        {
            ended += 1;
            talk_sum += (e - a) as u64;
        }
    }
    w.answered_within = Within(within);
    w.answer_rate = ratio(w.answered, w.offered);
    let base = if sl_by_answered {
        w.answered
    } else {
        w.offered
    };
    w.service_level = ratio(w.answered_in_sl, base);
    w.asa_s = mean_s(wait_sum, w.answered);
    w.aht_s = mean_s(talk_sum, ended);
    w
}

/// Every event delivered: calls delayed by up to `delays[i]` minutes
/// (each call's own events in order), some delivered twice.
fn delivered(plans: &[CallPlan], start: Millis, delays: &[u8], twice: &[bool]) -> Vec<Value> {
    let mut keyed: Vec<(Millis, usize, Value)> = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        let delay = delays.get(i).copied().unwrap_or(0) as Millis * MIN;
        for (ts, e) in call_events(i, p, start) {
            keyed.push((ts + delay, keyed.len(), e.clone()));
            if twice
                .get(keyed.len() % twice.len().max(1))
                .copied()
                .unwrap_or(false)
            {
                keyed.push((ts + delay + 7 * MIN, keyed.len(), e));
            }
        }
    }
    keyed.sort_by_key(|(k, n, _)| (*k, *n));
    let mut out = vec![agent(start)];
    out.extend(keyed.into_iter().map(|(_, _, e)| e));
    out
}

fn snapshot_of(events: &[Value], now: Millis) -> Snapshot {
    let mut e = engine();
    for ev in events {
        apply(&mut e, ev);
    }
    e.snapshot("acme", now, Status::Live).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every window of every queue, service and the tenant equals the
    /// calls listed and counted, whatever the delivery.
    #[test]
    fn windows_count_the_calls_of_their_minutes(
        plans in calls(),
        delays in proptest::collection::vec(0u8..40, 150),
        twice in proptest::collection::vec(any::<bool>(), 1..8),
        later_min in 0u32..120,
    ) {
        let start = parse_rfc3339(START).unwrap();
        let events = delivered(&plans, start, &delays, &twice);
        let last = plans
            .iter()
            .flat_map(|p| {
                let t = times(p, start);
                [Some(t.queued), t.wait_end, t.ended]
            })
            .flatten()
            .max()
            .unwrap();
        let now = last + later_min as Millis * MIN;
        let s = snapshot_of(&events, now);
        let q = |name: &str| s.queues.iter().find(|r| &*r.queue == name);
        for (name, windows, thresholds, by_answered) in [
            ("q0", vec![15, 60], vec![10, 20, 30], false),
            ("q1", vec![5, 90], vec![5], true),
            ("q2", vec![15, 60], vec![20], false),
        ] {
            let Some(row) = q(name) else { continue };
            let expected: Vec<RecentStats> = windows
                .iter()
                .map(|&m| window(&plans, start, &[name], m, now, &thresholds, by_answered))
                .collect();
            prop_assert_eq!(&row.stats.recent, &expected, "queue {}", name);
        }
        // Services and the tenant: the tenant's windows, every threshold.
        let all = [5, 10, 20, 30];
        if let Some(sales) = s.services.iter().find(|r| &*r.service == "sales") {
            let expected: Vec<RecentStats> = [15, 60]
                .iter()
                .map(|&m| window(&plans, start, &["q0", "q1"], m, now, &all, false))
                .collect();
            prop_assert_eq!(&sales.stats.recent, &expected);
        }
        let expected: Vec<RecentStats> = [15, 60]
            .iter()
            .map(|&m| window(&plans, start, &["q0", "q1", "q2"], m, now, &all, false))
            .collect();
        prop_assert_eq!(&s.totals.recent, &expected);
    }

    /// Each queue's `ewt_error_s` equals the estimates recomputed call by
    /// call from what was delivered before it (in order, some twice), and
    /// the service's staffing need equals Erlang C at its window's traffic.
    #[test]
    fn the_estimate_s_error_and_the_staffing_need_are_recomputed(
        plans in calls(),
        twice in proptest::collection::vec(any::<bool>(), 1..8),
    ) {
        let start = parse_rfc3339(START).unwrap();
        let events = delivered(&plans, start, &[], &twice);
        let now = events.iter().map(|e| e["ts"].as_i64().unwrap()).max().unwrap();
        let s = snapshot_of(&events, now);

        // Walk the delivery: per queue, the waits answered and the handle
        // times ended so far (by minute), and the calls waiting.
        let mut seen = std::collections::HashSet::new();
        let mut answered: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
        let mut handled: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
        let mut waiting: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut queued_at: BTreeMap<String, (Millis, Option<u32>)> = BTreeMap::new();
        let mut answered_at: BTreeMap<String, Millis> = BTreeMap::new();
        let mut errors: BTreeMap<String, Vec<(i64, u32)>> = BTreeMap::new();
        for e in &events[1..] {
            if !seen.insert(e["id"].as_str().unwrap().to_string()) {
                continue;
            }
            let ts = e["ts"].as_i64().unwrap();
            let m = ts.div_euclid(MIN);
            let call = e["call"].as_str().unwrap().to_string();
            let queue = e["queue"].as_str().unwrap().to_string();
            match e["type"].as_str().unwrap() {
                "call.queued" => {
                    let ahead = waiting.get(&queue).map_or(0, Vec::len);
                    let est = if queue == "q1" {
                        let recent: Vec<u64> = answered.get(&queue).into_iter().flatten()
                            .filter(|(am, _)| *am > m - 15 && *am <= m).map(|(_, w)| *w).collect();
                        (!recent.is_empty())
                            .then(|| recent.iter().sum::<u64>() as f64 / recent.len() as f64)
                    } else if ahead == 0 {
                        // One agent, ready: no call ahead, no wait.
                        Some(0.0)
                    } else {
                        let recent: Vec<u64> = handled.get(&queue).into_iter().flatten()
                            .filter(|(hm, _)| *hm > m - 60 && *hm <= m).map(|(_, h)| *h).collect();
                        (!recent.is_empty()).then(|| {
                            ahead as f64 * recent.iter().sum::<u64>() as f64 / recent.len() as f64
                        })
                    };
                    waiting.entry(queue).or_default().push(call.clone());
                    queued_at.insert(call, (ts, est.map(|v| v.round() as u32)));
                }
                ty => {
                    if ty != "call.ended" {
                        waiting.entry(queue.clone()).or_default().retain(|c| *c != call);
                    }
                    let (q_at, est) = queued_at[&call];
                    if ty == "call.answered" {
                        let wait = (ts - q_at) as u64;
                        answered.entry(queue.clone()).or_default().push((m, wait));
                        answered_at.insert(call, ts);
                        if let Some(est) = est {
                            let err = (wait as i64 - est as i64).unsigned_abs() as u32;
                            errors.entry(queue).or_default().push((m, err));
                        }
                    } else if ty == "call.ended" {
                        let talk = (ts - answered_at[&call]) as u64;
                        handled.entry(queue).or_default().push((m, talk));
                    }
                }
            }
        }
        let last = now.div_euclid(MIN);
        for row in &s.queues {
            let mut errs: Vec<u32> = errors.get(&*row.queue).into_iter().flatten()
                .filter(|(m, _)| *m > last - 60 && *m <= last).map(|(_, e)| *e).collect();
            errs.sort_unstable();
            let expected = if errs.is_empty() {
                EwtError::default()
            } else {
                let n = errs.len();
                let tenths = |ms: f64| (ms / 100.0).round() / 10.0;
                EwtError {
                    n: n as u64,
                    mae: Some(tenths(errs.iter().map(|&e| e as f64).sum::<f64>() / n as f64)),
                    p90: Some(tenths(errs[(n * 9).div_ceil(10) - 1] as f64)),
                }
            };
            prop_assert_eq!(&row.ewt_error_s, &expected, "queue {}", row.queue);
        }

        // Every call still waiting, the longest first, with its place in
        // its queue and the estimate it was given when it was queued.
        let mut still: Vec<(String, Millis, String)> = waiting
            .iter()
            .flat_map(|(q, calls)| calls.iter().map(move |c| (q.clone(), c.clone())))
            .map(|(q, c)| (q, queued_at[&c].0, c))
            .filter(|(_, at, _)| at + MAX_WAIT_MS > now)
            .collect();
        still.sort_by(|a, b| (&a.0, a.1, &a.2).cmp(&(&b.0, b.1, &b.2)));
        let mut want = Vec::new();
        for (i, (q, at, c)) in still.iter().enumerate() {
            let position = still[..i].iter().filter(|(o, _, _)| o == q).count() as u32 + 1;
            let ewt = queued_at[c].1.map(|ms| (ms as f64 / 100.0).round() / 10.0);
            want.push((*at, q.clone(), c.clone(), position, ewt));
        }
        want.sort_by(|a, b| (a.0, &a.1, &a.2).cmp(&(b.0, &b.1, &b.2)));
        let got: Vec<_> = s
            .waiting_calls
            .iter()
            .map(|w| (w.since.0, w.queue.to_string(), w.call.to_string(), w.position, w.ewt_s))
            .collect();
        prop_assert_eq!(got, want);

        // Staffing of `sales`: arrivals of the last 30 minutes, handle time
        // of the calls ended in them (today's when fewer than 10).
        let Some(sales) = s.services.iter().find(|r| &*r.service == "sales") else {
            return Ok(());
        };
        let today_start = parse_rfc3339("2026-11-21T00:00:00+09:00").unwrap();
        let inside = |t: Millis| {
            let m = t.div_euclid(MIN);
            m > last - 30 && m <= last
        };
        let sales_calls: Vec<Times> = plans
            .iter()
            .map(|p| times(p, start))
            .filter(|t| t.queue == "q0" || t.queue == "q1")
            .collect();
        let arrivals = sales_calls.iter().filter(|t| inside(t.queued)).count();
        let in_window: Vec<u64> = sales_calls.iter()
            .filter(|t| t.ended.is_some_and(inside))
            .map(|t| (t.ended.unwrap() - t.wait_end.unwrap()) as u64)
            .collect();
        let today_day = if now >= today_start { today_start } else { today_start - 86_400_000 };
        let today: Vec<u64> = sales_calls.iter()
            .filter(|t| t.ended.is_some() && t.queued >= today_day && t.queued < today_day + 86_400_000)
            .map(|t| (t.ended.unwrap() - t.wait_end.unwrap()) as u64)
            .collect();
        let basis = if in_window.len() >= 10 { &in_window } else { &today };
        let required = if arrivals == 0 || basis.is_empty() {
            None
        } else {
            let h = basis.iter().sum::<u64>() as f64 / 1000.0 / basis.len() as f64;
            erlang::agents_required(arrivals as f64 / 1800.0 * h, h, 20.0, 0.8, None)
        };
        prop_assert_eq!(sales.agents_required, required);
        prop_assert_eq!(sales.agents_available, 1);
        prop_assert_eq!(sales.staffing_gap, required.map(|n| n as i64 - 1));
    }
}
