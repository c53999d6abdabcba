//! The HELP line and unit of every metric, and the buckets of the
//! histograms, told to the recorder once.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

use super::names;

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
        names::RECENT_SERVICE_LEVEL_RATIO,
        "Service level over the last `window` (15m, 60m, ...), per service: answered within SL / calls whose wait ended in it (0..1; NaN with none)."
    );
    describe_gauge!(
        names::RECENT_ANSWER_RATIO,
        "Answered / calls whose wait ended in the last `window`, per service (0..1; NaN with none)."
    );
    describe_gauge!(
        names::RECENT_OFFERED_CALLS,
        Unit::Count,
        "Calls whose wait ended in the last `window`, per service."
    );
    describe_gauge!(
        names::TENANT_RECENT_SERVICE_LEVEL_RATIO,
        "Service level over the last `window` for the whole tenant (0..1; NaN with no calls)."
    );
    describe_gauge!(
        names::TENANT_RECENT_ANSWER_RATIO,
        "Answer rate over the last `window` for the whole tenant (0..1; NaN with no calls)."
    );
    describe_gauge!(
        names::TENANT_RECENT_OFFERED_CALLS,
        Unit::Count,
        "Calls whose wait ended in the last `window`, whole tenant."
    );
    describe_gauge!(
        names::AGENTS_REQUIRED,
        Unit::Count,
        "Agents the service needs for its SL target at the traffic of its staffing window (Erlang C; NaN with no traffic)."
    );
    describe_gauge!(
        names::AGENTS_AVAILABLE,
        Unit::Count,
        "The service's agents logged in and not away."
    );
    describe_gauge!(
        names::STAFFING_GAP,
        "Agents required - agents available, per service (above 0: understaffed; NaN with no traffic)."
    );
    describe_gauge!(
        names::ESTIMATED_WAIT,
        Unit::Seconds,
        "Expected wait of a call joining the queue now (NaN when no agent serves it)."
    );
    describe_gauge!(
        names::ESTIMATED_WAIT_MAE,
        Unit::Seconds,
        "Mean absolute error of the estimated wait over the queue's calls answered in the last 60 minutes (NaN with none)."
    );
    describe_gauge!(
        names::ESTIMATED_WAIT_P90_ERROR,
        Unit::Seconds,
        "90th percentile of the estimated wait's absolute error over the last 60 minutes, per queue (NaN with none)."
    );
    describe_gauge!(
        names::ESTIMATED_WAIT_SCORED_CALLS,
        Unit::Count,
        "Calls answered in the last 60 minutes whose estimated wait was scored, per queue."
    );
    describe_gauge!(
        names::THRESHOLD_RATIO,
        "The tenant's board threshold for a ratio (figure: service_level, answer_rate; level: warn = amber, alert = red; 0..1; NaN when not set): the alert rules compare with it."
    );
    describe_gauge!(
        names::THRESHOLD_WAITING_CALLS,
        Unit::Count,
        "The tenant's board threshold for waiting customers (level: warn, alert; NaN when not set)."
    );
    describe_gauge!(
        names::THRESHOLD_LONGEST_WAIT,
        Unit::Seconds,
        "The tenant's board threshold for the longest wait (level: warn, alert; NaN when not set)."
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

/// The buckets of the histograms that are not the exporter's default, in
/// seconds: a publication takes well under a millisecond, a snapshot
/// reaches its clients in tens to hundreds of milliseconds.
pub fn histogram_buckets() -> [(&'static str, &'static [f64]); 2] {
    [
        (
            names::PUBLISH_DURATION,
            &[
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
            ],
        ),
        (
            names::SNAPSHOT_FANOUT,
            &[
                0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
            ],
        ),
    ]
}
