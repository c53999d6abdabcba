//! The wire types: everything callboard reads or writes as JSON. They match
//! `schemas/event.schema.json` and `schemas/snapshot.schema.json`, and a test
//! validates real output against those schemas.

use std::borrow::Cow;
use std::sync::Arc;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::event::{Body, Event};
use crate::time::{self, Millis};

// ---------------------------------------------------------------- events

/// An event as it appears on the wire, before validation. Every field is
/// optional here so that the decoder can say *which* required field is
/// missing; unknown fields are ignored (producers may add optional ones).
#[derive(Deserialize, Serialize, Default, Debug)]
pub struct WireEvent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub id: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub ts: Option<TsValue<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<Str<'a>>,
    #[serde(rename = "type", borrow, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub call: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub service: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub to_queue: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub queued_ts: Option<TsValue<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub state: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<Str<'a>>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub name: Option<Str<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub callback: Option<Str<'a>>,
}

/// A string field that borrows from the input when it has no escapes.
/// (`Option<Cow<str>>` alone would always copy: serde borrows only through a
/// visitor that asks for it.)
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Str<'a>(pub Cow<'a, str>);

impl<'a> Str<'a> {
    pub fn into_cow(self) -> Cow<'a, str> {
        self.0
    }
}

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Str<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A `ts` as written: an RFC 3339 string or epoch milliseconds. Anything
/// else is kept as `Other` so the decoder can reject it as `bad_ts` rather
/// than as unreadable JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum TsValue<'a> {
    Millis(i64),
    Text(Cow<'a, str>),
    /// Neither; says what it was, for the error.
    Other(&'static str),
}

impl TsValue<'_> {
    pub fn millis(&self) -> Option<Millis> {
        match self {
            TsValue::Millis(ms) => time::check_epoch_ms(*ms),
            TsValue::Text(s) => time::parse_rfc3339(s),
            TsValue::Other(_) => None,
        }
    }
}

impl Serialize for TsValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TsValue::Millis(ms) => s.serialize_i64(*ms),
            TsValue::Text(t) => s.serialize_str(t),
            TsValue::Other(_) => s.serialize_unit(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for TsValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TsValue<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RFC 3339 string or epoch milliseconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(TsValue::Millis(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v)
                    .map_or(TsValue::Other("a number out of range"), TsValue::Millis))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // `1.7e12` and `1795218644386.0` are integers in JSON's eyes.
                const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53: exact below
                Ok(if v.fract() == 0.0 && v.abs() < LIMIT {
                    TsValue::Millis(v as i64)
                } else {
                    TsValue::Other("a number with a fraction")
                })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TsValue::Other("a boolean"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TsValue::Other("null"))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TsValue::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TsValue::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(TsValue::Other("an array"))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(TsValue::Other("an object"))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'a> From<&'a Event<'a>> for WireEvent<'a> {
    fn from(ev: &'a Event<'a>) -> Self {
        let b = |c: &'a Cow<'a, str>| Some(Str(Cow::Borrowed(c.as_ref())));
        let bo = |c: &'a Option<Cow<'a, str>>| c.as_deref().map(|v| Str(Cow::Borrowed(v)));
        let mut w = WireEvent {
            v: Some(1),
            id: b(&ev.id),
            ts: Some(TsValue::Text(Cow::Owned(time::format_rfc3339(ev.ts)))),
            tenant: b(&ev.tenant),
            kind: Some(Str(Cow::Borrowed(ev.type_name()))),
            ..WireEvent::default()
        };
        match &ev.body {
            Body::Call(c) => {
                w.call = b(&c.call);
                w.queue = bo(&c.queue);
                w.service = bo(&c.service);
                w.agent = bo(&c.agent);
                let implied = if c.kind == crate::event::CallKind::Dialing {
                    crate::event::Direction::Outbound
                } else {
                    crate::event::Direction::Inbound
                };
                if c.direction != implied {
                    w.direction = Some(Str(Cow::Borrowed(c.direction.as_str())));
                }
                w.to_queue = bo(&c.to_queue);
                w.reason = bo(&c.reason);
                w.queued_ts = c
                    .queued_ts
                    .map(|t| TsValue::Text(Cow::Owned(time::format_rfc3339(t))));
            }
            Body::Agent(a) => {
                w.agent = b(&a.agent);
                w.state = Some(Str(Cow::Borrowed(a.state.as_str())));
                w.reason = bo(&a.reason);
                w.services = a
                    .services
                    .as_ref()
                    .map(|v| v.iter().map(|s| Str(Cow::Borrowed(s.as_ref()))).collect());
                w.name = bo(&a.name);
            }
            Body::Callback(c) => {
                w.callback = b(&c.callback);
                w.service = bo(&c.service);
                w.agent = bo(&c.agent);
            }
        }
        w
    }
}

/// Encodes an event as one line of contract JSON (no trailing newline).
pub fn encode_event(ev: &Event<'_>) -> String {
    serde_json::to_string(&WireEvent::from(ev))
        .expect("an event is plain strings and integers, which always serialise")
}

// ---------------------------------------------------------------- snapshot

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
    pub inbound: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub callbacks: u64,
    pub transferred: u64,
    pub exited: u64,
    pub answered_in_sl: u64,
    pub answer_rate: Option<f64>,
    pub service_level: Option<f64>,
    pub asa_s: Option<f64>,
    pub wait_p90_s: Option<f64>,
    pub aht_s: Option<f64>,
    pub outbound_attempts: u64,
    pub outbound_connected: u64,
    /// Calls that reached the IVR today (`call.ivr`).
    pub ivr: u64,
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
            _ => false,
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
    pub inbound: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub callbacks: u64,
    pub transferred: u64,
    pub exited: u64,
    pub answered_in_sl: u64,
    /// Calls that reached the IVR (`call.ivr`), in the interval they did.
    pub ivr: u64,
    /// Answered calls that ended: the denominator of AHT.
    pub ended: u64,
    pub wait_answered_sum_s: f64,
    pub wait_answered_max_s: f64,
    pub wait_abandoned_sum_s: f64,
    pub talk_sum_s: f64,
    pub wrap_sum_s: f64,
    pub outbound_attempts: u64,
    pub outbound_connected: u64,
}

