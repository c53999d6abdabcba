//! Prometheus metrics: each published snapshot's figures, and the engine's
//! own health. Labels are tenant, service, queue and state only, never an
//! agent or call id (cardinality).
//!
//! Daily figures are exported as counters set to their absolute value: at
//! local midnight they drop to 0, which Prometheus's `rate()` and
//! `increase()` read as a counter reset.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::decode::Reason;
use crate::service::shard::Source;
use crate::wire::{AgentCounts, ByState, QueueStats, Snapshot};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// A series not updated for this long leaves `/metrics`: the tenants of a
/// revoked partition, or of a restart's past. Every live tenant is exported
/// each second, and the process's own series are kept alive by
/// [`keep_alive`].
pub const IDLE_SERIES: Duration = Duration::from_secs(180);

fn builder(idle: Duration) -> PrometheusBuilder {
    PrometheusBuilder::new().idle_timeout(
        metrics_util::MetricKindMask::COUNTER | metrics_util::MetricKindMask::GAUGE,
        Some(idle),
    )
}

/// Installs the process-wide recorder (once) and returns the handle that
/// renders `/metrics`.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = builder(IDLE_SERIES)
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "callboard_publish_duration_seconds".into(),
                    ),
                    &[
                        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                    ],
                )
                .expect("buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // A recorder set earlier (tests) keeps working; ours renders.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    let calls = |name: &'static str, what: &'static str| describe_counter!(name, Unit::Count, what);
    calls(
        "callboard_inbound_calls_total",
        "Calls queued today (local day of the tenant), per queue.",
    );
    calls(
        "callboard_answered_calls_total",
        "Calls queued today and answered, per queue.",
    );
    calls(
        "callboard_abandoned_calls_total",
        "Calls queued today and abandoned while waiting, per queue.",
    );
    calls(
        "callboard_answered_in_sl_calls_total",
        "Calls queued today and answered within the queue's SL threshold.",
    );
    calls(
        "callboard_callback_calls_total",
        "Calls queued today that left the queue as a callback request.",
    );
    describe_gauge!(
        "callboard_waiting_calls",
        Unit::Count,
        "Calls waiting for an agent now, per queue."
    );
    describe_gauge!(
        "callboard_longest_wait_seconds",
        Unit::Seconds,
        "Age of the oldest waiting call, per queue."
    );
    describe_gauge!(
        "callboard_answer_ratio",
        "Answered / inbound today, per queue (0..1; NaN with no calls)."
    );
    describe_gauge!(
        "callboard_service_level_ratio",
        "Service level today, per queue (0..1; NaN with no calls)."
    );
    describe_gauge!(
        "callboard_tenant_answer_ratio",
        "Answered / inbound today for the whole tenant (0..1; NaN with no calls)."
    );
    describe_gauge!(
        "callboard_tenant_service_level_ratio",
        "Service level today for the whole tenant (0..1; NaN with no calls)."
    );
    describe_gauge!(
        "callboard_tenant_waiting_calls",
        Unit::Count,
        "Calls waiting now in all the tenant's queues."
    );
    describe_gauge!(
        "callboard_tenant_longest_wait_seconds",
        Unit::Seconds,
        "Age of the tenant's oldest waiting call."
    );
    describe_gauge!(
        "callboard_agents",
        Unit::Count,
        "Agents of a service by state (an agent counts in each of its services)."
    );
    describe_gauge!(
        "callboard_tenant_agents",
        Unit::Count,
        "Agents of the tenant by state."
    );
    describe_counter!(
        "callboard_events_total",
        Unit::Count,
        "Events applied by the engine, by source and outcome."
    );
    describe_counter!(
        "callboard_kafka_dead_letters_dropped_total",
        Unit::Count,
        "Rejected Kafka messages not copied to the dead-letter topic because its producer queue was full (they are still counted as rejected)."
    );
    describe_counter!(
        "callboard_expired_calls_total",
        Unit::Count,
        "Calls let go because their end event never came: waiting past the queue's max_wait_s (counted as exited), or answered and never ended a day later."
    );
    describe_counter!(
        "callboard_events_rejected_total",
        Unit::Count,
        "Inputs rejected by the decoder, by source and reason."
    );
    describe_histogram!(
        "callboard_publish_duration_seconds",
        Unit::Seconds,
        "Time to build and publish one round of snapshots."
    );
    describe_gauge!(
        "callboard_websocket_clients",
        Unit::Count,
        "Open websocket connections."
    );
    describe_gauge!(
        "callboard_recovering",
        "1 while the engine rebuilds its state before going live."
    );
    describe_gauge!(
        "callboard_kafka_consumer_lag_messages",
        Unit::Count,
        "Messages between the consumer's position and the partition's end."
    );
    describe_counter!(
        "callboard_tenant_agent_missed_calls_total",
        Unit::Count,
        "Calls offered to the tenant's agents today that they did not answer."
    );
    describe_counter!(
        "callboard_tenant_agent_busy_seconds_total",
        Unit::Seconds,
        "Seconds the tenant's agents spent today ringing, talking, dialing, on outbound calls or in wrap-up."
    );
    describe_counter!(
        "callboard_tenant_agent_ready_seconds_total",
        Unit::Seconds,
        "Seconds the tenant's agents spent ready today (occupancy = busy / (busy + ready))."
    );
}

