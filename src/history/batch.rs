//! One write of interval rows, in one transaction: rows upserted many to a
//! statement, emptied agent rows deleted, and the day tables
//! (`queue_days`, `agent_days`, `agent_away_days`) recomputed from the
//! intervals for every day the write touched, so that day and month
//! reports read a day's row instead of its intervals.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::schema::AGENT_DAY_SUMS;
use super::{Written, schema};
use crate::time::Millis;
use crate::wire::{
    AgentInterval, CallCounts, CallTimes, CallbackInterval, IntervalRow, QueueInterval,
};

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Rows to a multi-row statement (at most 25 values a row: far under
/// SQLite's and PostgreSQL's bounds on parameters).
const ROWS_PER_STATEMENT: usize = 200;
/// Names to an `IN (...)` list.
const NAMES_PER_STATEMENT: usize = 500;

/// A value to bind.
#[derive(Clone, Debug)]
enum V {
    I(i64),
    S(String),
}

async fn exec(tx: &mut Tx<'_>, sql: &str, values: Vec<V>) -> Result<u64, sqlx::Error> {
    // SQLite looks a numbered parameter up by name, in time that grows
    // with the statement's parameters: a statement of thousands took
    // seconds. Every statement here numbers its parameters in order, so
    // plain `?` say the same.
    let positional;
    let sql = if (**tx).backend_name() == "SQLite" {
        positional = in_order(sql);
        positional.as_str()
    } else {
        sql
    };
    let mut q = sqlx::query(sql);
    for v in values {
        q = match v {
            V::I(i) => q.bind(i),
            V::S(s) => q.bind(s),
        };
    }
    Ok(q.execute(&mut **tx).await?.rows_affected())
}

/// `sql` with its `$1`, `$2`, ... (in that order) as `?`.
fn in_order(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut next = 1u64;
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut n = 0u64;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = n * 10 + d as u64;
                chars.next();
            }
            debug_assert_eq!(n, next, "parameters in order: {sql}");
            next += 1;
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// `($1, $2), ($3, $4)`: `rows` groups of `cols` parameters from `$first`.
fn placeholders(rows: usize, cols: usize, first: usize) -> String {
    (0..rows)
        .map(|r| {
            let p: Vec<String> = (0..cols)
                .map(|c| format!("${}", first + r * cols + c))
                .collect();
            format!("({})", p.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Seconds to whole milliseconds, as stored.
fn ms(s: f64) -> i64 {
    (s * 1000.0).round() as i64
}

fn n(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// The local date of an RFC 3339 start (its first ten characters).
fn local_day(start: &str) -> String {
    start.get(..10).unwrap_or(start).to_string()
}

/// `""` stands for "none" in key columns (names are never empty).
fn key(v: &Option<Arc<str>>) -> String {
    v.as_deref().unwrap_or("").to_string()
}

fn start_ms(start: &str) -> Result<Millis, sqlx::Error> {
    crate::time::parse_rfc3339(start).ok_or_else(|| {
        sqlx::Error::Protocol(format!("an interval start that is not RFC 3339: {start}"))
    })
}

/// A named queue's rows are its own whatever service it is in; rows of
/// calls that named no queue are the service's (or the tenant's).
fn scope(q: &QueueInterval) -> String {
    if q.queue.is_some() {
        String::new()
    } else {
        key(&q.service)
    }
}

/// Days a write touched, to recompute.
#[derive(Default)]
struct Touched {
    /// (tenant, day) -> (queue, scope)
    queues: BTreeMap<(String, String), BTreeSet<(String, String)>>,
    /// (tenant, day) -> agents
    agents: BTreeMap<(String, String), BTreeSet<String>>,
    /// tenant -> first day whose agents were restated whole
    restated: BTreeMap<String, String>,
}

pub(super) async fn write(
    tx: &mut Tx<'_>,
    restates: &[(Arc<str>, Millis)],
    rows: &[IntervalRow],
) -> Result<Written, sqlx::Error> {
    let mut done = Written::default();
    let mut touched = Touched::default();
    for (tenant, from) in restates {
        let first: Option<String> = sqlx::query_scalar(
            "SELECT MIN(day) FROM agent_intervals WHERE tenant = $1 AND start_ms >= $2",
        )
        .bind(tenant.as_ref())
        .bind(*from)
        .fetch_one(&mut **tx)
        .await?;
        for sql in [schema::RESTATE_AGENTS, schema::RESTATE_AWAY] {
            done.deleted +=
                exec(tx, sql, vec![V::S(tenant.to_string()), V::I(*from)]).await? as usize;
        }
        if let Some(day) = first {
            let e = touched
                .restated
                .entry(tenant.to_string())
                .or_insert(day.clone());
            *e = e.clone().min(day);
        }
    }

    let (mut queues, mut agents, mut emptied, mut callbacks) = (vec![], vec![], vec![], vec![]);
    for row in rows {
        match row {
            IntervalRow::Queue(q) => queues.push(q),
            IntervalRow::Agent(a) if row.is_empty() => emptied.push(a),
            IntervalRow::Agent(a) => agents.push(a),
            IntervalRow::Callback(c) => callbacks.push(c),
        }
    }
    for chunk in queues.chunks(ROWS_PER_STATEMENT) {
        upsert_queues(tx, chunk, &mut touched).await?;
        done.upserted += chunk.len();
    }
    for a in emptied {
        let values = vec![
            V::S(a.tenant.to_string()),
            V::S(a.agent.to_string()),
            V::I(start_ms(&a.start)?),
        ];
        for sql in [schema::DELETE_AGENT, schema::DELETE_AWAY] {
            exec(tx, sql, values.clone()).await?;
        }
        touch_agent(&mut touched, a);
        done.deleted += 1;
    }
    for chunk in agents.chunks(ROWS_PER_STATEMENT) {
        upsert_agents(tx, chunk, &mut touched).await?;
        done.upserted += chunk.len();
    }
    // Each named agent's latest name (the last row of the batch wins).
    let mut names: std::collections::BTreeMap<(&str, &str), &str> = Default::default();
    for a in &agents {
        if let Some(name) = &a.name {
            names.insert((&a.tenant, &a.agent), name);
        }
    }
    let names: Vec<_> = names.into_iter().collect();
    for chunk in names.chunks(ROWS_PER_STATEMENT) {
        let values = chunk
            .iter()
            .flat_map(|&((tenant, agent), name)| {
                [V::S(tenant.into()), V::S(agent.into()), V::S(name.into())]
            })
            .collect();
        let sql = schema::UPSERT_NAME.replace("{values}", &placeholders(chunk.len(), 3, 1));
        exec(tx, &sql, values).await?;
    }
    for c in callbacks {
        upsert_callback(tx, c).await?;
        done.upserted += 1;
    }
    roll_up(tx, &touched).await?;
    Ok(done)
}

fn touch_agent(touched: &mut Touched, a: &AgentInterval) {
    touched
        .agents
        .entry((a.tenant.to_string(), local_day(&a.start)))
        .or_default()
        .insert(a.agent.to_string());
}

async fn upsert_queues(
    tx: &mut Tx<'_>,
    rows: &[&QueueInterval],
    touched: &mut Touched,
) -> Result<(), sqlx::Error> {
    let cols = 8 + CallCounts::NAMES.len() + CallTimes::COLUMNS.len();
    let mut values = Vec::with_capacity(rows.len() * cols);
    for q in rows {
        values.extend([
            V::S(q.tenant.to_string()),
            V::S(key(&q.queue)),
            V::S(scope(q)),
            V::I(start_ms(&q.start)?),
            V::S(key(&q.service)),
            V::S(q.start.clone()),
            V::S(local_day(&q.start)),
            V::I(q.minutes as i64),
        ]);
        values.extend(q.calls.values().map(|v| V::I(n(v))));
        values.extend(q.times.values_ms().map(|v| V::I(n(v))));
        touched
            .queues
            .entry((q.tenant.to_string(), local_day(&q.start)))
            .or_default()
            .insert((key(&q.queue), scope(q)));
    }
    let sql = schema::UPSERT_QUEUE.replace("{values}", &placeholders(rows.len(), cols, 1));
    exec(tx, &sql, values).await?;
    // Their answers within each threshold, replaced as a whole; per queue,
    // by the primary key's prefix.
    let mut by_queue: BTreeMap<(&str, String, String), Vec<i64>> = BTreeMap::new();
    let mut within = Vec::new();
    for q in rows {
        let at = start_ms(&q.start)?;
        by_queue
            .entry((q.tenant.as_ref(), key(&q.queue), scope(q)))
            .or_default()
            .push(at);
        for (&threshold, &answered) in &q.answered_within.0 {
            within.extend([
                V::S(q.tenant.to_string()),
                V::S(key(&q.queue)),
                V::S(scope(q)),
                V::I(at),
                V::I(threshold as i64),
                V::S(key(&q.service)),
                V::S(q.start.clone()),
                V::S(local_day(&q.start)),
                V::I(n(answered)),
            ]);
        }
    }
    let by_queue = by_queue
        .into_iter()
        .map(|((t, q, s), starts)| (vec![t.to_string(), q, s], starts))
        .collect();
    let side = SideRows {
        table: "queue_within_intervals",
        key: &["tenant", "queue", "scope"],
        insert: schema::INSERT_WITHIN,
        width: 9,
    };
    side.replace(tx, by_queue, &within).await
}

/// Rows beside an interval row, one per reason or threshold, replaced as a
/// whole with it: deleted by the primary key's prefix and the intervals'
/// starts (a row-value `IN` would scan), then inserted.
struct SideRows {
    table: &'static str,
    /// The key columns before `start_ms`.
    key: &'static [&'static str],
    /// The insert, `{values}` standing for the rows.
    insert: &'static str,
    /// Values per row.
    width: usize,
}

impl SideRows {
    async fn replace(
        &self,
        tx: &mut Tx<'_>,
        starts: BTreeMap<Vec<String>, Vec<i64>>,
        rows: &[V],
    ) -> Result<(), sqlx::Error> {
        for (key, starts) in starts {
            let n = key.len();
            let which: Vec<String> = self
                .key
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c} = ${}", i + 1))
                .collect();
            let list: Vec<String> = (0..starts.len())
                .map(|i| format!("${}", i + n + 1))
                .collect();
            let mut values: Vec<V> = key.into_iter().map(V::S).collect();
            values.extend(starts.into_iter().map(V::I));
            let sql = format!(
                "DELETE FROM {} WHERE {} AND start_ms IN ({})",
                self.table,
                which.join(" AND "),
                list.join(", ")
            );
            exec(tx, &sql, values).await?;
        }
        for chunk in rows.chunks(self.width * ROWS_PER_STATEMENT) {
            let sql = self.insert.replace(
                "{values}",
                &placeholders(chunk.len() / self.width, self.width, 1),
            );
            exec(tx, &sql, chunk.to_vec()).await?;
        }
        Ok(())
    }
}

async fn upsert_agents(
    tx: &mut Tx<'_>,
    rows: &[&AgentInterval],
    touched: &mut Touched,
) -> Result<(), sqlx::Error> {
    let mut values = Vec::with_capacity(rows.len() * 17);
    let mut away = Vec::new();
    for a in rows {
        let start = start_ms(&a.start)?;
        let t = &a.time_s;
        values.extend([
            V::S(a.tenant.to_string()),
            V::S(a.agent.to_string()),
            V::I(start),
            V::S(a.start.clone()),
            V::S(local_day(&a.start)),
            V::I(a.minutes as i64),
        ]);
        values.extend(
            [
                t.ready, t.away, t.ringing, t.talking, t.dialing, t.outbound, t.wrap_up,
            ]
            .map(|v| V::I(ms(v))),
        );
        values.extend([
            V::I(n(a.handled)),
            V::I(n(a.missed)),
            V::I(ms(a.talk_s)),
            V::I(n(a.outbound)),
        ]);
        for (reason, s) in &a.away_s {
            if ms(*s) > 0 {
                away.extend([
                    V::S(a.tenant.to_string()),
                    V::S(a.agent.to_string()),
                    V::I(start),
                    V::S(reason.to_string()),
                    V::S(a.start.clone()),
                    V::S(local_day(&a.start)),
                    V::I(ms(*s)),
                ]);
            }
        }
        touch_agent(touched, a);
    }
    let sql = schema::UPSERT_AGENT.replace("{values}", &placeholders(rows.len(), 17, 1));
    exec(tx, &sql, values).await?;
    // The intervals' away time by reason, replaced as a whole, per agent.
    let mut by_agent: BTreeMap<Vec<String>, Vec<i64>> = BTreeMap::new();
    for a in rows {
        by_agent
            .entry(vec![a.tenant.to_string(), a.agent.to_string()])
            .or_default()
            .push(start_ms(&a.start)?);
    }
    let side = SideRows {
        table: "agent_away_intervals",
        key: &["tenant", "agent"],
        insert: schema::INSERT_AWAY,
        width: 7,
    };
    side.replace(tx, by_agent, &away).await
}

async fn upsert_callback(tx: &mut Tx<'_>, c: &CallbackInterval) -> Result<(), sqlx::Error> {
    if c.requested == 0 {
        let values = vec![
            V::S(c.tenant.to_string()),
            V::S(key(&c.service)),
            V::S(c.day.clone()),
        ];
        exec(tx, schema::DELETE_CALLBACK, values).await?;
        return Ok(());
    }
    let values = vec![
        V::S(c.tenant.to_string()),
        V::S(key(&c.service)),
        V::S(c.day.clone()),
        V::I(n(c.requested)),
        V::I(n(c.assigned)),
        V::I(n(c.completed)),
        V::I(n(c.failed)),
        V::I(n(c.deleted)),
        V::I(n(c.open)),
    ];
    exec(tx, schema::UPSERT_CALLBACK, values).await?;
    Ok(())
}

/// Recomputes the day rows of what was touched from the intervals (a day
/// left without intervals loses its row).
async fn roll_up(tx: &mut Tx<'_>, touched: &Touched) -> Result<(), sqlx::Error> {
    for ((tenant, day), keys) in &touched.queues {
        // Named queues (scope ""), and rows of calls with no queue (queue
        // ""), each by an index prefix.
        let named: Vec<&String> = keys
            .iter()
            .filter(|(q, _)| !q.is_empty())
            .map(|(q, _)| q)
            .collect();
        let unnamed: Vec<&String> = keys
            .iter()
            .filter(|(q, _)| q.is_empty())
            .map(|(_, s)| s)
            .collect();
        for (names, column, other) in [(named, "queue", "scope"), (unnamed, "scope", "queue")] {
            for chunk in names.chunks(NAMES_PER_STATEMENT) {
                let mut values = vec![V::S(tenant.clone()), V::S(day.clone())];
                values.extend(chunk.iter().map(|n| V::S((*n).clone())));
                let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
                let which = format!(
                    "tenant = $1 AND day = $2 AND {other} = '' AND {column} IN ({})",
                    list.join(", ")
                );
                for table in ["queue_days", "queue_within_days"] {
                    exec(
                        tx,
                        &format!("DELETE FROM {table} WHERE {which}"),
                        values.clone(),
                    )
                    .await?;
                }
                exec(tx, &queue_day_sql(&which), values.clone()).await?;
                exec(tx, &within_day_sql(&which), values).await?;
            }
        }
    }
    for ((tenant, day), agents) in &touched.agents {
        if touched.restated.get(tenant).is_some_and(|from| from <= day) {
            continue; // recomputed whole below
        }
        let agents: Vec<&String> = agents.iter().collect();
        for chunk in agents.chunks(NAMES_PER_STATEMENT) {
            let mut values = vec![V::S(tenant.clone()), V::S(day.clone())];
            values.extend(chunk.iter().map(|a| V::S((*a).clone())));
            let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
            let which = format!(
                "tenant = $1 AND day = $2 AND agent IN ({})",
                list.join(", ")
            );
            agent_days(tx, &which, values).await?;
        }
    }
    for (tenant, from) in &touched.restated {
        agent_days(
            tx,
            "tenant = $1 AND day >= $2",
            vec![V::S(tenant.clone()), V::S(from.clone())],
        )
        .await?;
    }
    Ok(())
}

async fn agent_days(tx: &mut Tx<'_>, which: &str, values: Vec<V>) -> Result<(), sqlx::Error> {
    for table in ["agent_days", "agent_away_days"] {
        exec(
            tx,
            &format!("DELETE FROM {table} WHERE {which}"),
            values.clone(),
        )
        .await?;
    }
    let sums: Vec<String> = AGENT_DAY_SUMS
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect();
    let sql = format!(
        "INSERT INTO agent_days (tenant, agent, day, {}) SELECT tenant, agent, day, {} FROM agent_intervals \
         WHERE {which} GROUP BY tenant, agent, day",
        AGENT_DAY_SUMS.join(", "),
        sums.join(", ")
    );
    exec(tx, &sql, values.clone()).await?;
    let sql = format!(
        "INSERT INTO agent_away_days (tenant, agent, day, reason, away_ms) \
         SELECT tenant, agent, day, reason, CAST(SUM(away_ms) AS BIGINT) FROM agent_away_intervals \
         WHERE {which} GROUP BY tenant, agent, day, reason"
    );
    exec(tx, &sql, values).await?;
    Ok(())
}

/// A queue's day row carries the service of its latest interval of the
/// day: a queue moved to another service takes its day with it, as on the
/// board. Correlated with the grouped `queue_intervals i`.
pub const LATEST_SERVICE: &str = "SELECT l.service FROM queue_intervals l WHERE l.tenant = i.tenant \
    AND l.day = i.day AND l.queue = i.queue AND l.scope = i.scope ORDER BY l.start_ms DESC LIMIT 1";

fn queue_day_sql(which: &str) -> String {
    let (columns, sums) = &*schema::QUEUE_FIGURES;
    format!(
        "INSERT INTO queue_days (tenant, queue, scope, day, service, {}) \
         SELECT tenant, queue, scope, day, ({LATEST_SERVICE}), {} FROM queue_intervals i \
         WHERE {which} GROUP BY tenant, queue, scope, day",
        columns.join(", "),
        sums.join(", ")
    )
}

/// A queue's day of answers within each threshold, from its intervals,
/// under the day's latest service (as its day row).
fn within_day_sql(which: &str) -> String {
    format!(
        "INSERT INTO queue_within_days (tenant, queue, scope, day, threshold_s, service, answered) \
         SELECT tenant, queue, scope, day, threshold_s, ({LATEST_SERVICE}), CAST(SUM(answered) AS BIGINT) \
         FROM queue_within_intervals i WHERE {which} GROUP BY tenant, queue, scope, day, threshold_s"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_parameters_in_order_become_positional() {
        assert_eq!(
            super::in_order("a = $1 AND b IN ($2, $3) AND c = '$x'"),
            "a = ? AND b IN (?, ?) AND c = '$x'"
        );
        assert_eq!(super::placeholders(2, 2, 3), "($3, $4), ($5, $6)");
    }
}
