//! A tenant's published state: the snapshot and its rows.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::CallCounts;
use crate::event::AgentState;
use crate::time::{self, Millis};

/// An instant on the wire: RFC 3339 in UTC with milliseconds. Kept as
/// milliseconds and formatted while serialising, so building a snapshot
/// allocates no strings for times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(pub Millis);

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; time::RFC3339_LEN];
        time::write_rfc3339(self.0, &mut buf);
        s.serialize_str(
            std::str::from_utf8(&buf).expect("an RFC 3339 time is ASCII digits and punctuation"),
        )
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(d)?;
        time::parse_rfc3339(&text)
            .map(Instant)
            .ok_or_else(|| de::Error::custom(format!("`{text}` is not RFC 3339")))
    }
}

/// A tenant's published state: the one object that websocket clients, the
/// REST API and `callboard replay` all carry.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub v: u32,
    pub tenant: Arc<str>,
    /// The tenant's IANA time zone.
    pub tz: String,
    /// "Today": the tenant's local date at `at`.
    pub day: String,
    /// The latest event time applied (RFC 3339, UTC); `null` before any event.
    pub as_of: Option<Instant>,
    /// The evaluation time ("now") the snapshot was built for.
    pub at: Instant,
    pub status: Status,
    pub totals: QueueStats,
    pub services: Vec<ServiceRow>,
    pub queues: Vec<QueueRow>,
    pub agents: AgentCounts,
    pub agent_list: Vec<AgentRow>,
    pub hourly: Hourly,
    pub callbacks: CallbackStats,
    /// The calls waiting now, the longest waiting first.
    #[serde(default)]
    pub waiting_calls: Vec<WaitingCall>,
    /// When a board colours figures amber and red (from the config).
    pub thresholds: crate::config::Thresholds,
    /// What a board shows for each away reason, per language (from the
    /// config).
    #[serde(default)]
    pub reason_labels: Arc<crate::config::ReasonLabels>,
    /// Seconds an agent may stay in a state before a board highlights it,
    /// per state (from the config).
    #[serde(default)]
    pub state_limits_s: Arc<crate::config::StateLimits>,
    /// The figures of each set of services a token of the tenant is
    /// limited to (`[[tokens]] services`), summed as the totals are: what a
    /// scoped board shows as its totals. Absent when no token is limited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<ScopeFigures>,
    /// In a scoped token's view: the services it shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<crate::config::Scope>,
}

/// A set of services' figures, summed over their queues as the tenant's
/// totals are over all (so a wait percentile is of their calls, not a sum
/// of percentiles, and an agent in two of them counts once).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ScopeFigures {
    pub services: crate::config::Scope,
    pub totals: QueueStats,
    pub agents: AgentCounts,
    pub callbacks: CallbackStats,
    pub hourly: Hourly,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Live,
    Recovering,
    Stale,
}

/// The per-queue figures; services and the tenant total carry the same set.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct QueueStats {
    pub waiting: u64,
    pub longest_wait_s: u64,
    #[serde(flatten)]
    pub calls: CallCounts,
    pub answer_rate: Option<f64>,
    pub service_level: Option<f64>,
    pub asa_s: Option<f64>,
    pub wait_p90_s: Option<f64>,
    pub aht_s: Option<f64>,
    /// Answered calls whose wait was within each threshold (key: seconds).
    /// (Defaults: what an older instance's snapshot lacks reads empty.)
    #[serde(default)]
    pub answered_within: Within,
    /// The same figures over the last minutes, one per window, shortest first.
    #[serde(default)]
    pub recent: Vec<RecentStats>,
}

/// Answered calls by threshold: seconds -> calls answered within them. On
/// the wire an object keyed by the seconds as text (`{"10": 4, "20": 7}`),
/// read back whether or not it sits in a flattened row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Within(pub BTreeMap<u32, u64>);

impl Serialize for Within {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k.to_string(), v)))
    }
}

