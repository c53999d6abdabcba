//! One tenant's state and how each event changes it: the state and the
//! names here, the rules of each event family in a file of its own
//! (`calls`, `agents`, `callbacks`).
//!
//! Everything here has a single writer (the tenant's shard) and does no I/O.
//! Names are interned to indices on first sight; after that an event touches
//! only fixed-size counters, so applying an event for known keys allocates
//! nothing (new calls and first-seen ids do insert into maps).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use xxhash_rust::xxh3::xxh3_128;

use super::ring::DayRing;
use super::{Limit, NoEffect, Outcome};
use crate::config::{Limits, QueueSettings, TenantSettings};
use crate::event::{AgentState, Body, Event};
use crate::time::{Calendar, DayNo, Millis};

mod agents;
mod callbacks;
mod calls;
mod intervals;
mod recent;
mod rows;
mod standing;

pub(crate) use agents::{Agent, AgentDay};
pub(crate) use callbacks::{CallbackDay, CallbackRec};
use calls::Deadline;
pub use calls::Expired;
pub(crate) use calls::within;
pub(crate) use calls::{Call, Counters, HourlyDay, Phase, QueueDay, Target, WaitHistogram};
pub(crate) use recent::minute_of;

/// A set of values that are hashes already (of ids, of call names): they
/// are used as their own hash instead of being hashed again.
pub(crate) type Hashes<K> = HashSet<K, std::hash::BuildHasherDefault<Prehashed>>;

/// Hashes of call names and when each call ended (see [`Hashes`]).
pub(crate) type Ends = HashMap<u64, Millis, std::hash::BuildHasherDefault<Prehashed>>;

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
    /// Calls waiting in it now (overdue ones included until let go).
    pub waiting: u32,
    /// Its last minutes; created on its first call.
    pub recent: Option<Box<recent::Recent>>,
}

/// Names shared between the state and the snapshots built from it.
pub(crate) type SharedNames = Arc<[Arc<str>]>;

/// All state of one tenant.
#[derive(Debug)]
pub struct Tenant {
    pub(crate) name: Arc<str>,
    pub(crate) settings: TenantSettings,
    /// Every threshold of `answered_within` its queues use: the order of
    /// `Counters::within`.
    pub(crate) thresholds: crate::config::Few,
    /// How many minutes a queue's recent buckets reach back.
    pub(crate) recent_minutes: u32,
    /// The window lengths a snapshot sums (`TenantSettings::window_lengths`).
    pub(crate) window_lengths: Vec<u32>,
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
    /// Ringings of calls not seen yet, with their agent and time: a
    /// `call.queued` dated at or before the ringing, delivered after it
    /// (the same moment, in the other order), takes it up.
    early_rings: HashMap<Box<str>, (u32, Millis)>,
    /// Calls that finished, by the day of their end, with its time, so
    /// that a stray event for one of them cannot count it again (nor a late
    /// `call.queued` start it over).
    finished: DayRing<Ends>,
    /// Calls transferred, by the day of the transfer: the hash of the call
    /// and the queue it went to, with the transfer's time. An end of the
    /// call in that queue then counts there even if its `call.queued` there
    /// never came (or came, at the same moment, before the transfer).
    transfers: DayRing<Ends>,
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
    /// When the history store was last given this tenant's changed rows.
    history_at: Option<Millis>,
    /// The earliest event time applied: from there on the tenant's state
    /// is whole (its source delivered every event after it).
    first_ts: Option<Millis>,
    /// A callback changed since then.
    callbacks_changed: bool,
    /// The facts that outlive two days as of the start of yesterday and
    /// of today (`standing.rs`), and when the next day starts.
    marks: [standing::Mark; 2],
    next_mark: Millis,
    /// Rows of the days that closed since the owner last took them, kept
    /// for it (`None`: the owner keeps no history).
    pub(crate) closed: Option<Vec<crate::wire::IntervalRow>>,
    /// What the source of the tenant's first event promised (see
    /// [`Whole`]), and the instant from which the state holds every event
    /// of the tenant: rows of earlier intervals are never given, the state
    /// holds only part of them.
    whole: Whole,
    pub(crate) whole_from: Millis,
    /// Whether the first rows given restate the agents' rows (see
    /// `Tenant::restates_agents_from`).
    pub(crate) restates: bool,
}

