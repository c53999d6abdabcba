//! Callbacks: requested, assigned and closed, and their counts of the day.

use super::Tenant;
use crate::engine::ring::Reset;
use crate::engine::{NoEffect, Outcome};
use crate::event::{CallbackEvent, CallbackKind};
use crate::time::{DayNo, Millis};

#[derive(Default, Debug, Clone)]
pub(crate) struct CallbackDay {
    pub requested: u32,
    pub assigned: u32,
    pub completed: u32,
    pub failed: u32,
    pub deleted: u32,
    /// Callbacks moved away from here since (their request came late): a
    /// row left without requests is then worth telling the store.
    pub moved_out: bool,
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

    fn remove(&mut self, o: &CallbackDay) {
        self.requested = self.requested.saturating_sub(o.requested);
        self.assigned = self.assigned.saturating_sub(o.assigned);
        self.completed = self.completed.saturating_sub(o.completed);
        self.failed = self.failed.saturating_sub(o.failed);
        self.deleted = self.deleted.saturating_sub(o.deleted);
    }
}

#[derive(Debug)]
pub(crate) struct CallbackRec {
    pub service: Option<u32>,
    pub day: DayNo,
    /// The agent of its newest assignment or unassignment (by `ts`), and
    /// that event's `ts`; open callbacks count for the agent until closed.
    pub agent: Option<u32>,
    pub agent_at: Millis,
    /// The `ts` of its earliest `callback.assigned`.
    pub assigned_at: Option<Millis>,
    /// Its earliest close by `ts`, and that `ts`: later closes change
    /// nothing, whatever order they are delivered in.
    pub closed: Option<(CallbackKind, Millis)>,
    /// First seen by another event than its `callback.requested`, which has
    /// not come yet: the request, when it comes, moves the callback to the
    /// request's day (and service, if it names one).
    pub awaiting_request: bool,
}

impl CallbackRec {
    /// What this callback adds to the counts of its service and day. It
    /// counts as assigned when an assignment came at or before its close,
    /// or when it was completed or failed (someone processed it).
    fn counts(&self) -> CallbackDay {
        let kind = self.closed.map(|(k, _)| k);
        let closed = |k| u32::from(kind == Some(k));
        let processed = matches!(kind, Some(CallbackKind::Completed | CallbackKind::Failed));
        let assigned_in_time = match (self.assigned_at, self.closed) {
            (Some(at), Some((_, end))) => at <= end,
            (Some(_), None) => true,
            (None, _) => false,
        };
        CallbackDay {
            requested: 1,
            assigned: u32::from(processed || assigned_in_time),
            completed: closed(CallbackKind::Completed),
            failed: closed(CallbackKind::Failed),
            deleted: closed(CallbackKind::Deleted),
            moved_out: false,
        }
    }

    /// The agent it is open for, if any.
    pub(crate) fn open_agent(&self) -> Option<u32> {
        if self.closed.is_some() {
            None
        } else {
            self.agent
        }
    }

    /// Applies an assignment, an unassignment or a close at `ts`, or says
    /// why it changes nothing. The rules hold in any order of delivery: the
    /// newest assignment (same `ts`: the one delivered later), the
    /// earliest close (same `ts`: the one delivered first).
    fn update(
        &mut self,
        kind: CallbackKind,
        ts: Millis,
        agent: Option<u32>,
    ) -> Result<(), NoEffect> {
        if self.closed.is_some_and(|(_, end)| ts > end) {
            return Err(NoEffect::CallbackClosed);
        }
        let changed = match kind {
            CallbackKind::Requested => false,
            CallbackKind::Assigned | CallbackKind::Unassigned => {
                let mut changed = false;
                if kind == CallbackKind::Assigned && self.assigned_at.is_none_or(|at| ts < at) {
                    self.assigned_at = Some(ts);
                    changed = true;
                }
                let agent = if kind == CallbackKind::Assigned {
                    agent
                } else {
                    None
                };
                if ts >= self.agent_at {
                    changed |= self.agent != agent || self.agent_at != ts;
                    self.agent = agent;
                    self.agent_at = ts;
                }
                changed
            }
            close => {
                if self.closed.is_some_and(|(_, end)| ts == end) {
                    // Closed at this very `ts` already.
                    return Err(NoEffect::CallbackClosed);
                }
                self.closed = Some((close, ts));
                true
            }
        };
        if changed {
            Ok(())
        } else {
            Err(NoEffect::CallbackStale)
        }
    }
}

