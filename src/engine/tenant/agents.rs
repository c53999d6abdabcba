//! Agents: state, membership and name, each kept by its newest version, and
//! an agent's figures of the day.

use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

use super::intervals::{AgentSlot, Slots};
use super::{SharedNames, Tenant};
use crate::engine::Outcome;
use crate::engine::ring::{DayRing, Reset};
use crate::event::{AgentEvent, AgentState, Event};
use crate::time::{DayNo, Millis};

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
    /// The agent's figures by interval of the day.
    pub slots: Slots<AgentSlot>,
    /// `away` milliseconds by interval and reason, in interval order: apart
    /// from the intervals, which most agents' are not away in.
    pub away_slots: Vec<(u16, Option<u32>, u32)>,
}

impl Reset for AgentDay {
    fn reset(&mut self) {
        let mut away = std::mem::take(&mut self.away_ms);
        away.clear();
        let mut slots = std::mem::take(&mut self.slots);
        slots.clear();
        let mut away_slots = std::mem::take(&mut self.away_slots);
        away_slots.clear();
        *self = AgentDay {
            away_ms: away,
            slots,
            away_slots,
            ..AgentDay::default()
        };
    }
}

impl AgentDay {
    /// Adds `ms` spent in `state` (with `reason`, for `away`).
    pub(super) fn add_time(&mut self, state: AgentState, reason: Option<u32>, ms: u64) {
        self.time_ms[state as usize] += ms;
        if state == AgentState::Away {
            match self.away_ms.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, v)) => *v += ms,
                None => self.away_ms.push((reason, ms)),
            }
        }
    }
}

/// Which events set an attribute (state, membership, name): the time of the
/// newest, and the ids (hashed) of the events of that time applied to it.
/// A newer event wins whatever the delivery order; on equal time the one
/// delivered later wins (a tenant's events keep their order on its
/// partition and in a file), unless it is a repeat of one already applied.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub(super) ts: Millis,
    /// Usually one; more when events of one time tie.
    pub(super) ids: Vec<u64>,
}

/// Ties of one attribute at one millisecond that are told apart; past it,
/// further events of that millisecond change nothing (they would cost time
/// in proportion to their number).
pub(super) const MAX_TIES: usize = 64;

impl Version {
    pub(super) const NEVER: Version = Version {
        ts: Millis::MIN,
        ids: Vec::new(),
    };

    /// Whether an event of time `ts` and id hash `id` takes the attribute.
    pub(super) fn admits(&self, ts: Millis, id: u64) -> bool {
        ts > self.ts || (ts == self.ts && self.ids.len() < MAX_TIES && !self.ids.contains(&id))
    }

    pub(super) fn set(&mut self, ts: Millis, id: u64) {
        if ts > self.ts {
            self.ts = ts;
            self.ids.clear();
        }
        self.ids.push(id);
    }

    /// Whether the event is one already applied to the attribute.
    pub(super) fn applied(&self, ts: Millis, id: u64) -> bool {
        ts == self.ts && self.ids.contains(&id)
    }
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub name: Option<Arc<str>>,
    pub(super) name_ver: Version,
    pub state: AgentState,
    /// Interned reason of the current state.
    pub reason: Option<u32>,
    /// Time of the event that set the current state.
    pub since: Option<Millis>,
    pub(super) ver: Version,
    pub services: Vec<u32>,
    /// `services` as names, sorted: built when membership changes, shared
    /// by every snapshot until it changes again.
    pub service_names: SharedNames,
    pub(super) services_ver: Version,
    pub days: DayRing<AgentDay>,
    /// Start of the current wrap-up, for AHT.
    pub(super) wrap_from: Option<Millis>,
    /// Queue and day of the agent's last ended call, which its wrap-up is
    /// attributed to.
    pub(super) last_call: Option<(u32, DayNo, u16)>,
    pub open_callbacks: u32,
    /// The current state changed since the history store was last given
    /// rows: every interval it ran through is to be given again.
    pub(super) restated: bool,
    /// Start of the state the store was last given rows of, if logged in.
    pub(super) given_since: Option<Millis>,
}

impl Agent {
    pub(super) fn new() -> Agent {
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
            restated: false,
            given_since: None,
        }
    }
}

impl Tenant {
    pub(super) fn agent_day(&mut self, agent: Option<u32>, day: DayNo) -> Option<&mut AgentDay> {
        agent.and_then(|a| self.agent_data[a as usize].days.get_mut(day))
    }

    /// Adds the time from `from` to `to` in `state` to the agent's days,
    /// split at local midnights. Only the last two days of a long span can
    /// still be kept, so earlier ones are skipped.
    pub(super) fn add_agent_time(
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
        let slot_ms = self.slot_ms();
        // Nearly always: a state that began and ended on the same day.
        let (day, start, end) = self.cal.span(from);
        if to <= end {
            if let Some(d) = self.agent_data[agent as usize].days.get_mut(day) {
                d.add_span(state, reason, (from, to), start, slot_ms);
            }
            return;
        }
        let (last_day, last_start, _) = self.cal.span(to - 1);
        let mut t = from;
        if self.cal.span(from).0 < last_day - 1 {
            t = t.max(self.cal.span(last_start - 1).1);
        }
        while t < to {
            let (day, start, end) = self.cal.span(t);
            let upto = end.min(to);
            if let Some(d) = self.agent_data[agent as usize].days.get_mut(day) {
                d.add_span(state, reason, (t, upto), start, slot_ms);
            }
            t = upto;
        }
    }

    pub(super) fn apply_agent(&mut self, ev: &Event<'_>, a: &AgentEvent<'_>) -> Outcome {
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
        let mut wrap: Option<(u32, DayNo, u16, Millis)> = None;
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
                if let (Some(from), Some((q, day, slot))) = (ag.wrap_from, ag.last_call) {
                    wrap = Some((q, day, slot, (ev.ts - from).max(0)));
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
            ag.restated = true;
            ag.ver.set(ts, id);
        }
        self.count_agent(idx, 1);
        if let Some((q, day, slot, ms)) = wrap {
            if let Some(d) = self.queue_data[q as usize].days.get_mut(day) {
                d.count(slot, |c| c.wrap_sum_ms += ms as u64);
            }
            if let Some(b) = self.recent_at(q, ev.ts) {
                b.c.add(&super::Counters {
                    wrap_sum_ms: ms as u64,
                    ..Default::default()
                });
            }
        }
        Outcome::Applied
    }

    /// Adds (`delta` = 1) or removes (-1) an agent from the per-state counts
    /// of the tenant and of each of its services.
    pub(super) fn count_agent(&mut self, idx: u32, delta: i32) {
        let ag = &self.agent_data[idx as usize];
        let st = ag.state as usize;
        self.by_state[st] = self.by_state[st].wrapping_add_signed(delta);
        for &s in &ag.services {
            let c = &mut self.service_data[s as usize].by_state[st];
            *c = c.wrapping_add_signed(delta);
        }
    }
}
