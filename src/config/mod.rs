//! The configuration file (TOML): tenants, their time zones, and per-queue
//! settings. Shared by `callboard replay` and the service.
//!
//! A setting is looked up on the queue, then on its tenant, then in
//! `[defaults]`, then in the built-in default.

mod limits;
mod serve;
#[cfg(test)]
mod tests;
mod tokens;

pub use limits::*;
pub use serve::*;
pub use tokens::*;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::time;

/// Built-in SL threshold: answered within 20 s counts as in service level.
pub const DEFAULT_SL_THRESHOLD_S: u32 = 20;

/// History intervals, in minutes: the default and the lengths allowed.
pub const DEFAULT_INTERVAL_MINUTES: u32 = 15;
pub const INTERVAL_MINUTES: [u32; 3] = [15, 30, 60];
/// Built-in recent windows, in minutes: the last 15 and the last 60.
pub const DEFAULT_RECENT_WINDOWS_MIN: [u32; 2] = [15, 60];
/// Longest recent window, in minutes (a queue keeps one bucket a minute).
pub const MAX_WINDOW_MIN: u32 = 240;
/// Built-in staffing target: 80 % answered within the primary threshold.
pub const DEFAULT_SL_TARGET: f64 = 80.0;
/// Built-in staffing window: arrivals and handle time of the last 30 minutes.
pub const DEFAULT_STAFFING_WINDOW_MIN: u32 = 30;
/// Minutes over which the estimated wait's accuracy is measured.
pub const EWT_ACCURACY_MIN: u32 = 60;
/// Built-in short-abandon threshold: 0, so no abandon is "short".
pub const DEFAULT_SHORT_ABANDON_S: u32 = 0;
/// Built-in longest wait: a call still waiting 4 hours after it was queued
/// lost its end event.
pub const DEFAULT_MAX_WAIT_S: u32 = 4 * 3600;
/// Built-in largest accepted event, in bytes.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 64 * 1024;
/// Built-in largest accepted lead of an event's time over the clock.
pub const DEFAULT_MAX_CLOCK_SKEW_S: u64 = 300;

/// How `service_level` is computed from a queue's counts.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SlFormula {
    /// answered_in_sl / inbound (the guides' formula).
    #[default]
    Offered,
    /// answered_in_sl / answered.
    Answered,
    /// answered_in_sl / (inbound - short_abandoned).
    OfferedMinusShortAbandons,
}

/// A short sorted list of distinct whole numbers (thresholds in seconds,
/// windows in minutes), kept inline so that settings stay `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Few {
    len: u8,
    v: [u32; Few::CAP],
}

impl Few {
    /// The most values a list holds.
    pub const CAP: usize = 8;

    /// `values` sorted and deduplicated; `None` when more than [`Few::CAP`]
    /// distinct values remain.
    pub fn new(values: &[u32]) -> Option<Few> {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() > Few::CAP {
            return None;
        }
        let mut v = [0; Few::CAP];
        v[..sorted.len()].copy_from_slice(&sorted);
        Some(Few {
            len: sorted.len() as u8,
            v,
        })
    }

    pub fn as_slice(&self) -> &[u32] {
        &self.v[..self.len as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.as_slice().iter().copied()
    }

    /// Where `value` is in the list.
    pub fn position(&self, value: u32) -> Option<usize> {
        self.as_slice().iter().position(|&x| x == value)
    }

    /// The values of both lists (`None` past [`Few::CAP`]).
    pub fn union(&self, other: &Few) -> Option<Few> {
        let mut all = self.as_slice().to_vec();
        all.extend_from_slice(other.as_slice());
        Few::new(&all)
    }

    pub fn max(&self) -> Option<u32> {
        self.as_slice().last().copied()
    }
}

/// How a queue's wait is estimated (`ewt_method`).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum EwtMethod {
    /// Calls ahead, less the agents ready, times the recent handle time,
    /// over the agents serving the queue.
    #[default]
    Position,
    /// A moving mean of the waits of the queue's recent answered calls.
    RecentWaits,
}

/// The file as written.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Settings for every tenant that does not set its own.
    #[serde(default)]
    pub defaults: Settings,
    /// Per-tenant settings, keyed by tenant name.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantFile>,
    /// Settings of `callboard serve` (flags and environment take precedence).
    #[serde(default)]
    pub serve: ServeLayer,
    /// Access tokens (`[[tokens]]`). With none, the service serves loopback
    /// only and is open there.
    #[serde(default)]
    pub tokens: Vec<TokenFile>,
    /// What the engine accepts (`[limits]`).
    #[serde(default)]
    pub limits: LimitsFile,
}

