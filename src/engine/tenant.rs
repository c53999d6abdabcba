//! One tenant's state and how each event changes it.
//!
//! Everything here has a single writer (the tenant's shard) and does no I/O.
//! Names are interned to indices on first sight; after that an event touches
//! only fixed-size counters, so applying an event for known keys allocates
//! nothing (new calls and first-seen ids do insert into maps).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use hdrhistogram::Histogram;
use xxhash_rust::xxh3::{xxh3_64, xxh3_128};

use super::ring::{DayRing, Reset};
use super::{Limit, NoEffect, Outcome};
use crate::config::{Limits, QueueSettings, TenantSettings};
use crate::event::{
    AgentEvent, AgentState, Body, CallEvent, CallKind, CallbackEvent, CallbackKind, Event,
};
use crate::time::{Calendar, DayNo, Millis};

/// A set of values that are hashes already (of ids, of call names): they
/// are used as their own hash instead of being hashed again.
pub(crate) type Hashes<K> = HashSet<K, std::hash::BuildHasherDefault<Prehashed>>;

/// The hasher of [`Hashes`]: keeps the low 64 bits of what it is given.
#[derive(Default)]
pub(crate) struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for integer keys; a fold keeps it a hash all the same.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// Interned names: index <-> name, plus the indices in name order so that
/// snapshots list rows sorted without sorting. A new name costs a hash
/// insert and a B-tree insert, whatever the order names come in.
#[derive(Default, Debug)]
pub(crate) struct Names {
    map: HashMap<Arc<str>, u32>,
    pub(crate) list: Vec<Arc<str>>,
    sorted: std::collections::BTreeMap<Arc<str>, u32>,
}

impl Names {
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.map.get(name).copied()
    }

    /// The index of `name`, and whether it was new.
    fn intern(&mut self, name: &str) -> (u32, bool) {
        if let Some(&i) = self.map.get(name) {
            return (i, false);
        }
        let i = self.list.len() as u32;
        let name: Arc<str> = Arc::from(name);
        self.sorted.insert(name.clone(), i);
        self.map.insert(name.clone(), i);
        self.list.push(name);
        (i, true)
    }

    /// Indices in name order.
    pub(crate) fn sorted(&self) -> impl Iterator<Item = u32> + '_ {
        self.sorted.values().copied()
    }

    pub(crate) fn name(&self, i: u32) -> &Arc<str> {
        &self.list[i as usize]
    }
}

/// Counters of one day for a queue (or for a service or the tenant, for
/// outbound calls and IVR inflow that name no queue).
#[derive(Default, Debug, Clone)]
pub(crate) struct Counters {
    pub inbound: u32,
    pub answered: u32,
    pub abandoned: u32,
    pub short_abandoned: u32,
    pub callbacks: u32,
    pub transferred: u32,
    pub exited: u32,
    pub answered_in_sl: u32,
    pub outbound_attempts: u32,
    pub outbound_connected: u32,
    pub ivr: u32,
    /// Answered calls that ended (the AHT denominator).
    pub ended: u32,
    pub wait_sum_ms: u64,
    pub talk_sum_ms: u64,
    pub wrap_sum_ms: u64,
}

impl Counters {
    pub(crate) fn add(&mut self, o: &Counters) {
        self.inbound += o.inbound;
        self.answered += o.answered;
        self.abandoned += o.abandoned;
        self.short_abandoned += o.short_abandoned;
        self.callbacks += o.callbacks;
        self.transferred += o.transferred;
        self.exited += o.exited;
        self.answered_in_sl += o.answered_in_sl;
        self.outbound_attempts += o.outbound_attempts;
        self.outbound_connected += o.outbound_connected;
        self.ivr += o.ivr;
        self.ended += o.ended;
        self.wait_sum_ms += o.wait_sum_ms;
        self.talk_sum_ms += o.talk_sum_ms;
        self.wrap_sum_ms += o.wrap_sum_ms;
    }
}

/// Wait times are recorded in whole seconds: exact up to 255 s, 1 % above.
pub(crate) type WaitHistogram = Histogram<u32>;

#[derive(Default, Debug)]
pub(crate) struct QueueDay {
    pub c: Counters,
    /// Waits of answered calls; created on the first answer of the day.
    pub waits: Option<Box<WaitHistogram>>,
}

impl Reset for QueueDay {
    fn reset(&mut self) {
        self.c = Counters::default();
        if let Some(h) = &mut self.waits {
            h.reset();
        }
    }
}

impl QueueDay {
    fn record_wait(&mut self, wait_ms: Millis) {
        let h = self.waits.get_or_insert_with(|| {
            Box::new(Histogram::new(2).expect("2 significant figures is a valid precision"))
        });
        h.saturating_record(((wait_ms + 999) / 1000).max(0) as u64);
    }
}

#[derive(Default, Debug, Clone)]
pub(crate) struct CallbackDay {
    pub requested: u32,
    pub assigned: u32,
    pub completed: u32,
    pub failed: u32,
    pub deleted: u32,
}

impl Reset for CallbackDay {
    fn reset(&mut self) {
        *self = CallbackDay::default();
    }
}

impl CallbackDay {
    pub(crate) fn add(&mut self, o: &CallbackDay) {
        self.requested += o.requested;
        self.assigned += o.assigned;
        self.completed += o.completed;
        self.failed += o.failed;
        self.deleted += o.deleted;
    }
}

