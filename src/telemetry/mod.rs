//! The engine's signals, typed: one struct per thing that happens, emitted
//! where it happens (`EventsRejected { .. }.emit()`), each knowing its
//! metrics. The metric names are in [`names`]; the exporter that renders
//! them is `outputs::prometheus`.
//!
//! Labels are tenant, service, queue and state only, never an agent or call
//! id (cardinality). Daily figures are counters set to their absolute
//! value: at local midnight they drop to 0, which Prometheus's `rate()` and
//! `increase()` read as a counter reset.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use crate::decode::Reason;
use crate::event::Source;

mod describe;
pub mod names;
mod snapshot;

pub use describe::{describe, histogram_buckets};
pub use snapshot::SnapshotPublished;

/// A warning told in the log at most once a minute, with how often it
/// happened since it was last told: a flood of the same failure must not
/// flood the log too. (Counting is the metrics' job; this is the log's.)
#[derive(Debug, Default)]
pub struct Told {
    last: Option<std::time::Instant>,
    since: u64,
}

impl Told {
    /// Counts one occurrence; `Some(n)` when it is to be told now, `n`
    /// occurrences since it was last told (this one included).
    pub fn due(&mut self) -> Option<u64> {
        self.since += 1;
        if self
            .last
            .is_some_and(|t| t.elapsed() < Duration::from_secs(60))
        {
            return None;
        }
        self.last = Some(std::time::Instant::now());
        Some(std::mem::take(&mut self.since))
    }
}

/// Something that happened, told to the metrics.
pub trait Signal {
    fn emit(self);
}

/// Outcomes of one batch of events applied by a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsApplied {
    pub source: Source,
    pub applied: u64,
    pub duplicate: u64,
    pub late: u64,
    pub no_effect: u64,
}

impl EventsApplied {
    pub fn new(source: Source) -> Self {
        EventsApplied {
            source,
            applied: 0,
            duplicate: 0,
            late: 0,
            no_effect: 0,
        }
    }

    fn by_outcome(&self) -> [(&'static str, u64); 4] {
        [
            ("applied", self.applied),
            ("duplicate", self.duplicate),
            ("late", self.late),
            ("no_effect", self.no_effect),
        ]
    }
}

impl Signal for EventsApplied {
    fn emit(self) {
        for (outcome, n) in self.by_outcome() {
            if n > 0 {
                counter!(names::EVENTS, "source" => self.source.as_str(), "outcome" => outcome)
                    .increment(n);
            }
        }
    }
}

/// Inputs refused (by the decoder, or by a limit), with their reason.
pub struct EventsRejected {
    pub source: Source,
    pub reason: Reason,
    pub count: u64,
}

impl EventsRejected {
    /// One input refused.
    pub fn one(source: Source, reason: Reason) -> Self {
        EventsRejected {
            source,
            reason,
            count: 1,
        }
    }
}

impl Signal for EventsRejected {
    fn emit(self) {
        counter!(names::EVENTS_REJECTED, "source" => self.source.as_str(), "reason" => self.reason.as_str())
            .increment(self.count);
    }
}

/// A dead-letter copy dropped because the producer's queue was full.
pub struct DeadLetterDropped;

impl Signal for DeadLetterDropped {
    fn emit(self) {
        counter!(names::DEAD_LETTERS_DROPPED).increment(1);
    }
}

/// Calls let go because their end event never came.
pub struct CallsExpired {
    pub waiting: u64,
    pub answered: u64,
}

impl Signal for CallsExpired {
    fn emit(self) {
        for (phase, n) in [("waiting", self.waiting), ("answered", self.answered)] {
            if n > 0 {
                counter!(names::EXPIRED_CALLS, "phase" => phase).increment(n);
            }
        }
    }
}

/// One round of snapshots built and published, and how long it took.
pub struct PublishRound {
    pub took: Duration,
}

impl Signal for PublishRound {
    fn emit(self) {
        histogram!(names::PUBLISH_DURATION).record(self.took.as_secs_f64());
    }
}

/// One transaction of interval rows written to the history store.
pub struct HistoryWritten {
    pub upserted: usize,
    pub deleted: usize,
    pub took: Duration,
}

impl Signal for HistoryWritten {
    fn emit(self) {
        counter!(names::HISTORY_ROWS, "op" => "upsert").increment(self.upserted as u64);
        counter!(names::HISTORY_ROWS, "op" => "delete").increment(self.deleted as u64);
        histogram!(names::HISTORY_WRITE_DURATION).record(self.took.as_secs_f64());
    }
}

/// A write to the history store failed; its rows are kept and tried again.
pub struct HistoryWriteFailed;

impl Signal for HistoryWriteFailed {
    fn emit(self) {
        counter!(names::HISTORY_WRITE_ERRORS).increment(1);
    }
}

/// How full the listener's pools of connections are.
pub struct Connections {
    /// Which listener (`main`, `metrics`).
    pub listener: &'static str,
    /// Not yet authenticated.
    pub pending: usize,
    pub authenticated: usize,
}

impl Signal for Connections {
    fn emit(self) {
        gauge!(names::HTTP_CONNECTIONS, "listener" => self.listener, "state" => "pending")
            .set(self.pending as f64);
        gauge!(names::HTTP_CONNECTIONS, "listener" => self.listener, "state" => "authenticated")
            .set(self.authenticated as f64);
    }
}

/// A connection a listener closed or refused, and why (`per_address`,
/// `request_timeout`, `idle`, `full`).
pub struct ConnectionClosed(pub &'static str, pub &'static str);

impl Signal for ConnectionClosed {
    fn emit(self) {
        counter!(names::HTTP_CONNECTIONS_CLOSED, "listener" => self.0, "reason" => self.1)
            .increment(1);
    }
}

/// A source that feeds one tenant fails (1) or works again (0).
pub struct SourceFailing<'a> {
    pub source: &'a str,
    pub failing: bool,
}

