//! Each definition of the metrics spec, checked through events in and
//! snapshot out.

use crate::support::Harness;
use callboard::engine::{NoEffect, Outcome};
use serde_json::json;

const T0: &str = "2026-11-21T09:00:00Z";

fn q(call: &str) -> serde_json::Value {
    json!({"call": call, "queue": "q1", "service": "sales"})
}

fn qa(call: &str, agent: &str) -> serde_json::Value {
    json!({"call": call, "queue": "q1", "agent": agent})
}

#[test]
fn answer_rate_service_level_and_asa() {
    let mut h = Harness::new();
    h.send("2026-11-21T09:00:00Z", "call.queued", q("c1"));
    h.send("2026-11-21T09:00:00Z", "call.queued", q("c2"));
    h.send("2026-11-21T09:00:00Z", "call.queued", q("c3"));
    h.send("2026-11-21T09:00:10Z", "call.answered", qa("c1", "a1"));
    h.send("2026-11-21T09:00:30Z", "call.answered", qa("c2", "a2"));
    h.send("2026-11-21T09:00:40Z", "call.abandoned", q("c3"));
    let s = h.snap("2026-11-21T10:00:00Z");
    let t = &s.totals;
    assert_eq!(
        (
            t.calls.inbound,
            t.calls.answered,
            t.calls.abandoned,
            t.waiting
        ),
        (3, 2, 1, 0)
    );
    assert_eq!(
        t.calls.answered_in_sl, 1,
        "10 s is within the default 20 s, 30 s is not"
    );
    assert_eq!(t.answer_rate, Some(66.67));
    assert_eq!(t.service_level, Some(33.33));
    assert_eq!(t.asa_s, Some(20.0));
    assert_eq!(t.wait_p90_s, Some(30.0));
    // The service row and the queue row say the same for a one-queue service.
    let svc = Harness::service(&s, "sales");
    assert_eq!(svc.stats.answer_rate, Some(66.67));
    assert_eq!(Harness::queue(&s, "q1").stats.calls.inbound, 3);
}