/// Figures that are not tied to a queue: kept per service and per tenant.
#[derive(Default, Debug)]
pub(crate) struct Scope {
    pub days: DayRing<QueueDay>,
    pub callbacks: DayRing<CallbackDay>,
}

#[derive(Default, Debug)]
pub(crate) struct Service {
    /// Member agents per state (an agent counts in each of its services).
    pub by_state: [u32; 8],
    pub scope: Scope,
    /// Queues bound to this service now.
    pub queues: u32,
}

#[derive(Debug)]
pub(crate) struct Queue {
    pub service: u32,
    /// The config names this queue's service; events cannot rebind it.
    pub service_fixed: bool,
    pub settings: QueueSettings,
    pub days: DayRing<QueueDay>,
}

/// An agent's figures of one local day, by the agent's own clock: answers
/// on the day of the answer, time in a state on the days it spans.
#[derive(Default, Debug, Clone)]
pub(crate) struct AgentDay {
    pub handled: u32,
    pub talk_ms: u64,
    pub outbound: u32,
    /// Calls offered to the agent that it did not answer.
    pub missed: u32,
    /// Inbound calls answered this day that have ended, and their talk
    /// time: the AHT of the agent.
    pub ended: u32,
    pub ended_talk_ms: u64,
    /// Milliseconds in each state (indexed by `AgentState`) up to the
    /// agent's current state, which the snapshot adds up to "now".
    pub time_ms: [u64; 8],
    /// `away` milliseconds by interned reason (`None`: no reason given).
    pub away_ms: Vec<(Option<u32>, u64)>,
}

impl Reset for AgentDay {
    fn reset(&mut self) {
        let mut away = std::mem::take(&mut self.away_ms);
        away.clear();
        *self = AgentDay {
            away_ms: away,
            ..AgentDay::default()
        };
    }
}

impl AgentDay {
    /// Adds `ms` spent in `state` (with `reason`, for `away`).
    fn add_time(&mut self, state: AgentState, reason: Option<u32>, ms: u64) {
        self.time_ms[state as usize] += ms;
        if state == AgentState::Away {
            match self.away_ms.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, v)) => *v += ms,
                None => self.away_ms.push((reason, ms)),
            }
        }
    }
}

/// Names shared between the state and the snapshots built from it.
pub(crate) type SharedNames = Arc<[Arc<str>]>;

/// Which events set an attribute (state, membership, name): the time of the
/// newest, and the ids (hashed) of the events of that time applied to it.
/// A newer event wins whatever the delivery order; on equal time the one
/// delivered later wins (a tenant's events keep their order on its
/// partition and in a file), unless it is a repeat of one already applied.
#[derive(Debug)]
pub(crate) struct Version {
    ts: Millis,
    /// Usually one; more when events of one time tie.
    ids: Vec<u64>,
}

/// Ties of one attribute at one millisecond that are told apart; past it,
/// further events of that millisecond change nothing (they would cost time
/// in proportion to their number).
const MAX_TIES: usize = 64;

impl Version {
    const NEVER: Version = Version {
        ts: Millis::MIN,
        ids: Vec::new(),
    };

    /// Whether an event of time `ts` and id hash `id` takes the attribute.
    fn admits(&self, ts: Millis, id: u64) -> bool {
        ts > self.ts || (ts == self.ts && self.ids.len() < MAX_TIES && !self.ids.contains(&id))
    }

    fn set(&mut self, ts: Millis, id: u64) {
        if ts > self.ts {
            self.ts = ts;
            self.ids.clear();
        }
        self.ids.push(id);
    }

    /// Whether the event is one already applied to the attribute.
    fn applied(&self, ts: Millis, id: u64) -> bool {
        ts == self.ts && self.ids.contains(&id)
    }
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub name: Option<Arc<str>>,
    name_ver: Version,
    pub state: AgentState,
    /// Interned reason of the current state.
    pub reason: Option<u32>,
    /// Time of the event that set the current state.
    pub since: Option<Millis>,
    ver: Version,
    pub services: Vec<u32>,
    /// `services` as names, sorted: built when membership changes, shared
    /// by every snapshot until it changes again.
    pub service_names: SharedNames,
    services_ver: Version,
    pub days: DayRing<AgentDay>,
    /// Start of the current wrap-up, for AHT.
    wrap_from: Option<Millis>,
    /// Queue and day of the agent's last ended call, which its wrap-up is
    /// attributed to.
    last_call: Option<(u32, DayNo)>,
    pub open_callbacks: u32,
}

impl Agent {
    fn new() -> Agent {
        Agent {
            name: None,
            name_ver: Version::NEVER,
            state: AgentState::LoggedOut,
            reason: None,
            since: None,
            ver: Version::NEVER,
            services: Vec::new(),
            service_names: Arc::from(Vec::new()),
            services_ver: Version::NEVER,
            days: DayRing::default(),
            wrap_from: None,
            last_call: None,
            open_callbacks: 0,
        }
    }
}

/// Where a call's counters go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Queue(u32),
    Service(u32),
    Tenant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Waiting,
    Answered { at: Millis },
    Dialing,
    Connected { at: Millis },
}