fn ratio(r: Option<f64>) -> f64 {
    r.map_or(f64::NAN, |v| v / 100.0)
}

fn queue_metrics(tenant: &str, service: &str, queue: &str, s: &QueueStats) {
    let labels = [
        ("tenant", tenant.to_string()),
        ("service", service.to_string()),
        ("queue", queue.to_string()),
    ];
    counter!("callboard_inbound_calls_total", &labels).absolute(s.inbound);
    counter!("callboard_answered_calls_total", &labels).absolute(s.answered);
    counter!("callboard_abandoned_calls_total", &labels).absolute(s.abandoned);
    counter!("callboard_answered_in_sl_calls_total", &labels).absolute(s.answered_in_sl);
    counter!("callboard_callback_calls_total", &labels).absolute(s.callbacks);
    gauge!("callboard_waiting_calls", &labels).set(s.waiting as f64);
    gauge!("callboard_longest_wait_seconds", &labels).set(s.longest_wait_s as f64);
    gauge!("callboard_answer_ratio", &labels).set(ratio(s.answer_rate));
    gauge!("callboard_service_level_ratio", &labels).set(ratio(s.service_level));
}

/// Agents by state. Where no agent is known (a tenant or service of queues
/// only) just `ready` is exported, at 0: the alert on customers waiting
/// with no agent ready needs it, and the seven other zeros would be most of
/// a small tenant's series.
fn agent_metrics(name: &'static str, labels: &[(&'static str, String)], a: &AgentCounts) {
    let b = &a.by_state;
    let none = *b == ByState::default();
    for (state, n) in [
        ("logged_out", b.logged_out),
        ("ready", b.ready),
        ("away", b.away),
        ("ringing", b.ringing),
        ("talking", b.talking),
        ("dialing", b.dialing),
        ("outbound", b.outbound),
        ("wrap_up", b.wrap_up),
    ] {
        if none && state != "ready" {
            continue;
        }
        let mut l = labels.to_vec();
        l.push(("state", state.to_string()));
        gauge!(name, &l).set(n as f64);
    }
}

/// Exports one published snapshot.
pub fn record_snapshot(s: &Snapshot) {
    let tenant: &str = &s.tenant;
    for q in &s.queues {
        queue_metrics(tenant, &q.service, &q.queue, &q.stats);
    }
    for svc in &s.services {
        let labels = [
            ("tenant", tenant.to_string()),
            ("service", svc.service.to_string()),
        ];
        agent_metrics("callboard_agents", &labels, &svc.agents);
    }
    let t = [("tenant", tenant.to_string())];
    agent_metrics("callboard_tenant_agents", &t, &s.agents);
    gauge!("callboard_tenant_answer_ratio", &t).set(ratio(s.totals.answer_rate));
    gauge!("callboard_tenant_service_level_ratio", &t).set(ratio(s.totals.service_level));
    gauge!("callboard_tenant_waiting_calls", &t).set(s.totals.waiting as f64);
    gauge!("callboard_tenant_longest_wait_seconds", &t).set(s.totals.longest_wait_s as f64);
    // Agent figures of today, summed over the tenant's agents: per agent
    // they would cost a series each. A tenant without agents has none.
    if s.agent_list.is_empty() {
        return;
    }
    let (mut missed, mut busy, mut ready) = (0, 0, 0);
    for a in &s.agent_list {
        let t = &a.time_today_s;
        missed += a.missed;
        busy += t.ringing + t.talking + t.dialing + t.outbound + t.wrap_up;
        ready += t.ready;
    }
    counter!("callboard_tenant_agent_missed_calls_total", &t).absolute(missed);
    counter!("callboard_tenant_agent_busy_seconds_total", &t).absolute(busy);
    counter!("callboard_tenant_agent_ready_seconds_total", &t).absolute(ready);
}