/// Settings that can be given at every level.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// IANA time zone of the tenant's day (only at `[defaults]` and tenant level).
    pub tz: Option<String>,
    /// Seconds within which an answered call counts as in service level.
    pub sl_threshold_s: Option<u32>,
    /// Abandons with a wait under this many seconds are "short".
    pub short_abandon_s: Option<u32>,
    /// `offered` (default), `answered` or `offered_minus_short_abandons`.
    pub sl_formula: Option<SlFormula>,
    /// Seconds after which a call still waiting is taken out as `exited`
    /// (reason `expired`): its end event was lost. 0: never.
    pub max_wait_s: Option<u32>,
    /// Board thresholds (in `[defaults]`: for tenants that set none).
    pub thresholds: Option<Thresholds>,
    /// Length of the history's intervals in minutes: 15 (default), 30 or 60.
    pub interval_minutes: Option<u32>,
    /// Several service-level thresholds in seconds (`answered_within`);
    /// default: just `sl_threshold_s`.
    pub sl_thresholds_s: Option<Vec<u32>>,
    /// Lengths of the recent windows in minutes; default `[15, 60]`.
    pub recent_windows_min: Option<Vec<u32>>,
    /// How the estimated wait is computed: `position` (default) or
    /// `recent_waits`.
    pub ewt_method: Option<EwtMethod>,
    /// Staffing: the service level to reach, in percent (default 80).
    pub sl_target: Option<f64>,
    /// Staffing: minutes of arrivals and handle time used (default 30).
    pub staffing_window_min: Option<u32>,
    /// Staffing: the highest occupancy planned for, in percent (default none).
    pub max_occupancy: Option<f64>,
    /// Per-queue settings, keyed by queue name (tenants only).
    #[serde(default)]
    pub queues: BTreeMap<String, QueueFile>,
    /// Per-service staffing settings, keyed by service name (tenants only).
    #[serde(default)]
    pub services: BTreeMap<String, ServiceFile>,
    /// What a board shows for each away reason, per language
    /// (`[tenants.T.reason_labels.ko] break = "휴식"`); a reason with no
    /// label shows as sent.
    #[serde(default)]
    pub reason_labels: ReasonLabels,
    /// How long an agent may stay in a state before the board highlights
    /// it, in seconds per state (`[tenants.T.state_limits_s] away = 900`);
    /// merged per state over `[defaults]` and the built-in limits
    /// ([`DEFAULT_STATE_LIMITS_S`]); 0 turns a state's limit off.
    #[serde(default)]
    pub state_limits_s: StateLimits,
    /// queue_log members by interface (`"PJSIP/1001" = "alice"`, or
    /// `{ agent = "alice", name = "Alice Kim" }`): one person, named one
    /// way (tenants only).
    #[serde(default)]
    pub members: BTreeMap<String, MemberFile>,
}

/// Away reasons' labels: language (`ko`, `en`) -> reason -> label.
pub type ReasonLabels = BTreeMap<String, BTreeMap<String, String>>;

/// A queue_log member's agent, and optionally its display name.
#[derive(Deserialize, Debug, Clone)]
#[serde(
    untagged,
    expecting = "a member's agent id (\"agent-7\"), or a table with it and a display name ({ agent = \"agent-7\", name = \"Kim\" })"
)]
pub enum MemberFile {
    Agent(String),
    Named { agent: String, name: Option<String> },
}

impl MemberFile {
    fn resolved(&self) -> (String, Option<String>) {
        match self {
            MemberFile::Agent(a) => (a.clone(), None),
            MemberFile::Named { agent, name } => (agent.clone(), name.clone()),
        }
    }
}

/// A tenant's section (`[tenants.NAME]`): the same settings as
/// `[defaults]`, plus its queues.
pub type TenantFile = Settings;

/// Board thresholds: where a figure turns amber (warn) and red (alert).
/// Ratios are percentages. Each value left out is taken from
/// `[defaults.thresholds]`, then from [`Thresholds::DEFAULT`]; a colour is
/// turned off with a value never crossed (0 for a ratio's, a large number
/// for a count's).
#[derive(Deserialize, Serialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Service level under this is amber.
    pub service_level_warn: Option<f64>,
    /// Service level under this is red.
    pub service_level_alert: Option<f64>,
    /// Answer rate under this is amber.
    pub answer_rate_warn: Option<f64>,
    /// Answer rate under this is red.
    pub answer_rate_alert: Option<f64>,
    /// Waiting customers above this are amber.
    pub waiting_warn: Option<u64>,
    /// Waiting customers above this are red.
    pub waiting_alert: Option<u64>,
    /// Longest wait above this many seconds is amber.
    pub longest_wait_warn_s: Option<u64>,
    /// Longest wait above this many seconds is red.
    pub longest_wait_alert_s: Option<u64>,
}

impl Thresholds {
    /// Sensible defaults for a board that sets none: SL 80/60 %, answer rate
    /// 90/80 %, 5/10 waiting, 60/120 s longest wait.
    pub const DEFAULT: Thresholds = Thresholds {
        service_level_warn: Some(80.0),
        service_level_alert: Some(60.0),
        answer_rate_warn: Some(90.0),
        answer_rate_alert: Some(80.0),
        waiting_warn: Some(5),
        waiting_alert: Some(10),
        longest_wait_warn_s: Some(60),
        longest_wait_alert_s: Some(120),
    };