/// A call the engine is following: waiting, talking, or an outbound attempt.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    pub target: Target,
    /// Local day the call was queued (or dialed): all its counters go there.
    pub day: DayNo,
    pub start: Millis,
    pub phase: Phase,
    pub agent: Option<u32>,
    /// The agent the call is ringing at, and since when: if the call's next
    /// event is not that agent's answer, the agent missed it.
    pub ringing: Option<(u32, Millis)>,
}

#[derive(Debug)]
pub(crate) struct CallbackRec {
    pub service: Option<u32>,
    pub day: DayNo,
    pub agent: Option<u32>,
    pub assigned_ever: bool,
    pub closed: bool,
}

#[derive(Default, Debug, Clone)]
pub(crate) struct HourlyDay {
    pub inbound: [u32; 24],
    pub ivr: [u32; 24],
}

impl Reset for HourlyDay {
    fn reset(&mut self) {
        *self = HourlyDay::default();
    }
}

/// A moment at which a call is let go if it is still as it was.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Deadline {
    at: Millis,
    /// The call's `start` (waiting) or answer time (answered) when the
    /// deadline was set: a call queued again since has a deadline of its own.
    since: Millis,
    waiting: bool,
    call: Box<str>,
}

/// Calls let go because their end event never came.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    /// Still waiting after `max_wait_s`: counted as `exited`, reason `expired`.
    pub waiting: u64,
    /// Answered and never ended a day later: forgotten.
    pub answered: u64,
}

/// A day, the time after which an answered call that never ended is let go.
const ANSWERED_FOR_MS: Millis = 86_400_000;

/// All state of one tenant.
#[derive(Debug)]
pub struct Tenant {
    pub(crate) name: Arc<str>,
    pub(crate) settings: TenantSettings,
    pub(crate) cal: Calendar,
    /// Latest event time applied.
    pub(crate) as_of: Option<Millis>,
    /// Latest local day any event fell on.
    latest_day: DayNo,
    pub(crate) services: Names,
    pub(crate) service_data: Vec<Service>,
    pub(crate) queues: Names,
    pub(crate) queue_data: Vec<Queue>,
    pub(crate) agents: Names,
    pub(crate) agent_data: Vec<Agent>,
    pub(crate) reasons: Names,
    pub(crate) calls: HashMap<Box<str>, Call>,
    /// Calls that finished, by day, so that a stray event for one of them
    /// cannot count it again.
    finished: DayRing<Hashes<u64>>,
    /// Ids of call and callback events applied, by day of the event: a
    /// repeat is a duplicate delivery. (Agent events need no set: their
    /// versions make a repeat a no-op.)
    seen: DayRing<Hashes<u128>>,

    pub(crate) callbacks: HashMap<Box<str>, CallbackRec>,
    pub(crate) hourly: DayRing<HourlyDay>,
    /// Figures with no queue and no service.
    pub(crate) unscoped: Scope,
    /// All agents per state.
    pub(crate) by_state: [u32; 8],
    /// When calls that lost their end event are let go, earliest first:
    /// waiting calls after their queue's `max_wait_s`, answered calls a day
    /// after the answer. Entries of calls that ended are skipped.
    deadlines: BinaryHeap<Reverse<Deadline>>,
    /// Calls let go since the owner last asked (`Engine::expire`).
    pub(crate) expired: Expired,
    /// How many names of each kind this tenant keeps.
    limits: Limits,
    /// Changed since the owner last looked (see `Engine::take_dirty`).
    pub(crate) dirty: bool,
}

