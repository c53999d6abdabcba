//! The history tables, their migrations and the statements that write
//! them. One SQL text for SQLite and PostgreSQL: `$N` parameters, `BIGINT`
//! columns, `ON CONFLICT ... DO UPDATE` upserts.
//!
//! Durations are whole milliseconds (`*_ms`), counts are integers, and
//! `""` in a key column stands for "none" (names are never empty). Every
//! interval table has `start_ms` (the instant), `start` (RFC 3339 with the
//! tenant's offset) and `day` (the tenant's local date), so reports filter
//! by local dates and Grafana plots by instants.

use std::borrow::Cow;
use std::sync::LazyLock;

use sqlx::AnyPool;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::wire::{CallCounts, CallTimes, Fold};

/// The migrations, in order. Never edit one that has shipped: add the
/// next. A new call counter (`wire::counts`) is one more line:
/// `(N, "a queue counter: NAME", Step::AddQueueColumn("NAME"))`.
/// The schema version this callboard writes: its latest migration.
pub const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

const MIGRATIONS: &[(i64, &str, Step)] = &[
    (1, "interval tables", Step::Sql(V1)),
    (2, "day tables", Step::Sql(V2)),
    (3, "a queue's day under its latest service", Step::Sql(V3)),
    (
        4,
        "a queue counter: ewt_scored",
        Step::AddQueueColumn("ewt_scored"),
    ),
    (
        5,
        "a queue counter: ewt_error_sum_ms",
        Step::AddQueueColumn("ewt_error_sum_ms"),
    ),
    (6, "answered within each threshold", Step::Sql(V6)),
    (7, "messages to the floor", Step::Sql(V7)),
    (8, "agents' names", Step::Sql(V8)),
];

/// Each agent's latest display name, so that reports show people, not ids.
const V8: &str = r#"
CREATE TABLE agent_names (
    tenant TEXT NOT NULL,
    agent TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (tenant, agent)
);
"#;

/// Keeps agents' latest names, several rows a statement (`{values}`).
pub const UPSERT_NAME: &str = "INSERT INTO agent_names (tenant, agent, name) VALUES {values} \
     ON CONFLICT (tenant, agent) DO UPDATE SET name = excluded.name";

/// Messages to the floor (`/api/v1/tenants/{t}/messages`): kept here so
/// that the instances sharing a store show the same ones.
const V7: &str = r#"
CREATE TABLE floor_messages (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    text TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);
"#;

/// What a migration does.
#[derive(Clone, Copy)]
enum Step {
    Sql(&'static str),
    /// Adds a call counter's column (stored name) to both queue tables;
    /// rows written before it hold 0.
    AddQueueColumn(&'static str),
}

impl Step {
    fn sql(&self) -> Cow<'static, str> {
        match self {
            Step::Sql(sql) => Cow::Borrowed(sql),
            Step::AddQueueColumn(column) => Cow::Owned(
                ["queue_intervals", "queue_days"]
                    .map(|t| {
                        format!("ALTER TABLE {t} ADD COLUMN {column} BIGINT NOT NULL DEFAULT 0;")
                    })
                    .join("\n"),
            ),
        }
    }
}

/// `answered_within`: one row per queue interval (or day) and threshold,
/// as away time is per reason. A queue's thresholds may change; each row
/// says which it counts.
const V6: &str = r#"
CREATE TABLE queue_within_intervals (
    tenant TEXT NOT NULL,
    queue TEXT NOT NULL,
    scope TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    threshold_s BIGINT NOT NULL,
    service TEXT NOT NULL,
    start TEXT NOT NULL,
    day TEXT NOT NULL,
    answered BIGINT NOT NULL,
    PRIMARY KEY (tenant, queue, scope, start_ms, threshold_s)
);
CREATE INDEX queue_within_intervals_by_day ON queue_within_intervals (tenant, day, queue, scope);
CREATE TABLE queue_within_days (
    tenant TEXT NOT NULL,
    queue TEXT NOT NULL,
    scope TEXT NOT NULL,
    day TEXT NOT NULL,
    threshold_s BIGINT NOT NULL,
    service TEXT NOT NULL,
    answered BIGINT NOT NULL,
    PRIMARY KEY (tenant, queue, scope, day, threshold_s)
);
"#;

const V1: &str = r#"
CREATE TABLE queue_intervals (
    tenant TEXT NOT NULL,
    queue TEXT NOT NULL,
    scope TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    service TEXT NOT NULL,
    start TEXT NOT NULL,
    day TEXT NOT NULL,
    minutes INTEGER NOT NULL,
    inbound BIGINT NOT NULL,
    answered BIGINT NOT NULL,
    abandoned BIGINT NOT NULL,
    short_abandoned BIGINT NOT NULL,
    callbacks BIGINT NOT NULL,
    transferred BIGINT NOT NULL,
    exited BIGINT NOT NULL,
    answered_in_sl BIGINT NOT NULL,
    ivr BIGINT NOT NULL,
    ended BIGINT NOT NULL,
    outbound_attempts BIGINT NOT NULL,
    outbound_connected BIGINT NOT NULL,
    wait_answered_sum_ms BIGINT NOT NULL,
    wait_answered_max_ms BIGINT NOT NULL,
    wait_abandoned_sum_ms BIGINT NOT NULL,
    talk_sum_ms BIGINT NOT NULL,
    wrap_sum_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, queue, scope, start_ms)
);
CREATE INDEX queue_intervals_by_day ON queue_intervals (tenant, day);

