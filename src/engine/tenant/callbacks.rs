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

#[derive(Debug)]
pub(crate) struct CallbackRec {
    pub service: Option<u32>,
    pub day: DayNo,
    pub agent: Option<u32>,
    pub assigned_ever: bool,
    pub closed: bool,
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

    pub(super) fn apply_callback(&mut self, ts: Millis, c: &CallbackEvent<'_>) -> Outcome {
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
}
