//! The interval rows a tenant gives: to `replay --intervals` (all of
//! them) and to the history store (those changed since it was last given
//! rows). Agents' rows by the agent's clock, with the current state run to
//! now; callbacks by request day; queues (and what has no queue) by the
//! interval a call was queued in, with the calls overdue then as exited.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::intervals::{AgentSlot, secs, slices};
use super::{AgentDay, Counters, Target, Tenant};
use crate::config::Few;
use crate::event::AgentState;
use crate::time::{DayNo, Millis};
use crate::wire::{AgentInterval, CallbackInterval, IntervalRow, QueueInterval, StateTimes};

impl Tenant {
    /// The rows of `days` as of `now`; with `changed_since`, only those
    /// changed by events since the last settling, or run through by a
    /// current state after that time. Intervals that start before the
    /// instant the state is whole from are left out: the state holds only
    /// part of them.
    pub(super) fn rows(
        &self,
        now: Millis,
        changed_since: Option<Millis>,
        days: &[(DayNo, Millis, Millis)],
    ) -> Vec<IntervalRow> {
        let view = RowView {
            tenant: self,
            now,
            changed_since,
            days,
            slot_ms: self.slot_ms(),
        };
        let overdue = self.overdue_by_interval(&view);
        let mut rows = Vec::new();
        for a in self.agents.sorted() {
            self.agent_rows(&view, a, &overdue.misses, &mut rows);
        }
        self.callback_rows(&view, &mut rows);
        self.queue_rows(&view, &overdue.exits, &mut rows);
        rows
    }

    /// Calls whose end is overdue at `now` count as exited in their
    /// interval, and as missed by the agent they rang at, as in the
    /// snapshot; an interval is given again when one became overdue since
    /// the store was last given rows.
    fn overdue_by_interval(&self, view: &RowView<'_>) -> Overdue {
        let given_before =
            |deadline: Millis| view.changed_since.is_some_and(|since| deadline <= since);
        let mut overdue = Overdue::default();
        for (call, deadline) in self.overdue(view.now) {
            let Target::Queue(q) = call.target else {
                continue;
            };
            let e = overdue.exits.entry((q, call.day, call.slot)).or_default();
            e.0 += 1;
            e.1 |= !given_before(deadline);
            if let Some((agent, at)) = call.ringing {
                let (day, start, _) = self.cal.span_of(at);
                let slot = ((at - start) / view.slot_ms) as u16;
                overdue
                    .misses
                    .push((agent, day, slot, !given_before(deadline)));
            }
        }
        overdue
    }