    /// These values, each one left out taken from `base`.
    pub fn over(self, base: Thresholds) -> Thresholds {
        Thresholds {
            service_level_warn: self.service_level_warn.or(base.service_level_warn),
            service_level_alert: self.service_level_alert.or(base.service_level_alert),
            answer_rate_warn: self.answer_rate_warn.or(base.answer_rate_warn),
            answer_rate_alert: self.answer_rate_alert.or(base.answer_rate_alert),
            waiting_warn: self.waiting_warn.or(base.waiting_warn),
            waiting_alert: self.waiting_alert.or(base.waiting_alert),
            longest_wait_warn_s: self.longest_wait_warn_s.or(base.longest_wait_warn_s),
            longest_wait_alert_s: self.longest_wait_alert_s.or(base.longest_wait_alert_s),
        }
    }

    /// Ratios within 0 to 100, and amber reached before red: a figure that
    /// is better when high turns amber at a higher value than red, one
    /// that is better when low at a lower one. `at` names the section.
    fn check(&self, at: &str) -> anyhow::Result<()> {
        for (key, v) in [
            ("service_level_warn", self.service_level_warn),
            ("service_level_alert", self.service_level_alert),
            ("answer_rate_warn", self.answer_rate_warn),
            ("answer_rate_alert", self.answer_rate_alert),
        ] {
            if let Some(v) = v
                && !(0.0..=100.0).contains(&v)
            {
                bail!("{at}.thresholds.{key} is a percentage, 0 to 100; got {v}");
            }
        }
        let under = |figure: &str, warn: Option<f64>, alert: Option<f64>| match (warn, alert) {
            (Some(w), Some(a)) if w < a => bail!(
                "{at}.thresholds: {figure}_warn ({w}) is under {figure}_alert ({a}); \
                 a {figure} under its warn value turns amber before it is low enough to turn red, \
                 so warn must be at least alert"
            ),
            _ => Ok(()),
        };
        under(
            "service_level",
            self.service_level_warn,
            self.service_level_alert,
        )?;
        under("answer_rate", self.answer_rate_warn, self.answer_rate_alert)?;
        let over = |warn_key: &str, alert_key: &str, warn: Option<u64>, alert: Option<u64>| match (
            warn, alert,
        ) {
            (Some(w), Some(a)) if w > a => bail!(
                "{at}.thresholds: {warn_key} ({w}) is over {alert_key} ({a}); \
                     amber comes before red, so warn must be at most alert"
            ),
            _ => Ok(()),
        };
        over(
            "waiting_warn",
            "waiting_alert",
            self.waiting_warn,
            self.waiting_alert,
        )?;
        over(
            "longest_wait_warn_s",
            "longest_wait_alert_s",
            self.longest_wait_warn_s,
            self.longest_wait_alert_s,
        )
    }
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct QueueFile {
    /// The service this queue belongs to (else the event's `service`, else
    /// the queue's own name).
    pub service: Option<String>,
    pub sl_threshold_s: Option<u32>,
    pub short_abandon_s: Option<u32>,
    pub sl_formula: Option<SlFormula>,
    pub max_wait_s: Option<u32>,
    pub sl_thresholds_s: Option<Vec<u32>>,
    pub recent_windows_min: Option<Vec<u32>>,
    pub ewt_method: Option<EwtMethod>,
}

/// A service's section (`[tenants.NAME.services.SERVICE]`): its staffing.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    pub sl_target: Option<f64>,
    pub staffing_window_min: Option<u32>,
    pub max_occupancy: Option<f64>,
}

/// A queue's resolved settings, in the units the engine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    pub sl_threshold_s: u32,
    pub short_abandon_s: u32,
    pub sl_formula: SlFormula,
    /// 0: a waiting call never expires.
    pub max_wait_s: u32,
    /// The thresholds of `answered_within`, in seconds.
    pub sl_thresholds_s: Few,
    /// The recent windows, in minutes.
    pub recent_windows_min: Few,
    pub ewt_method: EwtMethod,
}

/// A service's resolved staffing settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServiceSettings {
    /// Percent.
    pub sl_target: f64,
    pub staffing_window_min: u32,
    /// Percent.
    pub max_occupancy: Option<f64>,
}

/// Resolved settings of one tenant.
#[derive(Clone, Debug)]
pub struct TenantSettings {
    pub tz: TimeZone,
    /// Board thresholds (the tenant's, else `[defaults.thresholds]`, else
    /// [`Thresholds::DEFAULT`]).
    pub thresholds: Thresholds,
    /// Settings of queues the config does not name.
    pub queue_defaults: QueueSettings,
    /// Queues the config names: their service (if set) and settings.
    pub queues: BTreeMap<String, (Option<String>, QueueSettings)>,
    /// queue_log member (an interface or a member name) -> agent id and
    /// display name.
    pub members: BTreeMap<String, (String, Option<String>)>,
    /// Length of the history's intervals, in minutes (15, 30 or 60).
    pub interval_minutes: u32,
    /// Away reasons' labels per language (the tenant's over `[defaults]`').
    pub reason_labels: Arc<ReasonLabels>,
    /// Seconds an agent may stay in a state before the board highlights
    /// it (only states with a limit).
    pub state_limits_s: Arc<StateLimits>,
    /// Staffing of services the config does not name.
    pub service_defaults: ServiceSettings,
    /// Services the config names.
    pub services: BTreeMap<String, ServiceSettings>,
    /// The service sets its tokens are limited to: the engine sums each
    /// set's totals for their boards.
    pub scopes: Vec<Scope>,
}