CREATE TABLE agent_intervals (
    tenant TEXT NOT NULL,
    agent TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    start TEXT NOT NULL,
    day TEXT NOT NULL,
    minutes INTEGER NOT NULL,
    ready_ms BIGINT NOT NULL,
    away_ms BIGINT NOT NULL,
    ringing_ms BIGINT NOT NULL,
    talking_ms BIGINT NOT NULL,
    dialing_ms BIGINT NOT NULL,
    outbound_call_ms BIGINT NOT NULL,
    wrap_up_ms BIGINT NOT NULL,
    handled BIGINT NOT NULL,
    missed BIGINT NOT NULL,
    talk_ms BIGINT NOT NULL,
    outbound BIGINT NOT NULL,
    PRIMARY KEY (tenant, agent, start_ms)
);
CREATE INDEX agent_intervals_by_day ON agent_intervals (tenant, day);

CREATE TABLE agent_away_intervals (
    tenant TEXT NOT NULL,
    agent TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    reason TEXT NOT NULL,
    start TEXT NOT NULL,
    day TEXT NOT NULL,
    away_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, agent, start_ms, reason)
);
CREATE INDEX agent_away_intervals_by_day ON agent_away_intervals (tenant, day);

CREATE TABLE callback_days (
    tenant TEXT NOT NULL,
    service TEXT NOT NULL,
    day TEXT NOT NULL,
    requested BIGINT NOT NULL,
    assigned BIGINT NOT NULL,
    completed BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    deleted BIGINT NOT NULL,
    open BIGINT NOT NULL,
    PRIMARY KEY (tenant, service, day)
);
"#;

const V2: &str = r#"
DROP INDEX queue_intervals_by_day;
DROP INDEX agent_intervals_by_day;
DROP INDEX agent_away_intervals_by_day;
CREATE INDEX queue_intervals_by_day ON queue_intervals (tenant, day, queue, scope);
CREATE INDEX agent_intervals_by_day ON agent_intervals (tenant, day, agent);
CREATE INDEX agent_away_intervals_by_day ON agent_away_intervals (tenant, day, agent);