impl Tenant {
    pub fn new(name: &str, settings: TenantSettings, limits: Limits) -> Tenant {
        let cal = Calendar::new(settings.tz.clone());
        let mut t = Tenant {
            name: Arc::from(name),
            settings,
            cal,
            as_of: None,
            latest_day: DayNo::MIN,
            services: Names::default(),
            service_data: Vec::new(),
            queues: Names::default(),
            queue_data: Vec::new(),
            agents: Names::default(),
            agent_data: Vec::new(),
            reasons: Names::default(),
            calls: HashMap::new(),
            finished: DayRing::default(),
            seen: DayRing::default(),

            callbacks: HashMap::new(),
            hourly: DayRing::default(),
            unscoped: Scope::default(),
            by_state: [0; 8],
            deadlines: BinaryHeap::new(),
            expired: Expired::default(),
            limits,
            dirty: true,
        };
        // Queues the config names exist from the start, so a board shows
        // them before their first call.
        let named: Vec<String> = t.settings.queues.keys().cloned().collect();
        for q in named {
            t.queue(&q, None);
        }
        t
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn as_of(&self) -> Option<Millis> {
        self.as_of
    }

    pub fn apply(&mut self, ev: &Event<'_>) -> Outcome {
        let out = match &ev.body {
            // Agent events need no id memory: their versions tell a repeat.
            Body::Agent(a) => self.apply_agent(ev, a),
            Body::Call(c) => match self.admit(ev) {
                Ok(()) => {
                    // Calls whose deadline this event's time has passed go
                    // first, so that the outcome is the same whether the
                    // clock or the calls' own events got there first.
                    if self.deadlines.peek().is_some_and(|d| d.0.at <= ev.ts) {
                        self.expire(ev.ts);
                    }
                    self.apply_call(ev.ts, c)
                }
                Err(out) => return out,
            },
            Body::Callback(c) => match self.admit(ev) {
                Ok(()) => self.apply_callback(ev.ts, c),
                Err(out) => return out,
            },
        };
        if !matches!(out, Outcome::Duplicate) {
            self.as_of = Some(self.as_of.map_or(ev.ts, |t| t.max(ev.ts)));
            self.dirty = true;
        }
        out
    }

    /// The bound this event would cross with the names it brings, if any:
    /// checked before anything changes, so a refused event changes nothing.
    /// (Names the config gives exist from the start, so they always fit.)
    pub fn over_limit(&self, ev: &Event<'_>) -> Option<Limit> {
        // Far from every bound (the usual case), no event can cross one:
        // skip the lookups, which applying the event makes anyway.
        let l = &self.limits;
        let most_services = match &ev.body {
            Body::Agent(a) => a.services.as_ref().map_or(0, Vec::len),
            _ => 1,
        };
        if self.queues.list.len() < l.queues
            && self.services.list.len() + most_services <= l.services
            && self.agents.list.len() < l.agents
            && self.reasons.list.len() < l.reasons
        {
            return None;
        }
        fn adds<'a>(names: &Names, new: impl IntoIterator<Item = &'a str>) -> usize {
            let mut seen: Vec<&str> = Vec::new();
            for n in new {
                if names.get(n).is_none() && !seen.contains(&n) {
                    seen.push(n);
                }
            }
            seen.len()
        }
        let over =
            |names: &Names, limit: usize, new: usize| new > 0 && names.list.len() + new > limit;
        let (queues, services, agents, reasons) = match &ev.body {
            Body::Call(c) => {
                let queue = c.queue.as_deref();
                // A new queue with no service is its own service.
                let service = c
                    .service
                    .as_deref()
                    .or(queue.filter(|q| self.queues.get(q).is_none()));
                (
                    adds(&self.queues, queue),
                    adds(&self.services, service),
                    adds(&self.agents, c.agent.as_deref()),
                    0,
                )
            }
            Body::Agent(a) => (
                0,
                adds(&self.services, a.services.iter().flatten().map(|s| &**s)),
                adds(&self.agents, Some(&*a.agent)),
                adds(&self.reasons, a.reason.as_deref()),
            ),
            Body::Callback(c) => (
                0,
                adds(&self.services, c.service.as_deref()),
                adds(&self.agents, c.agent.as_deref()),
                0,
            ),
        };
        if over(&self.queues, l.queues, queues) {
            Some(Limit::Queues)
        } else if over(&self.services, l.services, services) {
            Some(Limit::Services)
        } else if over(&self.agents, l.agents, agents) {
            Some(Limit::Agents)
        } else if over(&self.reasons, l.reasons, reasons) {
            Some(Limit::Reasons)
        } else {
            None
        }
    }

    /// Lets an event through once: records its id, and
    /// refuses a repeat. An event dated before yesterday (of the latest day
    /// seen) is refused too: its day is closed, and its id can no longer be
    /// checked, so applying it could count a re-delivery twice.
    fn admit(&mut self, ev: &Event<'_>) -> Result<(), Outcome> {
        let (day, _) = self.cal.day_hour(ev.ts);
        if day < self.latest_day.saturating_sub(1) {
            return Err(Outcome::NoEffect(NoEffect::TooOld));
        }
        self.advance(day);
        remember(&mut self.seen, day, &ev.id)
    }

    /// Notes that events reached `day`; on a new day, drops callbacks that
    /// closed before yesterday.
    fn advance(&mut self, day: DayNo) {
        if day > self.latest_day {
            self.latest_day = day;
            self.callbacks
                .retain(|_, cb| !cb.closed || cb.day >= day - 1);
        }
    }

    fn service(&mut self, name: &str) -> u32 {
        let (i, new) = self.services.intern(name);
        if new {
            self.service_data.push(Service::default());
        }
        i
    }

    /// The queue's index, creating it on first sight; `service` (from an
    /// event) binds it unless the config fixes its service.
    fn queue(&mut self, name: &str, service: Option<&str>) -> u32 {
        let (i, new) = self.queues.intern(name);
        if new {
            let (fixed, settings) = match self.settings.queues.get(name) {
                Some((svc, s)) => (svc.clone(), *s),
                None => (None, self.settings.queue_defaults),
            };
            let service_fixed = fixed.is_some();
            let svc_name = fixed.as_deref().or(service).unwrap_or(name).to_string();
            let svc = self.service(&svc_name);
            self.service_data[svc as usize].queues += 1;
            self.queue_data.push(Queue {
                service: svc,
                service_fixed,
                settings,
                days: DayRing::default(),
            });
            return i;
        }
        let q = &self.queue_data[i as usize];
        if let Some(s) = service
            && !q.service_fixed
            && **self.services.name(q.service) != *s
        {
            let old = q.service;
            let svc = self.service(s);
            self.service_data[old as usize].queues -= 1;
            self.service_data[svc as usize].queues += 1;
            self.queue_data[i as usize].service = svc;
        }
        i
    }

    fn agent(&mut self, name: &str) -> u32 {
        let (i, new) = self.agents.intern(name);
        if new {
            self.agent_data.push(Agent::new());
            self.by_state[AgentState::LoggedOut as usize] += 1;
        }
        i
    }