impl TenantSettings {
    /// A service's staffing settings.
    pub fn service(&self, name: &str) -> ServiceSettings {
        self.services
            .get(name)
            .copied()
            .unwrap_or(self.service_defaults)
    }

    /// Every threshold of `answered_within` any queue of the tenant uses:
    /// the keys of the service and tenant rows (at most [`Few::CAP`],
    /// checked when the config is read).
    pub fn all_thresholds(&self) -> Few {
        self.queues
            .values()
            .fold(self.queue_defaults.sl_thresholds_s, |all, (_, q)| {
                all.union(&q.sl_thresholds_s).unwrap_or(all)
            })
    }

    /// Every window length a snapshot of the tenant sums (its queues'
    /// recent windows and its services' staffing windows), sorted.
    pub fn window_lengths(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self.queue_defaults.recent_windows_min.iter().collect();
        all.push(self.service_defaults.staffing_window_min);
        for (_, q) in self.queues.values() {
            all.extend(q.recent_windows_min.iter());
        }
        all.extend(self.services.values().map(|s| s.staffing_window_min));
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Minutes a queue's recent buckets must reach back: the longest
    /// window, staffing window or accuracy window of the tenant.
    pub fn recent_minutes(&self) -> u32 {
        let mut most = EWT_ACCURACY_MIN
            .max(self.service_defaults.staffing_window_min)
            .max(self.queue_defaults.recent_windows_min.max().unwrap_or(0));
        for (_, q) in self.queues.values() {
            most = most.max(q.recent_windows_min.max().unwrap_or(0));
        }
        for s in self.services.values() {
            most = most.max(s.staffing_window_min);
        }
        most
    }
}

/// The whole configuration, validated and resolved: what the engine reads.
#[derive(Clone, Debug)]
pub struct Config {
    file: ConfigFile,
    /// Access tokens, validated.
    pub tokens: Vec<Token>,
    default_tz: TimeZone,
    default_queue: QueueSettings,
    default_service: ServiceSettings,
    /// Largest accepted event in bytes.
    pub max_event_bytes: usize,
    /// Largest accepted lead of an event's time over the clock, in ms.
    pub max_clock_skew_ms: i64,
    /// How many tenants, and names per tenant, the engine keeps.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_file(ConfigFile::default(), None, None).expect("built-in defaults are valid")
    }
}

/// The parts of a queue's settings every level may give.
struct QueueLayer<'a> {
    sl_threshold_s: Option<u32>,
    short_abandon_s: Option<u32>,
    sl_formula: Option<SlFormula>,
    max_wait_s: Option<u32>,
    sl_thresholds_s: Option<&'a [u32]>,
    recent_windows_min: Option<&'a [u32]>,
    ewt_method: Option<EwtMethod>,
}

/// A level's queue settings, from a file section that has them all
/// (`[defaults]`, a tenant, a queue).
macro_rules! queue_layer_from {
    ($($section:ty),*) => {$(
        impl<'a> From<&'a $section> for QueueLayer<'a> {
            fn from(s: &'a $section) -> Self {
                QueueLayer {
                    sl_threshold_s: s.sl_threshold_s,
                    short_abandon_s: s.short_abandon_s,
                    sl_formula: s.sl_formula,
                    max_wait_s: s.max_wait_s,
                    sl_thresholds_s: s.sl_thresholds_s.as_deref(),
                    recent_windows_min: s.recent_windows_min.as_deref(),
                    ewt_method: s.ewt_method,
                }
            }
        }
    )*};
}
queue_layer_from!(Settings, QueueFile);

/// `s` over `base`. A level that changes the primary threshold and lists
/// no thresholds of its own lists just the new primary one. The lists were
/// checked when the file was read.
fn merge(base: QueueSettings, s: QueueLayer<'_>) -> QueueSettings {
    let sl_threshold_s = s.sl_threshold_s.unwrap_or(base.sl_threshold_s);
    let sl_thresholds_s = match (s.sl_thresholds_s, s.sl_threshold_s) {
        (Some(list), _) => Few::new(list).unwrap_or(base.sl_thresholds_s),
        (None, Some(primary)) if base.sl_thresholds_s.as_slice() == [base.sl_threshold_s] => {
            Few::new(&[primary]).expect("one value fits")
        }
        (None, _) => base.sl_thresholds_s,
    };
    QueueSettings {
        sl_threshold_s,
        short_abandon_s: s.short_abandon_s.unwrap_or(base.short_abandon_s),
        sl_formula: s.sl_formula.unwrap_or(base.sl_formula),
        max_wait_s: s.max_wait_s.unwrap_or(base.max_wait_s),
        sl_thresholds_s,
        recent_windows_min: s
            .recent_windows_min
            .and_then(Few::new)
            .unwrap_or(base.recent_windows_min),
        ewt_method: s.ewt_method.unwrap_or(base.ewt_method),
    }
}

fn merge_service(
    base: ServiceSettings,
    sl_target: Option<f64>,
    window: Option<u32>,
    occupancy: Option<f64>,
) -> ServiceSettings {
    ServiceSettings {
        sl_target: sl_target.unwrap_or(base.sl_target),
        staffing_window_min: window.unwrap_or(base.staffing_window_min),
        max_occupancy: occupancy.or(base.max_occupancy),
    }
}