CREATE TABLE queue_days (
    tenant TEXT NOT NULL,
    queue TEXT NOT NULL,
    scope TEXT NOT NULL,
    day TEXT NOT NULL,
    service TEXT NOT NULL,
    inbound BIGINT NOT NULL,
    answered BIGINT NOT NULL,
    abandoned BIGINT NOT NULL,
    short_abandoned BIGINT NOT NULL,
    callbacks BIGINT NOT NULL,
    transferred BIGINT NOT NULL,
    exited BIGINT NOT NULL,
    answered_in_sl BIGINT NOT NULL,
    ivr BIGINT NOT NULL,
    ended BIGINT NOT NULL,
    outbound_attempts BIGINT NOT NULL,
    outbound_connected BIGINT NOT NULL,
    wait_answered_sum_ms BIGINT NOT NULL,
    wait_answered_max_ms BIGINT NOT NULL,
    wait_abandoned_sum_ms BIGINT NOT NULL,
    talk_sum_ms BIGINT NOT NULL,
    wrap_sum_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, queue, scope, day)
);
CREATE TABLE agent_days (
    tenant TEXT NOT NULL,
    agent TEXT NOT NULL,
    day TEXT NOT NULL,
    ready_ms BIGINT NOT NULL,
    away_ms BIGINT NOT NULL,
    ringing_ms BIGINT NOT NULL,
    talking_ms BIGINT NOT NULL,
    dialing_ms BIGINT NOT NULL,
    outbound_call_ms BIGINT NOT NULL,
    wrap_up_ms BIGINT NOT NULL,
    handled BIGINT NOT NULL,
    missed BIGINT NOT NULL,
    talk_ms BIGINT NOT NULL,
    outbound BIGINT NOT NULL,
    PRIMARY KEY (tenant, agent, day)
);
CREATE TABLE agent_away_days (
    tenant TEXT NOT NULL,
    agent TEXT NOT NULL,
    day TEXT NOT NULL,
    reason TEXT NOT NULL,
    away_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, agent, day, reason)
);
INSERT INTO queue_days (tenant, queue, scope, day, service, inbound, answered, abandoned, short_abandoned, callbacks, transferred, exited, answered_in_sl, ivr, ended, outbound_attempts, outbound_connected, wait_answered_sum_ms, wait_answered_max_ms, wait_abandoned_sum_ms, talk_sum_ms, wrap_sum_ms)
SELECT tenant, queue, scope, day, MAX(service), CAST(SUM(inbound) AS BIGINT), CAST(SUM(answered) AS BIGINT), CAST(SUM(abandoned) AS BIGINT), CAST(SUM(short_abandoned) AS BIGINT), CAST(SUM(callbacks) AS BIGINT), CAST(SUM(transferred) AS BIGINT), CAST(SUM(exited) AS BIGINT), CAST(SUM(answered_in_sl) AS BIGINT), CAST(SUM(ivr) AS BIGINT), CAST(SUM(ended) AS BIGINT), CAST(SUM(outbound_attempts) AS BIGINT), CAST(SUM(outbound_connected) AS BIGINT), CAST(SUM(wait_answered_sum_ms) AS BIGINT), MAX(wait_answered_max_ms), CAST(SUM(wait_abandoned_sum_ms) AS BIGINT), CAST(SUM(talk_sum_ms) AS BIGINT), CAST(SUM(wrap_sum_ms) AS BIGINT)
FROM queue_intervals GROUP BY tenant, queue, scope, day;
INSERT INTO agent_days (tenant, agent, day, ready_ms, away_ms, ringing_ms, talking_ms, dialing_ms, outbound_call_ms, wrap_up_ms, handled, missed, talk_ms, outbound)
SELECT tenant, agent, day, CAST(SUM(ready_ms) AS BIGINT), CAST(SUM(away_ms) AS BIGINT), CAST(SUM(ringing_ms) AS BIGINT), CAST(SUM(talking_ms) AS BIGINT), CAST(SUM(dialing_ms) AS BIGINT), CAST(SUM(outbound_call_ms) AS BIGINT), CAST(SUM(wrap_up_ms) AS BIGINT), CAST(SUM(handled) AS BIGINT), CAST(SUM(missed) AS BIGINT), CAST(SUM(talk_ms) AS BIGINT), CAST(SUM(outbound) AS BIGINT)
FROM agent_intervals GROUP BY tenant, agent, day;
INSERT INTO agent_away_days (tenant, agent, day, reason, away_ms)
SELECT tenant, agent, day, reason, CAST(SUM(away_ms) AS BIGINT)
FROM agent_away_intervals GROUP BY tenant, agent, day, reason;
"#;

/// A queue's day row carries the service of the day's latest interval (a
/// queue moved to another service takes its day with it, as on the
/// board); version 2 took the greatest name. A day whose intervals were
/// pruned keeps the one it has.
const V3: &str = r#"
UPDATE queue_days SET service = COALESCE((SELECT l.service FROM queue_intervals l WHERE l.tenant = queue_days.tenant AND l.day = queue_days.day AND l.queue = queue_days.queue AND l.scope = queue_days.scope ORDER BY l.start_ms DESC LIMIT 1), service);
"#;