    fn target(&mut self, queue: Option<&str>, service: Option<&str>) -> Target {
        match (queue, service) {
            (Some(q), s) => Target::Queue(self.queue(q, s)),
            (None, Some(s)) => Target::Service(self.service(s)),
            (None, None) => Target::Tenant,
        }
    }

    fn day_mut(&mut self, t: Target, day: DayNo) -> Option<&mut QueueDay> {
        match t {
            Target::Queue(q) => self.queue_data[q as usize].days.get_mut(day),
            Target::Service(s) => self.service_data[s as usize].scope.days.get_mut(day),
            Target::Tenant => self.unscoped.days.get_mut(day),
        }
    }

    fn agent_day(&mut self, agent: Option<u32>, day: DayNo) -> Option<&mut AgentDay> {
        agent.and_then(|a| self.agent_data[a as usize].days.get_mut(day))
    }

    /// Adds the time from `from` to `to` in `state` to the agent's days,
    /// split at local midnights. Only the last two days of a long span can
    /// still be kept, so earlier ones are skipped.
    fn add_agent_time(
        &mut self,
        agent: u32,
        state: AgentState,
        reason: Option<u32>,
        from: Millis,
        to: Millis,
    ) {
        if to <= from || state == AgentState::LoggedOut {
            return;
        }
        // Nearly always: a state that began and ended on the same day.
        let (day, _, end) = self.cal.span(from);
        if to <= end {
            if let Some(d) = self.agent_data[agent as usize].days.get_mut(day) {
                d.add_time(state, reason, (to - from) as u64);
            }
            return;
        }
        let (last_day, last_start, _) = self.cal.span(to - 1);
        let mut t = from;
        if self.cal.span(from).0 < last_day - 1 {
            t = t.max(self.cal.span(last_start - 1).1);
        }
        while t < to {
            let (day, _, end) = self.cal.span(t);
            let upto = end.min(to);
            if let Some(d) = self.agent_data[agent as usize].days.get_mut(day) {
                d.add_time(state, reason, (upto - t) as u64);
            }
            t = upto;
        }
    }

    /// The call's next event has come: the agent it was ringing at missed
    /// it unless this is that agent's answer.
    fn after_ringing(&mut self, call: &str, answered_by: Option<u32>) {
        let Some(live) = self.calls.get_mut(call) else {
            return;
        };
        let Some((agent, at)) = live.ringing.take() else {
            return;
        };
        if answered_by != Some(agent) {
            let day = self.cal.day_of(at);
            if let Some(d) = self.agent_day(Some(agent), day) {
                d.missed += 1;
            }
        }
    }

    fn is_finished(&self, call: &str) -> bool {
        let h = xxh3_64(call.as_bytes());
        self.finished.iter().any(|(_, set)| set.contains(&h))
    }

    fn finish(&mut self, call: &str, ts: Millis) {
        self.calls.remove(call);
        let (day, _) = self.cal.day_hour(ts);
        if let Some(set) = self.finished.get_mut(day) {
            set.insert(xxh3_64(call.as_bytes()));
        }
    }

    /// Starts a waiting call in queue `q` at `at`; counts it as inbound.
    fn enqueue(&mut self, call: &str, q: u32, at: Millis) {
        let max_wait = self.queue_data[q as usize].settings.max_wait_s;
        if max_wait > 0 {
            self.deadlines.push(Reverse(Deadline {
                at: at.saturating_add(max_wait as Millis * 1000),
                since: at,
                waiting: true,
                call: call.into(),
            }));
        }
        let (day, hour) = self.cal.day_hour(at);
        self.advance(day);
        if let Some(d) = self.queue_data[q as usize].days.get_mut(day) {
            d.c.inbound += 1;
        }
        if let Some(h) = self.hourly.get_mut(day) {
            h.inbound[hour as usize] += 1;
        }
        self.calls.insert(
            call.into(),
            Call {
                target: Target::Queue(q),
                day,
                start: at,
                phase: Phase::Waiting,
                agent: None,
                ringing: None,
            },
        );
    }