/// `tenant`'s labels over `defaults`', per language and reason.
/// Seconds per agent state (`away`, `wrap_up`, ...).
pub type StateLimits = BTreeMap<String, u64>;

/// The built-in limits of time in a state: a break of 15 minutes, a wrap-up
/// of 2, a call of 10.
pub const DEFAULT_STATE_LIMITS_S: [(&str, u64); 3] =
    [("away", 900), ("wrap_up", 120), ("talking", 600)];

/// The built-in limits, then `[defaults]`', then the tenant's, state by
/// state; a limit of 0 is none.
fn merge_limits(levels: &[&StateLimits]) -> StateLimits {
    let mut out: StateLimits = DEFAULT_STATE_LIMITS_S
        .iter()
        .map(|&(k, v)| (k.to_string(), v))
        .collect();
    for level in levels {
        out.extend(level.iter().map(|(k, &v)| (k.clone(), v)));
    }
    out.retain(|_, v| *v > 0);
    out
}

/// Checks a level's state limits: each names an agent state a limit makes
/// sense for (not `logged_out`), for at most a day.
fn check_state_limits(at: &str, limits: &StateLimits) -> anyhow::Result<()> {
    for (state, &secs) in limits {
        match crate::event::AgentState::parse(state) {
            Some(s) if s != crate::event::AgentState::LoggedOut => {}
            _ => bail!(
                "{at}.state_limits_s: `{state}` is not an agent state with a limit (ready, away, ringing, talking, dialing, outbound, wrap_up)"
            ),
        }
        if secs > 86_400 {
            bail!("{at}.state_limits_s.{state}: {secs} s is over a day (0 turns the limit off)");
        }
    }
    Ok(())
}

