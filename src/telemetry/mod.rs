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

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

use crate::decode::Reason;
use crate::event::Source;
use crate::wire::{AgentCounts, ByState, QueueStats, Snapshot};

pub mod names;

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
        gauge!(names::EVENT_LOG_REBUILD_EVENTS).set(self.events as f64);
        gauge!(names::EVENT_LOG_REBUILD_DURATION).set(self.took.as_secs_f64());
    }
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
        gauge!(names::REBUILD_EVENTS, "topic" => self.topic.to_string()).set(self.events as f64);
        gauge!(names::REBUILD_DURATION, "topic" => self.topic.to_string())
            .set(self.took.as_secs_f64());
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
        counter!(names::INGEST_INCOMPLETE).increment(0);
        for reason in ["per_address", "request_timeout", "idle", "full"] {
            counter!(names::HTTP_CONNECTIONS_CLOSED, "listener" => "main", "reason" => reason)
                .increment(0);
        }
        WebsocketClients {
            open: self.websocket_clients,
        }
        .emit();
        Recovering(self.recovering).emit();
    }
}

/// HELP lines and units of every metric.
pub fn describe() {
    let calls = |name: &'static str, what: &'static str| describe_counter!(name, Unit::Count, what);
    calls(
        names::INBOUND_CALLS,
        "Calls queued today (local day of the tenant), per queue.",
    );
    calls(
        names::ANSWERED_CALLS,
        "Calls queued today and answered, per queue.",
    );
    calls(
        names::ABANDONED_CALLS,
        "Calls queued today and abandoned while waiting, per queue.",
    );
    calls(
        names::ANSWERED_IN_SL_CALLS,
        "Calls queued today and answered within the queue's SL threshold.",
    );
    calls(
        names::CALLBACK_CALLS,
        "Calls queued today that left the queue as a callback request.",
    );
    describe_gauge!(
        names::WAITING_CALLS,
        Unit::Count,
        "Calls waiting for an agent now, per queue."
    );
    describe_gauge!(
        names::LONGEST_WAIT,
        Unit::Seconds,
        "Age of the oldest waiting call, per queue."
    );
    describe_gauge!(
        names::ANSWER_RATIO,
        "Answered / inbound today, per queue (0..1; NaN with no calls)."
    );
    describe_gauge!(
        names::SERVICE_LEVEL_RATIO,
        "Service level today, per queue (0..1; NaN with no calls)."
    );
    describe_gauge!(
        names::TENANT_ANSWER_RATIO,
        "Answered / inbound today for the whole tenant (0..1; NaN with no calls)."
    );
    describe_gauge!(
        names::TENANT_SERVICE_LEVEL_RATIO,
        "Service level today for the whole tenant (0..1; NaN with no calls)."
    );
    describe_gauge!(
        names::TENANT_WAITING_CALLS,
        Unit::Count,
        "Calls waiting now in all the tenant's queues."
    );
    describe_gauge!(
        names::TENANT_LONGEST_WAIT,
        Unit::Seconds,
        "Age of the tenant's oldest waiting call."
    );
    describe_gauge!(
        names::AGENTS,
        Unit::Count,
        "Agents of a service by state (an agent counts in each of its services)."
    );
    describe_gauge!(
        names::TENANT_AGENTS,
        Unit::Count,
        "Agents of the tenant by state."
    );
    describe_counter!(
        names::EVENTS,
        Unit::Count,
        "Events applied by the engine, by source and outcome."
    );
    describe_counter!(
        names::DEAD_LETTERS_DROPPED,
        Unit::Count,
        "Rejected Kafka messages not copied to the dead-letter topic because its producer queue was full (they are still counted as rejected)."
    );
    describe_counter!(
        names::EXPIRED_CALLS,
        Unit::Count,
        "Calls let go because their end event never came, when a later event of the tenant passed their deadline: waiting past the queue's max_wait_s (counted as exited), or answered and never ended a day later."
    );
    describe_counter!(
        names::EVENTS_REJECTED,
        Unit::Count,
        "Inputs rejected, by source and reason: by the decoder, or by the engine (past a limit, of a closed day)."
    );
    describe_histogram!(
        names::PUBLISH_DURATION,
        Unit::Seconds,
        "Time to build and publish one round of snapshots."
    );
    describe_counter!(
        names::HISTORY_ROWS,
        Unit::Count,
        "Interval rows written to the history store (op: upsert, or delete of a row left empty)."
    );
    describe_histogram!(
        names::HISTORY_WRITE_DURATION,
        Unit::Seconds,
        "Time to write one transaction of interval rows to the history store."
    );
    describe_gauge!(
        names::HTTP_CONNECTIONS,
        Unit::Count,
        "Open HTTP connections: pending (not yet authenticated, bounded by limits.max_pending_connections) and authenticated (limits.max_connections)."
    );
    describe_counter!(
        names::HTTP_CONNECTIONS_CLOSED,
        Unit::Count,
        "HTTP connections closed or refused by the listener's bounds: per_address (too many pending from one address), request_timeout (not authenticated in time), idle, full (no authenticated place left)."
    );
    describe_gauge!(
        names::SOURCE_FAILING,
        Unit::Count,
        "1 while a source that feeds one tenant (a queue_log) fails: its tenant is shown stale and the source is tried again; see /readyz for the error."
    );
    describe_counter!(
        names::INGEST_INCOMPLETE,
        Unit::Count,
        "Ingest requests whose body ended before its announced length (the client stopped or fell silent): nothing of them was read."
    );
    describe_counter!(
        names::HISTORY_ROWS_REFUSED,
        Unit::Count,
        "Interval rows the history store refused (a value it cannot store): set aside and told in the log, the other rows written."
    );
    describe_counter!(
        names::EVENT_LOG_WRITE_ERRORS,
        Unit::Count,
        "Ingest requests refused (503) because the event log could not be written; nothing of them was accepted."
    );
    describe_gauge!(
        names::EVENT_LOG_REBUILD_EVENTS,
        Unit::Count,
        "Events the last start read back from HTTP ingest's event log."
    );
    describe_gauge!(
        names::EVENT_LOG_REBUILD_DURATION,
        Unit::Seconds,
        "How long the last start took to read HTTP ingest's event log and apply it."
    );
    describe_counter!(
        names::HISTORY_WRITE_ERRORS,
        Unit::Count,
        "Failed writes to the history store (the rows are kept and written again)."
    );
    describe_counter!(
        names::HISTORY_ROUNDS_DEFERRED,
        Unit::Count,
        "Rounds in which a shard kept its changed interval rows because the history writer was behind."
    );
    describe_gauge!(
        names::WEBSOCKET_CLIENTS,
        Unit::Count,
        "Open websocket connections."
    );
    describe_gauge!(
        names::RECOVERING,
        "1 while the engine rebuilds its state before going live."
    );
    describe_gauge!(
        names::CONSUMER_LAG,
        Unit::Count,
        "Messages between the consumer's position and the partition's end."
    );
    describe_gauge!(
        names::REBUILD_EVENTS,
        Unit::Count,
        "Messages the last rebuild of the assigned partitions read (0 before the first)."
    );
    describe_gauge!(
        names::REBUILD_DURATION,
        Unit::Seconds,
        "How long the last rebuild of the assigned partitions took, from assignment to live."
    );
    describe_counter!(
        names::SNAPSHOTS_NOT_SHARED,
        Unit::Count,
        "Local publications not written to the snapshot topic because its writer's queue was full."
    );
    describe_counter!(
        names::SNAPSHOTS_RECEIVED,
        Unit::Count,
        "Snapshots read from the snapshot topic, by outcome: taken (served here) or ignored (computed here, or not newer)."
    );
    describe_histogram!(
        names::SNAPSHOT_FANOUT,
        Unit::Seconds,
        "From a snapshot's building by its owner to its arrival here through the snapshot topic."
    );
    describe_counter!(
        names::TENANT_AGENT_MISSED_CALLS,
        Unit::Count,
        "Calls offered to the tenant's agents today that they did not answer."
    );
    describe_counter!(
        names::TENANT_AGENT_BUSY_SECONDS,
        Unit::Seconds,
        "Seconds the tenant's agents spent today ringing, talking, dialing, on outbound calls or in wrap-up."
    );
    describe_counter!(
        names::TENANT_AGENT_READY_SECONDS,
        Unit::Seconds,
        "Seconds the tenant's agents spent ready today (occupancy = busy / (busy + ready))."
    );
}

