//! Calls: queued, answered, ended and the rest; the counters of a queue's day,
//! and the deadlines of calls whose end was lost.

use std::cmp::Reverse;

use hdrhistogram::Histogram;
use xxhash_rust::xxh3::xxh3_64;

use super::Tenant;
use super::intervals::{AgentSlot, Slots};
use super::recent::{Bucket, Recent};
use crate::config::{EwtMethod, Few};
use crate::engine::ring::Reset;
use crate::engine::{NoEffect, Outcome};
use crate::event::{AgentState, CallEvent, CallKind};
use crate::time::{DayNo, Millis};
use crate::wire::{CallCounts, CallTimes, Fold, Within, call_counters, to_s};

macro_rules! engine_counters {
    (
        counts { $( $(#[$cm:meta])* $count:ident, )* }
        times { $( $(#[$tm:meta])* $ms:ident => $s:ident : $fold:ident, )* }
    ) => {
        /// Counters of one day (or interval) for a queue, or for a service
        /// or the tenant for outbound calls and IVR inflow that name no
        /// queue: the table of `wire::counts`, counts in 32 bits and times
        /// in milliseconds.
        // (The table's attributes are the wire's: its docs say what each
        // field is.)
        #[derive(Default, Debug, Clone)]
        pub(crate) struct Counters {
            $( pub $count: u32, )*
            $( pub $ms: u64, )*
            /// Answered calls with a wait within each of the tenant's
            /// thresholds (`Tenant::thresholds`, in its order).
            pub within: [u32; Few::CAP],
        }

        impl Counters {
            pub(crate) fn add(&mut self, o: &Counters) {
                $( self.$count = self.$count.saturating_add(o.$count); )*
                $( self.$ms = Fold::$fold.apply(self.$ms, o.$ms); )*
                for (mine, theirs) in self.within.iter_mut().zip(&o.within) {
                    *mine = mine.saturating_add(*theirs);
                }
            }

            /// The counts, as they travel.
            pub(crate) fn calls(&self) -> CallCounts {
                CallCounts { $( $count: self.$count as u64, )* }
            }

            /// The times, in seconds.
            pub(crate) fn times(&self) -> CallTimes {
                CallTimes { $( $s: to_s(self.$ms), )* }
            }
        }
    };
}
call_counters!(engine_counters);

/// `answered_within` of `c` at `thresholds`, read from its counts at the
/// tenant's thresholds `all` (the order of `Counters::within`).
pub(crate) fn within(c: &Counters, thresholds: Few, all: Few) -> Within {
    Within(
        thresholds
            .iter()
            .filter_map(|t| Some((t, c.within[all.position(t)?] as u64)))
            .collect(),
    )
}

/// Wait times are recorded in whole seconds: exact up to 255 s, 1 % above.
pub(crate) type WaitHistogram = Histogram<u32>;

#[derive(Default, Debug)]
pub(crate) struct QueueDay {
    pub c: Counters,
    /// The same counters by interval of the day.
    pub slots: Slots<Counters>,
    /// Waits of answered calls; created on the first answer of the day.
    pub waits: Option<Box<WaitHistogram>>,
}

impl Reset for QueueDay {
    fn reset(&mut self) {
        self.c = Counters::default();
        self.slots.clear();
        if let Some(h) = &mut self.waits {
            h.reset();
        }
    }
}

impl QueueDay {
    /// Changes the day's counters and those of interval `slot` alike.
    pub(super) fn count(&mut self, slot: u16, f: impl Fn(&mut Counters)) {
        f(&mut self.c);
        f(self.slots.at(slot));
    }

    pub(super) fn record_wait(&mut self, wait_ms: Millis) {
        let h = self.waits.get_or_insert_with(|| {
            Box::new(Histogram::new(2).expect("2 significant figures is a valid precision"))
        });
        h.saturating_record(((wait_ms + 999) / 1000).max(0) as u64);
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
    /// And the interval of that day.
    pub slot: u16,
    pub start: Millis,
    pub phase: Phase,
    pub agent: Option<u32>,
    /// The agent the call is ringing at, and since when: if the call's next
    /// event is not that agent's answer, the agent missed it.
    pub ringing: Option<(u32, Millis)>,
    /// The wait estimated for it when it was queued (ms).
    pub ewt_ms: Option<u32>,
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
pub(super) struct Deadline {
    pub(super) at: Millis,
    /// The call's `start` (waiting) or answer time (answered) when the
    /// deadline was set: a call queued again since has a deadline of its own.
    pub(super) since: Millis,
    pub(super) waiting: bool,
    pub(super) call: Box<str>,
}

/// Calls let go because their end event never came.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    /// Still waiting after `max_wait_s`: counted as `exited`, reason `expired`.
    pub waiting: u64,
    /// Answered and never ended a day later: forgotten.
    pub answered: u64,
}

/// Minutes of ended calls whose mean handle time the `position` estimate uses.
const EWT_HANDLE_MIN: u32 = 60;
/// Minutes of answered calls whose mean wait the `recent_waits` estimate uses.
const EWT_WAITS_MIN: u32 = 15;

/// Ringings of calls not seen yet held at once (see `Tenant::early_rings`).
const MAX_EARLY_RINGS: usize = 1024;

/// A day, the time after which an answered call that never ended is let go.
pub(super) const ANSWERED_FOR_MS: Millis = 86_400_000;

impl Tenant {
    pub(super) fn target(&mut self, queue: Option<&str>, service: Option<&str>) -> Target {
        match (queue, service) {
            (Some(q), s) => Target::Queue(self.queue(q, s)),
            (None, Some(s)) => Target::Service(self.service(s)),
            (None, None) => Target::Tenant,
        }
    }

    pub(super) fn day_mut(&mut self, t: Target, day: DayNo) -> Option<&mut QueueDay> {
        match t {
            Target::Queue(q) => self.queue_data[q as usize].days.get_mut(day),
            Target::Service(s) => self.service_data[s as usize].scope.days.get_mut(day),
            Target::Tenant => self.unscoped.days.get_mut(day),
        }
    }

    /// The call's next event has come: the agent it was ringing at missed
    /// it unless this is that agent's answer.
    pub(super) fn after_ringing(&mut self, call: &str, answered_by: Option<u32>) {
        let Some(live) = self.calls.get_mut(call) else {
            return;
        };
        let Some((agent, at)) = live.ringing.take() else {
            return;
        };
        let (day, _, slot) = self.when(at);
        if let Some(d) = self.agent_day(Some(agent), day) {
            // Marked as changed either way: a figure built while the call
            // was overdue counted a miss there (see `Tenant::overdue`).
            let in_slot = d.slots.at(slot);
            if answered_by != Some(agent) {
                AgentSlot::bump(&mut in_slot.missed);
                d.missed += 1;
            }
        }
    }

    /// The waiting `call` rings at `agent` since `at` (a ringing that came
    /// before the call's `call.queued`).
    fn ring(&mut self, call: &str, agent: u32, at: Millis) {
        if let Some(live) = self.calls.get_mut(call) {
            live.agent = Some(agent);
            live.ringing = Some((agent, at));
            let (day, _, slot) = self.when(at);
            if let Some(d) = self.agent_day(Some(agent), day) {
                d.slots.at(slot);
            }
        }
    }

    /// When the call last finished, if it did within the days kept.
    pub(super) fn ended_at(&self, call: &str) -> Option<Millis> {
        let h = xxh3_64(call.as_bytes());
        self.finished
            .iter()
            .filter_map(|(_, ends)| ends.get(&h).copied())
            .max()
    }

    /// The key of a transfer of `call` to `queue` (see `Tenant::transfers`).
    fn transfer_key(call: &str, queue: &str) -> u64 {
        xxh3_64(call.as_bytes()) ^ xxh3_64(queue.as_bytes()).rotate_left(1)
    }

    /// When `call` was last transferred to `queue`, within the days kept.
    fn transferred_at(&self, call: &str, queue: &str) -> Option<Millis> {
        let k = Self::transfer_key(call, queue);
        self.transfers
            .iter()
            .filter_map(|(_, t)| t.get(&k).copied())
            .max()
    }

    /// Whether a `call.queued` or `call.dialing` at `ts` belongs to a call
    /// already counted: one in progress, or one that ended after `ts` (the
    /// event came late, after the call's end). One dated at or after the
    /// end starts the call again: a transfer, a caller who left one queue
    /// for another.
    fn already_counted(&self, call: &str, ts: Millis) -> bool {
        self.calls.contains_key(call) || self.ended_at(call).is_some_and(|end| ts < end)
    }

    pub(super) fn finish(&mut self, call: &str, ts: Millis) {
        self.calls.remove(call);
        let (day, _) = self.cal.day_hour(ts);
        if let Some(ends) = self.finished.get_mut(day) {
            let end = ends.entry(xxh3_64(call.as_bytes())).or_insert(ts);
            *end = (*end).max(ts);
        }
    }

    /// The bucket of queue `q` for the minute `t` is in (`None`: older than
    /// the queue's recent minutes reach).
    pub(super) fn recent_at(&mut self, q: u32, t: Millis) -> Option<&mut Bucket> {
        let minutes = self.recent_minutes;
        self.queue_data[q as usize]
            .recent
            .get_or_insert_with(|| Box::new(Recent::new(minutes)))
            .at(t)
    }

    /// Agents of service `s` serving now (logged in and not away), and
    /// those of them ready.
    pub(crate) fn serving(&self, s: u32) -> (u32, u32) {
        let by = &self.service_data[s as usize].by_state;
        let serving = by.iter().sum::<u32>()
            - by[AgentState::LoggedOut as usize]
            - by[AgentState::Away as usize];
        (serving, by[AgentState::Ready as usize])
    }

    /// The wait (ms) of a call joining queue `q` at `now` behind `ahead`
    /// calls, by the queue's `ewt_method` (see `docs/definitions.md`).
    /// `None` when no agent serves the queue, or its last hour tells
    /// nothing of how long calls take.
    pub(crate) fn estimate_ms(&self, q: u32, ahead: u32, now: Millis) -> Option<f64> {
        let queue = &self.queue_data[q as usize];
        let (serving, ready) = self.serving(queue.service);
        if serving == 0 {
            return None;
        }
        if queue.settings.ewt_method == EwtMethod::Position && ahead < ready {
            return Some(0.0);
        }
        let means = queue
            .recent
            .as_ref()?
            .means(now, EWT_HANDLE_MIN, EWT_WAITS_MIN);
        match queue.settings.ewt_method {
            EwtMethod::Position => {
                Some((ahead - ready + 1) as f64 * means.handle_ms? / serving as f64)
            }
            EwtMethod::RecentWaits => means.wait_ms,
        }
    }

    /// Starts a waiting call in queue `q` at `at`; counts it as inbound.
    /// With `estimate`, the wait it is expected to have is kept with it
    /// (a call first seen at its end was never estimated).
    pub(super) fn enqueue(&mut self, call: &str, q: u32, at: Millis, estimate: bool) {
        let ewt_ms = if estimate {
            let ahead = self.queue_data[q as usize].waiting;
            self.estimate_ms(q, ahead, at)
                .map(|ms| ms.round().min(u32::MAX as f64) as u32)
        } else {
            None
        };
        self.queue_data[q as usize].waiting += 1;
        if let Some(b) = self.recent_at(q, at) {
            b.c.add(&Counters {
                inbound: 1,
                ..Counters::default()
            });
        }
        let max_wait = self.queue_data[q as usize].settings.max_wait_s;
        if max_wait > 0 {
            self.deadlines.push(Reverse(Deadline {
                at: at.saturating_add(max_wait as Millis * 1000),
                since: at,
                waiting: true,
                call: call.into(),
            }));
        }
        let (day, hour, slot) = self.when(at);
        self.advance(day);
        if let Some(d) = self.queue_data[q as usize].days.get_mut(day) {
            d.count(slot, |c| c.inbound += 1);
        }
        if let Some(h) = self.hourly.get_mut(day) {
            h.inbound[hour as usize] += 1;
        }
        self.calls.insert(
            call.into(),
            Call {
                target: Target::Queue(q),
                day,
                slot,
                start: at,
                phase: Phase::Waiting,
                agent: None,
                ringing: None,
                ewt_ms,
            },
        );
    }

    pub(super) fn apply_call(&mut self, ts: Millis, c: &CallEvent<'_>) -> Outcome {
        let key: &str = &c.call;
        match c.kind {
            CallKind::Ivr => {
                let (day, hour, slot) = self.when(ts);
                self.advance(day);
                let t = self.target(c.queue.as_deref(), c.service.as_deref());
                if let Some(h) = self.hourly.get_mut(day) {
                    h.ivr[hour as usize] += 1;
                }
                if let Some(d) = self.day_mut(t, day) {
                    d.count(slot, |c| c.ivr += 1);
                }
                Outcome::Applied
            }
            CallKind::Queued => {
                let Some(queue) = c.queue.as_deref() else {
                    return Outcome::NoEffect(NoEffect::UnknownCall);
                };
                let q = self.queue(queue, c.service.as_deref());
                if self.already_counted(key, ts) {
                    return Outcome::NoEffect(NoEffect::CallAlreadyLive);
                }
                self.enqueue(key, q, ts, true);
                if let Some((agent, at)) = self.early_rings.remove(key)
                    && at >= ts
                {
                    self.ring(key, agent, at);
                }
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
                        // The interval of the ringing is marked changed: a
                        // figure built while the call is overdue counts a
                        // miss there (see `Tenant::overdue`).
                        let (day, _, slot) = self.when(ts);
                        if let Some(d) = self.agent_day(agent, day) {
                            d.slots.at(slot);
                        }
                        Outcome::Applied
                    }
                    Some(_) => Outcome::NoEffect(NoEffect::CallNotWaiting),
                    None => {
                        // Perhaps its `call.queued` of the same moment
                        // comes next: the ringing waits for it (a bounded
                        // few; past the bound, those waiting are dropped).
                        if let Some(a) = agent
                            && self.ended_at(key).is_none()
                        {
                            if self.early_rings.len() >= MAX_EARLY_RINGS {
                                self.early_rings.clear();
                            }
                            self.early_rings.insert(key.into(), (a, ts));
                        }
                        Outcome::NoEffect(NoEffect::UnknownCall)
                    }
                }
            }
            CallKind::Answered
            | CallKind::Abandoned
            | CallKind::Callback
            | CallKind::Transferred
            | CallKind::Exited => self.end_wait(ts, c, c.kind),
            CallKind::Dialing => {
                if self.already_counted(key, ts) {
                    return Outcome::NoEffect(NoEffect::CallAlreadyLive);
                }
                let (day, _, slot) = self.when(ts);
                self.advance(day);
                let t = self.target(c.queue.as_deref(), c.service.as_deref());
                let agent = c.agent.as_deref().map(|a| self.agent(a));
                if let Some(d) = self.day_mut(t, day) {
                    d.count(slot, |c| c.outbound_attempts += 1);
                }
                if let Some(d) = self.agent_day(agent, day) {
                    d.outbound += 1;
                    AgentSlot::bump(&mut d.slots.at(slot).outbound);
                }
                self.calls.insert(
                    key.into(),
                    Call {
                        target: t,
                        day,
                        slot,
                        start: ts,
                        phase: Phase::Dialing,
                        agent,
                        ringing: None,
                        ewt_ms: None,
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
                let (t, day, slot) = (call.target, call.day, call.slot);
                if let Some(d) = self.day_mut(t, day) {
                    d.count(slot, |c| c.outbound_connected += 1);
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
    pub(super) fn end_wait(&mut self, ts: Millis, c: &CallEvent<'_>, kind: CallKind) -> Outcome {
        let key: &str = &c.call;
        let call = match self.calls.get(key) {
            Some(call) if call.phase == Phase::Waiting => *call,
            Some(_) => return Outcome::NoEffect(NoEffect::CallNotWaiting),
            None => {
                let Some(queue) = c.queue.as_deref() else {
                    return if self.ended_at(key).is_some() {
                        Outcome::NoEffect(NoEffect::CallNotWaiting)
                    } else {
                        Outcome::NoEffect(NoEffect::UnknownCall)
                    };
                };
                // A call that finished is done, unless its last end was a
                // transfer to this queue: its wait here began then, whether
                // its `call.queued` here never came or came first.
                let begun_after = match self.ended_at(key) {
                    None => None,
                    Some(end) => match self.transferred_at(key, queue) {
                        Some(t) if t == end && ts >= t => Some(t),
                        _ => return Outcome::NoEffect(NoEffect::CallNotWaiting),
                    },
                };
                // A wait that began before yesterday belongs to a closed
                // day: counting it now would count its agent's answer and
                // no call of any day kept.
                let start = match begun_after {
                    Some(t) => c.queued_ts.unwrap_or(t).clamp(t, ts),
                    None => c.queued_ts.unwrap_or(ts).min(ts),
                };
                if self.cal.day_hour(start).0 < self.latest_day.saturating_sub(1) {
                    // (A transfer of a closed day: its call is long done.)
                    return Outcome::NoEffect(if begun_after.is_some() {
                        NoEffect::CallNotWaiting
                    } else {
                        NoEffect::TooOld
                    });
                }
                let q = self.queue(queue, c.service.as_deref());
                self.enqueue(key, q, start, false);
                self.calls[key]
            }
        };
        let Target::Queue(q) = call.target else {
            return Outcome::NoEffect(NoEffect::CallNotWaiting);
        };
        let wait = (ts - call.start).max(0);
        let settings = self.queue_data[q as usize].settings;
        let in_sl = wait <= settings.sl_threshold_s as i64 * 1000;
        let short = wait < settings.short_abandon_s as i64 * 1000;
        let wait_ms = wait as u64;
        let thresholds = self.thresholds;
        let ewt_error = match (kind, call.ewt_ms) {
            (CallKind::Answered, Some(ewt)) => Some(
                (wait_ms as i64 - ewt as i64)
                    .unsigned_abs()
                    .min(u32::MAX as u64) as u32,
            ),
            _ => None,
        };
        let count = |c: &mut Counters| match kind {
            CallKind::Answered => {
                c.answered += 1;
                if let Some(e) = ewt_error {
                    c.ewt_scored += 1;
                    c.ewt_error_sum_ms += e as u64;
                }
                c.wait_answered_sum_ms += wait_ms;
                c.wait_answered_max_ms = c.wait_answered_max_ms.max(wait_ms);
                c.answered_in_sl += in_sl as u32;
                for (n, t) in c.within.iter_mut().zip(thresholds.iter()) {
                    *n += (wait_ms <= t as u64 * 1000) as u32;
                }
            }
            CallKind::Abandoned => {
                c.abandoned += 1;
                c.wait_abandoned_sum_ms += wait_ms;
                c.short_abandoned += short as u32;
            }
            CallKind::Callback => c.callbacks += 1,
            CallKind::Transferred => c.transferred += 1,
            _ => c.exited += 1,
        };
        if let Some(d) = self.queue_data[q as usize].days.get_mut(call.day) {
            d.count(call.slot, count);
            if kind == CallKind::Answered {
                d.record_wait(wait);
            }
        }
        let queue = &mut self.queue_data[q as usize];
        queue.waiting = queue.waiting.saturating_sub(1);
        if let Some(b) = self.recent_at(q, ts) {
            let mut change = Counters::default();
            count(&mut change);
            b.c.add(&change);
        }
        if let (Some(e), Some(r)) = (ewt_error, self.queue_data[q as usize].recent.as_mut()) {
            r.push_error(ts, e);
        }
        let agent = match kind {
            CallKind::Answered => c.agent.as_deref().map(|a| self.agent(a)),
            _ => None,
        };
        self.after_ringing(key, agent);
        if kind == CallKind::Answered {
            // The agent's figures follow the agent's clock: the day of the
            // answer, not the day the call was queued.
            let (day, _, slot) = self.when(ts);
            if let Some(d) = self.agent_day(agent, day) {
                d.handled += 1;
                AgentSlot::bump(&mut d.slots.at(slot).handled);
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
            if let (CallKind::Transferred, Some(to)) = (kind, c.to_queue.as_deref()) {
                let (day, _) = self.cal.day_hour(ts);
                if let Some(t) = self.transfers.get_mut(day) {
                    t.insert(Self::transfer_key(key, to), ts);
                }
            }
        }
        Outcome::Applied
    }

    pub(super) fn end_call(&mut self, ts: Millis, c: &CallEvent<'_>) -> Outcome {
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
                let talk = (ts - at).max(0) as u64;
                if let Some(d) = self.day_mut(call.target, call.day) {
                    d.count(call.slot, |c| {
                        c.ended += 1;
                        c.talk_sum_ms += talk;
                    });
                }
                if let Target::Queue(q) = call.target {
                    if let Some(b) = self.recent_at(q, ts) {
                        b.c.add(&Counters {
                            ended: 1,
                            talk_sum_ms: talk,
                            ..Counters::default()
                        });
                    }
                }
                let (answer_day, _, slot) = self.when(at);
                if let Some(d) = self.agent_day(agent, answer_day) {
                    d.talk_ms += talk;
                    d.slots.at(slot).add_talk(talk);
                    d.ended += 1;
                    d.ended_talk_ms += talk;
                }
                if let (Some(a), Target::Queue(q)) = (agent, call.target) {
                    self.agent_data[a as usize].last_call = Some((q, call.day, call.slot));
                }
            }
            Phase::Connected { at } => {
                let (connect_day, _, slot) = self.when(at);
                let talk = (ts - at).max(0) as u64;
                if let Some(d) = self.agent_day(agent, connect_day) {
                    d.talk_ms += talk;
                    d.slots.at(slot).add_talk(talk);
                }
            }
            Phase::Dialing => {}
        }
        self.finish(key, ts);
        Outcome::Applied
    }

    /// When a waiting call's end is overdue: its queue's `max_wait_s` after
    /// it was queued (`None`: not waiting, or a queue that waits forever).
    pub(crate) fn deadline_of(&self, call: &Call) -> Option<Millis> {
        match (call.phase, call.target) {
            (Phase::Waiting, Target::Queue(q)) => {
                let max_wait = self.queue_data[q as usize].settings.max_wait_s;
                (max_wait > 0).then(|| call.start.saturating_add(max_wait as Millis * 1000))
            }
            _ => None,
        }
    }

    /// The waiting calls whose end is overdue at `now`, with their
    /// deadlines. Every figure built at `now` counts each as `exited` on its
    /// queued day (and a miss for the agent it was ringing at), as
    /// [`Tenant::expire`] at `now` would; the state lets it go only when an
    /// event of the tenant passes its deadline. So what the wall clock does
    /// is a view, never a change: a backlog that brings the call's real end
    /// afterwards still counts it as replay does.
    pub(crate) fn overdue(&self, now: Millis) -> impl Iterator<Item = (&Call, Millis)> + '_ {
        self.calls
            .values()
            .filter_map(move |c| self.deadline_of(c).filter(|&d| d <= now).map(|d| (c, d)))
    }

    /// Calls the engine would let go at `now`, of those it still follows:
    /// waiting past their deadline, and answered a day ago and never ended.
    pub fn overdue_count(&self, now: Millis) -> Expired {
        let mut n = Expired::default();
        for c in self.calls.values() {
            match c.phase {
                Phase::Answered { at } if at.saturating_add(ANSWERED_FOR_MS) <= now => {
                    n.answered += 1;
                }
                Phase::Answered { .. } => {}
                _ if self.deadline_of(c).is_some_and(|d| d <= now) => n.waiting += 1,
                _ => {}
            }
        }
        n
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
                        day.count(call.slot, |c| c.exited += 1);
                    }
                    let queue = &mut self.queue_data[q as usize];
                    queue.waiting = queue.waiting.saturating_sub(1);
                    if let Some(b) = self.recent_at(q, d.at) {
                        b.c.add(&Counters {
                            exited: 1,
                            ..Counters::default()
                        });
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
}
