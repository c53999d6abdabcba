//! Building a tenant's [`Snapshot`]: an immutable value computed from the
//! state at an evaluation time ("now"). Reading never changes the state.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::erlang;
use super::tenant::minute_of;
use super::tenant::{Agent, AgentDay, Counters, Phase, QueueDay, Target, Tenant, WaitHistogram};
use crate::config::{EWT_ACCURACY_MIN, Few, Scope, ServiceSettings, SlFormula};
use crate::event::AgentState;
use crate::time::{self, DayNo, Millis};
use crate::wire::{
    AgentCounts, AgentRow, ByState, CallbackStats, EwtError, Hourly, Instant, OpenByAgent,
    QueueRow, QueueStats, RecentStats, ScopeFigures, ServiceRow, Snapshot, StateSeconds, Status,
    WaitingCall, Within,
};

/// Sums of counters over queues, with their merged wait histogram.
#[derive(Default, Clone)]
struct Tally {
    c: Counters,
    waiting: u64,
    oldest: Option<Millis>,
    waits: Option<WaitHistogram>,
    /// The counters of each window length (`Tenant::window_lengths`).
    recent: Vec<Counters>,
}

impl Tally {
    fn add_recent(&mut self, sums: &[Counters]) {
        if self.recent.is_empty() {
            self.recent = sums.to_vec();
        } else {
            for (mine, theirs) in self.recent.iter_mut().zip(sums) {
                mine.add(theirs);
            }
        }
    }

    fn add_day(&mut self, day: Option<&QueueDay>) {
        let Some(d) = day else { return };
        self.c.add(&d.c);
        if let Some(h) = &d.waits {
            match &mut self.waits {
                // Auto-resizing histograms accept any recorded value.
                Some(mine) => {
                    let _ = mine.add(&**h);
                }
                None => self.waits = Some((**h).clone()),
            }
        }
    }

    /// Adds another tally (of other queues) to this one.
    fn add(&mut self, other: &Tally) {
        self.c.add(&other.c);
        self.add_waiting(other.waiting, other.oldest);
        if let Some(h) = &other.waits {
            match &mut self.waits {
                Some(mine) => {
                    let _ = mine.add(h);
                }
                None => self.waits = Some(h.clone()),
            }
        }
        self.add_recent(&other.recent);
    }

    fn add_waiting(&mut self, waiting: u64, oldest: Option<Millis>) {
        self.waiting += waiting;
        self.oldest = match (self.oldest, oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    fn stats(&self, formula: SlFormula, now: Millis, with: &Windows<'_>) -> QueueStats {
        let mut s = stats(
            &self.c,
            self.waiting,
            self.oldest,
            self.waits.as_ref(),
            formula,
            now,
        );
        with.add_to(&mut s, &self.c, &self.recent, formula);
        s
    }
}

/// What the recent figures of a row show: which windows and thresholds.
struct Windows<'a> {
    /// The window lengths summed (`Tenant::window_lengths`).
    lengths: &'a [u32],
    /// The row's windows.
    windows: Few,
    /// The row's thresholds.
    thresholds: Few,
    /// The tenant's thresholds: the order of `Counters::within`.
    all: Few,
}

impl Windows<'_> {
    fn within(&self, c: &Counters) -> Within {
        super::tenant::within(c, self.thresholds, self.all)
    }

    /// Adds `answered_within` of today and the recent windows to `s`.
    fn add_to(&self, s: &mut QueueStats, today: &Counters, sums: &[Counters], formula: SlFormula) {
        s.answered_within = self.within(today);
        let empty = Counters::default();
        s.recent = self
            .windows
            .iter()
            .map(|minutes| {
                let c = self
                    .lengths
                    .iter()
                    .position(|&l| l == minutes)
                    .and_then(|i| sums.get(i))
                    .unwrap_or(&empty);
                self.recent(minutes, c, formula)
            })
            .collect();
    }