/// An agent's interval, by the agent's own clock.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AgentInterval {
    pub tenant: Arc<str>,
    pub agent: Arc<str>,
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
    /// `tenant`, `service`, `queue`, `agent` or `callback`.
    pub by: String,
    /// `interval`, `hour`, `day` or `month`.
    pub step: String,
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
    pub inbound: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub callbacks: u64,
    pub transferred: u64,
    pub exited: u64,
    pub answered_in_sl: u64,
    pub ivr: u64,
    pub ended: u64,
    pub outbound_attempts: u64,
    pub outbound_connected: u64,
    pub wait_answered_sum_s: f64,
    pub wait_answered_max_s: f64,
    pub wait_abandoned_sum_s: f64,
    pub talk_sum_s: f64,
    pub wrap_sum_s: f64,
    pub answer_rate: Option<f64>,
    pub service_level: Option<f64>,
    pub asa_s: Option<f64>,
    pub aht_s: Option<f64>,
}

/// An agent's time and calls of one period.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct AgentReportRow {
    pub period: String,
    pub agent: Arc<str>,
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

/// What a tenant's state holds that is older than the two days the engine
/// keeps, as of a local midnight (`as_of`, the start of yesterday): each
/// agent's state, membership and name with the versions that set them,
/// and the callbacks still open then. Restored before the events from
/// `as_of` on are read again, it makes those events give the state that
/// reading the whole log would (see `Tenant::standing`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Standing {
    /// Format version: 1.
    pub v: u8,
    pub tenant: Arc<str>,
    /// The instant the facts are as of (ms since the epoch).
    pub as_of: i64,
    #[serde(default)]
    pub agents: Vec<StandingAgent>,
    #[serde(default)]
    pub callbacks: Vec<StandingCallback>,
}

/// When an attribute was set: the event time (ms) and the hashes of the
/// ids of the events of that time that set it (the tie rule).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StandingVersion {
    pub ts: i64,
    pub ids: Vec<u64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StandingAgent {
    pub agent: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StandingState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<StandingServices>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<StandingName>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StandingState {
    pub state: crate::event::AgentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Arc<str>>,
    /// When the state began (ms).
    pub since: i64,
    pub ver: StandingVersion,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StandingServices {
    pub services: Vec<Arc<str>>,
    pub ver: StandingVersion,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StandingName {
    pub name: Option<Arc<str>>,
    pub ver: StandingVersion,
}

/// A callback open at `as_of`: requested before it and not closed then.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StandingCallback {
    pub callback: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Arc<str>>,
    /// The local day it was requested (days since 1970-01-01).
    pub day: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Arc<str>>,
    pub assigned_ever: bool,
}