fn merge_labels(defaults: &ReasonLabels, tenant: &ReasonLabels) -> ReasonLabels {
    let mut out = defaults.clone();
    for (lang, labels) in tenant {
        out.entry(lang.clone())
            .or_default()
            .extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

/// Checks a level's reason labels: a language is 2 or 3 lowercase letters,
/// a reason and its label are names (1 to 128 bytes, no control character).
fn check_labels(at: &str, labels: &ReasonLabels) -> anyhow::Result<()> {
    for (lang, map) in labels {
        if !(2..=3).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_lowercase()) {
            bail!("{at}.reason_labels.{lang}: a language is 2 or 3 lowercase letters (ko, en)");
        }
        for (reason, label) in map {
            check_name(reason)
                .with_context(|| format!("{at}.reason_labels.{lang}: reason `{reason}`"))?;
            check_name(label).with_context(|| format!("{at}.reason_labels.{lang}.`{reason}`"))?;
        }
    }
    Ok(())
}

/// Checks the lists and staffing settings of one level (`at` names it).
fn check_lists(
    at: &str,
    thresholds: Option<&[u32]>,
    windows: Option<&[u32]>,
    sl_target: Option<f64>,
    staffing_window: Option<u32>,
    occupancy: Option<f64>,
) -> anyhow::Result<()> {
    if let Some(t) = thresholds {
        if t.is_empty() || Few::new(t).is_none() {
            bail!(
                "{at}.sl_thresholds_s must list 1 to {} thresholds, got {}",
                Few::CAP,
                t.len()
            );
        }
        if let Some(bad) = t.iter().find(|&&v| v > 86_400) {
            bail!("{at}.sl_thresholds_s: {bad} is more than a day (86400 s)");
        }
    }
    if let Some(w) = windows {
        if w.is_empty() || Few::new(w).is_none() {
            bail!(
                "{at}.recent_windows_min must list 1 to {} windows, got {}",
                Few::CAP,
                w.len()
            );
        }
        if let Some(bad) = w.iter().find(|&&v| v == 0 || v > MAX_WINDOW_MIN) {
            bail!("{at}.recent_windows_min: {bad} must be between 1 and {MAX_WINDOW_MIN} minutes");
        }
    }
    if let Some(t) = sl_target
        && !(t > 0.0 && t < 100.0)
    {
        bail!("{at}.sl_target must be a percentage above 0 and under 100, got {t}");
    }
    if let Some(w) = staffing_window
        && !(1..=MAX_WINDOW_MIN).contains(&w)
    {
        bail!("{at}.staffing_window_min must be between 1 and {MAX_WINDOW_MIN}, got {w}");
    }
    if let Some(o) = occupancy
        && !(o > 0.0 && o <= 100.0)
    {
        bail!("{at}.max_occupancy must be a percentage above 0 and at most 100, got {o}");
    }
    Ok(())
}

/// `[defaults.thresholds]` over the built-in ones.
fn default_thresholds(file: &ConfigFile) -> Thresholds {
    file.defaults
        .thresholds
        .unwrap_or_default()
        .over(Thresholds::DEFAULT)
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(
        path: &Path,
        tz_override: Option<&str>,
        sl_override: Option<u32>,
    ) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Config::parse(&text, tz_override, sl_override)
            .with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Parses config text; `tz_override` and `sl_override` (the command
    /// line's `--tz` and `--sl-threshold`) replace the `[defaults]` values.
    pub fn parse(
        text: &str,
        tz_override: Option<&str>,
        sl_override: Option<u32>,
    ) -> anyhow::Result<Config> {
        let file: ConfigFile = toml::from_str(text)?;
        Config::from_file(file, tz_override, sl_override)
    }

    pub fn from_file(
        mut file: ConfigFile,
        tz_override: Option<&str>,
        sl_override: Option<u32>,
    ) -> anyhow::Result<Config> {
        if let Some(tz) = tz_override {
            time::zone(tz)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("--tz (or CALLBOARD_TZ) `{tz}`"))?;
            file.defaults.tz = Some(tz.to_string());
        }
        if let Some(sl) = sl_override {
            file.defaults.sl_threshold_s = Some(sl);
        }
        if let Some(q) = file.defaults.queues.keys().next() {
            bail!("defaults.queues.{q}: queues are set per tenant, in [tenants.NAME.queues.{q}]");
        }
        if let Some(m) = file.defaults.members.keys().next() {
            bail!(
                "defaults.members.`{m}`: members are named per tenant, in [tenants.NAME.members]"
            );
        }
        let interval_ok = |at: &str, m: Option<u32>| match m {
            Some(m) if !INTERVAL_MINUTES.contains(&m) => {
                bail!("{at}.interval_minutes must be 15, 30 or 60, got {m}")
            }
            _ => Ok(()),
        };
        interval_ok("defaults", file.defaults.interval_minutes)?;
        for (name, t) in &file.tenants {
            interval_ok(&format!("tenants.{name}"), t.interval_minutes)?;
        }
        if let Some(s) = file.defaults.services.keys().next() {
            bail!(
                "defaults.services.{s}: services are set per tenant, in [tenants.NAME.services.{s}]"
            );
        }
        let level = |at: &str, s: &Settings| {
            check_lists(
                at,
                s.sl_thresholds_s.as_deref(),
                s.recent_windows_min.as_deref(),
                s.sl_target,
                s.staffing_window_min,
                s.max_occupancy,
            )
        };
        level("defaults", &file.defaults)?;
        // Each section's values are checked as they apply: over the ones
        // they fall back to.
        let default_thresholds = default_thresholds(&file);
        default_thresholds.check("defaults")?;
        for (name, t) in &file.tenants {
            t.thresholds
                .unwrap_or_default()
                .over(default_thresholds)
                .check(&format!("tenants.{name}"))?;
        }
        check_labels("defaults", &file.defaults.reason_labels)?;
        check_state_limits("defaults", &file.defaults.state_limits_s)?;
        for (name, t) in &file.tenants {
            level(&format!("tenants.{name}"), t)?;
            check_labels(&format!("tenants.{name}"), &t.reason_labels)?;
            check_state_limits(&format!("tenants.{name}"), &t.state_limits_s)?;
            for (q, qf) in &t.queues {
                let at = format!("tenants.{name}.queues.{q}");
                check_lists(
                    &at,
                    qf.sl_thresholds_s.as_deref(),
                    qf.recent_windows_min.as_deref(),
                    None,
                    None,
                    None,
                )?;
            }
            for (sv, sf) in &t.services {
                let at = format!("tenants.{name}.services.{sv}");
                check_name(sv).with_context(|| at.clone())?;
                check_lists(
                    &at,
                    None,
                    None,
                    sf.sl_target,
                    sf.staffing_window_min,
                    sf.max_occupancy,
                )?;
            }
        }
        let default_tz = time::zone(file.defaults.tz.as_deref().unwrap_or("UTC"))
            .map_err(anyhow::Error::msg)
            .context("defaults.tz")?;
        for (name, t) in &file.tenants {
            check_name(name).with_context(|| format!("tenant `{name}`"))?;
            if let Some(tz) = &t.tz {
                time::zone(tz)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("tenants.{name}.tz"))?;
            }
            for (m, f) in &t.members {
                let (agent, _) = f.resolved();
                check_name(&agent).with_context(|| format!("tenants.{name}.members.`{m}`"))?;
                anyhow::ensure!(
                    !m.contains('|'),
                    "tenants.{name}.members.`{m}`: a queue_log member has no `|`"
                );
            }
            for (q, qf) in &t.queues {
                check_name(q).with_context(|| format!("tenants.{name}.queues: queue `{q}`"))?;
                if let Some(s) = &qf.service {
                    check_name(s).with_context(|| format!("tenants.{name}.queues.{q}.service"))?;
                }
            }
        }
        let builtin = QueueSettings {
            sl_threshold_s: DEFAULT_SL_THRESHOLD_S,
            short_abandon_s: DEFAULT_SHORT_ABANDON_S,
            sl_formula: SlFormula::Offered,
            max_wait_s: DEFAULT_MAX_WAIT_S,
            sl_thresholds_s: Few::new(&[DEFAULT_SL_THRESHOLD_S]).expect("one value fits"),
            recent_windows_min: Few::new(&DEFAULT_RECENT_WINDOWS_MIN).expect("two values fit"),
            ewt_method: EwtMethod::default(),
        };
        let default_queue = merge(builtin, (&file.defaults).into());
        let d = &file.defaults;
        let default_service = merge_service(
            ServiceSettings {
                sl_target: DEFAULT_SL_TARGET,
                staffing_window_min: DEFAULT_STAFFING_WINDOW_MIN,
                max_occupancy: None,
            },
            d.sl_target,
            d.staffing_window_min,
            d.max_occupancy,
        );
        let mut tokens = Vec::new();
        for (i, t) in file.tokens.iter().enumerate() {
            let token = check_token(&format!("tokens[{i}] ({:?})", t.name), t, &tokens)?;
            tokens.push(token);
        }
        let limits = &file.limits;
        let max_event_bytes = limits.max_event_bytes.unwrap_or(DEFAULT_MAX_EVENT_BYTES);
        if !(256..=16 << 20).contains(&max_event_bytes) {
            bail!("limits.max_event_bytes must be between 256 and 16777216, got {max_event_bytes}");
        }
        let skew_s = limits.max_clock_skew_s.unwrap_or(DEFAULT_MAX_CLOCK_SKEW_S);
        if skew_s > 7 * 86_400 {
            bail!("limits.max_clock_skew_s must be at most 604800 (a week), got {skew_s}");
        }
        let max_clock_skew_ms = skew_s as i64 * 1000;
        let d = Limits::default();
        let limits = Limits {
            tenants: limits.max_tenants.unwrap_or(d.tenants),
            services: limits.max_services.unwrap_or(d.services),
            queues: limits.max_queues.unwrap_or(d.queues),
            agents: limits.max_agents.unwrap_or(d.agents),
            reasons: limits.max_reasons.unwrap_or(d.reasons),
        };
        let config = Config {
            tokens,
            file,
            default_tz,
            default_queue,
            default_service,
            max_event_bytes,
            max_clock_skew_ms,
            limits,
        };
        for name in config.file.tenants.keys() {
            let t = config.tenant(name);
            let mut all = t.queue_defaults.sl_thresholds_s.as_slice().to_vec();
            for (_, q) in t.queues.values() {
                all.extend(q.sl_thresholds_s.iter());
            }
            if Few::new(&all).is_none() {
                bail!(
                    "tenants.{name}: its queues list more than {} different sl_thresholds_s in all",
                    Few::CAP
                );
            }
        }
        Ok(config)
    }

    /// The `[limits]` section as written.
    pub fn limits(&self) -> &LimitsFile {
        &self.file.limits
    }

    /// Resolved settings of a tenant (named in the file or not).
    pub fn tenant(&self, name: &str) -> TenantSettings {
        let default_thresholds = default_thresholds(&self.file);
        let Some(t) = self.file.tenants.get(name) else {
            return TenantSettings {
                thresholds: default_thresholds,
                tz: self.default_tz.clone(),
                queue_defaults: self.default_queue,
                queues: BTreeMap::new(),
                members: BTreeMap::new(),
                interval_minutes: self.default_interval(),
                reason_labels: Arc::new(self.file.defaults.reason_labels.clone()),
                state_limits_s: Arc::new(merge_limits(&[&self.file.defaults.state_limits_s])),
                service_defaults: self.default_service,
                services: BTreeMap::new(),
                scopes: self.scopes_of(name),
            };
        };
        let tz =
            t.tz.as_deref()
                .and_then(|z| time::zone(z).ok())
                .unwrap_or_else(|| self.default_tz.clone());
        let queue_defaults = merge(self.default_queue, t.into());
        let queues = t
            .queues
            .iter()
            .map(|(q, qf)| {
                (
                    q.clone(),
                    (qf.service.clone(), merge(queue_defaults, qf.into())),
                )
            })
            .collect();
        let service_defaults = merge_service(
            self.default_service,
            t.sl_target,
            t.staffing_window_min,
            t.max_occupancy,
        );
        let services = t
            .services
            .iter()
            .map(|(name, sf)| {
                let s = merge_service(
                    service_defaults,
                    sf.sl_target,
                    sf.staffing_window_min,
                    sf.max_occupancy,
                );
                (name.clone(), s)
            })
            .collect();
        TenantSettings {
            thresholds: t.thresholds.unwrap_or_default().over(default_thresholds),
            tz,
            queue_defaults,
            queues,
            members: t
                .members
                .iter()
                .map(|(m, f)| (m.clone(), f.resolved()))
                .collect(),
            interval_minutes: t.interval_minutes.unwrap_or(self.default_interval()),
            reason_labels: Arc::new(merge_labels(
                &self.file.defaults.reason_labels,
                &t.reason_labels,
            )),
            state_limits_s: Arc::new(merge_limits(&[
                &self.file.defaults.state_limits_s,
                &t.state_limits_s,
            ])),
            service_defaults,
            services,
            scopes: self.scopes_of(name),
        }
    }

    /// The service sets the tenant's tokens are limited to, each once.
    fn scopes_of(&self, tenant: &str) -> Vec<Scope> {
        let mut scopes: Vec<Scope> = self
            .tokens
            .iter()
            .filter(|t| t.tenant.as_deref() == Some(tenant))
            .filter_map(|t| t.services.clone())
            .collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// Gives a tenant the file does not name (a simulated one) labels for
    /// its away reasons in `lang`; the file's own, if any, win.
    pub fn default_reason_labels(&mut self, tenant: &str, lang: &str, labels: &[(&str, &str)]) {
        if let Some(t) = self.file.tenants.get_mut(tenant) {
            let mine = t.reason_labels.entry(lang.to_string()).or_default();
            for (reason, label) in labels {
                mine.entry(reason.to_string())
                    .or_insert_with(|| label.to_string());
            }
        }
    }

    /// The longest any queue of any tenant the file names lets a call
    /// wait (its `max_wait_s`; 0, never, counts as the default), in ms.
    pub fn longest_max_wait_ms(&self) -> i64 {
        let mut most = self.default_queue.max_wait_s;
        for name in self.file.tenants.keys() {
            let t = self.tenant(name);
            most = most.max(t.queue_defaults.max_wait_s);
            for (_, s) in t.queues.values() {
                most = most.max(s.max_wait_s);
            }
        }
        if most == 0 {
            most = DEFAULT_MAX_WAIT_S;
        }
        i64::from(most) * 1000
    }

    fn default_interval(&self) -> u32 {
        self.file
            .defaults
            .interval_minutes
            .unwrap_or(DEFAULT_INTERVAL_MINUTES)
    }

    /// Gives a tenant the file does not name its own time zone (simulated
    /// tenants keep the zone their traffic follows). Returns false when the
    /// file names the tenant (its settings win) or the zone is unknown.
    pub fn default_tenant_tz(&mut self, tenant: &str, tz: &str) -> bool {
        if self.file.tenants.contains_key(tenant) || time::zone(tz).is_err() {
            return false;
        }
        self.file.tenants.insert(
            tenant.to_string(),
            TenantFile {
                tz: Some(tz.to_string()),
                ..TenantFile::default()
            },
        );
        true
    }

    /// The file's `[serve]` section.
    pub fn serve(&self) -> &ServeLayer {
        &self.file.serve
    }

    /// Tenants the file names, sorted.
    pub fn tenant_names(&self) -> impl Iterator<Item = &str> {
        self.file.tenants.keys().map(String::as_str)
    }

    /// Whether the config names this tenant, in a tenant section or as a
    /// token's tenant: a board may be set up for it before its first event.
    pub fn names_tenant(&self, tenant: &str) -> bool {
        self.tenant_names().any(|t| t == tenant)
            || self
                .tokens
                .iter()
                .any(|t| t.tenant.as_deref() == Some(tenant))
    }

    /// Adds the `[[tokens]]` entries of a tokens file (`--tokens-file`),
    /// checked as the config's are; `from` names it in errors.
    pub fn add_tokens(&mut self, text: &str, from: &Path) -> anyhow::Result<()> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct TokensFile {
            #[serde(default)]
            tokens: Vec<TokenFile>,
        }
        let file: TokensFile =
            toml::from_str(text).with_context(|| format!("tokens file {}", from.display()))?;
        for (i, t) in file.tokens.iter().enumerate() {
            let at = format!("{}: tokens[{i}] ({:?})", from.display(), t.name);
            let token = check_token(&at, t, &self.tokens)?;
            self.tokens.push(token);
        }
        Ok(())
    }

    pub fn shared(self) -> Arc<Config> {
        Arc::new(self)
    }
}

