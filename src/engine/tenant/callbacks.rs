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
    pub agent: Option<u32>,
    pub assigned_ever: bool,
    /// How it was closed, once it is.
    pub closed: Option<CallbackKind>,
    /// First seen by another event than its `callback.requested`, which has
    /// not come yet: the request, when it comes, moves the callback to the
    /// request's day (and service, if it names one).
    pub awaiting_request: bool,
}

impl CallbackRec {
    /// What this callback adds to the counts of its service and day.
    fn counts(&self) -> CallbackDay {
        let closed = |k| u32::from(self.closed == Some(k));
        CallbackDay {
            requested: 1,
            assigned: u32::from(self.assigned_ever),
            completed: closed(CallbackKind::Completed),
            failed: closed(CallbackKind::Failed),
            deleted: closed(CallbackKind::Deleted),
            moved_out: false,
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
            None if c.kind == CallbackKind::Unassigned => {
                return Outcome::NoEffect(NoEffect::UnknownCallback);
            }
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
                        assigned_ever: false,
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
        let named = if adopts {
            c.service.as_deref().map(|s| self.service(s))
        } else {
            None
        };
        let Some(rec) = self.callbacks.get(key) else {
            return Outcome::NoEffect(NoEffect::UnknownCallback);
        };
        if rec.closed.is_some() {
            if adopts {
                let day = rec.day;
                self.move_callback(key, named, day);
                return Outcome::Applied;
            }
            return Outcome::NoEffect(NoEffect::CallbackClosed);
        }
        let agent = match (c.kind, c.agent.as_deref()) {
            (CallbackKind::Assigned, Some(a)) => Some(self.agent(a)),
            _ => None,
        };
        let Some(rec) = self.callbacks.get_mut(key) else {
            return Outcome::NoEffect(NoEffect::UnknownCallback);
        };
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
                rec.closed = Some(kind);
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
        if adopts {
            self.move_callback(key, named, day);
        }
        Outcome::Applied
    }
}
