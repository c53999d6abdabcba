//! A tenant's published state: the snapshot and its rows.

use std::borrow::Cow;
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
    /// When a board colours figures amber and red (from the config).
    pub thresholds: crate::config::Thresholds,
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

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OpenByAgent {
    pub agent: Arc<str>,
    pub open: u64,
}

impl Snapshot {
    /// One service's view: its row as the totals, its queues, its agents,
    /// its callbacks (for a board that shows one service).
    pub fn for_service(&self, service: &str) -> Snapshot {
        let mut s = self.clone();
        s.services.retain(|r| &*r.service == service);
        s.queues.retain(|q| &*q.service == service);
        s.agent_list
            .retain(|a| a.services.iter().any(|x| &**x == service));
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
}
