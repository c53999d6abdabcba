//! The one place where bytes become events. Every source (file, Kafka, HTTP,
//! simulator) hands its bytes here; a rejection always carries one reason
//! from the small fixed set in [`Reason`].

mod flat;
pub mod json;
pub mod queue_log;

use std::fmt;

use crate::time::Millis;

pub use json::decode_json;
pub use queue_log::QueueLogDecoder;

/// Why an input was rejected. The names are stable: they label metrics and
/// dead-letter records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Larger than the configured limit (default 64 KiB).
    TooLarge,
    /// Not valid JSON (or not UTF-8).
    InvalidJson,
    /// Valid JSON but not an object.
    NotAnObject,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong type or an unacceptable value.
    InvalidField,
    /// `v` is not a contract version this engine reads.
    UnsupportedVersion,
    /// `type` is not one of the contract's event types.
    UnknownType,
    /// `state` is not one of the contract's agent states.
    UnknownState,
    /// `ts` is neither RFC 3339 with an offset nor epoch milliseconds in range.
    BadTs,
    /// A queue_log line without the fixed leading fields.
    MalformedLine,
    /// `ts` is further ahead of the clock than the configured skew allows.
    FutureTs,
    /// The event names a new tenant, service, queue, agent or reason past a
    /// configured limit.
    OverLimit,
    /// A call or callback event of a local day before yesterday (of the
    /// tenant's newest event): that day is closed.
    TooOld,
}

crate::event::names!(Reason {
    TooLarge => "too_large",
    InvalidJson => "invalid_json",
    NotAnObject => "not_an_object",
    MissingField => "missing_field",
    InvalidField => "invalid_field",
    UnsupportedVersion => "unsupported_version",
    UnknownType => "unknown_type",
    UnknownState => "unknown_state",
    BadTs => "bad_ts",
    MalformedLine => "malformed_line",
    FutureTs => "future_ts",
    OverLimit => "over_limit",
    TooOld => "too_old",
});

impl Reason {}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected input: its reason and a message for a human.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Reject {
    pub reason: Reason,
    pub detail: String,
}

impl Reject {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Reject {
        Reject {
            reason,
            detail: detail.into(),
        }
    }
}

/// Refuses an event time more than `skew_ms` after `now`. One event from a
/// producer whose clock runs fast (or dated 9999) would otherwise move its
/// tenant's day ahead and close today: every later event would count as too
/// old. So "now" never moves past the clock.
pub fn check_not_ahead(ts: Millis, now: Millis, skew_ms: Millis) -> Result<(), Reject> {
    if ts <= now.saturating_add(skew_ms) {
        return Ok(());
    }
    Err(Reject::new(
        Reason::FutureTs,
        format!(
            "`ts` {} is {} s ahead of the clock ({}); at most {} s is accepted",
            crate::time::format_rfc3339(ts),
            (ts - now) / 1000,
            crate::time::format_rfc3339(now),
            skew_ms / 1000
        ),
    ))
}

/// The rejection of an event the engine refused for a bound.
pub fn over_limit(limit: crate::engine::Limit) -> Reject {
    Reject::new(
        Reason::OverLimit,
        format!(
            "a new one of the {} would pass the configured limit ([limits] max_{})",
            limit.as_str(),
            limit.as_str()
        ),
    )
}

/// The rejection of an event the engine refused: past a bound, or of a
/// closed day. `None` for every other outcome (applied, a duplicate, or a
/// valid event that changes nothing).
pub fn refusal(outcome: crate::engine::Outcome) -> Option<Reject> {
    use crate::engine::{NoEffect, Outcome};
    match outcome {
        Outcome::OverLimit(limit) => Some(over_limit(limit)),
        Outcome::NoEffect(NoEffect::TooOld) => Some(Reject::new(
            Reason::TooOld,
            "its local day (or, for a call never seen queued, the day its wait began by \
             `queued_ts`) is before yesterday of the tenant's newest event: that day is closed \
             (`callboard history rebuild` recomputes past days from a log)",
        )),
        _ => None,
    }
}

/// Input formats a byte stream can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One contract event (JSON object) per line.
    Ndjson,
    /// Asterisk app_queue `queue_log` lines.
    #[value(name = "queue_log", alias = "queue-log")]
    QueueLog,
}

#[cfg(test)]
mod tests {
    use crate::engine::{Limit, NoEffect, Outcome};

    /// What the engine undoes as refused (a tenant its refused first event
    /// made) is what the sources tell their senders is refused.
    #[test]
    fn the_engine_and_the_sources_agree_on_what_is_refused() {
        let mut outcomes = vec![Outcome::Applied, Outcome::Duplicate, Outcome::Late];
        outcomes.extend(NoEffect::ALL.iter().map(|&n| Outcome::NoEffect(n)));
        outcomes.extend(Limit::ALL.iter().map(|&l| Outcome::OverLimit(l)));
        for o in outcomes {
            assert_eq!(super::refusal(o).is_some(), o.is_refusal(), "{o:?}");
        }
    }
}
