//! Reports: interval rows summed in the database by period (interval, hour,
//! day, month of the tenant's local time) and grouping (tenant, service,
//! queue, agent, callbacks by service); ratios computed here from the sums,
//! never averaged. Rows are read as the database gives them, into a
//! [`RowSink`]; `export` writes them out as JSON or CSV.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::TryStreamExt;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};
use crate::config::{SlFormula, TenantSettings};
use crate::engine::{mean_s, ratio, sl_base};
use crate::wire::{
    AgentReportRow, By, CallCounts, CallTimes, CallbackReportRow, QueueReportRow, Report,
    ReportRows, StateTimes, Step, Within, to_ms,
};

impl Step {
    /// The longest range a report of this step may span, in days: enough
    /// for what a person reads, bounded so one request cannot ask for
    /// millions of rows.
    pub fn max_days(self) -> i64 {
        match self {
            Step::Interval => 31,
            Step::Hour => 92,
            Step::Day | Step::Month => 400,
        }
    }

    /// Whether a period is whole days: read from the day tables.
    fn daily(self) -> bool {
        matches!(self, Step::Day | Step::Month)
    }

    /// The SQL of a row's period, from its `start` (RFC 3339 with the
    /// tenant's offset) or `day` (local date) columns.
    fn sql(self) -> &'static str {
        match self {
            Step::Interval => "start",
            // `2026-11-21T09` + `:00:00` + the offset.
            Step::Hour => "substr(start, 1, 13) || ':00:00' || substr(start, 20)",
            Step::Day => "day",
            Step::Month => "substr(day, 1, 7)",
        }
    }
}

/// A report asked for, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub tenant: String,
    pub from: jiff::civil::Date,
    pub to: jiff::civil::Date,
    pub by: By,
    pub step: Step,
    /// `format=csv` (or `excel`).
    pub csv: bool,
    /// `format` was given: it decides, whatever the `Accept` header says.
    pub format_named: bool,
    /// `format=excel`: a CSV for people, in `lang` (`ko` or `en`, default
    /// `en`).
    pub people: Option<crate::history::export::Lang>,
    /// What a token limited to some services may see (none: everything).
    pub only: Only,
}

impl Query {
    /// Whether the report goes out as CSV: as `format` says, else as the
    /// `Accept` header asks (`text/csv`), else JSON.
    pub fn wants_csv(&self, accept: Option<&str>) -> bool {
        if self.format_named {
            self.csv
        } else {
            accept.is_some_and(|v| v.contains("text/csv"))
        }
    }
}

/// A scoped token's part of a report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Only {
    /// Rows of these services only; a tenant row sums theirs.
    pub services: Option<crate::config::Scope>,
    /// Agent rows of these agents only.
    pub agents: Option<Arc<std::collections::BTreeSet<Arc<str>>>>,
}

impl Only {
    fn service(&self, service: Option<&str>) -> bool {
        self.services
            .as_ref()
            .is_none_or(|sc| service.is_some_and(|s| sc.iter().any(|x| **x == *s)))
    }

    fn agent(&self, agent: &str) -> bool {
        self.agents.as_ref().is_none_or(|a| a.contains(agent))
    }
}