#[test]
fn ratios_with_no_calls_are_null_not_zero() {
    let mut h = Harness::new();
    h.send(T0, "agent.state", json!({"agent": "a1", "state": "ready"}));
    let s = h.snap(T0);
    assert_eq!(s.totals.answer_rate, None);
    assert_eq!(s.totals.service_level, None);
    assert_eq!(s.totals.asa_s, None);
    assert_eq!(s.totals.aht_s, None);
    assert_eq!(s.callbacks.processing_rate, None);
    let text = serde_json::to_string(&s.totals).unwrap();
    assert!(text.contains(r#""answer_rate":null"#), "{text}");
}

#[test]
fn waiting_and_longest_wait_at_snapshot_time() {
    let mut h = Harness::new();
    h.send("2026-11-21T09:00:00Z", "call.queued", q("c1"));
    h.send("2026-11-21T09:00:30Z", "call.queued", q("c2"));
    h.send(
        "2026-11-21T09:00:30Z",
        "call.queued",
        json!({"call": "c3", "queue": "q2"}),
    );
    let s = h.snap("2026-11-21T09:01:00Z");
    assert_eq!(s.totals.waiting, 3);
    assert_eq!(s.totals.longest_wait_s, 60);
    assert_eq!(Harness::queue(&s, "q2").stats.longest_wait_s, 30);
    // The oldest leaves: the longest wait is now the next one's.
    h.send("2026-11-21T09:01:00Z", "call.answered", qa("c1", "a1"));
    let s = h.snap("2026-11-21T09:02:00Z");
    assert_eq!(Harness::queue(&s, "q1").stats.waiting, 1);
    assert_eq!(Harness::queue(&s, "q1").stats.longest_wait_s, 90);
}

#[test]
fn short_abandons_and_the_three_sl_formulas() {
    let cfg = r#"
        [tenants.acme.queues.q1]
        short_abandon_s = 5
        sl_formula = "offered_minus_short_abandons"
        [tenants.acme.queues.q2]
        sl_formula = "answered"
        sl_threshold_s = 10
    "#;
    let mut h = Harness::with_config(cfg);
    for (queue, call) in [
        ("q1", "a"),
        ("q1", "b"),
        ("q1", "c"),
        ("q2", "d"),
        ("q2", "e"),
    ] {
        h.send(T0, "call.queued", json!({"call": call, "queue": queue}));
    }
    h.send(
        "2026-11-21T09:00:03Z",
        "call.abandoned",
        json!({"call": "a"}),
    );
    h.send(
        "2026-11-21T09:00:05Z",
        "call.abandoned",
        json!({"call": "b"}),
    );
    h.send(
        "2026-11-21T09:00:10Z",
        "call.answered",
        json!({"call": "c", "agent": "x"}),
    );
    h.send(
        "2026-11-21T09:00:10Z",
        "call.answered",
        json!({"call": "d", "agent": "y"}),
    );
    h.send(
        "2026-11-21T09:00:11Z",
        "call.abandoned",
        json!({"call": "e"}),
    );
    let s = h.snap("2026-11-21T09:05:00Z");
    let q1 = Harness::queue(&s, "q1");
    assert_eq!(
        q1.stats.calls.short_abandoned, 1,
        "3 s < 5 s is short, 5 s is not"
    );
    // 1 in SL / (3 inbound - 1 short abandon)
    assert_eq!(q1.stats.service_level, Some(50.0));
    let q2 = Harness::queue(&s, "q2");
    assert_eq!(q2.sl_threshold_s, 10);
    // 1 in SL / 1 answered
    assert_eq!(q2.stats.service_level, Some(100.0));
    // The tenant row uses the tenant's formula (offered): 2 / 5.
    assert_eq!(s.totals.service_level, Some(40.0));
}

#[test]
fn a_repeated_id_changes_nothing() {
    let mut h = Harness::new();
    let ev = |h: &mut Harness, id: &str, ts: &str, ty: &str, f| h.send_id(id, ts, ty, f);
    assert_eq!(
        ev(&mut h, "x1", T0, "call.queued", q("c1")),
        Outcome::Applied
    );
    let before = h.snap("2026-11-21T09:10:00Z");
    assert_eq!(
        ev(&mut h, "x1", T0, "call.queued", q("c1")),
        Outcome::Duplicate
    );
    ev(
        &mut h,
        "x2",
        "2026-11-21T09:00:05Z",
        "call.abandoned",
        q("c1"),
    );
    let after_abandon = h.snap("2026-11-21T09:10:00Z");
    // The same queued event again after the call ended must not start it anew.
    assert_eq!(
        ev(&mut h, "x1", T0, "call.queued", q("c1")),
        Outcome::Duplicate
    );
    assert_eq!(h.snap("2026-11-21T09:10:00Z"), after_abandon);
    assert_eq!(
        before.totals.calls.inbound,
        after_abandon.totals.calls.inbound
    );
    assert_eq!(after_abandon.totals.waiting, 0);
}

#[test]
fn a_late_agent_event_changes_nothing() {
    let mut h = Harness::new();
    h.send(
        "2026-11-21T09:00:10Z",
        "agent.state",
        json!({"agent": "a1", "state": "talking"}),
    );
    let before = h.snap("2026-11-21T09:01:00Z");
    let out = h.send(
        "2026-11-21T09:00:05Z",
        "agent.state",
        json!({"agent": "a1", "state": "ready"}),
    );
    assert_eq!(out, Outcome::Late);
    assert_eq!(h.snap("2026-11-21T09:01:00Z"), before);
    assert_eq!(Harness::agent(&before, "a1").state.as_str(), "talking");
    assert_eq!(Harness::agent(&before, "a1").state_s, 50);
}

#[test]
fn a_call_answered_before_its_queued_event_still_balances() {
    let mut h = Harness::new();
    // Answered first: the call is counted as queued, at queued_ts when given.
    h.send(
        "2026-11-21T09:00:30Z",
        "call.answered",
        json!({"call": "c1", "queue": "q1", "agent": "a1", "queued_ts": "2026-11-21T09:00:00Z"}),
    );
    // Its queued event arriving late must not count it twice or leave it waiting.
    let late = h.send(T0, "call.queued", q("c1"));
    assert_eq!(late, Outcome::NoEffect(NoEffect::CallAlreadyLive));
    h.send(
        "2026-11-21T09:01:00Z",
        "call.abandoned",
        json!({"call": "c2", "queue": "q1"}),
    );
    let s = h.snap("2026-11-21T09:05:00Z");
    let t = &s.totals;
    assert_eq!(
        (
            t.calls.inbound,
            t.calls.answered,
            t.calls.abandoned,
            t.waiting
        ),
        (2, 1, 1, 0)
    );
    assert_eq!(t.asa_s, Some(30.0));
    assert_eq!(t.calls.answered_in_sl, 0);
}

#[test]
fn a_call_queued_late_after_its_end_is_not_counted_again() {
    // Each way a call ends, then its own `call.queued` (or `call.dialing`)
    // arriving late, dated before that end: counted once, nothing left
    // waiting, whichever order the events came in. (A late queued after an
    // abandon, a callback or an end left a call waiting for hours, counted
    // twice, and the longest-wait alert firing.)
    type Events<'a> = &'a [(&'a str, &'a str, serde_json::Value)];
    let endings: [(&str, Events); 4] = [
        (
            "abandoned",
            &[("2026-11-21T09:00:20Z", "call.abandoned", q("c1"))],
        ),
        (
            "callback",
            &[("2026-11-21T09:00:20Z", "call.callback", q("c1"))],
        ),
        (
            "answered and ended",
            &[
                ("2026-11-21T09:00:20Z", "call.answered", qa("c1", "a1")),
                ("2026-11-21T09:02:00Z", "call.ended", json!({"call": "c1"})),
            ],
        ),
        (
            "exited",
            &[("2026-11-21T09:00:20Z", "call.exited", q("c1"))],
        ),
    ];
    for (how, events) in endings {
        let queued = ("2026-11-21T09:00:05Z", "call.queued", q("c1"));
        let mut in_order = Harness::new();
        in_order.send(queued.0, queued.1, queued.2.clone());
        for (ts, ty, f) in events.iter() {
            in_order.send(ts, ty, f.clone());
        }
        let mut late = Harness::new();
        for (ts, ty, f) in events.iter() {
            late.send(ts, ty, f.clone());
        }
        assert_eq!(
            late.send(queued.0, queued.1, queued.2.clone()),
            Outcome::NoEffect(NoEffect::CallAlreadyLive),
            "{how}"
        );
        let (a, b) = (
            in_order.snap("2026-11-21T10:00:00Z"),
            late.snap("2026-11-21T10:00:00Z"),
        );
        let counts = |s: &callboard::wire::Snapshot| {
            let c = &s.totals.calls;
            (
                c.inbound,
                c.answered,
                c.abandoned,
                c.callbacks,
                c.exited,
                s.totals.waiting,
            )
        };
        assert_eq!(counts(&b), counts(&a), "{how}: late queued");
        assert_eq!(b.totals.waiting, 0, "{how}: nothing left waiting");
        assert_eq!(b.totals.calls.inbound, 1, "{how}");
    }
    // An outbound call: its late `call.dialing` after its end changes nothing.
    let mut h = Harness::new();
    let dial = json!({"call": "o1", "agent": "a1", "queue": "q1"});
    h.send("2026-11-21T09:00:00Z", "call.dialing", dial.clone());
    h.send("2026-11-21T09:00:10Z", "call.connected", dial.clone());
    h.send("2026-11-21T09:01:00Z", "call.ended", json!({"call": "o1"}));
    assert_eq!(
        h.send("2026-11-21T09:00:00.500Z", "call.dialing", dial),
        Outcome::NoEffect(NoEffect::CallAlreadyLive)
    );
    assert_eq!(
        h.snap("2026-11-21T10:00:00Z")
            .totals
            .calls
            .outbound_attempts,
        1
    );
    // Queued again at or after its end is a new wait (a transfer, a caller
    // who left one queue for another): counted in the new queue.
    let mut h = Harness::new();
    h.send(T0, "call.queued", q("c1"));
    h.send(
        "2026-11-21T09:00:30Z",
        "call.transferred",
        json!({"call": "c1", "queue": "q1", "to_queue": "q2"}),
    );
    assert_eq!(
        h.send(
            "2026-11-21T09:00:30Z",
            "call.queued",
            json!({"call": "c1", "queue": "q2", "service": "sales"})
        ),
        Outcome::Applied
    );
    assert_eq!(
        Harness::queue(&h.snap("2026-11-21T09:01:00Z"), "q2")
            .stats
            .calls
            .inbound,
        1
    );
}

#[test]
fn events_for_finished_or_unknown_calls_change_nothing() {
    let mut h = Harness::new();
    h.send(T0, "call.queued", q("c1"));
    h.send("2026-11-21T09:00:05Z", "call.abandoned", q("c1"));
    let before = h.snap("2026-11-21T09:10:00Z");
    assert_eq!(
        h.send("2026-11-21T09:00:06Z", "call.answered", qa("c1", "a1")),
        Outcome::NoEffect(NoEffect::CallNotWaiting)
    );
    assert_eq!(
        h.send(
            "2026-11-21T09:00:07Z",
            "call.ended",
            json!({"call": "nope"})
        ),
        Outcome::NoEffect(NoEffect::UnknownCall)
    );
    assert_eq!(
        h.send(
            "2026-11-21T09:00:07Z",
            "call.connected",
            json!({"call": "nope", "agent": "a1"})
        ),
        Outcome::NoEffect(NoEffect::UnknownCall)
    );
    let after = h.snap("2026-11-21T09:10:00Z");
    assert_eq!(after.totals, before.totals);
}

#[test]
fn transfers_count_in_both_queues_and_services_sum_their_queues() {
    let cfg = r#"
        [tenants.acme.queues.q1]
        service = "sales"
        [tenants.acme.queues.q2]
        service = "sales"
        [tenants.acme.queues.q3]
        service = "support"
    "#;
    let mut h = Harness::with_config(cfg);
    h.send(T0, "call.queued", json!({"call": "c1", "queue": "q1"}));
    h.send(
        "2026-11-21T09:00:10Z",
        "call.transferred",
        json!({"call": "c1", "to_queue": "q2"}),
    );
    h.send(
        "2026-11-21T09:00:10Z",
        "call.queued",
        json!({"call": "c1", "queue": "q2"}),
    );
    h.send(
        "2026-11-21T09:00:15Z",
        "call.answered",
        json!({"call": "c1", "agent": "a1"}),
    );
    h.send(T0, "call.queued", json!({"call": "c2", "queue": "q3"}));
    h.send(
        "2026-11-21T09:00:20Z",
        "call.exited",
        json!({"call": "c2", "reason": "timeout"}),
    );
    let s = h.snap("2026-11-21T09:10:00Z");
    assert_eq!(Harness::queue(&s, "q1").stats.calls.transferred, 1);
    assert_eq!(Harness::queue(&s, "q2").stats.calls.answered, 1);
    let sales = Harness::service(&s, "sales");
    assert_eq!(
        (
            sales.stats.calls.inbound,
            sales.stats.calls.answered,
            sales.stats.calls.transferred
        ),
        (2, 1, 1)
    );
    assert_eq!(Harness::service(&s, "support").stats.calls.exited, 1);
    assert_eq!(s.totals.calls.inbound, 3);
    // Config-named queues are listed even before their first call, sorted.
    let names: Vec<&str> = s.queues.iter().map(|q| &*q.queue).collect();
    assert_eq!(names, ["q1", "q2", "q3"]);
}

#[test]
fn counters_belong_to_the_local_day_the_call_was_queued() {
    let mut h = Harness::with_config("[tenants.acme]\ntz = \"Asia/Seoul\"");
    // 23:59 local on the 20th, answered 00:01 local on the 21st.
    h.send("2026-11-20T23:59:00+09:00", "call.queued", q("c1"));
    h.send("2026-11-20T23:59:30+09:00", "call.queued", q("c2"));
    h.send("2026-11-21T00:01:00+09:00", "call.answered", qa("c1", "a1"));
    h.send("2026-11-21T00:02:00+09:00", "call.queued", q("c3"));
    let s = h.snap("2026-11-21T00:05:00+09:00");
    assert_eq!(s.day, "2026-11-21");
    assert_eq!(s.tz, "Asia/Seoul");
    assert_eq!(s.totals.calls.inbound, 1, "only c3 was queued today");
    assert_eq!(
        s.totals.calls.answered, 0,
        "c1's answer belongs to yesterday"
    );
    assert_eq!(s.totals.waiting, 2, "waiting counts c2 from yesterday too");
    assert_eq!(s.hourly.yesterday[23], 2);
    assert_eq!(s.hourly.today[0], 1);
    assert_eq!(
        Harness::agent(&s, "a1").handled,
        1,
        "the agent answered today: agent figures follow the answer"
    );
    // A day later everything of the 20th is gone and the 21st is yesterday.
    let s = h.snap("2026-11-22T12:00:00+09:00");
    assert_eq!(s.totals.calls.inbound, 0);
    assert_eq!(s.hourly.yesterday[0], 1);
    assert_eq!(s.hourly.yesterday[23], 0);
}

#[test]
fn a_23_hour_day_in_new_york() {
    // 2026-03-08: clocks go from 02:00 to 03:00, the day has 23 hours.
    let mut h = Harness::with_config("[defaults]\ntz = \"America/New_York\"");
    h.send("2026-03-08T00:30:00-05:00", "call.queued", q("early"));
    h.send("2026-03-08T03:30:00-04:00", "call.queued", q("after_gap"));
    // 23:30 local is 03:30 UTC on the 9th: a fixed-offset day would put it
    // on the 9th.
    h.send("2026-03-08T23:30:00-04:00", "call.queued", q("late"));
    h.send("2026-03-09T00:10:00-04:00", "call.queued", q("next_day"));
    let s = h.snap("2026-03-08T23:59:59-04:00");
    assert_eq!(s.day, "2026-03-08");
    assert_eq!(s.totals.calls.inbound, 3);
    assert_eq!(s.hourly.today[0], 1);
    assert_eq!(s.hourly.today[2], 0, "02:00-03:00 does not exist that day");
    assert_eq!(s.hourly.today[3], 1);
    assert_eq!(s.hourly.today[23], 1);
    let s = h.snap("2026-03-09T08:00:00-04:00");
    assert_eq!((s.day.as_str(), s.totals.calls.inbound), ("2026-03-09", 1));
    assert_eq!(s.hourly.yesterday.iter().sum::<u64>(), 3);
}

#[test]
fn agent_counts_per_service_and_tenant() {
    let mut h = Harness::new();
    let st = |h: &mut Harness, a: &str, state: &str, services: Option<&[&str]>| {
        let mut f = json!({"agent": a, "state": state});
        if let Some(s) = services {
            f["services"] = json!(s);
        }
        h.send(T0, "agent.state", f)
    };
    st(&mut h, "a1", "ready", Some(&["sales", "support"]));
    st(&mut h, "a2", "ringing", Some(&["sales"]));
    st(&mut h, "a3", "talking", Some(&["sales"]));
    st(&mut h, "a4", "dialing", Some(&["support"]));
    st(&mut h, "a5", "outbound", Some(&["support"]));
    st(&mut h, "a6", "away", Some(&["sales"]));
    st(&mut h, "a7", "wrap_up", Some(&["sales"]));
    st(&mut h, "a8", "logged_out", Some(&["sales"]));
    let s = h.snap("2026-11-21T09:00:00Z");
    let a = &s.agents;
    assert_eq!(
        (a.login, a.ready, a.talking, a.outbound, a.break_work),
        (7, 1, 2, 2, 2)
    );
    assert_eq!(a.by_state.logged_out, 1);
    let sales = &Harness::service(&s, "sales").agents;
    assert_eq!(
        (sales.login, sales.ready, sales.talking, sales.break_work),
        (5, 1, 2, 2)
    );
    let support = &Harness::service(&s, "support").agents;
    assert_eq!((support.login, support.ready, support.outbound), (3, 1, 2));
    // New membership replaces the old one.
    h.send(
        "2026-11-21T09:00:01Z",
        "agent.state",
        json!({"agent": "a1", "state": "away", "reason": "meal", "services": ["support"]}),
    );
    let s = h.snap("2026-11-21T09:00:05Z");
    assert_eq!(Harness::service(&s, "sales").agents.ready, 0);
    assert_eq!(Harness::service(&s, "support").agents.by_state.away, 1);
    let a1 = Harness::agent(&s, "a1");
    assert_eq!(
        (a1.state.as_str(), a1.reason.as_deref()),
        ("away", Some("meal"))
    );
    assert_eq!(
        a1.services.iter().map(|s| &**s).collect::<Vec<_>>(),
        ["support"]
    );
}

#[test]
fn per_agent_handled_talk_and_outbound_today() {
    let mut h = Harness::new();
    h.send(T0, "call.queued", q("c1"));
    h.send("2026-11-21T09:00:05Z", "call.answered", qa("c1", "a1"));
    h.send("2026-11-21T09:02:05Z", "call.ended", json!({"call": "c1"}));
    h.send(
        "2026-11-21T09:03:00Z",
        "call.dialing",
        json!({"call": "o1", "agent": "a1", "direction": "outbound"}),
    );
    h.send(
        "2026-11-21T09:03:10Z",
        "call.connected",
        json!({"call": "o1", "agent": "a1"}),
    );
    h.send(
        "2026-11-21T09:04:10Z",
        "call.ended",
        json!({"call": "o1", "agent": "a1"}),
    );
    h.send(
        "2026-11-21T09:05:00Z",
        "call.dialing",
        json!({"call": "o2", "agent": "a1", "queue": "q1"}),
    );
    let s = h.snap("2026-11-21T09:10:00Z");
    let a1 = Harness::agent(&s, "a1");
    assert_eq!((a1.handled, a1.talk_s, a1.outbound), (1, 180, 2));
    assert_eq!(
        (
            s.totals.calls.outbound_attempts,
            s.totals.calls.outbound_connected
        ),
        (2, 1)
    );
    assert_eq!(Harness::queue(&s, "q1").stats.calls.outbound_attempts, 1);
}

#[test]
fn aht_is_talk_plus_wrap_up_per_ended_call() {
    let mut h = Harness::new();
    h.send(T0, "call.queued", q("c1"));
    h.send("2026-11-21T09:00:00Z", "call.answered", qa("c1", "a1"));
    h.send("2026-11-21T09:01:40Z", "call.ended", json!({"call": "c1"}));
    h.send(
        "2026-11-21T09:01:40Z",
        "agent.state",
        json!({"agent": "a1", "state": "wrap_up"}),
    );
    h.send(
        "2026-11-21T09:02:00Z",
        "agent.state",
        json!({"agent": "a1", "state": "ready"}),
    );
    h.send(T0, "call.queued", q("c2"));
    h.send("2026-11-21T09:00:00Z", "call.answered", qa("c2", "a2"));
    h.send("2026-11-21T09:00:40Z", "call.ended", json!({"call": "c2"}));
    let s = h.snap("2026-11-21T09:10:00Z");
    // (100 s talk + 20 s wrap + 40 s talk) / 2 ended calls
    assert_eq!(s.totals.aht_s, Some(80.0));
}

#[test]
fn callbacks_and_open_per_agent() {
    let mut h = Harness::new();
    let cb = |h: &mut Harness, ts: &str, ty: &str, id: &str, agent: Option<&str>| {
        let mut f = json!({"callback": id, "service": "sales"});
        if let Some(a) = agent {
            f["agent"] = json!(a);
        }
        h.send(ts, ty, f)
    };
    for id in ["k1", "k2", "k3", "k4", "k5"] {
        cb(&mut h, T0, "callback.requested", id, None);
    }
    cb(&mut h, T0, "callback.assigned", "k1", Some("a1"));
    cb(&mut h, T0, "callback.assigned", "k2", Some("a1"));
    cb(&mut h, T0, "callback.assigned", "k3", Some("a2"));
    cb(&mut h, T0, "callback.assigned", "k3", Some("a1")); // reassigned
    cb(&mut h, T0, "callback.completed", "k1", Some("a1"));
    cb(&mut h, T0, "callback.failed", "k2", Some("a1"));
    cb(&mut h, T0, "callback.deleted", "k4", None);
    cb(&mut h, T0, "callback.assigned", "k5", Some("a2"));
    cb(&mut h, T0, "callback.unassigned", "k5", None);
    assert_eq!(
        cb(&mut h, T0, "callback.completed", "k1", Some("a1")),
        Outcome::NoEffect(NoEffect::CallbackClosed)
    );
    let s = h.snap("2026-11-21T10:00:00Z");
    let c = &s.callbacks;
    assert_eq!(
        (
            c.requested,
            c.assigned,
            c.completed,
            c.failed,
            c.deleted,
            c.open
        ),
        (5, 4, 1, 1, 1, 2),
        "k4, deleted without an assignment, was never assigned"
    );
    assert_eq!(c.processing_rate, Some(25.0));
    assert_eq!(c.open_by_agent.len(), 1);
    assert_eq!(
        (&*c.open_by_agent[0].agent, c.open_by_agent[0].open),
        ("a1", 1)
    );
    assert_eq!(Harness::agent(&s, "a2").callbacks_open, 0);
    assert_eq!(
        Harness::service(&s, "sales").callback_processing.requested,
        5
    );
}

#[test]
fn calls_to_callback_leave_the_queue_as_callbacks() {
    let mut h = Harness::new();
    h.send(T0, "call.queued", q("c1"));
    h.send("2026-11-21T09:00:30Z", "call.callback", q("c1"));
    let s = h.snap("2026-11-21T09:10:00Z");
    assert_eq!(
        (
            s.totals.calls.inbound,
            s.totals.calls.callbacks,
            s.totals.waiting
        ),
        (1, 1, 0)
    );
}

#[test]
fn a_call_ended_while_waiting_is_an_abandon() {
    let mut h = Harness::new();
    h.send(T0, "call.queued", q("c1"));
    h.send("2026-11-21T09:00:30Z", "call.ended", json!({"call": "c1"}));
    let s = h.snap("2026-11-21T09:10:00Z");
    assert_eq!((s.totals.calls.abandoned, s.totals.waiting), (1, 0));
}

#[test]
fn ivr_inflow_per_hour() {
    let mut h = Harness::new();
    h.send("2026-11-21T09:10:00Z", "call.ivr", json!({"call": "c1"}));
    h.send("2026-11-21T09:20:00Z", "call.ivr", json!({"call": "c2"}));
    h.send("2026-11-20T09:20:00Z", "call.ivr", json!({"call": "c0"}));
    let s = h.snap("2026-11-21T10:00:00Z");
    assert_eq!(s.hourly.ivr_today[9], 2);
    assert_eq!(s.hourly.ivr_yesterday[9], 1);
    assert_eq!(s.totals.calls.ivr, 2);
}

#[test]
fn building_a_snapshot_changes_nothing() {
    let mut h = Harness::new();
    h.send(T0, "call.queued", q("c1"));
    let a = h.snap("2026-11-23T09:00:00Z"); // two days later: nothing is today
    assert_eq!(a.totals.calls.inbound, 0);
    let b = h.snap("2026-11-21T09:00:00Z");
    assert_eq!(
        b.totals.calls.inbound, 1,
        "a look at a later day must not rotate anything"
    );
    assert_eq!(h.snap("2026-11-21T09:00:00Z"), b);
}

#[test]
fn on_equal_times_the_agent_state_delivered_later_wins() {
    let mut h = Harness::new();
    // An ACD offers a call the millisecond the agent becomes ready.
    let ts = "2026-11-21T09:00:00.250Z";
    h.send_id(
        "r",
        ts,
        "agent.state",
        json!({"agent": "a1", "state": "ready"}),
    );
    h.send_id(
        "z",
        ts,
        "agent.state",
        json!({"agent": "a1", "state": "ringing"}),
    );
    let s = h.snap("2026-11-21T09:00:01Z");
    assert_eq!(Harness::agent(&s, "a1").state.as_str(), "ringing");
    // Whatever the ids: the same two in the other order end ready.
    h.send_id(
        "z2",
        ts,
        "agent.state",
        json!({"agent": "a2", "state": "ringing"}),
    );
    h.send_id(
        "a2",
        ts,
        "agent.state",
        json!({"agent": "a2", "state": "ready"}),
    );
    let s = h.snap("2026-11-21T09:00:01Z");
    assert_eq!(Harness::agent(&s, "a2").state.as_str(), "ready");
    // A repeat of the earlier one is a duplicate: it does not win the tie.
    let out = h.send_id(
        "r",
        ts,
        "agent.state",
        json!({"agent": "a1", "state": "ready"}),
    );
    assert_eq!(out, Outcome::Duplicate);
    assert_eq!(
        Harness::agent(&h.snap("2026-11-21T09:00:01Z"), "a1")
            .state
            .as_str(),
        "ringing"
    );
}

#[test]
fn a_callback_deleted_without_an_assignment_was_not_assigned() {
    let mut h = Harness::new();
    let cb = |h: &mut Harness, ty: &str, id: &str| {
        h.send(T0, ty, json!({"callback": id, "service": "sales"}))
    };
    for id in ["k1", "k2", "k3"] {
        cb(&mut h, "callback.requested", id);
    }
    cb(&mut h, "callback.deleted", "k1");
    cb(&mut h, "callback.completed", "k2");
    cb(&mut h, "callback.failed", "k3");
    let c = h.snap("2026-11-21T10:00:00Z").callbacks;
    // k2 and k3 were processed by someone, assigned or not; k1 by nobody.
    assert_eq!((c.requested, c.assigned, c.deleted, c.open), (3, 2, 1, 0));
    assert_eq!(c.processing_rate, Some(50.0));
}

fn state(h: &mut Harness, ts: &str, agent: &str, st: &str, reason: Option<&str>) {
    let mut f = json!({"agent": agent, "state": st});
    if let Some(r) = reason {
        f["reason"] = json!(r);
    }
    assert_eq!(h.send(ts, "agent.state", f), Outcome::Applied);
}

#[test]
fn agent_time_today_per_state_away_by_reason_and_occupancy() {
    let mut h = Harness::with_config("[tenants.acme]\ntz = \"Asia/Seoul\"\n");
    // Logged in (ready) at 23:00 yesterday, Seoul time: only today's part counts.
    state(&mut h, "2026-11-20T23:00:00+09:00", "a1", "ready", None);
    state(
        &mut h,
        "2026-11-21T00:30:00+09:00",
        "a1",
        "away",
        Some("meal"),
    );
    state(&mut h, "2026-11-21T01:00:00+09:00", "a1", "ready", None);
    state(&mut h, "2026-11-21T01:10:00+09:00", "a1", "ringing", None);
    state(&mut h, "2026-11-21T01:10:10+09:00", "a1", "talking", None);
    state(&mut h, "2026-11-21T01:15:10+09:00", "a1", "wrap_up", None);
    state(&mut h, "2026-11-21T01:16:10+09:00", "a1", "away", None);
    // A late event changes nothing and adds no time.
    let late = h.send(
        "2026-11-21T00:45:00+09:00",
        "agent.state",
        json!({"agent": "a1", "state": "talking"}),
    );
    assert_eq!(late, Outcome::Late);
    let s = h.snap("2026-11-21T01:20:10+09:00");
    let a = Harness::agent(&s, "a1");
    let t = &a.time_today_s;
    assert_eq!(
        (t.ready, t.away, t.ringing, t.talking, t.wrap_up),
        (1800 + 600, 1800 + 240, 10, 300, 60),
        "ready 00:00-00:30 and 01:00-01:10; away 30 min for a meal and 4 min unexplained, still going"
    );
    assert_eq!(a.login_s, 2400 + 2040 + 10 + 300 + 60);
    assert_eq!(a.away_today_s.get("meal"), Some(&1800));
    assert_eq!(a.away_today_s.get(""), Some(&240));
    // busy = 10 + 300 + 60 = 370; ready = 2400
    assert_eq!(a.occupancy, Some(13.36));
    // The same agent yesterday: only the hour before midnight, all ready.
    let y = h.snap("2026-11-20T23:59:59+09:00");
    assert_eq!(Harness::agent(&y, "a1").time_today_s.ready, 3600);
    // Logged out: the clock stops.
    state(
        &mut h,
        "2026-11-21T01:30:10+09:00",
        "a1",
        "logged_out",
        None,
    );
    let s = h.snap("2026-11-21T05:00:00+09:00");
    assert_eq!(Harness::agent(&s, "a1").time_today_s.away, 1800 + 840);
    assert_eq!(Harness::agent(&s, "a1").state_s, 12_590);
}

#[test]
fn agent_seconds_are_rounded_once_from_milliseconds() {
    let mut h = Harness::new();
    // Seven states of 1.7 s each, then away for two reasons of 0.6 s each:
    // 13.1 s logged in, which each state rounded down on its own would give
    // as 7 s.
    let mut t = 0u64;
    let at = |ms: u64| format!("2026-11-21T09:00:{:02}.{:03}Z", ms / 1000, ms % 1000);
    for st in [
        "ready", "ringing", "talking", "wrap_up", "dialing", "outbound", "ready",
    ] {
        state(&mut h, &at(t), "a1", st, None);
        t += 1700;
    }
    state(&mut h, &at(t), "a1", "away", Some("meal"));
    t += 600;
    state(&mut h, &at(t), "a1", "away", Some("coffee"));
    t += 600;
    state(&mut h, &at(t), "a1", "logged_out", None);
    let s = h.snap("2026-11-21T09:01:00Z");
    let a = Harness::agent(&s, "a1");
    assert_eq!(a.login_s, 13, "13.1 s logged in, rounded once");
    let ts = &a.time_today_s;
    let parts = [
        ts.ready,
        ts.away,
        ts.ringing,
        ts.talking,
        ts.dialing,
        ts.outbound,
        ts.wrap_up,
    ];
    assert_eq!(
        parts.iter().sum::<u64>(),
        a.login_s,
        "the states sum to the login time: {parts:?}"
    );
    assert!(
        parts.iter().all(|&p| p <= 4),
        "each state within a second of its time: {parts:?}"
    );
    assert_eq!(ts.ready, 3, "ready 3.4 s");
    let away: u64 = a.away_today_s.values().sum();
    assert_eq!(
        away, ts.away,
        "the reasons sum to the away time: {:?}",
        a.away_today_s
    );
}

#[test]
fn missed_calls_handled_on_the_answer_day_and_agent_aht() {
    let mut h = Harness::with_config("[tenants.acme]\ntz = \"Asia/Seoul\"\n");
    // c1 rings at a1, who does not answer; a2 answers it.
    h.send("2026-11-21T09:00:00+09:00", "call.queued", q("c1"));
    h.send("2026-11-21T09:00:01+09:00", "call.ringing", qa("c1", "a1"));
    h.send("2026-11-21T09:00:11+09:00", "call.ringing", qa("c1", "a2"));
    h.send("2026-11-21T09:00:15+09:00", "call.answered", qa("c1", "a2"));
    h.send(
        "2026-11-21T09:02:15+09:00",
        "call.ended",
        json!({"call": "c1"}),
    );
    state(&mut h, "2026-11-21T09:02:15+09:00", "a2", "wrap_up", None);
    state(&mut h, "2026-11-21T09:02:45+09:00", "a2", "ready", None);
    // c2 rings at a1, then the caller hangs up: missed too.
    h.send("2026-11-21T09:05:00+09:00", "call.queued", q("c2"));
    h.send("2026-11-21T09:05:01+09:00", "call.ringing", qa("c2", "a1"));
    h.send("2026-11-21T09:05:09+09:00", "call.abandoned", q("c2"));
    // c3 rings at a1 and a1 answers: not missed.
    h.send("2026-11-21T09:06:00+09:00", "call.queued", q("c3"));
    h.send("2026-11-21T09:06:01+09:00", "call.ringing", qa("c3", "a1"));
    h.send("2026-11-21T09:06:05+09:00", "call.answered", qa("c3", "a1"));
    let s = h.snap("2026-11-21T09:10:00+09:00");
    let (a1, a2) = (Harness::agent(&s, "a1"), Harness::agent(&s, "a2"));
    assert_eq!((a1.missed, a1.handled), (2, 1));
    assert_eq!((a2.missed, a2.handled), (0, 1));
    // a2: (120 s talk + 30 s wrap-up) / 1 ended call; a1's call has not ended.
    assert_eq!(a2.aht_s, Some(150.0));
    assert_eq!(a1.aht_s, None);

    // Queued at 23:59:50, answered at 00:00:05: the queue counts it
    // yesterday, the agent today.
    h.send("2026-11-21T23:59:50+09:00", "call.queued", q("c4"));
    h.send("2026-11-22T00:00:05+09:00", "call.answered", qa("c4", "a3"));
    let s = h.snap("2026-11-22T00:10:00+09:00");
    assert_eq!(s.totals.calls.answered, 0);
    assert_eq!(Harness::agent(&s, "a3").handled, 1);
    let s = h.snap("2026-11-21T23:59:59+09:00");
    assert_eq!(
        s.totals.calls.answered, 3,
        "c1, c3 and c4, by the day they were queued"
    );
}

#[test]
fn names_come_out_sorted_whatever_order_they_come_in() {
    let mut h = Harness::new();
    for i in (0..500).rev() {
        h.send(T0, "agent.state", json!({"agent": format!("a{i:03}"), "state": "ready", "services": [format!("s{}", i % 7)]}));
        h.send(
            T0,
            "call.queued",
            json!({"call": format!("c{i}"), "queue": format!("q{:03}", (i * 37) % 101)}),
        );
    }
    let s = h.snap("2026-11-21T10:00:00Z");
    let sorted = |v: Vec<&str>| {
        let mut w = v.clone();
        w.sort_unstable();
        v == w
    };
    assert!(sorted(s.agent_list.iter().map(|a| &*a.agent).collect()));
    assert!(sorted(s.queues.iter().map(|q| &*q.queue).collect()));
    assert!(sorted(s.services.iter().map(|r| &*r.service).collect()));
    assert_eq!((s.agent_list.len(), s.queues.len()), (500, 101));
}

#[test]
fn a_call_waiting_past_max_wait_is_taken_out_as_exited_on_its_day() {
    let mut h = Harness::with_config(
        "[tenants.acme]\ntz = \"Asia/Seoul\"\n[tenants.acme.queues.short]\nmax_wait_s = 60\n[tenants.acme.queues.forever]\nmax_wait_s = 0\n",
    );
    // Lost end events: c1 (default 4 h), c2 (60 s), c3 (never expires).
    h.send("2026-11-21T08:00:00+09:00", "call.queued", q("c1"));
    h.send(
        "2026-11-21T08:00:00+09:00",
        "call.queued",
        json!({"call": "c2", "queue": "short"}),
    );
    h.send(
        "2026-11-21T08:00:00+09:00",
        "call.queued",
        json!({"call": "c3", "queue": "forever"}),
    );
    let s = h.snap("2026-11-21T08:00:30+09:00");
    assert_eq!((s.totals.waiting, s.totals.calls.exited), (3, 0));
    // Any later event lets c2 go; a snapshot at a later time counts it so.
    h.send("2026-11-21T08:01:30+09:00", "call.queued", q("c4"));
    let s = h.snap("2026-11-21T08:01:30+09:00");
    assert_eq!(Harness::queue(&s, "short").stats.calls.exited, 1);
    assert_eq!(s.totals.waiting, 3, "c1, c3 and c4");
    let s = h.snap("2026-11-21T12:00:00+09:00");
    assert_eq!(
        Harness::queue(&s, "q1").stats.calls.exited,
        1,
        "c1, after 4 hours"
    );
    // c4 has waited exactly 4 h - 30 s: still waiting; c3 never expires.
    assert_eq!(s.totals.waiting, 2);
    assert_eq!(s.totals.longest_wait_s, 4 * 3600, "c3 is the oldest now");
    // Conservation still holds on the queued day.
    let t = &s.totals;
    assert_eq!(
        t.calls.inbound,
        t.calls.answered
            + t.calls.abandoned
            + t.calls.callbacks
            + t.calls.transferred
            + t.calls.exited
            + t.waiting
    );
    // An end event dated after the deadline comes too late: the call left
    // at its deadline.
    let out = h.send("2026-11-21T12:00:05+09:00", "call.answered", qa("c1", "a1"));
    assert_eq!(out, Outcome::NoEffect(NoEffect::CallNotWaiting));
}

#[test]
fn a_backlog_brings_the_end_of_a_call_the_clock_had_counted_as_exited() {
    // A call queued at 08:00 whose answer (at 08:00:30) is posted after
    // 12:00: in between, every figure counts it as exited; the answer then
    // counts it as answered, as replay of the three events does.
    let mut h = Harness::new();
    h.send("2026-11-21T08:00:00Z", "call.queued", q("c1"));
    h.send("2026-11-21T08:00:10Z", "call.ringing", qa("c1", "a1"));
    let s = h.snap("2026-11-21T12:30:00Z");
    assert_eq!((s.totals.waiting, s.totals.calls.exited), (0, 1));
    assert_eq!(Harness::agent(&s, "a1").missed, 1, "it rang at a1");
    let rows = h
        .engine
        .tenant("acme")
        .unwrap()
        .intervals(crate::support::at("2026-11-21T12:30:00Z"));
    let exited = crate::support::exited(&rows);
    assert_eq!(exited, 1, "the interval rows count it too");

    let out = h.send("2026-11-21T08:00:30Z", "call.answered", qa("c1", "a1"));
    assert_eq!(out, Outcome::Applied, "the clock let nothing go");
    h.send("2026-11-21T08:05:30Z", "call.ended", json!({"call": "c1"}));
    let s = h.snap("2026-11-21T12:30:00Z");
    let t = &s.totals;
    assert_eq!((t.calls.answered, t.calls.exited, t.waiting), (1, 0, 0));
    let a = Harness::agent(&s, "a1");
    assert_eq!((a.handled, a.missed), (1, 0));
}

#[test]
fn an_answered_call_never_ended_is_let_go_a_day_later() {
    let mut h = Harness::new();
    h.send(T0, "call.queued", q("c1"));
    h.send("2026-11-21T09:00:10Z", "call.answered", qa("c1", "a1"));
    assert_eq!(
        h.engine
            .expire(crate::support::at("2026-11-22T09:00:09Z"))
            .answered,
        0
    );
    assert_eq!(
        h.engine
            .expire(crate::support::at("2026-11-22T09:00:10Z"))
            .answered,
        1
    );
    // Its late end changes nothing; the answer still counts on its day.
    let out = h.send("2026-11-22T09:05:00Z", "call.ended", json!({"call": "c1"}));
    assert_eq!(out, Outcome::NoEffect(NoEffect::UnknownCall));
    assert_eq!(h.snap("2026-11-21T23:00:00Z").totals.calls.answered, 1);
}

#[test]
fn names_past_the_configured_limits_are_refused_and_change_nothing() {
    use callboard::engine::Limit;
    let mut h = Harness::with_config(
        "[limits]\nmax_tenants = 2\nmax_agents = 2\nmax_queues = 2\nmax_reasons = 1\n\
         [tenants.acme.queues.vip]\nservice = \"sales\"\n[tenants.zeta]\n",
    );
    let agent = |h: &mut Harness, a: &str, reason: Option<&str>| {
        let mut f = json!({"agent": a, "state": if reason.is_some() { "away" } else { "ready" }});
        if let Some(r) = reason {
            f["reason"] = json!(r);
        }
        h.send(T0, "agent.state", f)
    };
    assert_eq!(agent(&mut h, "a1", None), Outcome::Applied);
    assert_eq!(agent(&mut h, "a2", None), Outcome::Applied);
    assert_eq!(agent(&mut h, "a3", None), Outcome::OverLimit(Limit::Agents));
    assert_eq!(
        agent(&mut h, "a1", Some("meal")),
        Outcome::Applied,
        "known agents still change"
    );
    assert_eq!(
        agent(&mut h, "a2", Some("break")),
        Outcome::OverLimit(Limit::Reasons)
    );
    // "vip" is configured: it does not count against the queues' bound.
    for (call, queue, out) in [
        ("c1", "q1", Outcome::Applied),
        ("c2", "q2", Outcome::OverLimit(Limit::Queues)),
        ("c3", "vip", Outcome::Applied),
    ] {
        assert_eq!(
            h.send(T0, "call.queued", json!({"call": call, "queue": queue})),
            out
        );
    }
    let s = h.snap("2026-11-21T10:00:00Z");
    assert_eq!((s.agent_list.len(), s.totals.calls.inbound), (2, 2));
    // A second tenant fits, a third does not; a configured one always does.
    h.tenant = "beta".into();
    assert_eq!(agent(&mut h, "b1", None), Outcome::Applied);
    h.tenant = "gamma".into();
    assert_eq!(
        agent(&mut h, "g1", None),
        Outcome::OverLimit(Limit::Tenants)
    );
    h.tenant = "zeta".into();
    assert_eq!(agent(&mut h, "z1", None), Outcome::Applied);
    assert_eq!(
        h.engine
            .tenant_names()
            .iter()
            .map(|t| &**t)
            .collect::<Vec<_>>(),
        ["acme", "beta", "zeta"]
    );
}

/// An agent's figures of one interval are kept in small counters that
/// stop at their largest value instead of wrapping (or stopping the
/// engine): 70,000 calls answered by one agent in one interval still count
/// whole in its day, and its interval says the most it can.
#[test]
fn an_interval_saturates_and_the_day_still_counts_everything() {
    use callboard::config::Config;
    use callboard::decode::decode_json;
    use callboard::engine::Engine;
    use callboard::wire::IntervalRow;
    let mut e = Engine::new(std::sync::Arc::new(Config::default()));
    let t0 = crate::support::at("2026-11-21T09:00:00Z");
    let n = 70_000;
    for c in 0..n {
        for (kind, agent) in [("call.queued", ""), ("call.answered", r#","agent":"a1""#)] {
            let ev = format!(
                r#"{{"v":1,"id":"{kind}-{c}","ts":{},"tenant":"acme","type":"{kind}","call":"c{c}","queue":"q1"{agent}}}"#,
                t0 + c / 100
            );
            let ev = decode_json(ev.as_bytes(), 65536).unwrap();
            assert_eq!(e.apply(&ev), Outcome::Applied);
        }
    }
    let now = t0 + 600_000;
    let s = e
        .snapshot("acme", now, callboard::wire::Status::Live)
        .unwrap();
    assert_eq!(s.totals.calls.answered, n as u64);
    let a1 = s.agent_list.iter().find(|a| &*a.agent == "a1").unwrap();
    assert_eq!(a1.handled, n as u64, "the day counts every call");
    let handled: Vec<u64> = e
        .tenant("acme")
        .unwrap()
        .intervals(now)
        .into_iter()
        .filter_map(|r| match r {
            IntervalRow::Agent(a) => Some(a.handled),
            _ => None,
        })
        .collect();
    assert_eq!(handled, [u16::MAX as u64], "the interval stops at its most");
}

/// A callback's request may be delivered after its assignment or its
/// close (two producers, a batch resent). It still belongs to the day and
/// service of its request: every delivery order gives the same figures,
/// the same rows, and the same store when the changed rows are written
/// after each event.
#[test]
fn a_callback_request_delivered_late_still_decides_its_service_and_day() {
    use callboard::wire::{CallbackInterval, IntervalRow};
    use std::collections::BTreeMap;
    // k1: requested for sales, then assigned and completed naming no
    // service. k2: requested late on the evening before (Seoul), completed
    // today.
    let k1 = [
        (
            "2026-11-21T09:00:00Z",
            "callback.requested",
            json!({"callback": "k1", "service": "sales"}),
        ),
        (
            "2026-11-21T09:01:00Z",
            "callback.assigned",
            json!({"callback": "k1", "agent": "a1"}),
        ),
        (
            "2026-11-21T09:02:00Z",
            "callback.completed",
            json!({"callback": "k1", "agent": "a1"}),
        ),
    ];
    let k2 = [
        (
            "2026-11-20T14:30:00Z",
            "callback.requested",
            json!({"callback": "k2", "service": "care"}),
        ),
        (
            "2026-11-21T09:03:00Z",
            "callback.completed",
            json!({"callback": "k2", "agent": "a2"}),
        ),
    ];
    let now = "2026-11-21T10:00:00Z";
    let orders: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let key = |r: &CallbackInterval| {
        (
            r.service.as_deref().unwrap_or("").to_string(),
            r.day.clone(),
        )
    };
    let mut outcomes = vec![];
    for order in orders {
        for k2_late in [false, true] {
            let mut h = Harness::new();
            let mut events: Vec<_> = order.iter().map(|&i| k1[i].clone()).collect();
            if k2_late {
                events.extend([k2[1].clone(), k2[0].clone()]);
            } else {
                events.extend(k2.iter().cloned());
            }
            // Written after every event, as a store would hold them.
            let mut store: BTreeMap<(String, String), CallbackInterval> = BTreeMap::new();
            for (ts, ty, f) in events {
                // (An assignment after the close changes nothing: the close
                // counted it assigned.)
                let out = h.send(ts, ty, f);
                assert!(
                    matches!(
                        out,
                        Outcome::Applied | Outcome::NoEffect(NoEffect::CallbackClosed)
                    ),
                    "{order:?} {ty}: {out:?}"
                );
                for r in h.engine.take_changed_intervals(crate::support::at(ts)) {
                    if let IntervalRow::Callback(c) = &r {
                        if r.is_empty() {
                            store.remove(&key(c));
                        } else {
                            store.insert(key(c), c.clone());
                        }
                    }
                }
            }
            let s = h.snap(now);
            let rows: BTreeMap<_, _> = h
                .engine
                .tenant("acme")
                .unwrap()
                .intervals(crate::support::at(now))
                .into_iter()
                .filter_map(|r| match r {
                    IntervalRow::Callback(c) => Some((key(&c), c)),
                    _ => None,
                })
                .collect();
            assert_eq!(store, rows, "{order:?}, k2 late: {k2_late}: the store");
            let sales = Harness::service(&s, "sales").callback_processing.clone();
            outcomes.push((
                order,
                k2_late,
                s.callbacks.requested,
                s.callbacks.completed,
                sales,
                rows,
            ));
        }
    }
    let (_, _, requested, completed, sales, rows) = &outcomes[0];
    assert_eq!(
        (*requested, *completed),
        (1, 1),
        "today: k1; k2 counts on its request day"
    );
    assert_eq!(
        (sales.requested, sales.assigned, sales.completed),
        (1, 1, 1)
    );
    let days: Vec<_> = rows.keys().cloned().collect();
    assert_eq!(
        days,
        [
            ("care".to_string(), "2026-11-20".to_string()),
            ("sales".to_string(), "2026-11-21".to_string())
        ],
        "no row under no service, none of k2 today"
    );
    for o in &outcomes[1..] {
        assert_eq!(
            (&o.2, &o.3, &o.4, &o.5),
            (requested, completed, sales, rows),
            "{:?}, k2 late: {}",
            o.0,
            o.1
        );
    }
}

/// An answer for a call never seen queued, whose `queued_ts` falls before
/// yesterday, began its wait on a closed day: it changes nothing, neither
/// the queues' figures nor its agent's (which would then disagree).
#[test]
fn an_answer_whose_wait_began_before_yesterday_changes_nothing() {
    let mut h = Harness::new();
    h.send(T0, "call.queued", q("c0"));
    let before = h.snap("2026-11-21T10:00:00Z");
    let out = h.send(
        "2026-11-21T09:05:00Z",
        "call.answered",
        json!({"call": "c1", "queue": "q9", "agent": "a1", "queued_ts": "2026-11-18T09:00:00Z"}),
    );
    assert_eq!(out, Outcome::NoEffect(NoEffect::TooOld));
    let after = h.snap("2026-11-21T10:00:00Z");
    assert_eq!(after.totals, before.totals);
    assert!(
        after.queues.iter().all(|r| &*r.queue != "q9"),
        "no queue named by it"
    );
    assert!(after.agent_list.iter().all(|a| a.handled == 0));
    // Yesterday's wait still counts, today and for the agent alike.
    let out = h.send(
        "2026-11-21T09:06:00Z",
        "call.answered",
        json!({"call": "c2", "queue": "q1", "agent": "a1", "queued_ts": "2026-11-20T14:50:00Z"}),
    );
    assert_eq!(out, Outcome::Applied);
}

/// A callback's service named only by an event delivered after its close
/// is still its service: in every delivery order the service row counts it.
#[test]
fn a_callback_service_named_after_its_close_is_still_its_service() {
    let events = [
        (
            "2026-11-21T09:00:00Z",
            "callback.requested",
            json!({"callback": "k1"}),
        ),
        (
            "2026-11-21T09:01:00Z",
            "callback.assigned",
            json!({"callback": "k1", "agent": "a1", "service": "s1"}),
        ),
        (
            "2026-11-21T09:02:00Z",
            "callback.completed",
            json!({"callback": "k1", "agent": "a1"}),
        ),
    ];
    let orders: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let mut h = Harness::new();
        for &i in &order {
            let (ts, ty, f) = events[i].clone();
            h.send(ts, ty, f);
        }
        let s = h.snap("2026-11-21T10:00:00Z");
        let c = &Harness::service(&s, "s1").callback_processing;
        assert_eq!(
            (c.requested, c.assigned, c.completed, s.callbacks.requested),
            (1, 1, 1, 1),
            "{order:?}"
        );
    }
}

/// A callback event that changes nothing (a second request, a late event
/// of a closed callback whose service is known) creates no service and no
/// agent: neither shows on the
/// board, and neither uses up the configured bounds.
#[test]
fn a_callback_event_that_changes_nothing_creates_no_name() {
    use callboard::engine::Limit;
    let mut h = Harness::with_config("[limits]\nmax_services = 2\nmax_agents = 1\n");
    let send = |h: &mut Harness, ty: &str, f: serde_json::Value| h.send(T0, ty, f);
    assert_eq!(
        send(
            &mut h,
            "callback.requested",
            json!({"callback": "k1", "service": "s1"})
        ),
        Outcome::Applied
    );
    assert_eq!(
        send(
            &mut h,
            "callback.requested",
            json!({"callback": "k1", "service": "ghost"})
        ),
        Outcome::NoEffect(NoEffect::CallbackKnown)
    );
    assert_eq!(
        send(&mut h, "callback.deleted", json!({"callback": "k1"})),
        Outcome::Applied
    );
    assert_eq!(
        h.send(
            "2026-11-21T09:05:00Z",
            "callback.assigned",
            json!({"callback": "k1", "agent": "ghost-agent", "service": "ghost"})
        ),
        Outcome::NoEffect(NoEffect::CallbackClosed)
    );
    // The bounds are still free for names that count.
    assert_eq!(
        send(
            &mut h,
            "callback.requested",
            json!({"callback": "k2", "service": "s2"})
        ),
        Outcome::Applied
    );
    assert_eq!(
        send(
            &mut h,
            "callback.assigned",
            json!({"callback": "k2", "agent": "a1"})
        ),
        Outcome::Applied
    );
    assert_eq!(
        send(
            &mut h,
            "callback.requested",
            json!({"callback": "k3", "service": "s3"})
        ),
        Outcome::OverLimit(Limit::Services)
    );
    let s = h.snap("2026-11-21T10:00:00Z");
    let services: Vec<&str> = s.services.iter().map(|r| &*r.service).collect();
    let agents: Vec<&str> = s.agent_list.iter().map(|r| &*r.agent).collect();
    assert_eq!((services, agents), (vec!["s1", "s2"], vec!["a1"]));
}

/// Every order of `n` things (Heap's algorithm).
fn every_order(n: usize) -> Vec<Vec<usize>> {
    fn heap(k: usize, a: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..k {
            heap(k - 1, a, out);
            let j = if k % 2 == 0 { i } else { 0 };
            a.swap(j, k - 1);
        }
    }
    let mut out = Vec::new();
    heap(n, &mut (0..n).collect(), &mut out);
    out
}

/// A callback's assignment is its newest by `ts`, its outcome its earliest
/// close, and an assignment dated after the close changes nothing: in
/// whatever order the events are delivered, the figures are the same.
#[test]
fn a_callbacks_assignment_and_close_go_by_time_not_delivery() {
    // k1: assigned to a1, then a2, deleted, then (too late) a3 and a
    // completion. k2: assigned to a1, unassigned, assigned to a2, open.
    let k1 = [
        (
            "09:00",
            "callback.requested",
            json!({"callback": "k1", "service": "s1"}),
        ),
        (
            "09:01",
            "callback.assigned",
            json!({"callback": "k1", "agent": "a1"}),
        ),
        (
            "09:03",
            "callback.assigned",
            json!({"callback": "k1", "agent": "a2"}),
        ),
        ("09:04", "callback.deleted", json!({"callback": "k1"})),
        (
            "09:05",
            "callback.assigned",
            json!({"callback": "k1", "agent": "a3"}),
        ),
        (
            "09:06",
            "callback.completed",
            json!({"callback": "k1", "agent": "a3"}),
        ),
    ];
    let k2 = [
        (
            "09:00",
            "callback.requested",
            json!({"callback": "k2", "service": "s1"}),
        ),
        (
            "09:01",
            "callback.assigned",
            json!({"callback": "k2", "agent": "a1"}),
        ),
        ("09:02", "callback.unassigned", json!({"callback": "k2"})),
        (
            "09:03",
            "callback.assigned",
            json!({"callback": "k2", "agent": "a2"}),
        ),
    ];
    let orders1 = every_order(k1.len());
    let orders2 = every_order(k2.len());
    assert_eq!((orders1.len(), orders2.len()), (720, 24));
    for (n, o1) in orders1.iter().enumerate() {
        let o2 = &orders2[n % orders2.len()];
        let mut h = Harness::new();
        // Interleaved: k2's events between k1's.
        let mut events = Vec::new();
        for i in 0..o1.len().max(o2.len()) {
            events.extend(o1.get(i).map(|&j| &k1[j]));
            events.extend(o2.get(i).map(|&j| &k2[j]));
        }
        for (hm, ty, f) in events {
            h.send(&format!("2026-11-21T{hm}:00Z"), ty, f.clone());
        }
        let s = h.snap("2026-11-21T10:00:00Z");
        let c = &Harness::service(&s, "s1").callback_processing;
        let open: Vec<(&str, u64)> = s
            .callbacks
            .open_by_agent
            .iter()
            .map(|o| (&*o.agent, o.open))
            .collect();
        assert_eq!(
            (
                (c.requested, c.assigned, c.completed, c.failed, c.deleted),
                open
            ),
            ((2, 2, 0, 0, 1), vec![("a2", 1)]),
            "k1 in order {o1:?}, k2 in order {o2:?}"
        );
    }
}

/// A refused event changes nothing: a new tenant whose event is refused
/// (`too_old`: a wait begun on a closed day) is not made, and takes no
/// place under `max_tenants`.
#[test]
fn a_tenant_whose_first_event_is_refused_is_not_made() {
    use callboard::engine::Limit;
    let mut h = Harness::with_config("[limits]\nmax_tenants = 2\n");
    h.tenant = "ghost".into();
    let f = json!({"call": "c9", "queue": "q", "queued_ts": "2026-11-17T09:00:00Z"});
    assert_eq!(
        h.send(T0, "call.abandoned", f),
        Outcome::NoEffect(NoEffect::TooOld)
    );
    for (tenant, out) in [
        ("one", Outcome::Applied),
        ("two", Outcome::Applied),
        ("three", Outcome::OverLimit(Limit::Tenants)),
    ] {
        h.tenant = tenant.into();
        let f = json!({"call": "c1", "queue": "q"});
        assert_eq!(h.send(T0, "call.queued", f), out, "{tenant}");
    }
    let names: Vec<String> = h
        .engine
        .tenant_names()
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(names, ["one", "two"]);
}

/// A transferred call's wait in its new queue begins at the transfer,
/// whether that queue's `call.queued` comes after the transfer, before it
/// at the same moment, or not at all: the answer counts there each time.
#[test]
fn a_transferred_call_is_answered_in_its_new_queue_whatever_the_order_at_the_transfer() {
    let queued = |q: &str| json!({"call": "c", "queue": q});
    let transfer = json!({"call": "c", "queue": "q1", "to_queue": "q2"});
    let ways: [&[(&str, &str, serde_json::Value)]; 3] = [
        &[
            ("09:00:30", "call.transferred", transfer.clone()),
            ("09:00:30", "call.queued", queued("q2")),
        ],
        &[
            ("09:00:30", "call.queued", queued("q2")),
            ("09:00:30", "call.transferred", transfer.clone()),
        ],
        &[("09:00:30", "call.transferred", transfer.clone())],
    ];
    for (n, middle) in ways.iter().enumerate() {
        let mut h = Harness::new();
        h.send("2026-11-21T09:00:00Z", "call.queued", queued("q1"));
        for (hms, ty, f) in middle.iter() {
            h.send(&format!("2026-11-21T{hms}Z"), ty, f.clone());
        }
        let answer = json!({"call": "c", "queue": "q2", "agent": "A"});
        assert_eq!(
            h.send("2026-11-21T09:00:40Z", "call.answered", answer),
            Outcome::Applied,
            "way {n}"
        );
        h.send(
            "2026-11-21T09:02:40Z",
            "call.ended",
            json!({"call": "c", "agent": "A"}),
        );
        let s = h.snap("2026-11-21T10:00:00Z");
        let (q1, q2) = (Harness::queue(&s, "q1"), Harness::queue(&s, "q2"));
        assert_eq!(
            (
                q1.stats.calls.inbound,
                q1.stats.calls.transferred,
                q2.stats.calls.inbound,
                q2.stats.calls.answered,
                q2.stats.asa_s,
                Harness::agent(&s, "A").handled,
            ),
            (1, 1, 1, 1, Some(10.0), 1),
            "way {n}"
        );
        // An end dated before the transfer, or in another queue, is not
        // the new wait's.
        let early = json!({"call": "c", "queue": "q3", "agent": "B"});
        assert_eq!(
            h.send("2026-11-21T09:05:00Z", "call.answered", early),
            Outcome::NoEffect(NoEffect::CallNotWaiting),
            "way {n}"
        );
    }
}

/// A callback's events delivered in any order give the same figures and
/// rows also when its first-delivered event is an unassignment, names the
/// service the request does not, or is not its earliest (without a
/// request, the callback belongs to the day of its earliest event).
#[test]
fn a_callback_without_its_request_first_is_the_same_in_any_order() {
    use callboard::wire::IntervalRow;
    let scenarios: [Vec<(&str, &str, serde_json::Value)>; 3] = [
        vec![
            (
                "2026-11-21T15:01:00Z",
                "callback.assigned",
                json!({"callback": "k", "agent": "a2", "service": "sales"}),
            ),
            (
                "2026-11-21T15:01:30Z",
                "callback.unassigned",
                json!({"callback": "k"}),
            ),
        ],
        vec![
            (
                "2026-11-21T10:00:10Z",
                "callback.unassigned",
                json!({"callback": "k", "service": "sales"}),
            ),
            (
                "2026-11-21T10:00:20Z",
                "callback.requested",
                json!({"callback": "k"}),
            ),
            (
                "2026-11-21T10:00:30Z",
                "callback.completed",
                json!({"callback": "k"}),
            ),
        ],
        // Across local midnight (Seoul: 23:59 and 00:01), no request.
        vec![
            (
                "2026-11-21T14:59:00Z",
                "callback.assigned",
                json!({"callback": "k", "agent": "a1", "service": "sales"}),
            ),
            (
                "2026-11-21T15:01:00Z",
                "callback.completed",
                json!({"callback": "k"}),
            ),
        ],
    ];
    let now = "2026-11-21T16:00:00Z";
    for (n, events) in scenarios.iter().enumerate() {
        let mut seen = Vec::new();
        for order in every_order(events.len()) {
            let mut h = Harness::with_config("[tenants.acme]\ntz = \"Asia/Seoul\"\n");
            for &i in &order {
                let (ts, ty, f) = &events[i];
                h.send(ts, ty, f.clone());
            }
            let s = h.snap(now);
            let open: Vec<(String, u64)> = s
                .callbacks
                .open_by_agent
                .iter()
                .map(|o| (o.agent.to_string(), o.open))
                .collect();
            let rows: Vec<String> = h
                .engine
                .tenant("acme")
                .unwrap()
                .intervals(crate::support::at(now))
                .into_iter()
                .filter_map(|r| match r {
                    IntervalRow::Callback(c) => Some(format!("{c:?}")),
                    _ => None,
                })
                .collect();
            seen.push((order, open, rows));
        }
        let (first, open, rows) = &seen[0];
        for (order, o, r) in &seen[1..] {
            assert_eq!(
                (o, r),
                (open, rows),
                "scenario {n}: {order:?} against {first:?}"
            );
        }
        assert!(open.is_empty(), "scenario {n}: {open:?}");
        assert_eq!(rows.len(), 1, "scenario {n}: {rows:?}");
        assert!(rows[0].contains("\"sales\""), "scenario {n}: {rows:?}");
        if n == 2 {
            assert!(rows[0].contains("2026-11-21"), "the day of 23:59: {rows:?}");
        }
    }
}

/// An end in the queue a call was transferred to two days ago is not a new
/// wait begun on a closed day (`too_old`, a refusal): the call is long
/// done, and the event changes nothing (`call_not_waiting`).
#[test]
fn an_end_long_after_a_transfer_changes_nothing_and_is_not_refused() {
    let mut h = Harness::new();
    h.send(T0, "call.queued", json!({"call": "c", "queue": "q1"}));
    h.send(
        "2026-11-21T09:00:30Z",
        "call.transferred",
        json!({"call": "c", "queue": "q1", "to_queue": "q2"}),
    );
    h.send(
        "2026-11-23T09:00:00Z",
        "call.queued",
        json!({"call": "other", "queue": "q1"}),
    );
    assert_eq!(
        h.send(
            "2026-11-23T09:00:10Z",
            "call.answered",
            json!({"call": "c", "queue": "q2", "agent": "A"})
        ),
        Outcome::NoEffect(NoEffect::CallNotWaiting)
    );
}

/// A ringing delivered just before its call's `call.queued` of the same
/// moment still offers the call: the agent misses it as in the other
/// order. One dated before the call was queued offers nothing.
#[test]
fn a_ringing_delivered_before_its_queued_of_the_same_moment_still_counts() {
    let queued = (
        "2026-11-21T09:00:00Z",
        "call.queued",
        json!({"call": "c", "queue": "q"}),
    );
    let ring = |ts: &'static str| (ts, "call.ringing", json!({"call": "c", "agent": "A"}));
    for (n, first_two) in [
        [queued.clone(), ring("2026-11-21T09:00:00Z")],
        [ring("2026-11-21T09:00:00Z"), queued.clone()],
        [ring("2026-11-21T08:59:00Z"), queued.clone()],
    ]
    .into_iter()
    .enumerate()
    {
        let mut h = Harness::new();
        for (ts, ty, f) in first_two {
            h.send(ts, ty, f);
        }
        h.send(
            "2026-11-21T09:00:10Z",
            "call.abandoned",
            json!({"call": "c", "queue": "q"}),
        );
        let s = h.snap("2026-11-21T10:00:00Z");
        let missed = Harness::agent(&s, "A").missed;
        assert_eq!(missed, if n < 2 { 1 } else { 0 }, "case {n}");
    }
}