impl Tenant {
    pub(super) fn callback_day(
        &mut self,
        service: Option<u32>,
        day: DayNo,
    ) -> Option<&mut CallbackDay> {
        match service {
            Some(s) => self.service_data[s as usize].scope.callbacks.get_mut(day),
            None => self.unscoped.callbacks.get_mut(day),
        }
    }

    /// Moves a callback's counts to another service or day.
    fn move_callback(&mut self, key: &str, service: Option<u32>, day: DayNo) {
        let Some(rec) = self.callbacks.get_mut(key) else {
            return;
        };
        if (rec.service, rec.day) == (service, day) {
            return;
        }
        let (from_service, from_day) = (rec.service, rec.day);
        (rec.service, rec.day) = (service, day);
        let counts = rec.counts();
        if let Some(d) = self.callback_day(from_service, from_day) {
            d.remove(&counts);
            d.moved_out = true;
        }
        if let Some(d) = self.callback_day(service, day) {
            d.add(&counts);
        }
    }

    pub(super) fn apply_callback(&mut self, ts: Millis, c: &CallbackEvent<'_>) -> Outcome {
        let key: &str = &c.callback;
        // Names are resolved (and so created) only where the event uses
        // them: an event that changes nothing adds no service or agent.
        match self.callbacks.get(key) {
            None => {
                // A callback first seen assigned or closed was requested then
                // (until its request says otherwise).
                let named = c.service.as_deref().map(|s| self.service(s));
                let (day, _) = self.cal.day_hour(ts);
                self.advance(day);
                if let Some(d) = self.callback_day(named, day) {
                    d.requested += 1;
                }
                self.callbacks.insert(
                    key.into(),
                    CallbackRec {
                        service: named,
                        day,
                        agent: None,
                        agent_at: Millis::MIN,
                        assigned_at: None,
                        closed: None,
                        awaiting_request: c.kind != CallbackKind::Requested,
                    },
                );
                if c.kind == CallbackKind::Requested {
                    return Outcome::Applied;
                }
            }
            Some(rec) if c.kind == CallbackKind::Requested => {
                if !rec.awaiting_request {
                    return Outcome::NoEffect(NoEffect::CallbackKnown);
                }
                // The request came after another of its events: the
                // callback belongs to the request's day, and to the service
                // it names (or the one the others named).
                let known = rec.service;
                let service = match c.service.as_deref() {
                    Some(s) => Some(self.service(s)),
                    None => known,
                };
                let (day, _) = self.cal.day_hour(ts);
                self.advance(day);
                if let Some(rec) = self.callbacks.get_mut(key) {
                    rec.awaiting_request = false;
                }
                self.move_callback(key, service, day);
                return Outcome::Applied;
            }
            Some(_) => {}
        }
        let Some(rec) = self.callbacks.get(key) else {
            return Outcome::NoEffect(NoEffect::UnknownCallback);
        };
        // A service named when none is known yet is the callback's (until
        // a request names another), whenever the event naming it comes:
        // after the close too, so that the service does not depend on the
        // order of delivery.
        let adopts = rec.service.is_none() && c.service.is_some();
        let before_close = rec.closed.is_none_or(|(_, end)| ts <= end);
        // Still without its request, the callback belongs to the day of its
        // earliest event, whichever is delivered first.
        let (day, _) = self.cal.day_hour(ts);
        let earlier = (rec.awaiting_request && day < rec.day).then_some((rec.service, day));
        let named = if adopts {
            c.service.as_deref().map(|s| self.service(s))
        } else {
            None
        };
        let agent = match (c.kind, c.agent.as_deref()) {
            (CallbackKind::Assigned, Some(a)) if before_close => Some(self.agent(a)),
            _ => None,
        };
        if let Some((service, day)) = earlier {
            self.move_callback(key, service, day);
        }
        let Some(rec) = self.callbacks.get_mut(key) else {
            return Outcome::NoEffect(NoEffect::UnknownCallback);
        };
        let (service, day) = (rec.service, rec.day);
        let (before, old) = (rec.counts(), rec.open_agent());
        let changed = rec.update(c.kind, ts, agent);
        let (after, new) = (rec.counts(), rec.open_agent());
        if let Err(why) = changed
            && !adopts
        {
            return Outcome::NoEffect(why);
        }
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
            d.remove(&before);
            d.add(&after);
        }
        if adopts {
            self.move_callback(key, named, day);
        }
        Outcome::Applied
    }
}