    fn recent(&self, minutes: u32, c: &Counters, formula: SlFormula) -> RecentStats {
        let n = |v: u32| v as u64;
        let offered =
            n(c.answered) + n(c.abandoned) + n(c.callbacks) + n(c.transferred) + n(c.exited);
        RecentStats {
            minutes,
            inbound: n(c.inbound),
            offered,
            answered: n(c.answered),
            abandoned: n(c.abandoned),
            short_abandoned: n(c.short_abandoned),
            callbacks: n(c.callbacks),
            transferred: n(c.transferred),
            exited: n(c.exited),
            answered_in_sl: n(c.answered_in_sl),
            answered_within: self.within(c),
            answer_rate: ratio(n(c.answered), offered),
            service_level: ratio(
                n(c.answered_in_sl),
                sl_base(formula, offered, n(c.answered), n(c.short_abandoned)),
            ),
            asa_s: mean_s(c.wait_answered_sum_ms, n(c.answered)),
            aht_s: mean_s(c.talk_sum_ms + c.wrap_sum_ms, n(c.ended)),
        }
    }
}

/// Milliseconds to seconds rounded to 1 decimal.
fn tenths_s(ms: f64) -> f64 {
    (ms / 100.0).round() / 10.0
}

/// `n`, the mean and the 90th percentile (nearest rank) of errors in ms.
fn ewt_error(mut errors: Vec<u32>) -> EwtError {
    if errors.is_empty() {
        return EwtError::default();
    }
    let n = errors.len();
    let sum: u64 = errors.iter().map(|&e| e as u64).sum();
    let rank = (n * 9).div_ceil(10).max(1);
    // The rank's value without sorting the rest.
    let (_, p90, _) = errors.select_nth_unstable(rank - 1);
    EwtError {
        n: n as u64,
        mae: Some(tenths_s(sum as f64 / n as f64)),
        p90: Some(tenths_s(*p90 as f64)),
    }
}

/// Percentage rounded to 2 decimals; `None` when the denominator is 0.
pub fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| (n as f64 * 10_000.0 / d as f64).round() / 100.0)
}

/// Seconds rounded to 1 decimal; `None` when nothing was measured.
pub fn mean_s(sum_ms: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| (sum_ms as f64 / n as f64 / 100.0).round() / 10.0)
}

/// The denominator of the service level under `formula`.
pub fn sl_base(formula: SlFormula, inbound: u64, answered: u64, short_abandoned: u64) -> u64 {
    match formula {
        SlFormula::Offered => inbound,
        SlFormula::Answered => answered,
        SlFormula::OfferedMinusShortAbandons => inbound.saturating_sub(short_abandoned),
    }
}

fn stats(
    c: &Counters,
    waiting: u64,
    oldest: Option<Millis>,
    waits: Option<&WaitHistogram>,
    formula: SlFormula,
    now: Millis,
) -> QueueStats {
    let n = |v: u32| v as u64;
    let sl_base = sl_base(formula, n(c.inbound), n(c.answered), n(c.short_abandoned));
    QueueStats {
        waiting,
        longest_wait_s: oldest.map_or(0, |t| ((now - t).max(0) / 1000) as u64),
        calls: c.calls(),
        answer_rate: ratio(n(c.answered), n(c.inbound)),
        service_level: ratio(n(c.answered_in_sl), sl_base),
        asa_s: mean_s(c.wait_answered_sum_ms, n(c.answered)),
        wait_p90_s: waits
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(0.9) as f64),
        aht_s: mean_s(c.talk_sum_ms + c.wrap_sum_ms, n(c.ended)),
        answered_within: Within::default(),
        recent: Vec::new(),
    }
}

fn agent_counts(by: &[u32; 8]) -> AgentCounts {
    let s = |st: AgentState| by[st as usize] as u64;
    AgentCounts {
        login: by.iter().map(|&v| v as u64).sum::<u64>() - s(AgentState::LoggedOut),
        ready: s(AgentState::Ready),
        talking: s(AgentState::Talking) + s(AgentState::Ringing),
        outbound: s(AgentState::Outbound) + s(AgentState::Dialing),
        break_work: s(AgentState::Away) + s(AgentState::WrapUp),
        by_state: ByState::from_states(s),
    }
}