impl Signal for SourceFailing<'_> {
    fn emit(self) {
        gauge!(names::SOURCE_FAILING, "source" => self.source.to_string()).set(if self.failing {
            1.0
        } else {
            0.0
        });
    }
}

/// An ingest request whose body ended before its announced length (the
/// client stopped, or was silent past the idle timeout): not input
/// rejected, a request that never arrived whole.
pub struct IngestIncomplete;

impl Signal for IngestIncomplete {
    fn emit(self) {
        counter!(names::INGEST_INCOMPLETE).increment(1);
    }
}

/// The history store refused a row (it cannot store it): set aside.
pub struct HistoryRowRefused;

impl Signal for HistoryRowRefused {
    fn emit(self) {
        counter!(names::HISTORY_ROWS_REFUSED).increment(1);
    }
}

/// HTTP ingest could not write its event log: the request was refused.
pub struct LogWriteFailed;

impl Signal for LogWriteFailed {
    fn emit(self) {
        counter!(names::EVENT_LOG_WRITE_ERRORS).increment(1);
    }
}

/// The event log was read at start: how many events, and how long it took.
pub struct LogRebuilt {
    pub events: u64,
    pub took: Duration,
}

impl Signal for LogRebuilt {
    fn emit(self) {
        kept_gauge(names::EVENT_LOG_REBUILD_EVENTS, None, self.events as f64);
        kept_gauge(
            names::EVENT_LOG_REBUILD_DURATION,
            None,
            self.took.as_secs_f64(),
        );
    }
}

/// Gauges of the process set once in a while (the last rebuild's figures),
/// by name and topic, with their last value: set again with the process's
/// own series, so that they do not go idle and leave `/metrics`.
static KEPT_GAUGES: std::sync::Mutex<
    std::collections::BTreeMap<(&'static str, Option<String>), f64>,
> = std::sync::Mutex::new(std::collections::BTreeMap::new());

fn set_gauge(name: &'static str, topic: Option<String>, value: f64) {
    match topic {
        Some(topic) => gauge!(name, "topic" => topic).set(value),
        None => gauge!(name).set(value),
    }
}

/// Sets a gauge and keeps its value (see [`KEPT_GAUGES`]).
fn kept_gauge(name: &'static str, topic: Option<&str>, value: f64) {
    let topic = topic.map(str::to_string);
    set_gauge(name, topic.clone(), value);
    KEPT_GAUGES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((name, topic), value);
}

/// A shard found the history writer's queue full and kept its changed rows
/// for a later round (they are coalesced, not lost).
pub struct HistoryRoundDeferred;

impl Signal for HistoryRoundDeferred {
    fn emit(self) {
        counter!(names::HISTORY_ROUNDS_DEFERRED).increment(1);
    }
}

/// Open websocket connections, after one opened or closed.
pub struct WebsocketClients {
    pub open: usize,
}

impl Signal for WebsocketClients {
    fn emit(self) {
        gauge!(names::WEBSOCKET_CLIENTS).set(self.open as f64);
    }
}

/// Whether the service is rebuilding its state (not ready).
pub struct Recovering(pub bool);

impl Signal for Recovering {
    fn emit(self) {
        gauge!(names::RECOVERING).set(if self.0 { 1.0 } else { 0.0 });
    }
}

/// A partition's consumer lag, as the Kafka client last reported it.
pub struct ConsumerLag<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub lag: i64,
}