/// Names are 1 to 128 bytes of UTF-8 with no control character, as every
/// entrance checks them (see [`crate::event::check_text`]).
pub fn check_name(name: &str) -> anyhow::Result<()> {
    crate::event::check_text("name", name, true).map_err(anyhow::Error::msg)
}

/// A `[[tokens]]` entry checked (`at` names it in errors), against the
/// tokens already read.
fn check_token(at: &str, t: &TokenFile, existing: &[Token]) -> anyhow::Result<Token> {
    check_name(&t.name).with_context(|| format!("{at}: name"))?;
    if let Some(tenant) = &t.tenant {
        check_name(tenant).with_context(|| format!("{at}: tenant"))?;
    }
    let sha256 =
        parse_sha256(&t.sha256).with_context(|| format!("{at}: sha256 must be 64 hex digits"))?;
    if existing.iter().any(|o: &Token| o.sha256 == sha256) {
        bail!("{at}: the same token hash is configured twice");
    }
    match (t.role, &t.tenant) {
        (Role::Tenant, None) => bail!("{at}: a `tenant` token needs `tenant = \"NAME\"`"),
        (Role::Admin | Role::Metrics, Some(_)) => {
            bail!("{at}: only `tenant` tokens name a tenant")
        }
        _ => {}
    }
    if !t.services.is_empty() && t.role != Role::Tenant {
        bail!("{at}: only `tenant` tokens are limited to services");
    }
    if t.services.len() > MAX_SCOPE_SERVICES {
        bail!(
            "{at}: at most {MAX_SCOPE_SERVICES} services, got {}",
            t.services.len()
        );
    }
    for s in &t.services {
        check_name(s).with_context(|| format!("{at}: services"))?;
    }
    let allow = t
        .allow
        .iter()
        .map(|a| {
            parse_net(a).with_context(|| format!("{at}: `{a}` is not an IP address or CIDR range"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Token {
        name: t.name.clone(),
        sha256,
        role: t.role,
        tenant: t.tenant.clone(),
        services: scope_of(&t.services),
        allow,
    })
}