    fn apply_call(&mut self, ts: Millis, c: &CallEvent<'_>) -> Outcome {
        let key: &str = &c.call;
        match c.kind {
            CallKind::Ivr => {
                let (day, hour) = self.cal.day_hour(ts);
                self.advance(day);
                let t = self.target(c.queue.as_deref(), c.service.as_deref());
                if let Some(h) = self.hourly.get_mut(day) {
                    h.ivr[hour as usize] += 1;
                }
                if let Some(d) = self.day_mut(t, day) {
                    d.c.ivr += 1;
                }
                Outcome::Applied
            }
            CallKind::Queued => {
                let Some(queue) = c.queue.as_deref() else {
                    return Outcome::NoEffect(NoEffect::UnknownCall);
                };
                let q = self.queue(queue, c.service.as_deref());
                if self.calls.contains_key(key) {
                    return Outcome::NoEffect(NoEffect::CallAlreadyLive);
                }
                self.enqueue(key, q, ts);
                Outcome::Applied
            }
            CallKind::Ringing => {
                let agent = c.agent.as_deref().map(|a| self.agent(a));
                if self
                    .calls
                    .get(key)
                    .is_some_and(|c| c.phase == Phase::Waiting)
                {
                    self.after_ringing(key, None);
                }
                match self.calls.get_mut(key) {
                    Some(call) if call.phase == Phase::Waiting => {
                        call.agent = agent;
                        call.ringing = agent.map(|a| (a, ts));
                        Outcome::Applied
                    }
                    Some(_) => Outcome::NoEffect(NoEffect::CallNotWaiting),
                    None => Outcome::NoEffect(NoEffect::UnknownCall),
                }
            }
            CallKind::Answered
            | CallKind::Abandoned
            | CallKind::Callback
            | CallKind::Transferred
            | CallKind::Exited => self.end_wait(ts, c, c.kind),
            CallKind::Dialing => {
                if self.calls.contains_key(key) {
                    return Outcome::NoEffect(NoEffect::CallAlreadyLive);
                }
                let (day, _) = self.cal.day_hour(ts);
                self.advance(day);
                let t = self.target(c.queue.as_deref(), c.service.as_deref());
                let agent = c.agent.as_deref().map(|a| self.agent(a));
                if let Some(d) = self.day_mut(t, day) {
                    d.c.outbound_attempts += 1;
                }
                if let Some(d) = self.agent_day(agent, day) {
                    d.outbound += 1;
                }
                self.calls.insert(
                    key.into(),
                    Call {
                        target: t,
                        day,
                        start: ts,
                        phase: Phase::Dialing,
                        agent,
                        ringing: None,
                    },
                );
                Outcome::Applied
            }
            CallKind::Connected => {
                let Some(call) = self.calls.get_mut(key) else {
                    return Outcome::NoEffect(NoEffect::UnknownCall);
                };
                if call.phase != Phase::Dialing {
                    return Outcome::NoEffect(NoEffect::CallNotWaiting);
                }
                call.phase = Phase::Connected { at: ts };
                let (t, day) = (call.target, call.day);
                if let Some(d) = self.day_mut(t, day) {
                    d.c.outbound_connected += 1;
                }
                Outcome::Applied
            }
            CallKind::Ended => self.end_call(ts, c),
        }
    }

    /// A call leaves its queue: answered, abandoned, to callback, transferred
    /// or taken out. A call the engine never saw queued is counted as queued
    /// (at `queued_ts` if given, else now), so that `inbound` always equals
    /// the sum of its outcomes plus those still waiting.
    fn end_wait(&mut self, ts: Millis, c: &CallEvent<'_>, kind: CallKind) -> Outcome {
        let key: &str = &c.call;
        let call = match self.calls.get(key) {
            Some(call) if call.phase == Phase::Waiting => *call,
            Some(_) => return Outcome::NoEffect(NoEffect::CallNotWaiting),
            None => {
                if self.is_finished(key) {
                    return Outcome::NoEffect(NoEffect::CallNotWaiting);
                }
                let Some(queue) = c.queue.as_deref() else {
                    return Outcome::NoEffect(NoEffect::UnknownCall);
                };
                let q = self.queue(queue, c.service.as_deref());
                self.enqueue(key, q, c.queued_ts.unwrap_or(ts).min(ts));
                self.calls[key]
            }
        };
        let Target::Queue(q) = call.target else {
            return Outcome::NoEffect(NoEffect::CallNotWaiting);
        };
        let wait = (ts - call.start).max(0);
        let settings = self.queue_data[q as usize].settings;
        if let Some(d) = self.queue_data[q as usize].days.get_mut(call.day) {
            match kind {
                CallKind::Answered => {
                    d.c.answered += 1;
                    d.c.wait_sum_ms += wait as u64;
                    if wait <= settings.sl_threshold_s as i64 * 1000 {
                        d.c.answered_in_sl += 1;
                    }
                    d.record_wait(wait);
                }
                CallKind::Abandoned => {
                    d.c.abandoned += 1;
                    if wait < settings.short_abandon_s as i64 * 1000 {
                        d.c.short_abandoned += 1;
                    }
                }
                CallKind::Callback => d.c.callbacks += 1,
                CallKind::Transferred => d.c.transferred += 1,
                _ => d.c.exited += 1,
            }
        }
        let agent = match kind {
            CallKind::Answered => c.agent.as_deref().map(|a| self.agent(a)),
            _ => None,
        };
        self.after_ringing(key, agent);
        if kind == CallKind::Answered {
            // The agent's figures follow the agent's clock: the day of the
            // answer, not the day the call was queued.
            let day = self.cal.day_of(ts);
            if let Some(d) = self.agent_day(agent, day) {
                d.handled += 1;
            }
            if let Some(live) = self.calls.get_mut(key) {
                live.phase = Phase::Answered { at: ts };
                live.agent = agent;
                self.deadlines.push(Reverse(Deadline {
                    at: ts.saturating_add(ANSWERED_FOR_MS),
                    since: ts,
                    waiting: false,
                    call: key.into(),
                }));
            }
        } else {
            self.finish(key, ts);
        }
        Outcome::Applied
    }