impl Signal for ConsumerLag<'_> {
    fn emit(self) {
        gauge!(
            names::CONSUMER_LAG,
            "topic" => self.topic.to_string(),
            "partition" => self.partition.to_string()
        )
        .set(self.lag as f64);
    }
}

/// A rebuild of the assigned partitions finished (the member went live):
/// how many messages it read and how long it took.
pub struct RebuildFinished<'a> {
    pub topic: &'a str,
    pub events: u64,
    pub took: Duration,
}

impl Signal for RebuildFinished<'_> {
    fn emit(self) {
        kept_gauge(names::REBUILD_EVENTS, Some(self.topic), self.events as f64);
        kept_gauge(
            names::REBUILD_DURATION,
            Some(self.topic),
            self.took.as_secs_f64(),
        );
    }
}

/// A local publication was not handed to the snapshot topic's writer (its
/// queue was full); the tenant's next publication, a second later, carries
/// everything.
pub struct SnapshotNotShared;

impl Signal for SnapshotNotShared {
    fn emit(self) {
        counter!(names::SNAPSHOTS_NOT_SHARED).increment(1);
    }
}

/// A snapshot published by another process arrived from the snapshot
/// topic: whether it is served now (`taken`), and how long after its owner
/// built it (its `at`, by the two machines' clocks).
pub struct SnapshotReceived {
    pub taken: bool,
    pub delay: Option<Duration>,
}

impl Signal for SnapshotReceived {
    fn emit(self) {
        let outcome = if self.taken { "taken" } else { "ignored" };
        counter!(names::SNAPSHOTS_RECEIVED, "outcome" => outcome).increment(1);
        if let Some(d) = self.delay {
            histogram!(names::SNAPSHOT_FANOUT).record(d.as_secs_f64());
        }
    }
}

/// The process's own series, touched so that they never go idle (counters
/// with their every label, at 0 until something happens), and alerts on
/// their increase see the first event: emit it more often than the
/// exporter's idle timeout.
pub struct ProcessSeries {
    pub websocket_clients: usize,
    pub recovering: bool,
}

impl Signal for ProcessSeries {
    fn emit(self) {
        for source in Source::ALL {
            for (outcome, _) in EventsApplied::new(source).by_outcome() {
                counter!(names::EVENTS, "source" => source.as_str(), "outcome" => outcome)
                    .increment(0);
            }
            for reason in Reason::ALL {
                counter!(names::EVENTS_REJECTED, "source" => source.as_str(), "reason" => reason.as_str())
                    .increment(0);
            }
        }
        for phase in ["waiting", "answered"] {
            counter!(names::EXPIRED_CALLS, "phase" => phase).increment(0);
        }
        counter!(names::DEAD_LETTERS_DROPPED).increment(0);
        counter!(names::SNAPSHOTS_NOT_SHARED).increment(0);
        counter!(names::EVENT_LOG_WRITE_ERRORS).increment(0);
        counter!(names::HISTORY_ROWS_REFUSED).increment(0);
        counter!(names::HISTORY_WRITE_ERRORS).increment(0);
        counter!(names::HISTORY_ROUNDS_DEFERRED).increment(0);
        counter!(names::INGEST_INCOMPLETE).increment(0);
        for reason in ["per_address", "request_timeout", "idle", "full"] {
            counter!(names::HTTP_CONNECTIONS_CLOSED, "listener" => "main", "reason" => reason)
                .increment(0);
        }
        let kept = KEPT_GAUGES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for ((name, topic), value) in kept {
            set_gauge(name, topic, value);
        }
        WebsocketClients {
            open: self.websocket_clients,
        }
        .emit();
        Recovering(self.recovering).emit();
    }
}