    /// An agent's rows: finished states from the store, the current one to
    /// now, calls overdue while ringing at the agent as missed.
    fn agent_rows(
        &self,
        view: &RowView<'_>,
        a: u32,
        overdue_misses: &[(u32, DayNo, u16, bool)],
        rows: &mut Vec<IntervalRow>,
    ) {
        let ag = &self.agent_data[a as usize];
        let mut by_start: BTreeMap<Millis, AgentRow> = BTreeMap::new();
        for (day, d) in ag.days.iter() {
            let Some(ds) = view.day_start(day) else {
                continue;
            };
            for (slot, s, changed) in d.slots.iter() {
                if view.wanted(changed) && view.whole(ds, slot) {
                    let (ms, text) = view.start_of(ds, slot);
                    by_start.insert(ms, (text, s.clone(), away_of(d, slot), true));
                }
            }
        }
        // What events wrote into an interval, unless already taken as
        // changed.
        let stored = |day: DayNo, slot: u16, text: String| -> AgentRow {
            let d = ag.days.get(day);
            let slot_data = d.and_then(|d| d.slots.get(slot)).cloned();
            let away = d.map(|d| away_of(d, slot)).unwrap_or_default();
            (text, slot_data.unwrap_or_default(), away, false)
        };
        for &(_, day, slot, new) in overdue_misses.iter().filter(|m| m.0 == a) {
            let Some(ds) = view.day_start(day).filter(|&ds| view.whole(ds, slot)) else {
                continue;
            };
            let (ms, text) = view.start_of(ds, slot);
            let entry = by_start
                .entry(ms)
                .or_insert_with(|| stored(day, slot, text));
            AgentSlot::bump(&mut entry.1.missed);
            entry.3 |= new;
        }
        if let Some(since) = ag.since {
            let logged_in = ag.state != AgentState::LoggedOut;
            // A state that replaced the one the store was given rows of (a
            // late or tied event) restates every interval from its start to
            // then, even those it leaves empty.
            let end = match view.changed_since {
                _ if logged_in => view.now,
                Some(given) if ag.restated => given.min(view.now),
                _ => since,
            };
            // ... and from where the state the store was given began.
            let from = match (view.changed_since, ag.given_since) {
                (Some(_), Some(given)) if ag.restated => since.min(given),
                _ => since,
            };
            for &(day, ds, day_end) in view.days {
                let (a, b) = (from.max(ds).max(self.whole_from), end.min(day_end));
                for (slot, t, upto) in slices(a, b, ds, view.slot_ms) {
                    let (ms, text) = view.start_of(ds, slot);
                    let entry = by_start
                        .entry(ms)
                        .or_insert_with(|| stored(day, slot, text));
                    if logged_in && upto > since {
                        let ms = (upto - t.max(since)) as u32;
                        entry.1.time_ms[ag.state as usize] += ms;
                        if ag.state == AgentState::Away {
                            *entry.2.entry(ag.reason).or_default() += ms;
                        }
                    }
                    // Run through since the store was last given rows.
                    entry.3 |= ag.restated || view.changed_since.is_none_or(|given| upto > given);
                }
            }
        }
        let reason = |r: Option<u32>| -> Arc<str> {
            r.map_or_else(|| Arc::from(""), |r| self.reasons.name(r).clone())
        };
        for (_, (start, s, away_ms, _)) in by_start.into_iter().filter(|(_, e)| e.3) {
            let t = |st: AgentState| secs(s.time_ms[st as usize] as u64);
            let mut away: BTreeMap<Arc<str>, f64> = BTreeMap::new();
            for (&r, &ms) in &away_ms {
                *away.entry(reason(r)).or_default() += secs(ms as u64);
            }
            let row = IntervalRow::Agent(AgentInterval {
                tenant: self.name.clone(),
                agent: self.agents.name(a).clone(),
                name: self.agent_data[a as usize].name.clone(),
                start,
                minutes: self.settings.interval_minutes,
                time_s: StateTimes::from_states(t),
                away_s: away,
                handled: s.handled as u64,
                missed: s.missed as u64,
                talk_s: secs(s.talk_ms as u64),
                outbound: s.outbound as u64,
            });
            // An interval left empty is only worth telling the store, which
            // deletes it.
            if view.changed_since.is_some() || !row.is_empty() {
                rows.push(row);
            }
        }
    }

    /// Callbacks, per service and request day.
    fn callback_rows(&self, view: &RowView<'_>, rows: &mut Vec<IntervalRow>) {
        let mut callback_row = |service: Option<Arc<str>>, day: DayNo, d: &super::CallbackDay| {
            // A row its callbacks moved away from is only worth telling the
            // store, which deletes it.
            if view.day_start(day).is_none_or(|ds| ds < self.whole_from)
                || (d.requested == 0 && !(d.moved_out && view.changed_since.is_some()))
                || !view.wanted(self.callbacks_changed)
            {
                return;
            }
            rows.push(IntervalRow::Callback(CallbackInterval {
                tenant: self.name.clone(),
                service,
                day: crate::time::format_day(day),
                requested: d.requested as u64,
                assigned: d.assigned as u64,
                completed: d.completed as u64,
                failed: d.failed as u64,
                deleted: d.deleted as u64,
                open: d
                    .requested
                    .saturating_sub(d.completed + d.failed + d.deleted)
                    as u64,
            }));
        };
        for s in self.services.sorted() {
            let mut days: Vec<_> = self.service_data[s as usize]
                .scope
                .callbacks
                .iter()
                .collect();
            days.sort_by_key(|(day, _)| *day);
            for (day, d) in days {
                callback_row(Some(self.services.name(s).clone()), day, d);
            }
        }
        let mut days: Vec<_> = self.unscoped.callbacks.iter().collect();
        days.sort_by_key(|(day, _)| *day);
        for (day, d) in days {
            callback_row(None, day, d);
        }
    }