/// Creates the tables, or brings an older schema up to date. Safe to run
/// from several instances at once (the migrator takes a lock).
pub async fn migrate(pool: &AnyPool) -> Result<(), sqlx::migrate::MigrateError> {
    migrate_with(pool, MIGRATIONS).await
}

async fn migrate_with(
    pool: &AnyPool,
    steps: &[(i64, &'static str, Step)],
) -> Result<(), sqlx::migrate::MigrateError> {
    let migrations = steps
        .iter()
        .map(|(version, description, step)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                step.sql(),
                false,
            )
        })
        .collect();
    let migrator = Migrator {
        migrations: Cow::Owned(migrations),
        // A store a newer version has migrated is still written by this
        // one (migrations only add tables, columns with defaults, rows):
        // in a rolling upgrade an instance of the old version may start
        // after a new one migrated the shared store.
        ignore_missing: true,
        ..Migrator::DEFAULT
    };
    migrator.run(pool).await
}

/// The summed columns of `agent_days` (and of a report by agent): the
/// states' times in `StateTimes::STATES` order, then the calls.
pub const AGENT_DAY_SUMS: [&str; 11] = [
    "ready_ms",
    "away_ms",
    "ringing_ms",
    "talking_ms",
    "dialing_ms",
    "outbound_call_ms",
    "wrap_up_ms",
    "handled",
    "missed",
    "talk_ms",
    "outbound",
];

/// The stored figures of a queue row, in the table's order (counts, then
/// times in milliseconds), and the aggregate that folds each over rows.
pub static QUEUE_FIGURES: LazyLock<(Vec<&'static str>, Vec<String>)> = LazyLock::new(|| {
    let counts = CallCounts::NAMES.iter().map(|c| (*c, Fold::Sum));
    let times = CallTimes::COLUMNS.iter().map(|c| (c.stored, c.fold));
    counts
        .chain(times)
        .map(|(c, fold)| (c, fold.sql(c)))
        .unzip()
});

/// The upsert of `queue_intervals` rows; `{values}` stands for the rows'
/// placeholders.
pub static UPSERT_QUEUE: LazyLock<String> = LazyLock::new(|| {
    let figures = QUEUE_FIGURES.0.iter().copied();
    let key = ["tenant", "queue", "scope", "start_ms"];
    let rest: Vec<&str> = ["service", "start", "day", "minutes"]
        .into_iter()
        .chain(figures)
        .collect();
    let set: Vec<String> = rest.iter().map(|c| format!("{c} = excluded.{c}")).collect();
    format!(
        "INSERT INTO queue_intervals ({}, {}) VALUES {{values}} ON CONFLICT ({}) DO UPDATE SET {}",
        key.join(", "),
        rest.join(", "),
        key.join(", "),
        set.join(", ")
    )
});

pub const UPSERT_AGENT: &str = "INSERT INTO agent_intervals (tenant, agent, start_ms, start, day, minutes, \
    ready_ms, away_ms, ringing_ms, talking_ms, dialing_ms, outbound_call_ms, wrap_up_ms, handled, missed, talk_ms, outbound) \
    VALUES {values} \
    ON CONFLICT (tenant, agent, start_ms) DO UPDATE SET start = excluded.start, day = excluded.day, \
    minutes = excluded.minutes, ready_ms = excluded.ready_ms, away_ms = excluded.away_ms, \
    ringing_ms = excluded.ringing_ms, talking_ms = excluded.talking_ms, dialing_ms = excluded.dialing_ms, \
    outbound_call_ms = excluded.outbound_call_ms, wrap_up_ms = excluded.wrap_up_ms, handled = excluded.handled, \
    missed = excluded.missed, talk_ms = excluded.talk_ms, outbound = excluded.outbound";

pub const DELETE_AGENT: &str =
    "DELETE FROM agent_intervals WHERE tenant = $1 AND agent = $2 AND start_ms = $3";

pub const DELETE_AWAY: &str =
    "DELETE FROM agent_away_intervals WHERE tenant = $1 AND agent = $2 AND start_ms = $3";