/// From when a new tenant's state holds every one of its events: what the
/// source that brings it can promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whole {
    /// Every event (a replay; a tenant first seen live on a source that
    /// keeps a log, which a start reads whole).
    Everything,
    /// Every event from the start of yesterday, local time, as of the
    /// instant given: a rebuild that reads the last two days.
    FromYesterday(Millis),
    /// Every event from the start of the local day after that of the
    /// instant given: a log whose older records were deleted, the newest
    /// of them dated then.
    FromDayAfter(Millis),
    /// Nothing before its first event (a source with no log, after a
    /// start): whole from the next interval after it, and its rows never
    /// restate what the store holds.
    AfterFirstEvent,
}

impl Tenant {
    pub fn new(name: &str, settings: TenantSettings, limits: Limits) -> Tenant {
        let cal = Calendar::new(settings.tz.clone());
        let mut t = Tenant {
            name: Arc::from(name),
            thresholds: settings.all_thresholds(),
            recent_minutes: settings.recent_minutes(),
            window_lengths: settings.window_lengths(),
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
            early_rings: HashMap::new(),
            finished: DayRing::default(),
            transfers: DayRing::default(),
            seen: DayRing::default(),

            callbacks: HashMap::new(),
            hourly: DayRing::default(),
            unscoped: Scope::default(),
            by_state: [0; 8],
            deadlines: BinaryHeap::new(),
            expired: Expired::default(),
            limits,
            dirty: true,
            history_at: None,
            first_ts: None,
            callbacks_changed: false,
            marks: Default::default(),
            next_mark: Millis::MIN,
            closed: None,
            whole: Whole::Everything,
            whole_from: Millis::MIN,
            restates: true,
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

    /// The earliest event time applied.
    pub fn first_ts(&self) -> Option<Millis> {
        self.first_ts
    }

    /// Sets what the state promises (see [`Whole`]) and whether the rows
    /// of closing days are kept for the owner. For a new tenant, before its
    /// first event.
    pub fn begin(&mut self, whole: Whole, keep_closed: bool) {
        self.whole = whole;
        (self.whole_from, self.restates) = match whole {
            Whole::Everything => (Millis::MIN, true),
            Whole::FromYesterday(now) => {
                let today = self.cal.day_of(now);
                (self.cal.day_span(today - 1).0, true)
            }
            Whole::FromDayAfter(t) => (self.cal.span_of(t).2, true),
            // Set at the first event.
            Whole::AfterFirstEvent => (Millis::MAX, false),
        };
        if keep_closed && self.closed.is_none() {
            self.closed = Some(Vec::new());
        }
    }

    pub fn apply(&mut self, ev: &Event<'_>) -> Outcome {
        if ev.ts >= self.next_mark {
            self.roll_marks(ev.ts);
        }
        if self.first_ts.is_none() && self.whole == Whole::AfterFirstEvent {
            let slot_ms = self.slot_ms();
            let (_, _, start) = self.cal.day_hour_start(ev.ts);
            self.whole_from = start + ((ev.ts - start) / slot_ms + 1) * slot_ms;
        }
        let day = self.cal.day_of(ev.ts);
        if day > self.latest_day {
            // Days that close leave their last rows before anything of the
            // new day is written.
            self.close_days(day, ev.ts);
            self.advance(day);
        }
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
                Ok(()) => {
                    self.callbacks_changed = true;
                    self.apply_callback(ev.ts, c)
                }
                Err(out) => return out,
            },
        };
        if !matches!(out, Outcome::Duplicate) {
            self.as_of = Some(self.as_of.map_or(ev.ts, |t| t.max(ev.ts)));
            self.first_ts = Some(self.first_ts.map_or(ev.ts, |t| t.min(ev.ts)));
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
                .retain(|_, cb| cb.closed.is_none() || cb.day >= day - 1);
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
                waiting: 0,
                recent: None,
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
