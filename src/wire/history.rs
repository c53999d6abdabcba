//! Interval statistics (`replay --intervals`, the history store) and
//! history reports.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::*;

/// One row of interval statistics (`callboard replay --intervals`, the
/// history store): a queue's, an agent's or a service's callbacks.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IntervalRow {
    Agent(AgentInterval),
    Callback(CallbackInterval),
    Queue(QueueInterval),
}

impl IntervalRow {
    /// The tenant the row is of.
    pub fn tenant(&self) -> &str {
        match self {
            IntervalRow::Queue(q) => &q.tenant,
            IntervalRow::Agent(a) => &a.tenant,
            IntervalRow::Callback(c) => &c.tenant,
        }
    }

    /// A row with nothing in it: what a late event left of an interval an
    /// agent's state was once thought to run through. The store deletes it.
    pub fn is_empty(&self) -> bool {
        match self {
            IntervalRow::Agent(a) => {
                let t = a.time_s;
                [
                    t.ready, t.away, t.ringing, t.talking, t.dialing, t.outbound, t.wrap_up,
                    a.talk_s,
                ]
                .iter()
                .all(|v| *v == 0.0)
                    && a.handled == 0
                    && a.missed == 0
                    && a.outbound == 0
            }
            // A callback row whose callbacks moved to another service or
            // day (their request came late).
            IntervalRow::Callback(c) => c.requested == 0,
            IntervalRow::Queue(_) => false,
        }
    }
}

/// A queue's calls queued in one interval (queue `null`: outbound calls
/// of a service, or of the tenant, that name no queue). Durations are in
/// seconds, to the millisecond.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct QueueInterval {
    pub tenant: Arc<str>,
    pub queue: Option<Arc<str>>,
    pub service: Option<Arc<str>>,
    /// Start of the interval, RFC 3339 with the tenant's local offset.
    pub start: String,
    pub minutes: u32,
    #[serde(flatten)]
    pub calls: CallCounts,
    #[serde(flatten)]
    pub times: CallTimes,
    /// Answered calls within each of the queue's `sl_thresholds_s` (none
    /// for rows of no queue).
    #[serde(default)]
    pub answered_within: super::Within,
}

/// An agent's interval, by the agent's own clock.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AgentInterval {
    pub tenant: Arc<str>,
    pub agent: Arc<str>,
    /// The agent's display name when the row was made (its `agent.state`
    /// events' `name`, or the config's members), if it has one. The store
    /// keeps each agent's latest, which reports show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Arc<str>>,
    pub start: String,
    pub minutes: u32,
    pub time_s: StateTimes,
    /// `away` seconds by reason (`""`: none given).
    pub away_s: std::collections::BTreeMap<Arc<str>, f64>,
    pub handled: u64,
    pub missed: u64,
    pub talk_s: f64,
    pub outbound: u64,
}

/// A service's callbacks requested on one local day (service `null`:
/// callbacks that name none).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CallbackInterval {
    pub tenant: Arc<str>,
    pub service: Option<Arc<str>>,
    /// `YYYY-MM-DD`, the tenant's local date.
    pub day: String,
    pub requested: u64,
    pub assigned: u64,
    pub completed: u64,
    pub failed: u64,
    pub deleted: u64,
    pub open: u64,
}

/// A history report (`GET /api/v1/tenants/{tenant}/history`): interval
/// rows summed by period and grouping; ratios computed from the sums.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Report {
    pub tenant: String,
    /// First and last local date of the report, inclusive.
    pub from: String,
    pub to: String,
    pub by: By,
    pub step: Step,
    pub rows: ReportRows,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum ReportRows {
    Queue(Vec<QueueReportRow>),
    Agent(Vec<AgentReportRow>),
    Callback(Vec<CallbackReportRow>),
}

impl ReportRows {
    pub fn is_empty(&self) -> bool {
        match self {
            ReportRows::Queue(r) => r.is_empty(),
            ReportRows::Agent(r) => r.is_empty(),
            ReportRows::Callback(r) => r.is_empty(),
        }
    }
}

/// Calls of one period, for the tenant, a service or a queue.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct QueueReportRow {
    /// The period's start: `YYYY-MM` (month), `YYYY-MM-DD` (day), or an
    /// RFC 3339 instant with the tenant's offset (hour, interval).
    pub period: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Arc<str>>,
    #[serde(flatten)]
    pub calls: CallCounts,
    #[serde(flatten)]
    pub times: CallTimes,
    pub answer_rate: Option<f64>,
    pub service_level: Option<f64>,
    pub asa_s: Option<f64>,
    pub aht_s: Option<f64>,
    /// The estimated wait's mean absolute error over the period's scored
    /// calls (`ewt_error_sum_s / ewt_scored`).
    pub ewt_mae_s: Option<f64>,
    /// Answered calls within each threshold the period's intervals count.
    #[serde(default)]
    pub answered_within: super::Within,
}

/// An agent's time and calls of one period.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AgentReportRow {
    pub period: String,
    pub agent: Arc<str>,
    /// The agent's latest display name the store knows (`null`: none).
    #[serde(default)]
    pub name: Option<Arc<str>>,
    pub time_s: StateTimes,
    pub away_s: std::collections::BTreeMap<Arc<str>, f64>,
    /// Logged-in seconds: the sum of `time_s`.
    pub login_s: f64,
    pub handled: u64,
    pub missed: u64,
    pub talk_s: f64,
    pub outbound: u64,
    /// Busy seconds / (busy + ready seconds) × 100.
    pub occupancy: Option<f64>,
}

/// Callbacks requested in one period (day or month), per service.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct CallbackReportRow {
    pub period: String,
    pub service: Option<Arc<str>>,
    pub requested: u64,
    pub assigned: u64,
    pub completed: u64,
    pub failed: u64,
    pub deleted: u64,
    pub open: u64,
    /// completed / assigned × 100.
    pub processing_rate: Option<f64>,
}

/// What a history report is grouped by.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum By {
    Tenant,
    Service,
    Queue,
    Agent,
    Callback,
}

crate::event::names!(By {
    Tenant => "tenant",
    Service => "service",
    Queue => "queue",
    Agent => "agent",
    Callback => "callback",
});

/// The length of a report's periods.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Interval,
    Hour,
    Day,
    Month,
}

crate::event::names!(Step {
    Interval => "interval",
    Hour => "hour",
    Day => "day",
    Month => "month",
});

impl By {}

impl Step {}