impl Query {
    /// Reads the query string's parameters: `from` and `to` (local dates,
    /// inclusive; `to` defaults to `from`, `from` to `today`), `by`
    /// (default `tenant`), `step` (default `day`), `format` (`json`, `csv`,
    /// or `excel`: a CSV for people, with `lang` `ko` or `en`). Every error
    /// says what is wrong and what is allowed.
    pub fn parse(
        tenant: &str,
        params: &[(String, String)],
        today: jiff::civil::Date,
    ) -> Result<Query, String> {
        let mut get: HashMap<&str, &str> = HashMap::new();
        for (k, v) in params {
            // `token` is the caller's (a download link cannot send a header).
            if k == "token" {
                continue;
            }
            if !["from", "to", "by", "step", "format", "lang"].contains(&k.as_str()) {
                return Err(format!(
                    "unknown parameter `{k}` (the parameters are from, to, by, step, format and lang)"
                ));
            }
            if get.insert(k, v).is_some() {
                return Err(format!("`{k}` is given twice"));
            }
        }
        let date = |name: &str| -> Result<Option<jiff::civil::Date>, String> {
            get.get(name)
                .map(|v| {
                    v.parse::<jiff::civil::Date>()
                        .map_err(|_| format!("`{name}` must be a date as YYYY-MM-DD, got `{v}`"))
                })
                .transpose()
        };
        let from = date("from")?.unwrap_or(today);
        let to = date("to")?.unwrap_or(from);
        let pick = |name: &str, all: &[&str]| -> Result<Option<usize>, String> {
            get.get(name)
                .map(|v| {
                    all.iter().position(|a| a == v).ok_or_else(|| {
                        format!("`{name}` must be one of {}, got `{v}`", all.join(", "))
                    })
                })
                .transpose()
        };
        let by = pick("by", &By::ALL.map(By::as_str))?.map_or(By::Tenant, |i| By::ALL[i]);
        let step = pick("step", &Step::ALL.map(Step::as_str))?.map_or(Step::Day, |i| Step::ALL[i]);
        let format = pick("format", &["json", "csv", "excel"])?;
        let csv = matches!(format, Some(1 | 2));
        let lang = pick("lang", &["en", "ko"])?;
        if lang.is_some() && format != Some(2) {
            return Err("`lang` is for format=excel (a CSV for people): a machine's CSV and JSON have one language".into());
        }
        let people = (format == Some(2)).then_some(match lang {
            Some(1) => crate::history::export::Lang::Ko,
            _ => crate::history::export::Lang::En,
        });
        if from > to {
            return Err(format!("`from` ({from}) is after `to` ({to})"));
        }
        let days = from
            .until(to)
            .map_err(|e| format!("the range {from} to {to}: {e}"))?
            .get_days() as i64
            + 1;
        if days > step.max_days() {
            return Err(format!(
                "a report by {} spans at most {} days; {from} to {to} is {days}",
                step.as_str(),
                step.max_days()
            ));
        }
        if by == By::Callback && matches!(step, Step::Interval | Step::Hour) {
            return Err(
                "callbacks are counted by the day they were requested: step must be day or month"
                    .into(),
            );
        }
        Ok(Query {
            tenant: tenant.to_string(),
            from,
            to,
            by,
            step,
            csv,
            format_named: format.is_some(),
            people,
            only: Only::default(),
        })
    }
}

/// One row of a report, as it is read.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportRow {
    Queue(QueueReportRow),
    Agent(AgentReportRow),
    Callback(CallbackReportRow),
}

/// Where a report's rows go as they are read from the database (never all
/// held at once).
pub trait RowSink: Send {
    /// Takes one row; `false` stops the reading (the client went away).
    fn row(&mut self, row: ReportRow) -> impl std::future::Future<Output = bool> + Send;
}

/// Reads a report's rows into `sink`, in order; `settings` are the
/// tenant's (its queues' SL formulas).
pub async fn read(
    store: &Store,
    q: &Query,
    settings: &TenantSettings,
    sink: &mut impl RowSink,
) -> Result<(), StoreError> {
    match q.by {
        By::Tenant | By::Service | By::Queue => queues(store, q, settings, sink).await,
        By::Agent => agents(store, q, sink).await,
        By::Callback => callbacks(store, q, sink).await,
    }
}