    fn end_call(&mut self, ts: Millis, c: &CallEvent<'_>) -> Outcome {
        let key: &str = &c.call;
        let Some(call) = self.calls.get(key).copied() else {
            return Outcome::NoEffect(NoEffect::UnknownCall);
        };
        let agent = call
            .agent
            .or_else(|| c.agent.as_deref().and_then(|a| self.agents.get(a)));
        match call.phase {
            // The caller hung up before anyone answered: an abandon.
            Phase::Waiting => return self.end_wait(ts, c, CallKind::Abandoned),
            Phase::Answered { at } => {
                let talk = (ts - at).max(0);
                if let Some(d) = self.day_mut(call.target, call.day) {
                    d.c.ended += 1;
                    d.c.talk_sum_ms += talk as u64;
                }
                let answer_day = self.cal.day_of(at);
                if let Some(d) = self.agent_day(agent, answer_day) {
                    d.talk_ms += talk as u64;
                    d.ended += 1;
                    d.ended_talk_ms += talk as u64;
                }
                if let (Some(a), Target::Queue(q)) = (agent, call.target) {
                    self.agent_data[a as usize].last_call = Some((q, call.day));
                }
            }
            Phase::Connected { at } => {
                let connect_day = self.cal.day_of(at);
                if let Some(d) = self.agent_day(agent, connect_day) {
                    d.talk_ms += (ts - at).max(0) as u64;
                }
            }
            Phase::Dialing => {}
        }
        self.finish(key, ts);
        Outcome::Applied
    }

    fn apply_agent(&mut self, ev: &Event<'_>, a: &AgentEvent<'_>) -> Outcome {
        let idx = self.agent(&a.agent);
        let (ts, id) = (ev.ts, xxh3_64(ev.id.as_bytes()));
        let (takes_state, takes_services, takes_name) = {
            let ag = &self.agent_data[idx as usize];
            (
                ag.ver.admits(ts, id),
                a.services.is_some() && ag.services_ver.admits(ts, id),
                a.name.is_some() && ag.name_ver.admits(ts, id),
            )
        };
        if !takes_state && !takes_services && !takes_name {
            let ag = &self.agent_data[idx as usize];
            let repeat = ag.ver.applied(ts, id)
                || ag.services_ver.applied(ts, id)
                || ag.name_ver.applied(ts, id);
            return if repeat {
                Outcome::Duplicate
            } else {
                Outcome::Late
            };
        }
        let services: Option<(Vec<u32>, SharedNames)> = match &a.services {
            Some(list) if takes_services => {
                let mut v: Vec<u32> = list.iter().map(|s| self.service(s)).collect();
                v.sort_unstable();
                v.dedup();
                let mut names: Vec<Arc<str>> =
                    v.iter().map(|&s| self.services.name(s).clone()).collect();
                names.sort_unstable();
                Some((v, Arc::from(names)))
            }
            _ => None,
        };
        let reason = match &a.reason {
            Some(r) if takes_state => Some(self.reasons.intern(r).0),
            _ => None,
        };

        if takes_state {
            // The state that ends now lasted from its event to this one.
            let ag = &self.agent_data[idx as usize];
            if let Some(since) = ag.since {
                let (state, reason) = (ag.state, ag.reason);
                self.add_agent_time(idx, state, reason, since, ev.ts);
            }
        }
        self.count_agent(idx, -1);
        let mut wrap: Option<(u32, DayNo, Millis)> = None;
        let ag = &mut self.agent_data[idx as usize];
        if let Some((v, names)) = services {
            ag.services = v;
            ag.service_names = names;
            ag.services_ver.set(ts, id);
        }
        if takes_name {
            ag.name = a.name.as_deref().map(Arc::from);
            ag.name_ver.set(ts, id);
        }
        if takes_state {
            let (old, new) = (ag.state, a.state);
            if old == AgentState::WrapUp && new != AgentState::WrapUp {
                if let (Some(from), Some((q, day))) = (ag.wrap_from, ag.last_call) {
                    wrap = Some((q, day, (ev.ts - from).max(0)));
                }
                ag.wrap_from = None;
            }
            if new == AgentState::WrapUp && old != AgentState::WrapUp {
                ag.wrap_from = Some(ev.ts);
            }
            if new != AgentState::WrapUp {
                ag.last_call = None;
            }
            ag.state = new;
            ag.reason = reason;
            ag.since = Some(ev.ts);
            ag.ver.set(ts, id);
        }
        self.count_agent(idx, 1);
        if let Some((q, day, ms)) = wrap
            && let Some(d) = self.queue_data[q as usize].days.get_mut(day)
        {
            d.c.wrap_sum_ms += ms as u64;
        }
        Outcome::Applied
    }

    /// Adds (`delta` = 1) or removes (-1) an agent from the per-state counts
    /// of the tenant and of each of its services.
    fn count_agent(&mut self, idx: u32, delta: i32) {
        let ag = &self.agent_data[idx as usize];
        let st = ag.state as usize;
        self.by_state[st] = self.by_state[st].wrapping_add_signed(delta);
        for &s in &ag.services {
            let c = &mut self.service_data[s as usize].by_state[st];
            *c = c.wrapping_add_signed(delta);
        }
    }

    fn callback_day(&mut self, service: Option<u32>, day: DayNo) -> Option<&mut CallbackDay> {
        match service {
            Some(s) => self.service_data[s as usize].scope.callbacks.get_mut(day),
            None => self.unscoped.callbacks.get_mut(day),
        }
    }

