//! Interval statistics: the day's counters cut into fixed intervals of the
//! tenant's local day (15 minutes by default), kept beside the day counters
//! and written at the same moments, so that a day's intervals sum exactly
//! to the day.
//!
//! An interval is numbered by the time elapsed since the local day's start
//! (`slot` = elapsed / interval), so a day with a daylight-saving change has
//! one interval more or less, and a repeated hour has intervals of its own
//! (their starts differ by their offsets).

use super::{AgentDay, Tenant};
use crate::event::AgentState;
use crate::time::{DayNo, Millis};
use crate::wire::IntervalRow;

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
pub(super) fn slices(
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

pub(super) fn secs(ms: u64) -> f64 {
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
}