/// Touches the process's own series (counters with their every label, at
/// 0 until something happens), so that they never go idle and alerts on
/// their increase see the first event: call it more often than
/// [`IDLE_SERIES`].
pub fn keep_alive(websocket_clients: usize, recovering: bool) {
    for source in Source::ALL {
        for outcome in ["applied", "duplicate", "late", "no_effect"] {
            counter!("callboard_events_total", "source" => source.as_str(), "outcome" => outcome)
                .increment(0);
        }
        for reason in Reason::ALL {
            counter!("callboard_events_rejected_total", "source" => source.as_str(), "reason" => reason.as_str())
                .increment(0);
        }
    }
    for phase in ["waiting", "answered"] {
        counter!("callboard_expired_calls_total", "phase" => phase).increment(0);
    }
    counter!("callboard_kafka_dead_letters_dropped_total").increment(0);
    set_websocket_clients(websocket_clients);
    set_recovering(recovering);
}

/// Counts a batch's outcomes: applied, duplicate, late, no effect.
pub fn record_outcomes(source: Source, counts: [u64; 4]) {
    for (outcome, n) in ["applied", "duplicate", "late", "no_effect"]
        .into_iter()
        .zip(counts)
    {
        if n > 0 {
            counter!("callboard_events_total", "source" => source.as_str(), "outcome" => outcome)
                .increment(n);
        }
    }
}

/// Counts a dead-letter copy dropped because the producer's queue was full.
pub fn record_dead_letter_dropped() {
    counter!("callboard_kafka_dead_letters_dropped_total").increment(1);
}

/// Counts calls let go because their end event never came.
pub fn record_expired(waiting: u64, answered: u64) {
    for (phase, n) in [("waiting", waiting), ("answered", answered)] {
        if n > 0 {
            counter!("callboard_expired_calls_total", "phase" => phase).increment(n);
        }
    }
}

pub fn record_rejected(source: Source, reason: Reason, n: u64) {
    counter!("callboard_events_rejected_total", "source" => source.as_str(), "reason" => reason.as_str())
        .increment(n);
}

pub fn record_publish(took: Duration) {
    histogram!("callboard_publish_duration_seconds").record(took.as_secs_f64());
}

pub fn set_websocket_clients(n: usize) {
    gauge!("callboard_websocket_clients").set(n as f64);
}

pub fn set_recovering(recovering: bool) {
    gauge!("callboard_recovering").set(if recovering { 1.0 } else { 0.0 });
}

