//! What outlives the two days a tenant's state keeps: each agent's state,
//! membership and name (an agent may stay logged in over a weekend), and
//! the callbacks still open (they count per agent whatever day they were
//! requested).
//!
//! The tenant keeps these facts as they were at the start of today and of
//! yesterday (local midnights), each taken when the first event of the new
//! day arrives, as the tenant knew them then. The facts as of the start of
//! yesterday ([`Tenant::standing`]), restored into an empty tenant
//! ([`Tenant::restore`]) followed by the events sent from that instant on,
//! give the state that every event from the beginning gives: the restored
//! versions make the older events that are read again count nothing, as
//! they would have.
//!
//! A late event dated before a midnight but sent after it is *not* folded
//! into that midnight's facts: it is read again after a restore, in its
//! place among the others, and changes the agent there as it did live. Had
//! the facts taken it in, a restored tenant would have known it from the
//! midnight on, before it was sent, and what was computed in between with
//! what was known then (a waiting call's estimated wait, made when it was
//! queued) would come out otherwise.

use std::sync::Arc;

use super::Tenant;
use super::agents::Version;
use super::callbacks::CallbackRec;
use crate::event::AgentState;
use crate::time::{DayNo, Millis};
use crate::wire::{
    Standing, StandingAgent, StandingCallback, StandingName, StandingServices, StandingState,
    StandingVersion,
};

/// An agent's facts, each with the version that set it (`None`: never set).
#[derive(Debug, Clone, Default)]
pub(crate) struct AgentFacts {
    state: Option<(AgentState, Option<u32>, Millis, Version)>,
    services: Option<(Vec<u32>, Version)>,
    name: Option<(Option<Arc<str>>, Version)>,
}

#[derive(Debug, Clone)]
pub(crate) struct CallbackFacts {
    service: Option<u32>,
    day: DayNo,
    agent: Option<u32>,
    agent_at: Millis,
    assigned_at: Option<Millis>,
    awaiting_request: bool,
}

/// The facts as of the instant `at`.
#[derive(Debug, Clone)]
pub(crate) struct Mark {
    pub(super) at: Millis,
    /// By agent index; agents past the end had no facts yet.
    agents: Vec<AgentFacts>,
    callbacks: Vec<(Box<str>, CallbackFacts)>,
}

impl Default for Mark {
    fn default() -> Self {
        Mark {
            at: Millis::MIN,
            agents: Vec::new(),
            callbacks: Vec::new(),
        }
    }
}

fn version(v: &StandingVersion) -> Version {
    Version {
        ts: v.ts,
        ids: v.ids.clone(),
    }
}

fn wire_version(v: &Version) -> StandingVersion {
    StandingVersion {
        ts: v.ts,
        ids: v.ids.clone(),
    }
}

impl Tenant {
    /// The facts now.
    fn facts_now(&self, at: Millis) -> Mark {
        let agents = self
            .agent_data
            .iter()
            .map(|ag| AgentFacts {
                state: (ag.ver.ts != Millis::MIN).then(|| {
                    (
                        ag.state,
                        ag.reason,
                        ag.since.unwrap_or(ag.ver.ts),
                        ag.ver.clone(),
                    )
                }),
                services: (ag.services_ver.ts != Millis::MIN)
                    .then(|| (ag.services.clone(), ag.services_ver.clone())),
                name: (ag.name_ver.ts != Millis::MIN)
                    .then(|| (ag.name.clone(), ag.name_ver.clone())),
            })
            .collect();
        let callbacks = self
            .callbacks
            .iter()
            .filter(|(_, cb)| cb.closed.is_none())
            .map(|(id, cb)| {
                (
                    id.clone(),
                    CallbackFacts {
                        service: cb.service,
                        day: cb.day,
                        agent: cb.agent,
                        agent_at: cb.agent_at,
                        assigned_at: cb.assigned_at,
                        awaiting_request: cb.awaiting_request,
                    },
                )
            })
            .collect();
        Mark {
            at,
            agents,
            callbacks,
        }
    }

    /// The first event at or after the next local midnight: the facts
    /// before it are those of the midnight.
    pub(super) fn roll_marks(&mut self, ts: Millis) {
        let (_, start, end) = self.cal.span(ts);
        let (_, prev_start, _) = self.cal.span(start - 1);
        let now = self.facts_now(start);
        self.marks[0] = if self.marks[1].at == prev_start {
            std::mem::take(&mut self.marks[1])
        } else {
            // No event since before yesterday: nothing changed since.
            Mark {
                at: prev_start,
                ..now.clone()
            }
        };
        self.marks[1] = now;
        self.next_mark = end;
    }

