//! A published snapshot told to the metrics: the day's figures per queue,
//! service and tenant, the agents by state; the recent windows and the
//! staffing need per service and tenant, the estimated wait per queue
//! (never a series per call or per agent).

use metrics::{counter, gauge};

use super::names;

use super::Signal;
use crate::config::Thresholds;
use crate::wire::{AgentCounts, ByState, QueueStats, Snapshot};

fn ratio(r: Option<f64>) -> f64 {
    r.map_or(f64::NAN, |v| v / 100.0)
}

/// The tenant's amber and red thresholds (its config, as the board shows
/// them), so that the alert rules compare with the same numbers.
fn threshold_metrics(tenant: &str, th: &Thresholds) {
    let levels = [
        (
            "warn",
            th.service_level_warn,
            th.answer_rate_warn,
            th.waiting_warn,
            th.longest_wait_warn_s,
        ),
        (
            "alert",
            th.service_level_alert,
            th.answer_rate_alert,
            th.waiting_alert,
            th.longest_wait_alert_s,
        ),
    ];
    let count = |v: Option<u64>| v.map_or(f64::NAN, |v| v as f64);
    for (level, sl, ar, waiting, longest) in levels {
        let labels = |figure: &'static str| {
            [
                ("tenant", tenant.to_string()),
                ("figure", figure.to_string()),
                ("level", level.to_string()),
            ]
        };
        gauge!(names::THRESHOLD_RATIO, &labels("service_level")).set(ratio(sl));
        gauge!(names::THRESHOLD_RATIO, &labels("answer_rate")).set(ratio(ar));
        let by_level = [("tenant", tenant.to_string()), ("level", level.to_string())];
        gauge!(names::THRESHOLD_WAITING_CALLS, &by_level).set(count(waiting));
        gauge!(names::THRESHOLD_LONGEST_WAIT, &by_level).set(count(longest));
    }
}

fn queue_metrics(tenant: &str, service: &str, queue: &str, s: &QueueStats) {
    let labels = [
        ("tenant", tenant.to_string()),
        ("service", service.to_string()),
        ("queue", queue.to_string()),
    ];
    counter!(names::INBOUND_CALLS, &labels).absolute(s.calls.inbound);
    counter!(names::ANSWERED_CALLS, &labels).absolute(s.calls.answered);
    counter!(names::ABANDONED_CALLS, &labels).absolute(s.calls.abandoned);
    counter!(names::ANSWERED_IN_SL_CALLS, &labels).absolute(s.calls.answered_in_sl);
    counter!(names::CALLBACK_CALLS, &labels).absolute(s.calls.callbacks);
    gauge!(names::WAITING_CALLS, &labels).set(s.waiting as f64);
    gauge!(names::LONGEST_WAIT, &labels).set(s.longest_wait_s as f64);
    gauge!(names::ANSWER_RATIO, &labels).set(ratio(s.answer_rate));
    gauge!(names::SERVICE_LEVEL_RATIO, &labels).set(ratio(s.service_level));
}

fn seconds(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

/// The recent windows of a service or the tenant, one series per window
/// (`window="15m"`).
fn recent_metrics(names: [&'static str; 3], labels: &[(&'static str, String)], s: &QueueStats) {
    for w in &s.recent {
        let mut l = labels.to_vec();
        l.push(("window", format!("{}m", w.minutes)));
        gauge!(names[0], &l).set(ratio(w.service_level));
        gauge!(names[1], &l).set(ratio(w.answer_rate));
        gauge!(names[2], &l).set(w.offered as f64);
    }
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

/// A tenant's snapshot was published: its figures become its series.
pub struct SnapshotPublished<'a>(pub &'a Snapshot);

impl Signal for SnapshotPublished<'_> {
    fn emit(self) {
        let s = self.0;
        let tenant: &str = &s.tenant;
        for q in &s.queues {
            queue_metrics(tenant, &q.service, &q.queue, &q.stats);
            let labels = [
                ("tenant", tenant.to_string()),
                ("service", q.service.to_string()),
                ("queue", q.queue.to_string()),
            ];
            gauge!(names::ESTIMATED_WAIT, &labels).set(seconds(q.ewt_s));
            gauge!(names::ESTIMATED_WAIT_MAE, &labels).set(seconds(q.ewt_error_s.mae));
            gauge!(names::ESTIMATED_WAIT_P90_ERROR, &labels).set(seconds(q.ewt_error_s.p90));
            gauge!(names::ESTIMATED_WAIT_SCORED_CALLS, &labels).set(q.ewt_error_s.n as f64);
        }
        for svc in &s.services {
            let labels = [
                ("tenant", tenant.to_string()),
                ("service", svc.service.to_string()),
            ];
            agent_metrics(names::AGENTS, &labels, &svc.agents);
            recent_metrics(
                [
                    names::RECENT_SERVICE_LEVEL_RATIO,
                    names::RECENT_ANSWER_RATIO,
                    names::RECENT_OFFERED_CALLS,
                ],
                &labels,
                &svc.stats,
            );
            let count = |v: Option<f64>| v.unwrap_or(f64::NAN);
            gauge!(names::AGENTS_REQUIRED, &labels).set(count(svc.agents_required.map(f64::from)));
            gauge!(names::AGENTS_AVAILABLE, &labels).set(svc.agents_available as f64);
            gauge!(names::STAFFING_GAP, &labels).set(count(svc.staffing_gap.map(|g| g as f64)));
        }
        let t = [("tenant", tenant.to_string())];
        recent_metrics(
            [
                names::TENANT_RECENT_SERVICE_LEVEL_RATIO,
                names::TENANT_RECENT_ANSWER_RATIO,
                names::TENANT_RECENT_OFFERED_CALLS,
            ],
            &t,
            &s.totals,
        );
        agent_metrics(names::TENANT_AGENTS, &t, &s.agents);
        gauge!(names::TENANT_ANSWER_RATIO, &t).set(ratio(s.totals.answer_rate));
        gauge!(names::TENANT_SERVICE_LEVEL_RATIO, &t).set(ratio(s.totals.service_level));
        gauge!(names::TENANT_WAITING_CALLS, &t).set(s.totals.waiting as f64);
        gauge!(names::TENANT_LONGEST_WAIT, &t).set(s.totals.longest_wait_s as f64);
        threshold_metrics(tenant, &s.thresholds);
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
        counter!(names::TENANT_AGENT_MISSED_CALLS, &t).absolute(missed);
        counter!(names::TENANT_AGENT_BUSY_SECONDS, &t).absolute(busy);
        counter!(names::TENANT_AGENT_READY_SECONDS, &t).absolute(ready);
    }
}