/// Runs a report whole; `settings` are the tenant's. (The service streams
/// its reports instead: see `export`.)
pub async fn run(
    store: &Store,
    q: &Query,
    settings: &TenantSettings,
) -> Result<Report, StoreError> {
    struct Collect(ReportRows);
    impl RowSink for Collect {
        async fn row(&mut self, row: ReportRow) -> bool {
            match (&mut self.0, row) {
                (ReportRows::Queue(v), ReportRow::Queue(r)) => v.push(r),
                (ReportRows::Agent(v), ReportRow::Agent(r)) => v.push(r),
                (ReportRows::Callback(v), ReportRow::Callback(r)) => v.push(r),
                _ => {}
            }
            true
        }
    }
    let mut rows = Collect(match q.by {
        By::Tenant | By::Service | By::Queue => ReportRows::Queue(Vec::new()),
        By::Agent => ReportRows::Agent(Vec::new()),
        By::Callback => ReportRows::Callback(Vec::new()),
    });
    read(store, q, settings, &mut rows).await?;
    Ok(Report {
        tenant: q.tenant.clone(),
        from: q.from.to_string(),
        to: q.to.to_string(),
        by: q.by,
        step: q.step,
        rows: rows.0,
    })
}

/// The distinct values of a side table's `column` (away reasons, answer
/// thresholds) in `q`'s range, ascending: `{table}_days` for days and
/// months, `{table}_intervals` else.
async fn distinct(
    store: &Store,
    q: &Query,
    table: &str,
    column: &str,
) -> Result<Vec<AnyRow>, StoreError> {
    let table = if q.step.daily() {
        format!("{table}_days")
    } else {
        format!("{table}_intervals")
    };
    let sql = format!(
        "SELECT DISTINCT {column} FROM {table} WHERE tenant = $1 AND day >= $2 AND day <= $3 ORDER BY {column}"
    );
    fetch(store, &sql, q).await
}

/// The away reasons of `q`'s range, sorted: the agent CSV's columns.
pub async fn away_reasons(store: &Store, q: &Query) -> Result<Vec<Arc<str>>, StoreError> {
    let rows = distinct(store, q, "agent_away", "reason").await?;
    rows.iter()
        .map(|r| Ok(Arc::from(r.try_get::<String, _>(0)?)))
        .collect()
}

/// The thresholds of `answered_within` in `q`'s range, ascending: the
/// queue CSV's columns.
pub async fn within_thresholds(store: &Store, q: &Query) -> Result<Vec<u32>, StoreError> {
    let rows = distinct(store, q, "queue_within", "threshold_s").await?;
    rows.iter()
        .map(|r| Ok(u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(u32::MAX)))
        .collect()
}

/// A report row's key: period, service and queue (`""` where not grouped).
type RowKey = (String, String, String);

/// Answers within each threshold, summed by `q`'s period and grouping.
async fn within_sums(
    store: &Store,
    q: &Query,
    by: By,
) -> Result<HashMap<RowKey, Within>, StoreError> {
    let group = match by {
        By::Service => ", service",
        By::Queue => ", service, queue",
        _ => "",
    };
    let table = if q.step.daily() {
        "queue_within_days"
    } else {
        "queue_within_intervals"
    };
    let period = q.step.sql();
    let sql = format!(
        "SELECT {period} AS period{group}, threshold_s, CAST(SUM(answered) AS BIGINT) FROM {table} \
         WHERE tenant = $1 AND day >= $2 AND day <= $3 GROUP BY {period}{group}, threshold_s"
    );
    let mut out: HashMap<RowKey, Within> = HashMap::new();
    for r in fetch(store, &sql, q).await? {
        let text = |i: usize| r.try_get::<String, _>(i);
        let (service, queue, next) = match by {
            By::Service => (text(1)?, String::new(), 2),
            By::Queue => (text(1)?, text(2)?, 3),
            _ => (String::new(), String::new(), 1),
        };
        let threshold = u32::try_from(r.try_get::<i64, _>(next)?).unwrap_or(u32::MAX);
        let answered = u(r.try_get::<i64, _>(next + 1)?);
        out.entry((text(0)?, service, queue))
            .or_default()
            .0
            .insert(threshold, answered);
    }
    Ok(out)
}

