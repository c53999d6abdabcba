//! Interval statistics: the day's counters cut into fixed intervals of the
//! tenant's local day (15 minutes by default), kept beside the day counters
//! and written at the same moments, so that a day's intervals sum exactly
//! to the day.
//!
//! An interval is numbered by the time elapsed since the local day's start
//! (`slot` = elapsed / interval), so a day with a daylight-saving change has
//! one interval more or less, and a repeated hour has intervals of its own
//! (their starts differ by their offsets).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{AgentDay, Counters, Target, Tenant};
use crate::event::AgentState;
use crate::time::{DayNo, Millis};
use crate::wire::{AgentInterval, CallbackInterval, IntervalRow, QueueInterval, StateTimes};

/// The most days whose rows are open at once: a tenant silent for longer
/// has its agents' current states written for its last days only.
pub(crate) const MAX_OPEN_DAYS: DayNo = 62;

/// Values by interval of one day, only those with activity, in order; each
/// marked when it changes, until the history store has been given it.
#[derive(Debug, Clone)]
pub(crate) struct Slots<T>(Vec<(u16, T, bool)>);

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots(Vec::new())
    }
}

impl<T: Default> Slots<T> {
    /// The value of interval `slot` for a change, created empty on first
    /// use.
    pub(crate) fn at(&mut self, slot: u16) -> &mut T {
        // Nearly always the latest interval, which is the last entry.
        let i = match self.0.last() {
            Some((s, _, _)) if *s == slot => self.0.len() - 1,
            _ => match self.0.binary_search_by_key(&slot, |(s, _, _)| *s) {
                Ok(i) => i,
                Err(i) => {
                    // A day has at most 100 intervals: past the first few,
                    // grow by eight, not by doubling, so a full day wastes
                    // no room.
                    if self.0.len() >= 8 && self.0.len() == self.0.capacity() {
                        self.0.reserve_exact(8);
                    }
                    self.0.insert(i, (slot, T::default(), true));
                    i
                }
            },
        };
        self.0[i].2 = true;
        &mut self.0[i].1
    }