impl<'de> Deserialize<'de> for Within {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = BTreeMap::<Cow<'de, str>, u64>::deserialize(d)?;
        text.into_iter()
            .map(|(k, v)| {
                k.parse::<u32>()
                    .map(|k| (k, v))
                    .map_err(|_| de::Error::custom(format!("`{k}` is not a number of seconds")))
            })
            .collect::<Result<_, _>>()
            .map(Within)
    }
}

/// A queue's (or a service's, or the tenant's) figures over the window of
/// `minutes` ending at the snapshot's `at`: `inbound` by the time calls
/// were queued, outcomes and waits by the time the wait ended, `aht_s` of
/// the calls that ended in it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct RecentStats {
    pub minutes: u32,
    pub inbound: u64,
    /// Calls whose wait ended in the window, whatever the outcome.
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub callbacks: u64,
    pub transferred: u64,
    pub exited: u64,
    pub answered_in_sl: u64,
    pub answered_within: Within,
    pub answer_rate: Option<f64>,
    pub service_level: Option<f64>,
    pub asa_s: Option<f64>,
    pub aht_s: Option<f64>,
}

/// How far the estimated waits of a queue's calls answered in the last 60
/// minutes were from their real waits, in seconds.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct EwtError {
    /// Calls measured (answered, and estimated when they were queued).
    pub n: u64,
    /// Mean absolute error; `null` when `n` is 0.
    pub mae: Option<f64>,
    /// 90th percentile of the absolute errors; `null` when `n` is 0.
    pub p90: Option<f64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub service: Arc<str>,
    #[serde(flatten)]
    pub stats: QueueStats,
    pub agents: AgentCounts,
    /// Callback processing of the service (콜백 처리현황). Named apart from
    /// `callbacks`, the count of calls that left a queue as a callback.
    pub callback_processing: CallbackStats,
    /// Agents the service needs to reach its `sl_target` at the traffic of
    /// its staffing window (Erlang C); `null` with no traffic.
    pub agents_required: Option<u32>,
    /// Its agents logged in and not away.
    #[serde(default)]
    pub agents_available: u64,
    /// `agents_required - agents_available`; `null` with no traffic.
    pub staffing_gap: Option<i64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct QueueRow {
    pub queue: Arc<str>,
    pub service: Arc<str>,
    #[serde(flatten)]
    pub stats: QueueStats,
    /// The queue's settings, so a board can say what "in SL" means.
    pub sl_threshold_s: u32,
    pub sl_formula: crate::config::SlFormula,
    /// The wait a call joining the queue now is expected to have, in
    /// seconds; `null` when no agent serves the queue.
    pub ewt_s: Option<f64>,
    /// The accuracy of the estimate over the last 60 minutes.
    #[serde(default)]
    pub ewt_error_s: EwtError,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct AgentCounts {
    pub login: u64,
    pub ready: u64,
    pub talking: u64,
    pub outbound: u64,
    pub break_work: u64,
    pub by_state: ByState,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct ByState {
    pub logged_out: u64,
    pub ready: u64,
    pub away: u64,
    pub ringing: u64,
    pub talking: u64,
    pub dialing: u64,
    pub outbound: u64,
    pub wrap_up: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AgentRow {
    pub agent: Arc<str>,
    pub name: Option<Arc<str>>,
    pub state: crate::event::AgentState,
    pub reason: Option<Arc<str>>,
    /// When the agent's current state was reported.
    pub since: Option<Instant>,
    /// Seconds from `since` to the snapshot's `at`.
    pub state_s: u64,
    /// The agent's services, sorted (shared with the engine's state).
    pub services: Arc<[Arc<str>]>,
    /// Calls answered today (on the day of the answer).
    pub handled: u64,
    pub talk_s: u64,
    pub outbound: u64,
    /// Open callbacks assigned to this agent, whatever day requested.
    pub callbacks_open: u64,
    /// Calls offered to the agent today that it did not answer.
    pub missed: u64,
    /// (Talk of today's answered calls that ended + today's wrap-up) / their
    /// number; `null` with none.
    pub aht_s: Option<f64>,
    /// Busy / (busy + ready) × 100 today; `null` with neither.
    pub occupancy: Option<f64>,
    /// Seconds logged in today: the sum of `time_today_s`.
    pub login_s: u64,
    /// Seconds spent today in each state (up to the snapshot's `at`).
    pub time_today_s: StateSeconds,
    /// Today's `away` seconds by reason (`""`: no reason given).
    pub away_today_s: std::collections::BTreeMap<Arc<str>, u64>,
}

/// Seconds per agent state (every state but `logged_out`): whole seconds
/// in snapshots, to the millisecond in interval rows ([`StateTimes`]).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Default)]
pub struct StateSeconds<T = u64> {
    pub ready: T,
    pub away: T,
    pub ringing: T,
    pub talking: T,
    pub dialing: T,
    pub outbound: T,
    pub wrap_up: T,
}

/// Seconds per state but `logged_out`, to the millisecond.
pub type StateTimes = StateSeconds<f64>;

impl ByState {
    /// Each state's count from `f`: the one place a state meets its field.
    pub fn from_states(mut f: impl FnMut(AgentState) -> u64) -> ByState {
        ByState {
            logged_out: f(AgentState::LoggedOut),
            ready: f(AgentState::Ready),
            away: f(AgentState::Away),
            ringing: f(AgentState::Ringing),
            talking: f(AgentState::Talking),
            dialing: f(AgentState::Dialing),
            outbound: f(AgentState::Outbound),
            wrap_up: f(AgentState::WrapUp),
        }
    }
}

impl<T> StateSeconds<T> {
    /// The states that have a time, in `AgentState` order (all but
    /// `logged_out`).
    pub const STATES: [AgentState; 7] = [
        AgentState::Ready,
        AgentState::Away,
        AgentState::Ringing,
        AgentState::Talking,
        AgentState::Dialing,
        AgentState::Outbound,
        AgentState::WrapUp,
    ];

    /// Each state's time from `f` (never asked for `logged_out`): the one
    /// place a state meets its field.
    pub fn from_states(mut f: impl FnMut(AgentState) -> T) -> Self {
        StateSeconds {
            ready: f(AgentState::Ready),
            away: f(AgentState::Away),
            ringing: f(AgentState::Ringing),
            talking: f(AgentState::Talking),
            dialing: f(AgentState::Dialing),
            outbound: f(AgentState::Outbound),
            wrap_up: f(AgentState::WrapUp),
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Hourly {
    /// `inbound` per local hour of today.
    pub today: Vec<u64>,
    pub yesterday: Vec<u64>,
    /// `call.ivr` per local hour (IVR inflow).
    pub ivr_today: Vec<u64>,
    pub ivr_yesterday: Vec<u64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct CallbackStats {
    pub requested: u64,
    pub assigned: u64,
    pub completed: u64,
    pub failed: u64,
    pub deleted: u64,
    pub open: u64,
    pub processing_rate: Option<f64>,
    /// Open callbacks per assigned agent, whatever day requested (tenant
    /// level only; empty in service rows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_by_agent: Vec<OpenByAgent>,
}

/// A call waiting now.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct WaitingCall {
    pub call: Arc<str>,
    pub queue: Arc<str>,
    pub service: Arc<str>,
    /// When it was queued.
    pub since: Instant,
    /// Seconds waited at the snapshot's `at`.
    pub wait_s: u64,
    /// Its place in its queue: 1 is the next answered.
    pub position: u32,
    /// The wait estimated for it when it was queued, in seconds (`null`:
    /// none could be made then).
    pub ewt_s: Option<f64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OpenByAgent {
    pub agent: Arc<str>,
    /// The agent's display name, if it has one (a board needs no agent
    /// list to show who has them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Arc<str>>,
    pub open: u64,
}

impl Snapshot {
    /// One service's view: its row as the totals, its queues, its agents,
    /// its callbacks (for a board that shows one service). The hourly
    /// inflow stays the tenant's.
    pub fn for_service(&self, service: &str) -> Snapshot {
        let mut s = self.narrowed(|name| name == service);
        if let Some(row) = s.services.first() {
            s.totals = row.stats.clone();
            s.agents = row.agents.clone();
            s.callbacks = row.callback_processing.clone();
        } else {
            s.totals = QueueStats::default();
            s.agents = AgentCounts::default();
            s.callbacks = CallbackStats::default();
        }
        s
    }

    /// A scoped token's view: only its services' rows, queues, waiting
    /// calls and agents, with the scope's own figures as the totals, the
    /// agent counts, the callbacks and the hourly inflow. `None` when the
    /// snapshot has no figures for the scope (made under a config without
    /// that token).
    pub fn for_scope(&self, scope: &[Arc<str>]) -> Option<Snapshot> {
        let figures = self.scopes.iter().find(|f| *f.services == *scope)?;
        let mut s = self.narrowed(|name| scope.iter().any(|x| **x == *name));
        s.totals = figures.totals.clone();
        s.agents = figures.agents.clone();
        let open_by_agent = std::mem::take(&mut s.callbacks.open_by_agent);
        s.callbacks = CallbackStats {
            open_by_agent,
            ..figures.callbacks.clone()
        };
        s.hourly = figures.hourly.clone();
        s.scope = Some(figures.services.clone());
        Some(s)
    }

    /// What a board view that lists no agents needs (`?view=services`,
    /// `dashboard`, ...): everything but `agent_list`, which is most of a
    /// large tenant's snapshot. The list is sent empty.
    pub fn without_agents(&self) -> Snapshot {
        let mut s = self.clone_shallow();
        s.services = self.services.clone();
        s.queues = self.queues.clone();
        s.waiting_calls = self.waiting_calls.clone();
        s.scopes = self.scopes.clone();
        s
    }

    /// The snapshot with only the rows of services `keep` names: services,
    /// queues, waiting calls, agents (and their open callbacks), each
    /// agent's services among them. No scope's figures.
    fn narrowed(&self, keep: impl Fn(&str) -> bool) -> Snapshot {
        let mut s = self.clone_shallow();
        s.services = self
            .services
            .iter()
            .filter(|r| keep(&r.service))
            .cloned()
            .collect();
        s.queues = self
            .queues
            .iter()
            .filter(|q| keep(&q.service))
            .cloned()
            .collect();
        s.waiting_calls = self
            .waiting_calls
            .iter()
            .filter(|c| keep(&c.service))
            .cloned()
            .collect();
        for a in &self.agent_list {
            if a.services.iter().all(|x| !keep(x)) {
                continue;
            }
            let mut a = a.clone();
            if a.services.iter().any(|x| !keep(x)) {
                a.services = a.services.iter().filter(|x| keep(x)).cloned().collect();
            }
            s.agent_list.push(a);
        }
        s.callbacks
            .open_by_agent
            .retain(|o| s.agent_list.iter().any(|a| a.agent == o.agent));
        s
    }

    /// A copy without the long lists (filled by the caller).
    fn clone_shallow(&self) -> Snapshot {
        Snapshot {
            v: self.v,
            tenant: self.tenant.clone(),
            tz: self.tz.clone(),
            day: self.day.clone(),
            as_of: self.as_of,
            at: self.at,
            status: self.status,
            totals: self.totals.clone(),
            services: Vec::new(),
            queues: Vec::new(),
            agents: self.agents.clone(),
            agent_list: Vec::new(),
            hourly: self.hourly.clone(),
            callbacks: self.callbacks.clone(),
            waiting_calls: Vec::new(),
            thresholds: self.thresholds,
            reason_labels: self.reason_labels.clone(),
            state_limits_s: self.state_limits_s.clone(),
            scopes: Vec::new(),
            scope: self.scope.clone(),
        }
    }
}

/// One message, as listed.
/// (A message to the floor: `POST /api/v1/tenants/{t}/messages`.)
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub text: String,
    pub created_at: Instant,
    pub expires_at: Instant,
}