/// Whether the store holds any row of `tenant`.
pub async fn has_tenant(store: &Store, tenant: &str) -> Result<bool, StoreError> {
    for table in ["queue_intervals", "agent_intervals", "callback_days"] {
        let found = sqlx::query(&format!("SELECT 1 FROM {table} WHERE tenant = $1 LIMIT 1"))
            .bind(tenant)
            .fetch_optional(store.pool())
            .await?;
        if found.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn none_if_empty(s: String) -> Option<Arc<str>> {
    (!s.is_empty()).then(|| Arc::from(s))
}

fn u(v: i64) -> u64 {
    v.max(0) as u64
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

async fn fetch(store: &Store, sql: &str, q: &Query) -> Result<Vec<AnyRow>, StoreError> {
    Ok(sqlx::query(sql)
        .bind(q.tenant.as_str())
        .bind(q.from.to_string())
        .bind(q.to.to_string())
        .fetch_all(store.pool())
        .await?)
}

/// `sql`'s rows for `q`'s tenant and range, as the database gives them.
fn fetch_each<'a>(
    store: &'a Store,
    sql: &'a str,
    q: &Query,
) -> impl futures_util::Stream<Item = Result<AnyRow, sqlx::Error>> + Send + 'a {
    sqlx::query(sql)
        .bind(q.tenant.clone())
        .bind(q.from.to_string())
        .bind(q.to.to_string())
        .fetch(store.pool())
}

async fn queues(
    store: &Store,
    q: &Query,
    settings: &TenantSettings,
    sink: &mut impl RowSink,
) -> Result<(), StoreError> {
    // A scoped token's tenant rows sum its services' rows.
    let scoped_total = q.by == By::Tenant && q.only.services.is_some();
    let by = if scoped_total { By::Service } else { q.by };
    let group = match by {
        By::Service => ", service",
        By::Queue => ", service, queue",
        _ => "",
    };
    let (columns, sums) = &*super::schema::QUEUE_FIGURES;
    let period = q.step.sql();
    // Days and months from the day rows, hours and intervals from the
    // intervals; in time order either way.
    let (table, first) = if q.step.daily() {
        ("queue_days", "MIN(day)")
    } else {
        ("queue_intervals", "MIN(start_ms)")
    };
    let sql = if q.step == Step::Day && by == By::Queue {
        // A day row is one queue's day already (keyed by queue and scope,
        // which is the service for rows of no queue): read, not grouped.
        // Grouping 15,000 rows cost SQLite more than reading them.
        format!(
            "SELECT day AS period, day AS first{group}, {} FROM queue_days \
             WHERE tenant = $1 AND day >= $2 AND day <= $3 ORDER BY day{group}",
            columns.join(", ")
        )
    } else {
        format!(
            "SELECT {period} AS period, {first} AS first{group}, {} FROM {table} \
             WHERE tenant = $1 AND day >= $2 AND day <= $3 GROUP BY {period}{group} ORDER BY first{group}",
            sums.join(", ")
        )
    };
    let tenant_formula = settings.queue_defaults.sl_formula;
    let mut within = within_sums(store, q, by).await?;
    let mut total: Option<(String, CallCounts, CallTimes, Within)> = None;
    let mut rows = std::pin::pin!(fetch_each(store, &sql, q));
    while let Some(r) = rows.try_next().await? {
        let mut i = 2;
        let mut next_text = || -> Result<String, sqlx::Error> {
            let v = r.try_get::<String, _>(i);
            i += 1;
            v
        };
        let (service, queue) = match by {
            By::Service => (none_if_empty(next_text()?), None),
            By::Queue => {
                let s = next_text()?;
                (none_if_empty(s), none_if_empty(next_text()?))
            }
            _ => (None, None),
        };
        if !q.only.service(service.as_deref()) {
            continue;
        }
        let first = 2 + match by {
            By::Service => 1,
            By::Queue => 2,
            _ => 0,
        };
        let mut k = first;
        let mut next = |_: &str| -> Result<u64, sqlx::Error> {
            let v = r.try_get::<i64, _>(k);
            k += 1;
            v.map(u)
        };
        let calls = CallCounts::try_from_values(&mut next)?;
        let times = CallTimes::try_from_ms(&mut next)?;
        // A queue's own formula; the tenant's for services and the tenant,
        // as on the board.
        let formula = queue
            .as_deref()
            .map_or(tenant_formula, |name| formula_of(settings, name));
        let period = r.try_get::<String, _>(0)?;
        let key = (
            period.clone(),
            service.as_deref().unwrap_or("").to_string(),
            queue.as_deref().unwrap_or("").to_string(),
        );
        let answered_within = within.remove(&key).unwrap_or_default();
        if scoped_total {
            match &mut total {
                Some((p, c, t, w)) if *p == period => {
                    c.add(&calls);
                    t.add(&times);
                    for (k, v) in answered_within.0 {
                        *w.0.entry(k).or_default() += v;
                    }
                    continue;
                }
                _ => {}
            }
            let done = total.replace((period, calls, times, answered_within));
            if let Some((p, c, t, w)) = done
                && !sink
                    .row(ReportRow::Queue(queue_row(
                        p,
                        None,
                        None,
                        c,
                        t,
                        w,
                        tenant_formula,
                    )))
                    .await
            {
                return Ok(());
            }
            continue;
        }
        let row = queue_row(
            period,
            service,
            queue,
            calls,
            times,
            answered_within,
            formula,
        );
        if !sink.row(ReportRow::Queue(row)).await {
            return Ok(());
        }
    }
    if let Some((p, c, t, w)) = total {
        let row = queue_row(p, None, None, c, t, w, tenant_formula);
        sink.row(ReportRow::Queue(row)).await;
    }
    Ok(())
}

/// A report row of calls, its ratios computed from its sums.
fn queue_row(
    period: String,
    service: Option<Arc<str>>,
    queue: Option<Arc<str>>,
    calls: CallCounts,
    times: CallTimes,
    answered_within: Within,
    formula: SlFormula,
) -> QueueReportRow {
    let c = &calls;
    QueueReportRow {
        answered_within,
        period,
        service,
        queue,
        answer_rate: ratio(c.answered, c.inbound),
        service_level: ratio(
            c.answered_in_sl,
            sl_base(formula, c.inbound, c.answered, c.short_abandoned),
        ),
        asa_s: mean_s(to_ms(times.wait_answered_sum_s), c.answered),
        aht_s: mean_s(to_ms(times.talk_sum_s) + to_ms(times.wrap_sum_s), c.ended),
        ewt_mae_s: mean_s(to_ms(times.ewt_error_sum_s), c.ewt_scored),
        calls,
        times,
    }
}

async fn agents(store: &Store, q: &Query, sink: &mut impl RowSink) -> Result<(), StoreError> {
    let period = q.step.sql();
    // The state columns first, in `StateTimes::STATES` order, then the
    // calls.
    let sums: Vec<String> = super::schema::AGENT_DAY_SUMS
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect();
    let (table, away_table, first) = if q.step.daily() {
        ("agent_days", "agent_away_days", "MIN(day)")
    } else {
        ("agent_intervals", "agent_away_intervals", "MIN(start_ms)")
    };
    let sql = format!(
        "SELECT {period} AS period, {first} AS first, agent, {} FROM {table} \
         WHERE tenant = $1 AND day >= $2 AND day <= $3 GROUP BY {period}, agent ORDER BY first, agent",
        sums.join(", ")
    );
    let away_sql = format!(
        "SELECT {period} AS period, agent, reason, CAST(SUM(away_ms) AS BIGINT) FROM {away_table} \
         WHERE tenant = $1 AND day >= $2 AND day <= $3 GROUP BY {period}, agent, reason"
    );
    let mut away: HashMap<(String, String), BTreeMap<Arc<str>, f64>> = HashMap::new();
    for r in fetch(store, &away_sql, q).await? {
        away.entry((r.try_get(0)?, r.try_get(1)?))
            .or_default()
            .insert(Arc::from(r.try_get::<String, _>(2)?), secs(r.try_get(3)?));
    }
    let mut names: HashMap<String, Arc<str>> = HashMap::new();
    for r in sqlx::query("SELECT agent, name FROM agent_names WHERE tenant = $1")
        .bind(&q.tenant)
        .fetch_all(store.pool())
        .await?
    {
        names.insert(r.try_get(0)?, Arc::from(r.try_get::<String, _>(1)?));
    }
    let mut rows = std::pin::pin!(fetch_each(store, &sql, q));
    while let Some(r) = rows.try_next().await? {
        let period: String = r.try_get(0)?;
        let agent: String = r.try_get(2)?;
        if !q.only.agent(&agent) {
            continue;
        }
        let v =
            |k: usize| -> Result<i64, sqlx::Error> { r.try_get::<i64, _>(3 + k).map(|x| x.max(0)) };
        let ms = [v(0)?, v(1)?, v(2)?, v(3)?, v(4)?, v(5)?, v(6)?];
        let busy: i64 = ms[2..].iter().sum();
        let mut times = ms.iter();
        let time_s = StateTimes::from_states(|_| secs(times.next().copied().unwrap_or(0)));
        let row = AgentReportRow {
            away_s: away
                .remove(&(period.clone(), agent.clone()))
                .unwrap_or_default(),
            period,
            name: names.get(&agent).cloned(),
            agent: Arc::from(agent),
            time_s,
            login_s: secs(ms.iter().sum()),
            handled: u(v(7)?),
            missed: u(v(8)?),
            talk_s: secs(v(9)?),
            outbound: u(v(10)?),
            occupancy: ratio(u(busy), u(busy + ms[0])),
        };
        if !sink.row(ReportRow::Agent(row)).await {
            break;
        }
    }
    Ok(())
}

async fn callbacks(store: &Store, q: &Query, sink: &mut impl RowSink) -> Result<(), StoreError> {
    let period = match q.step {
        Step::Month => "substr(day, 1, 7)",
        _ => "day",
    };
    let sql = format!(
        "SELECT {period} AS period, service, CAST(SUM(requested) AS BIGINT), CAST(SUM(assigned) AS BIGINT), \
         CAST(SUM(completed) AS BIGINT), CAST(SUM(failed) AS BIGINT), CAST(SUM(deleted) AS BIGINT), \
         CAST(SUM(open) AS BIGINT) FROM callback_days WHERE tenant = $1 AND day >= $2 AND day <= $3 \
         GROUP BY {period}, service ORDER BY period, service"
    );
    let mut rows = std::pin::pin!(fetch_each(store, &sql, q));
    while let Some(r) = rows.try_next().await? {
        let v = |k: usize| -> Result<u64, sqlx::Error> { r.try_get::<i64, _>(k).map(u) };
        let (assigned, completed) = (v(3)?, v(4)?);
        let service = none_if_empty(r.try_get(1)?);
        if !q.only.service(service.as_deref()) {
            continue;
        }
        let row = CallbackReportRow {
            period: r.try_get(0)?,
            service,
            requested: v(2)?,
            assigned,
            completed,
            failed: v(5)?,
            deleted: v(6)?,
            open: v(7)?,
            processing_rate: ratio(completed, assigned),
        };
        if !sink.row(ReportRow::Callback(row)).await {
            break;
        }
    }
    Ok(())
}

/// The SL formula of a queue.
fn formula_of(settings: &TenantSettings, queue: &str) -> SlFormula {
    settings
        .queues
        .get(queue)
        .map_or(settings.queue_defaults.sl_formula, |(_, s)| s.sl_formula)
}

#[cfg(test)]
mod tests;