    /// Queues, then figures of a service or the tenant with no queue
    /// (outbound calls that name none).
    fn queue_rows(
        &self,
        view: &RowView<'_>,
        overdue_exits: &OverdueExits,
        rows: &mut Vec<IntervalRow>,
    ) {
        for q in self.queues.sorted() {
            let data = &self.queue_data[q as usize];
            let overdue = |day: DayNo, slot: u16| {
                overdue_exits
                    .get(&(q, day, slot))
                    .copied()
                    .unwrap_or_default()
            };
            self.scope_rows(
                view,
                (
                    Some(self.queues.name(q).clone()),
                    Some(self.services.name(data.service).clone()),
                ),
                (&data.days, data.settings.sl_thresholds_s),
                &overdue,
                rows,
            );
        }
        let none = |_: DayNo, _: u16| (0, false);
        for s in self.services.sorted() {
            self.scope_rows(
                view,
                (None, Some(self.services.name(s).clone())),
                (&self.service_data[s as usize].scope.days, Few::default()),
                &none,
                rows,
            );
        }
        self.scope_rows(
            view,
            (None, None),
            (&self.unscoped.days, Few::default()),
            &none,
            rows,
        );
    }

    /// The rows of one queue (or of a service or the tenant with no queue),
    /// in time order, with the calls overdue in each interval as exited.
    fn scope_rows(
        &self,
        view: &RowView<'_>,
        (queue, service): (Option<Arc<str>>, Option<Arc<str>>),
        (days, thresholds): (&crate::engine::ring::DayRing<super::QueueDay>, Few),
        overdue: &dyn Fn(DayNo, u16) -> (u32, bool),
        rows: &mut Vec<IntervalRow>,
    ) {
        let mut all: Vec<(Millis, String, Counters)> = Vec::new();
        for (day, d) in days.iter() {
            let Some(ds) = view.day_start(day) else {
                continue;
            };
            for (slot, c, changed) in d.slots.iter() {
                let (exits, new) = overdue(day, slot);
                if view.wanted(changed || new) && view.whole(ds, slot) {
                    let (ms, text) = view.start_of(ds, slot);
                    let mut c = c.clone();
                    c.exited += exits;
                    all.push((ms, text, c));
                }
            }
        }
        all.sort_by_key(|(ms, _, _)| *ms);
        for (_, start, c) in all {
            rows.push(IntervalRow::Queue(QueueInterval {
                tenant: self.name.clone(),
                queue: queue.clone(),
                service: service.clone(),
                start,
                minutes: self.settings.interval_minutes,
                calls: c.calls(),
                times: c.times(),
                answered_within: super::within(&c, thresholds, self.thresholds),
            }));
        }
    }
}

/// What the rows of one look are made for: the open days, as of `now`, and
/// with `changed_since` only what changed since the store was last given
/// rows.
struct RowView<'a> {
    tenant: &'a Tenant,
    now: Millis,
    changed_since: Option<Millis>,
    days: &'a [(DayNo, Millis, Millis)],
    slot_ms: Millis,
}

impl RowView<'_> {
    /// Whether an interval so marked is given.
    fn wanted(&self, changed: bool) -> bool {
        self.changed_since.is_none() || changed
    }

    /// The start of one of the open days.
    fn day_start(&self, day: DayNo) -> Option<Millis> {
        self.days
            .iter()
            .find(|(d, _, _)| *d == day)
            .map(|(_, start, _)| *start)
    }

    /// Whether the state holds the whole interval (it begins at or after
    /// the instant the state is whole from).
    fn whole(&self, day_start: Millis, slot: u16) -> bool {
        day_start + slot as Millis * self.slot_ms >= self.tenant.whole_from
    }

    /// An interval's start, as an instant and as local RFC 3339 text.
    fn start_of(&self, day_start: Millis, slot: u16) -> (Millis, String) {
        let ms = day_start + slot as Millis * self.slot_ms;
        (ms, crate::time::format_local(ms, &self.tenant.settings.tz))
    }
}

/// Overdue calls by queue, day and interval: how many, and whether one
/// became overdue since the store was last given rows.
type OverdueExits = BTreeMap<(u32, DayNo, u16), (u32, bool)>;

#[derive(Default)]
struct Overdue {
    exits: OverdueExits,
    /// Agent, day, interval, and whether new since the last look.
    misses: Vec<(u32, DayNo, u16, bool)>,
}

/// An agent's interval as it is put together: its start as text, its
/// figures, its away time by reason, and whether it is to be given.
type AgentRow = (String, AgentSlot, BTreeMap<Option<u32>, u32>, bool);

/// The day's away time of one interval (the list is in interval order).
fn away_of(d: &AgentDay, slot: u16) -> BTreeMap<Option<u32>, u32> {
    let from = d.away_slots.partition_point(|e| e.0 < slot);
    d.away_slots[from..]
        .iter()
        .take_while(|e| e.0 == slot)
        .map(|&(_, r, ms)| (r, ms))
        .collect()
}