    /// Each interval, its value and whether it changed since
    /// [`Slots::settle`].
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u16, &T, bool)> {
        self.0.iter().map(|(s, v, c)| (*s, v, *c))
    }

    /// Marks every interval as given to the store.
    pub(crate) fn settle(&mut self) {
        for e in &mut self.0 {
            e.2 = false;
        }
    }

    /// The value of interval `slot`, if it has one.
    pub(crate) fn get(&self, slot: u16) -> Option<&T> {
        self.0
            .binary_search_by_key(&slot, |(s, _, _)| *s)
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

/// An agent's figures of one interval, by the agent's own clock. Small
/// (48 bytes with its key): an agent logged in around the clock has one per
/// interval of both days kept. Its away time by reason is the day's
/// (`AgentDay::away_slots`).
#[derive(Default, Debug, Clone)]
pub(crate) struct AgentSlot {
    /// Milliseconds in each state within the interval (indexed by
    /// `AgentState`); at most the interval's length, so 32 bits hold it.
    pub time_ms: [u32; 8],
    /// Talk time of the calls answered in the interval (saturating: 49 days).
    pub talk_ms: u32,
    pub handled: u16,
    pub missed: u16,
    pub outbound: u16,
}

impl AgentSlot {
    /// One more of a count (`handled`, `missed`, `outbound`), stopping at
    /// its largest value.
    pub(crate) fn bump(count: &mut u16) {
        *count = count.saturating_add(1);
    }

    /// Talk time of a call answered in the interval, stopping at the
    /// largest value.
    pub(crate) fn add_talk(&mut self, ms: u64) {
        self.talk_ms = self
            .talk_ms
            .saturating_add(u32::try_from(ms).unwrap_or(u32::MAX));
    }
}

/// Adds `ms` away with `reason` in interval `slot` to a list in interval
/// order (nearly always at its end).
fn add_away(list: &mut Vec<(u16, Option<u32>, u32)>, slot: u16, reason: Option<u32>, ms: u32) {
    let mut i = list.len();
    while i > 0 && list[i - 1].0 >= slot {
        if list[i - 1].0 == slot && list[i - 1].1 == reason {
            list[i - 1].2 = list[i - 1].2.saturating_add(ms);
            return;
        }
        i -= 1;
    }
    list.insert(i, (slot, reason, ms));
}

impl AgentDay {
    /// Adds the time from `from` to `to` (both within this day, which
    /// starts at `day_start`) in `state`, to the day and to its intervals.
    pub(super) fn add_span(
        &mut self,
        state: AgentState,
        reason: Option<u32>,
        (from, to): (Millis, Millis),
        day_start: Millis,
        slot_ms: Millis,
    ) {
        self.add_time(state, reason, (to - from) as u64);
        for (slot, t, upto) in slices(from, to, day_start, slot_ms) {
            let ms = (upto - t) as u32;
            self.slots.at(slot).time_ms[state as usize] += ms;
            if state == AgentState::Away {
                add_away(&mut self.away_slots, slot, reason, ms);
            }
        }
    }
}

/// `[from, to)` cut at the interval edges of a day starting at `day_start`:
/// each piece's interval, start and end.
fn slices(
    from: Millis,
    to: Millis,
    day_start: Millis,
    slot_ms: Millis,
) -> impl Iterator<Item = (u16, Millis, Millis)> {
    let mut t = from;
    std::iter::from_fn(move || {
        (t < to).then(|| {
            let slot = (t - day_start) / slot_ms;
            let upto = (day_start + (slot + 1) * slot_ms).min(to);
            let piece = (slot as u16, t, upto);
            t = upto;
            piece
        })
    })
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

impl Tenant {
    /// Interval length in milliseconds.
    pub(super) fn slot_ms(&self) -> Millis {
        self.settings.interval_minutes as Millis * 60_000
    }

    /// Local day, hour and interval of an instant.
    pub(super) fn when(&mut self, ts: Millis) -> (DayNo, u8, u16) {
        let (day, hour, start) = self.cal.day_hour_start(ts);
        (day, hour, ((ts - start) / self.slot_ms()) as u16)
    }

    /// The days whose rows are open at `now`: from the day before the
    /// latest day any event fell on (older days are closed: their events
    /// are refused) to the later of that day and `now`'s, whose agents'
    /// current states run on. At most [`MAX_OPEN_DAYS`].
    pub(crate) fn open_days(&self, now: Millis) -> Vec<(DayNo, Millis, Millis)> {
        let now_day = self.cal.day_of(now);
        let (first, last) = if self.latest_day == DayNo::MIN {
            (now_day - 1, now_day)
        } else {
            (self.latest_day - 1, self.latest_day.max(now_day))
        };
        self.spans(first.max(last - MAX_OPEN_DAYS + 1), last)
    }

    /// Each day from `first` to `last`, with its start and end.
    fn spans(&self, first: DayNo, last: DayNo) -> Vec<(DayNo, Millis, Millis)> {
        (first..=last)
            .map(|d| {
                let (start, end) = self.cal.day_span(d);
                (d, start, end)
            })
            .collect()
    }

    /// Events have reached local day `day`, after `latest_day`: the days
    /// before the day before it close (their events are refused from now
    /// on, and their figures are about to be overwritten by newer days).
    /// When the owner keeps closed days' rows, their last changes (and the
    /// time agents' current states ran through them) are kept for it, as of
    /// `at`, before anything of the new day is written.
    pub(super) fn close_days(&mut self, day: DayNo, at: Millis) {
        if self.latest_day == DayNo::MIN || self.closed.is_none() {
            return;
        }
        let (first, last) = (self.latest_day - 1, day - 2);
        if first > last {
            return;
        }
        let days = self.spans(first.max(last - MAX_OPEN_DAYS + 1), last);
        let since = self.history_at.unwrap_or(Millis::MIN);
        let rows = self.rows(at, Some(since), &days);
        if let Some(closed) = &mut self.closed {
            closed.extend(rows);
        }
    }

    /// Every row of this state as of `now` (the current state of each
    /// agent counts up to `now`): those of the days that closed since the
    /// state began, if kept (see [`Tenant::close_days`]), then those of the
    /// open days, each part sorted by kind, key and start. What `callboard
    /// replay --intervals` prints and the history store holds at the end.
    pub fn intervals(&self, now: Millis) -> Vec<IntervalRow> {
        let mut rows: Vec<IntervalRow> = self
            .closed
            .iter()
            .flatten()
            .filter(|r| !r.is_empty())
            .cloned()
            .collect();
        rows.extend(self.rows(now, None, &self.open_days(now)));
        rows
    }

    /// Before the first [`Tenant::take_changed_intervals`] of this state
    /// (a start or a rebuild): the instant from which the rows it gives
    /// restate the agent's intervals whole, so that the store drops agent
    /// rows from there on that they do not contain. Those are rows an
    /// earlier process wrote while an agent's state ran on to its clock,
    /// which events it never saw (a logout dated before its end) ended
    /// earlier. From the later of the first event applied and the instant
    /// from which the state is whole; never for a state that is not whole
    /// from any instant it can name (see [`Whole`]).
    pub fn restates_agents_from(&self) -> Option<Millis> {
        if self.history_at.is_some() || !self.restates {
            return None;
        }
        Some(self.first_ts?.max(self.whole_from))
    }

    /// The rows that changed since the last call (all of them the first
    /// time), for the history store: the rows of days that closed since,
    /// then of the open days: intervals changed by events, those an
    /// agent's current state has run through since, and the callback rows
    /// if any callback changed.
    pub fn take_changed_intervals(&mut self, now: Millis) -> Vec<IntervalRow> {
        let since = self.history_at.unwrap_or(Millis::MIN);
        let mut rows = self.closed.as_mut().map(std::mem::take).unwrap_or_default();
        rows.extend(self.rows(now, Some(since), &self.open_days(now)));
        for q in &mut self.queue_data {
            q.days.iter_mut().for_each(|(_, d)| d.slots.settle());
        }
        for s in &mut self.service_data {
            s.scope.days.iter_mut().for_each(|(_, d)| d.slots.settle());
        }
        self.unscoped
            .days
            .iter_mut()
            .for_each(|(_, d)| d.slots.settle());
        for a in &mut self.agent_data {
            a.days.iter_mut().for_each(|(_, d)| d.slots.settle());
            a.restated = false;
            a.given_since = a.since.filter(|_| a.state != AgentState::LoggedOut);
        }
        self.callbacks_changed = false;
        self.history_at = Some(now);
        rows
    }

    /// The rows of `days` as of `now`; with `changed_since`, only those
    /// changed by events since the last settling, or run through by a
    /// current state after that time. Intervals that start before the
    /// instant the state is whole from are left out: the state holds only
    /// part of them.
    fn rows(
        &self,
        now: Millis,
        changed_since: Option<Millis>,
        days: &[(DayNo, Millis, Millis)],
    ) -> Vec<IntervalRow> {
        let wanted = |changed: bool| changed_since.is_none() || changed;
        let minutes = self.settings.interval_minutes;
        let slot_ms = self.slot_ms();
        let whole_from = self.whole_from;
        let day_start = |day: DayNo| {
            days.iter()
                .find(|(d, _, _)| *d == day)
                .map(|(_, start, _)| *start)
        };
        let whole =
            |day_start: Millis, slot: u16| day_start + slot as Millis * slot_ms >= whole_from;
        let start_of = |day_start: Millis, slot: u16| {
            let ms = day_start + slot as Millis * slot_ms;
            (ms, crate::time::format_local(ms, &self.settings.tz))
        };
        let tenant = self.name.clone();
        let mut rows = Vec::new();

        // Calls whose end is overdue at `now` count as exited in their
        // interval, and as missed by the agent they rang at, as in the
        // snapshot; an interval is given again when one became overdue
        // since the store was last given rows.
        let given_before = |deadline: Millis| changed_since.is_some_and(|since| deadline <= since);
        let mut overdue_exits: BTreeMap<(u32, DayNo, u16), (u32, bool)> = BTreeMap::new();
        let mut overdue_misses: Vec<(u32, DayNo, u16, bool)> = Vec::new();
        for (call, deadline) in self.overdue(now) {
            let Target::Queue(q) = call.target else {
                continue;
            };
            let e = overdue_exits.entry((q, call.day, call.slot)).or_default();
            e.0 += 1;
            e.1 |= !given_before(deadline);
            if let Some((agent, at)) = call.ringing {
                let (day, start, _) = self.cal.span_of(at);
                let slot = ((at - start) / slot_ms) as u16;
                overdue_misses.push((agent, day, slot, !given_before(deadline)));
            }
        }

        // Agents: finished states from the store, the current one to now.
        let reason = |r: Option<u32>| -> Arc<str> {
            r.map_or_else(|| Arc::from(""), |r| self.reasons.name(r).clone())
        };
        for a in self.agents.sorted() {
            let ag = &self.agent_data[a as usize];
            // Start -> (start as text, figures, away by reason, to be given).
            type Row = (String, AgentSlot, BTreeMap<Option<u32>, u32>, bool);
            // The day's away time of one interval (the list is in interval order).
            let away_of = |d: &AgentDay, slot: u16| -> BTreeMap<Option<u32>, u32> {
                let from = d.away_slots.partition_point(|e| e.0 < slot);
                d.away_slots[from..]
                    .iter()
                    .take_while(|e| e.0 == slot)
                    .map(|&(_, r, ms)| (r, ms))
                    .collect()
            };
            let mut by_start: BTreeMap<Millis, Row> = BTreeMap::new();
            for (day, d) in ag.days.iter() {
                let Some(ds) = day_start(day) else { continue };
                for (slot, s, changed) in d.slots.iter() {
                    if wanted(changed) && whole(ds, slot) {
                        let (ms, text) = start_of(ds, slot);
                        by_start.insert(ms, (text, s.clone(), away_of(d, slot), true));
                    }
                }
            }
            for &(_, day, slot, new) in overdue_misses.iter().filter(|m| m.0 == a) {
                let Some(ds) = day_start(day).filter(|&ds| whole(ds, slot)) else {
                    continue;
                };
                let (ms, text) = start_of(ds, slot);
                let entry = by_start.entry(ms).or_insert_with(|| {
                    let d = ag.days.get(day);
                    let stored = d.and_then(|d| d.slots.get(slot)).cloned();
                    let away = d.map(|d| away_of(d, slot)).unwrap_or_default();
                    (text, stored.unwrap_or_default(), away, false)
                });
                AgentSlot::bump(&mut entry.1.missed);
                entry.3 |= new;
            }
            if let Some(since) = ag.since {
                let logged_in = ag.state != AgentState::LoggedOut;
                // A state that replaced the one the store was given rows of
                // (a late or tied event) restates every interval from its
                // start to then, even those it leaves empty.
                let end = match changed_since {
                    _ if logged_in => now,
                    Some(given) if ag.restated => given.min(now),
                    _ => since,
                };
                // ... and from where the state the store was given began.
                let from = match (changed_since, ag.given_since) {
                    (Some(_), Some(given)) if ag.restated => since.min(given),
                    _ => since,
                };
                for &(day, ds, day_end) in days {
                    let (a, b) = (from.max(ds).max(whole_from), end.min(day_end));
                    for (slot, t, upto) in slices(a, b, ds, slot_ms) {
                        let (ms, text) = start_of(ds, slot);
                        // What events wrote into the interval, unless
                        // already taken as changed.
                        let entry = by_start.entry(ms).or_insert_with(|| {
                            let stored = ag.days.get(day).and_then(|d| d.slots.get(slot));
                            let away = ag
                                .days
                                .get(day)
                                .map(|d| away_of(d, slot))
                                .unwrap_or_default();
                            (text, stored.cloned().unwrap_or_default(), away, false)
                        });
                        if logged_in && upto > since {
                            let ms = (upto - t.max(since)) as u32;
                            entry.1.time_ms[ag.state as usize] += ms;
                            if ag.state == AgentState::Away {
                                *entry.2.entry(ag.reason).or_default() += ms;
                            }
                        }
                        // Run through since the store was last given rows.
                        entry.3 |= ag.restated || changed_since.is_none_or(|given| upto > given);
                    }
                }
            }
            for (_, (start, s, away_ms, _)) in by_start.into_iter().filter(|(_, e)| e.3) {
                let t = |st: AgentState| secs(s.time_ms[st as usize] as u64);
                let mut away: BTreeMap<Arc<str>, f64> = BTreeMap::new();
                for (&r, &ms) in &away_ms {
                    *away.entry(reason(r)).or_default() += secs(ms as u64);
                }
                let row = IntervalRow::Agent(AgentInterval {
                    tenant: tenant.clone(),
                    agent: self.agents.name(a).clone(),
                    start,
                    minutes,
                    time_s: StateTimes {
                        ready: t(AgentState::Ready),
                        away: t(AgentState::Away),
                        ringing: t(AgentState::Ringing),
                        talking: t(AgentState::Talking),
                        dialing: t(AgentState::Dialing),
                        outbound: t(AgentState::Outbound),
                        wrap_up: t(AgentState::WrapUp),
                    },
                    away_s: away,
                    handled: s.handled as u64,
                    missed: s.missed as u64,
                    talk_s: secs(s.talk_ms as u64),
                    outbound: s.outbound as u64,
                });
                // An interval left empty is only worth telling the store,
                // which deletes it.
                if changed_since.is_some() || !row.is_empty() {
                    rows.push(row);
                }
            }
        }

        // Callbacks, per request day.
        let callbacks_changed = self.callbacks_changed;
        let mut callback_row = |service: Option<Arc<str>>, day: DayNo, d: &super::CallbackDay| {
            if day_start(day).is_none_or(|ds| ds < whole_from)
                || d.requested == 0
                || !wanted(callbacks_changed)
            {
                return;
            }
            rows.push(IntervalRow::Callback(CallbackInterval {
                tenant: tenant.clone(),
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

        // Queues, then figures of a service or the tenant with no queue
        // (outbound calls that name none).
        let mut queue_rows =
            |queue: Option<Arc<str>>,
             service: Option<Arc<str>>,
             days: &crate::engine::ring::DayRing<super::QueueDay>,
             overdue: &dyn Fn(DayNo, u16) -> (u32, bool)| {
                let mut all: Vec<(Millis, String, Counters)> = Vec::new();
                for (day, d) in days.iter() {
                    let Some(ds) = day_start(day) else { continue };
                    for (slot, c, changed) in d.slots.iter() {
                        let (exits, new) = overdue(day, slot);
                        if wanted(changed || new) && whole(ds, slot) {
                            let (ms, text) = start_of(ds, slot);
                            let mut c = c.clone();
                            c.exited += exits;
                            all.push((ms, text, c));
                        }
                    }
                }
                all.sort_by_key(|(ms, _, _)| *ms);
                for (_, start, c) in all {
                    rows.push(IntervalRow::Queue(QueueInterval {
                        tenant: tenant.clone(),
                        queue: queue.clone(),
                        service: service.clone(),
                        start,
                        minutes,
                        inbound: c.inbound as u64,
                        answered: c.answered as u64,
                        abandoned: c.abandoned as u64,
                        short_abandoned: c.short_abandoned as u64,
                        callbacks: c.callbacks as u64,
                        transferred: c.transferred as u64,
                        exited: c.exited as u64,
                        answered_in_sl: c.answered_in_sl as u64,
                        ivr: c.ivr as u64,
                        ended: c.ended as u64,
                        wait_answered_sum_s: secs(c.wait_sum_ms),
                        wait_answered_max_s: secs(c.wait_max_ms),
                        wait_abandoned_sum_s: secs(c.abandoned_wait_sum_ms),
                        talk_sum_s: secs(c.talk_sum_ms),
                        wrap_sum_s: secs(c.wrap_sum_ms),
                        outbound_attempts: c.outbound_attempts as u64,
                        outbound_connected: c.outbound_connected as u64,
                    }));
                }
            };
        for q in self.queues.sorted() {
            let data = &self.queue_data[q as usize];
            let overdue = |day: DayNo, slot: u16| {
                overdue_exits
                    .get(&(q, day, slot))
                    .copied()
                    .unwrap_or_default()
            };
            queue_rows(
                Some(self.queues.name(q).clone()),
                Some(self.services.name(data.service).clone()),
                &data.days,
                &overdue,
            );
        }
        let none = |_: DayNo, _: u16| (0, false);
        for s in self.services.sorted() {
            queue_rows(
                None,
                Some(self.services.name(s).clone()),
                &self.service_data[s as usize].scope.days,
                &none,
            );
        }
        queue_rows(None, None, &self.unscoped.days, &none);
        rows
    }
}