fn ratio(r: Option<f64>) -> f64 {
    r.map_or(f64::NAN, |v| v / 100.0)
}

fn queue_metrics(tenant: &str, service: &str, queue: &str, s: &QueueStats) {
    let labels = [
        ("tenant", tenant.to_string()),
        ("service", service.to_string()),
        ("queue", queue.to_string()),
    ];
    counter!(names::INBOUND_CALLS, &labels).absolute(s.inbound);
    counter!(names::ANSWERED_CALLS, &labels).absolute(s.answered);
    counter!(names::ABANDONED_CALLS, &labels).absolute(s.abandoned);
    counter!(names::ANSWERED_IN_SL_CALLS, &labels).absolute(s.answered_in_sl);
    counter!(names::CALLBACK_CALLS, &labels).absolute(s.callbacks);
    gauge!(names::WAITING_CALLS, &labels).set(s.waiting as f64);
    gauge!(names::LONGEST_WAIT, &labels).set(s.longest_wait_s as f64);
    gauge!(names::ANSWER_RATIO, &labels).set(ratio(s.answer_rate));
    gauge!(names::SERVICE_LEVEL_RATIO, &labels).set(ratio(s.service_level));
}

/// Agents by state. Where no agent is known (a tenant or service of queues
/// only) just `ready` is exported, at 0: the alert on customers waiting
/// with no agent ready needs it, and the seven other zeros would be most of
/// a small tenant's series.
fn agent_metrics(name: &'static str, labels: &[(&'static str, String)], a: &AgentCounts) {
    let b = &a.by_state;
    let none = *b == ByState::default();
    for (state, n) in [
        ("logged_out", b.logged_out),
        ("ready", b.ready),
        ("away", b.away),
        ("ringing", b.ringing),
        ("talking", b.talking),
        ("dialing", b.dialing),
        ("outbound", b.outbound),
        ("wrap_up", b.wrap_up),
    ] {
        if none && state != "ready" {
            continue;
        }
        let mut l = labels.to_vec();
        l.push(("state", state.to_string()));
        gauge!(name, &l).set(n as f64);
    }
}