    fn apply_callback(&mut self, ts: Millis, c: &CallbackEvent<'_>) -> Outcome {
        let key: &str = &c.callback;
        let agent = c.agent.as_deref().map(|a| self.agent(a));
        if !self.callbacks.contains_key(key) {
            if c.kind == CallbackKind::Unassigned {
                return Outcome::NoEffect(NoEffect::UnknownCallback);
            }
            // A callback first seen assigned or closed was requested then.
            let (day, _) = self.cal.day_hour(ts);
            self.advance(day);
            let service = c.service.as_deref().map(|s| self.service(s));
            if let Some(d) = self.callback_day(service, day) {
                d.requested += 1;
            }
            self.callbacks.insert(
                key.into(),
                CallbackRec {
                    service,
                    day,
                    agent: None,
                    assigned_ever: false,
                    closed: false,
                },
            );
            if c.kind == CallbackKind::Requested {
                return Outcome::Applied;
            }
        } else if c.kind == CallbackKind::Requested {
            return Outcome::NoEffect(NoEffect::CallbackKnown);
        }
        let Some(rec) = self.callbacks.get_mut(key) else {
            return Outcome::NoEffect(NoEffect::UnknownCallback);
        };
        if rec.closed {
            return Outcome::NoEffect(NoEffect::CallbackClosed);
        }
        let (service, day) = (rec.service, rec.day);
        let old = rec.agent;
        let mut first_assignment = false;
        let mut closed_as = None;
        match c.kind {
            CallbackKind::Assigned => {
                rec.agent = agent;
                first_assignment = !rec.assigned_ever;
                rec.assigned_ever = true;
            }
            CallbackKind::Unassigned => rec.agent = None,
            kind => {
                // Completing or failing a callback nobody was assigned still
                // means someone processed it: it counts as assigned, so the
                // rate stays <= 100 %. Deleting it unprocessed does not.
                if kind != CallbackKind::Deleted {
                    first_assignment = !rec.assigned_ever;
                    rec.assigned_ever = true;
                }
                rec.closed = true;
                rec.agent = None;
                closed_as = Some(kind);
            }
        }
        let new = rec.agent;
        if old != new {
            if let Some(o) = old {
                let n = &mut self.agent_data[o as usize].open_callbacks;
                *n = n.saturating_sub(1);
            }
            if let Some(n) = new {
                self.agent_data[n as usize].open_callbacks += 1;
            }
        }
        if let Some(d) = self.callback_day(service, day) {
            if first_assignment {
                d.assigned += 1;
            }
            match closed_as {
                Some(CallbackKind::Completed) => d.completed += 1,
                Some(CallbackKind::Failed) => d.failed += 1,
                Some(CallbackKind::Deleted) => d.deleted += 1,
                _ => {}
            }
        }
        Outcome::Applied
    }

    /// Calls waiting now that were queued on `day`, in `queue` or in any
    /// (the conservation law's `waiting_today`).
    pub fn waiting_queued_on(&self, day: DayNo, queue: Option<&str>) -> u64 {
        let q = queue.map(|q| self.queues.get(q));
        self.calls
            .values()
            .filter(|c| c.phase == Phase::Waiting && c.day == day)
            .filter(|c| match q {
                None => true,
                Some(q) => q.is_some_and(|q| c.target == Target::Queue(q)),
            })
            .count() as u64
    }

    /// Lets go of calls whose deadline is at or before `now`: a waiting call
    /// leaves its queue as `exited` on the day it was queued (conservation
    /// holds); an answered call that never ended is forgotten. Returns
    /// whether anything changed.
    pub fn expire(&mut self, now: Millis) -> bool {
        let mut changed = false;
        while self.deadlines.peek().is_some_and(|d| d.0.at <= now) {
            let Some(Reverse(d)) = self.deadlines.pop() else {
                break;
            };
            let Some(call) = self.calls.get(&d.call).copied() else {
                continue;
            };
            match (d.waiting, call.phase, call.target) {
                (true, Phase::Waiting, Target::Queue(q)) if call.start == d.since => {
                    if let Some(day) = self.queue_data[q as usize].days.get_mut(call.day) {
                        day.c.exited += 1;
                    }
                    self.after_ringing(&d.call, None);
                    self.finish(&d.call, d.at);
                    self.expired.waiting += 1;
                }
                (false, Phase::Answered { at }, _) if at == d.since => {
                    self.finish(&d.call, d.at);
                    self.expired.answered += 1;
                }
                _ => continue,
            }
            changed = true;
        }
        if changed {
            self.dirty = true;
        }
        changed
    }

    /// The tenant's local day of an instant.
    pub fn day_of(&self, ms: Millis) -> DayNo {
        self.cal.day_of(ms)
    }
}

/// Records an event id in the memory of its day: `Duplicate` for a repeat,
/// `TooOld` when the day has left the memory.
fn remember(seen: &mut DayRing<Hashes<u128>>, day: DayNo, id: &str) -> Result<(), Outcome> {
    match seen
        .get_mut(day)
        .map(|set| set.insert(xxh3_128(id.as_bytes())))
    {
        Some(true) => Ok(()),
        Some(false) => Err(Outcome::Duplicate),
        None => Err(Outcome::NoEffect(NoEffect::TooOld)),
    }
}
