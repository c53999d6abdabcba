//! The Prometheus exporter: installs the recorder that the signals of
//! [`crate::telemetry`] write to, and renders `/metrics`. A series not
//! updated for [`IDLE_SERIES`] leaves.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::telemetry;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// A series not updated for this long leaves `/metrics`: the tenants of a
/// revoked partition, or of a restart's past. Every live tenant is exported
/// each second, and the process's own series are kept alive by
/// [`telemetry::ProcessSeries`].
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
            let mut builder = builder(IDLE_SERIES);
            for (name, buckets) in telemetry::histogram_buckets() {
                builder = builder
                    .set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full(name.into()),
                        buckets,
                    )
                    .expect("buckets are not empty");
            }
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // A recorder set earlier (tests) keeps working; ours renders.
            let _ = metrics::set_global_recorder(recorder);
            telemetry::describe();
            handle
        })
        .clone()
}

/// `/metrics` without the series of tenants this process does not compute
/// now: a tenant's series come from its owner only, so that a sum over
/// instances counts it once, from the moment it moves (its old owner's
/// series would otherwise linger until idle).
pub fn only_computed_here(text: &str, computed_here: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut known: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    for line in text.split_inclusive('\n') {
        let keep = match tenant_label(line) {
            None => true,
            Some(t) => *known.entry(t).or_insert_with_key(|t| computed_here(t)),
        };
        if keep {
            out.push_str(line);
        }
    }
    out
}

/// The `tenant` label's value of a sample line, unescaped.
fn tenant_label(line: &str) -> Option<String> {
    if line.starts_with('#') {
        return None;
    }
    let open = line.find('{')?;
    let labels = &line[open + 1..];
    let mut rest = labels;
    // Label pairs `name="value"`, separated by commas, values escaped.
    loop {
        let eq = rest.find('=')?;
        let name = rest[..eq].trim_start_matches(',').trim();
        let value = rest[eq + 1..].strip_prefix('"')?;
        let mut v = String::new();
        let mut chars = value.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => v.push('\n'),
                    c => v.push(c),
                },
                (_, c) => v.push(c),
            }
        };
        if name == "tenant" {
            return Some(v);
        }
        rest = &value[end + 1..];
        if !rest.starts_with(',') {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Reason;
    use crate::event::Source;
    use crate::telemetry::*;
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

    #[test]
    fn only_the_tenants_computed_here_are_rendered() {
        let text = concat!(
            "# TYPE callboard_waiting_calls gauge\n",
            "callboard_waiting_calls{tenant=\"here\",service=\"s\",queue=\"q\"} 3\n",
            "callboard_waiting_calls{service=\"s\",tenant=\"moved\",queue=\"q\"} 2\n",
            "callboard_waiting_calls{tenant=\"a \\\"quoted\\\" one\",queue=\"q\"} 1\n",
            "callboard_events_total{source=\"kafka\",outcome=\"applied\"} 9\n",
            "callboard_recovering 0\n",
        );
        let out = only_computed_here(text, |t| t == "here" || t == "a \"quoted\" one");
        assert_eq!(
            out,
            concat!(
                "# TYPE callboard_waiting_calls gauge\n",
                "callboard_waiting_calls{tenant=\"here\",service=\"s\",queue=\"q\"} 3\n",
                "callboard_waiting_calls{tenant=\"a \\\"quoted\\\" one\",queue=\"q\"} 1\n",
                "callboard_events_total{source=\"kafka\",outcome=\"applied\"} 9\n",
                "callboard_recovering 0\n",
            )
        );
    }

    /// A tenant no longer exported (its partition revoked) leaves /metrics
    /// once its series are idle; one still exported stays.
    #[test]
    fn series_of_a_tenant_no_longer_exported_leave_after_the_idle_time() {
        let recorder = builder(Duration::from_millis(300)).build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            SnapshotPublished(&one_event_snapshot("gone")).emit();
            SnapshotPublished(&one_event_snapshot("kept")).emit();
        });
        assert!(handle.render().contains(r#"tenant="gone""#));
        std::thread::sleep(Duration::from_millis(500));
        metrics::with_local_recorder(&recorder, || {
            SnapshotPublished(&one_event_snapshot("kept")).emit();
        });
        let text = handle.render();
        assert!(!text.contains(r#"tenant="gone""#), "{text}");
        assert!(text.contains(r#"tenant="kept""#));
    }

    /// The process's own series stay past the idle time: the last
    /// rebuild's figures, set once, and counters of errors that have not
    /// happened (at 0 from the start).
    #[test]
    fn the_process_series_never_go_idle() {
        use crate::telemetry::{LogRebuilt, ProcessSeries, RebuildFinished};
        let recorder = builder(Duration::from_millis(300)).build_recorder();
        let handle = recorder.handle();
        let process = || ProcessSeries {
            websocket_clients: 0,
            recovering: false,
        };
        metrics::with_local_recorder(&recorder, || {
            LogRebuilt {
                events: 8216,
                took: Duration::from_millis(1500),
            }
            .emit();
            RebuildFinished {
                topic: "callboard.events",
                events: 42,
                took: Duration::from_secs(2),
            }
            .emit();
            process().emit();
        });
        std::thread::sleep(Duration::from_millis(500));
        metrics::with_local_recorder(&recorder, || process().emit());
        let text = handle.render();
        for line in [
            "callboard_event_log_rebuild_events 8216\n",
            "callboard_event_log_rebuild_duration_seconds 1.5\n",
            "callboard_kafka_rebuild_events{topic=\"callboard.events\"} 42\n",
            "callboard_history_write_errors_total 0\n",
            "callboard_history_rounds_deferred_total 0\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from {text}");
        }
    }

    /// A tenant of one queued call costs few series, and among them the
    /// `ready` count the no-agent-ready alert needs; agents bring the rest.
    /// Fifteen of the day's figures, four of the queue's estimated wait,
    /// nine of its service's two windows and staffing, six of the
    /// tenant's two windows, eight of its board's thresholds (the alerts
    /// compare with them): none per call or agent.
    #[test]
    fn a_tenant_without_agents_costs_forty_two_series_and_keeps_its_ready_count() {
        let recorder = builder(Duration::from_secs(60)).build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            SnapshotPublished(&one_event_snapshot("small")).emit();
        });
        let text = handle.render();
        let series = |t: &str| {
            text.lines()
                .filter(|l| !l.starts_with('#') && l.contains(t))
                .count()
        };
        assert_eq!(series(r#"tenant="small""#), 42, "{text}");
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
        metrics::with_local_recorder(&recorder, || SnapshotPublished(&snap).emit());
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
        SnapshotPublished(&engine.snapshot("t", 0, Status::Live).unwrap()).emit();
        EventsApplied {
            source: Source::Http,
            applied: 1,
            duplicate: 1,
            late: 1,
            no_effect: 1,
        }
        .emit();
        EventsRejected {
            source: Source::Kafka,
            reason: Reason::BadTs,
            count: 1,
        }
        .emit();
        CallsExpired {
            waiting: 1,
            answered: 1,
        }
        .emit();
        DeadLetterDropped.emit();
        PublishRound {
            took: Duration::from_millis(1),
        }
        .emit();
        ProcessSeries {
            websocket_clients: 1,
            recovering: false,
        }
        .emit();
        ConsumerLag {
            topic: "topic",
            partition: 0,
            lag: 5,
        }
        .emit();
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