    /// The facts as of the start of yesterday (the local day before `now`'s).
    pub fn standing(&mut self, now: Millis) -> Standing {
        let (_, today, _) = self.cal.span(now);
        let (_, yesterday, _) = self.cal.span(today - 1);
        let current;
        let mark = if let Some(m) = self.marks.iter().find(|m| m.at == yesterday) {
            m
        } else if self.marks[1].at < yesterday {
            // No event since before yesterday began: the facts now are those.
            current = self.facts_now(yesterday);
            &current
        } else {
            // The events run ahead of `now`: the oldest facts kept.
            &self.marks[0]
        };
        let agents = mark
            .agents
            .iter()
            .enumerate()
            .filter(|(_, f)| f.state.is_some() || f.services.is_some() || f.name.is_some())
            .map(|(i, f)| StandingAgent {
                agent: self.agents.name(i as u32).clone(),
                state: f
                    .state
                    .as_ref()
                    .map(|(state, reason, since, ver)| StandingState {
                        state: *state,
                        reason: reason.map(|r| self.reasons.name(r).clone()),
                        since: *since,
                        ver: wire_version(ver),
                    }),
                services: f.services.as_ref().map(|(list, ver)| StandingServices {
                    services: list
                        .iter()
                        .map(|&s| self.services.name(s).clone())
                        .collect(),
                    ver: wire_version(ver),
                }),
                name: f.name.as_ref().map(|(name, ver)| StandingName {
                    name: name.clone(),
                    ver: wire_version(ver),
                }),
            })
            .collect();
        let mut callbacks: Vec<StandingCallback> = mark
            .callbacks
            .iter()
            .map(|(id, c)| StandingCallback {
                callback: Arc::from(&**id),
                service: c.service.map(|s| self.services.name(s).clone()),
                day: c.day,
                agent: c.agent.map(|a| self.agents.name(a).clone()),
                assigned_ever: c.assigned_at.is_some(),
                assigned_at: c.assigned_at,
                agent_at: (c.agent_at != Millis::MIN).then_some(c.agent_at),
                awaiting_request: c.awaiting_request,
            })
            .collect();
        callbacks.sort_by(|a, b| a.callback.cmp(&b.callback));
        Standing {
            v: 1,
            tenant: self.name.clone(),
            as_of: mark.at,
            agents,
            callbacks,
        }
    }

    /// Takes the facts of a standing where they are newer than what the
    /// tenant has (a new tenant has nothing): before the events from
    /// `standing.as_of` on are read again.
    pub fn restore(&mut self, standing: &Standing) {
        for sa in &standing.agents {
            let idx = self.agent(&sa.agent);
            self.count_agent(idx, -1);
            if let Some(s) = &sa.state {
                let reason = s.reason.as_deref().map(|r| self.reasons.intern(r).0);
                let ag = &mut self.agent_data[idx as usize];
                if s.ver.ts > ag.ver.ts {
                    ag.state = s.state;
                    ag.reason = reason;
                    ag.since = Some(s.since);
                    ag.ver = version(&s.ver);
                    ag.wrap_from = (s.state == AgentState::WrapUp).then_some(s.since);
                    ag.last_call = None;
                }
            }
            if let Some(sv) = &sa.services {
                let mut v: Vec<u32> = sv.services.iter().map(|s| self.service(s)).collect();
                v.sort_unstable();
                v.dedup();
                let mut names: Vec<Arc<str>> =
                    v.iter().map(|&s| self.services.name(s).clone()).collect();
                names.sort_unstable();
                let ag = &mut self.agent_data[idx as usize];
                if sv.ver.ts > ag.services_ver.ts {
                    ag.services = v;
                    ag.service_names = Arc::from(names);
                    ag.services_ver = version(&sv.ver);
                }
            }
            if let Some(n) = &sa.name {
                let ag = &mut self.agent_data[idx as usize];
                if n.ver.ts > ag.name_ver.ts {
                    ag.name = n.name.clone();
                    ag.name_ver = version(&n.ver);
                }
            }
            self.count_agent(idx, 1);
        }
        for c in &standing.callbacks {
            if self.callbacks.contains_key(&*c.callback) {
                continue;
            }
            let service = c.service.as_deref().map(|s| self.service(s));
            let agent = c.agent.as_deref().map(|a| self.agent(a));
            if let Some(a) = agent {
                self.agent_data[a as usize].open_callbacks += 1;
            }
            self.callbacks.insert(
                Box::from(&*c.callback),
                CallbackRec {
                    service,
                    day: c.day,
                    agent,
                    agent_at: c.agent_at.unwrap_or(Millis::MIN),
                    // Facts written before the time was kept: assigned
                    // before anything that can still come.
                    assigned_at: c.assigned_at.or(c.assigned_ever.then_some(Millis::MIN)),
                    closed: None,
                    awaiting_request: c.awaiting_request,
                },
            );
        }
        if self.marks[1].at < standing.as_of {
            let (_, _, end) = self.cal.span(standing.as_of);
            self.marks = [Mark::default(), self.facts_now(standing.as_of)];
            self.next_mark = end;
        }
        self.dirty = true;
    }
}