pub fn set_consumer_lag(topic: &str, partition: i32, lag: i64) {
    gauge!(
        "callboard_kafka_consumer_lag_messages",
        "topic" => topic.to_string(),
        "partition" => partition.to_string()
    )
    .set(lag as f64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Status;

    fn one_event_snapshot(tenant: &str) -> crate::wire::Snapshot {
        let mut engine =
            crate::engine::Engine::new(std::sync::Arc::new(crate::config::Config::default()));
        let line = format!(
            r#"{{"v":1,"id":"1","ts":0,"tenant":"{tenant}","type":"call.queued","call":"c","queue":"q"}}"#
        );
        engine.apply(&crate::decode::decode_json(line.as_bytes(), 1 << 16).unwrap());
        engine.snapshot(tenant, 0, Status::Live).unwrap()
    }

    /// A tenant no longer exported (its partition revoked) leaves /metrics
    /// once its series are idle; one still exported stays.
    #[test]
    fn series_of_a_tenant_no_longer_exported_leave_after_the_idle_time() {
        let recorder = builder(Duration::from_millis(300)).build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            record_snapshot(&one_event_snapshot("gone"));
            record_snapshot(&one_event_snapshot("kept"));
        });
        assert!(handle.render().contains(r#"tenant="gone""#));
        std::thread::sleep(Duration::from_millis(500));
        metrics::with_local_recorder(&recorder, || {
            record_snapshot(&one_event_snapshot("kept"));
        });
        let text = handle.render();
        assert!(!text.contains(r#"tenant="gone""#), "{text}");
        assert!(text.contains(r#"tenant="kept""#));
    }

    /// A tenant of one queued call costs few series, and among them the
    /// `ready` count the no-agent-ready alert needs; agents bring the rest.
    #[test]
    fn a_tenant_without_agents_costs_fifteen_series_and_keeps_its_ready_count() {
        let recorder = builder(Duration::from_secs(60)).build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            record_snapshot(&one_event_snapshot("small"));
        });
        let text = handle.render();
        let series = |t: &str| {
            text.lines()
                .filter(|l| !l.starts_with('#') && l.contains(t))
                .count()
        };
        assert_eq!(series(r#"tenant="small""#), 15, "{text}");
        assert!(text.contains(r#"callboard_agents{tenant="small",service="q",state="ready"} 0"#));
        assert!(text.contains(r#"callboard_tenant_agents{tenant="small",state="ready"} 0"#));

        let mut engine =
            crate::engine::Engine::new(std::sync::Arc::new(crate::config::Config::default()));
        for line in [
            r#"{"v":1,"id":"1","ts":0,"tenant":"staffed","type":"call.queued","call":"c","queue":"q"}"#,
            r#"{"v":1,"id":"2","ts":0,"tenant":"staffed","type":"agent.state","agent":"a","state":"away","services":["q"]}"#,
        ] {
            engine.apply(&crate::decode::decode_json(line.as_bytes(), 1 << 16).unwrap());
        }
        let snap = engine.snapshot("staffed", 0, Status::Live).unwrap();
        metrics::with_local_recorder(&recorder, || record_snapshot(&snap));
        let text = handle.render();
        for state in ["logged_out", "ready", "away", "wrap_up"] {
            let line =
                format!(r#"callboard_agents{{tenant="staffed",service="q",state="{state}"}}"#);
            assert!(text.contains(&line), "{line} missing");
        }
        assert!(text.contains(r#"callboard_tenant_agent_busy_seconds_total{tenant="staffed"}"#));
    }

    /// Every family on /metrics has HELP and TYPE lines (promtool requires
    /// them); this records every metric once, then checks.
    #[test]
    fn every_metric_is_described() {
        let handle = install();
        let mut engine =
            crate::engine::Engine::new(std::sync::Arc::new(crate::config::Config::default()));
        let ev = crate::decode::decode_json(
            br#"{"v":1,"id":"1","ts":0,"tenant":"t","type":"call.queued","call":"c","queue":"q"}"#,
            1 << 16,
        )
        .unwrap();
        engine.apply(&ev);
        record_snapshot(&engine.snapshot("t", 0, Status::Live).unwrap());
        record_outcomes(Source::Http, [1, 1, 1, 1]);
        record_rejected(Source::Kafka, Reason::BadTs, 1);
        record_expired(1, 1);
        record_dead_letter_dropped();
        record_publish(Duration::from_millis(1));
        set_websocket_clients(1);
        set_recovering(false);
        set_consumer_lag("topic", 0, 5);
        let text = handle.render();
        let families: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split(['{', ' ']).next().unwrap_or(""))
            .map(|n| {
                n.trim_end_matches("_bucket")
                    .trim_end_matches("_sum")
                    .trim_end_matches("_count")
            })
            .collect();
        assert!(families.len() >= 20, "{families:?}");
        for f in families {
            assert!(
                text.contains(&format!("# HELP {f} ")),
                "{f} has no HELP line"
            );
            assert!(
                text.contains(&format!("# TYPE {f} ")),
                "{f} has no TYPE line"
            );
        }
    }
}