/// A tenant's snapshot was published: its figures become its series.
pub struct SnapshotPublished<'a>(pub &'a Snapshot);

impl Signal for SnapshotPublished<'_> {
    fn emit(self) {
        let s = self.0;
        let tenant: &str = &s.tenant;
        for q in &s.queues {
            queue_metrics(tenant, &q.service, &q.queue, &q.stats);
        }
        for svc in &s.services {
            let labels = [
                ("tenant", tenant.to_string()),
                ("service", svc.service.to_string()),
            ];
            agent_metrics(names::AGENTS, &labels, &svc.agents);
        }
        let t = [("tenant", tenant.to_string())];
        agent_metrics(names::TENANT_AGENTS, &t, &s.agents);
        gauge!(names::TENANT_ANSWER_RATIO, &t).set(ratio(s.totals.answer_rate));
        gauge!(names::TENANT_SERVICE_LEVEL_RATIO, &t).set(ratio(s.totals.service_level));
        gauge!(names::TENANT_WAITING_CALLS, &t).set(s.totals.waiting as f64);
        gauge!(names::TENANT_LONGEST_WAIT, &t).set(s.totals.longest_wait_s as f64);
        // Agent figures of today, summed over the tenant's agents: per agent
        // they would cost a series each. A tenant without agents has none.
        if s.agent_list.is_empty() {
            return;
        }
        let (mut missed, mut busy, mut ready) = (0, 0, 0);
        for a in &s.agent_list {
            let t = &a.time_today_s;
            missed += a.missed;
            busy += t.ringing + t.talking + t.dialing + t.outbound + t.wrap_up;
            ready += t.ready;
        }
        counter!(names::TENANT_AGENT_MISSED_CALLS, &t).absolute(missed);
        counter!(names::TENANT_AGENT_BUSY_SECONDS, &t).absolute(busy);
        counter!(names::TENANT_AGENT_READY_SECONDS, &t).absolute(ready);
    }
}