fn callback_stats(d: &super::tenant::CallbackDay) -> CallbackStats {
    let n = |v: u32| v as u64;
    CallbackStats {
        requested: n(d.requested),
        assigned: n(d.assigned),
        completed: n(d.completed),
        failed: n(d.failed),
        deleted: n(d.deleted),
        open: n(d.requested).saturating_sub(n(d.completed) + n(d.failed) + n(d.deleted)),
        processing_rate: ratio(n(d.completed), n(d.assigned)),
        open_by_agent: Vec::new(),
    }
}

/// The key of away time with no reason given.
static NO_REASON: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));

/// Milliseconds to whole seconds, rounded once: the total is rounded down,
/// and each part is its own rounded-down seconds or one more (the largest
/// remainders first), so the parts sum to the rounded total.
pub fn whole_seconds(ms: &[u64]) -> Vec<u64> {
    share_out(ms, ms.iter().sum::<u64>() / 1000)
}

/// `total` whole seconds shared out in proportion to `ms` (which sum to
/// within a second of it): each part gets its rounded-down seconds, and the
/// seconds left go to the parts with the largest remainders (the earlier
/// part on a tie).
fn share_out(ms: &[u64], total: u64) -> Vec<u64> {
    let mut out: Vec<u64> = ms.iter().map(|&v| v / 1000).collect();
    let mut left = total.saturating_sub(out.iter().sum());
    let mut order: Vec<usize> = (0..ms.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(ms[i] % 1000));
    for i in order {
        if left == 0 {
            break;
        }
        if ms[i] % 1000 > 0 {
            out[i] += 1;
            left -= 1;
        }
    }
    out
}

/// An agent's time figures of today, up to "now".
struct AgentToday {
    time: StateSeconds,
    login_s: u64,
    away: BTreeMap<Arc<str>, u64>,
    aht_s: Option<f64>,
    occupancy: Option<f64>,
}

/// Handle times ended in the staffing window fewer than this: today's are used.
const FEW_ENDED: u32 = 10;