pub const INSERT_WITHIN: &str = "INSERT INTO queue_within_intervals (tenant, queue, scope, start_ms, threshold_s, service, start, day, answered) VALUES {values}";
pub const INSERT_AWAY: &str = "INSERT INTO agent_away_intervals (tenant, agent, start_ms, reason, start, day, away_ms) VALUES {values}";

pub const UPSERT_CALLBACK: &str = "INSERT INTO callback_days (tenant, service, day, requested, assigned, completed, failed, deleted, open) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
    ON CONFLICT (tenant, service, day) DO UPDATE SET requested = excluded.requested, assigned = excluded.assigned, \
    completed = excluded.completed, failed = excluded.failed, deleted = excluded.deleted, open = excluded.open";

pub const DELETE_CALLBACK: &str =
    "DELETE FROM callback_days WHERE tenant = $1 AND service = $2 AND day = $3";

pub const RESTATE_AGENTS: &str = "DELETE FROM agent_intervals WHERE tenant = $1 AND start_ms >= $2";

pub const RESTATE_AWAY: &str =
    "DELETE FROM agent_away_intervals WHERE tenant = $1 AND start_ms >= $2";

#[cfg(test)]
mod tests {
    use super::*;

    async fn pool() -> AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap()
    }

    async fn columns(pool: &AnyPool, table: &str) -> Vec<String> {
        use sqlx::Row;
        sqlx::query(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect()
    }

    /// A counter declared in `wire::counts` without its migration fails
    /// here, not at the first write of a user's store.
    #[tokio::test]
    async fn both_queue_tables_have_a_column_for_every_counter() {
        let pool = pool().await;
        migrate(&pool).await.unwrap();
        let figures = &QUEUE_FIGURES.0;
        for table in ["queue_intervals", "queue_days"] {
            let have = columns(&pool, table).await;
            let missing: Vec<_> = figures
                .iter()
                .filter(|c| !have.contains(&c.to_string()))
                .collect();
            assert!(
                missing.is_empty(),
                "{table} lacks {missing:?}: add a migration"
            );
        }
    }

    /// In a rolling upgrade an older instance starts on a store a newer
    /// one migrated: its migrations are all there, one more is too.
    #[tokio::test]
    async fn an_older_version_starts_on_a_store_a_newer_one_migrated() {
        let pool = pool().await;
        let mut newer = MIGRATIONS.to_vec();
        newer.push((
            LATEST + 1,
            "a queue counter: from_the_future",
            Step::AddQueueColumn("from_the_future"),
        ));
        migrate_with(&pool, &newer).await.unwrap();
        if let Err(e) = migrate(&pool).await {
            panic!("the older version starts: {e}");
        }
        use sqlx::Row;
        let v: i64 = sqlx::query("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(v, LATEST + 1);
    }

    /// The step a new counter takes: both tables gain the column, and rows
    /// already there read 0.
    #[tokio::test]
    async fn a_counter_column_added_later_reads_zero_in_old_rows() {
        let pool = pool().await;
        migrate(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO queue_days (tenant, queue, scope, day, service, inbound, answered, abandoned, \
             short_abandoned, callbacks, transferred, exited, answered_in_sl, ivr, ended, \
             outbound_attempts, outbound_connected, wait_answered_sum_ms, wait_answered_max_ms, \
             wait_abandoned_sum_ms, talk_sum_ms, wrap_sum_ms) \
             VALUES ('t', 'q', '', '2026-12-06', 's', 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 5, 5, 0, 9, 1)",
        )
        .execute(&pool)
        .await
        .unwrap();
        let mut steps = MIGRATIONS.to_vec();
        let next = steps.len() as i64 + 1;
        steps.push((
            next,
            "a queue counter: answered_within_20",
            Step::AddQueueColumn("answered_within_20"),
        ));
        migrate_with(&pool, &steps).await.unwrap();
        for table in ["queue_intervals", "queue_days"] {
            assert!(
                columns(&pool, table)
                    .await
                    .contains(&"answered_within_20".to_string()),
                "{table}"
            );
        }
        use sqlx::Row;
        let row = sqlx::query("SELECT answered_within_20, inbound FROM queue_days")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!((row.get::<i64, _>(0), row.get::<i64, _>(1)), (0, 1));
    }
}