impl Tenant {
    fn windows_of(&self, windows: Few, thresholds: Few) -> Windows<'_> {
        Windows {
            lengths: &self.window_lengths,
            windows,
            thresholds,
            all: self.thresholds,
        }
    }

    /// A service's staffing need from its tally: Erlang C at the arrival
    /// rate of its staffing window and the mean handle time of the calls
    /// ended in it (today's when fewer than ten ended). `None` with no
    /// traffic.
    fn agents_required(&self, tally: &Tally, s: ServiceSettings) -> Option<u32> {
        let minutes = s.staffing_window_min;
        let i = self.window_lengths.iter().position(|&l| l == minutes)?;
        let window = tally.recent.get(i)?;
        let handled = if window.ended >= FEW_ENDED {
            window
        } else {
            &tally.c
        };
        if handled.ended == 0 || window.inbound == 0 {
            return None;
        }
        let handle_s =
            (handled.talk_sum_ms + handled.wrap_sum_ms) as f64 / 1000.0 / handled.ended as f64;
        let rate = window.inbound as f64 / (minutes as f64 * 60.0);
        erlang::agents_required(
            rate * handle_s,
            handle_s,
            self.settings.queue_defaults.sl_threshold_s as f64,
            s.sl_target / 100.0,
            s.max_occupancy.map(|o| o / 100.0),
        )
    }

    /// The estimated waits' absolute errors (ms) of the calls answered in
    /// the `EWT_ACCURACY_MIN` minutes up to `now`, every queue's: what each
    /// queue's `ewt_error_s` is computed from, for tools that measure a
    /// whole day.
    pub fn ewt_errors_ms(&self, now: Millis) -> Vec<u32> {
        self.queue_data
            .iter()
            .filter_map(|q| q.recent.as_ref())
            .flat_map(|r| r.errors(now, EWT_ACCURACY_MIN))
            .collect()
    }

    /// Today's time figures of an agent: what its finished states left in
    /// `day`, plus its current state from `since` (or midnight) to `now`.
    fn agent_today(
        &self,
        a: &Agent,
        day: &AgentDay,
        today_start: Millis,
        now: Millis,
    ) -> AgentToday {
        let mut ms = day.time_ms;
        let mut away_ms: BTreeMap<Arc<str>, u64> = BTreeMap::new();
        let reason = |r: Option<u32>| match r {
            Some(r) => self.reasons.name(r).clone(),
            None => NO_REASON.clone(),
        };
        for &(r, v) in &day.away_ms {
            *away_ms.entry(reason(r)).or_default() += v;
        }
        if let Some(since) = a.since
            && a.state != AgentState::LoggedOut
        {
            let current = (now - since.max(today_start)).max(0) as u64;
            if current > 0 {
                ms[a.state as usize] += current;
                if a.state == AgentState::Away {
                    *away_ms.entry(reason(a.reason)).or_default() += current;
                }
            }
        }
        // Rounded once: the day's logged-in milliseconds to whole seconds,
        // shared out between the states (and the away time between its
        // reasons) so that the parts sum to the whole.
        // Every state but `logged_out` (index 0), in `AgentState` order.
        let secs = whole_seconds(&ms[1..]);
        let s = |st: AgentState| secs[st as usize - 1];
        let time = StateSeconds::from_states(s);
        let login_s = secs.iter().sum();
        let reasons: Vec<u64> = away_ms.values().copied().collect();
        let shares = share_out(&reasons, time.away);
        for (v, share) in away_ms.values_mut().zip(shares) {
            *v = share;
        }
        let busy_ms = [
            AgentState::Ringing,
            AgentState::Talking,
            AgentState::Dialing,
            AgentState::Outbound,
            AgentState::WrapUp,
        ]
        .iter()
        .map(|&st| ms[st as usize])
        .sum::<u64>();
        let ready_ms = ms[AgentState::Ready as usize];
        AgentToday {
            time,
            login_s,
            away: away_ms,
            aht_s: mean_s(
                day.ended_talk_ms + ms[AgentState::WrapUp as usize],
                day.ended as u64,
            ),
            occupancy: ratio(busy_ms, busy_ms + ready_ms),
        }
    }

    /// The tenant's snapshot as of `now` (which decides "today" and waiting
    /// ages).
    pub fn snapshot(&self, now: Millis, status: Status) -> Snapshot {
        let today = self.cal.day_of(now);
        let yesterday = today - 1;
        let tenant_formula = self.settings.queue_defaults.sl_formula;
        let live = self.live_calls(now, today);
        let mut tallies = Tallies {
            services: vec![Tally::default(); self.service_data.len()],
            total: Tally::default(),
        };
        let queues = self.snapshot_queues(now, today, &live, &mut tallies);
        let (services, cb_total) = self.snapshot_services(now, today, &mut tallies);
        let totals_with = self.windows_of(
            self.settings.queue_defaults.recent_windows_min,
            self.thresholds,
        );
        let (agent_list, open_by_agent) = self.snapshot_agents(now, today, &live.missed);

        let hours = |h: Option<&[u32; 24]>| -> Vec<u64> {
            h.map_or_else(|| vec![0; 24], |h| h.iter().map(|&v| v as u64).collect())
        };
        let mut callbacks = callback_stats(&cb_total);
        callbacks.open_by_agent = open_by_agent;
        let scopes = self
            .settings
            .scopes
            .iter()
            .map(|scope| self.scope_figures(scope, &tallies, now, today, &totals_with))
            .collect();

        Snapshot {
            v: 1,
            tenant: self.name.clone(),
            tz: self.cal.tz_name(),
            day: time::format_day(today),
            as_of: self.as_of.map(Instant),
            at: Instant(now),
            status,
            totals: tallies.total.stats(tenant_formula, now, &totals_with),
            services,
            queues,
            agents: agent_counts(&self.by_state),
            agent_list,
            hourly: Hourly {
                today: hours(self.hourly.get(today).map(|h| &h.inbound)),
                yesterday: hours(self.hourly.get(yesterday).map(|h| &h.inbound)),
                ivr_today: hours(self.hourly.get(today).map(|h| &h.ivr)),
                ivr_yesterday: hours(self.hourly.get(yesterday).map(|h| &h.ivr)),
            },
            callbacks,
            waiting_calls: self.waiting_calls(now),
            thresholds: self.settings.thresholds,
            reason_labels: self.settings.reason_labels.clone(),
            state_limits_s: self.settings.state_limits_s.clone(),
            scopes,
            scope: None,
        }
    }

    /// A set of services' figures: their tallies summed as the totals sum
    /// every queue's, their members counted once each, their callbacks,
    /// and their hourly inflow from their intervals (by the hour each
    /// interval starts in).
    fn scope_figures(
        &self,
        scope: &Scope,
        tallies: &Tallies,
        now: Millis,
        today: DayNo,
        with: &Windows<'_>,
    ) -> ScopeFigures {
        let members: Vec<u32> = scope.iter().filter_map(|s| self.services.get(s)).collect();
        let mut tally = Tally::default();
        let mut cb = super::tenant::CallbackDay::default();
        for &si in &members {
            tally.add(&tallies.services[si as usize]);
            if let Some(d) = self.service_data[si as usize].scope.callbacks.get(today) {
                cb.add(d);
            }
        }
        let mut by_state = [0u32; 8];
        for a in &self.agent_data {
            if a.services.iter().any(|s| members.contains(s)) {
                by_state[a.state as usize] += 1;
            }
        }
        let mut hourly = [[0u64; 24]; 4];
        let slot_ms = self.settings.interval_minutes as Millis * 60_000;
        let days = self
            .queue_data
            .iter()
            .filter(|q| members.contains(&q.service))
            .map(|q| &q.days)
            .chain(
                members
                    .iter()
                    .map(|&si| &self.service_data[si as usize].scope.days),
            );
        for ring in days {
            for (i, day) in [today, today - 1].into_iter().enumerate() {
                let Some(d) = ring.get(day) else { continue };
                let start = self.cal.day_span(day).0;
                for (slot, c, _) in d.slots.iter() {
                    let hour = self.cal.hour_of(start + slot as Millis * slot_ms) as usize;
                    hourly[i][hour] += c.inbound as u64;
                    hourly[2 + i][hour] += c.ivr as u64;
                }
            }
        }
        let [today_in, yesterday_in, ivr_today, ivr_yesterday] = hourly.map(|h| h.to_vec());
        ScopeFigures {
            services: scope.clone(),
            totals: tally.stats(self.settings.queue_defaults.sl_formula, now, with),
            agents: agent_counts(&by_state),
            callbacks: callback_stats(&cb),
            hourly: Hourly {
                today: today_in,
                yesterday: yesterday_in,
                ivr_today,
                ivr_yesterday,
            },
        }
    }

    /// The calls waiting at `now` (those overdue have left), the longest
    /// waiting first, each with its place in its queue and its estimate.
    fn waiting_calls(&self, now: Millis) -> Vec<WaitingCall> {
        let mut waiting: Vec<(u32, Millis, &str, Option<u32>)> = self
            .calls
            .iter()
            .filter_map(|(key, c)| match (c.phase, c.target) {
                (Phase::Waiting, Target::Queue(q))
                    if self.deadline_of(c).is_none_or(|d| d > now) =>
                {
                    Some((q, c.start, &**key, c.ewt_ms))
                }
                _ => None,
            })
            .collect();
        waiting.sort_unstable_by_key(|&(q, start, key, _)| (q, start, key));
        let mut out = Vec::with_capacity(waiting.len());
        let mut position = 0;
        for (i, &(q, start, key, ewt_ms)) in waiting.iter().enumerate() {
            position = if i > 0 && waiting[i - 1].0 == q {
                position + 1
            } else {
                1
            };
            let data = &self.queue_data[q as usize];
            out.push(WaitingCall {
                call: Arc::from(key),
                queue: self.queues.name(q).clone(),
                service: self.services.name(data.service).clone(),
                since: Instant(start),
                wait_s: ((now - start).max(0) / 1000) as u64,
                position,
                ewt_s: ewt_ms.map(|ms| tenths_s(ms as f64)),
            });
        }
        out.sort_by(|a, b| (a.since, &a.queue, &a.call).cmp(&(b.since, &b.queue, &b.call)));
        out
    }

    /// The calls waiting at `now` per queue, and those whose end is overdue
    /// then: counted as exited, not waiting (see `Tenant::overdue`), and as
    /// missed by the agent they rang at.
    fn live_calls(&self, now: Millis, today: DayNo) -> LiveCalls {
        let nq = self.queue_data.len();
        let mut live = LiveCalls {
            waiting: vec![0; nq],
            oldest: vec![None; nq],
            overdue: vec![0; nq],
            overdue_at: Vec::new(),
            missed: Vec::new(),
        };
        for call in self.calls.values() {
            if let (Phase::Waiting, Target::Queue(q)) = (call.phase, call.target) {
                let q = q as usize;
                if let Some(d) = self.deadline_of(call).filter(|&d| d <= now) {
                    if call.day == today {
                        live.overdue[q] += 1;
                    }
                    live.overdue_at.push((q as u32, d));
                    if let Some((agent, at)) = call.ringing
                        && self.cal.day_of(at) == today
                    {
                        live.missed.push(agent);
                    }
                    continue;
                }
                live.waiting[q] += 1;
                live.oldest[q] = Some(live.oldest[q].map_or(call.start, |o| o.min(call.start)));
            }
        }
        live
    }

    /// Each queue's row of today, its figures added to its service's and
    /// the tenant's tallies (with what has no queue).
    fn snapshot_queues(
        &self,
        now: Millis,
        today: DayNo,
        live: &LiveCalls,
        tallies: &mut Tallies,
    ) -> Vec<QueueRow> {
        let mut queues = Vec::with_capacity(self.queue_data.len());
        let lengths = &self.window_lengths;
        let now_minute = minute_of(now);
        for qi in self.queues.sorted() {
            let q = &self.queue_data[qi as usize];
            let i = qi as usize;
            let day = q.days.get(today);
            let (w, o) = (live.waiting[i], live.oldest[i]);
            let mut counters = day.map(|d| d.c.clone()).unwrap_or_default();
            counters.exited += live.overdue[i];
            let mut sums = vec![Counters::default(); lengths.len()];
            if let Some(r) = &q.recent {
                r.sums(now, lengths, &mut sums);
            }
            // Overdue calls leave as `exited` at their deadline (see
            // `Tenant::overdue`), in the windows that hold it.
            for &(_, at) in live.overdue_at.iter().filter(|(oq, _)| *oq == qi) {
                let age = now_minute - minute_of(at);
                for (sum, &len) in sums.iter_mut().zip(lengths) {
                    if age < len as i64 {
                        sum.exited += 1;
                    }
                }
            }
            let mut stats = stats(
                &counters,
                w,
                o,
                day.and_then(|d| d.waits.as_deref()),
                q.settings.sl_formula,
                now,
            );
            let with = self.windows_of(q.settings.recent_windows_min, q.settings.sl_thresholds_s);
            with.add_to(&mut stats, &counters, &sums, q.settings.sl_formula);
            for t in [
                &mut tallies.services[q.service as usize],
                &mut tallies.total,
            ] {
                t.add_day(day);
                t.add_waiting(w, o);
                t.c.exited += live.overdue[i];
                t.add_recent(&sums);
            }
            let errors = q
                .recent
                .as_ref()
                .map(|r| r.errors(now, EWT_ACCURACY_MIN))
                .unwrap_or_default();
            queues.push(QueueRow {
                queue: self.queues.name(qi).clone(),
                service: self.services.name(q.service).clone(),
                stats,
                sl_threshold_s: q.settings.sl_threshold_s,
                sl_formula: q.settings.sl_formula,
                ewt_s: self.estimate_ms(qi, w as u32, now).map(tenths_s),
                ewt_error_s: ewt_error(errors),
            });
        }
        tallies.total.add_day(self.unscoped.days.get(today));
        queues
    }

    /// The rows of the services in use today (or yesterday, for what has no
    /// queue), and the tenant's callbacks of today.
    fn snapshot_services(
        &self,
        now: Millis,
        today: DayNo,
        tallies: &mut Tallies,
    ) -> (Vec<ServiceRow>, super::tenant::CallbackDay) {
        let tenant_formula = self.settings.queue_defaults.sl_formula;
        let mut cb_total = super::tenant::CallbackDay::default();
        if let Some(d) = self.unscoped.callbacks.get(today) {
            cb_total.add(d);
        }
        let mut services = Vec::with_capacity(self.service_data.len());
        for si in self.services.sorted() {
            let s = &self.service_data[si as usize];
            let tally = &mut tallies.services[si as usize];
            tally.add_day(s.scope.days.get(today));
            tallies.total.add_day(s.scope.days.get(today));
            let cb = s.scope.callbacks.get(today);
            if let Some(d) = cb {
                cb_total.add(d);
            }
            let touched =
                |d: Option<&QueueDay>| d.is_some_and(|d| d.c.ivr + d.c.outbound_attempts > 0);
            let in_use = s.queues > 0
                || s.by_state.iter().any(|&n| n > 0)
                || cb.is_some()
                || touched(s.scope.days.get(today))
                || touched(s.scope.days.get(today - 1));
            if !in_use {
                continue;
            }
            let name = self.services.name(si);
            let staffing = self.settings.service(name);
            let with = self.windows_of(
                self.settings.queue_defaults.recent_windows_min,
                self.thresholds,
            );
            let agents_available = self.serving(si).0 as u64;
            let agents_required = self.agents_required(tally, staffing);
            services.push(ServiceRow {
                service: name.clone(),
                stats: tally.stats(tenant_formula, now, &with),
                agents: agent_counts(&s.by_state),
                callback_processing: cb.map(callback_stats).unwrap_or_default(),
                agents_required,
                agents_available,
                staffing_gap: agents_required.map(|n| n as i64 - agents_available as i64),
            });
        }
        (services, cb_total)
    }

    /// Every agent's row of today, and the agents with callbacks open.
    fn snapshot_agents(
        &self,
        now: Millis,
        today: DayNo,
        missed_now: &[u32],
    ) -> (Vec<AgentRow>, Vec<OpenByAgent>) {
        let mut agent_list = Vec::with_capacity(self.agent_data.len());
        let mut open_by_agent = Vec::new();
        let today_start = self.cal.span_of(now).1;
        let empty = AgentDay::default();
        for ai in self.agents.sorted() {
            let a = &self.agent_data[ai as usize];
            let name = self.agents.name(ai);
            let day = a.days.get(today).unwrap_or(&empty);
            let figures = self.agent_today(a, day, today_start, now);
            let missed =
                day.missed as u64 + missed_now.iter().filter(|&&agent| agent == ai).count() as u64;
            if a.open_callbacks > 0 {
                open_by_agent.push(OpenByAgent {
                    agent: name.clone(),
                    name: a.name.clone(),
                    open: a.open_callbacks as u64,
                });
            }
            agent_list.push(AgentRow {
                agent: name.clone(),
                name: a.name.clone(),
                state: a.state,
                reason: a.reason.map(|r| self.reasons.name(r).clone()),
                since: a.since.map(Instant),
                state_s: a.since.map_or(0, |s| ((now - s).max(0) / 1000) as u64),
                services: a.service_names.clone(),
                handled: day.handled as u64,
                talk_s: day.talk_ms / 1000,
                outbound: day.outbound as u64,
                callbacks_open: a.open_callbacks as u64,
                missed,
                aht_s: figures.aht_s,
                occupancy: figures.occupancy,
                login_s: figures.login_s,
                time_today_s: figures.time,
                away_today_s: figures.away,
            });
        }
        (agent_list, open_by_agent)
    }
}

/// Calls live at a snapshot's `now`, per queue (by index).
struct LiveCalls {
    waiting: Vec<u64>,
    oldest: Vec<Option<Millis>>,
    /// Today's calls whose end is overdue: exited.
    overdue: Vec<u32>,
    /// Every overdue call's queue and deadline (when it leaves).
    overdue_at: Vec<(u32, Millis)>,
    /// The agents that overdue calls rang at (one entry a call).
    missed: Vec<u32>,
}

/// Today's figures summed per service and for the tenant.
struct Tallies {
    services: Vec<Tally>,
    total: Tally,
}
